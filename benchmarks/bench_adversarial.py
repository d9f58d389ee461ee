"""Benchmark of the adversarial suite (a script, not a test).

    .venv/bin/python benchmarks/bench_adversarial.py [--rows 200] [--workers 1 2] [--repeat 1]
    .venv/bin/python benchmarks/bench_adversarial.py --black-box [--rows 200] [--repeat 1]
        [--executor inprocess|ray] [--no-fast-path] [--skip-today]

``--black-box`` (issue 15, item 3): black-box adversarial in CI time. The demo's credit data
(3,000 reference and 2,000 evaluation rows, ``certify.demo``), a HistGradientBoosting candidate
(the demo's) and a HistGradientBoosting baseline of other hyperparameters, both attacked with
HopSkipJump on a seeded sample of ``--rows`` rows, under the suite's default settings (age
immutable, as in the demo). One run times the suite with today's algorithm (ART's HopSkipJump,
row by row) and with the new one (lock-step over the rows, :mod:`.lockstep`), in alternating
rounds, and prints both times and both models' robust accuracy (and the largest difference
over the report's curve). Targets: the new suite <= 15 s on 2 cores; robust accuracy within
+-0.02 of today's. The models' worker processes are started (one call each) before timing: that
is the session's cost, paid once per run by whichever suite calls first; on Ray, one untimed
round starts Ray and its workers first.

1. Overhead of the suite against calling the ART attack directly on the same rows
   (target: under 1.2x). The data are six continuous features (no integer or categorical
   columns, no immutable ones), so that the suite's threat model is exactly ART's: box
   constraints in standardised units. Two models:

   * black-box: ``StandardScaler`` + ``HistGradientBoostingClassifier``, HopSkipJump. The
     direct reference is ``HopSkipJump.generate`` on all rows with ART's own initialisation
     and a ``BlackBoxClassifier`` over the final estimator on the standardised rows.
   * white-box: ``StandardScaler`` + ``LogisticRegression``, PGD at every epsilon of the
     curve. The direct reference is ART's ``ProjectedGradientDescent`` over ART's
     ``ScikitlearnLogisticRegression`` on the standardised rows (the scaler's statistics
     are the reference data's, so the two spaces coincide).

   "suite" times ``AdversarialSuite.run`` in process with one worker, including its
   planning (the affine-transform verification), initial-point search, plausibility
   mapping, re-scoring on the real model and artifact writing.

2. Speed-up of the sharded attack: the same black-box run on Ray with 1 worker and with N
   workers (Ray started and warmed up before timing; same numbers asserted).

Prints a table and a JSON line; nothing is written into the source tree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FEATURES = [f"x{i}" for i in range(6)]


def make_data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(FEATURES))) * [1, 2, 5, 0.5, 3, 1] + [0, 10, 50, 1, -5, 2]  # noqa: N806
    z = (X - [0, 10, 50, 1, -5, 2]) / [1, 2, 5, 0.5, 3, 1]
    logit = 1.2 * z[:, 0] - 0.8 * z[:, 1] + 0.6 * np.sin(2 * z[:, 2]) + 0.9 * z[:, 3] * z[:, 4]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(X, columns=FEATURES)
    frame["y"] = y
    return frame


def models(ref: pd.DataFrame) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = ref[FEATURES], ref["y"]  # noqa: N806
    return {
        "hopskipjump": make_pipeline(StandardScaler(), HistGradientBoostingClassifier(
            max_iter=100, random_state=0)).fit(X, y),
        "pgd": make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y),
    }


def session_for(root: Path, model: Any, ref: pd.DataFrame, ev: pd.DataFrame,
                adv: dict[str, Any]) -> Any:
    from certify.policy import load_policy
    from certify.session import CertifySession
    from tests.projects import make_project

    path = make_project(root, candidate=model, baseline=None, reference=ref, evaluation=ev,
                        suites={"adversarial": adv})
    text = path.read_text().replace('target = "default"', 'target = "y"')
    path.write_text(text)
    session = CertifySession(load_policy(path), out_dir=root / "out")
    session.setup()
    return session


def time_suite(session: Any) -> tuple[float, Any]:
    state = session.suites["adversarial"]
    state.suite._prepared.clear()  # planning is part of the suite's cost
    start = time.perf_counter()
    result = state.suite.run(state.ctx)
    return time.perf_counter() - start, result


def direct_hsj(model: Any, ref: pd.DataFrame, rows: pd.DataFrame, adv: dict[str, Any]) -> float:
    from art.attacks.evasion import HopSkipJump
    from art.estimators.classification import BlackBoxClassifier
    from threadpoolctl import threadpool_limits

    scaler, final = model[0], model[-1]
    z = scaler.transform(rows[FEATURES])
    zref = scaler.transform(ref[FEATURES])
    clip = (zref.min(axis=0).astype(np.float32), zref.max(axis=0).astype(np.float32))

    def predict(x: np.ndarray) -> np.ndarray:
        labels = final.predict(x)
        return np.eye(2, dtype=np.float32)[labels]

    classifier = BlackBoxClassifier(predict, (len(FEATURES),), 2, clip_values=clip)
    clean = final.predict(z)
    keep = clean == rows["y"].to_numpy()  # the suite attacks only correctly classified rows
    attack = HopSkipJump(classifier, batch_size=1 << 16, norm=np.inf, max_iter=adv["bb_iterations"],
                         max_eval=adv.get("bb_max_evals", 100), init_eval=adv.get("bb_init_evals", 10),
                         verbose=False)
    np.random.seed(0)
    with threadpool_limits(1):
        start = time.perf_counter()
        attack.generate(x=z[keep].astype(np.float32), y=np.eye(2, dtype=np.float32)[clean[keep]])
        return time.perf_counter() - start


def direct_pgd(model: Any, ref: pd.DataFrame, rows: pd.DataFrame, grid: list[float],
               steps: int) -> float:
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification.scikitlearn import SklearnClassifier
    from threadpoolctl import threadpool_limits

    scaler, final = model[0], model[-1]
    z = scaler.transform(rows[FEATURES])
    zref = scaler.transform(ref[FEATURES])
    classifier = SklearnClassifier(final, clip_values=(zref.min(axis=0), zref.max(axis=0)))
    clean = final.predict(z)
    keep = clean == rows["y"].to_numpy()
    y = np.eye(2, dtype=np.float32)[clean[keep]]
    with threadpool_limits(1):
        start = time.perf_counter()
        for eps in grid:
            attack = ProjectedGradientDescent(classifier, norm=np.inf, eps=eps, eps_step=2.5 * eps / steps,
                                              max_iter=steps, num_random_init=0,
                                              batch_size=int(keep.sum()), verbose=False)
            adv = attack.generate(x=z[keep].astype(np.float32), y=y)
            final.predict(adv)  # the suite re-scores every adversarial row too
        return time.perf_counter() - start


def black_box(args: argparse.Namespace) -> None:
    """Today's HopSkipJump (ART, row by row) vs the lock-step one, on the demo's credit data."""
    import sklearn.ensemble  # noqa: F401 - load OpenMP before limiting its threads
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from threadpoolctl import threadpool_limits

    from certify import demo
    from certify.policy import load_policy
    from certify.session import CertifySession
    from certify.suites.adversarial import engine
    from tests.projects import make_project

    ref = demo.make_credit_data(demo.N_REFERENCE, demo.SEED)
    ev = demo.make_credit_data(demo.N_EVALUATION, demo.SEED + 100)
    X, y = ref[demo.FEATURES], ref[demo.TARGET]  # noqa: N806
    with threadpool_limits(1):
        candidate = demo.candidate_model().fit(X, y)
        baseline = Pipeline([("prep", demo.preprocessor()), ("clf", HistGradientBoostingClassifier(
            max_iter=100, max_leaf_nodes=31, random_state=1))]).fit(X, y)
    adv = {"sample_size": args.rows, "immutable": ["age"], "executor": args.executor,
           "fast_path": not args.no_fast_path}
    tmp = Path(tempfile.mkdtemp(prefix="bench-adv-bb-"))
    try:
        path = make_project(tmp, candidate=candidate, baseline=baseline, reference=ref,
                            evaluation=ev, suites={"adversarial": adv})
        session = CertifySession(load_policy(path), out_dir=tmp / "out")
        session.setup()
        state = session.suites["adversarial"]
        prep = state.suite.prepare(state.ctx)
        for model in (session.candidate, session.baseline):  # start the worker processes
            assert model is not None
            model.predict(prep.block.frame.iloc[:1])
        if args.executor == "ray":  # Ray's start and its workers' imports are not the attack's
            engine.run(state.ctx, prep)
        times: dict[str, list[float]] = {"today": [], "new": []}
        cpu: dict[str, list[float]] = {"today": [], "new": []}
        results: dict[str, Any] = {}
        for _ in range(args.repeat):
            for name, batched in (("today", False), ("new", True))[args.skip_today:]:
                start, start_cpu = time.perf_counter(), time.process_time()
                results[name] = engine.run(state.ctx, prep, batched=batched)
                times[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
                print(f"{name:5s} round: {times[name][-1]:7.2f} s wall, {cpu[name][-1]:7.2f} s CPU "
                      "(this process)", flush=True)
        session.abort()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out: dict[str, Any] = {"rows": args.rows, "cpus": os.cpu_count(), "executor": args.executor,
                           "fast_path": not args.no_fast_path}
    for name in ("today", "new")[args.skip_today:]:
        r = results[name]
        out[name] = {"s": min(times[name]), "cpu_s": min(cpu[name]),
                     **{role: {"robust_accuracy": m.robust_accuracy, "curve": m.curve,
                               "queries": int(m.queries.sum()), "budget": m.budget_reason}
                        for role, m in r.models.items()}}
    if args.skip_today:
        print(f"suite time: new {out['new']['s']:.2f} s (today's algorithm not run)")
        print(json.dumps(out))
        return
    worst = 0.0
    for role in ("candidate", "baseline"):
        a, b = out["today"][role], out["new"][role]
        diffs = [abs(x - y) for x, y in zip(a["curve"], b["curve"], strict=True)
                 if x is not None and y is not None]
        worst = max(worst, *diffs)
        print(f"{role:9s} robust accuracy at epsilon: today {a['robust_accuracy']:.3f}, new "
              f"{b['robust_accuracy']:.3f} (diff {b['robust_accuracy'] - a['robust_accuracy']:+.3f}; "
              f"largest over the curve {max(diffs):.3f}); queries {a['queries']} -> {b['queries']}")
    speedup = out["today"]["s"] / out["new"]["s"]
    print(f"suite time: today {out['today']['s']:.2f} s, new {out['new']['s']:.2f} s "
          f"({speedup:.1f}x faster); target <= 15 s: {'met' if out['new']['s'] <= 15 else 'MISSED'}")
    out["speedup"], out["largest_curve_diff"] = speedup, worst
    print(f"robust accuracy within +-0.02 of today's over the whole curve: "
          f"{'yes' if worst <= 0.02 + 1e-12 else 'NO'} (largest difference {worst:.3f})")
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--black-box", action="store_true",
                        help="today's HopSkipJump vs the lock-step one (issue 15 item 3)")
    parser.add_argument("--executor", choices=["inprocess", "ray"], default="inprocess",
                        help="--black-box: executor of both runs (default inprocess)")
    parser.add_argument("--skip-today", action="store_true",
                        help="--black-box: time only the new algorithm")
    parser.add_argument("--no-fast-path", action="store_true",
                        help="--black-box: every query through the isolated model (DataFrame path)")
    parser.add_argument("--rows", type=int, default=200, help="rows attacked (default 200)")
    parser.add_argument("--pgd-rows", type=int, default=2000, help="rows for the PGD case")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count() or 2])
    parser.add_argument("--repeat", type=int, default=1, help="repeats (best time kept)")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.black_box:
        black_box(args)
        return

    ref, ev = make_data(4000, 1), make_data(max(args.rows, args.pgd_rows), 2)
    fitted = models(ref)
    base = {"epsilon": 0.1, "executor": "inprocess", "bb_iterations": 5, "max_seconds": 3600,
            "max_queries": 100000, "examples": 5}
    out: dict[str, Any] = {"rows": args.rows, "pgd_rows": args.pgd_rows, "cpus": os.cpu_count()}
    tmp = Path(tempfile.mkdtemp(prefix="bench-adv-"))
    try:
        # 1. overhead vs ART directly -----------------------------------------------------
        for attack, n in (("hopskipjump", args.rows), ("pgd", args.pgd_rows)):
            adv = {**base, "sample_size": n, "shard_size": n, "attack": attack}
            session = session_for(tmp / attack, fitted[attack], ref, ev, adv)
            prep = session.suites["adversarial"].suite.prepare(session.suites["adversarial"].ctx)
            rows = ev.iloc[prep.positions]
            grid = sorted({round(0.1 * f, 12) for f in (0.25, 0.5, 1.0, 2.0, 4.0)})
            suite_t, direct_t = [], []
            for _ in range(args.repeat):
                t, result = time_suite(session)
                suite_t.append(t)
                if attack == "hopskipjump":
                    direct_t.append(direct_hsj(fitted[attack], ref, rows, adv))
                else:
                    direct_t.append(direct_pgd(fitted[attack], ref, rows, grid, 10))
            m = result.models["candidate"]
            out[attack] = {"suite_s": min(suite_t), "direct_s": min(direct_t),
                           "ratio": min(suite_t) / min(direct_t), "robust_accuracy": m.robust_accuracy,
                           "attacked_rows": m.attacked, "queries": int(m.queries.sum())}
            print(f"{attack:12s} rows={n:5d} suite={min(suite_t):7.2f}s direct ART={min(direct_t):7.2f}s "
                  f"ratio={min(suite_t) / min(direct_t):.2f}x (robust acc {m.robust_accuracy:.3f})",
                  flush=True)

        # 2. Ray scaling -------------------------------------------------------------------
        if not args.skip_ray:
            from certify.raycluster import ensure_ray

            start = time.perf_counter()
            ensure_ray()
            out["ray_start_s"] = time.perf_counter() - start
            times: dict[int, float] = {}
            numbers: dict[int, Any] = {}
            adv = {**base, "sample_size": args.rows, "shard_size": 10, "executor": "ray"}
            for workers in [0, *args.workers]:  # 0: warm-up (worker processes import ART)
                session = session_for(tmp / f"ray{workers}", fitted["hopskipjump"], ref, ev,
                                      {**adv, "workers": max(workers, max(args.workers))})
                best = float("inf")
                for _ in range(1 if workers == 0 else args.repeat):
                    if workers:
                        session.suites["adversarial"].ctx.settings.workers = workers
                    t, result = time_suite(session)
                    best = min(best, t)
                if workers:
                    times[workers] = best
                    numbers[workers] = (result.models["candidate"].curve,
                                        result.models["candidate"].min_norm.tolist())
                    print(f"ray workers={workers:2d} rows={args.rows} time={best:7.2f}s "
                          f"speed-up={times[args.workers[0]] / best:.2f}x", flush=True)
            same = all(v == numbers[args.workers[0]] for v in numbers.values())
            out["ray"] = {str(w): {"s": t, "speedup": times[args.workers[0]] / t,
                                   "efficiency": times[args.workers[0]] / t / (w / args.workers[0])}
                          for w, t in times.items()}
            out["ray_same_numbers"] = same
            print(f"same numbers for every worker count: {same}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
