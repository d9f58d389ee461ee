"""The embedded on-prem cluster: a detached local Ray started with ``ray start --head`` on
127.0.0.1 that outlives the deploy command, so that ``status``, ``rollback`` and recovery after a
killed deploy have something to act on; ``certify deploy stop`` ends it.

Loopback only: the same single-host setting as :func:`certify.raycluster.local_only`
(``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``), ``--node-ip-address=127.0.0.1``, no dashboard, and
Ray Serve's HTTP proxy bound to 127.0.0.1. Ray 2.60 enables token authentication for a cluster
started this way (the user's ``~/.ray/auth_token``); the driver connects with
``RAY_AUTH_MODE=token``. The cluster is started in a session of its own, and stopping it ends
exactly the processes of that session (by id), never other Ray instances on the machine.

What is running is recorded in ``ray/<target>.json`` in the state folder: the GCS address,
Ray's temp folder, the session id, and the ports of Serve's HTTP proxy and of the ingress.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from certify.deploy.errors import Reason, RolledBack
from certify.errors import ConfigError
from certify.outputs import atomic_write
from certify.raycluster import LOCAL_ONLY_ENV, LOOPBACK

RAY_DIR = "ray"
#: Ray's dashboard agent can take 40 s to start on two busy cores; Ray's default wait is 30 s.
AGENT_TIMEOUT_MS = "300000"


@dataclass
class ClusterInfo:
    """One target's cluster and the ports our serving uses on it."""

    target: str
    address: str  # GCS address
    embedded: bool
    temp_dir: str = ""
    sid: int = 0  # session id of the embedded cluster's processes
    started: float = 0.0
    http_port: int = 0
    ingress_port: int = 0

    def save(self, state: Path) -> None:
        atomic_write(info_path(state, self.target), json.dumps(asdict(self), indent=2) + "\n")


def info_path(state: Path, target: str) -> Path:
    return state / RAY_DIR / f"{target}.json"


def load_info(state: Path, target: str) -> ClusterInfo | None:
    path = info_path(state, target)
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return ClusterInfo(**data)


def driver_env() -> None:
    """This process talks to the cluster on loopback, with Ray's token authentication."""
    os.environ[LOCAL_ONLY_ENV] = "0"
    os.environ["RAY_AUTH_MODE"] = "token"
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:
        vars(constants)["ENABLE_RAY_CLUSTER"] = False


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def reachable(address: str, timeout: float = 2.0) -> bool:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
        return True
    except (OSError, ValueError):
        return False


def session_pids(sid: int) -> list[int]:
    """The processes of one embedded cluster: its own session."""
    out = []
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(OSError, psutil.Error):
            if sid and os.getsid(proc.pid) == sid and proc.pid != os.getpid():
                out.append(proc.pid)
    return out


def running(info: ClusterInfo | None) -> bool:
    if info is None:
        return False
    if info.embedded and not session_pids(info.sid):
        return False
    return reachable(info.address)


def _ray_cli() -> str:
    candidate = Path(sys.executable).with_name("ray")
    return str(candidate) if candidate.is_file() else shutil.which("ray") or "ray"


def start_embedded(state: Path, target: str, *, num_cpus: int, timeout_s: float,
                   attempts: int = 3) -> ClusterInfo:
    """``ray start --head`` on 127.0.0.1 in a session of its own. On a busy machine Ray's agents
    can miss the raylet's fixed 30 s start-up wait: a node that timed out is stopped and started
    again (``attempts`` in all, within ``timeout_s`` overall)."""
    deadline = time.monotonic() + timeout_s
    for attempt in range(1, attempts + 1):
        try:
            return _start_once(state, target, num_cpus=num_cpus,
                               timeout_s=max(30.0, deadline - time.monotonic()))
        except _StartTimedOut as exc:
            if attempt == attempts or deadline - time.monotonic() < 30:
                raise ConfigError(f"target '{target}': `ray start` failed {attempt} time(s): "
                                  f"{exc}") from None
    raise AssertionError("unreachable")


class _StartTimedOut(Exception):
    pass


def _start_once(state: Path, target: str, *, num_cpus: int, timeout_s: float) -> ClusterInfo:
    key = hashlib.sha256(f"{state}/{target}".encode()).hexdigest()[:10]
    temp = Path(tempfile.gettempdir()) / f"certify-ray-{key}"  # short: Unix socket paths
    temp.mkdir(parents=True, exist_ok=True)
    log = state / RAY_DIR / f"{target}.start.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, LOCAL_ONLY_ENV: "0", "RAY_AUTH_MODE": "token",
           "RAY_agent_register_timeout_ms": AGENT_TIMEOUT_MS, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    ports = [free_port() for _ in range(5)]
    cmd = [_ray_cli(), "start", "--head", f"--node-ip-address={LOOPBACK}", "--port=0",
           f"--ray-client-server-port={ports[0]}", f"--dashboard-agent-grpc-port={ports[1]}",
           f"--dashboard-agent-listen-port={ports[2]}", f"--metrics-export-port={ports[3]}",
           f"--runtime-env-agent-port={ports[4]}", "--include-dashboard=false",
           # nobody reads worker logs through a driver (log_to_driver is off): no log monitor
           "--include-log-monitor=false",
           f"--num-cpus={num_cpus}", f"--temp-dir={temp}", "--disable-usage-stats"]
    started = time.time()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                                start_new_session=True)
    info = ClusterInfo(target=target, address="", embedded=True, temp_dir=str(temp),
                       sid=proc.pid, started=started)
    done = threading.Event()
    primer = threading.Thread(target=_prime_listen_port, args=(temp, ports[2], started, done),
                              daemon=True)
    primer.start()
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stop_embedded(info)
        raise RolledBack(Reason.TARGET_DOWN, f"target '{target}': the embedded Ray did not start "
                                             f"within {timeout_s:g} s (log: {log})") from None
    finally:
        done.set()
        primer.join(timeout=5)
    current = temp / "ray_current_cluster"
    if code != 0 or not current.is_file():
        stop_embedded(info)
        text = log.read_text(errors="replace")
        tail = text.strip().splitlines()[-1:] or ["?"]
        if "timed out during startup" in text:
            raise _StartTimedOut(f"{tail[0]} (log: {log})")
        raise ConfigError(f"target '{target}': `ray start` failed (exit {code}): {tail[0]} "
                          f"(log: {log})")
    info.address = current.read_text().strip()
    info.save(state)
    return info


def _prime_listen_port(temp: Path, port: int, started: float, done: threading.Event) -> None:
    """Ray 2.60's raylet waits at most 30 s (fixed) for the dashboard agent to write the port it
    listens on; on two busy cores the agent can take 40 s to start, and the node then aborts.
    We chose that port ourselves (``--dashboard-agent-listen-port``), so we write the file the
    raylet waits for as soon as the new session exists; the agent writes the same port when it
    is up. (The other agent ports are passed to the raylet directly and are not waited for.)"""
    while not done.is_set():
        for gcs in temp.glob("session_*/gcs_server_port_*"):
            with contextlib.suppress(OSError):
                if gcs.stat().st_mtime < started - 1:
                    continue  # an earlier session
                node = gcs.name.removeprefix("gcs_server_port_")
                wanted = gcs.parent / f"dashboard_agent_listen_port_{node}"
                if not wanted.exists():
                    tmp = gcs.parent / f".certify-{node}.tmp"
                    tmp.write_text(str(port))
                    os.replace(tmp, wanted)
        done.wait(0.2)


def stop_embedded(info: ClusterInfo, grace_s: float = 5.0) -> int:
    """End the embedded cluster's processes (SIGTERM, then SIGKILL); how many there were.

    The GCS goes last, with a short grace of its own: it holds the cluster's state only in
    memory (nothing of it outlives the cluster) and, told to stop, waited out the whole grace
    period on every try (5 s of each demo) after everything else had ended."""
    pids = session_pids(info.sid)
    gcs = [p for p in pids if _name(p) == "gcs_server"]
    for group, grace in (([p for p in pids if p not in gcs], grace_s), (gcs, min(grace_s, 1.0))):
        for pid in group:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(p) for p in group):
            time.sleep(0.1)
    for pid in session_pids(info.sid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def _name(pid: int) -> str:
    try:
        return str(psutil.Process(pid).name())
    except psutil.Error:
        return ""


def _alive(pid: int) -> bool:
    """Still running: a zombie has ended (the cluster's processes outlive `ray start`, their
    parent, and wait to be reaped by whoever adopted them, which in a container may be never)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def ensure_cluster(state: Path, target: str, *, address: str | None, num_cpus: int,
                   timeout_s: float, start: bool) -> ClusterInfo | None:
    """The target's cluster: the one recorded if it still runs, else (``start``) a new embedded
    one, or the plan's ``address``. None when nothing runs and ``start`` is False."""
    info = load_info(state, target)
    if address:
        if info is None or info.address != address:
            info = ClusterInfo(target=target, address=address, embedded=False)
            info.save(state)
        return info
    if running(info):
        return info
    if not start:
        return None
    if info is not None and info.embedded:
        stop_embedded(info)  # leftovers of a cluster that no longer answers
    return start_embedded(state, target, num_cpus=num_cpus, timeout_s=timeout_s)


def connect(info: ClusterInfo) -> Any:
    """``ray`` connected to the target's cluster as a driver (disconnect with ray.shutdown())."""
    if info.embedded:
        driver_env()
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(address=info.address, namespace="certify-deploy", log_to_driver=False,
             include_dashboard=False, configure_logging=False)
    return ray
