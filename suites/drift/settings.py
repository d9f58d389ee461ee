"""The drift suite's policy section ``[suites.drift]``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from certify.evidence import Threshold
from certify.suite import SuiteSettings
from certify.suites.drift.baseline import DetectorParams
from certify.suites.drift.fit import FitOptions


class DriftSettings(SuiteSettings):
    p_value: Threshold = Field(
        default=Threshold(fail=0.01, warn=0.05),
        description="Levels for each test's corrected p-value: below 'fail' fails (drift), "
                    "below 'warn' warns.")
    correction: Literal["bonferroni", "fdr"] = Field(
        default="bonferroni", description="Multiple-testing correction across the feature tests "
                                          "(and across the prediction tests).")
    min_effect: float = Field(
        default=0.05, ge=0, le=1,
        description="A significant test whose effect (KS distance, or total-variation distance "
                    "of the category shares) is below this passes, its note saying so: on large "
                    "data tiny, harmless shifts are significant, and two samples of one "
                    "population differ by a few points by chance (0.05: 5 points of share; 0 "
                    "counts every significant test).")
    prediction_min_effect: float = Field(
        default=0.1, ge=0, le=1,
        description="min_effect of the prediction tests (the candidate's scores and labels, "
                    "reference rows vs evaluation rows). Their reference rows are usually the "
                    "rows the candidate was trained on, where an honest model is more confident "
                    "than on new rows: a small shift there is that, not drift.")
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
        description="Sensitive columns: 'binned' (counts over coarse quantile ranges of a "
                    "numeric column, or over coarse buckets of a categorical one's categories, "
                    "several per bucket; never raw values nor hashes of them) or 'drop' (not "
                    "monitored).")
    sensitive_bins: int = Field(
        default=10, ge=2, le=100,
        description="Quantile ranges of a sensitive numeric column, and buckets of a sensitive "
                    "categorical column (merged until each count covers at least 10 reference "
                    "rows).")
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
                              min_effect=self.min_effect,
                              prediction_min_effect=self.prediction_min_effect,
                              min_rows=self.min_rows,
                              null_rate_increase=self.null_rate_increase,
                              mmd_permutations=self.mmd_permutations)
