"""A local Ray listens on loopback only: every process of a real run (Ray's GCS, raylet, workers
and agents, the Locust generators, the served model) is listed with its listening sockets while
the run's Ray is up, and any address that is not loopback fails the test."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import psutil
import pytest

from certify.policy import load_policy
from certify.session import CertifySession
from tests.projects import make_project


def _listening(root_pid: int) -> list[tuple[str, str, int]]:
    me = psutil.Process(root_pid)
    pids = {root_pid} | {p.pid for p in me.children(recursive=True)}
    found = []
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids:
            try:
                name = psutil.Process(conn.pid).name()
            except psutil.Error:
                name = "?"
            found.append((name, conn.laddr.ip, conn.laddr.port))
    return found


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


@pytest.mark.slow
def test_a_load_run_listens_on_loopback_only(tmp_path: Path) -> None:
    import os

    policy = make_project(tmp_path / "p", n_reference=600, n_evaluation=300, suites={"load": {
        "profiles": ["steady"], "duration_s": 1.0, "warmup_s": 0.2, "workers": 1, "users": 2,
        "server_workers": 1, "compare_baseline": False,
        "thresholds": {"p95_ms": {"fail": 5000.0}}}})
    session = CertifySession(load_policy(policy))
    session.setup()
    session.run_all()
    import ray

    assert ray.is_initialized()  # still up: the sockets of the whole run are there to list
    sockets = _listening(os.getpid())
    names = {name for name, _, _ in sockets}
    assert "gcs_server" in names and "raylet" in names, sockets  # the listing sees Ray itself
    exposed = [s for s in sockets if not _loopback(s[1])]
    assert not exposed, f"listening beyond loopback: {exposed}"
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    result = session.finish()
    assert result.report_path.is_file()


_PRESTART = """
import os, sys, threading, time
import psutil
from certify import raycluster

raycluster.prestart()
assert "certify-ray-prestart" in [t.name for t in threading.enumerate()]
ray = raycluster.ensure_ray()  # waits for the start under way
time.sleep(2)  # well after the background start returned

@ray.remote
class Echo:
    def pid(self):
        return os.getpid()

echo = Echo.remote()
assert ray.get(echo.pid.remote(), timeout=60) != os.getpid()
gcs = [p for p in psutil.Process().children(recursive=True) if p.name() == "gcs_server"]
print("gcs", len(gcs), "pid", os.getpid())
"""


@pytest.mark.slow
def test_ray_started_in_the_background_is_the_one_the_suites_use(tmp_path: Path) -> None:
    """The local Ray that the load suite starts ahead (raycluster.prestart) serves the suites
    after the thread that started it has finished starting: its processes are tied to that
    thread, and a first version that let the thread end lost the whole cluster. One Ray only,
    its folder gone when the process ends."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _PRESTART], capture_output=True, text=True,
                          timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    words = proc.stdout.split()
    assert words[:2] == ["gcs", "1"], proc.stdout
    pid = words[words.index("pid") + 1]
    import tempfile

    assert not (Path(tempfile.gettempdir()) / f"certify-ray-{pid}").exists()
