"""Serve a certify :class:`~certify.models.Model` over real HTTP for a load test.

:class:`ModelServer` starts ``workers`` processes, ``python -m certify.suites.load.server``,
that each load the model and run uvicorn with the plain ASGI app of :mod:`.app` (the protocol
and what a request costs: see there) on a listening socket of its own (127.0.0.1 and a free
port by default, ``TCP_NODELAY`` set, which accepted sockets inherit on Linux): ``urls``, one
per worker. The load generators spread their users over them in turn, as a round-robin
balancer would. One shared socket let the kernel place the keep-alive connections, often
unevenly (4 connections on 2 workers: 4-0 or 3-1 in about half the tries, measured), so one
run's server queued twice as deep as the next's and the same model against itself differed
by 30-50 % in p95. Each worker scores its requests one at a time on its event loop (one
OpenMP thread), the way a CPU-bound model server behaves; concurrency comes from the worker
processes. With ``labels_from_proba`` (the
start-up check of :func:`.app.check_labels` passed) a request costs one model call.

The model reaches the workers as a pickle of the very object that was loaded and
digested for this certification, in a private temporary directory; each worker reports
the digest it loaded and the server refuses to start on a mismatch. A worker exits on
its own when its parent (the suite's process) goes away.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from certify.errors import SuiteError
from certify.suites.load.procs import tail

#: Seconds a worker gets to finish in-flight requests on shutdown.
GRACEFUL_S = 2


class ModelServer:
    """``workers`` uvicorn processes serving one model, each on a listening socket of its own."""

    def __init__(self, model: Any, *, features: list[str], dtypes: dict[str, str],
                 workers: int = 2, host: str = "127.0.0.1", request_field: str = "instances",
                 probabilities: bool = True, labels_from_proba: bool = False,
                 affinity: list[int] | None = None, label: str = "candidate") -> None:
        self.model = model
        self.features = features
        self.dtypes = dtypes
        self.workers = workers
        self.host = host
        self.request_field = request_field
        self.probabilities = probabilities
        self.labels_from_proba = labels_from_proba
        self.affinity = affinity
        self.label = label
        self.procs: list[subprocess.Popen[bytes]] = []
        self.socks: list[socket.socket] = []
        self.dir: Path | None = None
        self.ports: list[int] = []
        self.died: list[tuple[int, int]] = []

    # -- life cycle --------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The first worker's port."""
        return self.ports[0] if self.ports else 0

    @property
    def urls(self) -> list[str]:
        """One URL per worker process (each its own listening socket)."""
        host = self.host
        if host in ("0.0.0.0", ""):
            host = _node_ip()
        return [f"http://{host}:{port}/" for port in self.ports]

    @property
    def url(self) -> str:
        """The first worker's URL."""
        return self.urls[0]

    def spawn(self) -> None:
        """Bind the socket and start the worker processes (returns at once)."""
        self.dir = Path(tempfile.mkdtemp(prefix="certify-serve-"))
        os.chmod(self.dir, 0o700)
        model_path = self.dir / "model.pkl"
        try:
            blob = pickle.dumps(self.model, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001
            raise SuiteError(
                f"load: cannot hand {self.label} model {getattr(self.model, 'name', '')} to server "
                f"processes ({type(exc).__name__}: {exc}); serve it yourself and give its URL "
                f"(format = 'http')") from None
        fd = os.open(model_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        config = {
            "model": str(model_path),
            "digest": getattr(self.model, "digest", None),
            "features": self.features,
            "dtypes": self.dtypes,
            "request_field": self.request_field,
            "probabilities": self.probabilities,
            "labels_from_proba": self.labels_from_proba,
            "parent_pid": os.getpid(),
        }
        (self.dir / "config.json").write_text(json.dumps(config))
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        for i in range(self.workers):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((self.host, 0))
            sock.listen(2048)
            sock.set_inheritable(True)
            self.socks.append(sock)
            self.ports.append(sock.getsockname()[1])
            err = (self.dir / f"worker-{i}.log").open("wb")
            proc = subprocess.Popen(
                [sys.executable, "-m", "certify.suites.load.server", "--fd", str(sock.fileno()),
                 "--config", str(self.dir / "config.json")],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                pass_fds=(sock.fileno(),), env=env, start_new_session=True,
            )
            err.close()
            if self.affinity and hasattr(os, "sched_setaffinity"):
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(proc.pid, self.affinity)
            self.procs.append(proc)

    def wait_ready(self, timeout_s: float) -> None:
        """Every worker loaded the model (with the expected digest) and answers /health."""
        deadline = time.monotonic() + timeout_s
        assert self.dir is not None
        for i, proc in enumerate(self.procs):
            assert proc.stdout is not None
            line = b""
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if proc.poll() is not None or left <= 0:
                    break
                ready, _, _ = select.select([proc.stdout], [], [], min(left, 0.5))
                if ready:
                    chunk = os.read(proc.stdout.fileno(), 4096)
                    if not chunk:
                        break
                    line += chunk
            if not line.endswith(b"\n"):
                why = (f"exited with code {proc.poll()}" if proc.poll() is not None
                       else f"not ready after {timeout_s:.0f} s")
                self.stop()
                raise SuiteError(f"load: {self.label} server worker {i} {why}: "
                                 f"{tail(self.dir / f'worker-{i}.log', 500, 3)}")
            doc = json.loads(line)
            if doc.get("error"):
                self.stop()
                raise SuiteError(f"load: {self.label} server worker {i}: {doc['error']}")
        left = max(1.0, deadline - time.monotonic())
        host = self.host if self.host not in ("0.0.0.0", "") else "127.0.0.1"
        for port in self.ports:
            while True:
                try:
                    if _get(host, port, "/health", timeout=min(left, 5.0)) == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise SuiteError(f"load: {self.label} server (port {port}) does not answer "
                                     f"GET /health")
                time.sleep(0.1)

    def start(self, timeout_s: float = 60.0) -> ModelServer:
        self.spawn()
        self.wait_ready(timeout_s)
        return self

    def check(self) -> list[tuple[int, int]]:
        """Workers that have exited since the start: ``(pid, exit code)``; remembered."""
        for proc in self.procs:
            code = proc.poll()
            if code is not None and all(pid != proc.pid for pid, _ in self.died):
                self.died.append((proc.pid, code))
        return list(self.died)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def cpu_seconds(self) -> float:
        """User+system CPU seconds of the live workers so far."""
        import psutil

        total = 0.0
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(proc.pid).cpu_times()
                total += times.user + times.system
        return total

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL after a few seconds; close the socket."""
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACEFUL_S + 3
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()
        for sock in self.socks:
            sock.close()
        self.socks = []
        if self.dir is not None:
            with contextlib.suppress(OSError):
                for path in self.dir.iterdir():
                    path.unlink()
                self.dir.rmdir()
            self.dir = None

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _get(host: str, port: int, path: str, timeout: float) -> int:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _node_ip() -> str:
    try:
        import ray

        return str(ray.util.get_node_ip_address())
    except Exception:  # noqa: BLE001
        return socket.gethostbyname(socket.gethostname())


# -- the worker process ----------------------------------------------------------------------
def _serve(fd: int, config_path: str) -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    config = json.loads(Path(config_path).read_text())
    parent = int(config["parent_pid"])

    def announce(doc: dict[str, Any]) -> None:
        proto.write(json.dumps(doc) + "\n")
        proto.flush()

    try:
        with open(config["model"], "rb") as fh:
            model = pickle.load(fh)  # our own pickle of the certified model, 0600 in a 0700 dir
        digest = getattr(model, "digest", None)
        if config.get("digest") and digest != config["digest"]:
            announce({"error": f"model digest {digest} is not the certified {config['digest']}"})
            return 3
    except Exception as exc:  # noqa: BLE001
        announce({"error": f"cannot load the model: {type(exc).__name__}: {exc}"})
        return 3

    import asyncio

    import uvicorn

    from certify.suites.load.app import create_app

    tasks: list[asyncio.Task[None]] = []

    async def watch_parent() -> None:
        while True:
            await asyncio.sleep(0.5)
            if os.getppid() != parent:
                os._exit(5)

    async def started() -> None:
        tasks.append(asyncio.get_running_loop().create_task(watch_parent()))
        announce({"ready": True, "pid": os.getpid(), "digest": digest})

    async def stopping() -> None:
        for task in tasks:
            task.cancel()

    try:
        app = create_app(model, config, on_startup=started, on_shutdown=stopping)
    except Exception as exc:  # noqa: BLE001
        announce({"error": f"cannot serve the model: {type(exc).__name__}: {exc}"})
        return 3
    sock = socket.socket(fileno=fd)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    server = uvicorn.Server(uvicorn.Config(
        app, lifespan="on", log_level="warning", access_log=False, server_header=False,
        date_header=False, timeout_keep_alive=60, timeout_graceful_shutdown=GRACEFUL_S,
        backlog=2048,
    ))
    server.run(sockets=[sock])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m certify.suites.load.server")
    parser.add_argument("--fd", type=int, required=True, help="inherited listening socket")
    parser.add_argument("--config", required=True, help="JSON configuration file")
    args = parser.parse_args(argv)
    return _serve(args.fd, args.config)


if __name__ == "__main__":
    sys.exit(main())
