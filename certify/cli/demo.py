"""Run the embedded demo: build a small credit-risk project offline and certify its candidate.

Everything is written inside one folder (default ./certify-demo). With --sabotage KIND
the candidate (or the data) is broken on purpose and the run must come out REJECTED.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

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
                        help="certify with only these suites (a quick look; the demo runs every "
                             "suite by default)")
    parser.add_argument("--no-deploy", action="store_true",
                        help="stop after the certification (the demo deploys a CERTIFIED "
                             "candidate by default)")


def main(args: argparse.Namespace) -> ExitCode:
    from rich.console import Console

    from certify.api import run
    from certify.demo import SABOTAGES, build_project
    from certify.raycluster import join_cluster, leave_cluster

    console = Console(stderr=True, soft_wrap=True)  # paths and commands stay copy-pasteable
    with console.status("building the demo project (data, baseline, candidate)…"):
        policy, project = build_project(args.dir.resolve(), args.sabotage, only=args.only)
    console.print(f"demo project: {args.dir}  policy: {policy.name}")
    sabotage = SABOTAGES.get(args.sabotage or "")
    prestart = None
    # a sabotage the certification must reject never reaches the deploy: nothing to start
    if not args.no_deploy and (sabotage is None or sabotage.outcome != "REJECTED"):
        from certify.deploy.demostep import Prestart

        prestart = Prestart(_write_plan(policy, sabotage))
        join_cluster(prestart.address)  # the suites' Ray is the deploy target's: one start
    try:
        result = run(policy, seed=args.seed)
    except BaseException:
        if prestart is not None:
            leave_cluster()
            prestart.discard()
        raise
    leave_cluster()
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
    deployed = True
    if result.verdict.certified and not args.no_deploy:
        if prestart is not None:
            prestart.join()
        else:  # a sabotage that should have been rejected was not: the deploy writes its plan
            _write_plan(policy, sabotage)
        deployed = _deploy(console, policy, result, sabotage)
    elif prestart is not None:
        prestart.discard()
    if sabotage is not None:
        console.print(f"(sabotage '{args.sabotage}' is expected to be {sabotage.outcome} by "
                      f"{sabotage.expect_reason})", markup=False, highlight=False)
    return ExitCode.OK if result.verdict.certified and deployed else ExitCode.FAILED


def _write_plan(policy: Path, sabotage: Any) -> Path:
    """The demo's deploy.toml beside the policy (the residency sabotage's names another
    region)."""
    from certify.demo import render_policy
    from certify.deploy.demostep import demo_plan

    plan_path = policy.parent / "deploy.toml"
    region = sabotage.cloud_region if sabotage is not None else "eu-west-1"
    plan_path.write_text(render_policy(demo_plan(policy=policy.name, cloud_region=region)))
    return plan_path


def _deploy(console: Any, policy: Path, result: Any, sabotage: Any) -> bool:
    """The deploy step of the demo: adopt the baseline, roll the candidate out on the embedded
    on-prem target, render the cloud manifests (dry run), stop the serving. True when promoted."""
    from certify.deploy.demostep import run_demo_deploy
    from certify.deploy.errors import DeployError
    from certify.policy import load_policy

    root = policy.parent
    plan_path = root / "deploy.toml"
    loaded = load_policy(policy, check_files=False)
    candidate = loaded.resolve(loaded.candidate.path or "")
    baseline = loaded.resolve(loaded.baseline.path or "") if loaded.baseline else None
    if sabotage is not None and sabotage.tamper:
        with candidate.open("ab") as fh:  # changed after certification
            fh.write(b"\0")
    console.print(f"\ndeploying with {plan_path.name}: on-prem canary on Ray Serve, cloud "
                  "manifests (dry run)", markup=False, highlight=False)
    try:
        with console.status("deploying…") as status:
            out = run_demo_deploy(plan_path, result.certificate_path, root / "keys",
                                  baseline if baseline is not None else candidate,
                                  progress=lambda m: status.update(f"deploying: {m}"))
    except DeployError as exc:
        out = {"outcome": "refused", "reason": exc.reason, "message": exc.message,
               "audit_log": None, "manifests": None, "steps": []}
    style = "bold green" if out["outcome"] == "promoted" else "bold red"
    console.print(f"deploy: [{style}]{out['outcome'].upper()}[/]"
                  + (f" ({out['reason']})" if out.get("reason") else ""))
    if out.get("message"):
        console.print(f"  {out['message']}", markup=False, highlight=False)
    for step in out.get("steps") or []:
        verdict = "passed" if step.get("passed") else "; ".join(step.get("reasons") or ["failed"])
        console.print(f"  {step.get('target')} step {step.get('step')}: "
                      f"{step.get('weight', 0):g}% of {step.get('requests', 0)} requests to the "
                      f"candidate: {verdict}", markup=False, highlight=False)
    if out.get("audit_log"):
        console.print(f"audit log: {out['audit_log']}  (certify audit verify {out['audit_log']})",
                      markup=False, highlight=False, soft_wrap=True)
        console.print(f"cloud manifests (dry run): {out['manifests']}", markup=False,
                      highlight=False, soft_wrap=True)
    return bool(out["outcome"] == "promoted")
