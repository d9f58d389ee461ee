"""How the drift detectors read values: the same when the baseline is fitted and when new data
is checked against it.

Categories are counted under their text (:func:`category_key`); a sensitive categorical column
over coarse buckets (:func:`bucket_of`, :func:`bucket_groups`, :func:`count_buckets`), never
under its text or a hash of it; a sensitive numeric column over coarse quantile ranges
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


def legacy_hash_key(key: str) -> str:
    """How a version-1 baseline keyed a sensitive category: ``sha256:`` and 12 hex digits of
    an unkeyed hash. Only to compare new data with such a baseline: never written out."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:12]


def count_categories(values: pd.Series, *, hashed: bool = False) -> dict[str, int]:
    """Counts per category text (``hashed``: per :func:`legacy_hash_key`, version-1 baselines)."""
    counts = values.value_counts(dropna=True, sort=False)
    out: dict[str, int] = {}
    for value, n in counts.items():
        key = category_key(value)
        if hashed:
            key = legacy_hash_key(key)
        out[key] = out.get(key, 0) + int(n)
    return out


# -- sensitive categories: counts over coarse buckets ------------------------------------------

#: Fewest reference rows behind any stored bucket count: smaller buckets are merged.
MIN_BUCKET_ROWS = 10
_BUCKET_SALT = b"certify-drift-bucket/1\x00"


def bucket_of(key: str, buckets: int) -> int:
    """The bucket of a category (its :func:`category_key`): a fixed public function, so that
    new data can be bucketed without a secret, with only ``buckets`` possible answers (a few
    bits, shared by many categories): it cannot be turned back into the category."""
    digest = hashlib.sha256(_BUCKET_SALT + key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % buckets


def bucket_groups(per_bucket: list[int], min_rows: int = MIN_BUCKET_ROWS) -> list[int]:
    """Each bucket's group: buckets merged, smallest with next smallest, until every group
    holds at least ``min_rows`` of the counted rows (or one group is left). A rare category is
    then never counted alone, and an empty bucket never stands alone to say which categories
    are absent. Groups are numbered by their first bucket."""
    groups = [[b] for b in range(len(per_bucket))]
    total = [int(n) for n in per_bucket]
    while len(groups) > 1:
        order = sorted(range(len(groups)), key=lambda i: (total[i], groups[i][0]))
        if total[order[0]] >= min_rows:
            break
        a, b = sorted(order[:2])
        groups[a] = sorted(groups[a] + groups[b])
        total[a] += total[b]
        del groups[b], total[b]
    out = [0] * len(per_bucket)
    for index, members in enumerate(sorted(groups)):
        for bucket in members:
            out[bucket] = index
    return out


def group_labels(groups: list[int]) -> list[str]:
    """The key of each group's count: the buckets it merges (``buckets 2+7``)."""
    members: dict[int, list[int]] = {}
    for bucket, group in enumerate(groups):
        members.setdefault(group, []).append(bucket)
    return [("bucket " if len(m) == 1 else "buckets ") + "+".join(str(b) for b in m)
            for _, m in sorted(members.items())]


def count_buckets(values: pd.Series, buckets: int, groups: list[int]) -> dict[str, int]:
    """Counts of the non-missing values per bucket group (keys: :func:`group_labels`)."""
    labels = group_labels(groups)
    out: dict[str, int] = {}
    for key, n in count_categories(values).items():
        label = labels[groups[bucket_of(key, buckets)]]
        out[label] = out.get(label, 0) + n
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
