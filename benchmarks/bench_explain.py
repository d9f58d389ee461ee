"""Benchmark of the explain suite (a script, not a test).

    .venv/bin/python benchmarks/bench_explain.py [--rows 200] [--background 50] [--repeat 3]
        [--agnostic-rows 40]

Target (issue 18): the suite within 1.2x of calling SHAP directly on the same sample. Three cases,
each timed in alternating rounds in one process (median of ``--repeat``), after SHAP is imported
and the models' worker processes are started (costs a run pays once, whoever comes first):

1. **The demo pair** (the demo's data, 3,000 reference and 2,000 evaluation rows; its boosted
   pipeline as the candidate and its logistic pipeline as the baseline), the suite's default
   settings. "suite" is ``ExplainSuite.run`` in process: stratified sampling, explainer choice
   (column-group probe, TreeExplainer construction, linear verification), both explanations,
   both models' own outputs through their worker processes (additivity), bootstrap intervals,
   rankings, the masked disagreeing rows and the artifact. "SHAP directly" is what a user would
   write on the same rows and background: the pipelines' preprocessing applied, SHAP's
   ``TreeExplainer`` (interventional, ``model_output="probability"``, its default call, which
   checks additivity against the model as the suite does) on the boosted model and SHAP's
   ``LinearExplainer`` on the logistic one (its own space, the log-odds: the cheapest direct
   call; the suite explains the probability, exactly, which costs more).
2. **Tree only** (the demo's boosted candidate, no baseline): the suite vs SHAP's
   ``TreeExplainer`` default call alone, like for like (the pair's linear part does more work
   in the suite than ``LinearExplainer``: the probability, exactly, not the log-odds).
3. **Model-agnostic** (a wrapper SHAP cannot read, scoring as the demo's candidate; no baseline):
   the suite's permutation explainer (model queries through the isolated worker process) vs
   SHAP's ``PermutationExplainer`` called directly on the in-process estimator with the same
   masker, background, rows and ``max_evals``.

Prints one line per case with both times and the ratio, then a JSON line; nothing is written
into the source tree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def session_for(root: Path, ref: pd.DataFrame, ev: pd.DataFrame, candidate: Any,
                baseline: Any, explain: dict[str, Any]) -> Any:
    from certify.policy import load_policy
    from certify.session import CertifySession
    from tests.projects import make_project

    path = make_project(root, reference=ref, evaluation=ev, candidate=candidate,
                        baseline=baseline, suites={"explain": explain},
                        extra={"protected_attributes": ["sex"], "sensitive_columns": ["income"]})
    session = CertifySession(load_policy(path), out_dir=root / "out")
    session.setup()
    return session


def time_suite(session: Any) -> float:
    from certify.suites.explain import plan

    # a run in a fresh process: nothing of an earlier round kept
    plan._TREE_EXPLAINERS.clear()
    plan._MADE.clear()
    state = session.suites["explain"]
    start = time.perf_counter()
    state.suite.run(state.ctx)
    return time.perf_counter() - start


def direct_pair(candidate: Any, baseline: Any | None, rows: pd.DataFrame,
                background: pd.DataFrame) -> float:
    import shap
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        prep, final = candidate[:-1], candidate[-1]
        tree = shap.TreeExplainer(final, data=prep.transform(background),
                                  feature_perturbation="interventional",
                                  model_output="probability")
        tree.shap_values(prep.transform(rows))  # SHAP's default call: additivity checked too
        if baseline is None:
            return time.perf_counter() - start
        prep, final = baseline[:-1], baseline[-1]
        made = prep.transform(background)
        linear = shap.LinearExplainer(final, shap.maskers.Independent(made,
                                                                      max_samples=len(made)))
        linear.shap_values(prep.transform(rows))
        return time.perf_counter() - start


def direct_permutation(model: Any, rows: pd.DataFrame, background: pd.DataFrame,
                       evals: int) -> float:
    import shap
    from threadpoolctl import threadpool_limits

    from certify.suites.explain.sample import Codec

    codec = Codec.fit(pd.concat([rows, background], ignore_index=True))

    def score(codes: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_proba(codec.decode(codes))[:, 1], dtype=float)

    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        explainer = shap.PermutationExplainer(
            score, shap.maskers.Independent(codec.encode(background),
                                            max_samples=len(background)), seed=0)
        explainer(codec.encode(rows), max_evals=evals, silent=True)
        return time.perf_counter() - start


def interleaved(repeat: int, suite: Any, direct: Any) -> tuple[float, float]:
    s, d = [], []
    for _ in range(repeat):
        s.append(suite())
        d.append(direct())
    return statistics.median(s), statistics.median(d)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200, help="rows explained (default 200)")
    parser.add_argument("--background", type=int, default=50, help="background rows (default 50)")
    parser.add_argument("--agnostic-rows", type=int, default=40,
                        help="rows explained in the model-agnostic case (default 40)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (median kept)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from threadpoolctl import threadpool_limits

    from certify import demo
    from certify.demo.models import load_sabotage
    from certify.suites.explain.engine import draw, evals_per_row
    from certify.suites.explain.plan import import_shap

    import_shap()  # both sides use SHAP: its import is not part of either
    ref = demo.make_credit_data(demo.N_REFERENCE, demo.SEED)
    ev = demo.make_credit_data(demo.N_EVALUATION, demo.SEED + 100)
    with threadpool_limits(1):
        candidate = demo.candidate_model().fit(ref[demo.FEATURES], ref[demo.TARGET])
        baseline = demo.baseline_model().fit(ref[demo.FEATURES], ref[demo.TARGET])
    wrapped = load_sabotage("slow", candidate, delay_s=0.0)  # SHAP cannot read it: agnostic
    out: dict[str, Any] = {"rows": args.rows, "background": args.background,
                           "agnostic_rows": args.agnostic_rows, "repeat": args.repeat,
                           "cpus": os.cpu_count()}
    tmp = Path(tempfile.mkdtemp(prefix="bench-explain-"))
    try:
        explain = {"sample_size": args.rows, "background_size": args.background,
                   "executor": "inprocess"}
        session = session_for(tmp / "pair", ref, ev, candidate, baseline, explain)
        _, rows, background = draw(session.suites["explain"].ctx)
        suite_s, direct_s = interleaved(args.repeat, lambda: time_suite(session),
                                        lambda: direct_pair(candidate, baseline, rows, background))
        session.abort()
        out["pair"] = {"suite_s": suite_s, "shap_s": direct_s, "ratio": suite_s / direct_s}
        print(f"demo pair (tree + linear), {args.rows} rows x {args.background} background: "
              f"suite {suite_s:.2f} s, SHAP directly {direct_s:.2f} s, ratio "
              f"{suite_s / direct_s:.2f} (target <= 1.2)", flush=True)

        session = session_for(tmp / "tree", ref, ev, candidate, None, explain)
        suite_s, direct_s = interleaved(args.repeat, lambda: time_suite(session),
                                        lambda: direct_pair(candidate, None, rows, background))
        session.abort()
        out["tree"] = {"suite_s": suite_s, "shap_s": direct_s, "ratio": suite_s / direct_s}
        print(f"tree only, {args.rows} rows x {args.background} background: suite "
              f"{suite_s:.2f} s, SHAP directly {direct_s:.2f} s, ratio {suite_s / direct_s:.2f} "
              "(target <= 1.2)", flush=True)

        explain = {"sample_size": args.agnostic_rows, "background_size": args.background,
                   "executor": "inprocess"}
        session = session_for(tmp / "agnostic", ref, ev, wrapped, None, explain)
        _, rows, background = draw(session.suites["explain"].ctx)
        evals = evals_per_row(session.suites["explain"].ctx.settings, len(demo.FEATURES))
        suite_s, direct_s = interleaved(args.repeat, lambda: time_suite(session),
                                        lambda: direct_permutation(wrapped, rows, background,
                                                                   evals))
        session.abort()
        out["agnostic"] = {"suite_s": suite_s, "shap_s": direct_s, "ratio": suite_s / direct_s,
                           "max_evals": evals}
        print(f"model-agnostic (permutation, max_evals {evals}), {args.agnostic_rows} rows x "
              f"{args.background} background: suite {suite_s:.2f} s, SHAP directly "
              f"{direct_s:.2f} s, ratio {suite_s / direct_s:.2f} (target <= 1.2)", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
