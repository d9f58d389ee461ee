"""Print the JSON Schema of the policy (every key, type and default), of report.json or of the
deploy plan (deploy.toml)."""

from __future__ import annotations

import argparse
import json

from certify.errors import ExitCode

HELP = "print the policy (or report.json, or deploy plan) JSON Schema"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("which", nargs="?", choices=("policy", "report", "deploy"),
                        default="policy")
    parser.add_argument("--markdown", action="store_true",
                        help="print the policy (or deploy plan) reference as Markdown tables "
                             "(as in the README)")


def main(args: argparse.Namespace) -> ExitCode:
    if args.markdown:
        if args.which == "deploy":
            from certify.deploy.plandoc import plan_reference

            print(plan_reference(), end="")
            return ExitCode.OK
        from certify.policydoc import policy_reference

        print(policy_reference(), end="")
        return ExitCode.OK
    if args.which == "policy":
        from certify.policy import policy_json_schema

        schema = policy_json_schema()
    elif args.which == "deploy":
        from certify.deploy.plan import plan_json_schema

        schema = plan_json_schema()
    else:
        from certify.report import report_json_schema

        schema = report_json_schema()
    print(json.dumps(schema, indent=2, sort_keys=True))
    return ExitCode.OK
