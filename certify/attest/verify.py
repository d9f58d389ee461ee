"""Verify a certificate: returns a :class:`VerifiedCertificate` or raises ``VerificationError``.

Checks run in this order and stop at the first failure; each failure carries its own
stable reason code (``VerificationError.reason``, listed in :class:`Reason`):

1. envelope shape and payloadType: ``malformed-envelope``, ``no-signatures``, ``payload-type``;
2. signature by a trusted key: ``untrusted-key`` (no signature by a key of the keyring),
   ``keyid-mismatch`` (the signature is by a trusted key but names another keyid),
   ``bad-signature`` (the named trusted key does not verify: payload or type altered),
   then the revocation list: ``revoked-key``, ``revoked-certificate``;
3. strict JSON parse of the payload: ``payload-not-json``, ``duplicate-key``,
   ``non-finite-number``, ``statement-type`` (unknown ``_type``), ``statement-invalid``;
4. predicate type and version: ``predicate-type``, ``predicate-invalid``;
5. the first subject's sha256 equals the artifact given: ``artifact-mismatch``; a drift
   baseline folder given is the certified one (its manifest digest, the second subject):
   ``drift-baseline-mismatch``;
6. the report digest equals the report.json next to the certificate, when present:
   ``report-mismatch``;
7. time: ``not-yet-valid`` (issuedAt later than now + skew), ``expired`` (expiresAt passed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pydantic import ValidationError

from certify.attest.dsse import (
    INTOTO_PAYLOAD_TYPE,
    DuplicateKeyError,
    Envelope,
    parse_envelope,
    strict_json_loads,
)
from certify.attest.keys import PublicKey, SigningKeyError, fingerprint, load_public_key
from certify.attest.revocation import RevocationList
from certify.attest.statement import (
    PREDICATE_PREFIX,
    PREDICATE_TYPE,
    READABLE_PREDICATE_VERSIONS,
    STATEMENT_TYPE,
    CertificationPredicate,
    Statement,
)
from certify.errors import ConfigError, VerificationError
from certify.outputs import CERTIFICATE, REPORT_JSON, directory_digest

#: Clock skew tolerated for issuedAt in the future.
DEFAULT_SKEW = dt.timedelta(minutes=5)

#: Public key files a --trust folder is read for.
KEY_SUFFIXES = (".pem", ".pub")


class Reason:
    """Stable reason codes of :class:`certify.errors.VerificationError` (and ``GateError``)."""

    MALFORMED = "malformed-envelope"
    NO_SIGNATURES = "no-signatures"
    PAYLOAD_TYPE = "payload-type"
    UNTRUSTED_KEY = "untrusted-key"
    KEYID_MISMATCH = "keyid-mismatch"
    BAD_SIGNATURE = "bad-signature"
    REVOKED_KEY = "revoked-key"
    REVOKED_CERTIFICATE = "revoked-certificate"
    PAYLOAD_NOT_JSON = "payload-not-json"
    DUPLICATE_KEY = "duplicate-key"
    NON_FINITE = "non-finite-number"
    STATEMENT_TYPE = "statement-type"
    STATEMENT_INVALID = "statement-invalid"
    PREDICATE_TYPE = "predicate-type"
    PREDICATE_INVALID = "predicate-invalid"
    ARTIFACT_MISMATCH = "artifact-mismatch"
    DRIFT_BASELINE_MISMATCH = "drift-baseline-mismatch"
    REPORT_MISMATCH = "report-mismatch"
    NOT_YET_VALID = "not-yet-valid"
    EXPIRED = "expired"
    # The gate's own (certify.attest.gate):
    NO_CERTIFICATE = "no-certificate"
    NOT_CERTIFIED = "not-certified"
    POLICY_MISMATCH = "policy-mismatch"
    MISSING_SUITE = "missing-suite"
    WAIVER_EXPIRED = "waiver-expired"


@dataclass(frozen=True)
class TrustedKey:
    keyid: str
    key: PublicKey
    source: str


class Keyring:
    """Trusted public keys by keyid. Several keys at once support key rotation."""

    def __init__(self, keys: list[TrustedKey] | None = None) -> None:
        self.keys: dict[str, TrustedKey] = {}
        for key in keys or []:
            self.add(key.key, key.source)

    def add(self, key: PublicKey, source: str) -> str:
        keyid = fingerprint(key)
        self.keys.setdefault(keyid, TrustedKey(keyid, key, source))
        return keyid

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, keyid: object) -> bool:
        return keyid in self.keys

    @classmethod
    def from_files(cls, paths: list[Path]) -> Keyring:
        ring = cls()
        for path in paths:
            ring.add(load_public_key(path), str(path))
        return ring

    @classmethod
    def from_dir(cls, directory: Path) -> Keyring:
        """Every ``*.pem`` / ``*.pub`` key in ``directory`` (an unreadable one is an error)."""
        if not directory.is_dir():
            raise ConfigError(f"{directory}: trust folder not found")
        if (directory / CERTIFICATE).exists():
            raise ConfigError(f"{directory}: this is a run folder; the public key next to a "
                              "certificate proves nothing about who signed it. Trust a folder "
                              "of keys you obtained separately")
        files = sorted(p for p in directory.iterdir()
                       if p.is_file() and p.suffix.lower() in KEY_SUFFIXES)
        if not files:
            raise ConfigError(f"{directory}: no public keys (*.pem, *.pub) in the trust folder")
        return cls.from_files(files)


@dataclass(frozen=True)
class VerifiedCertificate:
    """A certificate that passed every check."""

    envelope: Envelope
    statement: Statement
    predicate: CertificationPredicate
    keyid: str
    key_source: str
    #: ``sha256:`` of the signed payload (== the run's statement.json).
    digest: str
    path: Path | None = None
    artifact: Path | None = None
    report: Path | None = None
    checked: list[str] = field(default_factory=list)

    @property
    def issued_at(self) -> dt.datetime:
        return self.predicate.issued_at

    @property
    def expires_at(self) -> dt.datetime:
        return self.predicate.expires_at

    @property
    def verdict(self) -> str:
        return self.predicate.verdict

    def summary(self) -> dict[str, Any]:
        """Machine-readable result (``certify verify --json``)."""
        from certify.attest.statement import rfc3339

        return {
            "valid": True,
            "certificate": str(self.path) if self.path else None,
            "certificateDigest": self.digest,
            "keyid": self.keyid,
            "key": self.key_source,
            "predicateType": self.statement.predicate_type,
            "subjects": [s.model_dump() for s in self.statement.subject],
            "verdict": self.predicate.verdict,
            "runId": self.predicate.run_id,
            "policyDigest": self.predicate.policy_digest,
            "reportDigest": self.predicate.report_digest,
            "issuedAt": rfc3339(self.predicate.issued_at),
            "expiresAt": rfc3339(self.predicate.expires_at),
            "artifact": str(self.artifact) if self.artifact else None,
            "report": str(self.report) if self.report else None,
            "checked": list(self.checked),
        }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verifies(key: PublicKey, sig: bytes, data: bytes) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig, data)
        else:
            key.verify(sig, data, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def check_signature(envelope: Envelope, keyring: Keyring) -> TrustedKey:
    """The trusted key whose signature (under its own keyid) verifies; raises otherwise."""
    if not len(keyring):
        raise ConfigError("no trusted keys given (fail closed)")
    pae = envelope.pae()
    failures: list[tuple[str, str]] = []
    for sig in envelope.signatures:
        named = keyring.keys.get(sig.keyid)
        if named is not None and _verifies(named.key, sig.sig, pae):
            return named
        signer = next((k for k in keyring.keys.values()
                       if k is not named and _verifies(k.key, sig.sig, pae)), None)
        if signer is not None:
            failures.append((Reason.KEYID_MISMATCH,
                             f"the signature is by trusted key {signer.keyid} but claims keyid "
                             f"{sig.keyid!r}"))
        elif named is not None:
            failures.append((Reason.BAD_SIGNATURE,
                             f"the signature does not verify with trusted key {sig.keyid} "
                             f"({named.source}): the payload or its type was altered"))
        else:
            failures.append((Reason.UNTRUSTED_KEY,
                             f"signed by key {sig.keyid!r}, which is not among the "
                             f"{len(keyring)} trusted key(s)"))
    rank = [Reason.KEYID_MISMATCH, Reason.BAD_SIGNATURE, Reason.UNTRUSTED_KEY]
    reason, message = min(failures, key=lambda f: rank.index(f[0]))
    raise VerificationError(reason, message)


def parse_statement(payload: bytes) -> tuple[Statement, CertificationPredicate]:
    """Strictly parse a payload into our statement and predicate (steps 3 and 4)."""
    try:
        raw = strict_json_loads(payload)
    except DuplicateKeyError as exc:
        raise VerificationError(Reason.DUPLICATE_KEY, f"payload: {exc}") from None
    except UnicodeDecodeError:
        raise VerificationError(Reason.PAYLOAD_NOT_JSON, "payload: not UTF-8 text") from None
    except ValueError as exc:
        if "non-finite" in str(exc):
            raise VerificationError(Reason.NON_FINITE, f"payload: {exc}") from None
        raise VerificationError(Reason.PAYLOAD_NOT_JSON,
                                f"payload: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise VerificationError(Reason.STATEMENT_INVALID, "payload: not a JSON object")
    if raw.get("_type") != STATEMENT_TYPE:
        raise VerificationError(Reason.STATEMENT_TYPE,
                                f"statement _type {raw.get('_type')!r} is not {STATEMENT_TYPE}")
    try:
        statement = Statement.model_validate(raw)
    except ValidationError as exc:
        raise VerificationError(Reason.STATEMENT_INVALID,
                                f"not an in-toto Statement v1: {_first_error(exc)}") from None
    ptype = statement.predicate_type
    version = ptype.removeprefix(PREDICATE_PREFIX)
    if not (ptype.startswith(PREDICATE_PREFIX) and version in READABLE_PREDICATE_VERSIONS):
        if ptype.startswith(PREDICATE_PREFIX):
            raise VerificationError(
                Reason.PREDICATE_TYPE,
                f"predicate version {ptype.removeprefix(PREDICATE_PREFIX)!r} is not supported "
                f"(this harness reads {', '.join(READABLE_PREDICATE_VERSIONS)})")
        raise VerificationError(Reason.PREDICATE_TYPE,
                                f"predicateType {ptype!r} is not {PREDICATE_TYPE}")
    try:
        predicate = CertificationPredicate.model_validate(statement.predicate)
    except ValidationError as exc:
        raise VerificationError(
            Reason.PREDICATE_INVALID,
            f"invalid {PREDICATE_TYPE} predicate: {_first_error(exc)}") from None
    first = statement.subject[0].digest.get("sha256")
    if first is None or "sha256:" + first != predicate.candidate.digest:
        raise VerificationError(Reason.PREDICATE_INVALID,
                                "the first subject is not the candidate model of the predicate")
    if predicate.expires_at <= predicate.issued_at:
        raise VerificationError(Reason.PREDICATE_INVALID, "expiresAt is not after issuedAt")
    return statement, predicate


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    return f"{loc}: {err['msg']}"


def verify(certificate: Path | bytes, keyring: Keyring, *, artifact: Path | None = None,
           report: Path | None = None, drift_baseline: Path | None = None,
           now: dt.datetime | None = None,
           skew: dt.timedelta = DEFAULT_SKEW,
           revocations: RevocationList | None = None) -> VerifiedCertificate:
    """Verify a DSSE certificate (a path or its bytes); see the module docstring for the order.

    ``report``: the report.json to check the digest of; by default the one next to a
    certificate given as a path, when it exists. ``drift_baseline``: a drift-baseline
    folder that must be the one the certificate names. Unreadable inputs (missing certificate,
    artifact or report file) raise :class:`certify.errors.ConfigError` (a usage error).
    """
    now = now or dt.datetime.now(dt.UTC)
    path: Path | None = None
    if isinstance(certificate, Path):
        path = certificate
        if not path.is_file():
            raise ConfigError(f"{path}: certificate not found")
        data = path.read_bytes()
        if report is None and (path.parent / REPORT_JSON).is_file():
            report = path.parent / REPORT_JSON
    else:
        data = certificate
    if artifact is not None and not artifact.is_file():
        raise ConfigError(f"{artifact}: artifact file not found")
    if drift_baseline is not None and not drift_baseline.is_dir():
        raise ConfigError(f"{drift_baseline}: drift baseline folder not found")
    checked: list[str] = []
    # 1. envelope
    envelope = parse_envelope(data)
    if envelope.payload_type != INTOTO_PAYLOAD_TYPE:
        raise VerificationError(
            Reason.PAYLOAD_TYPE,
            f"payloadType {envelope.payload_type!r} is not {INTOTO_PAYLOAD_TYPE}")
    checked.append("envelope")
    # 2. signature, revocation
    trusted = check_signature(envelope, keyring)
    digest = "sha256:" + hashlib.sha256(envelope.payload).hexdigest()
    if revocations:
        if trusted.keyid in revocations.keys:
            raise VerificationError(Reason.REVOKED_KEY, f"signing key {trusted.keyid} is revoked")
        file_digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if digest in revocations.certificates or file_digest in revocations.certificates:
            raise VerificationError(Reason.REVOKED_CERTIFICATE, f"certificate {digest} is revoked")
        checked.append("revocation")
    checked.append("signature")
    # 3-4. statement and predicate
    statement, predicate = parse_statement(envelope.payload)
    checked += ["statement", "predicate"]
    # 5. artifact
    if artifact is not None:
        actual = sha256_file(artifact)
        expected = statement.subject[0].digest["sha256"]
        if actual != expected:
            raise VerificationError(
                Reason.ARTIFACT_MISMATCH,
                f"{artifact.name}: sha256 {actual[:16]}… is not the certified "
                f"{statement.subject[0].name} ({expected[:16]}…)")
        checked.append("artifact")
    if drift_baseline is not None:
        certified = predicate.drift_baseline
        actual = directory_digest(drift_baseline)
        if certified is None:
            raise VerificationError(Reason.DRIFT_BASELINE_MISMATCH,
                                    "the certificate names no drift baseline")
        named = [s for s in statement.subject[1:] if s.name == certified.path]
        if not named or "sha256:" + named[0].digest.get("sha256", "") != certified.digest:
            raise VerificationError(Reason.PREDICATE_INVALID,
                                    "the drift baseline is not among the subjects")
        if actual != certified.digest:
            raise VerificationError(
                Reason.DRIFT_BASELINE_MISMATCH,
                f"{drift_baseline}: manifest digest {actual[:23]}… is not the certified "
                f"{certified.digest[:23]}…")
        checked.append("drift-baseline")
    # 6. report
    if report is not None:
        if not report.is_file():
            raise ConfigError(f"{report}: report not found")
        actual = "sha256:" + sha256_file(report)
        if actual != predicate.report_digest:
            raise VerificationError(
                Reason.REPORT_MISMATCH,
                f"{report}: digest {actual[:23]}… is not the certified report's "
                f"{predicate.report_digest[:23]}… (edited after signing)")
        checked.append("report")
    # 7. time
    if predicate.issued_at > now + skew:
        raise VerificationError(Reason.NOT_YET_VALID,
                                f"issued in the future ({predicate.issued_at.isoformat()}, now "
                                f"{now.isoformat(timespec='seconds')})")
    if predicate.expires_at <= now:
        raise VerificationError(Reason.EXPIRED,
                                f"expired at {predicate.expires_at.isoformat()}")
    checked.append("time")
    return VerifiedCertificate(envelope=envelope, statement=statement, predicate=predicate,
                               keyid=trusted.keyid, key_source=trusted.source, digest=digest,
                               path=path, artifact=artifact, report=report, checked=checked)


__all__ = ["Keyring", "Reason", "RevocationList", "SigningKeyError", "TrustedKey",
           "VerifiedCertificate", "verify"]
