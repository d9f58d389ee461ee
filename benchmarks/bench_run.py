"""Whole-run budget (issue 15, item 4): a full ``certify run`` of the issue's workload, timed.

    .venv/bin/python benchmarks/bench_run.py [--runs 3] [--kinds honest noisy]
                                             [--all-suites] [--duration 4]

The workload: a histogram-gradient-boosting candidate behind the wrapper users write (it picks
its columns by name) and a production baseline of the same family and size, 12,000 reference
and 8,000 evaluation rows of the demo's credit data, the six suites the issue names (quality,
drift, validation, edge_cases, adversarial, load) with their default settings, load profiles
steady and spike of ``--duration`` seconds each, ``compare_baseline = true`` and SLOs with 2x
headroom over the model's own latency (as the zoo sets them). ``--all-suites`` adds explain and
privacy.

Kinds: ``honest`` (must be CERTIFIED) and ``noisy`` (the same candidate answering the same row
differently on every call, the broken candidate that used to spend the adversarial suite's whole
budget; it must not be CERTIFIED). Each run is ``certify run`` in a fresh process, timed wall
clock from start to exit; the per-suite times come from the run's report.json. Prints one line
per run, then the median per kind against the targets (honest <= 45 s, broken <= 90 s).
Nothing is written into the source tree.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIX = ["quality", "drift", "validation", "edge_cases", "adversarial", "load"]
TARGET_S = {"honest": 45.0, "noisy": 90.0}


def build(root: Path, kind: str, seed: int, duration: float, all_suites: bool) -> Path:
    """The project in ``root``; returns its policy path."""
    from threadpoolctl import threadpool_limits

    from certify.demo import TARGET, render_policy
    from certify.demo.models import NondeterministicClassifier
    from tests.projects import save_model
    from tests.zoo import ByName, boosted, credit, default_suites, features, measured_slo

    ref, ev = credit(12_000, seed), credit(8_000, seed + 100)
    columns = features(ref)
    with threadpool_limits(1):
        candidate = ByName(boosted(columns), columns).fit(ref[columns], ref[TARGET])
        production = boosted(columns)
        production.set_params(model__learning_rate=0.1, model__random_state=3)
        baseline = ByName(production, columns).fit(ref[columns], ref[TARGET])
    if kind == "noisy":
        noisy = NondeterministicClassifier(candidate, noise=0.3)
        noisy.classes_, noisy.feature_names_in_ = candidate.classes_, columns
        candidate = noisy
    (root / "data").mkdir(parents=True)
    ref.to_csv(root / "data" / "reference.csv", index=False)
    ev.to_csv(root / "data" / "evaluation.csv", index=False)
    suites = default_suites("classification", measured_slo(candidate, ev[columns]))
    if not all_suites:
        suites = {name: suites[name] for name in SIX}
    suites["load"].update({"profiles": ["steady", "spike"], "duration_s": duration,
                           "compare_baseline": True})
    policy: dict[str, Any] = {
        "seed": seed, "task": "classification", "sensitive_columns": ["income"],
        "protected_attributes": ["sex"],
        "candidate": {"path": "models/candidate.skops",
                      "trusted_types": save_model(candidate, root / "models" / "candidate.skops")},
        "baseline": {"path": "models/baseline.skops",
                     "trusted_types": save_model(baseline, root / "models" / "baseline.skops")},
        "data": {"reference": "data/reference.csv", "evaluation": "data/evaluation.csv",
                 "target": TARGET},
        "suites": suites,
    }
    path = root / "certify.toml"
    path.write_text(render_policy(policy))
    return path


def run_once(policy: Path, out: Path) -> dict[str, Any]:
    certify = Path(sys.executable).with_name("certify")
    # the models are instances of tests.zoo.ByName: the run (and its worker processes) import it
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    start = time.perf_counter()
    proc = subprocess.run([str(certify), "run", "--policy", str(policy), "--out", str(out)],
                          cwd=policy.parent, capture_output=True, text=True, timeout=900, env=env)
    wall = time.perf_counter() - start
    found = sorted(out.glob("*/report.json"))  # the run's own folder under --out
    report_path = found[-1] if found else out / "report.json"
    if not report_path.is_file():
        raise SystemExit(f"bench_run: no report.json (exit {proc.returncode}):\n"
                         f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    report = json.loads(report_path.read_text())
    not_passed = sorted(f"{e['id']}={e['status']}" for e in report["evidence"]
                        if e["status"] not in ("passed", "info"))
    return {"wall_s": round(wall, 1), "exit": proc.returncode,
            "decision": report["verdict"]["decision"],
            "suites": {n: s["duration_s"] for n, s in report["suites"].items()},
            "not_passed": not_passed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kinds", nargs="+", choices=["honest", "noisy"],
                        default=["honest", "noisy"])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per load profile")
    parser.add_argument("--all-suites", action="store_true", help="add explain and privacy")
    args = parser.parse_args()

    failures = 0
    summary: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="certify-bench-run-") as tmp:
        for kind in args.kinds:
            policy = build(Path(tmp) / kind, kind, args.seed, args.duration, args.all_suites)
            rows = []
            for i in range(args.runs):
                row = run_once(policy, Path(tmp) / kind / f"out-{i}")
                rows.append(row)
                suites = " ".join(f"{n} {t:.1f}" for n, t in row["suites"].items())
                print(f"{kind} run {i + 1}: {row['decision']} in {row['wall_s']} s wall "
                      f"(exit {row['exit']}); suites: {suites}; not passed: "
                      f"{', '.join(row['not_passed']) or 'none'}", flush=True)
            median = statistics.median(r["wall_s"] for r in rows)
            expected_ok = all((r["decision"] == "CERTIFIED") == (kind == "honest") for r in rows)
            within = median <= TARGET_S[kind] or args.all_suites
            failures += (not expected_ok) + (not within)
            per_suite = {n: round(statistics.median(r["suites"].get(n, 0.0) for r in rows), 1)
                         for n in rows[0]["suites"]}
            summary[kind] = {"median_wall_s": median, "target_s": TARGET_S[kind],
                             "decisions": [r["decision"] for r in rows],
                             "median_suite_s": per_suite}
            print(f"{kind}: median {median:.1f} s wall over {args.runs} runs (target <= "
                  f"{TARGET_S[kind]:.0f} s{'' if within else ': MISSED'}); decisions "
                  f"{summary[kind]['decisions']}; median per suite {per_suite}", flush=True)
    print(json.dumps(summary, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
