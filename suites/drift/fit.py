"""Fitting the drift baseline: every detector's reference, from the reference data.

:func:`feature_plan` says which test each feature column gets (shared with the suite's
planning, so check ids and the fitted baseline agree); :func:`fit_baseline` fits them all,
and the candidate's prediction detector and the optional MMD, into a
:class:`~certify.suites.drift.baseline.DriftBaseline` (what is kept is described in
:mod:`certify.suites.drift.baseline`). Every sample is seeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from certify.data import Schema
from certify.errors import ConfigError
from certify.models import Model
from certify.suites.drift.baseline import (
    OTHER,
    DetectorParams,
    DriftBaseline,
    FeatureRef,
    Manifest,
    MMDRef,
    PredictionRef,
    TargetRef,
)
from certify.suites.drift.columns import (
    MIN_BUCKET_ROWS,
    bin_counts,
    bucket_groups,
    bucket_of,
    category_key,
    coarse_edges,
    count_categories,
    group_labels,
    mmd_matrix,
    model_scores,
    numeric_values,
    seeded_rng,
    sorted_sample,
    summarize,
)
from certify.suites.drift.stats import squared_distances


@dataclass
class FitOptions:
    """How to fit (from the suite's settings)."""

    reference_sample: int = 10000
    sensitive: Literal["binned", "drop"] = "binned"
    sensitive_bins: int = 10
    features: list[str] | None = None
    exclude: list[str] = field(default_factory=list)
    prediction: bool = True
    target: bool = True
    mmd: bool = False
    mmd_sample: int = 500
    max_categories: int = 100
    positive_label: Any = None


def feature_plan(schema: Schema, sensitive: list[str], options: FitOptions
                 ) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """``([(feature, test)], {feature: why not monitored})`` in schema order.

    Shared by the suite's planning (check ids) and by :func:`fit_baseline`.
    """
    wanted = options.features if options.features is not None else schema.features
    unknown = [f for f in [*wanted, *options.exclude] if f not in schema.features]
    if unknown:
        raise ConfigError(f"suites.drift: '{unknown[0]}' is not a feature column "
                          f"(features: {', '.join(schema.features)})")
    plan: list[tuple[str, str]] = []
    skipped: dict[str, str] = {}
    for col in schema.columns:
        if col.name not in wanted or col.name in options.exclude:
            skipped[col.name] = "excluded by suites.drift.features/exclude"
            continue
        is_sensitive = col.name in sensitive
        if is_sensitive and options.sensitive == "drop":
            skipped[col.name] = "sensitive column, dropped (suites.drift.sensitive = 'drop')"
            continue
        test = "ks" if col.kind == "numeric" and not is_sensitive else "chi2"
        plan.append((col.name, test))
    return plan, skipped


def fit_baseline(reference: pd.DataFrame, schema: Schema, *, sensitive: list[str], seed: int,
                 options: FitOptions, params: DetectorParams, harness_version: str,
                 model: Model | None = None, trusted_types: list[str] | None = None,
                 reference_digest: str | None = None,
                 declared: list[str] | None = None) -> DriftBaseline:
    """Fit every detector's reference on ``reference`` (the candidate ``model`` for prediction).

    ``declared``: the columns whose kind the policy declares (``[data.columns.<name>] kind``).
    """
    plan, not_monitored = feature_plan(schema, sensitive, options)
    arrays: dict[str, np.ndarray] = {}
    stored: list[str] = []
    features: list[FeatureRef] = []
    n = len(reference)
    for index, (name, test) in enumerate(plan):
        col = schema.column(name)
        series = reference[name]
        nulls = int(series.isna().sum())
        is_sensitive = name in sensitive
        ref = FeatureRef(name=name, kind=col.kind, dtype=str(series.dtype), test=test,
                         storage="counts", sensitive=is_sensitive, rows=n, nulls=nulls,
                         declared=name in (declared or []))
        if test == "ks":
            values, _, _ = numeric_values(series)
            assert values is not None
            present = values[~np.isnan(values)]
            sample = sorted_sample(present, options.reference_sample, seeded_rng(seed, 1, index))
            rel = f"features/{index:03d}.npy"
            arrays[rel] = sample
            ref.storage, ref.file, ref.stored_values = "sorted_sample", rel, len(sample)
            ref.summary = summarize(present)
            stored.append(f"{name}: {len(sample)} of {len(present)} non-missing values "
                          "(seeded sample, sorted, not linked to rows)")
        elif is_sensitive and col.kind == "numeric":
            values, _, _ = numeric_values(series)
            assert values is not None
            edges = coarse_edges(values, options.sensitive_bins)
            ref.storage, ref.edges = "binned_counts", edges
            ref.bin_counts = [int(c) for c in bin_counts(values, edges)]
            stored.append(f"{name} (sensitive): counts over {len(edges) + 1} quantile ranges "
                          "with edges rounded to 2 significant digits; no raw values")
        elif is_sensitive:
            _fit_buckets(ref, series, options.sensitive_bins)
            stored.append(f"{name} (sensitive): counts over {len(ref.counts or {})} groups of "
                          f"{ref.buckets} coarse buckets of its categories (a bucket counts every "
                          f"category that falls in it; at least {MIN_BUCKET_ROWS} reference rows "
                          "behind each count); no category text and no hash of one")
        else:
            counts = count_categories(series)
            if len(counts) > options.max_categories:
                ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                kept = dict(ranked[:options.max_categories])
                kept[OTHER] = sum(n for _, n in ranked[options.max_categories:])
                ref.counts, ref.lumped = kept, True
                stored.append(f"{name}: counts of the {options.max_categories} most frequent of "
                              f"{len(counts)} categories, the rest as one '{OTHER}' count")
            else:
                ref.counts = counts
                stored.append(f"{name}: counts of {len(counts)} categories")
        features.append(ref)
    for name, why in not_monitored.items():
        stored.append(f"{name}: not stored ({why})")

    prediction = None
    if options.prediction and model is not None:
        prediction = _fit_prediction(reference, schema, model, seed, options, arrays,
                                     trusted_types or [])
        what = ("predicted probabilities" if prediction.task == "classification"
                and prediction.score_labels != ["prediction"] else "predictions")
        stored.append(f"prediction: the candidate's {what} on {prediction.rows} reference rows "
                      "(sorted, not linked to rows)"
                      + (", predicted-label counts" if prediction.label_counts else ""))

    target = None
    if options.target:
        y = reference[schema.target]
        if schema.task == "classification":
            target = TargetRef(name=schema.target, kind="categorical", rows=n,
                               counts=count_categories(y))
            stored.append(f"target {schema.target}: class counts")
        else:
            values = y.to_numpy(dtype=float)
            arrays["target/values.npy"] = sorted_sample(
                values[~np.isnan(values)], options.reference_sample, seeded_rng(seed, 3))
            target = TargetRef(name=schema.target, kind="numeric", rows=n,
                               file="target/values.npy")
            stored.append(f"target {schema.target}: {len(arrays['target/values.npy'])} values "
                          "(seeded sample, sorted)")

    mmd = None
    if options.mmd:
        mmd = _fit_mmd(reference, schema, sensitive, [f for f, _ in plan], seed, options, arrays)
        stored.append(f"mmd: {mmd.rows} seeded reference rows of the non-sensitive monitored "
                      "columns, standardised and one-hot encoded")

    manifest = Manifest(
        harness_version=harness_version, seed=seed, reference_rows=n,
        reference_digest=reference_digest, schema_=_redacted(schema, sensitive),
        sensitive_columns=list(sensitive), sensitive_handling=options.sensitive,
        not_monitored=not_monitored, params=params, features=features, prediction=prediction,
        target=target, mmd=mmd, stored=stored,
    )
    return DriftBaseline(manifest, arrays)


def _redacted(schema: Schema, sensitive: list[str]) -> Schema:
    """The schema as written: no observed value of a sensitive column (whether or not the
    schema itself was told which columns are sensitive)."""
    columns = [c.model_copy(update={"sensitive": True}) if c.name in sensitive else c
               for c in schema.columns]
    return schema.model_copy(update={"columns": columns}).redacted()


def _fit_buckets(ref: FeatureRef, series: pd.Series, buckets: int) -> None:
    """A sensitive categorical column as counts over coarse buckets (see
    :mod:`certify.suites.drift.baseline`)."""
    per_bucket = [0] * buckets
    for key, count in count_categories(series).items():
        per_bucket[bucket_of(key, buckets)] += count
    groups = bucket_groups(per_bucket)
    labels = group_labels(groups)
    counts: dict[str, int] = {}
    for bucket, count in enumerate(per_bucket):
        label = labels[groups[bucket]]
        counts[label] = counts.get(label, 0) + count
    ref.storage, ref.buckets, ref.groups = "bucketed_counts", buckets, groups
    ref.counts = {k: v for k, v in counts.items() if v}


def _fit_prediction(reference: pd.DataFrame, schema: Schema, model: Model, seed: int,
                    options: FitOptions, arrays: dict[str, np.ndarray],
                    trusted_types: list[str]) -> PredictionRef:
    rows = len(reference)
    if rows > options.reference_sample:
        pick = np.sort(seeded_rng(seed, 2).choice(rows, size=options.reference_sample,
                                                  replace=False))
        sample = reference.iloc[pick]
    else:
        sample = reference
    classes = model.classes if schema.task == "classification" else None
    if classes is not None and model.predict_proba is not None:
        keys = [category_key(c) for c in classes]
        if len(classes) == 2:
            positive = options.positive_label if options.positive_label is not None else classes[-1]
            labels = [category_key(positive)]
            if labels[0] not in keys:
                raise ConfigError(f"suites.drift.positive_label: {positive!r} is not a class of "
                                  f"the candidate ({', '.join(keys)})")
        else:
            labels = keys
    else:
        labels = ["prediction"]
    scores, predicted = model_scores(model, sample[schema.features], classes, labels)
    files = []
    for i, values in enumerate(scores):
        rel = f"prediction/scores-{i}.npy"
        arrays[rel] = np.sort(values)
        files.append(rel)
    label_counts = None
    if predicted is not None:
        label_counts = count_categories(pd.Series(predicted))
    return PredictionRef(
        model_name=model.name, model_digest=model.digest, model_format=model.format,
        trusted_types=trusted_types, task=schema.task,
        classes=[c for c in classes] if classes is not None else None,
        score_labels=labels if scores else [], files=files, label_counts=label_counts,
        rows=len(sample))


def _fit_mmd(reference: pd.DataFrame, schema: Schema, sensitive: list[str], monitored: list[str],
             seed: int, options: FitOptions, arrays: dict[str, np.ndarray]) -> MMDRef:
    numeric = [c for c in monitored if schema.column(c).kind == "numeric" and c not in sensitive]
    categorical = [c for c in monitored if schema.column(c).kind != "numeric" and c not in sensitive]
    rng = seeded_rng(seed, 4)
    rows = len(reference)
    pick = np.sort(rng.choice(rows, size=min(rows, options.mmd_sample), replace=False))
    sample = reference.iloc[pick]
    means, stds = [], []
    for name in numeric:
        values, _, _ = numeric_values(reference[name])
        assert values is not None
        finite = values[np.isfinite(values)]
        means.append(float(finite.mean()) if len(finite) else 0.0)
        stds.append(float(finite.std()) if len(finite) else 1.0)
    cats = {}
    for name in categorical:
        counts = count_categories(reference[name])
        cats[name] = [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]]
    ref = MMDRef(numeric=numeric, means=means, stds=stds, categorical=cats, sigma=1.0,
                 file="mmd/x_ref.npy", rows=len(sample))
    x = mmd_matrix(sample, ref)
    if x.shape[1] == 0:
        raise ConfigError("suites.drift.mmd: no non-sensitive monitored column to build "
                          "the MMD on")
    d2 = squared_distances(x)
    positive = d2[np.triu_indices(len(x), k=1)]
    positive = positive[positive > 0]
    ref.sigma = float(np.sqrt(np.median(positive) / 2)) if len(positive) else 1.0
    arrays[ref.file] = x
    return ref
