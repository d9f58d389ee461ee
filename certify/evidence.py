"""Evidence: one typed record per certification check.

Every check, built-in or a user's ``@pytest.mark.certify`` test, ends as one
:class:`Evidence`. The verdict is decided from these records alone.
"""

from __future__ import annotations

import enum
import fnmatch
import hashlib
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Status(enum.StrEnum):
    PASSED = "passed"
    WARNED = "warned"
    FAILED = "failed"
    ERRORED = "errored"
    SKIPPED = "skipped"
    #: A figure measured but not judged (no threshold): never blocks, never a pass, never missing.
    INFO = "info"


class Direction(enum.StrEnum):
    """Which side of a threshold is good."""

    #: The metric must be at least the threshold (accuracy, p-value, throughput).
    MIN = "min"
    #: The metric must be at most the threshold (latency, error rate, gap).
    MAX = "max"


class Threshold(BaseModel):
    """A policy threshold: crossing ``fail`` fails the check, crossing ``warn`` warns."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fail: float = Field(description="Crossing this level fails the check.")
    warn: float | None = Field(
        default=None, description="Optional earlier level that only warns (never blocks)."
    )


class Comparison(BaseModel):
    """One metric compared with its threshold, as recorded in the evidence."""

    model_config = ConfigDict(extra="forbid")

    metric: str
    value: float | None
    direction: Direction
    fail: float
    warn: float | None = None
    status: Status

    @property
    def op(self) -> str:
        return ">=" if self.direction is Direction.MIN else "<="

    def describe(self) -> str:
        """``metric=value`` and what it was held to, in words that fit its status: a warning
        names the warn level it crossed and the fail level it still meets."""
        value = "n/a" if self.value is None else f"{self.value:.4g}"
        if self.status is Status.WARNED and self.warn is not None:
            side = "below" if self.direction is Direction.MIN else "above"
            return (f"{self.metric}={value} ({side} the warn level {self.warn:.4g}; "
                    f"fails only past {self.fail:.4g})")
        return f"{self.metric}={value} (must be {self.op} {self.fail:.4g})"


def compare(metric: str, value: float | None, threshold: Threshold, direction: Direction) -> Comparison:
    """Compare ``value`` with ``threshold``. A missing or NaN value never passes (errored)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        status = Status.ERRORED
    else:
        def ok(level: float) -> bool:
            return value >= level if direction is Direction.MIN else value <= level

        if not ok(threshold.fail):
            status = Status.FAILED
        elif threshold.warn is not None and not ok(threshold.warn):
            status = Status.WARNED
        else:
            status = Status.PASSED
    return Comparison(
        metric=metric,
        value=None if value is None else float(value),
        direction=direction,
        fail=threshold.fail,
        warn=threshold.warn,
        status=status,
    )


class Artifact(BaseModel):
    """A file a check left behind, relative to the run directory, with its digest."""

    model_config = ConfigDict(extra="forbid")

    path: str
    sha256: str
    description: str = ""

    @classmethod
    def from_file(cls, run_dir: Path, path: Path, description: str = "") -> Artifact:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return cls(path=path.relative_to(run_dir).as_posix(), sha256=digest, description=description)


class WaiverApplied(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pattern: str
    reason: str
    approver: str
    expires: str
    original_status: Status


_SEVERITY = {
    Status.ERRORED: 4,
    Status.FAILED: 3,
    Status.WARNED: 2,
    Status.SKIPPED: 1,
    Status.PASSED: 0,
    Status.INFO: -1,
}


def worst(statuses: list[Status]) -> Status:
    """The most severe of ``statuses`` (errored > failed > warned > skipped > passed > info)."""
    return max(statuses, key=_SEVERITY.__getitem__, default=Status.PASSED)


class Outcome(BaseModel):
    """What a check function returns; the harness turns it into :class:`Evidence`."""

    model_config = ConfigDict(extra="forbid")

    status: Status
    reason: str
    metrics: dict[str, Any] = Field(default_factory=dict)
    comparisons: list[Comparison] = Field(default_factory=list)
    artifacts: list[Artifact] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_comparisons(
        cls,
        comparisons: list[Comparison],
        *,
        subject: str = "",
        metrics: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
        artifacts: list[Artifact] | None = None,
    ) -> Outcome:
        """Status = worst comparison; reason names each comparison that did not pass."""
        status = worst([c.status for c in comparisons]) if comparisons else Status.ERRORED
        bad = [c for c in comparisons if c.status is not Status.PASSED]
        shown = bad or comparisons
        parts = [c.describe() for c in shown]
        reason = (subject + ": " if subject else "") + ("; ".join(parts) or "no metric computed")
        return cls(
            status=status,
            reason=reason,
            metrics=metrics or {c.metric: c.value for c in comparisons},
            comparisons=comparisons,
            details=details or {},
            artifacts=artifacts or [],
        )


class Evidence(BaseModel):
    """One record per check: the unit the verdict is decided from."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Stable check id, e.g. 'quality::roc_auc' or 'drift::ks[income]'.")
    suite: str
    status: Status
    reason: str
    required: bool = True
    metrics: dict[str, Any] = Field(default_factory=dict)
    comparisons: list[Comparison] = Field(default_factory=list)
    artifacts: list[Artifact] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    duration_s: float = 0.0
    waiver: WaiverApplied | None = None
    description: str = ""


def check_id(suite: str, name: str, param: str | None = None) -> str:
    return f"{suite}::{name}" + (f"[{param}]" if param is not None else "")


def matches(pattern: str, ident: str) -> bool:
    """Waiver matching: exact id, or a glob (``drift::ks[*]``; brackets are literal)."""
    if pattern == ident:
        return True
    # fnmatch treats [..] as a character class; waivers mean literal brackets.
    escaped = "".join("[[]" if ch == "[" else "[]]" if ch == "]" else ch for ch in pattern)
    return fnmatch.fnmatchcase(ident, escaped)
