"""The ``certify`` command line: a thin layer over the library.

One module per command, each with ``HELP``, ``add_arguments(parser)`` and
``main(args) -> ExitCode``. Only :func:`main` turns errors into exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from certify import __version__
from certify.errors import CertifyError, ExitCode

COMMANDS = ("run", "demo", "schema", "report", "keygen", "verify", "gate", "drift", "deploy",
            "audit")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="certify",
        description="Certify a machine-learning model for deployment. Exit codes: "
                    "0 certified/valid, 1 rejected/invalid, 2 usage or configuration error.",
    )
    parser.add_argument("--version", action="version", version=f"pytest-certify {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"certify.cli.{name}")
        cmd = sub.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(cmd)
        cmd.set_defaults(func=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors exit 2 already
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except CertifyError as exc:
        if not exc.reported:
            print(f"certify {args.command}: error: {exc.diagnostics()}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("certify: interrupted", file=sys.stderr)
        return 130
    except Exception:
        if os.environ.get("CERTIFY_DEBUG"):
            raise
        import traceback

        print(f"certify {args.command}: internal error (set CERTIFY_DEBUG=1 for details): "
              f"{traceback.format_exc().strip().splitlines()[-1]}", file=sys.stderr)
        return int(ExitCode.USAGE)
