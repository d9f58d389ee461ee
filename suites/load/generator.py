"""Load generators: Ray actors, each starting and supervising one Locust process.

gevent must never be imported into a Ray worker process (nor into the pytest process),
so a :class:`GeneratorActor` never imports Locust: it starts
``python -m certify.suites.load._locust_worker`` as a subprocess, talks to it over
pipes (one JSON document per line), and kills it when it overruns. The driver side,
:class:`GeneratorPool`, places the actors with Ray's ``SPREAD`` strategy (so they land on
different nodes of a cluster), bounds every ``ray`` call with a timeout, and turns a
dead actor, a dead Locust process or an overrun into an error string for that worker,
never a hang.

This module imports neither Ray nor Locust at import time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certify.errors import SuiteError
from certify.jsonsafe import one_line
from certify.suites.load.procs import LineReader, tail

#: Bytes of a Locust process's stderr quoted in an error.
STDERR_TAIL = 600


class GeneratorActor:
    """Runs inside a Ray worker process; wrapped with ``ray.remote`` by :class:`GeneratorPool`."""

    def __init__(self, setup: dict[str, Any], affinity: list[int] | None = None) -> None:
        self.setup = dict(setup)
        self.affinity = affinity
        self.proc: subprocess.Popen[bytes] | None = None
        self.reader: LineReader | None = None
        self.dir = Path(tempfile.mkdtemp(prefix="certify-locust-"))
        self.stderr_path = self.dir / "stderr.log"

    def _stderr(self) -> str:
        """The end of the Locust process's stderr, for an error."""
        return tail(self.stderr_path, STDERR_TAIL, 4)

    def info(self) -> dict[str, Any]:
        import ray

        return {
            "node_id": ray.get_runtime_context().get_node_id(),
            "hostname": socket.gethostname(),
            "actor_pid": os.getpid(),
            "gevent_in_actor": "gevent" in sys.modules or "locust" in sys.modules,
        }

    def start(self, timeout_s: float) -> dict[str, Any]:
        """Start the Locust process and wait for its ready line."""
        env = dict(os.environ)
        env.pop("RAY_ADDRESS", None)
        env["PYTHONUNBUFFERED"] = "1"
        setup = {**self.setup, "parent_pid": os.getpid()}
        with self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "certify.suites.load._locust_worker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env,
                cwd=str(self.dir), start_new_session=True,
            )
        if self.affinity and hasattr(os, "sched_setaffinity"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(self.proc.pid, self.affinity)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.reader = LineReader(self.proc.stdout.fileno())
        self.proc.stdin.write((json.dumps(setup) + "\n").encode())
        self.proc.stdin.flush()
        line = self.reader.readline(time.monotonic() + timeout_s)
        info = self.info()
        if line is None:
            self.kill()
            return {**info, "error": f"Locust process not ready after {timeout_s:.0f} s"}
        if not line:
            code = self.proc.wait(timeout=5)
            return {**info, "error": f"Locust process exited with code {code} while starting: "
                                     f"{self._stderr()}"}
        ready = json.loads(line)
        return {**info, "locust_pid": ready.get("pid"), "locust": ready.get("locust")}

    def run(self, profile: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Run one profile in the Locust process; an overrun kills it."""
        proc, reader = self.proc, self.reader
        if proc is None or reader is None or proc.poll() is not None:
            code = None if proc is None else proc.returncode
            return {"index": self.setup.get("index"),
                    "error": f"Locust process is not running (exit code {code}): "
                             f"{self._stderr()}"}
        assert proc.stdin is not None
        try:
            proc.stdin.write((json.dumps(profile) + "\n").encode())
            proc.stdin.flush()
        except OSError as exc:
            return {"index": self.setup.get("index"),
                    "error": f"Locust process pipe closed ({exc}): {self._stderr()}"}
        line = reader.readline(time.monotonic() + timeout_s)
        if line is None:
            self.kill()
            return {"index": self.setup.get("index"),
                    "error": f"Locust process overran its profile by more than "
                             f"{timeout_s - float(profile['duration_s']):.0f} s and was killed"}
        if not line:
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            return {"index": self.setup.get("index"),
                    "error": f"Locust process died during profile {profile['name']} "
                             f"(exit code {code}) {self._stderr()}".rstrip()}
        result: dict[str, Any] = json.loads(line)
        return result

    def locust_pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)

    def close(self) -> None:
        """Ask the Locust process to quit (EOF), then kill it if it lingers."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(OSError):
            for path in self.dir.iterdir():
                path.unlink()
            self.dir.rmdir()


@dataclass
class Worker:
    index: int
    handle: Any
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class GeneratorPool:
    """``count`` generator actors spread over the Ray cluster, each with one Locust process."""

    def __init__(self, ray: Any, count: int, setup: dict[str, Any], *, num_cpus: float,
                 affinity: list[int] | None = None) -> None:
        self.ray = ray
        total = float(ray.cluster_resources().get("CPU", 0))
        if count * num_cpus > total:
            raise SuiteError(f"load: {count} generator(s) x {num_cpus:g} CPU need "
                             f"{count * num_cpus:g} CPUs; the Ray cluster has {total:g} "
                             f"(lower workers or worker_num_cpus)")
        remote = ray.remote(GeneratorActor)
        self.workers: list[Worker] = []
        for index in range(count):
            handle = remote.options(
                num_cpus=num_cpus, scheduling_strategy="SPREAD", max_restarts=0,
                max_task_retries=0,
            ).remote({**setup, "index": index}, affinity)
            self.workers.append(Worker(index, handle))

    def start(self, timeout_s: float) -> None:
        """Wait for every actor and its Locust process; raise SuiteError if any is missing."""
        refs = {w.handle.start.remote(timeout_s): w for w in self.workers}
        done, pending = self.ray.wait(list(refs), num_returns=len(refs), timeout=timeout_s + 10)
        for ref in pending:
            refs[ref].error = (f"not placed or not started within {timeout_s + 10:.0f} s "
                               f"(cluster resources: {self._resources()})")
        for ref in done:
            worker = refs[ref]
            try:
                info = self.ray.get(ref, timeout=10)
            except Exception as exc:  # noqa: BLE001 - a dead actor is an error for that worker
                worker.error = f"actor failed: {one_line(exc)}"
                continue
            worker.info = info
            worker.error = info.get("error")
        bad = [w for w in self.workers if w.error]
        if bad:
            raise SuiteError(f"load generator {bad[0].index} could not start: {bad[0].error}")
        tainted = [w for w in self.workers if w.info.get("gevent_in_actor")]
        if tainted:
            raise SuiteError("gevent/locust was imported into a Ray worker process "
                             f"(generator {tainted[0].index}): refusing to measure")

    def _resources(self) -> str:
        try:
            total = self.ray.cluster_resources().get("CPU", 0)
            free = self.ray.available_resources().get("CPU", 0)
            return f"{free:g} of {total:g} CPUs free"
        except Exception:  # noqa: BLE001
            return "unknown"

    def run(self, plans: list[dict[str, Any]], timeout_s: float,
            poll: Any = None) -> list[dict[str, Any]]:
        """Run one profile on every worker (``plans[i]`` for worker i); never hangs.

        ``poll`` is called about every 0.25 s while the profile runs (server health).
        """
        refs = {w.handle.run.remote(plan, timeout_s): w
                for w, plan in zip(self.workers, plans, strict=True)}
        deadline = time.monotonic() + timeout_s + 15
        pending = list(refs)
        while pending and time.monotonic() < deadline:
            _, pending = self.ray.wait(pending, num_returns=len(pending), timeout=0.25)
            if poll is not None:
                poll()
        results: list[dict[str, Any]] = []
        for ref, worker in refs.items():
            if ref in pending:
                self.ray.kill(worker.handle, no_restart=True)
                results.append({"index": worker.index,
                                "error": f"generator actor {worker.index} did not answer within "
                                         f"{timeout_s + 15:.0f} s and was killed"})
                continue
            try:
                result = self.ray.get(ref, timeout=10)
            except Exception as exc:  # noqa: BLE001 - dead actor: errored, not a hang
                result = {"index": worker.index,
                          "error": f"generator actor {worker.index} died: {one_line(exc)}"}
            result.setdefault("index", worker.index)
            results.append(result)
        return results

    def close(self) -> None:
        refs = []
        for worker in self.workers:
            with contextlib.suppress(Exception):
                refs.append(worker.handle.close.remote())
        with contextlib.suppress(Exception):
            self.ray.wait(refs, num_returns=len(refs), timeout=8)
        for worker in self.workers:
            with contextlib.suppress(Exception):
                self.ray.kill(worker.handle, no_restart=True)

