"""Gate first, always: a deploy starts with :func:`certify.attest.gate.gate` itself (no second
implementation) and adds what only a deploy can check.

1. The gate, with the policy the plan names and its candidate file as the artifact: signature by
   a trusted key, revocation, strict statement, *the file to be registered has the
   certificate's subject digest* (a file changed after certification is refused), verdict
   CERTIFIED, policy digest, required suites, waivers, expiry.
2. The drift baseline next to the certificate, when the certificate names one, is the certified
   one (its manifest digest): it is registered beside the model.
3. Against the registry: a certificate issued before the one behind the current champion (or in
   the same second: ``issuedAt`` has whole seconds, so which is newer cannot be told) is a
   *downgrade*; the champion's own certificate again is a *replay* (going back is
   ``certify deploy rollback --to``).

Every refusal raises :class:`certify.deploy.errors.Refused` before anything is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certify.attest.gate import GateDecision, certificate_path, gate
from certify.attest.revocation import RevocationList
from certify.attest.statement import rfc3339
from certify.attest.verify import Keyring, VerifiedCertificate, verify
from certify.deploy.errors import Reason, Refused
from certify.deploy.registry import TAG, VersionRecord
from certify.errors import ConfigError, VerificationError
from certify.outputs import directory_digest
from certify.policy import ModelSpec, Policy


@dataclass(frozen=True)
class Admission:
    """A certificate the deploy step accepted, and what it registers."""

    decision: GateDecision
    policy: Policy
    artifact: Path
    certificate: Path
    drift_baseline: Path | None

    @property
    def verified(self) -> VerifiedCertificate:
        return self.decision.certificate

    @property
    def digest(self) -> str:
        """The certificate's digest (sha256 of its signed payload)."""
        return self.verified.digest

    @property
    def subject_digest(self) -> str:
        return self.verified.predicate.candidate.digest

    def tags(self, plan_digest: str) -> dict[str, str]:
        """The registry version's tags."""
        p = self.verified.predicate
        tags = {"certificate_digest": self.digest, "policy_digest": p.policy_digest,
                "verdict": p.verdict, "run_id": p.run_id, "keyid": self.verified.keyid,
                "issued_at": rfc3339(p.issued_at), "expires_at": rfc3339(p.expires_at),
                "plan_digest": plan_digest, "status": "registered"}
        if p.drift_baseline is not None:
            tags["drift_baseline_digest"] = p.drift_baseline.digest
        return {TAG + k: v for k, v in tags.items()}

    def summary(self) -> dict[str, Any]:
        return {**self.decision.summary(), "driftBaseline": str(self.drift_baseline)
                if self.drift_baseline else None}


def candidate_file(policy: Policy) -> Path:
    spec = policy.candidate
    if not spec.path:
        raise ConfigError(f"{policy.source}: candidate: an endpoint ({spec.url}) cannot be "
                          "registered; deploy needs a model file")
    return policy.resolve(spec.path)


def model_spec(spec: ModelSpec) -> dict[str, Any]:
    """How a registered file is loaded again (its policy entry without the path)."""
    data = spec.model_dump(mode="json", exclude={"path", "url", "headers"})
    return {k: v for k, v in data.items() if v not in (None, [], {})}


def check_drift_baseline(verified: VerifiedCertificate, cert: Path) -> Path | None:
    """The certified drift baseline folder next to ``cert`` (None when the certificate names
    none); refused when it is missing or its manifest digest differs."""
    ref = verified.predicate.drift_baseline
    if ref is None:
        return None
    folder = cert.parent / ref.path
    if not folder.is_dir():
        raise Refused(Reason.DRIFT_BASELINE,
                      f"the certificate names drift baseline '{ref.path}' but {folder} is missing: "
                      "it is registered beside the model")
    actual = directory_digest(folder)
    if actual != ref.digest:
        raise Refused(Reason.DRIFT_BASELINE,
                      f"{folder}: manifest digest {actual[:23]}… is not the certified "
                      f"{ref.digest[:23]}…")
    return folder


def check_order(verified: VerifiedCertificate, champion: VersionRecord | None) -> None:
    """Refuse a replay of the champion's certificate, or one issued before it."""
    if champion is None or champion.uncertified:
        return
    if champion.certificate_digest == verified.digest:
        raise Refused(Reason.REPLAY,
                      f"this certificate is the one behind the current champion (version "
                      f"{champion.version}): nothing to deploy")
    issued = champion.issued_at
    # issuedAt has whole seconds (RFC 3339): a different certificate of the same second cannot
    # be told newer, so it is refused as well (certify again to deploy it)
    if issued is not None and verified.predicate.issued_at <= issued:
        raise Refused(Reason.DOWNGRADE,
                      f"certificate issued {rfc3339(verified.predicate.issued_at)}, not after the one "
                      f"behind the champion (version {champion.version}, issued "
                      f"{rfc3339(issued)}): a downgrade; going back is `certify deploy rollback "
                      f"--to VERSION`")


def admit(policy: Policy, cert: Path, keyring: Keyring, *,
          revocations: RevocationList | None = None, champion: VersionRecord | None = None,
          now: dt.datetime | None = None) -> Admission:
    """The gate, the drift baseline and the order against the champion; raises Refused."""
    artifact = candidate_file(policy)
    try:
        decision = gate(cert, keyring, artifact=artifact, policy=policy, revocations=revocations,
                        now=now)
        path = certificate_path(cert)
    except VerificationError as exc:
        raise Refused(exc.reason, exc.message) from None
    baseline = check_drift_baseline(decision.certificate, path)
    check_order(decision.certificate, champion)
    return Admission(decision=decision, policy=policy, artifact=artifact, certificate=path,
                     drift_baseline=baseline)


def verify_registered(version: VersionRecord, cert: Path, file: Path, keyring: Keyring, *,
                      revocations: RevocationList | None = None,
                      now: dt.datetime | None = None) -> tuple[VerifiedCertificate, bool]:
    """``rollback --to``: the stored certificate verifies (signature, the registered file's
    digest); an expired one is accepted and said so. Returns (certificate, expired)."""
    now = now or dt.datetime.now(dt.UTC)
    expired = False
    try:
        verified = verify(cert, keyring, artifact=file, revocations=revocations, now=now)
    except VerificationError as exc:
        if exc.reason != "expired":
            raise Refused(exc.reason, f"version {version.version}: {exc.message}") from None
        # Expired: everything else must still hold, as of just before it expired.
        expired = True
        expires = version.tag("expires_at")
        moment = (dt.datetime.fromisoformat(expires.replace("Z", "+00:00"))
                  - dt.timedelta(seconds=1)) if expires else now
        try:
            verified = verify(cert, keyring, artifact=file, revocations=revocations, now=moment)
        except VerificationError as again:
            raise Refused(again.reason, f"version {version.version}: {again.message}") from None
    if verified.digest != version.certificate_digest:
        raise Refused(Reason.REGISTRY_DIGEST,
                      f"version {version.version}: the stored certificate is not the one its "
                      "tags name")
    return verified, expired
