"""Drift checking at scale: the suite's engine against the raw scipy / alibi-detect calls.

    python benchmarks/bench_drift.py [--rows 1000000] [--numeric 16] [--categorical 4]
                                     [--repeat 3] [--ray] [--json OUT]

Data: ``rows`` reference rows and ``rows`` new rows, ``numeric + categorical`` feature
columns (numeric: normal, lognormal, Poisson, uniform; categorical: strings with 3 to 30
categories), two columns shifted. The baseline is fitted once (its time is printed too).

What is compared, on the same new data and the same stored reference samples:

* engine: :func:`certify.suites.drift.engine.detect` (schema check, per-feature tests through
  alibi-detect's ``KSDrift`` / chi-squared on counts, missing-value rates, summaries,
  correction);
* raw scipy: per numeric column ``scipy.stats.ks_2samp(reference_sample, values,
  method="asymp")`` on the non-missing values, per categorical column ``value_counts`` and
  ``scipy.stats.chi2_contingency`` against the reference counts, then Bonferroni: the least
  work that gives the same p-values;
* raw alibi-detect: ``TabularDrift(x_ref).predict(x)`` on arrays already encoded as numbers
  (encoding the string columns is not timed; its time is printed separately).

Times are the best of ``repeat`` interleaved runs (the machine may be shared). Peak memory:
the largest traced Python/numpy allocation during one check (``tracemalloc``), and the
process's peak RSS at the end. With ``--ray``: the engine with ``executor="ray"`` at 1 worker
and at every CPU Ray sees, from memory and from a Parquet file read column by column.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_data(rows: int, numeric: int, categorical: int, seed: int, shift: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for i in range(numeric):
        kind = i % 4
        if kind == 0:
            values = rng.normal(0, 1, rows)
        elif kind == 1:
            values = np.round(rng.lognormal(10, 0.5, rows), 2)
        elif kind == 2:
            values = rng.poisson(4, rows).astype(float)
        else:
            values = rng.uniform(0, 100, rows)
        if shift and i == 1:
            values = values * 1.05
        cols[f"num_{i:02d}"] = values
    for j in range(categorical):
        k = 3 + 9 * j
        p = np.arange(k, 0, -1, dtype=float)
        p /= p.sum()
        values = rng.choice(np.array([f"c{j}_{v}" for v in range(k)], dtype=object), rows, p=p)
        if shift and j == 0:
            values = np.where(rng.random(rows) < 0.02, f"c{j}_new", values)
        cols[f"cat_{j}"] = values
    cols["y"] = rng.integers(0, 2, rows)
    return pd.DataFrame(cols)


def best(fn: Any, repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def traced_peak(fn: Any) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--numeric", type=int, default=16)
    parser.add_argument("--categorical", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference-sample", type=int, default=10_000)
    parser.add_argument("--ray", action="store_true", help="also measure the Ray executor")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()

    from scipy.stats import chi2_contingency, ks_2samp

    from certify.data import infer_schema
    from certify.evidence import Threshold
    from certify.suites.drift.baseline import DetectorParams
    from certify.suites.drift.engine import detect
    from certify.suites.drift.fit import FitOptions, fit_baseline
    from certify.suites.drift.sources import FrameSource, ParquetSource

    t0 = time.perf_counter()
    ref = make_data(args.rows, args.numeric, args.categorical, 1, shift=False)
    new = make_data(args.rows, args.numeric, args.categorical, 2, shift=True)
    gen_s = time.perf_counter() - t0
    schema = infer_schema(ref, target="y")
    options = FitOptions(reference_sample=args.reference_sample, prediction=False, target=False)
    params = DetectorParams(p_value=Threshold(fail=0.01, warn=0.05))
    fit_s, baseline = best(lambda: fit_baseline(ref, schema, sensitive=[], seed=7,
                                                options=options, params=params,
                                                harness_version="bench"), 1)
    refs = {f.name: f for f in baseline.manifest.features}
    numeric = [n for n, f in refs.items() if f.test == "ks"]
    categorical = [n for n, f in refs.items() if f.test == "chi2"]
    samples = {n: baseline.arrays[refs[n].file] for n in numeric if refs[n].file}
    m = len(refs)

    def engine() -> Any:
        return detect(baseline, FrameSource(new))

    def raw_scipy() -> dict[str, float]:
        p = {}
        for name in numeric:
            values = new[name].to_numpy()
            values = values[~np.isnan(values)]
            p[name] = ks_2samp(samples[name], values, method="asymp").pvalue
        for name in categorical:
            counts = new[name].value_counts()
            ref_counts = refs[name].counts or {}
            keys = sorted(set(ref_counts) | set(counts.index))
            table = [[ref_counts.get(k, 0) for k in keys], [int(counts.get(k, 0)) for k in keys]]
            p[name] = chi2_contingency(table)[1]
        return {k: min(1.0, v * m) for k, v in p.items()}

    # alibi-detect TabularDrift on numbers: stack the reference samples (same length) and
    # encode categoricals as integer codes, with the reference rebuilt from the counts.
    enc_start = time.perf_counter()
    codes = {}
    new_cat = []
    for name in categorical:
        cats = sorted(set(refs[name].counts or {}) | set(new[name].unique()))
        codes[name] = {c: i for i, c in enumerate(cats)}
        new_cat.append(new[name].map(codes[name]).to_numpy(dtype=float))
    x_new = np.column_stack([new[n].to_numpy() for n in numeric] + new_cat)
    encode_s = time.perf_counter() - enc_start
    length = min(len(s) for s in samples.values())
    ref_cols = [samples[n][:length] for n in numeric]
    rng = np.random.default_rng(0)
    for name in categorical:
        counts = refs[name].counts or {}
        expanded = np.repeat([codes[name][k] for k in counts], list(counts.values()))
        ref_cols.append(rng.permutation(expanded)[:length].astype(float))
    x_ref = np.column_stack(ref_cols)
    cat_idx = {len(numeric) + i: None for i in range(len(categorical))}

    def raw_alibi() -> Any:
        from alibi_detect.cd import TabularDrift

        return TabularDrift(x_ref, p_val=0.01, categories_per_feature=cat_idx).predict(x_new)

    engine()  # warm-up: imports (alibi-detect), caches
    raw_scipy()
    raw_alibi()
    t_engine, t_scipy, t_alibi = [], [], []
    report = None
    for _ in range(args.repeat):  # interleaved: a noisy neighbour hits all three alike
        t, report = best(engine, 1)
        t_engine.append(t)
        t_scipy.append(best(raw_scipy, 1)[0])
        t_alibi.append(best(raw_alibi, 1)[0])
    assert report is not None
    raw = raw_scipy()
    for name, r in report.features.items():
        assert r.p_adjusted is not None and abs(r.p_adjusted - raw[name]) <= 1e-6 + 1e-5 * raw[name], name
    drifted = sorted(n for n, r in report.features.items()
                     if r.p_adjusted is not None and r.p_adjusted < 0.01)
    peak_engine = traced_peak(engine)
    peak_scipy = traced_peak(raw_scipy)
    figures: dict[str, Any] = {
        "rows": args.rows, "features": m, "numeric": len(numeric), "categorical": len(categorical),
        "reference_sample": args.reference_sample, "repeat": args.repeat,
        "cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0],
        "python": platform.python_version(), "generate_s": round(gen_s, 2),
        "fit_s": round(fit_s, 3), "engine_s": round(min(t_engine), 3),
        "raw_scipy_s": round(min(t_scipy), 3), "raw_alibi_tabular_s": round(min(t_alibi), 3),
        "alibi_encode_s": round(encode_s, 3),
        "overhead_vs_scipy": round(min(t_engine) / min(t_scipy), 3),
        "overhead_vs_alibi": round(min(t_engine) / min(t_alibi), 3),
        "engine_peak_traced_mb": round(peak_engine / 2**20, 1),
        "raw_scipy_peak_traced_mb": round(peak_scipy / 2**20, 1),
        "drifted": drifted,
    }
    print(f"{args.rows:,} rows x {m} features ({len(numeric)} numeric, {len(categorical)} "
          f"categorical), reference sample {args.reference_sample:,}, best of {args.repeat}")
    print(f"  fit baseline        {fit_s:8.3f} s")
    print(f"  engine (inprocess)  {min(t_engine):8.3f} s   peak traced "
          f"{peak_engine / 2**20:7.1f} MiB")
    print(f"  raw scipy           {min(t_scipy):8.3f} s   peak traced "
          f"{peak_scipy / 2**20:7.1f} MiB   overhead {figures['overhead_vs_scipy']:.2f}x")
    print(f"  raw alibi Tabular   {min(t_alibi):8.3f} s   (encoding not timed: {encode_s:.2f} s)"
          f"   overhead {figures['overhead_vs_alibi']:.2f}x")
    print(f"  drifted: {', '.join(drifted)}")

    if args.ray:
        from certify.raycluster import ensure_ray

        try:
            ray = ensure_ray()
        except Exception as exc:  # noqa: BLE001 - a benchmark reports what it could not do
            print(f"  ray: could not start ({type(exc).__name__}: {exc})")
            args.ray = False
    if args.ray:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        tmp = tempfile.TemporaryDirectory(prefix="bench-drift-")
        path = Path(tmp.name) / "new.parquet"
        new.to_parquet(path)
        try:
            detect(baseline, FrameSource(new), executor="ray", workers=cpus)  # warm the workers
            ray_times: dict[str, float] = {}
            for label, source, workers in (("memory_1", FrameSource(new), 1),
                                           (f"memory_{cpus}", FrameSource(new), cpus),
                                           ("parquet_1", ParquetSource(path), 1),
                                           (f"parquet_{cpus}", ParquetSource(path), cpus)):
                ray_times[label] = round(best(lambda s=source, w=workers: detect(
                    baseline, s, executor="ray", workers=w), args.repeat)[0], 3)
        finally:
            tmp.cleanup()
        figures["ray_cpus"] = cpus
        figures["ray_s"] = ray_times
        figures["ray_speedup_memory"] = round(ray_times["memory_1"] / ray_times[f"memory_{cpus}"], 2)
        figures["ray_speedup_parquet"] = round(ray_times["parquet_1"]
                                               / ray_times[f"parquet_{cpus}"], 2)
        print(f"  ray ({cpus} CPUs)       " + "  ".join(f"{k} {v:.3f} s"
                                                      for k, v in ray_times.items()))
        print(f"  ray speed-up vs 1 worker: memory {figures['ray_speedup_memory']:.2f}x, "
              f"parquet {figures['ray_speedup_parquet']:.2f}x")
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(f"  process peak RSS    {figures['peak_rss_mb']:.0f} MiB "
          f"(load average {figures['load_avg_1m']:.1f} on {os.cpu_count()} CPUs)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
