"""Generate a signing key pair: PREFIX.key (private, PEM, mode 0600) and PREFIX.pub (public, PEM).

The private key is encrypted when the environment variable named by --passphrase-env
(default CERTIFY_SIGNING_KEY_PASSPHRASE) is set and not empty; the passphrase is never
read from the command line. Point the policy at the private key (signing.key) or put it
in CERTIFY_SIGNING_KEY (PEM text or a path) in CI; give the .pub file to whoever verifies.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from certify.errors import ExitCode

HELP = "generate a signing key pair (ECDSA P-256 by default, or Ed25519)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from certify.attest.keys import ALGORITHMS, DEFAULT_ALGORITHM

    parser.add_argument("--out", type=Path, default=Path("certify"), metavar="PREFIX",
                        help="write PREFIX.key and PREFIX.pub (default: ./certify)")
    parser.add_argument("--algorithm", choices=ALGORITHMS, default=DEFAULT_ALGORITHM,
                        help=f"key algorithm (default: {DEFAULT_ALGORITHM})")
    parser.add_argument("--passphrase-env", default="CERTIFY_SIGNING_KEY_PASSPHRASE",
                        metavar="VAR",
                        help="encrypt the private key with the passphrase in this environment "
                             "variable, when it is set (default: CERTIFY_SIGNING_KEY_PASSPHRASE)")
    parser.add_argument("--force", action="store_true", help="overwrite existing key files")


def main(args: argparse.Namespace) -> ExitCode:
    from certify.attest.keys import write_key_pair

    phrase = os.environ.get(args.passphrase_env) or None
    private, public, keyid = write_key_pair(args.out, algorithm=args.algorithm,
                                            passphrase=phrase.encode() if phrase else None,
                                            force=args.force)
    protection = f"encrypted with ${args.passphrase_env}" if phrase else "not encrypted"
    print(f"private key: {private}  (mode 0600, {protection}; keep it secret)")
    print(f"public key:  {public}  (give it to whoever verifies: certify verify --key / --trust)")
    print(f"keyid:       {keyid}")
    print(f'sign with it: signing.key = "{private}" in the policy, or CERTIFY_SIGNING_KEY')
    return ExitCode.OK
