"""Certificate verification: every attack is rejected with its own reason, in the documented order.

These tests sign statements with real keys (cryptography) and need no certification run;
the end-to-end path (a real run, the CLI, the gate) is in test_gate.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from certify.attest.dsse import INTOTO_PAYLOAD_TYPE, Envelope, Signature, pae, parse_envelope
from certify.attest.keys import generate_private_key
from certify.attest.revocation import RevocationList
from certify.attest.signer import KeySigner, sign_envelope
from certify.attest.statement import PREDICATE_TYPE, STATEMENT_TYPE
from certify.attest.verify import Keyring, Reason, verify
from certify.errors import ConfigError, VerificationError

NOW = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.UTC)


def _time(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Case:
    """A signed certificate next to its report, a model file, a trusted and a rogue key."""

    root: Path
    artifact: Path
    report: Path
    signer: KeySigner
    other: KeySigner  # trusted too (rotation)
    rogue: KeySigner  # not trusted
    statement: dict[str, Any] = field(default_factory=dict)

    @property
    def keyring(self) -> Keyring:
        ring = Keyring()
        for signer in (self.signer, self.other):
            ring.add(signer._key.public_key(), f"<{signer.keyid}>")
        return ring

    def payload(self, statement: dict[str, Any] | None = None) -> bytes:
        return json.dumps(statement or self.statement, indent=2).encode()

    def envelope(self, payload: bytes | None = None, *, signer: KeySigner | None = None,
                 payload_type: str = INTOTO_PAYLOAD_TYPE) -> dict[str, Any]:
        env = sign_envelope(self.payload() if payload is None else payload, payload_type,
                            signer or self.signer)
        return env.to_dict()

    def write(self, data: bytes | str | dict[str, Any]) -> Path:
        if isinstance(data, dict):
            data = json.dumps(data, indent=2)
        path = self.root / "certificate.intoto.json"
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def verify(self, cert: Path | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("artifact", self.artifact)
        kwargs.setdefault("now", NOW)
        return verify(cert or self.write(self.envelope()), self.keyring, **kwargs)


def make_statement(artifact: Path, report: Path, *, issued: dt.datetime = NOW - dt.timedelta(hours=1),
                   days: float = 7, verdict: str = "CERTIFIED") -> dict[str, Any]:
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": artifact.name, "digest": {"sha256": digest}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "verdict": verdict, "reasons": [], "counts": {"passed": 3},
            "suites": {"quality": {"required": True, "passed": 3}},
            "requiredSuites": ["quality"],
            "metrics": [{"check": "quality::accuracy", "metric": "accuracy", "value": 0.8,
                         "direction": "min", "fail": 0.6, "warn": 0.65, "status": "passed"}],
            "policyDigest": "sha256:" + "1" * 64,
            "reportDigest": "sha256:" + hashlib.sha256(report.read_bytes()).hexdigest(),
            "candidate": {"name": "m", "digest": "sha256:" + digest, "format": "skops"},
            "data": [{"role": "evaluation", "digest": "sha256:" + "2" * 64, "rows": 10,
                      "columns": 3}],
            "seed": 7, "seeds": {"root": 7}, "harnessVersion": "test",
            "environment": {"python": "3.11"},
            "provenance": {"gitCommit": "abc", "gitDirty": False, "builder": "me@here"},
            "runId": "r1", "issuedAt": _time(issued),
            "expiresAt": _time(issued + dt.timedelta(days=days)),
        },
    }


@pytest.fixture(scope="module")
def keys() -> tuple[KeySigner, KeySigner, KeySigner]:
    return (KeySigner(generate_private_key("ecdsa-p256"), "main"),
            KeySigner(generate_private_key("ed25519"), "other"),
            KeySigner(generate_private_key("ecdsa-p256"), "rogue"))


@pytest.fixture
def case(tmp_path: Path, keys: tuple[KeySigner, KeySigner, KeySigner]) -> Case:
    artifact = tmp_path / "model.skops"
    artifact.write_bytes(b"the certified model bytes")
    report = tmp_path / "report.json"
    report.write_text('{"kind": "pytest-certify/report", "verdict": "CERTIFIED"}\n')
    return Case(tmp_path, artifact, report, *keys, statement=make_statement(artifact, report))


def test_a_valid_certificate_verifies(case: Case) -> None:
    result = case.verify()
    assert result.keyid == case.signer.keyid
    assert result.verdict == "CERTIFIED"
    assert result.report == case.report  # found next to the certificate
    assert result.checked == ["envelope", "signature", "statement", "predicate", "artifact",
                              "report", "time"]
    assert result.digest == "sha256:" + hashlib.sha256(case.payload()).hexdigest()
    assert result.summary()["valid"] is True


def test_a_certificate_by_a_second_trusted_key_verifies(case: Case) -> None:
    """Rotation: the keyring holds several keys; an Ed25519 one works as well."""
    cert = case.write(case.envelope(signer=case.other))
    assert case.verify(cert).keyid == case.other.keyid


# --------------------------------------------------------------------------------------
# One test per attack; each must be rejected with its own reason.
# --------------------------------------------------------------------------------------

def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


def attack_payload_byte_changed(c: Case) -> Any:
    env = c.envelope()
    payload = base64.b64decode(env["payload"])
    # the verdict, a digest and the expiry: every byte matters
    for needle in (b"CERTIFIED", b'"sha256": "', b"expiresAt"):
        index = payload.index(needle) + len(needle) - 1
        env["payload"] = base64.b64encode(_flip(payload, index)).decode()
        with pytest.raises(VerificationError) as err:
            c.verify(c.write(env))
        assert err.value.reason == Reason.BAD_SIGNATURE
    return c.write(env), {}


def attack_untrusted_key(c: Case) -> Any:
    return c.write(c.envelope(signer=c.rogue)), {}


def attack_keyid_swapped(c: Case) -> Any:
    env = c.envelope()
    env["signatures"][0]["keyid"] = c.other.keyid  # claims the other trusted key
    with pytest.raises(VerificationError) as err:
        c.verify(c.write(env))
    assert err.value.reason == Reason.KEYID_MISMATCH
    env["signatures"][0]["keyid"] = c.rogue.keyid  # claims a key nobody trusts
    return c.write(env), {}


def attack_payload_type_changed(c: Case) -> Any:
    env = c.envelope()
    env["payloadType"] = "application/json"
    return c.write(env), {}


def attack_different_model_same_name(c: Case) -> Any:
    other = c.root / "elsewhere" / c.artifact.name
    other.parent.mkdir()
    other.write_bytes(b"the certified model bytes, almost")
    return c.write(c.envelope()), {"artifact": other}


def attack_report_edited(c: Case) -> Any:
    cert = c.write(c.envelope())
    c.report.write_text(c.report.read_text().replace("CERTIFIED", "CERTIFIED "))
    return cert, {}


def attack_expired(c: Case) -> Any:
    return c.write(c.envelope()), {"now": NOW + dt.timedelta(days=7)}


def attack_from_the_future(c: Case) -> Any:
    statement = make_statement(c.artifact, c.report, issued=NOW + dt.timedelta(minutes=30))
    return c.write(c.envelope(c.payload(statement))), {}


def attack_truncated(c: Case) -> Any:
    text = json.dumps(c.envelope())
    for cut in (0, 1, len(text) // 2, len(text) - 1):
        with pytest.raises(VerificationError) as err:
            c.verify(c.write(text[:cut]))
        assert err.value.reason == Reason.MALFORMED
    return c.write(b"\x89PNG\r\n\x1a\n not json at all"), {}


def attack_duplicate_keys(c: Case) -> Any:
    text = c.payload().decode()
    # a second "verdict" key: a lenient parser would take the last one
    text = text.replace('"verdict": "CERTIFIED",', '"verdict": "REJECTED", "verdict": "CERTIFIED",')
    return c.write(c.envelope(text.encode())), {}


def attack_empty_signatures(c: Case) -> Any:
    env = c.envelope()
    env["signatures"] = []
    return c.write(env), {}


def attack_nan_in_payload(c: Case) -> Any:
    text = c.payload().decode().replace('"value": 0.8', '"value": NaN')
    assert "NaN" in text
    return c.write(c.envelope(text.encode())), {}


def attack_unknown_statement_type(c: Case) -> Any:
    statement = dict(c.statement, _type="https://in-toto.io/Statement/v0.9")
    return c.write(c.envelope(c.payload(statement))), {}


def attack_other_predicate_version(c: Case) -> Any:
    statement = dict(c.statement, predicateType=PREDICATE_TYPE.replace("v0.2", "v9.0"))
    return c.write(c.envelope(c.payload(statement))), {}


def attack_revoked_key(c: Case) -> Any:
    return c.write(c.envelope()), {"revocations": RevocationList.parse(c.signer.keyid)}


def attack_revoked_certificate(c: Case) -> Any:
    digest = "sha256:" + hashlib.sha256(c.payload()).hexdigest()
    return c.write(c.envelope()), {"revocations": RevocationList.parse(f"{digest}  # recalled\n")}


ATTACKS: dict[str, tuple[Callable[[Case], Any], str]] = {
    "payload byte changed": (attack_payload_byte_changed, Reason.BAD_SIGNATURE),
    "untrusted key": (attack_untrusted_key, Reason.UNTRUSTED_KEY),
    "keyid swapped": (attack_keyid_swapped, Reason.KEYID_MISMATCH),
    "payloadType changed": (attack_payload_type_changed, Reason.PAYLOAD_TYPE),
    "different model, same name": (attack_different_model_same_name, Reason.ARTIFACT_MISMATCH),
    "report.json edited": (attack_report_edited, Reason.REPORT_MISMATCH),
    "expired": (attack_expired, Reason.EXPIRED),
    "from the future": (attack_from_the_future, Reason.NOT_YET_VALID),
    "truncated or not JSON": (attack_truncated, Reason.MALFORMED),
    "duplicate keys in payload": (attack_duplicate_keys, Reason.DUPLICATE_KEY),
    "empty signatures": (attack_empty_signatures, Reason.NO_SIGNATURES),
    "NaN in payload": (attack_nan_in_payload, Reason.NON_FINITE),
    "unknown _type": (attack_unknown_statement_type, Reason.STATEMENT_TYPE),
    "other predicate version": (attack_other_predicate_version, Reason.PREDICATE_TYPE),
    "revoked key": (attack_revoked_key, Reason.REVOKED_KEY),
    "revoked certificate": (attack_revoked_certificate, Reason.REVOKED_CERTIFICATE),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_rejected_with_its_own_reason(case: Case, name: str) -> None:
    attack, reason = ATTACKS[name]
    cert, kwargs = attack(case)
    with pytest.raises(VerificationError) as err:
        case.verify(cert, **kwargs)
    assert err.value.reason == reason, err.value.diagnostics()
    assert err.value.diagnostics()  # a human-readable line as well


def test_every_attack_has_a_distinct_reason() -> None:
    reasons = [reason for _, reason in ATTACKS.values()]
    assert len(set(reasons)) == len(reasons)


def test_checks_stop_at_the_first_failure_in_order(case: Case) -> None:
    """Wrong artifact + edited report + expired: the artifact (step 5) is reported."""
    cert, kwargs = attack_different_model_same_name(case)
    case.report.write_text("{}")
    with pytest.raises(VerificationError) as err:
        case.verify(cert, now=NOW + dt.timedelta(days=30), **kwargs)
    assert err.value.reason == Reason.ARTIFACT_MISMATCH
    # Untrusted signer *and* a changed payload type: the envelope check (step 1) comes first.
    env = case.envelope(signer=case.rogue)
    env["payloadType"] = "text/plain"
    with pytest.raises(VerificationError) as err:
        case.verify(case.write(env))
    assert err.value.reason == Reason.PAYLOAD_TYPE


def test_predicate_must_match_our_schema_and_subject(case: Case) -> None:
    bad = json.loads(json.dumps(case.statement))
    bad["predicate"]["verdict"] = "PROBABLY_FINE"
    with pytest.raises(VerificationError) as err:
        case.verify(case.write(case.envelope(case.payload(bad))))
    assert err.value.reason == Reason.PREDICATE_INVALID
    bad = json.loads(json.dumps(case.statement))
    bad["subject"].insert(0, {"name": "other", "digest": {"sha256": "3" * 64}})
    with pytest.raises(VerificationError) as err:
        case.verify(case.write(case.envelope(case.payload(bad))))
    assert err.value.reason == Reason.PREDICATE_INVALID and "first subject" in err.value.message
    bad = json.loads(json.dumps(case.statement))
    bad["predicate"]["issuedAt"] = "2025-03-10T11:00:00"  # no time zone
    with pytest.raises(VerificationError) as err:
        case.verify(case.write(case.envelope(case.payload(bad))))
    assert err.value.reason == Reason.PREDICATE_INVALID


def test_small_clock_skew_is_tolerated(case: Case) -> None:
    statement = make_statement(case.artifact, case.report, issued=NOW + dt.timedelta(minutes=2))
    assert case.verify(case.write(case.envelope(case.payload(statement)))).verdict == "CERTIFIED"


def test_usage_errors_are_not_verification_failures(case: Case, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="certificate not found"):
        verify(tmp_path / "nope.json", case.keyring)
    with pytest.raises(ConfigError, match="artifact file not found"):
        verify(case.write(case.envelope()), case.keyring, artifact=tmp_path / "missing.skops")
    with pytest.raises(ConfigError, match="no trusted keys"):
        verify(case.write(case.envelope()), Keyring(), now=NOW)


def test_envelope_parser_is_strict() -> None:
    good = {"payloadType": INTOTO_PAYLOAD_TYPE, "payload": "e30=",
            "signatures": [{"keyid": "k", "sig": "AAAA"}]}
    assert parse_envelope(json.dumps(good).encode()).payload == b"{}"
    for broken in (dict(good, extra=1), dict(good, payload="e30"), dict(good, payload="!!!!"),
                   dict(good, signatures=[{"keyid": "k"}]), dict(good, signatures={"k": "v"}),
                   dict(good, signatures=[{"keyid": "k", "sig": ""}]), [good]):
        with pytest.raises(VerificationError) as err:
            parse_envelope(json.dumps(broken).encode())
        assert err.value.reason == Reason.MALFORMED, broken
    dup = '{"payloadType": "a", "payloadType": "%s", "payload": "e30=", "signatures": []}'
    with pytest.raises(VerificationError) as err:
        parse_envelope((dup % INTOTO_PAYLOAD_TYPE).encode())
    assert err.value.reason == Reason.MALFORMED


# --------------------------------------------------------------------------------------
# Interoperability: securesystemslib verifies our envelopes with only the public key.
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["signer", "other"])
def test_securesystemslib_verifies_our_envelope(case: Case, which: str) -> None:
    from securesystemslib import exceptions
    from securesystemslib.dsse import Envelope as SslibEnvelope
    from securesystemslib.signer import SSlibKey

    signer: KeySigner = getattr(case, which)
    ours = case.envelope(signer=signer)
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    public = load_pem_public_key(signer.public_key_pem())
    key = SSlibKey.from_crypto(public, keyid=signer.keyid)
    envelope = SslibEnvelope.from_dict(json.loads(json.dumps(ours)))
    assert envelope.pae() == pae(INTOTO_PAYLOAD_TYPE, case.payload())
    assert list(envelope.verify([key], 1)) == [signer.keyid]
    tampered = json.loads(json.dumps(ours))
    tampered["payload"] = base64.b64encode(case.payload().replace(b"CERTIFIED", b"CERTIFIEE")).decode()
    with pytest.raises(exceptions.VerificationError):
        SslibEnvelope.from_dict(tampered).verify([key], 1)


def test_pae_is_the_dsse_v1_encoding() -> None:
    # The example from the DSSE specification's protocol document.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world")
    envelope = Envelope(b"x", "t", [Signature("k", b"\x01")])
    assert envelope.pae() == b"DSSEv1 1 t 1 x"


def test_drift_baseline_folder_must_be_the_certified_one(case: Case) -> None:
    from certify.outputs import directory_digest

    baseline = case.root / "drift-baseline"
    (baseline / "detectors").mkdir(parents=True)
    (baseline / "detectors" / "ks.npz").write_bytes(b"\x00fitted")
    (baseline / "manifest.json").write_text('{"version": 1}')
    digest = directory_digest(baseline)
    statement = json.loads(json.dumps(case.statement))
    statement["subject"].append({"name": "drift-baseline",
                                 "digest": {"sha256": digest.removeprefix("sha256:")}})
    statement["predicate"]["driftBaseline"] = {"path": "drift-baseline", "digest": digest,
                                               "files": 2}
    cert = case.write(case.envelope(case.payload(statement)))
    assert "drift-baseline" in case.verify(cert, drift_baseline=baseline).checked
    (baseline / "detectors" / "ks.npz").write_bytes(b"\x00refitted")
    with pytest.raises(VerificationError) as err:
        case.verify(cert, drift_baseline=baseline)
    assert err.value.reason == Reason.DRIFT_BASELINE_MISMATCH
    # a certificate without a drift baseline does not vouch for one
    with pytest.raises(VerificationError) as err:
        case.verify(case.write(case.envelope()), drift_baseline=baseline)
    assert err.value.reason == Reason.DRIFT_BASELINE_MISMATCH
