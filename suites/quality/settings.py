"""The quality suite's policy section ``[suites.quality]``."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from certify.evidence import Threshold
from certify.suite import SuiteSettings


class QualitySettings(SuiteSettings):
    metrics: list[str] | None = Field(
        default=None, description="Metrics to compute (default: all of the task's).")
    primary_metric: str | None = Field(
        default=None, description="Metric for slices (default: roc_auc or rmse).")
    thresholds: dict[str, Threshold] = Field(
        default_factory=dict, description="Absolute thresholds per metric, e.g. accuracy = {fail = 0.8}.")
    margin: float = Field(
        default=0.01, ge=0,
        description="Non-inferiority margin vs the baseline: how much worse the candidate may be "
                    "(absolute for accuracy, roc_auc, f1, log_loss and r2; a fraction of the "
                    "baseline's value for rmse and mae, which are in the target's units).")
    margins: dict[str, float] = Field(default_factory=dict,
                                      description="Per-metric margins (same units as 'margin').")
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="Bootstrap CI level.")
    bootstrap: int = Field(default=200, ge=20, le=10000, description="Bootstrap resamples.")
    slices: list[str] = Field(default_factory=list, description="Columns to slice by.")
    slice_bins: int = Field(default=4, ge=2, le=20, description="Quantile bins for numeric slices.")
    slice_min_rows: int = Field(default=30, ge=1, description="Smaller slices are not judged.")
    slice_margin: float = Field(
        default=0.05, ge=0, description="Worst slice may trail the baseline's same slice by this.")
    slice_threshold: Threshold | None = Field(
        default=None, description="Absolute threshold on the worst slice's primary metric.")
    fairness: dict[str, Threshold] = Field(
        default_factory=lambda: {
            "demographic_parity_difference": Threshold(fail=0.2, warn=0.1),
            "equal_opportunity_difference": Threshold(fail=0.2, warn=0.1),
        },
        description="Maximum group gaps on protected attributes.",
    )
    positive_label: Any = Field(default=None, description="Positive class (default: the model's last).")
