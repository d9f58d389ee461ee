"""The release gate: verify the certificate, then decide whether the model may be promoted.

Promote (exit 0) only when the certificate verifies against the trusted keys and the
model file, is not revoked, says CERTIFIED, was made under the policy in force (same
digest), contains every suite that policy requires, and relies on no waiver that has
expired today. Otherwise block (exit 1) with the reason; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from certify.cli.verify import add_trust_arguments, failure, load_trust
from certify.errors import CertifyError, ExitCode, VerificationError

HELP = "verify a certificate and decide whether the model may be promoted"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_trust_arguments(parser, required_artifact=True)
    parser.add_argument("--policy", type=Path, required=True, metavar="POLICY",
                        help="the policy in force (certify.toml or pyproject.toml)")


def main(args: argparse.Namespace) -> ExitCode:
    from certify.attest.gate import gate
    from certify.policy import load_policy

    try:
        policy = load_policy(args.policy, check_files=False)
        keyring, revocations = load_trust(args)
        decision = gate(args.certificate, keyring, artifact=args.artifact, policy=policy,
                        revocations=revocations)
    except VerificationError as exc:
        if args.json:
            print(json.dumps(failure(exc, promote=False, certificate=str(args.certificate)),
                             indent=2))
        else:
            print(f"BLOCK ({exc.reason}): {exc.diagnostics()}")
        return ExitCode.FAILED
    except CertifyError as exc:
        if not args.json:
            raise
        print(json.dumps(failure(exc, promote=False, certificate=str(args.certificate)), indent=2))
        return ExitCode.USAGE
    if args.json:
        print(json.dumps(decision.summary(), indent=2))
        return ExitCode.OK
    cert = decision.certificate
    subject = cert.statement.subject[0]
    print(f"PROMOTE  {subject.name}  sha256:{subject.digest['sha256']}")
    print(f"  certificate {cert.path}  (signed by {cert.keyid})")
    print(f"  verdict CERTIFIED; policy {decision.policy_digest}; required suites: "
          f"{', '.join(decision.required_suites) or '(none)'}")
    print(f"  checked: {', '.join(decision.checked)}")
    return ExitCode.OK
