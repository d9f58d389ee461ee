"""The MLflow registry (real, embedded SQLite): adoption of an uncertified champion, a canary
rollout's aliases (candidate -> champion, previous), the registered bytes checked again,
rollback --to an older version (an expired certificate accepted only there), and the locks."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from certify.attest.statement import DriftBaselineRef
from certify.attest.verify import Keyring
from certify.cli import main as cli_main
from certify.deploy import operations, rollout
from certify.deploy.admission import check_drift_baseline
from certify.deploy.audit import read_entries
from certify.deploy.context import DeployContext
from certify.deploy.errors import Locked, Refused
from certify.deploy.locks import LockHolder, TargetLock, lock_path
from certify.deploy.plan import DeployPlan, load_plan
from certify.deploy.registry import Registry
from certify.outputs import directory_digest
from certify.policy import Policy, load_policy
from tests.test_deploy_project import Certified, certified_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Certified:
    return certified_project(tmp_path_factory.mktemp("registry"))


def open_plan(path: Path) -> tuple[DeployPlan, Policy]:
    plan = load_plan(path)
    return plan, load_policy(plan.policy_path, check_files=False)


def test_adopt_then_roll_out_moves_the_aliases(project: Certified,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = project.plan(state="state")
    assert cli_main(["deploy", "adopt", str(path), "--model", str(project.baseline),
                     "--json"]) == 0
    adopted = json.loads(capsys.readouterr().out)
    assert adopted["aliases"] == {"champion": 1}
    plan, policy = open_plan(path)
    registry = Registry(plan)
    v1 = registry.version(1)
    assert v1.uncertified and v1.certificate_digest is None
    assert registry.fetch(v1).read_bytes() == project.baseline.read_bytes()
    entries = read_entries(plan.state / "audit.jsonl")
    assert [e["action"] for e in entries[:2]] == ["switch", "adopt"]
    assert entries[1]["result"] == "uncertified" and entries[1]["certificate"] is None
    # a second adoption is refused
    with pytest.raises(Refused, match="already the champion"):
        operations.adopt(plan, policy, project.baseline)
    # a certified candidate goes through every step (dry run on the cloud target)
    result = rollout.deploy(plan, policy, project.cert,
                            Keyring.from_dir(project.trust))
    assert result.promoted and not result.first_deploy and result.version == 2
    assert registry.aliases() == {"champion": 2, "previous": 1}
    assert registry.version(2).tag("status") == "champion"
    assert registry.version(1).tag("status") == "previous"
    manifests = sorted(p.name for p in (plan.state / "manifests" / "cloud" / "v2").iterdir())
    assert manifests == ["00-prepare.yaml", "01-step-10.yaml", "02-step-50.yaml",
                         "03-step-100.yaml", "promote.yaml"]
    actions = [e["action"] for e in read_entries(plan.state / "audit.jsonl")]
    assert actions.count("weight") == 3 and actions[-1] == "promoted"


def test_the_registered_bytes_are_checked_again(project: Certified) -> None:
    plan, policy = open_plan(project.root / "deploy.toml")
    registry = Registry(plan)
    v2 = registry.version(2)
    stored = Path(v2.source.removeprefix("file://")) / v2.file
    original = stored.read_bytes()
    stored.write_bytes(original + b"tampered in the registry")
    try:
        with pytest.raises(Refused) as info:
            DeployContext.open(plan, policy).served(v2)
        assert info.value.reason == "registry-digest"
    finally:
        stored.write_bytes(original)


def test_rollback_to_needs_a_certificate_and_accepts_an_expired_one(project: Certified) -> None:
    plan, policy = open_plan(project.root / "deploy.toml")
    trust = Keyring.from_dir(project.trust)
    with pytest.raises(Refused) as info:
        operations.rollback(plan, policy, to=1, keyring=trust)
    assert info.value.reason == "uncertified"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)  # v2's certificate has expired
    out = operations.rollback(plan, policy, to=2, keyring=trust, now=later)
    assert out["expired"] is True and out["aliases"] == {"champion": 2, "previous": 1}
    entry = [e for e in read_entries(plan.state / "audit.jsonl")
             if e["action"] == "rollback-verify"][-1]
    assert entry["details"]["expired"] is True and "rollback only" in entry["details"]["note"]


def _holder_script(state: Path) -> str:
    return textwrap.dedent(f"""
        import time
        from pathlib import Path
        from certify.deploy.locks import TargetLock
        with TargetLock(Path({str(state)!r}), "cloud", actor="other@ci",
                        command="certify deploy run other.toml", stale_s=3600):
            print("held", flush=True)
            time.sleep(60)
    """)


def test_a_second_deploy_exits_1_naming_the_holder(project: Certified,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = project.plan(name="locked.toml", state="locked-state")
    state = project.root / "locked-state"
    holder = subprocess.Popen([sys.executable, "-c", _holder_script(state)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code = cli_main(["deploy", "run", str(path), "--certificate", str(project.cert),
                         "--trust", str(project.trust)])
        out = capsys.readouterr().out
        assert code == 1 and out.startswith("LOCKED (locked): ")
        assert f"other@ci (pid {holder.pid}" in out and "other.toml" in out
        assert not (state / "registry.db").exists()
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_a_stale_lock_is_taken_over_and_audited(project: Certified) -> None:
    path = project.plan(name="stale.toml", state="stale-state")
    state = project.root / "stale-state"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    dead = LockHolder(target="cloud", pid=gone.pid, created=time.time() - 5,
                      host=socket.gethostname(), actor="crashed@host",
                      command="certify deploy run", started=time.time() - 60, token="x")
    lock_path(state, "cloud").parent.mkdir(parents=True)
    lock_path(state, "cloud").write_text(json.dumps(vars(dead)))
    plan, policy = open_plan(path)
    result = rollout.deploy(plan, policy, project.cert,
                            Keyring.from_dir(project.trust))
    assert result.promoted
    entries = read_entries(state / "audit.jsonl")
    takeover = entries[0]
    assert takeover["action"] == "lock-takeover" and takeover["target"] == "cloud"
    assert "crashed@host" in takeover["before"]["holder"] and "is gone" in takeover["details"]["why"]
    assert not lock_path(state, "cloud").exists()  # released at the end
    # an old lock of a live holder is stale by age too
    with TargetLock(state, "cloud", actor="a", command="c", stale_s=0.5):
        time.sleep(1.0)
        with TargetLock(state, "cloud", actor="b", command="d", stale_s=0.5) as second:
            assert second.taken_over is not None and "older than" in second.taken_over[1]
    with TargetLock(state, "cloud", actor="a", command="c", stale_s=60), \
            pytest.raises(Locked, match="locked by a"):
        TargetLock(state, "cloud", actor="b", command="d", stale_s=60).acquire()


def test_the_drift_baseline_is_checked_and_registered_beside_the_file(project: Certified,
                                                                      tmp_path: Path) -> None:
    folder = tmp_path / "run" / "drift-baseline"
    (folder / "detectors").mkdir(parents=True)
    (folder / "detectors" / "ks.json").write_text('{"p": 0.05}')
    (folder / "manifest.json").write_text("{}")
    cert = tmp_path / "run" / "certificate.intoto.json"

    def named(digest: str) -> Any:
        ref = DriftBaselineRef(path="drift-baseline", digest=digest, files=2)
        return SimpleNamespace(predicate=SimpleNamespace(drift_baseline=ref))

    assert check_drift_baseline(named(directory_digest(folder)), cert) == folder
    with pytest.raises(Refused, match="manifest digest") as info:
        check_drift_baseline(named("sha256:" + "0" * 64), cert)
    assert info.value.reason == "drift-baseline-mismatch"
    with pytest.raises(Refused, match="is missing"):
        check_drift_baseline(named(directory_digest(folder)), tmp_path / "elsewhere" / "c.json")
    plan, _ = open_plan(project.plan(name="drift.toml", state="drift-state"))
    registry = Registry(plan)
    record = registry.register(project.candidate, spec={"format": "skops"}, tags={},
                               drift_baseline=folder)
    copy = registry.fetch_drift_baseline(record, tmp_path / "copy")
    assert copy is not None and directory_digest(copy) == directory_digest(folder)
