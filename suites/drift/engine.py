"""The drift engine: new data checked against a fitted drift baseline, without pytest.

:func:`detect` is the engine of the ``drift`` suite and of ``certify drift``: both check data
against a saved baseline (:mod:`certify.suites.drift.baseline`) with exactly this code, and
judge the :class:`~certify.suites.drift.result.DriftReport` it returns with
:mod:`certify.suites.drift.checks`.

Detectors
    * Per feature, suited to the column: two-sample Kolmogorov-Smirnov for numeric columns
      (alibi-detect ``KSDrift`` against a seeded, sorted sample of at most
      ``reference_sample`` reference values), chi-squared for categorical and boolean columns
      (the contingency test of alibi-detect's ``ChiSquareDrift``, computed from the stored
      category counts, since ``ChiSquareDrift`` needs the raw reference rows). Sensitive
      columns are never stored raw: numeric ones are tested with chi-squared over coarse
      quantile ranges, categorical ones over coarse buckets of their categories
      (``sensitive = "binned"``), or not at all (``"drop"``). A sensitive value that a
      reason must name is shown as the run's keyed pseudonym (:mod:`certify.masking`).
      The feature tests are one family: their p-values are corrected for multiple testing
      (``correction``: Bonferroni or Benjamini-Hochberg FDR, alibi-detect's two choices)
      and each check judges the corrected p-value. A KS test also records the distance at
      which it alone would fail (``effect_needed``), for the report.
      Missing values are judged separately (``null_rate_increase``).
    * Model-based: the candidate's scores (probability of the positive class; of every class
      for a multiclass model; the predictions of a regressor) on reference rows vs the
      evaluation rows (KS), and its predicted-label distribution (chi-squared), corrected as
      one family. When the reference data is the candidate's training data, an honest
      candidate is more confident there than on new rows, so these tests count a significant
      shift only from ``prediction_min_effect`` (KS or total-variation distance, 0.1 by
      default) up.
    * Target (label) distribution: chi-squared on the class counts (KS for a regressor),
      when the data has the target column.
    * Optional MMD on the whole table (``mmd = true``): unbiased MMD² with a Gaussian kernel
      (median-heuristic bandwidth from the reference) and a seeded permutation test on
      ``mmd_sample`` rows of each side, over the standardised non-sensitive columns. It is
      computed with numpy here because alibi-detect's ``MMDDrift`` needs TensorFlow, PyTorch
      or KeOps, none of which this harness installs.
    * Candidate vs baseline on the same evaluation rows (not a data check, reported
      separately): KS distance between their score distributions and total-variation
      distance between their predicted-label distributions, judged on effect size
      (``score_distance``, ``label_distance``), since a better model is expected to differ
      (:mod:`certify.suites.drift.compare`).

Scale-out: ``executor = "ray"`` runs each feature's test as one Ray task (a whole column per
task: KS needs the whole column), at most ``workers`` at a time, on a local Ray bound to
127.0.0.1 or the cluster named by ``RAY_ADDRESS``; ``"auto"`` uses Ray only when it is already
running here with a CPU free, or ``RAY_ADDRESS`` is set. ``certify drift`` with a Parquet file lets each task
read only its own column, so the driver never holds the whole table.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from certify.jsonsafe import one_line
from certify.masking import Masker
from certify.models import Model
from certify.raycluster import ensure_ray, ray_available
from certify.suites.drift.baseline import (
    OTHER,
    DetectorParams,
    DriftBaseline,
    FeatureRef,
    MMDRef,
)
from certify.suites.drift.columns import (
    bin_counts,
    bin_labels,
    count_buckets,
    count_categories,
    mmd_matrix,
    model_scores,
    numeric_values,
    seeded_rng,
    summarize,
)
from certify.suites.drift.distribution import category_shares, ecdf, range_shares
from certify.suites.drift.result import DriftReport, DriftStat
from certify.suites.drift.schemacheck import check_schema
from certify.suites.drift.sources import ParquetColumn, Source
from certify.suites.drift.stats import (
    adjust,
    chi2_test,
    ks_test,
    mmd_test,
    new_shares,
    share_changes,
)

#: Quantiles shown for new data come from at most this many values (every k-th one).
SUMMARY_SAMPLE = 10_000


def check_feature(ref: FeatureRef, ref_values: np.ndarray | None,
                  column: pd.Series | ParquetColumn | None, params: DetectorParams) -> DriftStat:
    """Test one column (a Series, a :class:`ParquetColumn`, or None when it is missing)."""
    result = DriftStat(name=ref.name, test=ref.test, ref_rows=ref.rows,
                       ref_null_rate=ref.null_rate, sensitive=ref.sensitive, storage=ref.storage,
                       ref_summary=dict(ref.summary))
    if column is None:
        result.problem = f"column '{ref.name}' is missing from the data"
        return result
    series: pd.Series = column.read() if isinstance(column, ParquetColumn) else column
    result.rows = len(series)
    try:
        if ref.test == "ks" or ref.storage == "binned_counts":
            _test_numeric(result, ref, ref_values, series, params)
        else:
            _test_categories(result, ref, series, params)
    except Exception as exc:  # noqa: BLE001 - an untrustworthy answer is an error, not a pass
        result.error = one_line(exc)
    return result


def _test_numeric(result: DriftStat, ref: FeatureRef, ref_values: np.ndarray | None,
                  series: pd.Series, params: DetectorParams) -> None:
    """KS on the values, or chi-squared over the ranges of a sensitive numeric column."""
    values, n_bad, example = numeric_values(series)
    if n_bad:
        result.problem = (f"column '{ref.name}' should be numeric but {n_bad} of "
                          f"{len(series)} values are not numbers")
        if ref.sensitive:  # named by its keyed pseudonym, in the driver (see detect)
            result.sensitive_example = example
        else:
            result.problem += f" (e.g. {example!r})"
        return
    assert values is not None
    present = values[~np.isnan(values)]
    result.null_rate = 1 - len(present) / len(values) if len(values) else 0.0
    result.tested = len(present)
    if len(present) < params.min_rows:
        result.error = (f"{len(present)} non-missing values; the test needs at least "
                        f"{params.min_rows} (min_rows)") if len(present) else None
        return
    if ref.test == "ks":
        assert ref_values is not None
        if not len(ref_values):
            result.error = "the reference has no values in this column"
            return
        result.statistic, result.p_value = ks_test(ref_values, present)
        result.effect = result.statistic
        result.summary = summarize(present, SUMMARY_SAMPLE)
        result.distribution = ecdf(ref_values, present)
        return
    assert ref.edges is not None and ref.bin_counts is not None
    counts = bin_counts(present, ref.edges)
    labels = bin_labels(ref.edges)
    ref_counts = {labels[i]: c for i, c in enumerate(ref.bin_counts) if c}
    new_counts = {labels[i]: int(c) for i, c in enumerate(counts) if c}
    result.statistic, result.p_value, result.effect = chi2_test(ref_counts, new_counts)
    result.changes = share_changes(ref_counts, new_counts)
    result.distribution = range_shares(ref.edges, list(ref.bin_counts), [int(c) for c in counts])


def _test_categories(result: DriftStat, ref: FeatureRef, series: pd.Series,
                     params: DetectorParams) -> None:
    """Chi-squared over the category counts (of the bucket groups of a sensitive column)."""
    assert ref.counts is not None
    if ref.storage == "bucketed_counts":
        assert ref.buckets is not None and ref.groups is not None
        new_counts = count_buckets(series, ref.buckets, ref.groups)
    else:
        new_counts = count_categories(series, hashed=ref.storage == "hashed_counts")
    if ref.lumped:  # categories beyond the kept ones count as one, as in the reference
        lumped: dict[str, int] = {}
        for key, n in new_counts.items():
            key = key if key in ref.counts and key != OTHER else OTHER
            lumped[key] = lumped.get(key, 0) + n
        new_counts = lumped
    tested = sum(new_counts.values())
    result.tested = tested
    result.null_rate = 1 - tested / len(series) if len(series) else 0.0
    if tested < params.min_rows:
        result.error = (f"{tested} non-missing values; the test needs at least "
                        f"{params.min_rows} (min_rows)") if tested else None
        return
    if not ref.counts:
        result.error = "the reference has no values in this column"
        return
    result.statistic, result.p_value, result.effect = chi2_test(ref.counts, new_counts)
    if ref.storage != "bucketed_counts":  # a bucket holds several categories, new or not
        result.set_new_categories(new_shares(ref.counts, new_counts, tested))
    result.changes = share_changes(ref.counts, new_counts)
    result.distribution = category_shares(ref.counts, new_counts)


# -- executing the feature tests --------------------------------------------------------------

def run_feature_tests(baseline: DriftBaseline, source: Source, *, executor: str = "inprocess",
                      workers: int | None = None,
                      progress: Callable[[str], None] = lambda message: None
                      ) -> tuple[dict[str, DriftStat], str, int]:
    """Every feature's test; ``(results, executor used, workers)``."""
    params = baseline.manifest.params
    jobs = []
    for ref in baseline.manifest.features:
        values = baseline.array(ref.file) if ref.file else None
        present = ref.name in source.columns
        jobs.append((ref, values, present))
    use_ray = executor == "ray" or (executor == "auto" and ray_available())
    results: dict[str, DriftStat] = {}
    if not use_ray:
        for ref, values, present in jobs:
            progress(f"drift: testing {ref.name}")
            results[ref.name] = check_feature(ref, values, source.series(ref.name) if present
                                             else None, params)
        return results, "inprocess", 1
    ray = ensure_ray()
    remote = ray.remote(num_cpus=1, max_retries=0)(check_feature)
    limit = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    params_ref = ray.put(params)
    pending: dict[Any, str] = {}
    queue = list(jobs)
    while queue or pending:
        while queue and len(pending) < limit:
            ref, values, present = queue.pop(0)
            column = ray.put(source.handle(ref.name)) if present else None
            pending[remote.remote(ref, values, column, params_ref)] = ref.name
        done, _ = ray.wait(list(pending), num_returns=1)
        for obj in done:
            name = pending.pop(obj)
            progress(f"drift: tested {name}")
            results[name] = ray.get(obj)
    ordered = {ref.name: results[ref.name] for ref, _, _ in jobs}
    return ordered, "ray", limit


# -- the whole check --------------------------------------------------------------------------

def ks_critical(n: int, m: int, alpha: float) -> float | None:
    """The two-sample KS distance significant at ``alpha`` (asymptotic: c(α)·√((n+m)/(nm)))."""
    if n <= 0 or m <= 0 or not 0 < alpha < 1:
        return None
    return math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((n + m) / (n * m))


def _protect(results: dict[str, DriftStat], refs: dict[str, FeatureRef], masker: Masker) -> None:
    """No sensitive value, and no recomputable hash of one, leaves the engine: the example a
    reason names becomes the run's keyed pseudonym, and the unkeyed category hashes of a
    version-1 baseline (``hashed_counts``) become keyed pseudonyms of those hashes."""
    for name, r in results.items():
        if r.sensitive_example is not None:
            r.problem = f"{r.problem} (e.g. {masker.token(r.sensitive_example)})"
            r.sensitive_example = None
        if refs[name].storage != "hashed_counts":
            continue

        def label(key: Any) -> Any:
            return masker.token(key) if str(key).startswith("sha256:") else key

        r.new_categories = [(label(k), share) for k, share in r.new_categories]
        r.changes = [dict(c, category=label(c.get("category"))) for c in r.changes]
        if r.distribution is not None:
            r.distribution["bins"] = [label(b) for b in r.distribution.get("bins", [])]


def detect(baseline: DriftBaseline, source: Source, *, model: Model | None = None,
           executor: str = "inprocess", workers: int | None = None, seed: int = 0,
           progress: Callable[[str], None] = lambda message: None,
           masker: Masker | None = None) -> DriftReport:
    """Check ``source`` against ``baseline``: the engine of the suite and of ``certify drift``.

    ``masker``: the run's keyed pseudonyms (a fresh random key when None) for any sensitive
    value a reason names.
    """
    manifest = baseline.manifest
    params = manifest.params
    start = time.perf_counter()
    schema = check_schema(baseline, source)
    features, used, n_workers = run_feature_tests(baseline, source, executor=executor,
                                                  workers=workers, progress=progress)
    refs = {ref.name: ref for ref in manifest.features}
    _protect(features, refs, masker or Masker())
    order = list(features)
    adjusted = adjust([features[n].p_value for n in order], params.correction)
    for name, p_adj in zip(order, adjusted, strict=True):
        features[name].p_adjusted = p_adj
        if features[name].test == "ks" and features[name].p_value is not None:
            # the distance at which this test alone would fail (the corrected fail level)
            features[name].effect_needed = ks_critical(
                refs[name].stored_values, features[name].tested,
                params.p_value.fail / max(len(order), 1))
    report = DriftReport(params=params, rows=source.rows, reference_rows=manifest.reference_rows,
                         schema=schema, features=features, executor=used, workers=n_workers,
                         target_name=manifest.schema_.target)
    pred = manifest.prediction
    target_name = manifest.schema_.target
    if pred is not None:
        if model is None:
            report.prediction_skipped = "no model given (certify drift --model MODEL)"
        elif schema.missing:
            report.prediction_skipped = (f"the data lacks feature column '{schema.missing[0]}'; "
                                         "the candidate cannot score it")
        else:
            progress("drift: scoring the data with the candidate")
            report.prediction = _prediction_tests(baseline, source, model, report)
    if manifest.target is not None:
        if target_name not in source.columns:
            report.target_skipped = f"the data has no target column '{target_name}'"
        else:
            report.target = _target_test(baseline, source.series(target_name), params)
    if manifest.mmd is not None:
        report.mmd = _mmd(baseline, manifest.mmd, source, seed, params)
    report.seconds["check"] = round(time.perf_counter() - start, 4)
    return report


def _prediction_tests(baseline: DriftBaseline, source: Source, model: Model,
                      report: DriftReport) -> dict[str, DriftStat]:
    pred = baseline.manifest.prediction
    assert pred is not None
    features = baseline.manifest.schema_.features
    params = baseline.manifest.params
    out: dict[str, DriftStat] = {}
    try:
        parts = [model_scores(model, frame, pred.classes, pred.score_labels or ["prediction"])
                 for frame in source.frames(features)]
    except Exception as exc:  # noqa: BLE001 - a model that fails on the data is reported
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        error = f"the candidate failed on the data: {first}"
        if pred.files:
            out["scores"] = DriftStat(name="scores", test="ks", error=error)
        if pred.label_counts is not None:
            out["labels"] = DriftStat(name="labels", test="chi2", error=error)
        return out
    n_scores = len(parts[0][0]) if parts else 0
    scores = [np.concatenate([p[0][i] for p in parts]) for i in range(n_scores)]
    labels = (np.concatenate([p[1] for p in parts]) if parts and parts[0][1] is not None
              else None)
    report.candidate_scores = (scores, labels)
    family: list[tuple[str, str, DriftStat]] = []
    for label, rel, values in zip(pred.score_labels, pred.files, scores, strict=True):
        r = DriftStat(name=f"scores:{label}", test="ks", rows=len(values),
                      tested=int(np.isfinite(values).sum()), ref_rows=pred.rows)
        finite = values[np.isfinite(values)]
        if len(finite) < params.min_rows:
            r.error = f"{len(finite)} finite scores; the test needs at least {params.min_rows}"
        else:
            r.statistic, r.p_value = ks_test(baseline.array(rel), finite)
            r.effect = r.statistic
            r.summary = summarize(finite, SUMMARY_SAMPLE)
            r.ref_summary = summarize(baseline.array(rel), SUMMARY_SAMPLE)
            r.distribution = ecdf(baseline.array(rel), finite)
        family.append(("scores", label, r))
    if pred.label_counts is not None and labels is not None:
        counts = count_categories(pd.Series(labels))
        r = DriftStat(name="labels", test="chi2", rows=len(labels), tested=len(labels),
                      ref_rows=pred.rows)
        if len(labels) < params.min_rows:
            r.error = f"{len(labels)} rows; the test needs at least {params.min_rows}"
        else:
            r.statistic, r.p_value, r.effect = chi2_test(pred.label_counts, counts)
            r.changes = share_changes(pred.label_counts, counts)
            r.set_new_categories(new_shares(pred.label_counts, counts, len(labels)))
            r.distribution = category_shares(pred.label_counts, counts)
        family.append(("labels", "labels", r))
    adjusted = adjust([r.p_value for _, _, r in family], params.correction)
    for (_, _, r), p_adj in zip(family, adjusted, strict=True):
        r.p_adjusted = p_adj
    score_tests = [r for kind, _, r in family if kind == "scores"]
    if score_tests:
        # The scores check is judged on its worst class (all are in its details).
        judged = [r for r in score_tests if r.p_adjusted is not None]
        worst = min(judged, key=lambda r: r.p_adjusted or 0.0) if judged else score_tests[0]
        worst.details = {"per_class": [{"class": lab, **r.to_dict()}
                                       for (_, lab, r) in family if r in score_tests]}
        out["scores"] = worst
    for kind, _, r in family:
        if kind == "labels":
            out["labels"] = r
    return out


def _target_test(baseline: DriftBaseline, series: pd.Series, params: DetectorParams
                 ) -> DriftStat:
    target = baseline.manifest.target
    assert target is not None
    r = DriftStat(name=target.name, test="chi2" if target.kind == "categorical" else "ks",
                  rows=len(series), ref_rows=target.rows)
    present = series.dropna()
    r.tested = len(present)
    r.null_rate = 1 - len(present) / len(series) if len(series) else 0.0
    if len(present) < params.min_rows:
        r.error = f"{len(present)} labelled rows; the test needs at least {params.min_rows}"
        return r
    try:
        if target.kind == "categorical":
            assert target.counts is not None
            counts = count_categories(present)
            r.statistic, r.p_value, r.effect = chi2_test(target.counts, counts)
            r.changes = share_changes(target.counts, counts)
            r.set_new_categories(new_shares(target.counts, counts, len(present)))
            r.distribution = category_shares(target.counts, counts)
        else:
            values, n_bad, example = numeric_values(present)
            if n_bad or values is None:
                r.problem = f"target '{target.name}' has non-numeric values (e.g. {example!r})"
                return r
            r.statistic, r.p_value = ks_test(baseline.array(target.file), values)
            r.effect = r.statistic
            r.distribution = ecdf(baseline.array(target.file), values)
    except Exception as exc:  # noqa: BLE001
        r.error = one_line(exc)
    r.p_adjusted = r.p_value
    return r


def _mmd(baseline: DriftBaseline, ref: MMDRef, source: Source, seed: int,
         params: DetectorParams) -> DriftStat:
    r = DriftStat(name="mmd", test="mmd", rows=source.rows, ref_rows=ref.rows)
    needed = ref.numeric + list(ref.categorical)
    lacking = [c for c in needed if c not in source.columns]
    if lacking:
        r.problem = f"the data lacks column '{lacking[0]}'"
        return r
    try:
        frame = pd.concat(list(source.frames(needed)), ignore_index=True)
        rng = seeded_rng(seed, 5)
        if len(frame) > ref.rows:
            frame = frame.iloc[np.sort(rng.choice(len(frame), size=ref.rows, replace=False))]
        if len(frame) < params.min_rows:
            r.error = f"{len(frame)} rows; the MMD test needs at least {params.min_rows}"
            return r
        x_new = mmd_matrix(frame, ref)
        r.tested = len(x_new)
        mmd2, p_val, q95 = mmd_test(baseline.array(ref.file), x_new, ref.sigma,
                                    params.mmd_permutations, rng)
        r.statistic, r.p_value, r.p_adjusted, r.effect = mmd2, p_val, p_val, mmd2
        r.details = {"permutations": params.mmd_permutations, "sigma": ref.sigma,
                     "null_q95": q95, "columns": needed}
    except Exception as exc:  # noqa: BLE001
        r.error = one_line(exc)
    return r
