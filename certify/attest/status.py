"""The signature status of a run folder, decided by verifying what is in it.

``certify report`` uses it when it renders a page again (the time of rendering is the time of
the check); a run's own page gets the status its signing step produced
(:func:`certify.attest.issue.issue`). Renderers only show a :class:`SignatureStatus`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path
from typing import Any

from certify.errors import CertifyError, VerificationError
from certify.jsonsafe import one_line
from certify.outputs import CERTIFICATE, PUBLIC_KEY, STATEMENT_JSON
from certify.report import SignatureStatus

#: Longest reason text shown for a signature that does not verify.
MAX_DETAIL = 400


def _statement_times(statement: Any) -> tuple[str | None, str | None]:
    pred = statement.get("predicate") if isinstance(statement, dict) else None
    if not isinstance(pred, dict):
        return None, None
    issued = pred.get("issuedAt") or pred.get("issued_at")
    expires = pred.get("expiresAt") or pred.get("expires_at")
    return (str(issued) if issued else None), (str(expires) if expires else None)


def _claimed_keyid(envelope: Any) -> str | None:
    sigs = envelope.get("signatures") if isinstance(envelope, dict) else None
    first = sigs[0] if isinstance(sigs, list) and sigs else None
    keyid = first.get("keyid") if isinstance(first, dict) else None
    return str(keyid) if keyid else None


def unsigned_status(run_dir: Path, why: str) -> SignatureStatus:
    """A run with no certificate: says why, with the unsigned statement's times if there is one."""
    issued = expires = None
    stmt = run_dir / STATEMENT_JSON
    if stmt.is_file():
        with contextlib.suppress(OSError, ValueError):
            issued, expires = _statement_times(json.loads(stmt.read_text(encoding="utf-8")))
    return SignatureStatus("unsigned", "Not signed", why, issued_at=issued, expires_at=expires,
                           expiry_source=f"unsigned {STATEMENT_JSON}" if stmt.is_file() else "")


def signature_status(run_dir: Path, now: dt.datetime | None = None, *,
                     when: str = "when this page was rendered") -> SignatureStatus:
    """Verify the certificate in ``run_dir`` with the public key next to it, if present.

    ``when`` says in the detail text when the check was made.
    """
    now = now or dt.datetime.now(dt.UTC)
    cert, pub = run_dir / CERTIFICATE, run_dir / PUBLIC_KEY
    if not cert.is_file():
        return unsigned_status(
            run_dir, f"There is no {CERTIFICATE} next to this report: the run was not signed "
                     "(no signing key configured), so nothing vouches for it.")
    try:
        keyid = _claimed_keyid(json.loads(cert.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return SignatureStatus("invalid", "Certificate unreadable",
                               f"{CERTIFICATE} is not valid JSON.", certificate=CERTIFICATE)
    if not pub.is_file():
        return SignatureStatus(
            "unverified", "Signed, but not verified here",
            f"No {PUBLIC_KEY} next to the certificate, so this page did not check the signature. "
            f"Verify it with `certify verify {CERTIFICATE} --key <trusted public key>`.",
            keyid=keyid, certificate=CERTIFICATE)
    try:
        return _verify(cert, pub, now, when)
    except Exception as exc:  # noqa: BLE001 - any failure to verify is "invalid", with its reason
        reason = one_line(exc) if isinstance(exc, CertifyError) else f"{type(exc).__name__}: {exc}"
        code = getattr(exc, "reason", None)
        detail = f"{code}: {reason}" if isinstance(code, str) else reason
        if len(detail) > MAX_DETAIL:
            detail = detail[: MAX_DETAIL - 1] + "…"
        return SignatureStatus("invalid", "Signature does NOT verify", detail, keyid=keyid,
                               certificate=CERTIFICATE, public_key=PUBLIC_KEY)


def _verify(cert: Path, pub: Path, now: dt.datetime, when: str) -> SignatureStatus:
    """Verify against ``pub`` (and the report.json next to ``cert``).

    Raises on any failure except time: the verifier checks the time window last, so a
    certificate that is only expired (or not yet valid) has a verified signature and an
    untouched report, and is shown as verified *and* expired.
    """
    from certify.attest.dsse import parse_envelope
    from certify.attest.verify import Keyring, Reason, parse_statement, verify

    keyring = Keyring.from_files([pub])
    note = ""
    try:
        verified = verify(cert, keyring, now=now)
        keyid, issued, expires = verified.keyid, verified.issued_at, verified.expires_at
    except VerificationError as exc:
        if exc.reason not in (Reason.EXPIRED, Reason.NOT_YET_VALID):
            raise
        _, predicate = parse_statement(parse_envelope(cert.read_bytes()).payload)
        keyid = next(iter(keyring.keys))
        issued, expires = predicate.issued_at, predicate.expires_at
        note = f" But it is outside its validity window: {exc.diagnostics()}."
    return SignatureStatus(
        "verified", "Signature verified" + (" (certificate expired)" if expires <= now else ""),
        f"The DSSE signature of {CERTIFICATE} verifies with the {PUBLIC_KEY} next to it, and "
        f"report.json is the one it certifies; checked {when}, "
        f"{now.isoformat(timespec='seconds')}.{note} Whether that key is one you trust is for "
        "`certify verify --trust` or `certify gate` to decide.",
        keyid=keyid, certificate=CERTIFICATE, public_key=PUBLIC_KEY,
        issued_at=issued.isoformat(timespec="seconds"),
        expires_at=expires.isoformat(timespec="seconds"), expiry_source="signed certificate",
        expired=expires <= now,
    )
