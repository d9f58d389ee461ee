"""Candidate vs baseline model on the same evaluation rows (not a data check): the distance
between their score distributions (KS) and between their predicted-label shares (total
variation), judged on effect size by the suite's ``candidate_vs_baseline`` checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from certify.models import Model
from certify.suites.drift.baseline import DriftBaseline
from certify.suites.drift.columns import Scores, count_categories, model_scores
from certify.suites.drift.result import DriftReport, DriftStat
from certify.suites.drift.stats import chi2_test, ks_test, share_changes


def compare_models(candidate: Scores, baseline: Scores, score_labels: list[str]
                   ) -> dict[str, DriftStat]:
    """Candidate vs baseline on the same rows: score and predicted-label distributions."""
    out: dict[str, DriftStat] = {}
    c_scores, c_labels = candidate
    b_scores, b_labels = baseline
    if c_scores and b_scores and len(c_scores) == len(b_scores):
        per: list[dict[str, Any]] = []
        for label, cs, bs in zip(score_labels, c_scores, b_scores, strict=True):
            cs, bs = cs[np.isfinite(cs)], bs[np.isfinite(bs)]
            if not len(cs) or not len(bs):
                continue
            dist, p_val = ks_test(np.sort(bs), cs)
            per.append({"class": label, "ks_distance": dist, "p_value": p_val,
                        "candidate_mean": float(cs.mean()), "baseline_mean": float(bs.mean())})
        if per:
            worst = max(per, key=lambda d: d["ks_distance"])
            out["scores"] = DriftStat(name="scores", test="ks", statistic=worst["ks_distance"],
                                      p_value=worst["p_value"], effect=worst["ks_distance"],
                                      rows=len(c_scores[0]), details={"per_class": per})
    if c_labels is not None and b_labels is not None:
        cc = count_categories(pd.Series(c_labels))
        bc = count_categories(pd.Series(b_labels))
        stat, p_val, tvd = chi2_test(bc, cc)
        out["labels"] = DriftStat(
            name="labels", test="chi2", statistic=stat, p_value=p_val, effect=tvd,
            rows=len(c_labels), changes=share_changes(bc, cc),
            details={"agreement": float(np.mean(c_labels == b_labels))})
    return out


def compare_with_baseline(report: DriftReport, baseline: DriftBaseline, other: Model,
                          frame: pd.DataFrame, task: str) -> dict[str, DriftStat]:
    """The candidate's behaviour on ``frame`` (``report.candidate_scores``, from :func:`~certify.suites.drift.engine.detect`)
    against the ``other`` model's (the certification's baseline model) on the same rows."""
    pred = baseline.manifest.prediction
    assert pred is not None and report.candidate_scores is not None
    labels = pred.score_labels or ["prediction"]
    if other.predict_proba is None and task == "classification":
        labels = ["prediction"]
    other_scores = model_scores(other, frame, other.classes, labels)
    return compare_models(report.candidate_scores, other_scores,
                          pred.score_labels or ["prediction"])
