"""Benchmark: the edge_cases suite's throughput against plain predict calls.

Runs the suite against the demo's boosted-trees pipeline (HistGradientBoosting on the
synthetic credit data, in-process skops model), records every frame the suite hands to the
model, then replays exactly those frames as plain ``predict`` / ``predict_proba`` calls
in the same thread setting (one OpenMP thread, as the suite uses). Prints examples per
second both ways and the ratio suite time / plain predict time (target: < 2).

    .venv/bin/python benchmarks/bench_edge_cases.py [--examples 100] [--seed 1]

A plain script, not a test: figures depend on the machine (and its load).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any


def _project(root: Path, examples: int) -> Path:
    import skops.io as sio

    from certify.demo import (
        FEATURES,
        SEED,
        TARGET,
        candidate_model,
        make_credit_data,
        render_policy,
    )

    ref = make_credit_data(3000, SEED)
    ev = make_credit_data(500, SEED + 100)
    model = candidate_model().fit(ref[FEATURES], ref[TARGET])
    (root / "data").mkdir(parents=True)
    ref.to_csv(root / "data" / "reference.csv", index=False)
    ev.to_csv(root / "data" / "evaluation.csv", index=False)
    data = sio.dumps(model)
    (root / "candidate.skops").write_bytes(data)
    policy = {
        "seed": 1,
        "candidate": {"path": "candidate.skops",
                      "trusted_types": sorted(sio.get_untrusted_types(data=data))},
        "data": {"reference": "data/reference.csv", "evaluation": "data/evaluation.csv",
                 "target": TARGET},
        "suites": {"edge_cases": {"max_examples": examples, "time_budget_s": 600,
                                  "on_nan": "predict", "invariant": ["sex"]}},
    }
    (root / "certify.toml").write_text(render_policy(policy))
    return root / "certify.toml"


def _replay(frames: list[tuple[str, Any]], model: Any) -> tuple[float, float]:
    """Plain calls on fresh copies of the recorded frames, in a thread limited like the
    suite's worker."""
    elapsed: list[tuple[float, float]] = []
    frames = [(method, frame.copy(deep=True)) for method, frame in frames]

    def work() -> None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="openmp"):
            start, cpu = time.perf_counter(), time.process_time()
            for method, frame in frames:
                fn = model.predict if method == "predict" else model.predict_proba
                with contextlib.suppress(Exception):  # rejected inputs raise here too
                    fn(frame)
            elapsed.append((time.perf_counter() - start, time.process_time() - cpu))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return elapsed[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100, help="max_examples per check")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="plain replays (median taken)")
    args = parser.parse_args(argv)

    from certify.policy import load_policy
    from certify.session import CertifySession

    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        policy_path = _project(Path(tmp), args.examples)
        session = CertifySession(load_policy(policy_path), seed=args.seed)
        session.setup()
        state = session.suites["edge_cases"]
        model = session.candidate
        frames: list[tuple[str, Any]] = []
        predict, predict_proba = model.predict, model.predict_proba
        assert predict_proba is not None

        # A copy taken before the call: the replay must not profit from pandas caches the
        # suite's call warmed up. Copying is the benchmark's cost, not the suite's: its wall
        # and CPU time are measured and taken off the suite's figures.
        recording = [0.0, 0.0]

        def record(method: str, frame: Any) -> None:
            start, cpu = time.perf_counter(), time.thread_time()
            frames.append((method, frame.copy(deep=True)))
            recording[0] += time.perf_counter() - start
            recording[1] += time.thread_time() - cpu

        def rec_predict(frame: Any) -> Any:
            record("predict", frame)
            return predict(frame)

        def rec_proba(frame: Any) -> Any:
            record("predict_proba", frame)
            return predict_proba(frame)

        model.predict = rec_predict  # type: ignore[method-assign]
        model.predict_proba = rec_proba
        start, cpu = time.perf_counter(), time.process_time()
        result = state.suite.run(state.ctx)
        suite_s, suite_cpu = time.perf_counter() - start, time.process_time() - cpu
        suite_s -= recording[0]
        suite_cpu -= recording[1]
        model.predict, model.predict_proba = predict, predict_proba  # type: ignore[method-assign]
        examples = sum(p.examples + p.shrink_examples for p in result.properties.values())
        failures = [cid for cid, p in result.properties.items() if p.outcome != "passed"]
        replays = [_replay(frames, model) for _ in range(args.repeat)]
        plain = [wall for wall, _ in replays]
        plain_s = statistics.median(plain)
        plain_cpu = statistics.median(c for _, c in replays)
        session.abort()
    model_in_suite = sum(result.call_seconds) - recording[0]
    print(f"machine load (1 min): {_load()}")
    print(f"checks: {len(result.properties)}, not passed: {failures or 'none'}")
    print(f"recording the inputs (taken off the suite's figures): {recording[0]:.3f} s wall, "
          f"{recording[1]:.3f} s CPU")
    print(f"examples judged: {examples}, model calls: {len(frames)}, rows scored: "
          f"{sum(len(f) for _, f in frames)}")
    print(f"suite:  {suite_s:8.3f} s  {examples / suite_s:8.1f} examples/s "
          f"(model time inside the suite {model_in_suite:.3f} s)")
    print(f"plain:  {plain_s:8.3f} s  {examples / plain_s:8.1f} examples/s "
          f"(median of {args.repeat}: {', '.join(f'{p:.3f}' for p in plain)})")
    print(f"CPU time (all threads): suite {suite_cpu:.3f} s, plain {plain_cpu:.3f} s")
    print(f"wall-clock ratio (suite / plain predict): {suite_s / plain_s:.2f}x "
          f"(suite / model time inside the suite: {suite_s / model_in_suite:.2f}x)")
    print(f"total ratio, CPU time (suite / plain predict): {suite_cpu / plain_cpu:.2f}x "
          "(CPU time is not inflated by other processes on a shared machine)")
    print(f"harness overhead, CPU time ((suite - plain) / plain predict): "
          f"{(suite_cpu - plain_cpu) / plain_cpu:.2f}x (target < 2x)")
    return 0


def _load() -> str:
    try:
        import os

        return f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    except OSError:
        return "n/a"


if __name__ == "__main__":
    warnings.simplefilter("ignore")  # edge inputs make the model warn (overflow, NaN)
    sys.exit(main())
