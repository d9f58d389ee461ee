"""The quality suite's work: metrics with paired bootstrap intervals, slices, fairness gaps.

Callable without pytest: :func:`run` scores candidate (and baseline) on the evaluation data and
returns a typed :class:`QualityResult`; the checks (:mod:`.checks`) judge it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from certify.errors import ConfigError
from certify.evidence import Direction
from certify.models import Model
from certify.suite import SuiteContext
from certify.suites.quality.bootstrap import counts, resampled
from certify.suites.quality.settings import QualitySettings

#: metric -> (direction, needs probabilities)
METRICS: dict[str, tuple[Direction, bool]] = {
    "accuracy": (Direction.MIN, False),
    "roc_auc": (Direction.MIN, True),
    "f1": (Direction.MIN, False),
    "log_loss": (Direction.MAX, True),
    "rmse": (Direction.MAX, False),
    "mae": (Direction.MAX, False),
    "r2": (Direction.MIN, False),
}
#: Error metrics in the target's own units: their margins are fractions of the baseline's value.
RELATIVE_MARGIN = frozenset({"rmse", "mae"})
DEFAULT_METRICS = {
    "classification": ["accuracy", "roc_auc", "f1", "log_loss"],
    "regression": ["rmse", "mae", "r2"],
}
FAIRNESS = ("demographic_parity_difference", "equal_opportunity_difference")


def _binary(y: np.ndarray, positive: Any) -> np.ndarray:
    return (y == positive).astype(int)


def metric_value(name: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None,
                 classes: list[Any] | None, positive: Any) -> float:
    from sklearn import metrics as m

    if name == "accuracy":
        return float(m.accuracy_score(y, pred))
    if name == "f1":
        if classes is not None and len(classes) == 2:
            return float(m.f1_score(_binary(y, positive), _binary(pred, positive), zero_division=0))
        return float(m.f1_score(y, pred, average="macro", zero_division=0))
    if name == "roc_auc":
        assert proba is not None and classes is not None
        if len(np.unique(y)) < 2:
            return float("nan")
        if len(classes) == 2:
            return float(m.roc_auc_score(_binary(y, positive), proba[:, classes.index(positive)]))
        return float(m.roc_auc_score(y, proba, multi_class="ovr", labels=classes))
    if name == "log_loss":
        assert proba is not None
        return float(m.log_loss(y, np.clip(proba, 1e-15, 1), labels=classes))
    if name == "rmse":
        return float(np.sqrt(np.mean((y.astype(float) - pred.astype(float)) ** 2)))
    if name == "mae":
        return float(np.mean(np.abs(y.astype(float) - pred.astype(float))))
    if name == "r2":
        return float(m.r2_score(y, pred))
    raise ValueError(f"unknown metric {name}")


@dataclass
class ModelScores:
    pred: np.ndarray
    proba: np.ndarray | None
    classes: list[Any] | None


@dataclass
class MetricResult:
    name: str
    candidate: float
    candidate_ci: tuple[float, float]
    baseline: float | None = None
    baseline_ci: tuple[float, float] | None = None
    diff: float | None = None
    diff_ci: tuple[float, float] | None = None


@dataclass
class SliceResult:
    column: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    worst: dict[str, Any] | None = None


@dataclass
class QualityResult:
    metrics: dict[str, MetricResult]
    slices: dict[str, SliceResult]
    fairness: dict[str, dict[str, Any]]
    n_rows: int
    primary: str
    positive: Any


# -- planning ------------------------------------------------------------------------------

def metric_names(ctx: SuiteContext[QualitySettings]) -> list[str]:
    """The metrics computed: the policy's or the task's, without the ones that need
    probabilities when the candidate has none."""
    s = ctx.settings
    names = s.metrics or DEFAULT_METRICS[ctx.data.schema.task]
    if ctx.candidate.predict_proba is None:
        names = [n for n in names if not METRICS[n][1]]
    unknown = [n for n in [*names, *s.thresholds] if n not in METRICS]
    if unknown:
        raise ConfigError(f"suites.quality: unknown metric '{unknown[0]}' "
                          f"(known: {', '.join(METRICS)})")
    return names


def check_slice_columns(ctx: SuiteContext[QualitySettings]) -> None:
    """Every slice column is in the evaluation data (else a configuration error)."""
    for col in ctx.settings.slices:
        if col not in ctx.data.evaluation.columns:
            raise ConfigError(f"suites.quality.slices: column '{col}' is not in the evaluation "
                              "data")


# -- the work ------------------------------------------------------------------------------

def _scores(model: Model, X: pd.DataFrame) -> ModelScores:  # noqa: N803
    proba = model.predict_proba(X) if model.predict_proba is not None else None
    return ModelScores(np.asarray(model.predict(X)), proba, model.classes)


class _Scorer:
    """Metric values of scored models on all rows or a subset, and bootstrap intervals."""

    def __init__(self, y: np.ndarray, positive: Any, confidence: float) -> None:
        self.y = y
        self.positive = positive
        self.alpha = (1 - confidence) / 2

    def value(self, sc: ModelScores, name: str, rows: np.ndarray | slice = slice(None)) -> float:
        proba = sc.proba[rows] if sc.proba is not None else None
        return metric_value(name, self.y[rows], sc.pred[rows], proba, sc.classes, self.positive)

    def resampled(self, sc: ModelScores, name: str, idx: np.ndarray, weights: np.ndarray,
                  full: float) -> np.ndarray:
        """``name`` on each resample: the rows of ``idx``, whose counts are ``weights``
        (``full``: its value on all rows)."""
        fast = resampled(name, weights, self.y, sc.pred, sc.proba, sc.classes, self.positive,
                         full)
        if fast is not None:
            return fast
        return np.array([self.value(sc, name, rows) for rows in idx])

    def ci(self, samples: np.ndarray) -> tuple[float, float]:
        kept = samples[np.isfinite(samples)]
        if not len(kept):
            return (float("nan"), float("nan"))
        return (float(np.quantile(kept, self.alpha)), float(np.quantile(kept, 1 - self.alpha)))


def _metrics(ctx: SuiteContext[QualitySettings], names: list[str], scorer: _Scorer,
             cand: ModelScores, base: ModelScores | None) -> dict[str, MetricResult]:
    """Each metric with a paired bootstrap: the same resampled rows for both models."""
    n = len(scorer.y)
    rng = np.random.default_rng(ctx.seed)
    idx = rng.integers(0, n, size=(ctx.settings.bootstrap, n))
    weights = counts(idx, n)
    results: dict[str, MetricResult] = {}
    for name in names:
        ctx.progress(f"quality: bootstrapping {name}")
        full = scorer.value(cand, name)
        c_boot = scorer.resampled(cand, name, idx, weights, full)
        res = MetricResult(name, full, scorer.ci(c_boot))
        if base is not None and (base.proba is not None or not METRICS[name][1]):
            res.baseline = scorer.value(base, name)
            b_boot = scorer.resampled(base, name, idx, weights, res.baseline)
            res.baseline_ci = scorer.ci(b_boot)
            res.diff = res.candidate - res.baseline
            res.diff_ci = scorer.ci(c_boot - b_boot)
        results[name] = res
    return results


def _label(ctx: SuiteContext[QualitySettings], column: str, key: Any) -> str:
    """A group's label in the result: masked for a sensitive column."""
    return ctx.mask_record({column: key})[column] if column in ctx.sensitive_columns else str(key)


def _slices(ctx: SuiteContext[QualitySettings], scorer: _Scorer, primary: str,
            cand: ModelScores, base: ModelScores | None) -> dict[str, SliceResult]:
    """The primary metric per slice of each slice column, and the worst judged slice."""
    s, y = ctx.settings, scorer.y
    frame = ctx.data.evaluation
    check_slice_columns(ctx)
    slices = {}
    for col in s.slices:
        keys = frame[col]
        if pd.api.types.is_numeric_dtype(keys) and keys.nunique() > s.slice_bins:
            keys = pd.qcut(keys, s.slice_bins, duplicates="drop").astype(str)
        sr = SliceResult(col)
        for key, rows in frame.groupby(keys, observed=True).indices.items():
            row: dict[str, Any] = {"slice": _label(ctx, col, key), "rows": len(rows)}
            scorable = len(np.unique(y[rows])) > 1 or not METRICS[primary][1]
            row["candidate"] = scorer.value(cand, primary, rows) if scorable else float("nan")
            if base is not None:
                row["baseline"] = (scorer.value(base, primary, rows)
                                   if np.isfinite(row["candidate"]) else float("nan"))
            sr.rows.append(row)
        judged = [r for r in sr.rows
                  if r["rows"] >= s.slice_min_rows and np.isfinite(r["candidate"])]
        if judged:
            better_high = METRICS[primary][0] is Direction.MIN
            sr.worst = (min if better_high else max)(judged, key=lambda r: r["candidate"])
        slices[col] = sr
    return slices


def _fairness(ctx: SuiteContext[QualitySettings], y: np.ndarray, pred: np.ndarray,
              positive: Any) -> dict[str, dict[str, Any]]:
    """Selection and true-positive rates per group of each protected attribute, and their gaps."""
    frame = ctx.data.evaluation
    fairness: dict[str, dict[str, Any]] = {}
    for attr in ctx.policy.protected_attributes:
        if attr not in frame.columns:
            raise ConfigError(f"protected_attributes: column '{attr}' is not in the evaluation "
                              "data")
        groups = {}
        for key, rows in frame.groupby(attr, observed=True).indices.items():
            pos = pred[rows] == positive
            actual = y[rows] == positive
            tpr = float(pos[actual].mean()) if actual.any() else float("nan")
            groups[_label(ctx, attr, key)] = {"rows": len(rows),
                                              "selection_rate": float(pos.mean()),
                                              "true_positive_rate": tpr}
        sel = [g["selection_rate"] for g in groups.values()]
        tprs = [g["true_positive_rate"] for g in groups.values()
                if np.isfinite(g["true_positive_rate"])]
        nan = float("nan")
        fairness[attr] = {
            "groups": groups,
            "demographic_parity_difference": float(max(sel) - min(sel)) if sel else nan,
            "equal_opportunity_difference": float(max(tprs) - min(tprs)) if len(tprs) > 1 else nan,
        }
    return fairness


def run(ctx: SuiteContext[QualitySettings]) -> QualityResult:
    """Candidate (and baseline) scored on the evaluation data: metrics, slices, fairness."""
    s = ctx.settings
    X, y = ctx.data.X(), np.asarray(ctx.data.y())  # noqa: N806
    names = metric_names(ctx)
    cand = _scores(ctx.candidate, X)
    base = _scores(ctx.baseline, X) if ctx.baseline is not None else None
    classes = cand.classes
    positive = (s.positive_label if s.positive_label is not None
                else (classes[-1] if classes else None))
    scorer = _Scorer(y, positive, s.confidence)
    results = _metrics(ctx, names, scorer, cand, base)
    primary = s.primary_metric or ("roc_auc" if "roc_auc" in names else names[0])
    slices = _slices(ctx, scorer, primary, cand, base)
    fairness = (_fairness(ctx, y, cand.pred, positive)
                if ctx.data.schema.task == "classification" else {})
    return QualityResult(results, slices, fairness, len(y), primary, positive)
