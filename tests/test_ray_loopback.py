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
