"""The release gate: verify a certificate, then decide whether the model may be promoted.

:func:`gate` runs :func:`certify.attest.verify.verify` (every check, artifact required,
revocation list honoured) and then, in this order, raises ``GateError`` with its reason:

* ``no-certificate``: the run has no certificate (it was not signed) or the file is missing;
* ``not-certified``: the verdict is REJECTED or INCOMPLETE;
* ``policy-mismatch``: the certificate's policy digest is not that of the policy in force;
* ``missing-suite``: a suite the policy requires is absent from the certificate (or ran no check);
* ``waiver-expired``: a waiver the verdict relied on has expired by gate time.

Key rotation: the trust folder holds several public keys; certificates signed by any of
them verify, and retiring a key means removing its file or listing it in ``revoked.txt``
(see :mod:`certify.attest.revocation`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certify.attest.revocation import RevocationList
from certify.attest.verify import Keyring, Reason, VerifiedCertificate, verify
from certify.errors import GateError
from certify.outputs import CERTIFICATE, STATEMENT_JSON
from certify.policy import Policy


@dataclass(frozen=True)
class GateDecision:
    """A promotion the gate allowed."""

    certificate: VerifiedCertificate
    policy_digest: str
    required_suites: list[str]
    checked: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out = self.certificate.summary()
        out.update({"promote": True, "policyDigest": self.policy_digest,
                    "requiredSuites": self.required_suites, "checked": self.checked})
        return out


def certificate_path(cert: Path) -> Path:
    """``cert`` itself, or the certificate inside a run folder; GateError when there is none."""
    if cert.is_dir():
        inside = cert / CERTIFICATE
        if inside.is_file():
            return inside
        hint = (f" ({STATEMENT_JSON} is there: the run was not signed; configure signing.key or "
                "CERTIFY_SIGNING_KEY)" if (cert / STATEMENT_JSON).is_file() else "")
        raise GateError(Reason.NO_CERTIFICATE, f"{cert}: no {CERTIFICATE}{hint}")
    if not cert.is_file():
        raise GateError(Reason.NO_CERTIFICATE, f"{cert}: certificate not found")
    return cert


def gate(cert: Path, keyring: Keyring, *, artifact: Path, policy: Policy,
         revocations: RevocationList | None = None,
         now: dt.datetime | None = None) -> GateDecision:
    """Verify + promotion decision. Returns a :class:`GateDecision` or raises.

    Raises ``VerificationError`` (invalid certificate) or ``GateError`` (valid, but not
    to be promoted), each with its reason code.
    """
    now = now or dt.datetime.now(dt.UTC)
    path = certificate_path(cert)
    verified = verify(path, keyring, artifact=artifact, now=now, revocations=revocations)
    predicate = verified.predicate
    checked = list(verified.checked)
    if predicate.verdict != "CERTIFIED":
        why = "; ".join(predicate.reasons[:3]) or "no reason recorded"
        raise GateError(Reason.NOT_CERTIFIED, f"verdict is {predicate.verdict}: {why}")
    checked.append("verdict")
    digest = policy.digest()
    if predicate.policy_digest != digest:
        raise GateError(Reason.POLICY_MISMATCH,
                        f"certified under policy {predicate.policy_digest[:23]}…, but the policy "
                        f"in force ({policy.source}) is {digest[:23]}…")
    checked.append("policy")
    required = policy.required()
    for name in required:
        summary = predicate.suites.get(name)
        if summary is None:
            raise GateError(Reason.MISSING_SUITE,
                            f"required suite {name!r} is not in the certificate")
        ran = summary.passed + summary.warned + summary.failed + summary.errored
        if ran == 0:
            raise GateError(Reason.MISSING_SUITE, f"required suite {name!r} ran no check")
    checked.append("suites")
    today = now.astimezone(dt.UTC).date()
    for waiver in predicate.waivers:
        if waiver.applied_to and waiver.expires < today:
            raise GateError(Reason.WAIVER_EXPIRED,
                            f"waiver for {waiver.check!r} (approved by {waiver.approver}) "
                            f"expired on {waiver.expires.isoformat()}; it covered "
                            f"{', '.join(waiver.applied_to[:3])}")
    checked.append("waivers")
    return GateDecision(certificate=verified, policy_digest=digest, required_suites=required,
                        checked=checked)
