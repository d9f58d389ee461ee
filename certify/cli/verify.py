"""Verify a signed certificate: envelope, trusted signature, strict statement, artifact, report, time.

Checks run in a fixed order and stop at the first failure, printed with its reason code
(e.g. ``INVALID (artifact-mismatch): ...``). CERT is a certificate.intoto.json or a run
folder holding one; the report.json next to it, when present, must be the one signed.
Exit codes: 0 valid, 1 invalid, 2 usage error. ``--json`` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from certify.errors import CertifyError, ConfigError, ExitCode, VerificationError

HELP = "verify a certificate (signature, subject, report, expiry)"


def add_trust_arguments(parser: argparse.ArgumentParser, *, required_artifact: bool) -> None:
    """Options shared by ``certify verify`` and ``certify gate``."""
    parser.add_argument("certificate", type=Path, metavar="CERT",
                        help="certificate.intoto.json, or the run folder that holds it")
    trust = parser.add_mutually_exclusive_group(required=True)
    trust.add_argument("--key", type=Path, action="append", metavar="PUB",
                       help="a trusted public key (PEM or OpenSSH); may be repeated")
    trust.add_argument("--trust", type=Path, metavar="DIR",
                       help="folder of trusted public keys (*.pem, *.pub; several keys support "
                            "rotation); its revoked.txt, if any, is honoured")
    parser.add_argument("--artifact", type=Path, required=required_artifact, metavar="MODEL",
                        help="the model file; its sha256 must be the certificate's first subject")
    parser.add_argument("--revoked", type=Path, action="append", default=[], metavar="FILE",
                        help="revocation list: revoked key fingerprints and certificate digests, "
                             "one per line; may be repeated")
    parser.add_argument("--json", action="store_true", help="print a machine-readable result")


def load_trust(args: argparse.Namespace) -> tuple[Any, Any]:
    """The keyring and revocation list named by the options."""
    from certify.attest.revocation import REVOKED_FILENAME, RevocationList
    from certify.attest.verify import Keyring

    revocations = RevocationList()
    if args.trust is not None:
        keyring = Keyring.from_dir(args.trust)
        if (args.trust / REVOKED_FILENAME).is_file():
            revocations = revocations.merge(RevocationList.load(args.trust / REVOKED_FILENAME))
    else:
        keyring = Keyring.from_files(args.key)
    for path in args.revoked:
        revocations = revocations.merge(RevocationList.load(path))
    return keyring, revocations


def failure(exc: CertifyError, **extra: Any) -> dict[str, Any]:
    reason = exc.reason if isinstance(exc, VerificationError) else "usage"
    return {"valid": False, "reason": reason, "message": exc.diagnostics(), **extra}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_trust_arguments(parser, required_artifact=False)
    parser.add_argument("--report", type=Path, default=None, metavar="REPORT",
                        help="report.json to check against the certificate (default: the one "
                             "next to the certificate, when present)")
    parser.add_argument("--drift-baseline", type=Path, default=None, metavar="DIR",
                        help="a drift-baseline folder that must be the certified one")


def main(args: argparse.Namespace) -> ExitCode:
    from certify.attest.gate import certificate_path
    from certify.attest.statement import rfc3339
    from certify.attest.verify import verify

    try:
        keyring, revocations = load_trust(args)
        if not args.certificate.exists():  # a wrong path is a usage error; an unsigned run is not
            raise ConfigError(f"{args.certificate}: no such certificate file or run folder")
        path = certificate_path(args.certificate)
        result = verify(path, keyring, artifact=args.artifact, report=args.report,
                        drift_baseline=args.drift_baseline, revocations=revocations)
    except VerificationError as exc:
        if args.json:
            print(json.dumps(failure(exc, certificate=str(args.certificate)), indent=2))
        else:
            print(f"INVALID ({exc.reason}): {exc.diagnostics()}")
        return ExitCode.FAILED
    except CertifyError as exc:
        if not args.json:
            raise
        print(json.dumps(failure(exc, certificate=str(args.certificate)), indent=2))
        return ExitCode.USAGE
    if args.json:
        print(json.dumps(result.summary(), indent=2))
        return ExitCode.OK
    subject = result.statement.subject[0]
    print(f"VALID  {path}")
    print(f"  signed by   {result.keyid}  ({result.key_source})")
    if Path(result.key_source).parent.resolve() == path.parent.resolve():
        print("  note        that key came with the certificate: this proves the files are "
              "intact, not who signed them; check the keyid or use --trust")
    matched = "artifact matches" if args.artifact else "no --artifact given: model not checked"
    print(f"  subject     {subject.name}  sha256:{subject.digest['sha256']}  ({matched})")
    for extra in result.statement.subject[1:]:
        print(f"  subject     {extra.name}  sha256:{extra.digest['sha256']}")
    print(f"  verdict     {result.verdict}  (run {result.predicate.run_id})")
    print(f"  valid       {rfc3339(result.issued_at)} .. {rfc3339(result.expires_at)}")
    print(f"  report      {result.report or 'not checked (no report.json next to it)'}")
    print(f"  certificate digest {result.digest}")
    return ExitCode.OK
