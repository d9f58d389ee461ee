"""Hooks pytest-certify adds to pytest (registered with ``pytest_addhooks``).

A program that drives ``pytest --certify`` itself (``certify.run()`` does) implements them on a
plugin object it passes to ``pytest.main``, instead of reading the plugin's private state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pluggy import HookspecMarker

if TYPE_CHECKING:
    from certify.session import CertifySession, RunResult

spec = HookspecMarker("pytest")


@spec
def pytest_certify_session_start(session: CertifySession) -> None:
    """The certification session is set up (models and data loaded, checks planned), before
    collection. A driver may adjust it, e.g. the command recorded as reproducing the run."""


@spec
def pytest_certify_finished(result: RunResult | None, error: str | None) -> None:
    """The certification ended: ``result`` when its outputs were published, else ``None`` with
    ``error`` (the one-line reason) when it could not finish, or both ``None`` when it did not
    run to the end (interrupted, ``--collect-only``)."""
