"""The typed result of a drift check: one :class:`DriftStat` per test, in a :class:`DriftReport`
(what the suite's checks and ``certify drift`` judge)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from certify.evidence import Artifact
from certify.jsonsafe import scalar
from certify.suites.drift.baseline import DetectorParams
from certify.suites.drift.columns import Scores

#: Most new categories kept per test (the largest; the count of all is kept too).
MAX_NEW_CATEGORIES = 20


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
    #: The largest new categories (at most :data:`MAX_NEW_CATEGORIES`) with their shares.
    new_categories: list[tuple[str, float]] = field(default_factory=list)
    #: How many new categories there were in all.
    new_category_total: int = 0
    changes: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, float | None] = field(default_factory=dict)
    ref_summary: dict[str, float | None] = field(default_factory=dict)
    sensitive: bool = False
    storage: str = ""
    problem: str | None = None
    error: str | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    #: The effect at which this test alone would fail (KS: its critical distance at the
    #: corrected fail level), when it can be said.
    effect_needed: float | None = None
    #: Reference vs new data, bounded, for the report's pictures (see
    #: :mod:`certify.suites.drift.distribution`); not part of the evidence.
    distribution: dict[str, Any] | None = None
    #: A raw value of a sensitive column that :attr:`problem` names: the engine replaces it
    #: by the run's keyed pseudonym before anything is written, and clears it.
    sensitive_example: Any = field(default=None, repr=False)

    def set_new_categories(self, shares: list[tuple[str, float]]) -> None:
        """Keep the largest new categories (bounded) and how many there were."""
        ranked = sorted(shares, key=lambda kv: (-kv[1], kv[0]))
        self.new_categories = ranked[:MAX_NEW_CATEGORIES]
        self.new_category_total = len(ranked)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "test": self.test, "statistic": scalar(self.statistic),
            "p_value": scalar(self.p_value), "p_adjusted": scalar(self.p_adjusted),
            "effect": scalar(self.effect), "rows": self.rows, "tested": self.tested,
            "reference_rows": self.ref_rows, "null_rate": scalar(self.null_rate),
            "reference_null_rate": scalar(self.ref_null_rate),
            "new_categories": [[k, scalar(v)] for k, v in self.new_categories],
            "new_categories_total": max(self.new_category_total, len(self.new_categories)),
            "changes": self.changes, "summary": self.summary,
            "reference_summary": self.ref_summary, "sensitive": self.sensitive,
            "storage": self.storage, "problem": self.problem, "error": self.error,
            "note": self.note, "effect_needed": scalar(self.effect_needed),
            **({"details": self.details} if self.details else {}),
        }


@dataclass
class TypeChange:
    """A monitored column whose kind or dtype differs from the reference's.

    The kind of the new column is the declared one when the policy declared it (for the
    reference and the new data alike), else the one its dtype implies.
    """

    column: str
    reference_kind: str
    reference_dtype: str
    kind: str
    dtype: str
    declared: bool
    #: The test of the reference can still be made on these values.
    testable: bool
    #: What changed, in words.
    change: str

    @property
    def kind_changed(self) -> bool:
        return kind_group(self.kind) != kind_group(self.reference_kind)

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "reference_kind": self.reference_kind,
                "reference_dtype": self.reference_dtype, "kind": self.kind, "dtype": self.dtype,
                "declared": self.declared, "kind_changed": self.kind_changed,
                "testable": self.testable, "change": self.change}


def kind_group(kind: str) -> str:
    """Numeric columns get a KS test; categorical and boolean ones are counted."""
    return "numeric" if kind == "numeric" else "discrete"


@dataclass
class SchemaCheck:
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    dtype_changes: list[TypeChange] = field(default_factory=list)


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
