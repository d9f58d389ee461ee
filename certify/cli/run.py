"""Certify the candidate of a policy (runs pytest with --certify, plus the policy's own checks)."""

from __future__ import annotations

import argparse
from pathlib import Path

from certify.errors import ExitCode
from certify.options import add_run_options

HELP = "certify the candidate named by a policy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_options(parser.add_argument, prefix="--")
    parser.add_argument("pytest_args", nargs="*", metavar="PYTEST_ARG",
                        help="extra pytest arguments (after --), e.g. -- -x --junitxml=out.xml")


def main(args: argparse.Namespace) -> ExitCode:
    from certify.api import run
    from certify.errors import ConfigError
    from certify.policy import find_policy

    policy = args.certify_policy or find_policy(Path.cwd())
    if policy is None:
        raise ConfigError(f"no certify.toml or [tool.certify] in pyproject.toml in {Path.cwd()}; "
                          "pass --policy PATH")
    result = run(policy, args.certify_out, seed=args.certify_seed, pytest_args=args.pytest_args)
    return ExitCode.OK if result.verdict.certified else ExitCode.FAILED
