"""drift: has the data moved away from the reference, and does the candidate behave differently?

Detectors are fitted on the reference data and saved as the run's **drift baseline**
(``drift-baseline/`` in the run folder, see :mod:`certify.suites.drift.baseline`; its digest is a
subject of the certificate). The evaluation data is then checked against that saved
baseline with exactly the code ``certify drift`` uses on production data later.

Detectors
    * Per feature, suited to the column: two-sample Kolmogorov-Smirnov for numeric columns
      (alibi-detect ``KSDrift`` against a seeded, sorted sample of at most
      ``reference_sample`` reference values), chi-squared for categorical and boolean columns
      (the contingency test of alibi-detect's ``ChiSquareDrift``, computed from the stored
      category counts, since ``ChiSquareDrift`` needs the raw reference rows). Sensitive
      columns are never stored raw: numeric ones are tested with chi-squared over coarse
      quantile ranges, categorical ones over hashed categories (``sensitive = "binned"``),
      or not at all (``"drop"``). The feature tests are one family: their p-values are
      corrected for multiple testing (``correction``: Bonferroni or Benjamini-Hochberg FDR,
      alibi-detect's two choices) and each check judges the corrected p-value.
      Missing values are judged separately (``null_rate_increase``).
    * Model-based: the candidate's scores (probability of the positive class; of every class
      for a multiclass model; the predictions of a regressor) on reference rows vs the
      evaluation rows (KS), and its predicted-label distribution (chi-squared), corrected as
      one family. Note: when the reference data is the candidate's training data, an
      overfit candidate is more confident there, which shows up here too.
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
      (``score_distance``, ``label_distance``), since a better model is expected to differ.

Checks (ids): ``drift::schema``, ``drift::ks[<numeric feature>]``,
``drift::chi2[<categorical, boolean or sensitive feature>]``, ``drift::features`` (all
feature tests together; names the drifted features), ``drift::prediction[scores]``,
``drift::prediction[labels]``, ``drift::target[<target>]``, ``drift::mmd`` (with
``mmd = true``), ``drift::candidate_vs_baseline[scores]`` and ``[labels]`` (with a baseline).

Scale-out: ``executor = "ray"`` runs each feature's test as one Ray task (a whole column per
task: KS needs the whole column), at most ``workers`` at a time, on a local Ray bound to
127.0.0.1 or the cluster named by ``RAY_ADDRESS``; ``"auto"`` uses Ray only when it is already
running here or ``RAY_ADDRESS`` is set. ``certify drift`` with a Parquet file lets each task
read only its own column, so the driver never holds the whole table.

``report_data`` keys (for the HTML report)
    ``rows``: {``reference``, ``evaluation``}; ``correction``; ``p_value``: {``fail``,
    ``warn``}; ``min_effect``; ``features``: one per monitored feature, {``name``, ``test``
    (ks|chi2), ``status``, ``sensitive``, ``storage``, ``statistic``, ``p_value``,
    ``p_adjusted``, ``effect`` (KS distance or total-variation distance), ``drifted``,
    ``rows``, ``null_rate``, ``reference_null_rate``, ``new_categories`` ([[category,
    share]]), ``changes`` (largest category-share changes: [{``category``, ``reference``,
    ``evaluation``}]), ``summary`` / ``reference_summary`` (numeric, non-sensitive only: mean,
    std, p05..p95; the quantiles of large new data come from a systematic sample of 10,000
    values), ``problem``}; ``drifted``: names; ``prediction``, ``target``, ``mmd``,
    ``candidate_vs_baseline``: the same per-test fields, or null; ``schema``: {``missing``,
    ``extra``, ``dtype_changes``}; ``baseline``: {``path``, ``digest``, ``format_version``,
    ``files``, ``bytes``, ``stored`` (what is kept, in words), ``not_monitored``,
    ``sensitive_handling``}; ``executor``, ``workers``, ``seconds`` {``fit``, ``check``}.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from certify.evidence import Artifact, Comparison, Direction, Outcome, Status, Threshold, compare
from certify.suite import CheckSpec, Suite, SuiteContext, SuiteRecord, SuiteSettings
from certify.suites.drift import view
from certify.suites.drift.baseline import (
    OTHER,
    DetectorParams,
    DriftBaseline,
    FeatureRef,
    FitOptions,
    MMDRef,
    bin_counts,
    category_key,
    count_categories,
    feature_plan,
    hash_key,
    model_scores,
    numeric_values,
)
from certify.view import Panel

NAME = "drift"


class DriftSettings(SuiteSettings):
    p_value: Threshold = Field(
        default=Threshold(fail=0.01, warn=0.05),
        description="Levels for each test's corrected p-value: below 'fail' fails (drift), "
                    "below 'warn' warns.")
    correction: Literal["bonferroni", "fdr"] = Field(
        default="bonferroni", description="Multiple-testing correction across the feature tests "
                                          "(and across the prediction tests).")
    min_effect: float = Field(
        default=0.0, ge=0, le=1,
        description="A significant test whose effect (KS distance, or total-variation distance "
                    "of the category shares) is below this passes: on very large data tiny, "
                    "harmless shifts are significant.")
    min_rows: int = Field(default=30, ge=2, description="Fewest non-missing values a test needs.")
    null_rate_increase: Threshold = Field(
        default=Threshold(fail=0.2, warn=0.05),
        description="Largest increase of a column's share of missing values over the reference.")
    features: list[str] | None = Field(
        default=None, description="Feature columns to monitor (default: all).")
    exclude: list[str] = Field(default_factory=list, description="Feature columns not monitored.")
    reference_sample: int = Field(
        default=10000, ge=100, le=10_000_000,
        description="Most reference values stored per numeric column (seeded sample, sorted), "
                    "and most reference rows scored for the prediction detector.")
    sensitive: Literal["binned", "drop"] = Field(
        default="binned",
        description="Sensitive columns: 'binned' (counts over coarse quantile ranges, or over "
                    "hashed categories; never raw values) or 'drop' (not monitored).")
    sensitive_bins: int = Field(default=10, ge=2, le=100,
                                description="Quantile ranges for a sensitive numeric column.")
    prediction: bool = Field(default=True,
                             description="Model-based detector: the candidate's scores and labels.")
    target: bool = Field(default=True, description="Test the target (label) distribution.")
    positive_label: Any = Field(
        default=None, description="Class whose probability is the score (default: the last).")
    mmd: bool = Field(default=False, description="MMD permutation test on the whole table.")
    mmd_sample: int = Field(default=500, ge=20, le=5000,
                            description="Rows of each side the MMD uses (seeded).")
    mmd_permutations: int = Field(default=200, ge=20, le=10000,
                                  description="Permutations of the MMD test.")
    max_categories: int = Field(
        default=100, ge=2, le=100_000,
        description="Most categories stored per column; rarer ones are counted together as "
                    "'<other>' (bounds the baseline and keeps rare, identifying values out).")
    candidate_vs_baseline: bool = Field(
        default=True, description="Compare the candidate's and the baseline's predictions.")
    score_distance: Threshold = Field(
        default=Threshold(fail=0.5, warn=0.25),
        description="Largest KS distance between candidate and baseline score distributions.")
    label_distance: Threshold = Field(
        default=Threshold(fail=0.25, warn=0.1),
        description="Largest total-variation distance between their predicted-label shares.")
    executor: Literal["inprocess", "ray", "auto"] = Field(
        default="inprocess",
        description="'inprocess', 'ray' (one task per feature column; local Ray on 127.0.0.1 or "
                    "RAY_ADDRESS), or 'auto' (Ray when already running or RAY_ADDRESS is set).")
    workers: int | None = Field(default=None, ge=1,
                                description="Most feature tasks at once (default: Ray's CPUs).")

    def fit_options(self) -> FitOptions:
        return FitOptions(reference_sample=self.reference_sample, sensitive=self.sensitive,
                          sensitive_bins=self.sensitive_bins, features=self.features,
                          exclude=list(self.exclude), prediction=self.prediction,
                          target=self.target, mmd=self.mmd, mmd_sample=self.mmd_sample,
                          max_categories=self.max_categories,
                          positive_label=self.positive_label)

    def params(self) -> DetectorParams:
        return DetectorParams(p_value=self.p_value, correction=self.correction,
                              min_effect=self.min_effect, min_rows=self.min_rows,
                              null_rate_increase=self.null_rate_increase,
                              mmd_permutations=self.mmd_permutations)


# -- data sources ---------------------------------------------------------------------------

class FrameSource:
    """New data held in memory."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame_ = frame
        self.columns = [str(c) for c in frame.columns]
        self.rows = len(frame)

    def dtype(self, name: str) -> str:
        return str(self.frame_[name].dtype)

    def series(self, name: str) -> pd.Series:
        return self.frame_[name]

    def frames(self, names: list[str], batch_rows: int = 0) -> Iterator[pd.DataFrame]:
        yield self.frame_[names]

    def handle(self, name: str) -> Any:
        return self.frame_[name]


@dataclass(frozen=True)
class ParquetColumn:
    """One column of a Parquet file, read where it is used (a Ray worker)."""

    path: str
    name: str

    def read(self) -> pd.Series:
        return pd.read_parquet(self.path, columns=[self.name])[self.name]


class ParquetSource:
    """New data in a Parquet file: columns are read one at a time, by whoever tests them."""

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self.path = path
        try:
            self._file = pq.ParquetFile(path)
        except Exception as exc:  # noqa: BLE001 - any reader failure is a data error
            from certify.errors import DataError

            raise DataError(f"--data: cannot read {path}: {exc}") from None
        arrow = self._file.schema_arrow
        self.columns = [str(n) for n in arrow.names]
        self.rows = int(self._file.metadata.num_rows)
        self._dtypes = {str(k): str(v) for k, v in arrow.empty_table().to_pandas().dtypes.items()}
        if self.rows == 0:
            from certify.errors import DataError

            raise DataError(f"--data: {path} has no rows")

    def dtype(self, name: str) -> str:
        return self._dtypes[name]

    def series(self, name: str) -> pd.Series:
        return ParquetColumn(str(self.path), name).read()

    def frames(self, names: list[str], batch_rows: int = 65536) -> Iterator[pd.DataFrame]:
        for batch in self._file.iter_batches(columns=names, batch_size=batch_rows or 65536):
            yield batch.to_pandas()

    def handle(self, name: str) -> Any:
        return ParquetColumn(str(self.path), name)


Source = FrameSource | ParquetSource


# -- results --------------------------------------------------------------------------------

@dataclass
class DriftStat:
    """One statistical test (a feature, the scores, the labels, the target, the MMD)."""

    name: str
    test: str
    statistic: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    effect: float | None = None
    rows: int = 0
    tested: int = 0
    ref_rows: int = 0
    null_rate: float = 0.0
    ref_null_rate: float = 0.0
    new_categories: list[tuple[str, float]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, float | None] = field(default_factory=dict)
    ref_summary: dict[str, float | None] = field(default_factory=dict)
    sensitive: bool = False
    storage: str = ""
    problem: str | None = None
    error: str | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "test": self.test, "statistic": _clean(self.statistic),
            "p_value": _clean(self.p_value), "p_adjusted": _clean(self.p_adjusted),
            "effect": _clean(self.effect), "rows": self.rows, "tested": self.tested,
            "reference_rows": self.ref_rows, "null_rate": _clean(self.null_rate),
            "reference_null_rate": _clean(self.ref_null_rate),
            "new_categories": [[k, _clean(v)] for k, v in self.new_categories],
            "changes": self.changes, "summary": self.summary,
            "reference_summary": self.ref_summary, "sensitive": self.sensitive,
            "storage": self.storage, "problem": self.problem, "error": self.error,
            "note": self.note, **({"details": self.details} if self.details else {}),
        }


@dataclass
class SchemaCheck:
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    #: (column, reference kind/dtype, new dtype, testable)
    dtype_changes: list[tuple[str, str, str, bool]] = field(default_factory=list)


@dataclass
class DriftReport:
    """Everything the drift checks are judged from (suite and ``certify drift``)."""

    params: DetectorParams
    rows: int
    reference_rows: int
    schema: SchemaCheck
    features: dict[str, DriftStat]
    prediction: dict[str, DriftStat] | None = None
    prediction_skipped: str | None = None
    target: DriftStat | None = None
    target_skipped: str | None = None
    mmd: DriftStat | None = None
    cvb: dict[str, DriftStat] | None = None
    executor: str = "inprocess"
    workers: int = 1
    seconds: dict[str, float] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)
    target_name: str = ""
    manifest_artifact: Artifact | None = None
    candidate_scores: tuple[list[np.ndarray], np.ndarray | None] | None = None


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


# -- the tests ------------------------------------------------------------------------------

def ks_test(ref_sorted: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """``(KS distance, p-value)`` from alibi-detect's KSDrift (asymptotic two-sided test)."""
    from alibi_detect.cd import KSDrift

    detector = KSDrift(ref_sorted.reshape(-1, 1), p_val=0.05, x_ref_preprocessed=True)
    p_val, dist = detector.score(np.asarray(values, dtype=np.float64).reshape(-1, 1))
    return float(dist[0]), float(p_val[0])


def chi2_test(ref_counts: dict[str, int], new_counts: dict[str, int]) -> tuple[float, float, float]:
    """``(chi2, p-value, total-variation distance)``: the contingency test of ChiSquareDrift
    over the union of the categories, from counts."""
    from scipy.stats import chi2_contingency

    keys = sorted(set(ref_counts) | set(new_counts))
    table = np.array([[ref_counts.get(k, 0) for k in keys], [new_counts.get(k, 0) for k in keys]],
                     dtype=float)
    shares = table / table.sum(axis=1, keepdims=True)
    tvd = float(0.5 * np.abs(shares[0] - shares[1]).sum())
    if len(keys) < 2:  # one category on both sides: identical distributions
        return 0.0, 1.0, tvd
    stat, p_val, _, _ = chi2_contingency(table)
    return float(stat), float(p_val), tvd


def _changes(ref_counts: dict[str, int], new_counts: dict[str, int], top: int = 5
             ) -> list[dict[str, Any]]:
    rt, nt = sum(ref_counts.values()) or 1, sum(new_counts.values()) or 1
    rows: list[dict[str, Any]] = [{"category": k, "reference": ref_counts.get(k, 0) / rt,
             "evaluation": new_counts.get(k, 0) / nt}
            for k in set(ref_counts) | set(new_counts)]
    rows.sort(key=lambda r: (-abs(r["evaluation"] - r["reference"]), r["category"]))
    return rows[:top]


#: Quantiles shown for new data come from at most this many values (every k-th one).
SUMMARY_SAMPLE = 10_000


def _summary(values: np.ndarray) -> dict[str, float | None]:
    """Mean and std of all finite values; display quantiles from a systematic sample."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return {}
    step = max(1, len(finite) // SUMMARY_SAMPLE)
    q = np.quantile(finite[::step], [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"mean": float(finite.mean()), "std": float(finite.std()), "p05": float(q[0]),
            "p25": float(q[1]), "p50": float(q[2]), "p75": float(q[3]), "p95": float(q[4])}


def check_feature(ref: FeatureRef, ref_values: np.ndarray | None, column: Any,
                 params: DetectorParams) -> DriftStat:
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
            values, n_bad, example = numeric_values(series)
            if n_bad:
                shown = hash_key(category_key(example)) if ref.sensitive else repr(example)
                result.problem = (f"column '{ref.name}' should be numeric but {n_bad} of "
                                  f"{len(series)} values are not numbers (e.g. {shown})")
                return result
            assert values is not None
            present = values[~np.isnan(values)]
            result.null_rate = 1 - len(present) / len(values) if len(values) else 0.0
            result.tested = len(present)
            if len(present) < params.min_rows:
                result.error = (f"{len(present)} non-missing values; the test needs at least "
                                f"{params.min_rows} (min_rows)") if len(present) else None
                return result
            if ref.test == "ks":
                assert ref_values is not None
                if not len(ref_values):
                    result.error = "the reference has no values in this column"
                    return result
                result.statistic, result.p_value = ks_test(ref_values, present)
                result.effect = result.statistic
                result.summary = _summary(present)
            else:
                assert ref.edges is not None and ref.bin_counts is not None
                counts = bin_counts(present, ref.edges)
                labels = _bin_labels(ref.edges)
                ref_counts = {labels[i]: c for i, c in enumerate(ref.bin_counts) if c}
                new_counts = {labels[i]: int(c) for i, c in enumerate(counts) if c}
                result.statistic, result.p_value, result.effect = chi2_test(ref_counts, new_counts)
                result.changes = _changes(ref_counts, new_counts)
            return result
        # categorical (plain or hashed)
        assert ref.counts is not None
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
            return result
        if not ref.counts:
            result.error = "the reference has no values in this column"
            return result
        result.statistic, result.p_value, result.effect = chi2_test(ref.counts, new_counts)
        new = sorted(((k, n / tested) for k, n in new_counts.items() if k not in ref.counts),
                     key=lambda kv: (-kv[1], kv[0]))
        result.new_categories = new
        result.changes = _changes(ref.counts, new_counts)
    except Exception as exc:  # noqa: BLE001 - an untrustworthy answer is an error, not a pass
        result.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return result


def _bin_labels(edges: list[float]) -> list[str]:
    bounds = ["-inf", *[f"{e:.2g}" for e in edges], "inf"]
    return [f"[{bounds[i]}, {bounds[i + 1]})" for i in range(len(bounds) - 1)]


def adjust(p_values: list[float | None], method: str) -> list[float | None]:
    """Corrected p-values over one family (``m`` = all planned tests, conservatively)."""
    m = len(p_values)
    present = [(i, p) for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = [None] * m
    if method == "bonferroni":
        for i, p in present:
            out[i] = min(1.0, p * m)
        return out
    # Benjamini-Hochberg: q_(k) = min_{j >= k} p_(j) m / j
    ranked = sorted(present, key=lambda ip: ip[1])
    running = 1.0
    for rank in range(len(ranked), 0, -1):
        i, p = ranked[rank - 1]
        running = min(running, p * m / rank)
        out[i] = min(1.0, running)
    return out


def mmd_test(x_ref: np.ndarray, x_new: np.ndarray, sigma: float, permutations: int,
             rng: np.random.Generator) -> tuple[float, float, float]:
    """``(MMD², p-value, 95% permutation quantile)``: unbiased MMD² with a Gaussian kernel."""
    z = np.vstack([x_ref, x_new])
    n, m = len(x_ref), len(x_new)
    sq = np.sum(z * z, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0.0)
    k = np.exp(-d2 / (2 * sigma * sigma))
    labels = np.zeros((n + m, permutations + 1))
    labels[:n, 0] = 1
    for j in range(1, permutations + 1):
        labels[rng.permutation(n + m)[:n], j] = 1
    ka = k @ labels
    kb = k.sum(axis=1, keepdims=True) - ka
    s_aa = np.sum(labels * ka, axis=0) - n
    s_bb = np.sum((1 - labels) * kb, axis=0) - m
    s_ab = np.sum(labels * kb, axis=0)
    mmd2 = s_aa / (n * (n - 1)) + s_bb / (m * (m - 1)) - 2 * s_ab / (n * m)
    observed, null = float(mmd2[0]), mmd2[1:]
    p_val = float((1 + np.sum(null >= observed)) / (1 + permutations))
    return observed, p_val, float(np.quantile(null, 0.95))


# -- executing the feature tests --------------------------------------------------------------

def _ray_available() -> bool:
    import os
    import sys

    if os.environ.get("RAY_ADDRESS"):
        return True
    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


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
    use_ray = executor == "ray" or (executor == "auto" and _ray_available())
    results: dict[str, DriftStat] = {}
    if not use_ray:
        for ref, values, present in jobs:
            progress(f"drift: testing {ref.name}")
            results[ref.name] = check_feature(ref, values, source.series(ref.name) if present
                                             else None, params)
        return results, "inprocess", 1
    from certify.raycluster import ensure_ray

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

def _kind_of(dtype: str) -> str:
    if dtype == "bool" or dtype == "boolean":
        return "boolean"
    try:
        return "numeric" if pd.api.types.is_numeric_dtype(np.dtype(dtype)) else "categorical"
    except TypeError:
        return "numeric" if dtype.lower().startswith(("int", "uint", "float")) else "categorical"


def check_schema(baseline: DriftBaseline, source: Source) -> SchemaCheck:
    manifest = baseline.manifest
    schema = manifest.schema_
    known = set(schema.features) | {schema.target}
    out = SchemaCheck()
    out.missing = [f for f in schema.features if f not in source.columns]
    out.extra = [c for c in source.columns if c not in known]
    for ref in manifest.features:
        if ref.name not in source.columns:
            continue
        new_kind = _kind_of(source.dtype(ref.name))
        old_group = "numeric" if ref.kind == "numeric" else "discrete"
        new_group = "numeric" if new_kind == "numeric" else "discrete"
        if new_group == old_group:
            continue
        series = source.series(ref.name)
        if series.isna().all():
            continue  # an all-missing column: reported by its missing-value rate
        testable = old_group == "discrete" or numeric_values(series)[1] == 0
        out.dtype_changes.append((ref.name, f"{ref.kind} ({ref.dtype})",
                                  source.dtype(ref.name), testable))
    return out


def detect(baseline: DriftBaseline, source: Source, *, model: Any = None,
           executor: str = "inprocess", workers: int | None = None, seed: int = 0,
           progress: Callable[[str], None] = lambda message: None) -> DriftReport:
    """Check ``source`` against ``baseline``: the engine of the suite and of ``certify drift``."""
    manifest = baseline.manifest
    params = manifest.params
    start = time.perf_counter()
    schema = check_schema(baseline, source)
    features, used, n_workers = run_feature_tests(baseline, source, executor=executor,
                                                  workers=workers, progress=progress)
    order = list(features)
    adjusted = adjust([features[n].p_value for n in order], params.correction)
    for name, p_adj in zip(order, adjusted, strict=True):
        features[name].p_adjusted = p_adj
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
        report.mmd = _mmd(baseline, manifest.mmd, source, schema, seed, params)
    report.seconds["check"] = round(time.perf_counter() - start, 4)
    return report


def _prediction_tests(baseline: DriftBaseline, source: Source, model: Any,
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
            r.summary = _summary(finite)
            r.ref_summary = _summary(baseline.array(rel))
        family.append(("scores", label, r))
    if pred.label_counts is not None and labels is not None:
        counts = count_categories(pd.Series(labels))
        r = DriftStat(name="labels", test="chi2", rows=len(labels), tested=len(labels),
                       ref_rows=pred.rows)
        if len(labels) < params.min_rows:
            r.error = f"{len(labels)} rows; the test needs at least {params.min_rows}"
        else:
            r.statistic, r.p_value, r.effect = chi2_test(pred.label_counts, counts)
            r.changes = _changes(pred.label_counts, counts)
            r.new_categories = [(k, n / len(labels)) for k, n in counts.items()
                                if k not in pred.label_counts]
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
            r.changes = _changes(target.counts, counts)
            r.new_categories = [(k, n / len(present)) for k, n in counts.items()
                                if k not in target.counts]
        else:
            values, n_bad, example = numeric_values(present)
            if n_bad or values is None:
                r.problem = f"target '{target.name}' has non-numeric values (e.g. {example!r})"
                return r
            r.statistic, r.p_value = ks_test(baseline.array(target.file), values)
            r.effect = r.statistic
    except Exception as exc:  # noqa: BLE001
        r.error = f"{type(exc).__name__}: {exc}"
    r.p_adjusted = r.p_value
    return r


def _mmd(baseline: DriftBaseline, ref: MMDRef, source: Source, schema: SchemaCheck, seed: int,
         params: DetectorParams) -> DriftStat:
    from certify.suites.drift.baseline import mmd_matrix

    r = DriftStat(name="mmd", test="mmd", rows=source.rows, ref_rows=ref.rows)
    needed = ref.numeric + list(ref.categorical)
    lacking = [c for c in needed if c not in source.columns]
    if lacking:
        r.problem = f"the data lacks column '{lacking[0]}'"
        return r
    try:
        frame = pd.concat(list(source.frames(needed)), ignore_index=True)
        rng = np.random.default_rng([seed, 5])
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
        r.error = f"{type(exc).__name__}: {exc}"
    return r


def compare_models(candidate: tuple[list[np.ndarray], np.ndarray | None],
                   baseline: tuple[list[np.ndarray], np.ndarray | None],
                   score_labels: list[str]) -> dict[str, DriftStat]:
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
            rows=len(c_labels), changes=_changes(bc, cc),
            details={"agreement": float(np.mean(c_labels == b_labels))})
    return out


# -- outcomes (one evidence record each) -------------------------------------------------------

def _fmt_p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.3g}"


def judge(r: DriftStat, params: DetectorParams, *, what: str,
                 null_check: bool = True) -> Outcome:
    """Judge one test: corrected p-value (and effect floor) plus the missing-value rate."""
    metrics: dict[str, Any] = {
        "test": r.test, "statistic": _clean(r.statistic), "p_value": _clean(r.p_value),
        "p_adjusted": _clean(r.p_adjusted), "effect": _clean(r.effect), "rows": r.rows,
        "tested": r.tested, "reference_rows": r.ref_rows, "null_rate": _clean(r.null_rate),
        "reference_null_rate": _clean(r.ref_null_rate), "correction": params.correction,
    }
    if r.new_categories:
        metrics["new_categories"] = [k for k, _ in r.new_categories]
    details = r.to_dict()
    if r.problem:
        return Outcome(status=Status.FAILED, reason=f"{what}: {r.problem}", metrics=metrics,
                       details=details)
    comparisons: list[Comparison] = []
    if null_check:
        increase = max(0.0, r.null_rate - r.ref_null_rate)
        comparisons.append(compare("null_rate_increase", increase, params.null_rate_increase,
                                   Direction.MAX))
    if r.tested == 0 and r.rows > 0 and null_check:
        reason = (f"{what}: all {r.rows} values are missing (reference: "
                  f"{r.ref_null_rate:.1%} missing)")
        return Outcome(status=Status.FAILED, reason=reason, metrics=metrics,
                       comparisons=comparisons, details=details)
    if r.error:
        status = Status.ERRORED
        return Outcome(status=status, reason=f"{what}: cannot test: {r.error}", metrics=metrics,
                       comparisons=comparisons, details=details)
    p_cmp = compare("p_adjusted", r.p_adjusted, params.p_value, Direction.MIN)
    note = ""
    if (p_cmp.status in (Status.FAILED, Status.WARNED) and r.effect is not None
            and r.effect < params.min_effect):
        note = (f" (significant but effect {r.effect:.3g} < min_effect {params.min_effect:g}: "
                "not counted)")
        p_cmp = p_cmp.model_copy(update={"status": Status.PASSED})
    comparisons.insert(0, p_cmp)
    effect = "" if r.effect is None or r.test == "ks" else f", effect {r.effect:.3g}"
    stat = "" if r.statistic is None else f"={r.statistic:.4g}"
    subject = f"{what}: {r.test}{stat}, p={_fmt_p(r.p_value)}{effect}"
    if r.new_categories:
        shown = ", ".join(f"'{k}' ({share:.1%})" for k, share in r.new_categories[:3])
        subject += f"; new categor{'y' if len(r.new_categories) == 1 else 'ies'} {shown}"
    out = Outcome.from_comparisons(comparisons, subject=subject + note, metrics=metrics,
                                   details=details)
    return out


def drifted_names(report: DriftReport) -> list[str]:
    params = report.params
    return [n for n, r in report.features.items()
            if judge(r, params, what=n).status is Status.FAILED]


def features_outcome(report: DriftReport) -> Outcome:
    params = report.params
    if not report.features:
        return Outcome(status=Status.SKIPPED, reason="no feature column is monitored")
    outcomes = {n: judge(r, params, what=n) for n, r in report.features.items()}
    statuses = [o.status for o in outcomes.values()]
    from certify.evidence import worst

    status = worst(statuses)
    failed = [n for n, o in outcomes.items() if o.status is Status.FAILED]
    warned = [n for n, o in outcomes.items() if o.status is Status.WARNED]
    errored = [n for n, o in outcomes.items() if o.status is Status.ERRORED]
    p_adj = [r.p_adjusted for r in report.features.values() if r.p_adjusted is not None]
    metrics: dict[str, Any] = {"features": len(outcomes), "drifted": failed, "warned": warned,
               "errored": errored, "min_p_adjusted": min(p_adj) if p_adj else None,
               "correction": params.correction, "rows": report.rows,
               "reference_rows": report.reference_rows}

    def describe(name: str) -> str:
        r = report.features[name]
        if r.problem:
            return f"{name} ({r.problem})"
        if r.tested == 0:
            return f"{name} (all values missing)"
        extra = f", new {', '.join(repr(k) for k, _ in r.new_categories[:2])}" \
            if r.new_categories else ""
        return f"{name} ({r.test} p_adj={_fmt_p(r.p_adjusted)}{extra})"

    if failed:
        reason = f"{len(failed)} of {len(outcomes)} features drifted: " + \
                 "; ".join(describe(n) for n in failed)
    elif errored:
        reason = f"{len(errored)} of {len(outcomes)} features could not be tested: " + \
                 "; ".join(f"{n} ({outcomes[n].reason})" for n in errored)
    elif warned:
        reason = f"no drift at {params.p_value.fail:g}; {len(warned)} of {len(outcomes)} " \
                 "features warn: " + ", ".join(warned)
    else:
        reason = f"no drift in {len(outcomes)} features ({params.correction}, min p_adj " \
                 f"{_fmt_p(metrics['min_p_adjusted'])})"
    artifacts = [report.manifest_artifact] if report.manifest_artifact else []
    return Outcome(status=status, reason=reason, metrics=metrics, artifacts=artifacts,
                   details={"features": {n: o.status.value for n, o in outcomes.items()},
                            "baseline": report.baseline})


def schema_outcome(report: DriftReport) -> Outcome:
    s = report.schema
    metrics = {"missing": s.missing, "extra": s.extra,
               "dtype_changes": [{"column": c, "reference": a, "data": b, "testable": t}
                                 for c, a, b, t in s.dtype_changes]}
    broken = [f"'{c}' was {a}, now {b}" for c, a, b, t in s.dtype_changes if not t]
    changed = [f"'{c}' was {a}, now {b}" for c, a, b, t in s.dtype_changes if t]
    if s.missing or broken:
        parts = []
        if s.missing:
            parts.append("missing feature column(s): " + ", ".join(s.missing))
        if broken:
            parts.append("type changed: " + "; ".join(broken))
        if s.extra:
            parts.append("columns not in the baseline (ignored): " + ", ".join(s.extra))
        return Outcome(status=Status.FAILED, reason="; ".join(parts), metrics=metrics)
    if s.extra or changed:
        parts = []
        if s.extra:
            parts.append("columns not in the baseline (ignored): " + ", ".join(s.extra))
        if changed:
            parts.append("dtype changed: " + "; ".join(changed))
        return Outcome(status=Status.WARNED, reason="; ".join(parts), metrics=metrics)
    return Outcome(status=Status.PASSED, reason="the data has the baseline's feature columns "
                                                "and types", metrics=metrics)


def prediction_outcome(report: DriftReport, which: str) -> Outcome:
    if report.prediction is None or which not in report.prediction:
        reason = report.prediction_skipped or f"no {which} to compare"
        return Outcome(status=Status.SKIPPED, reason=f"prediction {which}: {reason}")
    r = report.prediction[which]
    what = "candidate " + ("scores" if which == "scores" else "predicted labels")
    if which == "scores" and r.name.startswith("scores:"):
        label = r.name.split(":", 1)[1]
        what += f" (P({report.target_name}={label}))" if label != "prediction" else ""
    return judge(r, report.params, what=what, null_check=False)


def target_outcome(report: DriftReport) -> Outcome:
    if report.target is None:
        return Outcome(status=Status.SKIPPED, reason=report.target_skipped or "no target test")
    return judge(report.target, report.params, what=f"target {report.target.name}",
                        null_check=False)


def mmd_outcome(report: DriftReport) -> Outcome:
    if report.mmd is None:
        return Outcome(status=Status.SKIPPED, reason="no MMD detector in the baseline")
    return judge(report.mmd, report.params, what="whole table (MMD)", null_check=False)


def cvb_outcome(report: DriftReport, which: str, threshold: Threshold) -> Outcome:
    if report.cvb is None or which not in report.cvb:
        return Outcome(status=Status.SKIPPED, reason=f"no {which} of both models to compare")
    r = report.cvb[which]
    metric = "ks_distance" if which == "scores" else "label_distance"
    cmp = compare(metric, r.effect, threshold, Direction.MAX)
    metrics = {metric: _clean(r.effect), "p_value": _clean(r.p_value),
               "statistic": _clean(r.statistic), "rows": r.rows, **r.details}
    subject = ("candidate vs baseline score distributions on the same rows"
               if which == "scores" else
               "candidate vs baseline predicted-label shares on the same rows"
               + (f" (agreement {r.details['agreement']:.1%})" if "agreement" in r.details else ""))
    return Outcome.from_comparisons([cmp], subject=subject, metrics=metrics, details=r.to_dict())


# -- planning -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Planned:
    name: str
    param: str | None
    fn: Callable[[DriftReport], Outcome]
    description: str


def plan(features: list[tuple[str, str]], *, prediction: list[str], target: str | None,
         mmd: bool, cvb: list[str], settings: DriftSettings | None = None) -> list[Planned]:
    """The checks, in order: shared by the suite and ``certify drift``."""
    out = [Planned("schema", None, schema_outcome, "the data's columns and types vs the baseline")]
    for name, test in features:
        def fn(report: DriftReport, name: str = name) -> Outcome:
            return judge(report.features[name], report.params, what=name)

        label = "Kolmogorov-Smirnov" if test == "ks" else "chi-squared"
        out.append(Planned(test, name, fn, f"{label} drift test of {name} vs the reference"))
    out.append(Planned("features", None, features_outcome,
                       "all feature tests, corrected for multiple testing"))
    for which in prediction:
        def pfn(report: DriftReport, which: str = which) -> Outcome:
            return prediction_outcome(report, which)

        out.append(Planned("prediction", which, pfn,
                           f"candidate's {which} on the data vs on the reference rows"))
    if target is not None:
        out.append(Planned("target", target, target_outcome,
                           f"distribution of the target {target} vs the reference"))
    if mmd:
        out.append(Planned("mmd", None, mmd_outcome, "MMD permutation test on the whole table"))
    s = settings or DriftSettings()
    for which in cvb:
        threshold = s.score_distance if which == "scores" else s.label_distance

        def cfn(report: DriftReport, which: str = which, threshold: Threshold = threshold
                ) -> Outcome:
            return cvb_outcome(report, which, threshold)

        out.append(Planned("candidate_vs_baseline", which, cfn,
                           f"candidate vs baseline {which} on the same evaluation rows"))
    return out


def plan_from_baseline(baseline: DriftBaseline) -> list[Planned]:
    m = baseline.manifest
    prediction = []
    if m.prediction is not None:
        if m.prediction.files:
            prediction.append("scores")
        if m.prediction.label_counts is not None:
            prediction.append("labels")
    return plan([(f.name, f.test) for f in m.features], prediction=prediction,
                target=m.target.name if m.target else None, mmd=m.mmd is not None, cvb=[])


# -- the suite ------------------------------------------------------------------------------

class DriftSuite(Suite):

    def panels(self, record: SuiteRecord[Any]) -> list[Panel]:
        return view.panels(record)
    name = NAME
    settings_model = DriftSettings
    description = ("Data and prediction drift of the evaluation data against detectors fitted on "
                   "the reference data, saved as the certified drift baseline.")

    def _prediction_plan(self, ctx: SuiteContext) -> list[str]:
        s: DriftSettings = ctx.settings
        if not s.prediction:
            return []
        if ctx.data.schema.task == "regression":
            return ["scores"]
        return (["scores"] if ctx.candidate.predict_proba is not None else []) + ["labels"]

    def _cvb_plan(self, ctx: SuiteContext) -> list[str]:
        s: DriftSettings = ctx.settings
        if ctx.baseline is None or not s.candidate_vs_baseline:
            return []
        if ctx.data.schema.task == "regression":
            return ["scores"]
        both = ctx.candidate.predict_proba is not None and ctx.baseline.predict_proba is not None
        return (["scores"] if both else []) + ["labels"]

    def checks(self, ctx: SuiteContext) -> list[CheckSpec]:
        s: DriftSettings = ctx.settings
        features, _ = feature_plan(ctx.data.schema, ctx.sensitive_columns, s.fit_options())
        planned = plan(features, prediction=self._prediction_plan(ctx),
                       target=ctx.data.schema.target if s.target else None, mmd=s.mmd,
                       cvb=self._cvb_plan(ctx), settings=s)
        return [self.check(p.name, p.fn, param=p.param, description=p.description)
                for p in planned]

    def run(self, ctx: SuiteContext) -> DriftReport:
        from certify.outputs import DRIFT_BASELINE
        from certify.suites.drift.baseline import fit_baseline
        from certify.version import __version__

        s: DriftSettings = ctx.settings
        start = time.perf_counter()
        ctx.progress("drift: fitting detectors on the reference data")
        baseline = fit_baseline(
            ctx.data.reference, ctx.data.schema, sensitive=ctx.sensitive_columns, seed=ctx.seed,
            options=s.fit_options(), params=s.params(), harness_version=__version__,
            model=ctx.candidate if s.prediction else None,
            trusted_types=list(ctx.policy.candidate.trusted_types),
            reference_digest=ctx.data.reference_digest)
        directory = ctx.run_dir / DRIFT_BASELINE
        digest = baseline.save(directory)
        fit_s = time.perf_counter() - start
        ctx.progress("drift: checking the evaluation data")
        report = detect(baseline, FrameSource(ctx.data.evaluation), model=ctx.candidate,
                        executor=s.executor, workers=s.workers, seed=ctx.seed,
                        progress=ctx.progress)
        report.seconds["fit"] = round(fit_s, 4)
        cvb = self._cvb_plan(ctx)
        if cvb and ctx.baseline is not None and report.candidate_scores is not None:
            pred = baseline.manifest.prediction
            assert pred is not None
            labels = pred.score_labels or ["prediction"]
            if ctx.baseline.predict_proba is None and ctx.data.schema.task == "classification":
                labels = ["prediction"]
            base_scores = model_scores(ctx.baseline, ctx.data.X(), ctx.baseline.classes, labels)
            report.cvb = compare_models(report.candidate_scores, base_scores,
                                        pred.score_labels or ["prediction"])
        files = [p for p in directory.rglob("*") if p.is_file()]
        report.baseline = {
            "path": DRIFT_BASELINE, "digest": digest,
            "format_version": baseline.manifest.format_version, "files": len(files),
            "bytes": sum(p.stat().st_size for p in files), "stored": baseline.manifest.stored,
            "not_monitored": baseline.manifest.not_monitored,
            "sensitive_handling": baseline.manifest.sensitive_handling,
        }
        report.manifest_artifact = Artifact.from_file(ctx.run_dir, directory / "manifest.json",
                                                      "drift baseline manifest")
        return report

    def report_data(self, ctx: SuiteContext, result: DriftReport) -> dict[str, Any]:
        params = result.params

        def row(r: DriftStat, outcome: Outcome) -> dict[str, Any]:
            out = r.to_dict()
            out["status"] = outcome.status.value
            out["drifted"] = outcome.status is Status.FAILED
            return out

        features = [row(r, judge(r, params, what=n)) for n, r in result.features.items()]
        return {
            "rows": {"reference": result.reference_rows, "evaluation": result.rows},
            "correction": params.correction,
            "p_value": {"fail": params.p_value.fail, "warn": params.p_value.warn},
            "min_effect": params.min_effect,
            "features": features,
            "drifted": [f["name"] for f in features if f["drifted"]],
            "prediction": ({k: row(r, prediction_outcome(result, k))
                            for k, r in result.prediction.items()}
                           if result.prediction else None),
            "target": row(result.target, target_outcome(result)) if result.target else None,
            "mmd": row(result.mmd, mmd_outcome(result)) if result.mmd else None,
            "candidate_vs_baseline": ({k: r.to_dict() for k, r in result.cvb.items()}
                                      if result.cvb else None),
            "schema": schema_outcome(result).metrics,
            "baseline": result.baseline,
            "executor": result.executor,
            "workers": result.workers,
            "seconds": result.seconds,
        }
