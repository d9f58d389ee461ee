"""The validation suite's policy section ``[suites.validation]`` and its check entries."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from certify.evidence import Threshold
from certify.suite import SuiteSettings

#: Where a deepchecks check runs: integrity (the evaluation sample), train_test (reference vs
#: evaluation sample) or model (candidate, and baseline for comparison).
Group = Literal["integrity", "train_test", "model"]

#: How an unmet condition counts (``ValidationCheck.severity``).
Severity = Literal["deepchecks", "fail", "warn"]


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
    severity: Severity = Field(
        default="deepchecks", description="Status of a condition that is not met: deepchecks' "
        "own category (some conditions only WARN, e.g. data_duplicates), or always failed, or "
        "always warned. Errors stay errors.")
    condition_severity: dict[str, Severity] = Field(
        default_factory=dict, description="Severity of single conditions, {condition = "
        "severity}; overrides 'severity' for those conditions.")


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
    confidence: float = Field(
        default=0.95, gt=0.5, lt=1.0, description="Level of the paired bootstrap interval on "
        "the difference: fails only when the whole interval is below margin.fail; an interval "
        "across it is inconclusive (warned).")
    resamples: int = Field(
        default=1000, ge=0, le=100_000, description="Bootstrap resamples of the evaluation "
        "sample (0: judge the point estimate alone).")


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
