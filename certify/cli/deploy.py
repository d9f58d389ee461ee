"""The deploy step driven by the certificate: registry promotion, on-prem canary on Ray Serve with
automatic rollback, cloud rollout on KServe (a dry run unless --apply), residency, parity, and an
audit trail.

  certify deploy run PLAN --certificate CERT --trust DIR [--revoked FILE] [--apply] [--json]
  certify deploy status PLAN
  certify deploy rollback PLAN [--to VERSION --trust DIR] [--apply]
  certify deploy adopt PLAN --model FILE [--apply]
  certify deploy stop PLAN

Exit codes: 0 done; 1 refused, rolled back, or locked by another deploy (the reason says which);
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from certify.errors import CertifyError, ExitCode

HELP = "deploy a certified model: registry, canary with rollback, cloud manifests, audit"


def _trust(parser: argparse.ArgumentParser, *, required: bool) -> None:
    trust = parser.add_mutually_exclusive_group(required=required)
    trust.add_argument("--trust", type=Path, metavar="DIR",
                       help="folder of trusted public keys (its revoked.txt is honoured)")
    trust.add_argument("--key", type=Path, action="append", metavar="PUB",
                       help="a trusted public key; may be repeated")
    parser.add_argument("--revoked", type=Path, action="append", default=[], metavar="FILE",
                        help="revocation list (key fingerprints, certificate digests)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="deploy_command", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="gate, register, roll out through the canary steps, "
                                     "promote (or roll back)")
    run.add_argument("--certificate", type=Path, required=True, metavar="CERT",
                     help="certificate.intoto.json, or the run folder that holds it")
    _trust(run, required=True)
    run.add_argument("--apply", action="store_true",
                     help="apply the kserve manifests to the cluster (default: a dry run)")
    status = sub.add_parser("status", help="champion, candidate, weights, step, audit, locks")
    rollback = sub.add_parser("rollback", help="back to the champion, or --to an older version")
    rollback.add_argument("--to", type=int, default=None, metavar="VERSION",
                          help="a registered version whose certificate verifies")
    _trust(rollback, required=False)
    adopt = sub.add_parser("adopt", help="record an existing uncertified model as the first "
                                         "champion")
    adopt.add_argument("--model", type=Path, required=True, metavar="FILE")
    for cmd in (rollback, adopt):
        cmd.add_argument("--apply", action="store_true",
                         help="apply the kserve manifests to the cluster (default: a dry run)")
    stop = sub.add_parser("stop", help="stop the embedded on-prem serving")
    for cmd in (run, status, rollback, adopt, stop):
        cmd.add_argument("plan", type=Path, metavar="PLAN", help="deploy.toml (or its folder)")
        cmd.add_argument("--json", action="store_true", help="print one JSON object")


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def main(args: argparse.Namespace) -> ExitCode:
    from certify.deploy.errors import DeployError
    from certify.deploy.plan import load_plan
    from certify.policy import load_policy

    try:
        plan = load_plan(args.plan)
        policy = load_policy(plan.policy_path, check_files=False)
        out = _dispatch(args, plan, policy)
    except DeployError as exc:
        kind = type(exc).__name__.lower().replace("rolledback", "rolled back")
        if args.json:
            print(json.dumps({"result": kind, "reason": exc.reason, "message": exc.message},
                             indent=2))
        else:
            print(f"{kind.upper()} ({exc.reason}): {exc.message}")
        return ExitCode.FAILED
    except CertifyError as exc:
        if not args.json:
            raise
        print(json.dumps({"result": "error", "reason": "usage", "message": exc.diagnostics()},
                         indent=2))
        return ExitCode.USAGE
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        _print(args.deploy_command, out)
    return ExitCode.OK


def _dispatch(args: argparse.Namespace, plan: Any, policy: Any) -> dict[str, Any]:
    from certify.cli.verify import load_trust
    from certify.deploy import operations, rollout

    if args.deploy_command == "run":
        keyring, revocations = load_trust(args)
        result = rollout.deploy(plan, policy, args.certificate, keyring,
                                revocations=revocations, apply=args.apply, progress=_progress)
        return result.summary()
    if args.deploy_command == "status":
        return operations.status(plan, policy)
    if args.deploy_command == "rollback":
        keyring = revocations = None
        if args.trust is not None or args.key:
            keyring, revocations = load_trust(args)
        return operations.rollback(plan, policy, to=args.to, keyring=keyring,
                                   revocations=revocations, progress=_progress, apply=args.apply)
    if args.deploy_command == "adopt":
        return operations.adopt(plan, policy, args.model.resolve(), progress=_progress,
                                apply=args.apply)
    return {"stopped": operations.stop(plan, policy)}


def _print(command: str, out: dict[str, Any]) -> None:
    if command == "run":
        print(f"PROMOTED  v{out['version']} is the champion on {', '.join(out['targets'])}"
              + ("  (first deploy: parity and absolute SLOs only)" if out["firstDeploy"] else ""))
        for parity in out["parity"]:
            print(f"  parity on {parity['target']}: {parity['reason']}")
        for step in out["steps"]:
            roles = step["by_role"]
            figures = ", ".join(f"{r} {v['requests']} req p95 {v.get('p95_ms')} ms"
                                for r, v in roles.items())
            print(f"  step {step['step']} {step['weight']:g}% on {step['target']}: {figures}")
            for note in step["notes"]:
                print(f"    note: {note}")
        print(f"  audit log {out['auditLog']}")
        print(f"  registry  {out['registry']}")
        return
    if command == "status":
        _print_status(out)
        return
    print(json.dumps(out, indent=2, default=str))


def _print_status(out: dict[str, Any]) -> None:
    aliases = out["aliases"]
    print(f"registry {out['registry']}: " + (", ".join(f"{a}=v{v}" for a, v in
                                                        sorted(aliases.items())) or "empty"))
    rollout = out["rollout"]
    if rollout:
        print(f"last rollout: {rollout['summary']}" + (f" — {rollout['reason']}"
                                                       if rollout["reason"] else ""))
    for name, target in out["targets"].items():
        print(f"target {name} ({target['kind']}, {target['location']}):")
        ingress = target.get("ingress")
        if ingress:
            print(f"  ingress {ingress['url']}: champion v{ingress['champion']}, candidate "
                  f"{'v' + str(ingress['candidate']) if ingress['candidate'] else '-'}, "
                  f"weight {ingress['weight']}%")
        elif target.get("cluster") is not None:
            print(f"  cluster {target['cluster']}")
        if target.get("last_manifest"):
            print(f"  last manifest {target['last_manifest']}")
        lock = target.get("lock")
        print(f"  lock {'free' if not lock else lock['holder'] + (' (stale: ' + lock['stale'] + ')' if lock['stale'] else '')}")
    print(f"audit log {out['audit']['log']}, last entries:")
    for entry in out["audit"]["last"]:
        print(f"  #{entry['seq']} {entry['time']} {entry['action']} {entry.get('target') or ''} "
              f"{entry['result']}")
