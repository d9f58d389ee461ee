"""Gate first, always: every deploy starts with `certify gate`'s own code, then refuses a file
changed after certification, a downgrade and a replay; each refusal changes nothing (the
registry, the serving state and the audit log are read back and compared)."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import certify.attest.gate
from certify.attest.keys import write_key_pair
from certify.attest.verify import Keyring
from certify.cli import main as cli_main
from certify.deploy import admission, rollout
from certify.deploy.errors import Refused
from certify.deploy.plan import load_plan
from certify.deploy.registry import Registry
from certify.policy import load_policy
from tests.test_deploy_project import CLOUD_ONLY, Certified, certified_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Certified:
    return certified_project(tmp_path_factory.mktemp("gate"))


def world(plan_path: Path) -> dict[str, Any]:
    """Everything a deploy could change, read back: registry, serving state, audit log, locks."""
    plan = load_plan(plan_path)
    state = plan.state
    registry = Registry(plan)
    files = sorted(str(p.relative_to(state)) for p in state.rglob("*")
                   if p.is_file() and any(part in ("manifests", "locks", "ray", "cache")
                                          for part in p.relative_to(state).parts))
    return {
        "registry_db": (state / "registry.db").is_file(),
        "registry": registry.snapshot() if registry.exists() else None,
        "anchor": registry.anchor() if registry.exists() else None,
        "audit": (state / "audit.jsonl").read_bytes() if (state / "audit.jsonl").is_file() else None,
        "journal": (state / "rollout.json").read_bytes() if (state / "rollout.json").is_file() else None,
        "files": files,
    }


def run(project: Certified, plan: Path, cert: Path | None = None, *,
        trust: Path | None = None, now: dt.datetime | None = None) -> rollout.RunResult:
    loaded = load_plan(plan)
    return rollout.deploy(loaded, load_policy(loaded.policy_path, check_files=False),
                          cert or project.cert, Keyring.from_dir(trust or project.trust), now=now)


def refused(project: Certified, plan: Path, reason: str, **kwargs: Any) -> Refused:
    before = world(plan)
    with pytest.raises(Refused) as info:
        run(project, plan, **kwargs)
    assert info.value.reason == reason, info.value.diagnostics()
    assert world(plan) == before, "a refusal changed something"
    return info.value


def test_the_deploy_gate_is_certify_gate_itself() -> None:
    assert admission.gate is certify.attest.gate.gate


def test_a_file_changed_after_certification_is_refused(project: Certified,
                                                        tmp_path: Path) -> None:
    clone = project.clone(tmp_path / "changed")
    plan = clone.plan(state="state")
    clone.candidate.write_bytes(clone.candidate.read_bytes() + b"\0")
    error = refused(clone, plan, "artifact-mismatch")
    assert "candidate.skops" in error.message
    assert not (tmp_path / "changed" / "state").exists()


def test_an_untrusted_signer_is_refused(project: Certified, tmp_path: Path) -> None:
    _, public, _ = write_key_pair(tmp_path / "other")
    other = tmp_path / "other-trust"
    other.mkdir()
    shutil.copy(public, other / "other.pub")
    refused(project, project.plan(name="untrusted.toml", state="untrusted-state"),
            "untrusted-key", trust=other)


def test_an_expired_certificate_and_another_policy_are_refused(project: Certified,
                                                               tmp_path: Path) -> None:
    plan = project.plan(name="expired.toml", state="expired-state")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    refused(project, plan, "expired", now=later)
    other = project.root / "other-policy.toml"
    other.write_text(project.policy.read_text().replace("seed = 1234", "seed = 4321"))
    data = copy.deepcopy(CLOUD_ONLY)
    data["policy"] = other.name
    refused(project, project.plan(data, name="otherpolicy.toml", state="other-state"),
            "policy-mismatch")


def test_first_deploy_registers_the_file_unchanged_then_downgrade_and_replay_are_refused(
        project: Certified, tmp_path: Path) -> None:
    clone = project.clone(tmp_path / "order")
    older = clone.cert
    newer = clone.certify_again()
    plan = clone.plan(state="state")
    result = run(clone, plan, newer)
    assert result.promoted and result.first_deploy and result.version == 1
    loaded = load_plan(plan)
    registry = Registry(loaded)
    assert registry.aliases() == {"champion": 1}
    version = registry.version(1)
    stored = registry.fetch(version)
    assert stored.read_bytes() == clone.candidate.read_bytes()  # registered unchanged
    tags = version.tags
    cert = json.loads(newer.read_text())
    payload = base64.b64decode(cert["payload"])
    assert tags["certify.certificate_digest"] == "sha256:" + hashlib.sha256(payload).hexdigest()
    assert tags["certify.subject_digest"] == "sha256:" + hashlib.sha256(
        clone.candidate.read_bytes()).hexdigest()
    assert tags["certify.policy_digest"] == load_policy(clone.policy).digest()
    assert tags["certify.verdict"] == "CERTIFIED" and tags["certify.keyid"].startswith("SHA256:")
    for key in ("run_id", "issued_at", "expires_at", "plan_digest"):
        assert tags["certify." + key]
    # the older certificate is a downgrade, the same one a replay: nothing changes
    error = refused(clone, plan, "downgrade", cert=older)
    assert "rollback --to" in error.message
    refused(clone, plan, "replay", cert=newer)


def test_cli_run_prints_the_refusal_and_exits_1(project: Certified, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    clone = project.clone(tmp_path / "cli")
    plan = clone.plan(state="state")
    clone.candidate.write_bytes(b"not the certified model")
    code = cli_main(["deploy", "run", str(plan), "--certificate", str(clone.result.run_dir),
                     "--trust", str(clone.trust), "--json"])
    assert code == 1
    out = json.loads(capsys.readouterr().out)
    assert out == {"result": "refused", "reason": "artifact-mismatch", "message": out["message"]}
