"""Benchmark of the validation suite (a script, not a test).

    .venv/bin/python benchmarks/bench_validation.py [--rows 10000 100000 1000000]
        [--sample-size 1000] [--raw]

1. Scale: the credit-risk data of the demo (9 features) with ``--rows`` reference and
   evaluation rows each. Each size runs in its own subprocess (so that peak memory is that
   size's): a project is written (models fitted on 3,000 rows), a :class:`CertifySession`
   with the validation suite only is set up and run. Printed: the suite's run time
   (``ValidationSuite.run``: deepchecks import, stratified sampling, every default check for
   the candidate and the baseline, the comparison), the set-up time (reading the CSVs) and the
   subprocess's peak RSS.

2. ``--raw``: the reference is deepchecks used directly on the same ``--sample-size`` rows,
   the way its documentation shows: ``data_integrity()``, ``train_test_validation()`` and
   ``model_evaluation()`` suites with their defaults (its own permutation importance, joblib
   workers, displays) on the candidate. Printed: the suite's time over deepchecks' own on the
   same rows (the suite runs more, both models, and still should be far below 1x).

Prints a table and a JSON line; nothing is written into the source tree.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def one_size(rows: int, sample_size: int) -> dict[str, Any]:

    from certify.demo import (
        FEATURES,
        SEED,
        TARGET,
        baseline_model,
        candidate_model,
        make_credit_data,
    )
    from certify.policy import load_policy
    from certify.session import CertifySession
    from tests.projects import make_project

    ref = make_credit_data(rows, SEED)
    ev = make_credit_data(rows, SEED + 100)
    fit = ref.iloc[:3000]
    candidate = candidate_model().fit(fit[FEATURES], fit[TARGET])
    baseline = baseline_model().fit(fit[FEATURES], fit[TARGET])
    with tempfile.TemporaryDirectory() as tmp:
        policy = make_project(Path(tmp), reference=ref, evaluation=ev, candidate=candidate,
                              baseline=baseline,
                              suites={"validation": {"sample_size": sample_size}})
        del ref, ev
        start = time.perf_counter()
        session = CertifySession(load_policy(policy))
        session.setup()
        setup_s = time.perf_counter() - start
        session.run_all()
        state = session.suites["validation"]
        assert state.error is None, state.error
        statuses = sorted({e.status.value for e in session.evidence.values()})
        result = state.result
        session.abort()
    return {"rows": rows, "sample_size": sample_size, "setup_s": round(setup_s, 2),
            "suite_s": round(state.duration_s, 2), "import_s": result.import_s,
            "records": len(session.evidence), "statuses": statuses,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def raw_deepchecks(sample_size: int) -> dict[str, Any]:
    """deepchecks' default suites used directly on the same rows the suite samples."""
    import warnings

    warnings.simplefilter("ignore")
    from certify.demo import FEATURES, SEED, TARGET, candidate_model, make_credit_data

    ref = make_credit_data(max(sample_size, 3000), SEED)
    ev = make_credit_data(sample_size, SEED + 100)
    candidate = candidate_model().fit(ref.iloc[:3000][FEATURES], ref.iloc[:3000][TARGET])
    ref = ref.sample(sample_size, random_state=0) if len(ref) > sample_size else ref
    ev.index = ev.index + len(ref) + 10**6
    start = time.perf_counter()
    import deepchecks.tabular as dct
    from deepchecks.tabular.suites import data_integrity, model_evaluation, train_test_validation

    import_s = time.perf_counter() - start
    cat = ["home_ownership", "purpose", "sex"]
    train = dct.Dataset(ref, label=TARGET, cat_features=cat)
    test = dct.Dataset(ev, label=TARGET, cat_features=cat)
    times = {}
    for name, run in (("data_integrity", lambda: data_integrity().run(test)),
                      ("train_test_validation", lambda: train_test_validation().run(train, test)),
                      ("model_evaluation",
                       lambda: model_evaluation().run(train, test, model=candidate))):
        t0 = time.perf_counter()
        run()
        times[name] = round(time.perf_counter() - t0, 2)
    return {"sample_size": sample_size, "import_s": round(import_s, 2), "suites_s": times,
            "total_s": round(import_s + sum(times.values()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--sample-size", type=int, default=1000)
    parser.add_argument("--raw", action="store_true", help="also time deepchecks used directly")
    parser.add_argument("--child", type=str, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, value = args.child.split(":")
        out = one_size(int(value), args.sample_size) if kind == "size" else raw_deepchecks(
            args.sample_size)
        print("RESULT " + json.dumps(out))
        return

    def child(spec: str) -> dict[str, Any]:
        done = subprocess.run([sys.executable, __file__, "--child", spec, "--sample-size",
                               str(args.sample_size)], capture_output=True, text=True, check=False)
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            raise SystemExit(f"{spec} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        return dict(json.loads(lines[-1][len("RESULT "):]))

    results = [child(f"size:{rows}") for rows in args.rows]
    print(f"{'rows (each)':>12} {'sample':>7} {'set-up s':>9} {'suite s':>8} {'import s':>9} "
          f"{'records':>8} {'peak RSS MB':>12}")
    for r in results:
        print(f"{r['rows']:>12,} {r['sample_size']:>7} {r['setup_s']:>9} {r['suite_s']:>8} "
              f"{r['import_s']:>9} {r['records']:>8} {r['peak_rss_mb']:>12}")
    summary: dict[str, Any] = {"sizes": results}
    if args.raw:
        raw = child("raw:0")
        same = min(results, key=lambda r: r["rows"])
        ratio = same["suite_s"] / raw["total_s"]
        print(f"deepchecks' default suites directly on {raw['sample_size']} rows (candidate only): "
              f"{raw['total_s']} s (import {raw['import_s']} s, {raw['suites_s']}); "
              f"the suite (both models): {same['suite_s']} s = {ratio:.2f}x")
        summary["raw"] = raw
        summary["suite_over_raw"] = round(ratio, 3)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
