"""Issuing a run's statement, and its certificate when a key is configured.

Called by the session after report.json is written in the (still unpublished) run folder:

* ``statement.json``: the in-toto Statement (exactly the bytes that are signed);
* ``certificate.intoto.json``: the DSSE envelope, only when a signing key is configured
  (``CERTIFY_SIGNING_KEY`` or the policy's ``signing.key``) and the run was not narrowed;
* ``public-key.pem``: the signer's public key, next to the certificate, so that anyone can
  check the signature (trusting it is a separate decision: ``certify verify --trust``).

It returns the files written and a :class:`SignatureStatus`: the new certificate is verified
once against the public key next to it (a signer that produces a bad signature is caught here,
not by the release gate), so that the run's own page can say what was checked without
verifying again.

A key that is configured but unusable (missing, group/world-readable, wrong passphrase) is
an error at set-up: a run never silently comes out unsigned when signing was asked for.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from certify.attest.dsse import INTOTO_PAYLOAD_TYPE
from certify.attest.signer import Signer, sign_envelope
from certify.attest.statement import build_statement
from certify.attest.status import signature_status, unsigned_status
from certify.outputs import CERTIFICATE, PUBLIC_KEY, STATEMENT_JSON, atomic_write
from certify.report import Report, SignatureStatus


def issue(report: Report, *, report_digest: str, run_dir: Path, required_suites: list[str],
          valid_for: dt.timedelta, signer: Signer | None, narrowed: list[str]
          ) -> tuple[dict[str, Path], SignatureStatus]:
    """Write the statement (always) and the certificate (signer, not narrowed)."""
    issued_at = dt.datetime.now(dt.UTC)
    statement = build_statement(report, report_digest=report_digest,
                                required_suites=required_suites, issued_at=issued_at,
                                valid_for=valid_for)
    payload = statement.to_payload()
    written: dict[str, Path] = {}
    atomic_write(run_dir / STATEMENT_JSON, payload)
    written["statement"] = run_dir / STATEMENT_JSON
    if signer is None:
        return written, unsigned_status(
            run_dir, f"There is no {CERTIFICATE} next to this report: the run was not signed "
                     "(no signing key configured), so nothing vouches for it.")
    if narrowed:
        # A narrowed run (-k/-x/-m) is for debugging: its statement is written, never signed.
        return written, unsigned_status(
            run_dir, f"The run was narrowed ({len(narrowed)} planned check(s) did not run, "
                     "-k/-x/-m): a narrowed run is never signed, even with a key configured.")
    envelope = sign_envelope(payload, INTOTO_PAYLOAD_TYPE, signer)
    atomic_write(run_dir / CERTIFICATE, envelope.to_json())
    atomic_write(run_dir / PUBLIC_KEY, signer.public_key_pem())
    written["certificate"] = run_dir / CERTIFICATE
    written["public_key"] = run_dir / PUBLIC_KEY
    return written, signature_status(run_dir, when="when the run was signed")
