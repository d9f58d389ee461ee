"""Which deepchecks checks run, with which conditions: the defaults merged with the policy.

The checks and their conditions come from the policy (``[suites.validation.checks]``),
merged field by field over the defaults (``default_checks = true``, see ``DEFAULT_CHECKS``:
is_single_value, percent_of_nulls, special_characters, mixed_nulls, mixed_data_types,
string_mismatch, data_duplicates, conflicting_labels (classification),
feature_label_correlation, feature_feature_correlation (warn only); new_label_train_test
(classification), new_category_train_test, string_mismatch_comparison,
train_test_samples_mix, feature_label_correlation_change (two conditions, the PPS drop warn
only), feature_drift, label_drift, multivariate_drift; train_test_performance (primary
metric, 20%, warn only), roc_report (classification, with probabilities; warn only),
prediction_drift (warn only), simple_model_comparison (primary metric), unused_features).

Defaults that are not deepchecks' own (:data:`CHANGED_DEFAULTS` says why, the README lists
them): deepchecks' defaults fail honest models on imbalanced or small data. A default
condition judges the model's **primary metric** (AUC, macro one-vs-rest with several
classes; macro F1 for a classifier without probabilities; R^2 for regression) or is a
warning. Two more corrections live where the figures are read (:mod:`.deciding`): drift and
single-value breaches that sampling noise explains are inconclusive (warned), and new
categories are checked against the whole reference data.

Slow checks are left out of the defaults (``weak_segments_performance`` takes seconds per
model and sometimes cannot train its error model) and can be added. deepchecks 0.19.1's
``regression_error_distribution`` and ``regression_systematic_error`` call
``mean_squared_error(squared=False)``, which scikit-learn 1.6 removed: configured here, they
error. A check is named by its snake-case key (``data_duplicates`` is deepchecks'
``DataDuplicates``; ``check = "..."`` names the class explicitly, e.g. to run one check twice
with different parameters; ``group`` is needed only for a class this module does not know)
and configured with ``params`` (constructor arguments), ``conditions``: ``{<condition> =
{<argument> = value}}`` where ``<condition>`` is the name of deepchecks'
``add_condition_<condition>`` method, ``severity`` and ``condition_severity`` (per
condition; it wins over ``severity``). Example::

    [suites.validation.checks.data_duplicates]
    conditions = { ratio_less_or_equal = { max_ratio = 0.01 } }
    severity = "fail"
    [suites.validation.checks.roc_report]
    severity = "fail"                     # an AUC floor that blocks
    [suites.validation.checks.feature_drift]
    enabled = false
    [suites.validation.checks.weak_segments_performance]
    conditions = { segments_relative_performance_greater_than = { max_ratio_change = 0.2 } }

The record id is ``validation::<check>`` for a check with one condition and
``validation::<check>[<condition>]`` for each condition of a check with several. A check
with no condition runs (for the HTML) but makes no record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from certify.errors import ConfigError
from certify.suite import SuiteContext
from certify.suites.validation.settings import Group, Severity, ValidationCheck, ValidationSettings

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
#: Thresholds are deepchecks' own defaults; where a default differs from deepchecks' (a
#: scorer, a severity, an argument), :data:`CHANGED_DEFAULTS` says what and why.
DEFAULT_CHECKS: dict[str, tuple[tuple[Task, ...], dict[str, dict[str, Any]]]] = {
    "is_single_value": (_BOTH, {"not_single_value": {}}),
    "percent_of_nulls": (_BOTH, {"percent_of_nulls_not_greater_than": {"threshold": 0.05}}),
    "special_characters": (_BOTH, {"ratio_of_special_characters_less_or_equal":
                                   {"max_ratio": 0.001}}),
    "mixed_nulls": (_BOTH, {"different_nulls_less_equal_to": {"max_allowed_null_types": 1}}),
    "mixed_data_types": (_BOTH, {"rare_type_ratio_not_in_range": {"ratio_range": [0.01, 0.1]}}),
    "string_mismatch": (_BOTH, {"no_variants": {}}),
    "data_duplicates": (_BOTH, {"ratio_less_or_equal": {"max_ratio": 0.05}}),
    "conflicting_labels": (("classification",),
                           {"ratio_of_conflicting_labels_less_or_equal": {"max_ratio": 0.0}}),
    "feature_label_correlation": (_BOTH, {"feature_pps_less_than": {"threshold": 0.8}}),
    "feature_feature_correlation": (_BOTH, {"max_number_of_pairs_above_threshold":
                                            {"threshold": 0.9, "n_pairs": 0}}),
    "new_label_train_test": (("classification",),
                             {"new_labels_number_less_or_equal": {"max_new": 0}}),
    "new_category_train_test": (_BOTH, {"new_category_ratio_less_or_equal": {"max_ratio": 0.0}}),
    "string_mismatch_comparison": (_BOTH, {"no_new_variants": {}}),
    "train_test_samples_mix": (_BOTH, {"duplicates_ratio_less_or_equal": {"max_ratio": 0.05}}),
    "feature_label_correlation_change": (_BOTH, {
        "feature_pps_difference_less_than": {"threshold": 0.2, "include_negative_diff": False},
        "feature_pps_in_train_less_than": {"threshold": 0.7},
    }),
    "feature_drift": (_BOTH, {"drift_score_less_than": {"max_allowed_categorical_score": 0.2,
                                                        "max_allowed_numeric_score": 0.2}}),
    "label_drift": (_BOTH, {"drift_score_less_than": {"max_allowed_drift_score": 0.15}}),
    "multivariate_drift": (_BOTH, {"overall_drift_value_less_than": {"max_drift_value": 0.25}}),
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
DEFAULT_SEVERITY: dict[str, Severity] = {
    "feature_feature_correlation": "warn",
    "train_test_performance": "warn",
    "roc_report": "warn",
    "prediction_drift": "warn",
}

#: Default conditions that only warn, in a check whose other conditions fail.
DEFAULT_CONDITION_SEVERITY: dict[str, dict[str, Severity]] = {
    "feature_label_correlation_change": {"feature_pps_difference_less_than": "warn"},
}

#: The model's primary metric as deepchecks scorers: threshold-free AUC (macro one-vs-rest for
#: several classes) with probabilities, macro F1 without, R^2 for regression.
PRIMARY_SCORERS: dict[tuple[str, bool], list[str]] = {
    ("classification", True): ["roc_auc_ovr"],
    ("classification", False): ["f1_macro"],
    ("regression", True): ["r2"],
    ("regression", False): ["r2"],
}

#: Default checks that judge the primary metric instead of deepchecks' per-class scores.
PRIMARY_METRIC_CHECKS = ("simple_model_comparison", "train_test_performance")

#: Every default that differs from deepchecks' own, and why (the README lists them).
CHANGED_DEFAULTS: dict[str, str] = {
    "simple_model_comparison": "scorers = the primary metric (AUC, macro F1 without "
    "probabilities, R^2): deepchecks' per-class F1 gain over the majority-class model is "
    "negative for the majority class of any imbalanced task",
    "train_test_performance": "scorers = the primary metric, and a warning only: per-class "
    "recall and precision of a rare class swing far past 20% between the in-sample reference "
    "and the evaluation data for honest models",
    "roc_report": "a warning only: an AUC floor of 0.7 is a business threshold, and noisy on "
    "small data; the quality suite judges performance against the baseline",
    "prediction_drift": "a warning only: the reference is the training data, whose in-sample "
    "predictions of a flexible model are more confident than on new data (an honest random "
    "forest measured 0.2-0.44)",
    "feature_label_correlation_change": "feature_pps_difference_less_than: only the leakage "
    "direction (reference more predictive than evaluation), and a warning only: PPS "
    "differences reach 0.2-0.3 between samples of a few hundred rows; leakage into the "
    "reference still fails feature_pps_in_train_less_than",
    "feature_feature_correlation": "a warning only: correlated features are redundancy in the "
    "data, not a defect of the model, and Theil's U and the correlation ratio are biased "
    "upwards on small samples",
}

#: Default checks and scorers that need the models' probabilities.
NEEDS_PROBA = {"roc_report", "roc_auc"}

#: deepchecks scorer names compared with the baseline by default (higher is better).
DEFAULT_SCORERS: dict[str, list[str]] = {
    "classification": ["accuracy", "roc_auc"],
    "regression": ["neg_rmse", "r2"],
}

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class PlannedCheck:
    key: str
    cls: str
    group: Group
    params: dict[str, Any]
    conditions: dict[str, dict[str, Any]]
    required: bool
    severity: Severity = "deepchecks"
    condition_severity: dict[str, Severity] = field(default_factory=dict)

    def record_name(self, condition: str) -> tuple[str, str | None]:
        return (self.key, None) if len(self.conditions) == 1 else (self.key, condition)

    def severity_of(self, condition: str) -> Severity:
        return self.condition_severity.get(condition, self.severity)


def plan_checks(settings: ValidationSettings, task: str,
                has_proba: bool = True) -> list[PlannedCheck]:
    """The enabled checks in order: defaults for the task (without the ones that need
    probabilities when the candidate has none), merged with the policy's entries."""
    merged: dict[str, ValidationCheck] = {}
    if settings.default_checks:
        for key, (tasks, conditions) in DEFAULT_CHECKS.items():
            if task in tasks and (has_proba or key not in NEEDS_PROBA):
                params = ({"scorers": list(PRIMARY_SCORERS[(task, has_proba)])}
                          if key in PRIMARY_METRIC_CHECKS else {})
                merged[key] = ValidationCheck(
                    conditions=conditions, params=params,
                    severity=DEFAULT_SEVERITY.get(key, "deepchecks"),
                    condition_severity=dict(DEFAULT_CONDITION_SEVERITY.get(key, {})))
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
        stray = sorted(set(entry.condition_severity) - set(entry.conditions))
        if stray:
            raise ConfigError(f"{where}.condition_severity: '{stray[0]}' is not a condition of "
                              f"{key} (its conditions: {', '.join(entry.conditions) or 'none'})")
        planned.append(PlannedCheck(key, cls, group, dict(entry.params),
                                    {k: dict(v) for k, v in entry.conditions.items()},
                                    entry.required, entry.severity,
                                    dict(entry.condition_severity)))
    return planned


def planned_checks(ctx: SuiteContext[ValidationSettings]) -> list[PlannedCheck]:
    """The checks of this certification (see :func:`plan_checks`)."""
    return plan_checks(ctx.settings, ctx.data.schema.task, ctx.candidate.predict_proba is not None)


def comparison_scorers(ctx: SuiteContext[ValidationSettings]) -> list[str]:
    """deepchecks scorers compared between candidate and baseline (none without a baseline)."""
    s = ctx.settings
    if ctx.baseline is None or not s.comparison.enabled:
        return []
    if s.comparison.scorers:
        return list(s.comparison.scorers)
    both = ctx.candidate.predict_proba is not None and ctx.baseline.predict_proba is not None
    return [n for n in DEFAULT_SCORERS[ctx.data.schema.task] if both or n not in NEEDS_PROBA]
