"""validation: deepchecks' data integrity, train-test validation and model evaluation checks.

Built on deepchecks 0.19.1 (tabular). Three groups of deepchecks checks run on seeded,
stratified samples of the data:

* ``integrity`` (deepchecks' data integrity checks) on the evaluation sample;
* ``train_test`` (train-test validation) between the reference sample ("train") and the
  evaluation sample ("test");
* ``model`` (model evaluation) of the candidate on the same two samples, and the same checks
  of the baseline for comparison (``baseline_checks``), plus ``vs_baseline[<scorer>]``:
  deepchecks' ``SingleDatasetPerformance`` scores of both models on the evaluation sample,
  compared as ``candidate - baseline`` against ``comparison.margin`` (default
  ``{fail = -0.02, warn = -0.005}``; scorers default to accuracy and roc_auc, or neg_rmse and r2).

Evidence: one record per configured deepchecks condition
    The checks and their conditions come from the policy (``[suites.validation.checks]``),
    merged field by field over the defaults (``default_checks = true``, see ``DEFAULT_CHECKS``:
    is_single_value, percent_of_nulls, special_characters, mixed_nulls, mixed_data_types,
    string_mismatch, data_duplicates, conflicting_labels (classification),
    feature_label_correlation,
    feature_feature_correlation; new_label_train_test (classification), new_category_train_test,
    string_mismatch_comparison, train_test_samples_mix, feature_label_correlation_change (two
    conditions), feature_drift, label_drift, multivariate_drift; train_test_performance (20%,
    warn only), roc_report (classification, with probabilities), prediction_drift,
    simple_model_comparison, unused_features). Thresholds are deepchecks' own defaults unless
    ``DEFAULT_CHECKS`` says otherwise. Slow checks are left out of the defaults
    (``weak_segments_performance`` takes seconds per model and sometimes cannot train its error
    model) and can be added. deepchecks 0.19.1's ``regression_error_distribution`` and
    ``regression_systematic_error`` call ``mean_squared_error(squared=False)``, which
    scikit-learn 1.6 removed: configured here, they error. A check is named by its snake-case key
    (``data_duplicates`` is deepchecks' ``DataDuplicates``; ``check = "..."`` names the class
    explicitly, e.g. to run one check twice with different parameters; ``group`` is needed only
    for a class this module does not know) and configured with ``params`` (constructor
    arguments) and ``conditions``: ``{<condition> = {<argument> = value}}`` where
    ``<condition>`` is the name of deepchecks' ``add_condition_<condition>`` method. Example::

        [suites.validation.checks.data_duplicates]
        conditions = { ratio_less_or_equal = { max_ratio = 0.01 } }
        severity = "fail"
        [suites.validation.checks.feature_drift]
        enabled = false
        [suites.validation.checks.weak_segments_performance]
        conditions = { segments_relative_performance_greater_than = { max_ratio_change = 0.2 } }

    The record id is ``validation::<check>`` for a check with one condition and
    ``validation::<check>[<condition>]`` for each condition of a check with several. A check
    with no condition runs (for the HTML) but makes no record. Status comes from deepchecks'
    ``ConditionResult``: PASS -> passed, WARN -> warned, FAIL -> failed, ERROR -> errored;
    ``severity = "fail"`` (or ``"warn"``) turns an unmet condition (WARN or FAIL) into failed
    (or warned): deepchecks itself only WARNs about some problems, e.g. duplicates. The
    record's ``metrics`` hold the condition's arguments (``threshold.<arg>``), the numbers the
    check computed (deepchecks' ``reduce_output()`` where the check has one, and the numbers of
    its value one or two levels deep, e.g. per-class AUC, per-column drift scores), and the
    sample (``sample_rows_reference``, ``sample_rows_evaluation``, ``sample_seed``); ``details``
    hold deepchecks' condition text, a bounded summary of the check's value, and for ``model``
    checks the baseline's condition result and numbers (``baseline.<name>`` in ``metrics``; the
    record's status is the candidate's). A model check where the candidate fails a condition
    the baseline passes says so in the reason ("the candidate regressed").

Failures of deepchecks itself, and too little data
    A check that raises, a condition name deepchecks does not have, or bad arguments: errored
    with the reason. A check deepchecks declares not applicable to this data or model
    (``DeepchecksNotSupportedError``, ``DatasetValidationError``, ``ModelValidationError``,
    ``NotEnoughSamplesError``, e.g. a date-leakage check on data without dates) is **skipped**
    when the check is configured ``required = false``, and **errored** when it is required (the
    default): a required check that could not run never passes. With fewer than ``min_rows``
    (default 100) reference or evaluation rows nothing runs and every record errors with that
    reason: deepchecks happily scores a dozen rows, and the result is noise.

Sampling
    deepchecks is slow on large data: the reference and the evaluation data are each cut to
    ``sample_size`` rows (default 1000; stratified by the target: by class for classification,
    by target decile for regression), drawn from the policy seed. Smaller data is used whole.
    Random choices inside deepchecks' checks (``random_state``) are set from the seed as well.

Sensitive columns (``sensitive_columns``)
    deepchecks never sees their raw values, so neither its results nor its HTML can show them:
    before the deepchecks datasets are built, a sensitive categorical/boolean feature is
    replaced by the same short hashes ``ctx.mask`` writes (equality is kept: duplicates,
    conflicting labels, new categories still work; the mix of types inside one column is not),
    and a sensitive numeric feature by its dense rank among the sampled reference and evaluation
    values (order is kept: KS drift, predictive power and Spearman correlation are unchanged).
    The models still score the raw values: the adapter handed to deepchecks puts the raw
    sensitive values back by row index before calling the model (a row deepchecks made up is
    refused, and that check errors). Non-feature columns are not given to deepchecks. The target
    is never pseudonymised.

Feature importance
    deepchecks' own permutation importance takes tens of seconds. ``feature_importance =
    "permutation"`` computes a seeded permutation importance here instead (``importance_repeats``
    shuffles per feature on the evaluation sample, drop in accuracy or R^2, normalised to sum 1)
    and hands it to deepchecks (used by ``unused_features`` and to weigh and order features);
    ``"none"`` gives deepchecks none.

Speed
    ``threads = 1`` (default) limits BLAS/OpenMP to one thread and runs joblib sequentially
    while deepchecks works: its multivariate drift check otherwise starts a pool of worker
    processes (seconds) and its boosting models spin on a loaded machine.

deepchecks' own HTML (``html = true``; default off: with displays on, the run takes longer)
    Saved as ``artifacts/validation/deepchecks.html`` with the record
    ``validation::html_report`` (not required). It is deepchecks' plain HTML export
    (``as_widget=False``: no ipywidgets/anywidget; a favicon link, which the widget export
    has, would be removed), offline (``connected=False``: require.js and plotly.js inlined). deepchecks inlines plotly.js (4.8 MB) in every figure and
    once more as a require.js module: every copy is removed and one is put at the start of the
    page. The file is then checked to load no script, stylesheet, frame or image from the
    network; if it would, it is not written and the record errors.

deepchecks import
    deepchecks is imported inside ``run()`` only, with its warnings and logging silenced. Its
    import is slow; the slowest part (about 4 s) is jsonschema building an IRI grammar with the
    optional ``rfc3987_syntax`` package, which nothing here uses: while deepchecks is imported,
    that optional package is hidden (jsonschema then lacks the ``iri`` format check in this
    process).

``report_data`` keys
    ``too_few`` (why nothing ran, or null), ``sample`` ({``reference_rows``,
    ``evaluation_rows``, ``reference_total``, ``evaluation_total``, ``seed``,
    ``stratified_by``}), ``pseudonymised`` (sensitive feature columns deepchecks saw
    pseudonymised), ``checks`` (one row per deepchecks check run: {``check``, ``class``,
    ``group``, ``role`` (candidate|baseline|null), ``state`` (ok|not_applicable|error),
    ``error``, ``seconds``, ``conditions``: [{``id``, ``condition``, ``name``, ``status``
    (as in the records, ``severity`` applied), ``details``}]}), ``counts`` ({group: {status:
    n}} over the conditions of the non-baseline runs), ``comparison`` ([{``scorer``, ``candidate``,
    ``baseline``, ``diff``}]), ``feature_importance`` ({role: {feature: importance}}), ``html``
    (artifact path or null), ``html_error``, ``timings`` ({``import_s``, ``run_s``}).
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import logging
import math
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from certify.errors import ConfigError
from certify.evidence import Artifact, Direction, Outcome, Status, Threshold, compare
from certify.suite import CheckSpec, Suite, SuiteContext, SuiteSettings

Group = Literal["integrity", "train_test", "model"]

#: Every deepchecks 0.19 tabular check with conditions: key -> (class, group).
KNOWN_CHECKS: dict[str, tuple[str, Group]] = {
    # data integrity (one dataset: the evaluation sample)
    "class_imbalance": ("ClassImbalance", "integrity"),
    "conflicting_labels": ("ConflictingLabels", "integrity"),
    "data_duplicates": ("DataDuplicates", "integrity"),
    "feature_feature_correlation": ("FeatureFeatureCorrelation", "integrity"),
    "feature_label_correlation": ("FeatureLabelCorrelation", "integrity"),
    "identifier_label_correlation": ("IdentifierLabelCorrelation", "integrity"),
    "is_single_value": ("IsSingleValue", "integrity"),
    "mixed_data_types": ("MixedDataTypes", "integrity"),
    "mixed_nulls": ("MixedNulls", "integrity"),
    "outlier_sample_detection": ("OutlierSampleDetection", "integrity"),
    "percent_of_nulls": ("PercentOfNulls", "integrity"),
    "special_characters": ("SpecialCharacters", "integrity"),
    "string_length_out_of_bounds": ("StringLengthOutOfBounds", "integrity"),
    "string_mismatch": ("StringMismatch", "integrity"),
    # train-test validation (reference sample vs evaluation sample)
    "category_mismatch_train_test": ("CategoryMismatchTrainTest", "train_test"),
    "datasets_size_comparison": ("DatasetsSizeComparison", "train_test"),
    "date_train_test_leakage_duplicates": ("DateTrainTestLeakageDuplicates", "train_test"),
    "date_train_test_leakage_overlap": ("DateTrainTestLeakageOverlap", "train_test"),
    "feature_drift": ("FeatureDrift", "train_test"),
    "feature_label_correlation_change": ("FeatureLabelCorrelationChange", "train_test"),
    "index_train_test_leakage": ("IndexTrainTestLeakage", "train_test"),
    "label_drift": ("LabelDrift", "train_test"),
    "multivariate_drift": ("MultivariateDrift", "train_test"),
    "new_category_train_test": ("NewCategoryTrainTest", "train_test"),
    "new_label_train_test": ("NewLabelTrainTest", "train_test"),
    "string_mismatch_comparison": ("StringMismatchComparison", "train_test"),
    "train_test_samples_mix": ("TrainTestSamplesMix", "train_test"),
    "whole_dataset_drift": ("WholeDatasetDrift", "train_test"),
    # model evaluation (candidate, and baseline for comparison)
    "boosting_overfit": ("BoostingOverfit", "model"),
    "calibration_score": ("CalibrationScore", "model"),
    "confusion_matrix_report": ("ConfusionMatrixReport", "model"),
    "model_inference_time": ("ModelInferenceTime", "model"),
    "prediction_drift": ("PredictionDrift", "model"),
    "regression_error_distribution": ("RegressionErrorDistribution", "model"),
    "regression_systematic_error": ("RegressionSystematicError", "model"),
    "roc_report": ("RocReport", "model"),
    "simple_model_comparison": ("SimpleModelComparison", "model"),
    "single_dataset_performance": ("SingleDatasetPerformance", "model"),
    "train_test_performance": ("TrainTestPerformance", "model"),
    "unused_features": ("UnusedFeatures", "model"),
    "weak_segments_performance": ("WeakSegmentsPerformance", "model"),
}

Task = Literal["classification", "regression"]
_BOTH: tuple[Task, ...] = ("classification", "regression")

#: The default checks: key -> (tasks it applies to, conditions {name: arguments}).
#: Thresholds are deepchecks' own defaults unless a comment says otherwise.
DEFAULT_CHECKS: dict[str, tuple[tuple[Task, ...], dict[str, dict[str, Any]]]] = {
    "is_single_value": (_BOTH, {"not_single_value": {}}),
    "percent_of_nulls": (_BOTH, {"percent_of_nulls_not_greater_than": {"threshold": 0.05}}),
    "special_characters": (_BOTH, {"ratio_of_special_characters_less_or_equal":
                                   {"max_ratio": 0.001}}),
    "mixed_nulls": (_BOTH, {"different_nulls_less_equal_to": {"max_allowed_null_types": 1}}),
    "mixed_data_types": (_BOTH, {"rare_type_ratio_not_in_range": {"ratio_range": [0.01, 0.1]}}),
    "string_mismatch": (_BOTH, {"no_variants": {}}),
    "data_duplicates": (_BOTH, {"ratio_less_or_equal": {"max_ratio": 0.05}}),
    "conflicting_labels": (("classification",), {"ratio_of_conflicting_labels_less_or_equal": {"max_ratio": 0.0}}),
    "feature_label_correlation": (_BOTH, {"feature_pps_less_than": {"threshold": 0.8}}),
    "feature_feature_correlation": (_BOTH, {"max_number_of_pairs_above_threshold":
                                            {"threshold": 0.9, "n_pairs": 0}}),
    "new_label_train_test": (("classification",), {"new_labels_number_less_or_equal": {"max_new": 0}}),
    "new_category_train_test": (_BOTH, {"new_category_ratio_less_or_equal": {"max_ratio": 0.0}}),
    "string_mismatch_comparison": (_BOTH, {"no_new_variants": {}}),
    "train_test_samples_mix": (_BOTH, {"duplicates_ratio_less_or_equal": {"max_ratio": 0.05}}),
    "feature_label_correlation_change": (_BOTH, {
        "feature_pps_difference_less_than": {"threshold": 0.2},
        "feature_pps_in_train_less_than": {"threshold": 0.7},
    }),
    "feature_drift": (_BOTH, {"drift_score_less_than": {"max_allowed_categorical_score": 0.2,
                                                        "max_allowed_numeric_score": 0.2}}),
    "label_drift": (_BOTH, {"drift_score_less_than": {"max_allowed_drift_score": 0.15}}),
    "multivariate_drift": (_BOTH, {"overall_drift_value_less_than": {"max_drift_value": 0.25}}),
    # The reference data is the training data, so train scores are in-sample: deepchecks'
    # 10% relative degradation flags any flexible model. 20%, and only a warning (see
    # DEFAULT_SEVERITY): the holdout performance itself is judged by the quality suite.
    "train_test_performance": (_BOTH, {"train_test_relative_degradation_less_than":
                                       {"threshold": 0.2}}),
    "roc_report": (("classification",), {"auc_greater_than": {"min_auc": 0.7}}),
    "prediction_drift": (_BOTH, {"drift_score_less_than": {"max_allowed_drift_score": 0.15}}),
    "simple_model_comparison": (_BOTH, {"gain_greater_than": {"min_allowed_gain": 0.1}}),
    "unused_features": (_BOTH, {"number_of_high_variance_unused_features_less_or_equal":
                                {"max_high_variance_unused_features": 5}}),
}

#: Not defaults: deepchecks 0.19.1's RegressionErrorDistribution and RegressionSystematicError
#: call ``mean_squared_error(squared=False)``, which scikit-learn 1.6 removed: they raise here.

#: Default checks whose unmet conditions only warn (``severity``).
DEFAULT_SEVERITY: dict[str, Literal["deepchecks", "fail", "warn"]] = {
    "train_test_performance": "warn",
}

#: Default checks and scorers that need the models' probabilities.
NEEDS_PROBA = {"roc_report", "roc_auc"}

#: deepchecks scorer names compared with the baseline by default (higher is better).
DEFAULT_SCORERS: dict[str, list[str]] = {
    "classification": ["accuracy", "roc_auc"],
    "regression": ["neg_rmse", "r2"],
}

#: deepchecks errors that mean "this check does not apply to this data/model".
_NOT_APPLICABLE = ("DeepchecksNotSupportedError", "DatasetValidationError",
                   "ModelValidationError", "NotEnoughSamplesError")
_CATEGORY_STATUS = {"PASS": Status.PASSED, "WARN": Status.WARNED, "FAIL": Status.FAILED,
                    "ERROR": Status.ERRORED}
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


class ValidationCheck(BaseModel):
    """One deepchecks check in the policy (merged field by field over its default)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Run this check.")
    check: str | None = Field(
        default=None, description="deepchecks class (default: the key in CamelCase, e.g. "
        "data_duplicates -> DataDuplicates).")
    group: Group | None = Field(
        default=None, description="integrity (evaluation data), train_test (reference vs "
        "evaluation) or model (candidate and baseline); known checks need none.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Arguments of the deepchecks check's constructor.")
    conditions: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="{condition = {argument = value}}: deepchecks' "
        "add_condition_<condition>(**arguments); each condition is one evidence record.")
    required: bool = Field(
        default=True, description="A required check deepchecks finds not applicable errors; "
        "a check that is not required is then skipped, and never blocks the verdict.")
    severity: Literal["deepchecks", "fail", "warn"] = Field(
        default="deepchecks", description="Status of a condition that is not met: deepchecks' "
        "own category (some conditions only WARN, e.g. data_duplicates), or always failed, or "
        "always warned. Errors stay errors.")


class BaselineComparison(BaseModel):
    """Candidate vs baseline on deepchecks' scorers (records ``vs_baseline[<scorer>]``)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Compare with the baseline when there is one.")
    scorers: list[str] | None = Field(
        default=None, description="deepchecks scorer names, higher is better (default: accuracy "
        "and roc_auc, or neg_rmse and r2 for regression).")
    margin: Threshold = Field(
        default=Threshold(fail=-0.02, warn=-0.005),
        description="Threshold on candidate score minus baseline score (must be at least).")


class ValidationSettings(SuiteSettings):
    sample_size: int = Field(
        default=1000, ge=20, le=10_000_000,
        description="Rows of the reference and of the evaluation data given to deepchecks "
        "(each; stratified by the target, seeded). Smaller data is used whole.")
    min_rows: int = Field(
        default=100, ge=1, description="Fewer reference or evaluation rows than this: every "
        "record errors (deepchecks' scores on a handful of rows are noise, not evidence).")
    default_checks: bool = Field(
        default=True, description="Start from the built-in checks (documented in the suite); "
        "'checks' entries are merged over them.")
    checks: dict[str, ValidationCheck] = Field(
        default_factory=dict, description="deepchecks checks by snake-case key.")
    baseline_checks: bool = Field(
        default=True, description="Run the model checks on the baseline too, for comparison.")
    comparison: BaselineComparison = Field(
        default_factory=BaselineComparison, description="Candidate vs baseline scores.")
    feature_importance: Literal["permutation", "none"] = Field(
        default="permutation", description="Feature importance handed to deepchecks: a fast "
        "seeded permutation importance, or none.")
    importance_repeats: int = Field(
        default=2, ge=1, le=50, description="Shuffles per feature for the permutation importance.")
    html: bool = Field(
        default=False, description="Save deepchecks' own HTML (offline) as an artifact; slower.")
    threads: int | None = Field(
        default=1, ge=1, description="BLAS/OpenMP threads for deepchecks' own models; 1 also "
        "keeps joblib from starting worker processes (none: the libraries' defaults). One is "
        "fastest on samples this size and on a shared machine.")

    @model_validator(mode="after")
    def _sample_holds_min_rows(self) -> ValidationSettings:
        if self.sample_size < self.min_rows:
            raise ValueError(f"sample_size ({self.sample_size}) is below min_rows ({self.min_rows})")
        return self


# -- planning -------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlannedCheck:
    key: str
    cls: str
    group: Group
    params: dict[str, Any]
    conditions: dict[str, dict[str, Any]]
    required: bool
    severity: str = "deepchecks"

    def record_name(self, condition: str) -> tuple[str, str | None]:
        return (self.key, None) if len(self.conditions) == 1 else (self.key, condition)


def _camel(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_"))


def plan_checks(settings: ValidationSettings, task: str,
                has_proba: bool = True) -> list[PlannedCheck]:
    """The enabled checks in order: defaults for the task (without the ones that need
    probabilities when the candidate has none), merged with the policy's entries."""
    merged: dict[str, ValidationCheck] = {}
    if settings.default_checks:
        for key, (tasks, conditions) in DEFAULT_CHECKS.items():
            if task in tasks and (has_proba or key not in NEEDS_PROBA):
                merged[key] = ValidationCheck(conditions=conditions,
                                              severity=DEFAULT_SEVERITY.get(key, "deepchecks"))
    for key, entry in settings.checks.items():
        where = f"suites.validation.checks.{key}"
        if not _KEY.match(key):
            raise ConfigError(f"{where}: check keys are snake_case names such as data_duplicates")
        base = merged.get(key, ValidationCheck())
        merged[key] = base.model_copy(update={f: getattr(entry, f) for f in entry.model_fields_set})
    planned = []
    for key, entry in merged.items():
        if not entry.enabled:
            continue
        where = f"suites.validation.checks.{key}"
        known = KNOWN_CHECKS.get(key)
        cls = entry.check or (known[0] if known else None)
        if cls is None:
            raise ConfigError(f"{where}: unknown deepchecks check '{key}' (known: "
                              f"{', '.join(KNOWN_CHECKS)}); set 'check' and 'group' for another")
        group = entry.group or next((g for c, g in KNOWN_CHECKS.values() if c == cls), None)
        if group is None:
            raise ConfigError(f"{where}: set 'group' (integrity, train_test or model) for "
                              f"deepchecks check {cls}")
        planned.append(PlannedCheck(key, cls, group, dict(entry.params),
                                    {k: dict(v) for k, v in entry.conditions.items()},
                                    entry.required, entry.severity))
    return planned


# -- results --------------------------------------------------------------------------------

@dataclass
class ConditionResult:
    key: str
    name: str
    category: str  # PASS | WARN | FAIL | ERROR, or "" when the condition could not be added
    details: str


@dataclass
class CheckRun:
    key: str
    cls: str
    group: Group
    role: str | None  # candidate | baseline for model checks
    state: str = "ok"  # ok | not_applicable | error
    error: str | None = None
    conditions: dict[str, ConditionResult] = field(default_factory=dict)
    condition_errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    summary: Any = None
    seconds: float = 0.0


@dataclass
class ValidationResult:
    too_few: str | None  # why nothing ran: too few rows
    runs: dict[tuple[str, str | None], CheckRun]
    sample: dict[str, Any]
    pseudonymised: list[str]
    comparison: dict[str, dict[str, float | None]]
    comparison_error: str | None
    importance: dict[str, dict[str, float]]
    html: Artifact | None
    html_error: str | None
    import_s: float
    run_s: float


# -- helpers --------------------------------------------------------------------------------

def stratified_sample(frame: pd.DataFrame, target: str, task: str, size: int,
                      rng: np.random.Generator) -> pd.DataFrame:
    """``size`` rows of ``frame`` keeping the target's class shares (or deciles), seeded."""
    n = len(frame)
    if n <= size:
        return frame
    y = frame[target]
    if task == "classification":
        strata = pd.factorize(y, sort=True, use_na_sentinel=False)[0]
    else:
        strata = pd.qcut(y.rank(method="first"), q=min(10, n), labels=False).to_numpy()
    keys, inverse = np.unique(strata, return_inverse=True)
    counts = np.bincount(inverse)
    quota = np.floor(counts / n * size).astype(int)
    quota = np.maximum(quota, np.minimum(counts, 1))  # every class present keeps a row
    # Hand out what rounding left (or take back what the minimum added), largest strata first.
    order = np.argsort(-(counts / n * size - quota), kind="stable")
    i = 0
    while quota.sum() < size:
        k = order[i % len(keys)]
        if quota[k] < counts[k]:
            quota[k] += 1
        i += 1
    while quota.sum() > size:
        k = int(np.argmax(quota))
        quota[k] -= 1
    chosen = []
    for k in range(len(keys)):
        rows = np.flatnonzero(inverse == k)
        chosen.append(rng.choice(rows, size=quota[k], replace=False))
    picked = np.sort(np.concatenate(chosen))
    return frame.iloc[picked]


def condition_status(category: str, severity: str) -> Status:
    """deepchecks' condition category as a status, with the policy's ``severity`` applied."""
    status = _CATEGORY_STATUS.get(category, Status.ERRORED)
    if status in (Status.WARNED, Status.FAILED) and severity != "deepchecks":
        status = Status.FAILED if severity == "fail" else Status.WARNED
    return status


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _jsonable(value: Any, depth: int = 0, limit: int = 20) -> Any:
    """A bounded, JSON-able summary of a deepchecks check value."""
    if depth > 4:
        return str(type(value).__name__)
    if value is None or isinstance(value, bool | str):
        return value[:300] if isinstance(value, str) else value
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        if isinstance(value, int | np.integer):
            return int(value)
        return number if math.isfinite(number) else None
    if isinstance(value, pd.DataFrame):
        frame = value.head(limit)
        rows = frame.reset_index().to_dict(orient="records") if not isinstance(
            frame.index, pd.RangeIndex) else frame.to_dict(orient="records")
        out: Any = [_jsonable({str(k): v for k, v in r.items()}, depth + 1, limit) for r in rows]
        if len(value) > limit:
            out.append(f"... {len(value) - limit} more rows")
        return out
    if isinstance(value, pd.Series):
        return _jsonable(value.to_dict(), depth, limit)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist(), depth, limit)
    if isinstance(value, dict):
        items = list(value.items())
        out = {str(k): _jsonable(v, depth + 1, limit) for k, v in items[:limit]}
        if len(items) > limit:
            out["..."] = f"{len(items) - limit} more"
        return out
    if isinstance(value, list | tuple | set | frozenset):
        seq = list(value)
        out = [_jsonable(v, depth + 1, limit) for v in seq[:limit]]
        if len(seq) > limit:
            out.append(f"... {len(seq) - limit} more")
        return out
    return str(value)[:300]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """deepchecks' warnings, log lines and progress bars kept off the terminal."""
    logger = logging.getLogger("deepchecks")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def import_deepchecks() -> tuple[Any, float]:
    """Import deepchecks.tabular (slow) quietly; returns the module and the seconds it took."""
    start = time.perf_counter()
    hidden = False
    if "rfc3987_syntax" not in sys.modules and "jsonschema._format" not in sys.modules:
        # jsonschema builds a large IRI grammar at import when this optional package is
        # installed (~4 s); deepchecks never validates IRIs.
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
        hidden = True
    try:
        with _quiet():
            import deepchecks.tabular as dct
            import deepchecks.tabular.checks  # noqa: F401
    finally:
        if hidden and sys.modules.get("rfc3987_syntax", 0) is None:
            del sys.modules["rfc3987_syntax"]
    return dct, time.perf_counter() - start


class ModelForDeepchecks:
    """A certify :class:`Model` as the scikit-learn-like object deepchecks expects.

    deepchecks' frames carry pseudonymised sensitive columns; the raw values are put back by
    row index (``raw``) before the model scores them. Predictions are cached by content.
    """

    def __init__(self, model: Any, raw: pd.DataFrame, sensitive: list[str], features: list[str],
                 task: str) -> None:
        self._model = model
        self._raw = raw
        self._sensitive = [c for c in sensitive if c in features]
        self._features = features
        self._cache: dict[tuple[str, bytes], np.ndarray] = {}
        if task == "classification" and model.classes is not None:
            self.classes_ = np.asarray(model.classes)
        if model.predict_proba is not None:
            self.predict_proba = self._predict_proba

    def _restore(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        X = X[self._features]  # noqa: N806
        if not self._sensitive:
            return X
        missing = X.index.difference(self._raw.index)
        if len(missing):
            raise ValueError(f"{len(missing)} rows deepchecks made up: their pseudonymised "
                             "sensitive values cannot be restored for the model")
        X = X.copy()  # noqa: N806
        for column in self._sensitive:
            X[column] = self._raw.loc[X.index, column].to_numpy()
        return X

    def _cached(self, kind: str, X: pd.DataFrame, fn: Any) -> np.ndarray:  # noqa: N803
        key = (kind, hashlib.sha1(pd.util.hash_pandas_object(X, index=True).to_numpy().tobytes()
                                  + repr(list(X.columns)).encode()).digest())
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = np.asarray(fn(self._restore(X)))
        return self._cache[key]

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return self._cached("predict", X, self._model.predict)

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return self._cached("proba", X, self._model.predict_proba)

    def fit(self, *args: Any, **kwargs: Any) -> ModelForDeepchecks:  # deepchecks checks for it
        return self


def permutation_importance(model: Any, X: pd.DataFrame, y: np.ndarray, task: str,  # noqa: N803
                           repeats: int, rng: np.random.Generator) -> dict[str, float] | None:
    """Seeded permutation importance (drop in accuracy / R^2), normalised to sum 1."""
    from sklearn.metrics import accuracy_score, r2_score

    def score(frame: pd.DataFrame) -> float:
        pred = np.asarray(model.predict(frame))
        if task == "classification":
            return float(accuracy_score(y, pred))
        return float(r2_score(y.astype(float), pred.astype(float)))

    base = score(X)
    drops = {}
    for column in X.columns:
        values = X[column].to_numpy()
        total = 0.0
        for _ in range(repeats):
            shuffled = X.copy()
            shuffled[column] = values[rng.permutation(len(values))]
            total += base - score(shuffled)
        drops[str(column)] = max(0.0, total / repeats)
    norm = sum(drops.values())
    if norm <= 0:
        return None
    return {k: v / norm for k, v in drops.items()}


def pseudonymise(ref: pd.DataFrame, ev: pd.DataFrame, columns: list[str], numeric: set[str],
                 mask: Callable[[pd.DataFrame], pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sensitive columns replaced: categories by ``mask``'s short hashes, numbers by pooled rank."""
    out_ref, out_ev = ref.copy(), ev.copy()
    hashed = [c for c in columns if c not in numeric]
    if hashed:  # only these columns: the target is never pseudonymised
        for out, frame in ((out_ref, ref), (out_ev, ev)):
            masked = mask(frame[hashed])
            for column in hashed:
                out[column] = masked[column].astype(object)
    for column in columns:
        if column in numeric:
            ranks = pd.concat([ref[column], ev[column]]).rank(method="dense").to_numpy()
            out_ref[column] = ranks[: len(ref)]
            out_ev[column] = ranks[len(ref):]
    return out_ref, out_ev


_REMOTE = re.compile(
    r"<(?:script|link|iframe|img|embed|source|object)\b[^>]*\b(?:src|href|data)\s*=\s*[\"']?\s*"
    r"(?:https?:)?//", re.IGNORECASE)
_ICON = re.compile(r"<link\b[^>]*\brel\s*=\s*[\"']?(?:shortcut\s+)?icon\b[^>]*>", re.IGNORECASE)
_PLOTLY_HEADER = re.compile(r"\*\s*plotly\.js v\d")


def offline_html(html: str, plotlyjs: str) -> str:
    """deepchecks' offline HTML with plotly.js inlined once instead of once per figure.

    deepchecks inlines the whole plotly.js bundle (about 4.8 MB) in every figure and once more
    as a require.js module. Every such script is dropped and one plain copy (which sets
    ``window.Plotly`` before any figure script runs) is put at the start of the body.
    Raises ValueError when the page would load a script, style, frame or image from the web.
    """
    parts: list[str] = []
    pos = 0
    while True:
        start = html.find("<script", pos)
        if start < 0:
            break
        end = html.find("</script>", start)
        if end < 0:
            break
        end += len("</script>")
        body_start = html.find(">", start) + 1
        if _PLOTLY_HEADER.search(html, body_start, min(end, body_start + 2000)):
            parts.append(html[pos:start])
        else:
            parts.append(html[pos:end])
        pos = end
    parts.append(html[pos:])
    out = "".join(parts)
    bundle = f'<script type="text/javascript">{plotlyjs}</script>'
    body = re.search(r"<body\b[^>]*>", out)
    out = (out[: body.end()] + bundle + out[body.end():]) if body else bundle + out
    # deepchecks' widget export links a favicon on the web: an icon is not worth a request.
    out = _ICON.sub("", out)
    # Links a reader may click (<a href>) are fine; anything the page itself would fetch is not.
    remote = _REMOTE.search(out)
    if remote:
        raise ValueError(f"deepchecks' HTML would load from the web: {remote.group(0)[:120]}")
    return out


# -- the suite ------------------------------------------------------------------------------

class ValidationSuite(Suite):
    name = "validation"
    settings_model = ValidationSettings
    description = ("deepchecks data integrity, train-test validation and model evaluation "
                   "(candidate, compared with the baseline), one record per condition.")

    # -- planning ------------------------------------------------------------------------------
    def _plan(self, ctx: SuiteContext) -> list[PlannedCheck]:
        return plan_checks(ctx.settings, ctx.data.schema.task, ctx.candidate.predict_proba is not None)

    def _comparison_scorers(self, ctx: SuiteContext) -> list[str]:
        s: ValidationSettings = ctx.settings
        if ctx.baseline is None or not s.comparison.enabled:
            return []
        if s.comparison.scorers:
            return list(s.comparison.scorers)
        both = ctx.candidate.predict_proba is not None and ctx.baseline.predict_proba is not None
        return [n for n in DEFAULT_SCORERS[ctx.data.schema.task] if both or n not in NEEDS_PROBA]

    def checks(self, ctx: SuiteContext) -> list[CheckSpec]:
        s: ValidationSettings = ctx.settings
        specs = []
        for planned in self._plan(ctx):
            for condition in planned.conditions:
                name, param = planned.record_name(condition)
                specs.append(self.check(
                    name, self._condition_check(ctx, planned, condition), param=param,
                    required=planned.required,
                    description=f"deepchecks {planned.cls} ({planned.group}): "
                                f"add_condition_{condition}"))
        for scorer in self._comparison_scorers(ctx):
            specs.append(self.check("vs_baseline", self._comparison_check(ctx, scorer), param=scorer,
                                    description=f"deepchecks {scorer}: candidate minus baseline"))
        if s.html:
            specs.append(self.check("html_report", self._html_check, required=False,
                                    description="deepchecks' own HTML, offline"))
        return specs

    # -- the work ----------------------------------------------------------------------------
    def run(self, ctx: SuiteContext) -> ValidationResult:
        s: ValidationSettings = ctx.settings
        started = time.perf_counter()
        ctx.progress("validation: importing deepchecks")
        dct, import_s = import_deepchecks()
        import joblib
        from threadpoolctl import threadpool_limits

        with contextlib.ExitStack() as stack:
            stack.enter_context(_quiet())
            if s.threads is not None:
                stack.enter_context(threadpool_limits(limits=s.threads))
            if s.threads == 1:
                # deepchecks asks joblib for every core (n_jobs=-1) in its permutation
                # importance: starting worker processes costs seconds; none are needed here.
                stack.enter_context(joblib.parallel_config(backend="sequential"))
            return self._run(ctx, dct, import_s, started)

    def _run(self, ctx: SuiteContext, dct: Any, import_s: float, started: float) -> ValidationResult:
        s: ValidationSettings = ctx.settings
        schema = ctx.data.schema
        features, target, task = schema.features, schema.target, schema.task
        planned = self._plan(ctx)
        seed = ctx.seed

        # Samples (stratified by the target), with indices unique across both.
        root = np.random.SeedSequence([seed & 0xFFFFFFFF, 0x76616C])
        ref_rng, ev_rng, fi_rng = (np.random.default_rng(child) for child in root.spawn(3))
        columns = [*features, target]
        ref = stratified_sample(ctx.data.reference[columns], target, task, s.sample_size, ref_rng)
        ev = stratified_sample(ctx.data.evaluation[columns], target, task, s.sample_size, ev_rng)
        ref = ref.set_axis(pd.RangeIndex(len(ref)))
        ev = ev.set_axis(pd.RangeIndex(len(ref), len(ref) + len(ev)))
        raw = pd.concat([ref[features], ev[features]])
        sample = {"reference_rows": len(ref), "evaluation_rows": len(ev),
                  "reference_total": len(ctx.data.reference),
                  "evaluation_total": len(ctx.data.evaluation),
                  "seed": seed, "stratified_by": target}

        sensitive = [c for c in ctx.sensitive_columns if c in features]
        short = [f"{name} data has {n} rows" for name, n in
                 (("reference", len(ref)), ("evaluation", len(ev))) if n < s.min_rows]
        if short:
            why = f"{' and '.join(short)}; validation needs at least {s.min_rows} (min_rows)"
            return ValidationResult(why, {}, sample, sensitive, {}, None, {}, None, None,
                                    round(import_s, 3), round(time.perf_counter() - started, 3))
        ref_dc, ev_dc = pseudonymise(ref, ev, sensitive, set(schema.numeric()), ctx.mask)
        categorical = schema.categorical()
        with _quiet():
            ref_ds = dct.Dataset(ref_dc, label=target, cat_features=categorical)
            ev_ds = dct.Dataset(ev_dc, label=target, cat_features=categorical)

        models: dict[str, Any] = {"candidate": ctx.candidate}
        if ctx.baseline is not None and (s.baseline_checks or self._comparison_scorers(ctx)):
            models["baseline"] = ctx.baseline
        adapters = {role: ModelForDeepchecks(m, raw, sensitive, features, task)
                    for role, m in models.items()}
        importance: dict[str, dict[str, float]] = {}
        if s.feature_importance == "permutation" and any(p.group != "integrity" for p in planned):
            ctx.progress("validation: permutation importance")
            y_ev = ev[target].to_numpy()
            for role, m in models.items():
                if role == "baseline" and not (s.baseline_checks and any(
                        p.group == "model" for p in planned)):
                    continue
                try:
                    fi = permutation_importance(m, ev[features], y_ev, task, s.importance_repeats,
                                                fi_rng)
                except Exception as exc:  # noqa: BLE001 - the model checks say why; the data
                    # integrity checks, which need no model, still run and name bad columns.
                    ctx.progress(f"validation: no permutation importance for the {role}: {exc}")
                    fi = None
                if fi is not None:
                    importance[role] = fi

        def fi_for(role: str | None) -> dict[str, Any]:
            if role is None:  # train-test checks weigh features by the candidate's importance
                return ({"feature_importance": pd.Series(importance["candidate"])}
                        if "candidate" in importance else {})
            if role in importance:
                return {"feature_importance": pd.Series(importance[role])}
            return {"feature_importance_timeout": 0}

        displays: list[Any] = []
        runs: dict[tuple[str, str | None], CheckRun] = {}
        shown = None
        for p in planned:
            if p.group != shown:
                shown = p.group
                ctx.progress(f"validation: deepchecks {p.group.replace('_', '-')} checks")
            roles: list[str | None] = [None]
            if p.group == "model":
                roles = ["candidate"]
                if "baseline" in adapters and s.baseline_checks:
                    roles.append("baseline")
            for who in roles:
                run = self._run_check(dct, p, who, ref_ds, ev_ds,
                                      adapters.get(who) if who else None, fi_for(who), seed,
                                      s.html, displays)
                runs[(p.key, who)] = run

        comparison: dict[str, dict[str, float | None]] = {}
        comparison_error = None
        scorers = self._comparison_scorers(ctx)
        if scorers:
            ctx.progress("validation: candidate vs baseline")
            try:
                comparison = self._compare(dct, scorers, ev_ds, adapters, seed, s.html, displays)
            except Exception as exc:  # noqa: BLE001 - becomes errored evidence
                comparison_error = _one_line(exc)

        html, html_error = None, None
        if s.html:
            ctx.progress("validation: writing deepchecks' HTML")
            try:
                html = self._write_html(ctx, displays)
            except Exception as exc:  # noqa: BLE001 - the HTML is optional; its record errors
                html_error = _one_line(exc)
        return ValidationResult(None, runs, sample, sensitive, comparison, comparison_error, importance,
                                html, html_error, round(import_s, 3),
                                round(time.perf_counter() - started, 3))

    def _run_check(self, dct: Any, p: PlannedCheck, role: str | None, ref_ds: Any, ev_ds: Any,
                   model: Any, fi: dict[str, Any], seed: int, display: bool,
                   displays: list[Any]) -> CheckRun:
        from deepchecks.tabular import SingleDatasetCheck, TrainTestCheck
        from deepchecks.tabular import checks as dchecks

        run = CheckRun(p.key, p.cls, p.group, role)
        start = time.perf_counter()
        try:
            cls = getattr(dchecks, p.cls, None)
            if cls is None or not isinstance(cls, type):
                raise ValueError(f"deepchecks has no tabular check {p.cls}")
            params = dict(p.params)
            if "random_state" in inspect.signature(cls).parameters:
                params.setdefault("random_state", seed % (2**32))
            check = cls(**params)
            added: list[str] = []
            for condition, arguments in p.conditions.items():
                method = getattr(check, f"add_condition_{condition}", None)
                if method is None:
                    known = sorted(m.removeprefix("add_condition_") for m in dir(check)
                                   if m.startswith("add_condition_"))
                    run.condition_errors[condition] = (
                        f"deepchecks {p.cls} has no condition '{condition}' "
                        f"(known: {', '.join(known) or 'none'})")
                    continue
                try:
                    method(**{k: tuple(v) if isinstance(v, list) else v
                              for k, v in arguments.items()})
                except Exception as exc:  # noqa: BLE001 - bad arguments error that record
                    run.condition_errors[condition] = f"bad arguments for {condition}: {_one_line(exc)}"
                    continue
                added.append(condition)
            with _quiet():
                if p.group == "integrity":
                    result = check.run(ev_ds, with_display=display)
                elif isinstance(check, TrainTestCheck):
                    result = check.run(ref_ds, ev_ds, model=model, with_display=display, **fi)
                elif isinstance(check, SingleDatasetCheck):
                    result = check.run(ev_ds, model=model, with_display=display, **fi)
                else:
                    raise ValueError(f"deepchecks {p.cls} is neither a single-dataset nor a "
                                     "train-test check")
            for condition, cond in zip(added, result.conditions_results, strict=False):
                run.conditions[condition] = ConditionResult(
                    condition, str(cond.name), str(cond.category.name),
                    " ".join(str(cond.details or "").split()))
            for condition in added[len(result.conditions_results):]:
                run.condition_errors[condition] = "deepchecks returned no result for this condition"
            run.values = self._values(check, result)
            run.summary = _jsonable(result.value)
            if display:
                if role == "baseline":
                    result.header = f"{result.get_header()} (baseline)"
                displays.append(result)
        except Exception as exc:  # noqa: BLE001 - every deepchecks failure becomes a record
            name = type(exc).__name__
            run.state = "not_applicable" if name in _NOT_APPLICABLE else "error"
            run.error = _one_line(exc)
        run.seconds = round(time.perf_counter() - start, 3)
        return run

    @staticmethod
    def _values(check: Any, result: Any) -> dict[str, float]:
        values: dict[str, float] = {}
        if hasattr(check, "reduce_output"):
            try:
                reduced = result.reduce_output()
            except Exception:  # noqa: BLE001 - the values are extra information
                reduced = {}
            for key, value in list(dict(reduced).items())[:50]:
                number = _finite(value)
                if number is not None:
                    values[str(key)] = number
        # Numbers in the check's value (one or two levels deep), e.g. per-class AUC, per-column
        # drift scores, ratios.
        def walk(value: Any, prefix: str, depth: int) -> None:
            if len(values) >= 60 or isinstance(value, bool):
                return
            if isinstance(value, pd.Series):
                value = value.to_dict()
            if isinstance(value, dict) and depth < 2:
                for key, item in list(value.items())[:30]:
                    walk(item, f"{prefix}.{key}" if prefix else str(key), depth + 1)
                return
            number = _finite(value) if isinstance(value, int | float | np.number) else None
            if number is not None:
                values.setdefault(prefix or "value", number)

        walk(result.value, "", 0)
        return values

    def _compare(self, dct: Any, scorers: list[str], ev_ds: Any, adapters: dict[str, Any],
                 seed: int, display: bool, displays: list[Any]) -> dict[str, dict[str, float | None]]:
        from deepchecks.tabular.checks import SingleDatasetPerformance

        scores: dict[str, dict[str, float | None]] = {s: {} for s in scorers}
        for role in ("candidate", "baseline"):
            check = SingleDatasetPerformance(scorers=scorers, random_state=seed % (2**32))
            with _quiet():
                result = check.run(ev_ds, model=adapters[role], with_display=display)
            frame = result.value
            for scorer in scorers:
                rows = frame[frame["Metric"] == scorer]
                scores[scorer][role] = _finite(rows["Value"].mean()) if len(rows) else None
            if display:
                result.header = f"Candidate vs baseline: {role}"
                displays.append(result)
        for pair in scores.values():
            c, b = pair.get("candidate"), pair.get("baseline")
            pair["diff"] = c - b if c is not None and b is not None else None
        return scores

    def _write_html(self, ctx: SuiteContext, displays: list[Any]) -> Artifact:
        from deepchecks.core.serialization.suite_result.html import SuiteResultSerializer
        from deepchecks.core.suite import SuiteResult

        with _quiet():
            suite_result = SuiteResult("certify validation", displays)
            html = SuiteResultSerializer(suite_result).serialize(full_html=True, connected=False)
        from plotly.offline.offline import get_plotlyjs

        return ctx.write_artifact("deepchecks.html", offline_html(html, get_plotlyjs()),
                                  "deepchecks' own HTML report (offline; sensitive columns "
                                  "pseudonymised)")

    # -- checks ------------------------------------------------------------------------------
    @staticmethod
    def _sample_metrics(result: ValidationResult) -> dict[str, Any]:
        return {"sample_rows_reference": result.sample["reference_rows"],
                "sample_rows_evaluation": result.sample["evaluation_rows"],
                "sample_seed": result.sample["seed"]}

    def _condition_check(self, ctx: SuiteContext, p: PlannedCheck, condition: str) -> Any:
        arguments = p.conditions[condition]

        def check(result: ValidationResult) -> Outcome:
            role = "candidate" if p.group == "model" else None
            thresholds = {f"threshold.{k}": v for k, v in arguments.items()
                          if isinstance(v, int | float | bool) or (isinstance(v, list) and len(v) < 10)}
            if result.too_few is not None:
                return Outcome(status=Status.ERRORED, reason=result.too_few,
                               metrics={**thresholds, **self._sample_metrics(result)})
            run = result.runs[(p.key, role)]
            metrics: dict[str, Any] = {**thresholds, **run.values, **self._sample_metrics(result)}
            details: dict[str, Any] = {"check": p.cls, "group": p.group, "condition": condition,
                                       "arguments": arguments}
            who = f"deepchecks {p.cls}" + (" (candidate)" if role else "")
            if run.state != "ok":
                details["error"] = run.error
                if run.state == "not_applicable" and not p.required:
                    return Outcome(status=Status.SKIPPED, metrics=metrics, details=details,
                                   reason=f"{who} not applicable: {run.error}")
                prefix = "not applicable" if run.state == "not_applicable" else "raised"
                return Outcome(status=Status.ERRORED, metrics=metrics, details=details,
                               reason=f"{who} {prefix}: {run.error}")
            if condition in run.condition_errors:
                return Outcome(status=Status.ERRORED, metrics=metrics, details=details,
                               reason=f"{who}: {run.condition_errors[condition]}")
            cond = run.conditions[condition]
            status = condition_status(cond.category, p.severity)
            severity = f" [severity = {p.severity}]" if status is not _CATEGORY_STATUS.get(
                cond.category) else ""
            details.update({"name": cond.name, "result": cond.category,
                            "deepchecks_details": cond.details, "value": run.summary})
            reason = (f"{cond.name}: {cond.category}{severity}"
                      + (f" ({cond.details})" if cond.details else ""))
            base = result.runs.get((p.key, "baseline"))
            if base is not None:
                if base.state != "ok":
                    details["baseline"] = {"state": base.state, "error": base.error}
                elif condition in base.conditions:
                    bc = base.conditions[condition]
                    details["baseline"] = {"result": bc.category, "deepchecks_details": bc.details,
                                           "values": base.values}
                    metrics.update({f"baseline.{k}": v for k, v in base.values.items()})
                    if bc.category != cond.category:
                        reason += f"; baseline: {bc.category}"
                        if bc.category == "PASS":
                            reason += " (the candidate regressed)"
            return Outcome(status=status, reason=reason, metrics=metrics, details=details)

        return check

    def _comparison_check(self, ctx: SuiteContext, scorer: str) -> Any:
        s: ValidationSettings = ctx.settings

        def check(result: ValidationResult) -> Outcome:
            if result.too_few is not None:
                return Outcome(status=Status.ERRORED, reason=result.too_few,
                               metrics=self._sample_metrics(result))
            if result.comparison_error is not None:
                return Outcome(status=Status.ERRORED, metrics=self._sample_metrics(result),
                               reason=f"deepchecks SingleDatasetPerformance raised: "
                                      f"{result.comparison_error}")
            pair = result.comparison.get(scorer, {})
            cand, base, diff = pair.get("candidate"), pair.get("baseline"), pair.get("diff")
            comparison = compare(f"{scorer}_diff", diff, s.comparison.margin, Direction.MIN)
            subject = (f"{scorer} candidate {cand:.4f} vs baseline {base:.4f}"
                       if cand is not None and base is not None else f"{scorer}: no score")
            return Outcome.from_comparisons(
                [comparison], subject=subject,
                metrics={"candidate": cand, "baseline": base, "diff": diff,
                         **self._sample_metrics(result)})

        return check

    @staticmethod
    def _html_check(result: ValidationResult) -> Outcome:
        if result.too_few is not None:
            return Outcome(status=Status.ERRORED, reason=f"no deepchecks HTML: {result.too_few}")
        if result.html is None:
            return Outcome(status=Status.ERRORED,
                           reason=f"deepchecks' HTML not written: {result.html_error}")
        return Outcome(status=Status.PASSED, artifacts=[result.html],
                       reason=f"deepchecks' HTML saved offline: {result.html.path}")

    # -- pictures ----------------------------------------------------------------------------
    def report_data(self, ctx: SuiteContext, result: ValidationResult) -> dict[str, Any]:
        ids = {}
        severity = {}
        for p in self._plan(ctx):
            severity[p.key] = p.severity
            for condition in p.conditions:
                name, param = p.record_name(condition)
                ids[(p.key, condition)] = f"validation::{name}" + (f"[{param}]" if param else "")
        checks = []
        counts: dict[str, dict[str, int]] = {}
        for (key, role), run in result.runs.items():
            conditions = []
            for condition, cond in run.conditions.items():
                status = condition_status(cond.category, severity.get(key, "deepchecks")).value
                conditions.append({"id": ids.get((key, condition)), "condition": condition,
                                   "name": cond.name, "status": status, "details": cond.details})
                if role != "baseline":
                    group = counts.setdefault(run.group, {})
                    group[status] = group.get(status, 0) + 1
            for condition, error in run.condition_errors.items():
                conditions.append({"id": ids.get((key, condition)), "condition": condition,
                                   "name": condition, "status": "errored", "details": error})
            checks.append({"check": key, "class": run.cls, "group": run.group, "role": role,
                           "state": run.state, "error": run.error, "seconds": run.seconds,
                           "conditions": conditions})
        return {
            "too_few": result.too_few,
            "sample": result.sample,
            "pseudonymised": result.pseudonymised,
            "checks": checks,
            "counts": counts,
            "comparison": [{"scorer": k, **v} for k, v in result.comparison.items()],
            "feature_importance": result.importance,
            "html": result.html.path if result.html else None,
            "html_error": result.html_error,
            "timings": {"import_s": result.import_s, "run_s": result.run_s},
        }
