"""The typed result of a drift check: one :class:`DriftStat` per test, in a :class:`DriftReport`
(what the suite's checks and ``certify drift`` judge)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from certify.evidence import Artifact
from certify.jsonsafe import scalar
from certify.suites.drift.baseline import DetectorParams
from certify.suites.drift.columns import Scores


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
            "name": self.name, "test": self.test, "statistic": scalar(self.statistic),
            "p_value": scalar(self.p_value), "p_adjusted": scalar(self.p_adjusted),
            "effect": scalar(self.effect), "rows": self.rows, "tested": self.tested,
            "reference_rows": self.ref_rows, "null_rate": scalar(self.null_rate),
            "reference_null_rate": scalar(self.ref_null_rate),
            "new_categories": [[k, scalar(v)] for k, v in self.new_categories],
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
    #: What the report says about the saved baseline (JSON; see ``DriftBaseline.report_info``).
    baseline: dict[str, Any] = field(default_factory=dict)
    target_name: str = ""
    manifest_artifact: Artifact | None = None
    candidate_scores: Scores | None = None
