"""Deploy-step benchmarks: ratios and overheads measured in one run and printed (no asserts).

1. Deploy overhead outside the configured analysis time, Serve's cold start included: a first
   ``certify deploy run`` on a fresh state folder (embedded Ray started, Serve started, the
   candidate deployed, parity, one 100 % step, promotion), then a second one that reuses the
   running cluster (three canary steps). Overhead = wall time - the steps' analysis time.
   Target: <= 25 s on 2 cores for the cold run.
2. The weighted ingress against the same model served by Ray Serve without it (the version's
   own route on Serve's HTTP proxy): throughput and p50 of the same closed-loop client, in
   interleaved rounds (ingress, direct, ingress, direct, ...), medians compared. Targets:
   throughput >= 0.8x, p50 <= 1.25x.

Usage::

    python benchmarks/bench_deploy.py [--rounds 3] [--seconds 5] [--concurrency 4] [--json]

Builds its own certified project (quality suite only) in a temporary folder and stops the
embedded Ray at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _plan(project: Any, seconds: float) -> Path:
    plan = {
        "name": "bench", "policy": "certify.toml", "steps": [10, 50, 100], "state_dir": "state",
        "analysis": {"duration_s": seconds, "max_requests": 100_000, "rounds": 2,
                     "concurrency": 2, "latency_metric": "p50_ms", "latency_margin": 1.0,
                     "latency_slack_ms": 5.0, "slos": {"error_rate": 0.05}},
        "timeouts": {"start_s": 900.0},
        "data_classes": {"pii": {"locations": ["on_prem"]}},
        "targets": {"onprem": {"kind": "ray_serve", "location": "on_prem",
                               "data_classes": ["pii"]}},
    }
    return project.plan(plan)


def _deploy(plan_path: Path, cert: Path, trust: Path) -> tuple[float, float, Any]:
    from certify.attest.verify import Keyring
    from certify.deploy.plan import load_plan
    from certify.deploy.rollout import deploy
    from certify.policy import load_policy

    plan = load_plan(plan_path)
    policy = load_policy(plan.policy_path, check_files=False)
    started = time.perf_counter()
    result = deploy(plan, policy, cert, Keyring.from_dir(trust))
    wall = time.perf_counter() - started
    analysis = sum(float(s["elapsed_s"]) for s in result.steps)
    return wall, analysis, result


def _phases(log: Path, start_seq: int) -> dict[str, float]:
    """Seconds from each audit entry to the next (from ``start_seq`` on), by action."""
    import datetime as dt

    from certify.deploy.audit import read_entries

    entries = [e for e in read_entries(log) if e["seq"] >= start_seq]
    times = [dt.datetime.fromisoformat(e["time"].replace("Z", "+00:00")) for e in entries]
    out: dict[str, float] = {}
    for entry, start, end in zip(entries[1:], times, times[1:], strict=False):
        key = entry["action"]
        out[key] = round(out.get(key, 0.0) + (end - start).total_seconds(), 2)
    return out


def _closed_loop(url: str, bodies: list[bytes], seconds: float, concurrency: int
                 ) -> tuple[float, float]:
    """Requests per second and p50 (ms) of ``concurrency`` keep-alive clients for ``seconds``."""
    from certify.deploy.traffic import drive

    started = time.perf_counter()
    rounds = drive(url, bodies, rounds=1, max_requests=1_000_000, duration_s=seconds,
                   concurrency=concurrency, timeout_s=30.0, seed=1)
    elapsed = time.perf_counter() - started
    ok = [s.latency_ms for s in rounds[0] if s.ok]
    return len(ok) / elapsed, statistics.median(ok) if ok else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="per throughput round")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--analysis", type=float, default=3.0, help="analysis seconds per step")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from certify.cli import main as cli_main
    from certify.deploy.plan import load_plan
    from certify.deploy.targets.raylocal import load_info
    from certify.deploy.traffic import request_bodies
    from tests.test_deploy_project import certified_project

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="certify-bench-deploy-") as tmp:
        project = certified_project(Path(tmp) / "p")
        second = project.certify_again()
        plan_path = _plan(project, args.analysis)
        try:
            plan = load_plan(plan_path)
            log = plan.state / "audit.jsonl"
            wall, analysis, first = _deploy(plan_path, project.cert, project.trust)
            out["cold"] = {"wall_s": round(wall, 2), "analysis_s": round(analysis, 2),
                           "overhead_s": round(wall - analysis, 2), "target_s": 25.0,
                           "until_each_entry_s": _phases(log, 1)}
            seq = len(log.read_text().splitlines()) + 1
            wall, analysis, again = _deploy(plan_path, second, project.trust)
            out["warm"] = {"wall_s": round(wall, 2), "analysis_s": round(analysis, 2),
                           "overhead_s": round(wall - analysis, 2), "steps": len(again.steps),
                           "until_each_entry_s": _phases(log, seq)}
            info = load_info(plan.state, "onprem")
            assert info is not None
            from certify.deploy.context import DeployContext
            from certify.policy import load_policy

            ctx = DeployContext.open(plan, load_policy(plan.policy_path, check_files=False))
            bodies = request_bodies(ctx.frame(), count=256, rows_per_request=1, seed=1)
            ingress = f"http://127.0.0.1:{info.ingress_port}/"
            direct = f"http://127.0.0.1:{info.http_port}/bench-onprem/v{again.version}"
            _closed_loop(ingress, bodies, 1.0, args.concurrency)  # warm both paths
            _closed_loop(direct, bodies, 1.0, args.concurrency)
            runs: dict[str, list[tuple[float, float]]] = {"ingress": [], "direct": []}
            for _ in range(args.rounds):
                runs["ingress"].append(_closed_loop(ingress, bodies, args.seconds,
                                                    args.concurrency))
                runs["direct"].append(_closed_loop(direct, bodies, args.seconds,
                                                   args.concurrency))
            rps = {k: statistics.median(r for r, _ in v) for k, v in runs.items()}
            p50 = {k: statistics.median(p for _, p in v) for k, v in runs.items()}
            out["ingress"] = {
                "rps": round(rps["ingress"], 1), "direct_rps": round(rps["direct"], 1),
                "throughput_ratio": round(rps["ingress"] / rps["direct"], 3),
                "p50_ms": round(p50["ingress"], 2), "direct_p50_ms": round(p50["direct"], 2),
                "p50_ratio": round(p50["ingress"] / p50["direct"], 3),
                "targets": {"throughput_ratio": ">= 0.8", "p50_ratio": "<= 1.25"},
                "first_version": first.version}
        finally:
            cli_main(["deploy", "stop", str(plan_path), "--json"])
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        cold, warm, ing = out["cold"], out["warm"], out["ingress"]
        print(f"deploy overhead, cold (Ray + Serve started): {cold['overhead_s']} s outside "
              f"{cold['analysis_s']} s of analysis (wall {cold['wall_s']} s; target <= 25 s)")
        print(f"  seconds before each audit entry: {cold['until_each_entry_s']} (prepare: Ray, "
              "Serve and the candidate started)")
        print(f"deploy overhead, warm ({warm['steps']} steps): {warm['overhead_s']} s outside "
              f"{warm['analysis_s']} s of analysis (wall {warm['wall_s']} s)")
        print(f"ingress vs Serve alone: throughput {ing['rps']} vs {ing['direct_rps']} req/s = "
              f"{ing['throughput_ratio']}x (target >= 0.8); p50 {ing['p50_ms']} vs "
              f"{ing['direct_p50_ms']} ms = {ing['p50_ratio']}x (target <= 1.25)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
