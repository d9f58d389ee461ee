"""Candidate vs baseline (``vs_baseline[<scorer>]``): deepchecks' scores and a paired interval.

deepchecks' ``SingleDatasetPerformance`` scores both models on the evaluation sample (the
point estimates). The difference is judged with a seeded **paired bootstrap** interval
(``comparison.resamples`` resamples of the evaluation rows, both models scored on the same
rows; ``comparison.confidence``, default 95%), the way DESIGN asks a deciding comparison to be
made, instead of a coin flip on a point estimate: on 200 rows two equally good models differ
by two points of accuracy about one time in five.

* the whole interval below ``margin.fail``: **failed** (the candidate is worse, beyond doubt);
* the interval across ``margin.fail``: **warned**, inconclusive at this sample size;
* otherwise the point difference against ``margin.warn``: warned below it, else passed.

The interval is computed here from the models' predictions for the scorers in
:data:`BOOTSTRAP` (accuracy, balanced accuracy, AUC, macro F1, RMSE, MAE, R^2: the defaults
and their usual alternatives); for another deepchecks scorer only the point estimate is judged
(against ``margin``, as deepchecks computes it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from certify.jsonsafe import finite
from certify.suites.validation.library import quiet
from certify.suites.validation.prepare import ModelForDeepchecks

#: A scorer of many resamples at once: (y, prediction, probabilities or None, classes or None,
#: weights) -> one score per row of ``weights`` (bootstrap counts of each row, shape (B, n)).
Scorer = Callable[[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray],
                  np.ndarray]
#: Most bootstrap counts held at once (resamples x rows).
CHUNK = 2_000_000


def _auc(positive: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Binary AUC of each weighted resample (ties count one half, as scikit-learn's); NaN where a
    resample holds one class only."""
    order = np.argsort(score, kind="mergesort")
    s, pos, w = score[order], positive[order], w[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    pos_g = np.add.reduceat(w * pos, starts, axis=1)
    neg_g = np.add.reduceat(w * ~pos, starts, axis=1)
    below = np.cumsum(neg_g, axis=1) - neg_g
    n_pos, n_neg = pos_g.sum(axis=1), neg_g.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((pos_g * (below + 0.5 * neg_g)).sum(axis=1) / (n_pos * n_neg),
                          dtype=float)


def _auc_ovr(y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None,
             classes: np.ndarray | None, w: np.ndarray) -> np.ndarray:
    if proba is None or classes is None:
        return np.full(len(w), np.nan)
    if len(classes) == 2:
        return _auc(y == classes[1], proba[:, 1], w)
    with np.errstate(invalid="ignore"):
        return np.asarray(np.nanmean([_auc(y == c, proba[:, i], w)
                                      for i, c in enumerate(classes)], axis=0))


def _per_class(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """Weighted true positives, false positives and false negatives per class, (K, B) each."""
    labels = np.unique(np.concatenate([y, pred]))
    tp = np.stack([w @ ((y == c) & (pred == c)) for c in labels])
    fp = np.stack([w @ ((y != c) & (pred == c)) for c in labels])
    fn = np.stack([w @ ((y == c) & (pred != c)) for c in labels])
    return tp.astype(float), fp.astype(float), fn.astype(float)


def _f1_macro(y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None,
              classes: np.ndarray | None, w: np.ndarray) -> np.ndarray:
    tp, fp, fn = _per_class(y, pred, w)
    den = 2 * tp + fp + fn
    present = den > 0
    f1 = np.divide(2 * tp, den, out=np.zeros_like(tp), where=present)
    return np.asarray(f1.sum(axis=0) / np.maximum(present.sum(axis=0), 1))


def _balanced(y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None,
              classes: np.ndarray | None, w: np.ndarray) -> np.ndarray:
    tp, _, fn = _per_class(y, pred, w)
    support = tp + fn
    present = support > 0
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=present)
    return np.asarray(recall.sum(axis=0) / np.maximum(present.sum(axis=0), 1))


def _errors(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    return np.asarray(y, dtype=float) - np.asarray(pred, dtype=float)


def _r2(y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None,
        classes: np.ndarray | None, w: np.ndarray) -> np.ndarray:
    yf = np.asarray(y, dtype=float)
    n = w.sum(axis=1)
    total = w @ (yf ** 2) - (w @ yf) ** 2 / n
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(1 - (w @ _errors(y, pred) ** 2) / np.where(total > 0, total, np.nan))


#: Scorers whose paired bootstrap interval is computed here (deepchecks' names).
BOOTSTRAP: dict[str, Scorer] = {
    "accuracy": lambda y, pred, proba, classes, w: (w @ (y == pred)) / w.sum(axis=1),
    "balanced_accuracy": _balanced,
    "roc_auc": _auc_ovr,
    "roc_auc_ovr": _auc_ovr,
    "f1_macro": _f1_macro,
    "neg_rmse": lambda y, pred, proba, classes, w: -np.sqrt(
        (w @ _errors(y, pred) ** 2) / w.sum(axis=1)),
    "neg_mae": lambda y, pred, proba, classes, w: -(w @ np.abs(_errors(y, pred)))
    / w.sum(axis=1),
    "r2": _r2,
}


def paired_interval(scorer: Scorer, y: np.ndarray, outputs: Mapping[str, tuple[Any, Any]],
                    classes: np.ndarray | None, confidence: float, resamples: int,
                    seed: int) -> tuple[float, float] | None:
    """The ``confidence`` percentile interval of candidate minus baseline over seeded paired
    resamples of the rows (bootstrap counts; resamples where the score is undefined are left
    out)."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 0x626F6F74])
    n = len(y)
    (c_pred, c_proba), (b_pred, b_proba) = outputs["candidate"], outputs["baseline"]
    diffs = []
    step = max(1, CHUNK // max(n, 1))
    for start in range(0, resamples, step):
        w = rng.multinomial(n, np.full(n, 1.0 / n), size=min(step, resamples - start))
        diffs.append(scorer(y, c_pred, c_proba, classes, w)
                     - scorer(y, b_pred, b_proba, classes, w))
    values = np.concatenate(diffs) if diffs else np.empty(0)
    values = values[np.isfinite(values)]
    if len(values) < max(20, resamples // 2):
        return None
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def compare_scores(scorers: list[str], ev_ds: Any, adapters: Mapping[str, ModelForDeepchecks],
                   seed: int, display: bool, displays: list[Any], confidence: float,
                   resamples: int) -> dict[str, dict[str, Any]]:
    """deepchecks' ``SingleDatasetPerformance`` of candidate and baseline on the evaluation
    sample, with the paired interval of the difference where :data:`BOOTSTRAP` knows the
    scorer: {scorer: {candidate, baseline, diff, diff_ci ([lo, hi] or None), confidence,
    resamples}}."""
    from deepchecks.tabular.checks import SingleDatasetPerformance

    scores: dict[str, dict[str, Any]] = {s: {} for s in scorers}
    for role in ("candidate", "baseline"):
        check = SingleDatasetPerformance(scorers=scorers, random_state=seed % (2**32))
        with quiet():
            result = check.run(ev_ds, model=adapters[role], with_display=display)
        frame = result.value
        for scorer in scorers:
            rows = frame[frame["Metric"] == scorer]
            scores[scorer][role] = _number(rows["Value"].mean()) if len(rows) else None
        if display:
            result.header = f"Candidate vs baseline: {role}"
            displays.append(result)
    known = [s for s in scorers if s in BOOTSTRAP]
    outputs: dict[str, tuple[Any, Any]] = {}
    if known and resamples > 0:
        X = ev_ds.features_columns  # noqa: N806
        for role in ("candidate", "baseline"):
            model = adapters[role]
            proba = model.predict_proba(X) if hasattr(model, "predict_proba") else None
            outputs[role] = (np.asarray(model.predict(X)),
                             None if proba is None else np.asarray(proba, dtype=float))
    y = np.asarray(ev_ds.label_col)
    classes = getattr(adapters["candidate"], "classes_", None)
    for scorer, pair in scores.items():
        c, b = pair.get("candidate"), pair.get("baseline")
        pair["diff"] = c - b if c is not None and b is not None else None
        pair["diff_ci"] = None
        if outputs and scorer in BOOTSTRAP and pair["diff"] is not None:
            ci = paired_interval(BOOTSTRAP[scorer], y, outputs, classes, confidence, resamples,
                                 seed)
            pair["diff_ci"] = list(ci) if ci is not None else None
        pair["confidence"] = confidence if pair["diff_ci"] is not None else None
        pair["resamples"] = resamples if pair["diff_ci"] is not None else 0
    return scores


def _number(value: Any) -> float | None:
    try:
        return finite(float(value))
    except (TypeError, ValueError):
        return None
