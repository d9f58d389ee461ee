"""How the drift detectors read values: the same when the baseline is fitted and when new data
is checked against it.

Categories are counted under their text (:func:`category_key`), sensitive ones under a short
hash (:func:`hash_key`); a sensitive numeric column is counted over coarse quantile ranges
(:func:`coarse_edges`, :func:`bin_counts`); a model's behaviour is its scores and predicted
labels (:func:`model_scores`); the MMD sees rows as :func:`mmd_matrix` encodes them.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pandas as pd

from certify.errors import ModelError
from certify.models import Model
from certify.suites.drift.baseline import MMDRef

#: A model's behaviour on some rows: ``([scores per score label], predicted labels as keys or
#: None)``.
Scores = tuple[list[np.ndarray], np.ndarray | None]


def category_key(value: Any) -> str:
    """The key a category is counted under: its text (``1.0`` and ``1`` are the same)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def hash_key(key: str) -> str:
    """A sensitive category as written: ``sha256:`` and 12 hex digits (as ``ctx.mask``)."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:12]


def count_categories(values: pd.Series, *, hashed: bool = False) -> dict[str, int]:
    counts = values.value_counts(dropna=True, sort=False)
    out: dict[str, int] = {}
    for value, n in counts.items():
        key = category_key(value)
        if hashed:
            key = hash_key(key)
        out[key] = out.get(key, 0) + int(n)
    return out


def coarse_edges(values: np.ndarray, bins: int) -> list[float]:
    """Quantile edges rounded to two significant digits (never an individual's exact value)."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return []
    qs = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
    return sorted({float(f"{q:.2g}") for q in qs})


def bin_counts(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Counts over ``(-inf, e0), [e0, e1), ..., [e_last, inf)`` of the non-missing values."""
    present = values[~np.isnan(values)]
    idx = np.searchsorted(np.asarray(edges, dtype=float), present, side="right")
    return np.bincount(idx, minlength=len(edges) + 1)


def bin_labels(edges: list[float]) -> list[str]:
    """The ranges :func:`bin_counts` counts over, as category keys."""
    bounds = ["-inf", *[f"{e:.2g}" for e in edges], "inf"]
    return [f"[{bounds[i]}, {bounds[i + 1]})" for i in range(len(bounds) - 1)]


def numeric_values(series: pd.Series) -> tuple[np.ndarray | None, int, Any]:
    """``(float values with NaN for missing, count of non-numbers, an example non-number)``.

    ``None`` when the column cannot be read as numbers at all.
    """
    if pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=float, na_value=np.nan), 0, None
    if pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=float, na_value=np.nan), 0, None
    converted = pd.to_numeric(series, errors="coerce")
    bad = converted.isna() & series.notna()
    n_bad = int(bad.sum())
    example = series[bad].iloc[0] if n_bad else None
    return converted.to_numpy(dtype=float, na_value=np.nan), n_bad, example


def summarize(values: np.ndarray, sample: int | None = None) -> dict[str, float | None]:
    """Mean and std of all finite values, and their quantiles p05..p95: of all of them, or of a
    systematic sample (every k-th value) of at most about ``sample`` values."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return {}
    step = max(1, len(finite) // sample) if sample else 1
    q = np.quantile(finite[::step], [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"mean": float(finite.mean()), "std": float(finite.std()), "p05": float(q[0]),
            "p25": float(q[1]), "p50": float(q[2]), "p75": float(q[3]), "p95": float(q[4])}


def seeded_rng(seed: int, *key: int) -> np.random.Generator:
    """The random generator of one use of the run's seed (``key`` names the use)."""
    return np.random.default_rng([seed, *key])


def sorted_sample(values: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``limit`` of ``values`` (a seeded sample), sorted: not linked to rows."""
    if len(values) > limit:
        values = values[rng.choice(len(values), size=limit, replace=False)]
    return np.sort(values.astype(np.float64))


def model_scores(model: Model, frame: pd.DataFrame, classes: list[Any] | None,
                 score_labels: list[str]) -> Scores:
    """``([scores per score label], predicted labels as keys or None)``."""
    if score_labels == ["prediction"]:
        pred = np.asarray(model.predict(frame))
        if classes is None:  # regressor: the predictions are the scores
            return [pred.astype(float)], None
        return [], np.array([category_key(v) for v in pred], dtype=object)
    if model.predict_proba is None:
        raise ModelError(f"model {model.name} has no predict_proba")
    proba = model.predict_proba(frame)
    assert classes is not None
    keys = [category_key(c) for c in classes]
    scores = [np.asarray(proba[:, keys.index(label)], dtype=float) for label in score_labels]
    pred = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
    return scores, np.array([category_key(v) for v in pred], dtype=object)


def mmd_matrix(frame: pd.DataFrame, ref: MMDRef) -> np.ndarray:
    """Standardised numeric columns (missing: 0) and one-hot categories, as the MMD sees rows."""
    parts = []
    for name, mean, std in zip(ref.numeric, ref.means, ref.stds, strict=True):
        values, _, _ = numeric_values(frame[name])
        assert values is not None
        z = (values - mean) / (std or 1.0)
        parts.append(np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)[:, None])
    for name, cats in ref.categorical.items():
        keys = np.array([category_key(v) if not pd.isna(v) else "" for v in frame[name]],
                        dtype=object)
        parts.append(np.stack([(keys == c).astype(float) for c in cats], axis=1)
                     if cats else np.zeros((len(frame), 0)))
    return np.hstack(parts) if parts else np.zeros((len(frame), 0))
