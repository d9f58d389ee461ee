"""The typed result of the edge_cases work: one :class:`PropertyResult` per check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from certify.suites.edge_cases.caller import Death, Timeout
from certify.suites.edge_cases.cases import Case


@dataclass
class Counterexample:
    check: str
    invariant: str
    violation: str
    case: Case
    observed: dict[str, Any]
    shrunk: bool = True


@dataclass
class PropertyResult:
    check: str
    invariant: str
    hypothesis_seed: int
    examples: int = 0  # judged
    generated: int = 0  # test-function runs before the first counterexample
    shrink_examples: int = 0
    calls: int = 0
    seconds: float = 0.0
    budget_exhausted: bool = False
    shrink_exhausted: bool = False
    failure: Counterexample | None = None
    flaky: bool = False
    hung: bool = False
    not_run: bool = False
    untrustworthy: str | None = None
    #: The model's process ended during this check (or before it): nothing more was judged.
    died: bool = False
    error: str | None = None
    shrinking: bool = False
    strata: dict[str, int] = field(default_factory=dict)  # input kind -> examples judged

    def judged(self) -> None:
        """Count one judged example (search and shrinking are counted apart)."""
        if not self.shrinking:
            self.examples += 1

    @property
    def outcome(self) -> str:
        if self.failure is not None:
            return "counterexample"
        if self.not_run:
            return "not_run"
        if self.hung:
            return "hung"
        if self.died:
            return "died"
        if self.untrustworthy:
            return "untrustworthy"
        if self.error:
            return "errored"
        return "passed"


@dataclass
class EdgeCasesResult:
    properties: dict[str, PropertyResult]
    timeouts: list[Timeout]
    call_seconds: list[float]
    acceptance: dict[str, dict[str, int]]
    features: list[str]
    #: The call that ended the model's process, if one did.
    death: Death | None = None
