"""End to end: a real signed certification run, `certify verify`, `certify gate`, rotation, revocation.

One signed run is shared by the module (key file with a passphrase, a waiver that the
verdict relies on); a second, REJECTED run is signed through the environment (the CI
path, no key file on disk).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from certify.attest.gate import gate
from certify.attest.keys import write_key_pair
from certify.attest.signer import KeySigner, sign_envelope
from certify.attest.statement import PREDICATE_TYPE, build_statement
from certify.attest.verify import Keyring, Reason, sha256_file, verify
from certify.cli import main as cli_main
from certify.errors import GateError, VerificationError
from certify.outputs import CERTIFICATE, PUBLIC_KEY, REPORT_JSON, STATEMENT_JSON, directory_digest
from certify.policy import load_policy
from certify.report import load_report
from certify.session import CertifySession, RunResult
from tests.projects import make_project

PASSPHRASE_ENV = "TEST_CERTIFY_GATE_PASSPHRASE"
TODAY = dt.datetime.now(dt.UTC).date()


@dataclass
class Signed:
    root: Path
    policy: Path
    result: RunResult
    key: Path  # private key (encrypted)
    trust: Path  # folder with the public key

    @property
    def cert(self) -> Path:
        assert self.result.certificate_path is not None
        return self.result.certificate_path

    @property
    def artifact(self) -> Path:
        return self.root / "models" / "candidate.skops"

    def statement(self) -> dict[str, Any]:
        return json.loads(base64.b64decode(json.loads(self.cert.read_text())["payload"]))


def _certify(policy: Path) -> RunResult:
    session = CertifySession(load_policy(policy))
    session.setup()
    try:
        session.run_all()
    except BaseException:
        session.abort()
        raise
    return session.finish()


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signed]:
    root = tmp_path_factory.mktemp("signed")
    private, public, _ = write_key_pair(root / "keys" / "release", passphrase=b"s3cret phrase")
    trust = root / "trust"
    trust.mkdir()
    shutil.copy(public, trust / "release.pub")
    waiver = {"check": "quality::accuracy", "reason": "accepted for the pilot",
              "approver": "qa@example.com", "expires": (TODAY + dt.timedelta(days=2)).isoformat()}
    policy = make_project(
        root, n_reference=800, n_evaluation=500,
        suites={"quality": {"bootstrap": 50, "thresholds": {"accuracy": {"fail": 0.99}}}},
        extra={"signing": {"key": "keys/release.key", "passphrase_env": PASSPHRASE_ENV,
                           "valid_for_days": 7},
               "waivers": [waiver]})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PASSPHRASE_ENV, "s3cret phrase")
        mp.delenv("CERTIFY_SIGNING_KEY", raising=False)
        result = _certify(policy)
    assert result.verdict.certified, result.verdict.reasons
    yield Signed(root, policy, result, private, trust)


def _run_copy(signed: Signed, dest: Path) -> Path:
    return Path(shutil.copytree(signed.result.run_dir, dest))


def _resign(signed: Signed, run_dir: Path, mutate: Callable[[dict[str, Any]], None]) -> Path:
    """Re-sign a modified statement with the real key (what a key holder could do)."""
    from certify.attest.keys import load_private_key_file

    statement = signed.statement()
    mutate(statement)
    signer = KeySigner(load_private_key_file(signed.key, b"s3cret phrase"), "test")
    payload = json.dumps(statement, indent=2).encode()
    (run_dir / CERTIFICATE).write_text(
        sign_envelope(payload, "application/vnd.in-toto+json", signer).to_json())
    return run_dir / CERTIFICATE


# --------------------------------------------------------------------------------------
# What a signed run writes.
# --------------------------------------------------------------------------------------

def test_signed_run_writes_statement_certificate_and_public_key(signed: Signed) -> None:
    run = signed.result.run_dir
    assert signed.result.outputs["statement"] == run / STATEMENT_JSON
    assert signed.cert == run / CERTIFICATE
    assert signed.result.outputs["public_key"] == run / PUBLIC_KEY
    assert (run / PUBLIC_KEY).read_bytes() == (signed.root / "keys" / "release.pub").read_bytes()
    envelope = json.loads(signed.cert.read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert envelope["signatures"][0]["keyid"].startswith("SHA256:")
    # statement.json is exactly the signed payload
    assert base64.b64decode(envelope["payload"]) == (run / STATEMENT_JSON).read_bytes()
    assert not list(signed.root.rglob("*.tmp"))


def test_predicate_binds_model_policy_report_and_expiry(signed: Signed) -> None:
    statement = signed.statement()
    pred = statement["predicate"]
    assert statement["predicateType"] == PREDICATE_TYPE
    model_sha = hashlib.sha256(signed.artifact.read_bytes()).hexdigest()
    assert statement["subject"][0] == {"name": "candidate.skops", "digest": {"sha256": model_sha}}
    assert pred["candidate"]["digest"] == "sha256:" + model_sha
    baseline = signed.root / "models" / "baseline.skops"
    assert pred["baseline"]["digest"] == "sha256:" + hashlib.sha256(baseline.read_bytes()).hexdigest()
    assert pred["policyDigest"] == load_policy(signed.policy).digest()
    report = signed.result.run_dir / REPORT_JSON
    assert pred["reportDigest"] == "sha256:" + hashlib.sha256(report.read_bytes()).hexdigest()
    assert pred["verdict"] == "CERTIFIED" and pred["requiredSuites"] == ["quality"]
    assert pred["suites"]["quality"]["warned"] >= 1  # the waived accuracy check
    accuracy = [m for m in pred["metrics"] if m["check"] == "quality::accuracy"
                and m["metric"] == "accuracy"]
    assert accuracy and accuracy[0]["fail"] == 0.99 and accuracy[0]["status"] == "failed"
    assert [w["appliedTo"] for w in pred["waivers"]] == [["quality::accuracy"]]
    assert {d["role"] for d in pred["data"]} == {"reference", "evaluation"}
    assert pred["seed"] == 1234 and pred["seeds"]["root"] == 1234
    assert pred["environment"]["digest"].startswith("sha256:")
    assert pred["runId"] == signed.result.run_dir.name
    assert set(pred["provenance"]) >= {"gitCommit", "gitDirty", "ciSystem", "ciRunId", "builder"}
    issued = dt.datetime.fromisoformat(pred["issuedAt"])
    expires = dt.datetime.fromisoformat(pred["expiresAt"])
    assert expires - issued == dt.timedelta(days=7)
    assert abs(dt.datetime.now(dt.UTC) - issued) < dt.timedelta(minutes=30)


def test_drift_baseline_is_a_subject_with_its_manifest_digest(signed: Signed, tmp_path: Path) -> None:
    baseline = tmp_path / "drift-baseline"
    (baseline / "detectors").mkdir(parents=True)
    (baseline / "detectors" / "ks.json").write_text('{"p": 0.05}')
    (baseline / "manifest.json").write_text("{}")
    report = load_report(signed.result.run_dir / REPORT_JSON)
    report.drift_baseline = {"path": "drift-baseline", "digest": directory_digest(baseline),
                             "files": [{"path": "detectors/ks.json"}, {"path": "manifest.json"}]}
    statement = build_statement(report, report_digest="sha256:" + "0" * 64,
                                required_suites=["quality"], issued_at=dt.datetime.now(dt.UTC),
                                valid_for=dt.timedelta(days=1))
    names = [s.name for s in statement.subject]
    assert names == ["candidate.skops", "drift-baseline"]  # the candidate stays first
    manifest = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(baseline).as_posix()}\n"
                       for p in sorted(baseline.rglob("*")) if p.is_file())
    assert statement.subject[1].digest == {"sha256": hashlib.sha256(manifest.encode()).hexdigest()}
    assert statement.predicate["driftBaseline"]["files"] == 2


# --------------------------------------------------------------------------------------
# certify verify / certify gate on the command line.
# --------------------------------------------------------------------------------------

def test_cli_verify_accepts_the_signed_run(signed: Signed, capsys: pytest.CaptureFixture[str]) -> None:
    run = signed.result.run_dir
    assert cli_main(["verify", str(signed.cert), "--key", str(run / PUBLIC_KEY),
                     "--artifact", str(signed.artifact)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("VALID") and "artifact matches" in out and "CERTIFIED" in out
    assert cli_main(["verify", str(run), "--trust", str(signed.trust), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["valid"] is True and result["verdict"] == "CERTIFIED"
    assert result["report"] == str(run / REPORT_JSON)
    assert result["subjects"][0]["name"] == "candidate.skops"


def test_cli_verify_exit_codes(signed: Signed, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    pub = str(signed.result.run_dir / PUBLIC_KEY)
    baseline = str(signed.root / "models" / "baseline.skops")
    assert cli_main(["verify", str(signed.cert), "--key", pub, "--artifact", baseline,
                     "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["reason"] == Reason.ARTIFACT_MISMATCH
    assert cli_main(["verify", str(signed.cert), "--key", pub, "--artifact", baseline]) == 1
    assert capsys.readouterr().out.startswith("INVALID (artifact-mismatch)")
    assert cli_main(["verify", str(signed.cert), "--key", str(tmp_path / "no.pub")]) == 2
    assert "public key file not found" in capsys.readouterr().err
    assert cli_main(["verify", str(signed.cert)]) == 2  # neither --key nor --trust
    capsys.readouterr()
    assert cli_main(["verify", str(signed.cert), "--key", str(tmp_path / "no.pub"), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["reason"] == "usage"
    # A certificate path that does not exist is a usage error (2), one line naming it.
    missing = tmp_path / "nowhere" / "certificate.intoto.json"
    assert cli_main(["verify", str(missing), "--key", pub]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and len(err.strip().splitlines()) == 1


def test_cli_gate_promotes_the_certified_run(signed: Signed,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    args = ["gate", str(signed.cert), "--trust", str(signed.trust), "--artifact",
            str(signed.artifact), "--policy", str(signed.policy)]
    assert cli_main(args) == 0
    assert capsys.readouterr().out.startswith("PROMOTE")
    assert cli_main([*args, "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["promote"] is True and decision["policyDigest"].startswith("sha256:")
    assert decision["checked"][-4:] == ["verdict", "policy", "suites", "waivers"]


def test_gate_blocks_another_policy(signed: Signed, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    other = signed.policy.with_name("certify-stricter.toml")
    other.write_text(signed.policy.read_text().replace("seed = 1234", "seed = 1235"))
    code = cli_main(["gate", str(signed.cert), "--trust", str(signed.trust), "--artifact",
                     str(signed.artifact), "--policy", str(other), "--json"])
    assert code == 1
    assert json.loads(capsys.readouterr().out)["reason"] == Reason.POLICY_MISMATCH


def test_gate_blocks_once_a_relied_on_waiver_expired(signed: Signed) -> None:
    policy = load_policy(signed.policy)
    keyring = Keyring.from_dir(signed.trust)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)  # certificate still valid, waiver not
    verify(signed.cert, keyring, artifact=signed.artifact, now=later)
    with pytest.raises(GateError) as err:
        gate(signed.cert, keyring, artifact=signed.artifact, policy=policy, now=later)
    assert err.value.reason == Reason.WAIVER_EXPIRED and "qa@example.com" in err.value.message


def test_gate_blocks_a_certificate_missing_a_required_suite(signed: Signed, tmp_path: Path) -> None:
    run = _run_copy(signed, tmp_path / "run")

    def drop_quality(statement: dict[str, Any]) -> None:
        del statement["predicate"]["suites"]["quality"]

    cert = _resign(signed, run, drop_quality)
    with pytest.raises(GateError) as err:
        gate(cert, Keyring.from_dir(signed.trust), artifact=signed.artifact,
             policy=load_policy(signed.policy))
    assert err.value.reason == Reason.MISSING_SUITE


def test_gate_blocks_a_run_without_certificate(signed: Signed, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A run with no key configured: report and unsigned statement only; the gate blocks."""
    import datetime as dt

    from certify.attest.issue import issue
    from certify.policy import policy_from_mapping

    run = _run_copy(signed, tmp_path / "unsigned")
    for name in (CERTIFICATE, STATEMENT_JSON, PUBLIC_KEY):
        (run / name).unlink()
    raw = json.loads((run / REPORT_JSON).read_text())["policy"]
    raw["signing"] = {"key": None}
    unsigned_policy = policy_from_mapping(raw, signed.policy, check_files=False)

    written, signature = issue(
        load_report(run / REPORT_JSON), report_digest="sha256:" + sha256_file(run / REPORT_JSON), run_dir=run,
        required_suites=unsigned_policy.required(), valid_for=dt.timedelta(days=7), signer=None,
        narrowed=[])
    assert set(written) == {"statement"} and not (run / CERTIFICATE).exists()
    assert signature.state == "unsigned"
    assert json.loads((run / STATEMENT_JSON).read_text())["predicate"]["verdict"] == "CERTIFIED"
    code = cli_main(["gate", str(run), "--trust", str(signed.trust), "--artifact",
                     str(signed.artifact), "--policy", str(signed.policy)])
    assert code == 1
    out = capsys.readouterr().out
    assert out.startswith("BLOCK (no-certificate)") and "not signed" in out


# --------------------------------------------------------------------------------------
# Rotation and revocation.
# --------------------------------------------------------------------------------------

def test_key_rotation_and_revocation(signed: Signed, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    trust = tmp_path / "trust"
    trust.mkdir()
    shutil.copy(signed.trust / "release.pub", trust / "2024-release.pub")
    _, new_pub, new_id = write_key_pair(tmp_path / "new" / "2025-release")
    shutil.copy(new_pub, trust / "2025-release.pub")
    gate_args = ["gate", str(signed.cert), "--trust", str(trust), "--artifact",
                 str(signed.artifact), "--policy", str(signed.policy), "--json"]
    assert cli_main(gate_args) == 0  # both keys trusted: the old certificate still passes
    capsys.readouterr()
    old_id = json.loads(signed.cert.read_text())["signatures"][0]["keyid"]
    assert old_id != new_id
    (trust / "revoked.txt").write_text(f"# rotated out\n{old_id}  # 2024 key\n")
    assert cli_main(gate_args) == 1
    assert json.loads(capsys.readouterr().out)["reason"] == Reason.REVOKED_KEY
    (trust / "revoked.txt").unlink()
    (trust / "2024-release.pub").unlink()  # retired instead of revoked
    assert cli_main(gate_args) == 1
    assert json.loads(capsys.readouterr().out)["reason"] == Reason.UNTRUSTED_KEY
    # A single certificate recalled by its digest (as `certify verify` prints it).
    revoked = tmp_path / "recalled.txt"
    digest = "sha256:" + hashlib.sha256((signed.result.run_dir / STATEMENT_JSON).read_bytes()).hexdigest()
    revoked.write_text(digest + "\n")
    assert cli_main(["verify", str(signed.cert), "--trust", str(signed.trust), "--revoked",
                     str(revoked), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["reason"] == Reason.REVOKED_CERTIFICATE
    revoked.write_text("not-a-fingerprint\n")
    assert cli_main(["verify", str(signed.cert), "--trust", str(signed.trust), "--revoked",
                     str(revoked)]) == 2
    assert "recalled.txt:1" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# CI: the key in an environment variable, no key file; a REJECTED certificate at the gate.
# --------------------------------------------------------------------------------------

def test_ci_key_in_environment_and_rejected_run_blocked(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from certify.attest.keys import generate_private_key, private_key_pem, public_key_pem

    key = generate_private_key()
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "ci.pem").write_bytes(public_key_pem(key.public_key()))
    policy = make_project(tmp_path / "project", n_reference=600, n_evaluation=400,
                          suites={"quality": {"bootstrap": 30,
                                              "thresholds": {"accuracy": {"fail": 0.99}}}})
    assert "signing" not in policy.read_text()  # nothing on disk names a key
    monkeypatch.setenv("CERTIFY_SIGNING_KEY", private_key_pem(key).decode())
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    result = _certify(policy)
    assert result.verdict.decision.value == "REJECTED"
    assert result.certificate_path is not None
    assert not list((tmp_path / "project").rglob("*.key"))
    artifact = tmp_path / "project" / "models" / "candidate.skops"
    verified = verify(result.certificate_path, Keyring.from_dir(trust), artifact=artifact)
    assert verified.verdict == "REJECTED"  # a valid certificate of a rejection
    assert verified.predicate.provenance.ci_system == "github-actions"
    assert verified.predicate.provenance.ci_run_id == "4242"
    code = cli_main(["gate", str(result.certificate_path), "--trust", str(trust), "--artifact",
                     str(artifact), "--policy", str(policy)])
    assert code == 1
    out = capsys.readouterr().out
    assert out.startswith("BLOCK (not-certified): verdict is REJECTED")


def test_unusable_configured_key_fails_the_run_loudly(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A key that is configured but group/world-readable is refused: no silent unsigned run."""
    from certify.errors import ConfigError

    private, _, _ = write_key_pair(tmp_path / "project" / "keys" / "k")
    private.chmod(0o644)
    monkeypatch.delenv("CERTIFY_SIGNING_KEY", raising=False)
    policy = make_project(tmp_path / "project", n_reference=300, n_evaluation=200,
                          suites={"quality": {"bootstrap": 20}},
                          extra={"signing": {"key": "keys/k.key"}})
    with pytest.raises(ConfigError, match="chmod 600"):
        _certify(policy)
    # refused at set-up, before any suite ran: not even a partial run folder
    assert not (tmp_path / "project" / "certify-out").exists()


def test_verify_rejects_tampering_of_the_real_run(signed: Signed, tmp_path: Path) -> None:
    run = _run_copy(signed, tmp_path / "run")
    keyring = Keyring.from_dir(signed.trust)
    report = json.loads((run / REPORT_JSON).read_text())
    report["verdict"]["reasons"] = ["edited"]
    (run / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n")
    with pytest.raises(VerificationError) as err:
        verify(run / CERTIFICATE, keyring, artifact=signed.artifact)
    assert err.value.reason == Reason.REPORT_MISMATCH


def test_a_run_folder_is_not_a_trust_folder(signed: Signed,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    run = signed.result.run_dir
    assert cli_main(["verify", str(signed.cert), "--trust", str(run)]) == 2
    assert "this is a run folder" in capsys.readouterr().err
    assert cli_main(["verify", str(signed.cert), "--key", str(run / PUBLIC_KEY)]) == 0
    assert "came with the certificate" in capsys.readouterr().out


# --------------------------------------------------------------------------------------
# Interoperability: the certificate verifies with cosign, an independent verifier.
# --------------------------------------------------------------------------------------

def _cosign() -> str:
    found = os.environ.get("COSIGN") or shutil.which("cosign")
    if not found:
        pytest.skip("cosign is not available here: .ci/run fetches it from Debian's archive "
                    "(.ci/get-cosign.sh) and sets COSIGN; set COSIGN=/path/to/cosign to run this")
    return found


def _cosign_verify(cert: Path, key: Path, blob: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_cosign(), "verify-blob-attestation", "--key", str(key), "--signature", str(cert),
         "--type", PREDICATE_TYPE, "--insecure-ignore-tlog=true", "--check-claims=true", str(blob)],
        capture_output=True, text=True, timeout=120)


def test_cosign_verifies_the_certificate(signed: Signed, tmp_path: Path) -> None:
    """cosign verify-blob-attestation accepts our DSSE envelope, signature and subject digest; it
    refuses another artifact, a statement re-signed by another key, and an edited payload."""
    public = signed.trust / "release.pub"
    done = _cosign_verify(signed.cert, public, signed.artifact)
    assert done.returncode == 0 and "Verified OK" in done.stderr + done.stdout, done.stderr
    other = tmp_path / "other.skops"
    other.write_bytes(signed.artifact.read_bytes() + b"\0")
    done = _cosign_verify(signed.cert, public, other)
    assert done.returncode != 0 and "no matching subject digest" in done.stderr
    # Signed by a key that is not the one given: refused.
    _, foreign_pub, _ = write_key_pair(tmp_path / "foreign")
    assert _cosign_verify(signed.cert, foreign_pub, signed.artifact).returncode != 0
    # The payload edited after signing (the verdict): refused.
    envelope = json.loads(signed.cert.read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["verdict"] = "CERTIFIED "
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    edited = tmp_path / "edited.intoto.json"
    edited.write_text(json.dumps(envelope))
    assert _cosign_verify(edited, public, signed.artifact).returncode != 0
