"""What stops a hypothesis property: a violated invariant (shrunk), or a reason to stop at once.

The stops derive from :class:`BaseException`, not :class:`Exception`: hypothesis does not take
them for a failing example to shrink, it stops and lets them through.
"""

from __future__ import annotations

from typing import Any

from certify.suites.edge_cases.cases import Case


class ModelHung(BaseException):  # noqa: N818 - control flow through hypothesis, not an error
    """Stops hypothesis at once: the model did not return within the deadline."""


class Stop(BaseException):  # noqa: N818
    """Stops hypothesis at once: the check's time budget is spent."""


class Untrustworthy(BaseException):  # noqa: N818
    """Stops hypothesis at once: the check cannot be judged (nondeterministic model)."""


class ModelGone(BaseException):  # noqa: N818
    """Stops hypothesis at once: the model's process died (or was stopped for its memory); it
    is dead for the rest of the run, so nothing more can be judged, not even a shrink."""


class Violation(AssertionError):
    """The invariant does not hold for this example (hypothesis shrinks it)."""

    def __init__(self, message: str, observed: dict[str, Any], case: Case) -> None:
        super().__init__(message)
        self.message = message
        self.observed = observed
        self.case = case
