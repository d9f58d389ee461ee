"""The on-prem target end to end, on real engines: a detached Ray on 127.0.0.1, Ray Serve, the
weighted ingress, real HTTP, the real MLflow registry, real signatures, kill -9 of a real deploy.

One embedded Ray Serve instance is shared by the whole module (two cores: Ray is started once),
in this order: adopt the baseline (uncertified first champion); a refusal changes nothing; a
certified but much slower candidate is rolled back by the canary analysis and leaves aliases,
weights and deployments exactly as before; a good candidate goes through every step and is
promoted; a deploy is killed with SIGKILL mid-rollout (while a second deploy is refused by the
lock), `status` says so truthfully and `rollback` (taking over the stale lock) returns to the
champion; `stop` ends the embedded serving. Every process of the cluster listens on loopback only.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from certify.attest.keys import write_key_pair
from certify.attest.verify import Keyring
from certify.cli import main as cli_main
from certify.demo import FEATURES, TARGET, make_credit_data
from certify.deploy import journal, operations, rollout
from certify.deploy.audit import read_entries, verify_log
from certify.deploy.context import DeployContext
from certify.deploy.errors import Locked, Refused, RolledBack
from certify.deploy.plan import load_plan
from certify.deploy.registry import Registry
from certify.deploy.targets.raylocal import load_info, session_pids
from certify.jsonsafe import scalar
from certify.policy import load_policy
from tests.test_deploy_project import Certified, certified_project

pytestmark = pytest.mark.slow

ONPREM: dict[str, Any] = {
    "name": "credit-risk", "policy": "certify.toml", "steps": [10, 50, 100],
    "state_dir": "../deploy-state",
    "analysis": {"duration_s": 6.0, "max_requests": 80, "rounds": 2, "concurrency": 2,
                 "latency_metric": "p50_ms", "latency_margin": 1.0, "latency_slack_ms": 5.0,
                 "request_timeout_s": 20.0, "slos": {"error_rate": 0.01}},
    "parity": {"sample": 32},
    "timeouts": {"start_s": 600.0, "lock_stale_s": 3600.0},
    "data_classes": {"pii": {"locations": ["on_prem"]}},
    "targets": {"onprem": {"kind": "ray_serve", "location": "on_prem", "data_classes": ["pii"],
                           "sticky_header": "X-Client"}},
}


@dataclass
class World:
    good: Certified
    slow: Certified
    plan: Path
    slow_plan: Path
    state: Path


def slow_candidate() -> Any:
    """Accurate, but 200 ms per call, one call at a time (the demo's ``slow`` wrapper: it sleeps,
    so it stays that much slower than the champion however busy the machine's cores are; a
    bigger model was not, on two cores shared with other tests)."""
    from certify.demo import candidate_model
    from certify.demo.models import load_sabotage

    ref = make_credit_data(800, 7)
    return load_sabotage("slow", candidate_model().fit(ref[FEATURES], ref[TARGET]), delay_s=0.2)


def write_plan(project: Certified, name: str = "deploy.toml", **analysis: Any) -> Path:
    data = copy.deepcopy(ONPREM)
    data["analysis"].update(analysis)
    return project.plan(data, name=name)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("serve")
    good = certified_project(root / "good")
    slow = certified_project(root / "slow", candidate=slow_candidate())
    plan = write_plan(good)
    slow_plan = write_plan(slow)
    state = root / "deploy-state"
    yield World(good, slow, plan, slow_plan, state)
    # the embedded serving is ended even when a test failed half-way
    info = load_info(state, "onprem")
    if info is not None and session_pids(info.sid):
        cli_main(["deploy", "stop", str(plan)])


def opened(path: Path) -> tuple[Any, Any]:
    plan = load_plan(path)
    return plan, load_policy(plan.policy_path, check_files=False)


def serving(world: World) -> dict[str, Any]:
    """Aliases, weights and deployments, read back from the registry and the live target."""
    plan, policy = opened(world.plan)
    target = rollout.make_targets(DeployContext.open(plan, policy))["onprem"]
    try:
        snapshot = target.snapshot()
    finally:
        target.close()
    return {"aliases": Registry(plan).aliases(), **snapshot}


def post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None
         ) -> tuple[int, dict[str, str], dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers), json.loads(response.read())


def ingress_url(world: World) -> str:
    info = load_info(world.state, "onprem")
    assert info is not None
    return f"http://127.0.0.1:{info.ingress_port}/"


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%")[0])
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


def listening(world: World, extra_pids: set[int] | None = None) -> list[tuple[str, str, int]]:
    info = load_info(world.state, "onprem")
    assert info is not None
    pids = set(session_pids(info.sid)) | (extra_pids or set())
    found = []
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids:
            try:
                name = psutil.Process(conn.pid).name()
            except psutil.Error:
                name = "?"
            found.append((name, conn.laddr.ip, conn.laddr.port))
    return found


# -- in order: the module shares one Ray Serve instance ----------------------------------------

def test_adopt_serves_the_first_champion_on_loopback(world: World) -> None:
    assert cli_main(["deploy", "adopt", str(world.plan), "--model",
                     str(world.good.baseline)]) == 0
    state = serving(world)
    assert state["aliases"] == {"champion": 1}
    assert state["split"] == {"champion": 1, "candidate": None, "weight": 0.0}
    assert state["apps"] == ["credit-risk-onprem-v1"]
    row = [scalar(v) for v in make_credit_data(1, 99)[FEATURES].iloc[0]]
    status, headers, body = post(ingress_url(world), {"instances": [row]})
    digest = "sha256:" + hashlib.sha256(world.good.baseline.read_bytes()).hexdigest()
    assert status == 200 and headers["x-certify-role"] == "champion"
    assert headers["x-certify-digest"] == digest and len(body["probabilities"][0]) == 2
    sockets = listening(world)
    names = {name for name, _, _ in sockets}
    assert "gcs_server" in names and "raylet" in names, sockets
    assert any("ProxyActor" in n or "ServeReplica" in n for n in names), sockets
    exposed = [s for s in sockets if not _loopback(s[1])]
    assert not exposed, f"listening beyond loopback: {exposed}"


def test_a_refusal_changes_nothing_on_the_live_target(world: World, tmp_path: Path) -> None:
    _, public, _ = write_key_pair(tmp_path / "stranger")
    (tmp_path / "trust").mkdir()
    (tmp_path / "trust" / "stranger.pub").write_bytes(public.read_bytes())
    before = serving(world)
    log = (world.state / "audit.jsonl").read_bytes()
    code = cli_main(["deploy", "run", str(world.plan), "--certificate", str(world.good.cert),
                     "--trust", str(tmp_path / "trust")])
    assert code == 1
    assert serving(world) == before and (world.state / "audit.jsonl").read_bytes() == log


def test_a_slower_candidate_is_rolled_back_leaving_everything_as_before(world: World) -> None:
    before = serving(world)
    plan, policy = opened(world.slow_plan)
    with pytest.raises(RolledBack) as info:
        rollout.deploy(plan, policy, world.slow.cert, Keyring.from_dir(world.slow.trust))
    assert info.value.reason == "analysis", info.value.diagnostics()
    assert "step 1 (10%)" in info.value.message and "p50_ms" in info.value.message
    assert serving(world) == before  # aliases, weights and deployments, read back
    entries = read_entries(world.state / "audit.jsonl")
    analysis = [e for e in entries if e["action"] == "analysis"][-1]
    assert analysis["result"] == "failed"
    figures = analysis["details"]["by_role"]
    assert figures["candidate"]["p50_ms"] > figures["champion"]["p50_ms"]
    assert entries[-1]["action"] == "registry-rollback"
    assert Registry(plan).version(2).tag("status") == "rolled-back"
    assert journal.read(world.state).phase == "rolled-back"  # type: ignore[union-attr]


def test_a_good_candidate_is_promoted_through_every_step(world: World) -> None:
    plan, policy = opened(world.plan)
    result = rollout.deploy(plan, policy, world.good.cert, Keyring.from_dir(world.good.trust))
    assert result.promoted and result.version == 3
    assert [(s["step"], s["weight"]) for s in result.steps] == [(1, 10.0), (2, 50.0), (3, 100.0)]
    assert all(s["passed"] for s in result.steps)
    assert result.steps[0]["by_role"]["candidate"]["requests"] > 0
    assert result.parity[0]["passed"] and result.parity[0]["max_abs_diff"] <= 1e-9
    state = serving(world)
    assert state["aliases"] == {"champion": 3, "previous": 1}
    assert state["split"] == {"champion": 3, "candidate": None, "weight": 0.0}
    assert state["apps"] == ["credit-risk-onprem-v3"]
    row = [scalar(v) for v in make_credit_data(1, 98)[FEATURES].iloc[0]]
    _, headers, _ = post(ingress_url(world), {"instances": [row]}, {"X-Client": "abc"})
    assert headers["x-certify-version"] == "3" and headers["x-certify-role"] == "champion"


def test_kill_9_mid_rollout_then_status_and_rollback(world: World) -> None:
    newer = world.good.certify_again()
    slow_steps = write_plan(world.good, "slow-steps.toml", duration_s=120.0, max_requests=100000,
                            rounds=4)
    before = serving(world)
    proc = subprocess.Popen(
        [sys.executable, "-m", "certify", "deploy", "run", str(slow_steps), "--certificate",
         str(newer), "--trust", str(world.good.trust)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        current = None
        while time.monotonic() < deadline and proc.poll() is None:
            current = journal.read(world.state)
            if current is not None and current.version == 4 and current.phase == "step":
                break
            time.sleep(0.5)
        assert current is not None and current.phase == "step", (
            proc.stdout.read().decode() if proc.poll() is not None and proc.stdout else current)
        time.sleep(2.0)  # the weight is set and analysis traffic flows
        # the loopback check on a deploy run: cluster, ingress, both versions, the deploy itself
        exposed = [s for s in listening(world, {proc.pid}) if not _loopback(s[1])]
        assert not exposed, exposed
        # a second deploy is refused by the lock, naming the holder
        plan, policy = opened(world.plan)
        with pytest.raises(Locked, match=f"pid {proc.pid}"):
            rollout.deploy(plan, policy, newer, Keyring.from_dir(world.good.trust))
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    out = operations.status(*opened(world.plan))
    rollout_state = out["rollout"]
    assert rollout_state["version"] == 4 and rollout_state["interrupted"] is True
    assert rollout_state["finished"] is False and rollout_state["phase"] == "step"
    assert "INTERRUPTED" in rollout_state["summary"]
    target = out["targets"]["onprem"]
    assert target["lock"]["stale"] and f"pid {proc.pid}" in target["lock"]["holder"]
    assert target["ingress"]["candidate"] == 4 and target["ingress"]["champion"] == 3
    assert out["aliases"]["champion"] == 3  # never reported as promoted
    # a new deploy is refused until the interrupted rollout is ended
    with pytest.raises(Refused, match="unfinished rollout"):
        rollout.deploy(*opened(world.plan), newer, Keyring.from_dir(world.good.trust))
    assert cli_main(["deploy", "rollback", str(world.plan)]) == 0
    assert serving(world) == before
    entries = read_entries(world.state / "audit.jsonl")
    actions = [e["action"] for e in entries]
    assert "lock-takeover" in actions[-6:] and actions[-1] == "registry-rollback"
    assert journal.read(world.state).phase == "rolled-back"  # type: ignore[union-attr]
    assert verify_log(world.state / "audit.jsonl",
                      anchor=Registry(load_plan(world.plan)).anchor()).ok


def test_stop_ends_the_embedded_serving(world: World,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    info = load_info(world.state, "onprem")
    assert info is not None and session_pids(info.sid)
    assert cli_main(["deploy", "stop", str(world.plan), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["stopped"]["onprem"]["stopped"] is True
    deadline = time.monotonic() + 90  # a busy machine stops Ray slowly
    while session_pids(info.sid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not session_pids(info.sid)
    status = operations.status(*opened(world.plan))
    assert status["targets"]["onprem"]["cluster"] is None or \
        status["targets"]["onprem"]["cluster"]["running"] is False
    assert status["aliases"] == {"champion": 3, "previous": 1}  # the registry stays
