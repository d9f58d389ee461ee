"""Run the embedded demo: build a small credit-risk project offline and certify its candidate.

Everything is written inside one folder (default ./certify-demo). With --sabotage KIND
the candidate (or the data) is broken on purpose and the run must come out REJECTED.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from certify.errors import ExitCode

HELP = "build and certify the embedded demo project (offline)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from certify.demo import SABOTAGES

    parser.add_argument("--dir", type=Path, default=Path("certify-demo"),
                        help="folder to build the demo project in (default: ./certify-demo)")
    parser.add_argument("--sabotage", choices=sorted(SABOTAGES), default=None,
                        help="break the candidate on purpose: "
                             + "; ".join(f"{k}: {v.description}" for k, v in sorted(SABOTAGES.items())))
    parser.add_argument("--seed", type=int, default=None, help="override the policy's seed")
    parser.add_argument("--only", nargs="+", metavar="SUITE", default=None,
                        help="certify with only these suites (a quick look; the demo runs all "
                             "six by default)")


def main(args: argparse.Namespace) -> ExitCode:
    from rich.console import Console

    from certify.api import run
    from certify.demo import SABOTAGES, build_project

    console = Console(stderr=True, soft_wrap=True)  # paths and commands stay copy-pasteable
    with console.status("building the demo project (data, baseline, candidate)…"):
        policy, project = build_project(args.dir.resolve(), args.sabotage, only=args.only)
    console.print(f"demo project: {args.dir}  policy: {policy.name}")
    result = run(policy, seed=args.seed)
    decision = result.verdict.decision.value
    style = {"CERTIFIED": "bold green", "REJECTED": "bold red"}.get(decision, "bold yellow")
    console.print(f"\nverdict: [{style}]{decision}[/]")
    for reason in result.verdict.reasons:
        console.print(f"  - {reason}", markup=False, highlight=False)
    console.print(f"outputs: {result.run_dir}")
    for name, path in result.outputs.items():
        console.print(f"  {name}: {path}", markup=False, highlight=False)
    if result.certificate_path is not None:
        from certify.outputs import PUBLIC_KEY
        from certify.policy import load_policy

        loaded = load_policy(policy, check_files=False)
        candidate = loaded.resolve(loaded.candidate.path or "")
        console.print("verify the certificate with:", highlight=False)
        console.print(f"  certify verify {result.certificate_path} --key "
                      f"{result.certificate_path.parent / PUBLIC_KEY} --artifact {candidate}",
                      highlight=False, soft_wrap=True)
        if result.verdict.certified:
            console.print("and gate the release with:", highlight=False)
            console.print(f"  certify gate {result.certificate_path} --trust "
                          f"{candidate.parent.parent / 'keys'} --artifact {candidate} "
                          f"--policy {policy}", highlight=False, soft_wrap=True)
    if args.sabotage:
        expected = SABOTAGES[args.sabotage].expect_reason
        console.print(f"(sabotage '{args.sabotage}' is expected to be REJECTED by {expected})")
    return ExitCode.OK if result.verdict.certified else ExitCode.FAILED
