"""Benchmark of the privacy suite (a script, not a test).

    .venv/bin/python benchmarks/bench_privacy.py [--reference 3000] [--evaluation 2000] [--repeat 3]

Overhead of the suite against calling ART directly on the same rows (target: under 1.2x), on
the demo's credit data and its boosted candidate (the ``leaky`` forest with ``--leaky``):

* "direct ART": what one writes with ART alone for the same attacks: the candidate's
  probabilities on the sampled members and non-members (in process), ART's
  ``MembershipInferenceBlackBoxRuleBased`` on them, ART's ``MembershipInferenceBlackBox``
  (gradient boosting, the suite's tree count) fitted and scored on each of the suite's folds,
  and scikit-learn's ROC AUC of each attack.
* "suite": ``PrivacySuite.run`` in a planned session: the model queried through its worker
  process (the default isolation), the same attacks, bootstrap intervals and ROC curves, the
  index of identifying sensitive values (``income``) and the personal-data recognisers on
  every column; then the scan check judged on the run folder.
* "membership": the suite's attack engine alone (``attack_model``, model in process).

ART, phonenumbers and stdnum are imported (and the suite run once) before timing. The best of
``--repeat`` runs is kept. Prints a table and a JSON line; nothing is written into the source
tree.
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


def direct_art(model: Any, rows: Any, y: np.ndarray, truth: np.ndarray, folds: list[np.ndarray],
               trees: int) -> dict[str, float]:
    """The same attacks with ART alone; returns each attack's ROC AUC."""
    from art.attacks.inference.membership_inference import (
        MembershipInferenceBlackBox,
        MembershipInferenceBlackBoxRuleBased,
    )
    from art.estimators.classification import BlackBoxClassifier
    from sklearn.metrics import roc_auc_score

    proba = model.predict_proba(rows)
    estimator = BlackBoxClassifier(lambda x: proba[x[:, 0].astype(int)], (1,), proba.shape[1])
    index = np.arange(len(rows), dtype=float).reshape(-1, 1)
    rule = MembershipInferenceBlackBoxRuleBased(estimator).infer(index, y).ravel()
    scores = np.empty(len(rows))
    for k, test in enumerate(folds):
        train = np.setdiff1d(np.arange(len(rows)), test)
        members, non = train[truth[train] == 1], train[truth[train] == 0]
        attack = MembershipInferenceBlackBox(estimator, attack_model_type="gb")
        attack.attack_model.set_params(n_estimators=trees, random_state=k)
        attack.fit(pred=proba[members], y=y[members], test_pred=proba[non], test_y=y[non])
        scores[test] = attack.infer(None, y[test], pred=proba[test], probabilities=True).ravel()
    return {"rule_based": float(roc_auc_score(truth, rule)),
            "black_box": float(roc_auc_score(truth, scores))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=int, default=3000)
    parser.add_argument("--evaluation", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--leaky", action="store_true", help="attack the memorising forest")
    parser.add_argument("--sample-size", type=int, default=1000,
                        help="members (and non-members) attacked (the suite's default 1000)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from threadpoolctl import threadpool_limits

    from certify.demo import FEATURES, SEED, TARGET, candidate_model, make_credit_data
    from certify.demo.models import leaky_model
    from certify.models.sklearn import SklearnModel
    from certify.policy import load_policy
    from certify.session import CertifySession
    from certify.suites.privacy.membership import attack_model, balanced_sample
    from tests.projects import make_project

    ref = make_credit_data(args.reference, SEED)
    ev = make_credit_data(args.evaluation, SEED + 100)
    with threadpool_limits(1):
        model = (leaky_model() if args.leaky else candidate_model()).fit(ref[FEATURES], ref[TARGET])
    tmp = Path(tempfile.mkdtemp(prefix="bench-privacy-"))
    out: dict[str, Any] = {"reference": len(ref), "evaluation": len(ev), "cpus": os.cpu_count(),
                           "model": "leaky forest" if args.leaky else "demo candidate"}
    try:
        policy = make_project(tmp, candidate=model, baseline=None, reference=ref, evaluation=ev,
                              suites={"privacy": {"membership": {"sample_size": args.sample_size}}},
                              extra={"sensitive_columns": ["income"]})
        session = CertifySession(load_policy(policy), out_dir=tmp / "out")
        session.setup()
        state = session.suites["privacy"]
        settings = state.ctx.settings.membership
        scan_spec = next(s for s in state.checks if s.name == "no_raw_sensitive_values")
        state.suite.run(state.ctx)  # warm-up: imports ART, phonenumbers, stdnum

        # The suite's rows and folds, for the direct run on exactly the same attack data.
        rng = np.random.default_rng([session.seed, 7411])
        mi, ni, _ = balanced_sample(ref[TARGET].to_numpy(), ev[TARGET].to_numpy(), len(ref),
                                    len(ev), settings.sample_size, rng)
        sample = pd.concat([ref[FEATURES].iloc[mi], ev[FEATURES].iloc[ni]], ignore_index=True)
        y = np.r_[ref[TARGET].to_numpy()[mi], ev[TARGET].to_numpy()[ni]]
        truth = np.r_[np.ones(len(mi), dtype=int), np.zeros(len(ni), dtype=int)]
        fold_rng = np.random.default_rng([session.seed, 7412])
        fold = np.empty(len(truth), dtype=int)
        for side in (1, 0):
            where = np.flatnonzero(truth == side)
            fold[fold_rng.permutation(where)] = np.arange(len(where)) % settings.folds
        folds = [np.flatnonzero(fold == k) for k in range(settings.folds)]
        inproc = SklearnModel(model, name="m", digest="sha256:0", source="bench",
                              format="skops", task="classification",
                              classes=list(model.classes_), features=FEATURES)

        suite_t, scan_t, direct_t, engine_t = [], [], [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            result = state.suite.run(state.ctx)
            suite_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            scan_spec.fn(result)
            scan_t.append(time.perf_counter() - t0)
            with threadpool_limits(1):
                t0 = time.perf_counter()
                direct = direct_art(model, sample, y, truth, folds, settings.attack_trees)
                direct_t.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                engine = attack_model(inproc, "candidate", ref, ev, features=FEATURES,
                                      target=TARGET, regression=False, settings=settings,
                                      seed=session.seed, source="data.reference", assumed=True,
                                      executor="inprocess")
                engine_t.append(time.perf_counter() - t0)
        session.abort()
        assert result.membership is not None
        cand = result.membership.candidate
        assert len(sample) == 2 * cand.rows  # the same rows as the suite's
        best = {"suite_s": min(suite_t), "scan_check_s": min(scan_t),
                "direct_art_s": min(direct_t), "membership_engine_s": min(engine_t)}
        out.update(best)
        # Ratios of the best times, and the median of each repeat's own ratio (the machine's
        # load drifts between repeats; a repeat's runs are back to back).
        out["ratio_suite"] = best["suite_s"] / best["direct_art_s"]
        out["ratio_suite_with_scan"] = (best["suite_s"] + best["scan_check_s"]) / best["direct_art_s"]
        out["ratio_membership"] = best["membership_engine_s"] / best["direct_art_s"]
        out["median_paired_ratio_suite"] = float(np.median(
            [(a + c) / b for a, b, c in zip(suite_t, direct_t, scan_t, strict=True)]))
        out["median_paired_ratio_membership"] = float(np.median(
            [a / b for a, b in zip(engine_t, direct_t, strict=True)]))
        out["auc"] = {"suite": {k: a.auc for k, a in cand.attacks.items()}, "direct": direct,
                      "engine": {k: a.auc for k, a in engine.attacks.items()}}
        out["parts_s"] = result.seconds
        print(f"rows per side={cand.rows}  direct ART={best['direct_art_s']:.3f}s  "
              f"suite={best['suite_s']:.3f}s ({out['ratio_suite']:.2f}x)  "
              f"+ scan check={best['scan_check_s']:.3f}s ({out['ratio_suite_with_scan']:.2f}x)  "
              f"membership engine={best['membership_engine_s']:.3f}s "
              f"({out['ratio_membership']:.2f}x); median paired ratios: suite "
              f"{out['median_paired_ratio_suite']:.2f}x, membership "
              f"{out['median_paired_ratio_membership']:.2f}x")
        print(f"AUC suite={out['auc']['suite']} direct={direct}")
        print(json.dumps(out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
