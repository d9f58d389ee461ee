"""Print the JSON Schema of the policy (every key, type and default) or of report.json."""

from __future__ import annotations

import argparse
import json

from certify.errors import ExitCode

HELP = "print the policy (or report.json) JSON Schema"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("which", nargs="?", choices=("policy", "report"), default="policy")


def main(args: argparse.Namespace) -> ExitCode:
    if args.which == "policy":
        from certify.policy import policy_json_schema

        schema = policy_json_schema()
    else:
        from certify.reports.report import report_json_schema

        schema = report_json_schema()
    print(json.dumps(schema, indent=2, sort_keys=True))
    return ExitCode.OK
