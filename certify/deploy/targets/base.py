"""The target interface: what the rollout asks of every place a model is served.

A rollout calls, per target: :meth:`~DeployTarget.prepare` (the candidate deployed, no traffic
yet), :meth:`~DeployTarget.parity_url` (where the candidate answers directly, when live),
:meth:`~DeployTarget.set_weight` and :meth:`~DeployTarget.analyse` for each canary step, then
:meth:`~DeployTarget.promote` or :meth:`~DeployTarget.rollback`. :meth:`~DeployTarget.switch`
serves one version alone (adoption, ``rollback --to``); :meth:`~DeployTarget.status` and
:meth:`~DeployTarget.snapshot` read the live state back. Each method returns the ``before`` /
``after`` state it changed, for the audit entry.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from certify.deploy.analysis import StepAnalysis
from certify.deploy.context import DeployContext, Served


class DeployTarget(abc.ABC):
    kind: ClassVar[str]

    def __init__(self, name: str, ctx: DeployContext) -> None:
        self.name = name
        self.ctx = ctx

    @property
    def live(self) -> bool:
        """Whether changes reach real serving (a kserve target without --apply is a dry run)."""
        return True

    @abc.abstractmethod
    def prepare(self, candidate: Served, champion: Served | None) -> dict[str, Any]:
        """The candidate deployed next to the champion, at weight 0."""

    @abc.abstractmethod
    def parity_url(self, candidate: Served) -> str | None:
        """Where the candidate answers directly over HTTP, or None when not live."""

    @abc.abstractmethod
    def set_weight(self, percent: float, candidate: Served,
                   champion: Served | None) -> dict[str, Any]:
        """Send ``percent`` of the traffic to the candidate."""

    @abc.abstractmethod
    def analyse(self, percent: float, *, compare: bool) -> StepAnalysis | None:
        """Judge the step (None when this target has nothing to measure)."""

    @abc.abstractmethod
    def promote(self, candidate: Served, champion: Served | None) -> dict[str, Any]:
        """The candidate becomes the only one served."""

    @abc.abstractmethod
    def rollback(self, champion: Served | None, candidate_version: int | None) -> dict[str, Any]:
        """Weight 0, the candidate removed; only the champion served."""

    @abc.abstractmethod
    def switch(self, champion: Served) -> dict[str, Any]:
        """Serve ``champion`` alone now (adoption, rollback to an older version)."""

    @abc.abstractmethod
    def status(self) -> dict[str, Any]:
        """The live state, for ``certify deploy status``."""

    def snapshot(self) -> dict[str, Any]:
        """The serving state a test compares before and after."""
        return self.status()

    def stop(self) -> dict[str, Any]:
        """Stop the embedded serving this target runs (if any)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook: most targets hold nothing
        """Release connections held by this command."""
