"""The suite's typed result: each model's attributions on the original columns, and the figures
the checks judge (global importance and shares with bootstrap intervals, ranking agreement,
shifts, protected use, additivity, stability), then the ``report_data`` drawn from it."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from certify.evidence import Artifact
from certify.jsonsafe import json_safe
from certify.suites.explain.plan import RolePlan
from certify.suites.explain.sample import BOOTSTRAP_TAG, OutputSpace, rng
from certify.suites.explain.settings import ExplainSettings


@dataclasses.dataclass
class RoleExplanation:
    """One model's explanation of the sample, in sample order."""

    plan: RolePlan
    values: np.ndarray  # (rows, features) on the original columns; NaN: not explained
    base: np.ndarray  # (rows,) expected value
    output: np.ndarray  # (rows,) the model's own output in the output space
    background_output: float  # mean of the model's own output over the background
    status: list[str]
    queries: int
    elapsed_s: float
    errors: list[str]
    #: Stability: per re-explained row, cosine similarity with and without noise.
    stability: np.ndarray | None = None

    @property
    def explained(self) -> np.ndarray:
        return np.array([s == "ok" for s in self.status], dtype=bool)

    def additivity(self, scale: float) -> dict[str, Any]:
        """Largest gap between values + expected value and the model's own output (rows), and
        between the expected value and the model's mean over the background; in output units
        divided by ``scale``; ``worst_row`` is None where every row's gap is float rounding."""
        ok = self.explained
        rows = np.abs(self.values[ok].sum(axis=1) + self.base[ok] - self.output[ok])
        row_error = float(rows.max()) if len(rows) else float("nan")
        base_error = float(np.max(np.abs(self.base[ok] - self.background_output))) \
            if ok.any() else float("nan")
        # the worst row only where it stands out from float64 rounding (a linear model's gaps
        # are ~1e-16 on every row, and which is largest then depends on summation order)
        rounding = 64 * np.finfo(np.float64).eps * max(1.0, float(np.max(np.abs(
            self.output[ok]), initial=0.0)))
        worst = int(np.argmax(rows)) if len(rows) and row_error > rounding else None
        return {"row_error": row_error, "base_error": base_error,
                "error": max(row_error, base_error) / scale, "scale": scale,
                "worst_row": worst}


@dataclasses.dataclass
class Figures:
    """Global figures of one model over the rows both models explained."""

    importance: np.ndarray  # mean |value| per feature
    share: np.ndarray  # importance / total
    share_ci: np.ndarray  # (features, 2)


@dataclasses.dataclass
class ExplainResult:
    features: list[str]
    positions: np.ndarray  # evaluation rows explained, in sample order
    background_rows: int
    space: OutputSpace
    seed: int
    roles: dict[str, RoleExplanation]
    figures: dict[str, Figures]
    shift: np.ndarray | None  # candidate share - baseline share
    shift_ci: np.ndarray | None
    rank: dict[str, Any] | None
    protected: dict[str, dict[str, Any]]
    scale: float
    disagreeing: list[dict[str, Any]]
    executor: str
    workers: int
    shards: int
    confidence: float
    notes: list[str]
    stability_noise: float | None = None
    artifacts: list[Artifact] = dataclasses.field(default_factory=list)
    #: Where each model's shards ran ("ray" or "inprocess").
    executors: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return all(r.explained.all() for r in self.roles.values())

    def incomplete_reason(self) -> str:
        parts = []
        for role, r in self.roles.items():
            missing = [s for s in r.status if s != "ok"]
            if missing:
                kinds = sorted(set(missing))
                why = {"queries": "query budget (max_queries) spent",
                       "time": "wall-time budget (max_seconds) spent",
                       "error": "the explainer failed"}
                text = "; ".join(why.get(k, k) for k in kinds)
                err = f" ({r.errors[0]})" if r.errors else ""
                parts.append(f"{role}: {len(missing)} of {len(r.status)} rows not explained: "
                             f"{text}{err}")
        return "; ".join(parts)


def figures(values: np.ndarray, settings: ExplainSettings, seed: int) -> Figures:
    """Mean |value| per feature, its share of the total, and bootstrap intervals of the shares."""
    absolute = np.abs(values)
    importance = absolute.mean(axis=0)
    total = importance.sum()
    share = importance / total if total > 0 else np.zeros_like(importance)
    return Figures(importance, share, share_intervals(absolute, settings, seed))


def _resamples(n: int, settings: ExplainSettings, seed: int) -> np.ndarray:
    return rng(seed, BOOTSTRAP_TAG).integers(0, n, size=(settings.bootstrap, n))


def _shares(absolute: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Shares per bootstrap resample: (resamples, features)."""
    means = absolute[idx].mean(axis=1)
    totals = means.sum(axis=1, keepdims=True)
    return np.divide(means, totals, out=np.zeros_like(means), where=totals > 0)


def _interval(samples: np.ndarray, confidence: float) -> np.ndarray:
    alpha = (1 - confidence) / 2
    return np.stack([np.quantile(samples, alpha, axis=0),
                     np.quantile(samples, 1 - alpha, axis=0)], axis=-1)


def share_intervals(absolute: np.ndarray, settings: ExplainSettings, seed: int) -> np.ndarray:
    if not len(absolute):
        return np.full((absolute.shape[1], 2), np.nan)
    samples = _shares(absolute, _resamples(len(absolute), settings, seed))
    return _interval(samples, settings.confidence)


def shift_interval(cand: np.ndarray, base: np.ndarray, settings: ExplainSettings,
                   seed: int) -> np.ndarray:
    """Paired bootstrap (the same resampled rows for both models) of the share differences."""
    idx = _resamples(len(cand), settings, seed)
    diff = _shares(np.abs(cand), idx) - _shares(np.abs(base), idx)
    return _interval(diff, settings.confidence)


def rank_agreement(cand: np.ndarray, base: np.ndarray, features: list[str], k: int
                   ) -> dict[str, Any]:
    """Kendall's tau-b of the two global rankings and the overlap of their top ``k`` columns."""
    from scipy.stats import kendalltau

    tau = float(kendalltau(cand, base).statistic) if len(cand) > 1 else 1.0
    if not np.isfinite(tau):  # a constant ranking (every importance equal): no order to agree on
        tau = 1.0 if np.allclose(cand, base) else 0.0
    k = min(k, len(features))
    top_c = [features[i] for i in np.argsort(-cand, kind="stable")[:k]]
    top_b = [features[i] for i in np.argsort(-base, kind="stable")[:k]]
    return {"kendall": tau, "top_k": len(set(top_c) & set(top_b)) / k if k else 1.0, "k": k,
            "candidate_top": top_c, "baseline_top": top_b}


def report_data(result: ExplainResult, settings: ExplainSettings) -> dict[str, Any]:
    """JSON-able data for the report's pictures (no feature values but masked ones)."""
    feats = []
    for j, name in enumerate(result.features):
        row: dict[str, Any] = {"name": name}
        for role, fig in result.figures.items():
            row[role] = {"importance": fig.importance[j], "share": fig.share[j],
                         "share_ci": fig.share_ci[j]}
        if result.shift is not None and result.shift_ci is not None:
            row["shift"] = result.shift[j]
            row["shift_ci"] = result.shift_ci[j]
            row["shifted"] = bool(abs(result.shift[j]) > (settings.attribution_shift.warn
                                                          if settings.attribution_shift.warn
                                                          is not None
                                                          else settings.attribution_shift.fail))
        row["protected"] = name in result.protected
        feats.append(row)
    models = {}
    for role, r in result.roles.items():
        models[role] = {
            **r.plan.record(), "executor": result.executors.get(role, result.executor),
            "rows": len(r.status), "explained": int(r.explained.sum()),
            "queries": r.queries, "elapsed_s": round(r.elapsed_s, 3),
            "additivity": r.additivity(result.scale),
            "stability": (float(np.median(r.stability)) if r.stability is not None
                          and len(r.stability) else None),
            "errors": r.errors[:3]}
    data = {
        "output": result.space.describe(), "output_kind": result.space.kind,
        "sample_size": len(result.positions), "background_rows": result.background_rows,
        "seed": result.seed, "confidence": result.confidence,
        "features": feats, "models": models, "rank": result.rank,
        "rank_metric": settings.rank_metric,
        "protected": result.protected, "disagreeing": result.disagreeing,
        "executor": result.executor, "workers": result.workers, "shards": result.shards,
        "stability_noise": result.stability_noise, "notes": result.notes,
        "levels": {"attribution_shift": settings.attribution_shift.model_dump(),
                   "protected_use": settings.protected_use.model_dump(),
                   "rank_agreement": settings.rank_agreement.model_dump()},
    }
    safe: dict[str, Any] = json_safe(data)
    return safe
