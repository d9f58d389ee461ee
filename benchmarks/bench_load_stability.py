"""Load-suite decisions that hold (issue 15, item 2): three proofs, ``--runs`` runs each.

Every run is a real certification of the load suite alone (``CertifySession``: the models
isolated, served by the suite's server, Locust on Ray, interleaved rounds, bootstrap
intervals), with the suite's **default** margins, confidence and extensions. The model is the
demo's gradient-boosted pipeline (a ``HistGradientBoostingClassifier`` behind a
``ColumnTransformer``, the issue's workload).

A. **The same model file as candidate and baseline** (``compare_baseline = true``):
   ``load::p95_regression[steady]`` must never fail (target: 0 of N).
B. **A candidate that is the same model plus a fixed extra delay per call** equal to the
   model's own median single-row ``predict_proba`` latency (measured here first; about twice
   as slow served on a quiet machine, where the served latency is the model's), against the
   honest baseline: the regression must fail every time (target: N of N). On a busy machine
   the served latency is mostly CPU contention and the same delay adds far less (measured on
   the shared 2 cores: +35-45 % in p95); ``--delay served`` makes the delay the honest model's
   served p50 instead.
C. **The honest model under SLOs with 2x headroom**: a calibration run measures its p95 under
   each profile; the p95 SLO of each profile is then twice that; every ``p95_ms`` check must
   pass in every run (target: N of N).

Usage (from the repository root; minutes: about 20-40 s a run on 2 cores)::

    python benchmarks/bench_load_stability.py [--runs 10] [--proof A B C]
        [--profiles steady spike] [--duration 5]

Prints one line per run and a summary; nothing is written into the source tree.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any


def _save(model: Any, path: Path) -> list[str]:
    import skops.io as sio

    data = sio.dumps(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return sorted(sio.get_untrusted_types(data=data))


def _project(root: Path, candidate: Any, baseline: Any | None, ref: Any, ev: Any,
             load: dict[str, Any]) -> Path:
    from certify.demo import TARGET, render_policy

    (root / "data").mkdir(parents=True, exist_ok=True)
    ref.to_csv(root / "data" / "reference.csv", index=False)
    ev.to_csv(root / "data" / "evaluation.csv", index=False)
    policy: dict[str, Any] = {
        "seed": 1234,
        "candidate": {"path": "models/candidate.skops",
                      "trusted_types": _save(candidate, root / "models" / "candidate.skops")},
        "data": {"reference": "data/reference.csv", "evaluation": "data/evaluation.csv",
                 "target": TARGET},
        "suites": {"load": load},
    }
    if baseline is not None:
        policy["baseline"] = {"path": "models/baseline.skops",
                              "trusted_types": _save(baseline, root / "models" / "baseline.skops")}
    path = root / "certify.toml"
    path.write_text(render_policy(policy))
    return path


def _certify(policy: Path) -> tuple[dict[str, Any], Any, float]:
    """One run of the load suite: its evidence by id, its result and its wall time."""
    from certify.policy import load_policy
    from certify.session import CertifySession

    start = time.monotonic()
    session = CertifySession(load_policy(policy))
    session.setup()
    try:
        session.run_all()
        state = session.suites["load"]
        if state.error:
            raise SystemExit(f"the load suite errored: {state.error}")
        return dict(session.evidence), state.result, time.monotonic() - start
    finally:
        session.abort()


def _median_call_s(model: Any, frame: Any) -> float:
    from threadpoolctl import threadpool_limits

    times = []
    with threadpool_limits(limits=1):
        rows = [frame.iloc[[i]] for i in range(min(len(frame), 50))]
        for _ in range(4):
            for row in rows:
                start = time.perf_counter()
                model.predict_proba(row)
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--proof", nargs="+", choices=["A", "B", "C"], default=["A", "B", "C"])
    parser.add_argument("--profiles", nargs="+", default=["steady", "spike"],
                        help="profiles of proof C (A and B compare under steady)")
    parser.add_argument("--duration", type=float, default=None,
                        help="duration_s of each profile (default: the suite's)")
    parser.add_argument("--delay", choices=["model", "served"], default="model",
                        help="B's extra delay per call: the model's own median single-row "
                             "predict_proba time (the issue's definition; about twice as slow "
                             "on a quiet machine), or the honest model's served p50 under "
                             "steady load (about twice as slow or more on any machine)")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    from certify.demo import FEATURES, SEED, TARGET, candidate_model, make_credit_data
    from certify.demo.models import load_sabotage
    from certify.raycluster import ensure_ray

    ref = make_credit_data(3000, SEED)
    ev = make_credit_data(1000, SEED + 100)
    with threadpool_limits(limits=1, user_api="openmp"):
        honest = candidate_model().fit(ref[FEATURES], ref[TARGET])
    extra: dict[str, Any] = {} if args.duration is None else {"duration_s": args.duration}
    started = time.monotonic()
    for attempt in range(6):  # a busy shared machine can time Ray's start-up out
        try:
            ensure_ray()
            break
        except Exception as exc:  # noqa: BLE001
            import ray

            ray.shutdown()
            print(f"Ray did not start ({exc}); retrying", flush=True)
            if attempt == 5:
                raise
            time.sleep(20)
    print(f"Ray started in {time.monotonic() - started:.1f} s; {args.runs} runs per proof; "
          f"default margins (the suite's LoadSettings), {json.dumps(extra) or 'default'} "
          f"profile settings", flush=True)
    summary: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-stability-") as name:
        tmp = Path(name)
        if "A" in args.proof or "B" in args.proof:
            compare = {"profiles": ["steady"], "compare_baseline": True, **extra}
            cases = []
            if "A" in args.proof:
                cases.append(("A", "same model file as candidate and baseline", honest, "fail", 0))
            if "B" in args.proof:
                if args.delay == "model":
                    delay, whose = _median_call_s(honest, ev[FEATURES]), "its own median call"
                else:
                    policy = _project(tmp / "B0", honest, None, ref, ev,
                                      {"profiles": ["steady"], **extra})
                    _, result, _ = _certify(policy)
                    delay = result.runs[("candidate", "steady")].latency_ms["p50"] / 1000.0
                    whose = "its served p50 under steady load"
                slow = load_sabotage("slow", honest, delay_s=delay)
                cases.append(("B", f"candidate + {delay * 1e3:.2f} ms per call ({whose})",
                              slow, "fail", args.runs))
            for tag, what, cand, outcome, target in cases:
                policy = _project(tmp / tag, cand, honest, ref, ev, compare)
                decisions: Counter[str] = Counter()
                took = []
                for i in range(args.runs):
                    evidence, result, wall = _certify(policy)
                    took.append(wall)
                    record = evidence["load::p95_regression[steady]"]
                    found = result.regressions.get("steady", {})
                    decisions[found.get("decision", record.status.value)] += 1
                    print(f"  {tag} run {i + 1}: {record.status.value:8s} "
                          f"p95 {record.metrics.get('candidate_p95_ms')} vs "
                          f"{record.metrics.get('baseline_p95_ms')} ms, difference interval "
                          f"{record.metrics.get('difference_ci_ms')}, allowance "
                          f"{record.metrics.get('allowance_ms')}, pairs "
                          f"{record.metrics.get('pairs')}, runs {record.metrics.get('runs')} "
                          f"({wall:.0f} s)", flush=True)
                summary.append(f"{tag}. {what}: p95_regression {outcome}ed in "
                               f"{decisions[outcome]} of {args.runs} (target {target}); "
                               f"decisions {dict(decisions)}; {statistics.median(took):.0f} s "
                               f"a run, {sum(took):.0f} s in all")
        if "C" in args.proof:
            base: dict[str, Any] = {"profiles": list(args.profiles), **extra}
            policy = _project(tmp / "C0", honest, None, ref, ev, base)
            _, result, wall = _certify(policy)
            measured = {p: result.runs[("candidate", p)].latency_ms["p95"] for p in args.profiles}
            print(f"  C calibration ({wall:.0f} s): p95 {measured} ms; SLOs at twice that",
                  flush=True)
            slo = {p: {"p95_ms": {"fail": round(2 * v, 3)}} for p, v in measured.items()}
            policy = _project(tmp / "C", honest, None, ref, ev,
                              {**base, "profile_thresholds": slo})
            passed, took = 0, []
            statuses: Counter[str] = Counter()
            for i in range(args.runs):
                evidence, result, wall = _certify(policy)
                took.append(wall)
                checks = [evidence[f"load::p95_ms[{p}]"] for p in args.profiles]
                statuses.update(c.status.value for c in checks)
                passed += all(c.status.value == "passed" for c in checks)
                print(f"  C run {i + 1}: " + "; ".join(
                    f"{c.id} {c.status.value} {c.metrics.get('p95_ms')} "
                    f"{c.metrics.get('p95_ms_ci')} (fail {slo[p]['p95_ms']['fail']})"
                    for c, p in zip(checks, args.profiles, strict=True)) + f" ({wall:.0f} s)",
                    flush=True)
            summary.append(f"C. honest model, p95 SLOs at 2x its measured p95 "
                           f"({', '.join(args.profiles)}): all passed in {passed} of {args.runs} "
                           f"(target {args.runs}); checks {dict(statuses)}; "
                           f"{statistics.median(took):.0f} s a run, {sum(took):.0f} s in all")
    print("\n".join(["", "summary:", *summary]))
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
