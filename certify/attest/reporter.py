"""Built-in reporter ``certificate``: statement.json always, the signed certificate when a key is set.

Called by the session after report.json is written in the (still unpublished) run folder:

* ``statement.json``: the in-toto Statement (exactly the bytes that are signed);
* ``certificate.intoto.json``: the DSSE envelope, only when a signing key is configured
  (``CERTIFY_SIGNING_KEY`` or the policy's ``signing.key``);
* ``public-key.pem``: the signer's public key, next to the certificate, so that anyone can
  check the signature (trusting it is a separate decision: ``certify verify --trust``).

A key that is configured but unusable (missing, group/world-readable, wrong passphrase) is
an error: a run never silently comes out unsigned when signing was asked for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from certify.attest.dsse import INTOTO_PAYLOAD_TYPE
from certify.attest.signer import sign_envelope, signer_from_policy
from certify.attest.statement import build_statement
from certify.outputs import CERTIFICATE, PUBLIC_KEY, REPORT_JSON, STATEMENT_JSON, atomic_write


def write_attestation(session: Any, report: Any, run_dir: Path) -> dict[str, Path]:
    policy = session.policy
    # The session loaded the signer at set-up (a broken key fails before the suites run).
    signer = session.signer if hasattr(session, "signer") else signer_from_policy(policy)
    report_digest = "sha256:" + hashlib.sha256((run_dir / REPORT_JSON).read_bytes()).hexdigest()
    statement = build_statement(
        report, report_digest=report_digest, required_suites=policy.required(),
        issued_at=dt.datetime.now(dt.UTC),
        valid_for=dt.timedelta(days=policy.signing.valid_for_days),
    )
    payload = statement.to_payload()
    written: dict[str, Path] = {}
    atomic_write(run_dir / STATEMENT_JSON, payload)
    written["statement"] = run_dir / STATEMENT_JSON
    if signer is None:
        return written
    not_run = session.not_run() if hasattr(session, "not_run") else []
    if not_run:
        # A narrowed run (-k/-x) is for debugging: its statement is written, never signed.
        return written
    envelope = sign_envelope(payload, INTOTO_PAYLOAD_TYPE, signer)
    atomic_write(run_dir / CERTIFICATE, envelope.to_json())
    atomic_write(run_dir / PUBLIC_KEY, signer.public_key_pem())
    written["certificate"] = run_dir / CERTIFICATE
    written["public_key"] = run_dir / PUBLIC_KEY
    return written
