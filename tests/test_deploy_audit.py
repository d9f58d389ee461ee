"""The audit trail: a real (dry-run) deploy writes a hash-chained log anchored in the registry;
each kind of tampering is detected and named; DSSE-signed checkpoints verify offline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from certify.attest.keys import write_key_pair
from certify.attest.verify import Keyring
from certify.cli import main as cli_main
from certify.deploy import rollout
from certify.deploy.audit import GENESIS, canonical, entry_hash, read_entries, verify_log
from certify.deploy.context import ENV_AUDIT_KEY
from certify.deploy.plan import load_plan
from certify.deploy.registry import Registry
from certify.policy import load_policy
from tests.test_deploy_project import Certified, certified_project


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Certified:
    """A project deployed once (cloud target, dry run) with signed audit checkpoints."""
    project = certified_project(tmp_path_factory.mktemp("audit"))
    _, public, _ = write_key_pair(project.root / "audit-key" / "audit")
    (project.root / "audit-trust").mkdir()
    shutil.copy(public, project.root / "audit-trust" / "audit.pub")
    plan = load_plan(project.plan(state="state"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_AUDIT_KEY, str(project.root / "audit-key" / "audit.key"))
        rollout.deploy(plan, load_policy(plan.policy_path, check_files=False), project.cert,
                       Keyring.from_dir(project.trust))
    return project


def log_of(project: Certified) -> Path:
    return project.root / "state" / "audit.jsonl"


def anchor_of(project: Certified) -> Any:
    return Registry(load_plan(project.root / "deploy.toml")).anchor()


def tampered(project: Certified, tmp_path: Path, change: Any) -> Path:
    """A copy of the log, changed; the copy sits next to the same registry's anchor."""
    lines = log_of(project).read_bytes().splitlines()
    out = tmp_path / "audit.jsonl"
    out.write_bytes(b"\n".join(change(lines)) + b"\n")
    return out


def test_every_action_is_an_entry_with_the_required_fields(deployed: Certified) -> None:
    entries = read_entries(log_of(deployed))
    actions = [e["action"] for e in entries]
    assert actions[:2] == ["gate", "register"]
    assert {"prepare", "weight", "registry-promote", "promote", "promoted"} <= set(actions)
    plan = load_plan(deployed.root / "deploy.toml")
    cert = entries[0]["certificate"]
    for i, entry in enumerate(entries, start=1):
        assert entry["seq"] == i and entry["plan"] == plan.digest()
        assert entry["certificate"] == cert and cert.startswith("sha256:")
        assert entry["actor"] and entry["time"].endswith("Z")
        assert entry["hash"] == entry_hash(entry)
        assert entry["prev"] == (entries[i - 2]["hash"] if i > 1 else GENESIS)
    cloud = [e for e in entries if e["target"] == "cloud"]
    assert cloud and all(e["dry_run"] for e in cloud)  # no --apply: every kserve entry says so
    register = entries[1]
    assert register["before"] == {"aliases": {}} and register["after"]["version"] == 1


def test_the_log_verifies_against_its_registry_anchor(deployed: Certified) -> None:
    anchor = anchor_of(deployed)
    entries = read_entries(log_of(deployed))
    assert anchor.seq == len(entries) and anchor.hash == entries[-1]["hash"]
    assert anchor.log == entries[0]["hash"]
    report = verify_log(log_of(deployed), anchor=anchor)
    assert report.ok and report.entries == len(entries) and report.unanchored == 0


def _edit(lines: list[bytes]) -> list[bytes]:
    entry = json.loads(lines[2])
    entry["result"] = "forged"
    return [*lines[:2], canonical(entry), *lines[3:]]


def _rewrite(lines: list[bytes]) -> list[bytes]:
    """Edit entry 3 and recompute every hash after it: internally consistent."""
    out, prev = [], GENESIS
    for i, raw in enumerate(lines):
        entry = json.loads(raw)
        if i == 2:
            entry["result"] = "forged"
        entry["prev"] = prev
        entry["hash"] = entry_hash(entry)
        prev = entry["hash"]
        out.append(canonical(entry))
    return out


@pytest.mark.parametrize(("kind", "change", "expected"), [
    ("edited", _edit, "entry seq 3 (line 3) was edited"),
    ("removed", lambda ls: ls[:2] + ls[3:], "entry seq 4 (line 3) is out of sequence "
                                            "(expected 3): entries removed"),
    ("inserted", lambda ls: ls[:3] + [ls[2]] + ls[3:], "entry seq 3 (line 4) is out of sequence"),
    ("reordered", lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], "entry seq 3 (line 2) is out of "
                                                             "sequence"),
    ("cut tail", lambda ls: ls[:-2], "were cut"),
    ("rewritten", _rewrite, "the chain was rewritten"),
])
def test_tampering_is_detected_and_named(deployed: Certified, tmp_path: Path, kind: str,
                                         change: Any, expected: str) -> None:
    copy = tampered(deployed, tmp_path, change)
    report = verify_log(copy, anchor=anchor_of(deployed))
    assert not report.ok, kind
    assert expected in (report.reason or ""), report.reason


def test_an_unanchored_copy_proves_only_its_own_consistency(deployed: Certified,
                                                            tmp_path: Path) -> None:
    rewritten = tampered(deployed, tmp_path, _rewrite)
    report = verify_log(rewritten)  # no anchor: a rewritten chain looks fine
    assert report.ok and "cannot be seen without it" in report.notes[0]
    edited = tampered(deployed, tmp_path, _edit)
    assert not verify_log(edited).ok  # but an edit inside the chain still shows


def test_signed_checkpoints_verify_and_catch_a_rewrite_without_the_registry(
        deployed: Certified, tmp_path: Path) -> None:
    keys = Keyring.from_dir(deployed.root / "audit-trust")
    report = verify_log(log_of(deployed), keyring=keys)
    assert report.ok and report.checkpoints == len(read_entries(log_of(deployed)))
    copy = tampered(deployed, tmp_path, _rewrite)
    shutil.copy(log_of(deployed).with_name("audit.checkpoints.jsonl"),
                tmp_path / "audit.checkpoints.jsonl")
    bad = verify_log(copy, keyring=keys)
    assert not bad.ok and "is not the one signed in checkpoint 3" in (bad.reason or "")
    other = Keyring.from_dir(deployed.trust)  # the release key did not sign checkpoints
    assert "not a valid signed checkpoint" in (verify_log(log_of(deployed), keyring=other).reason
                                              or "")


def test_cli_audit_verify_and_show(deployed: Certified, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    log = log_of(deployed)
    assert cli_main(["audit", "verify", str(log)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("VALID") and "anchored at seq" in out
    assert cli_main(["audit", "verify", str(log), "--key",
                     str(deployed.root / "audit-trust" / "audit.pub"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True
    # a tampered log in the state folder (next to its registry) exits 1 naming the entry
    state_copy = tmp_path / "state"
    shutil.copytree(log.parent, state_copy)
    (state_copy / "audit.jsonl").write_bytes(b"\n".join(_edit(
        log.read_bytes().splitlines())) + b"\n")
    assert cli_main(["audit", "verify", str(state_copy / "audit.jsonl")]) == 1
    assert "entry seq 3 (line 3) was edited" in capsys.readouterr().out
    assert cli_main(["audit", "show", str(log), "--last", "2"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert len(shown) == 2 and "promoted" in shown[-1]
    assert cli_main(["audit", "verify", str(tmp_path / "nope.jsonl")]) == 2
