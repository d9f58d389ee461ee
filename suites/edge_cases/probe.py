"""What an invariant works with (:class:`Probe`) and what it gives the runner (:class:`Property`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from certify.models import Model
from certify.suites.edge_cases.caller import Call, Caller
from certify.suites.edge_cases.cases import Case
from certify.suites.edge_cases.generator import InputGenerator
from certify.suites.edge_cases.outputs import diff_outputs
from certify.suites.edge_cases.results import PropertyResult
from certify.suites.edge_cases.settings import CELL_KINDS, POLICY_KEYS, EdgeCasesSettings
from certify.suites.edge_cases.signals import Untrustworthy

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

T = TypeVar("T")


@dataclass(frozen=True)
class Property(Generic[T]):
    """One check as hypothesis runs it: (input kind, strategy) per stratum, and the body."""

    strata: list[tuple[str, SearchStrategy[T]]]
    body: Callable[[T, PropertyResult], None]


@dataclass
class Probe:
    """What an invariant works with: the settings, the model, its inputs and its caller."""

    settings: EdgeCasesSettings
    model: Model
    gen: InputGenerator
    caller: Caller
    acceptance: dict[str, dict[str, int]]  # input kind -> outcome -> count (no_crash tallies)

    def edge_strata(self) -> list[tuple[str, SearchStrategy[Case]]]:
        """Every enabled input kind, each its own stratum."""
        return [(k, self.gen.cases(k)) for k in self.gen.strata(set(POLICY_KEYS))]

    def accepted(self) -> set[str]:
        """The cell kinds the policy says must be predicted."""
        return {k for k, key in CELL_KINDS.items() if getattr(self.settings, key) == "predict"}

    def confirm(self, case: Case, first: Call) -> None:
        """Before blaming a difference on this check: is the model deterministic here?"""
        again = self.caller.call(case, proba_only=True)
        if again.kind != first.kind or \
                diff_outputs(again, first) > self.settings.determinism_tolerance:
            raise Untrustworthy(
                "cannot judge: the model gave different outputs for the same input "
                f"({case.describe()}); see edge_cases::deterministic")
