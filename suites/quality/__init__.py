"""quality: candidate vs baseline on the evaluation data.

Metrics of the task with paired, seeded bootstrap confidence intervals; a
non-inferiority rule against the baseline (the lower confidence bound of
``candidate - baseline`` must not fall below ``-margin`` for a higher-is-better metric);
absolute thresholds (the only rule without a baseline); per-slice metrics with the
worst slice named; group-fairness gaps on protected attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from certify.evidence import Comparison, Direction, Outcome, Status, Threshold, compare
from certify.suite import CheckSpec, Suite, SuiteContext, SuiteRecord, SuiteSettings
from certify.suites.quality import view
from certify.view import Panel

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
DEFAULT_METRICS = {
    "classification": ["accuracy", "roc_auc", "f1", "log_loss"],
    "regression": ["rmse", "mae", "r2"],
}
FAIRNESS = ("demographic_parity_difference", "equal_opportunity_difference")


class QualitySettings(SuiteSettings):
    metrics: list[str] | None = Field(
        default=None, description="Metrics to compute (default: all of the task's).")
    primary_metric: str | None = Field(
        default=None, description="Metric for slices (default: roc_auc or rmse).")
    thresholds: dict[str, Threshold] = Field(
        default_factory=dict, description="Absolute thresholds per metric, e.g. accuracy = {fail = 0.8}.")
    margin: float = Field(
        default=0.01, ge=0, description="Non-inferiority margin vs the baseline (all metrics).")
    margins: dict[str, float] = Field(default_factory=dict, description="Per-metric margins.")
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="Bootstrap CI level.")
    bootstrap: int = Field(default=200, ge=20, le=10000, description="Bootstrap resamples.")
    slices: list[str] = Field(default_factory=list, description="Columns to slice by.")
    slice_bins: int = Field(default=4, ge=2, le=20, description="Quantile bins for numeric slices.")
    slice_min_rows: int = Field(default=30, ge=1, description="Smaller slices are not judged.")
    slice_margin: float = Field(
        default=0.05, ge=0, description="Worst slice may trail the baseline's same slice by this.")
    slice_threshold: Threshold | None = Field(
        default=None, description="Absolute threshold on the worst slice's primary metric.")
    fairness: dict[str, Threshold] = Field(
        default_factory=lambda: {
            "demographic_parity_difference": Threshold(fail=0.2, warn=0.1),
            "equal_opportunity_difference": Threshold(fail=0.2, warn=0.1),
        },
        description="Maximum group gaps on protected attributes.",
    )
    positive_label: Any = Field(default=None, description="Positive class (default: the model's last).")


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


class QualitySuite(Suite):

    def panels(self, record: SuiteRecord[Any]) -> list[Panel]:
        return view.panels(record)
    name = "quality"
    settings_model = QualitySettings
    description = "Candidate vs baseline metrics with bootstrap CIs, slices and fairness gaps."

    # -- planning ----------------------------------------------------------------------
    def _metrics(self, ctx: SuiteContext) -> list[str]:
        s: QualitySettings = ctx.settings
        names = s.metrics or DEFAULT_METRICS[ctx.data.schema.task]
        if ctx.candidate.predict_proba is None:
            names = [n for n in names if not METRICS[n][1]]
        unknown = [n for n in [*names, *s.thresholds] if n not in METRICS]
        if unknown:
            from certify.errors import ConfigError
            raise ConfigError(f"suites.quality: unknown metric '{unknown[0]}' "
                              f"(known: {', '.join(METRICS)})")
        return names

    def checks(self, ctx: SuiteContext) -> list[CheckSpec]:
        s: QualitySettings = ctx.settings
        for col in s.slices:
            if col not in ctx.data.evaluation.columns:
                from certify.errors import ConfigError
                raise ConfigError(f"suites.quality.slices: column '{col}' is not in the evaluation "
                                  "data")
        names = self._metrics(ctx)
        judged = names if ctx.baseline is not None else [n for n in names if n in s.thresholds]
        specs = [self.check(n, self._metric_check(ctx, n),
                            description=f"{n}: non-inferiority vs baseline and absolute threshold")
                 for n in judged]
        if not judged:
            specs.append(self.check("thresholds", lambda _r: Outcome(
                status=Status.ERRORED,
                reason="no baseline and no absolute thresholds in [suites.quality.thresholds]: "
                       "nothing to certify quality against")))
        for col in s.slices:
            specs.append(self.check("worst_slice", self._slice_check(ctx, col), param=col,
                                    description=f"worst slice of {col} on the primary metric"))
        if ctx.data.schema.task == "classification":
            for attr in ctx.policy.protected_attributes:
                for gap in s.fairness:
                    specs.append(self.check(gap.removesuffix("_difference"),
                                            self._fairness_check(ctx, gap, attr), param=attr,
                                            description=f"{gap} across groups of {attr}"))
        return specs

    # -- the work ------------------------------------------------------------------------
    def _scores(self, model: Any, X: pd.DataFrame) -> ModelScores:  # noqa: N803
        proba = model.predict_proba(X) if model.predict_proba is not None else None
        return ModelScores(np.asarray(model.predict(X)), proba, model.classes)

    def run(self, ctx: SuiteContext) -> QualityResult:
        s: QualitySettings = ctx.settings
        X, y = ctx.data.X(), np.asarray(ctx.data.y())  # noqa: N806
        names = self._metrics(ctx)
        cand = self._scores(ctx.candidate, X)
        base = self._scores(ctx.baseline, X) if ctx.baseline is not None else None
        classes = cand.classes
        positive = s.positive_label if s.positive_label is not None else (classes[-1] if classes else None)
        rng = np.random.default_rng(ctx.seed)
        n = len(y)
        idx = rng.integers(0, n, size=(s.bootstrap, n))
        alpha = (1 - s.confidence) / 2

        def value(sc: ModelScores, name: str, rows: np.ndarray | slice = slice(None)) -> float:
            proba = sc.proba[rows] if sc.proba is not None else None
            return metric_value(name, y[rows], sc.pred[rows], proba, sc.classes, positive)

        def ci(samples: np.ndarray) -> tuple[float, float]:
            finite = samples[np.isfinite(samples)]
            if not len(finite):
                return (float("nan"), float("nan"))
            return (float(np.quantile(finite, alpha)), float(np.quantile(finite, 1 - alpha)))

        results: dict[str, MetricResult] = {}
        for name in names:
            ctx.progress(f"quality: bootstrapping {name}")
            c_boot = np.array([value(cand, name, rows) for rows in idx])
            res = MetricResult(name, value(cand, name), ci(c_boot))
            if base is not None and (base.proba is not None or not METRICS[name][1]):
                b_boot = np.array([value(base, name, rows) for rows in idx])
                res.baseline = value(base, name)
                res.baseline_ci = ci(b_boot)
                res.diff = res.candidate - res.baseline
                res.diff_ci = ci(c_boot - b_boot)
            results[name] = res

        primary = s.primary_metric or ("roc_auc" if "roc_auc" in names else names[0])
        frame = ctx.data.evaluation
        slices = {}
        for col in s.slices:
            if col not in frame.columns:
                from certify.errors import ConfigError
                raise ConfigError(f"suites.quality.slices: column '{col}' is not in the evaluation data")
            keys = frame[col]
            if pd.api.types.is_numeric_dtype(keys) and keys.nunique() > s.slice_bins:
                keys = pd.qcut(keys, s.slice_bins, duplicates="drop").astype(str)
            sr = SliceResult(col)
            masked = col in ctx.sensitive_columns
            for key, rows in frame.groupby(keys, observed=True).indices.items():
                label = ctx.mask_record({col: key})[col] if masked else str(key)
                row: dict[str, Any] = {"slice": label, "rows": len(rows)}
                row["candidate"] = value(cand, primary, rows) if len(np.unique(y[rows])) > 1 or not METRICS[primary][1] else float("nan")
                if base is not None:
                    row["baseline"] = value(base, primary, rows) if np.isfinite(row["candidate"]) else float("nan")
                sr.rows.append(row)
            judged = [r for r in sr.rows if r["rows"] >= s.slice_min_rows and np.isfinite(r["candidate"])]
            if judged:
                better_high = METRICS[primary][0] is Direction.MIN
                sr.worst = (min if better_high else max)(judged, key=lambda r: r["candidate"])
            slices[col] = sr

        fairness: dict[str, dict[str, Any]] = {}
        if ctx.data.schema.task == "classification":
            for attr in ctx.policy.protected_attributes:
                if attr not in frame.columns:
                    from certify.errors import ConfigError
                    raise ConfigError(f"protected_attributes: column '{attr}' is not in the evaluation data")
                groups = {}
                masked = attr in ctx.sensitive_columns
                for key, rows in frame.groupby(attr, observed=True).indices.items():
                    pos = cand.pred[rows] == positive
                    actual = y[rows] == positive
                    tpr = float(pos[actual].mean()) if actual.any() else float("nan")
                    label = ctx.mask_record({attr: key})[attr] if masked else str(key)
                    groups[label] = {"rows": len(rows), "selection_rate": float(pos.mean()),
                                     "true_positive_rate": tpr}
                sel = [g["selection_rate"] for g in groups.values()]
                tprs = [g["true_positive_rate"] for g in groups.values() if np.isfinite(g["true_positive_rate"])]
                fairness[attr] = {
                    "groups": groups,
                    "demographic_parity_difference": float(max(sel) - min(sel)) if sel else float("nan"),
                    "equal_opportunity_difference": float(max(tprs) - min(tprs)) if len(tprs) > 1 else float("nan"),
                }
        return QualityResult(results, slices, fairness, n, primary, positive)

    # -- checks --------------------------------------------------------------------------
    def _metric_check(self, ctx: SuiteContext, name: str) -> Any:
        s: QualitySettings = ctx.settings
        direction = METRICS[name][0]

        def check(result: QualityResult) -> Outcome:
            r = result.metrics[name]
            comparisons: list[Comparison] = []
            if r.diff_ci is not None:
                margin = s.margins.get(name, s.margin)
                # Non-inferiority: the worst plausible difference must stay within the margin.
                if direction is Direction.MIN:
                    comparisons.append(compare(f"{name}_diff_lower_ci", r.diff_ci[0],
                                               Threshold(fail=-margin), Direction.MIN))
                else:
                    comparisons.append(compare(f"{name}_diff_upper_ci", r.diff_ci[1],
                                               Threshold(fail=margin), Direction.MAX))
            if name in s.thresholds:
                comparisons.append(compare(name, r.candidate, s.thresholds[name], direction))
            metrics = {"candidate": r.candidate, "candidate_ci": list(r.candidate_ci),
                       "baseline": r.baseline, "baseline_ci": list(r.baseline_ci) if r.baseline_ci else None,
                       "diff": r.diff, "diff_ci": list(r.diff_ci) if r.diff_ci else None,
                       "rows": result.n_rows}
            base = f" vs baseline {r.baseline:.4f}" if r.baseline is not None else ""
            out = Outcome.from_comparisons(comparisons, subject=f"{name} {r.candidate:.4f}{base}",
                                           metrics=metrics)
            return out

        return check

    def _slice_check(self, ctx: SuiteContext, col: str) -> Any:
        s: QualitySettings = ctx.settings

        def check(result: QualityResult) -> Outcome:
            sr = result.slices[col]
            if sr.worst is None:
                return Outcome(status=Status.SKIPPED,
                               reason=f"no slice of {col} has {s.slice_min_rows}+ rows with both classes",
                               details={"slices": sr.rows})
            w = sr.worst
            primary = result.primary
            direction = METRICS[primary][0]
            comparisons = []
            if s.slice_threshold is not None:
                comparisons.append(compare(f"worst_slice_{primary}", w["candidate"], s.slice_threshold, direction))
            if w.get("baseline") is not None and np.isfinite(w["baseline"]):
                diff = w["candidate"] - w["baseline"]
                if direction is Direction.MIN:
                    comparisons.append(compare(f"worst_slice_{primary}_diff", diff,
                                               Threshold(fail=-s.slice_margin), Direction.MIN))
                else:
                    comparisons.append(compare(f"worst_slice_{primary}_diff", diff,
                                               Threshold(fail=s.slice_margin), Direction.MAX))
            if not comparisons:
                return Outcome(status=Status.ERRORED,
                               reason=f"no baseline and no slice_threshold to judge slices of {col}",
                               details={"slices": sr.rows})
            out = Outcome.from_comparisons(
                comparisons, subject=f"worst slice {col}={w['slice']} ({w['rows']} rows)",
                metrics={"worst_slice": w["slice"], "candidate": w["candidate"],
                         "baseline": w.get("baseline"), "rows": w["rows"]},
                details={"slices": sr.rows})
            return out

        return check

    def _fairness_check(self, ctx: SuiteContext, gap: str, attr: str) -> Any:
        s: QualitySettings = ctx.settings

        def check(result: QualityResult) -> Outcome:
            fair = result.fairness[attr]
            value = fair[gap]
            comparison = compare(gap, value, s.fairness[gap], Direction.MAX)
            if comparison.status is Status.ERRORED:
                return Outcome(status=Status.SKIPPED,
                               reason=f"{gap} undefined for {attr} (a group without positives)",
                               details={"groups": fair["groups"]})
            return Outcome.from_comparisons([comparison], subject=f"{attr}",
                                            details={"groups": fair["groups"]})

        return check

    def report_data(self, ctx: SuiteContext, result: QualityResult) -> dict[str, Any]:
        def clean(v: Any) -> Any:
            if isinstance(v, float) and not np.isfinite(v):
                return None
            if isinstance(v, tuple | list):
                return [clean(x) for x in v]
            return v

        return {
            "rows": result.n_rows,
            "primary_metric": result.primary,
            "metrics": [
                {"name": r.name, "direction": METRICS[r.name][0].value,
                 "candidate": clean(r.candidate), "candidate_ci": clean(r.candidate_ci),
                 "baseline": clean(r.baseline), "baseline_ci": clean(r.baseline_ci),
                 "diff": clean(r.diff), "diff_ci": clean(r.diff_ci)}
                for r in result.metrics.values()
            ],
            "slices": {col: {"rows": [{k: clean(v) for k, v in row.items()} for row in sr.rows],
                             "worst": {k: clean(v) for k, v in sr.worst.items()} if sr.worst else None}
                       for col, sr in result.slices.items()},
            "fairness": {attr: {k: clean(v) if not isinstance(v, dict) else v for k, v in f.items()}
                         for attr, f in result.fairness.items()},
        }
