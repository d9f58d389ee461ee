"""Where suites and model adapters come from: built-ins plus entry-point groups.

* ``certify.suites``: ``name = "package.module:SuiteClass"`` (a :class:`certify.suite.Suite`).
* ``certify.reporters``: ``name = "package.module:write"``, a callable
  ``write(record: certify.report.RunRecord) -> {output_name: path}`` called after report.json,
  the statement and the certificate are written (summary.md, the HTML page and the CI job
  summary are built-in reporters).
* ``certify.adapters``: ``format = "package.module:load"``, a callable
  ``load(spec: ModelSpec, base_dir: Path, role: str) -> Model``.

Loading a suite class imports only its module, never its heavy libraries.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certify.report import Reporter
    from certify.suite import Suite

BUILTIN_SUITES: dict[str, str] = {
    "quality": "certify.suites.quality:QualitySuite",
    "adversarial": "certify.suites.adversarial:AdversarialSuite",
    "drift": "certify.suites.drift:DriftSuite",
    "edge_cases": "certify.suites.edge_cases:EdgeCasesSuite",
    "validation": "certify.suites.validation:ValidationSuite",
    "load": "certify.suites.load:LoadSuite",
    "explain": "certify.suites.explain:ExplainSuite",
    "privacy": "certify.suites.privacy:PrivacySuite",
}

BUILTIN_ADAPTERS: dict[str, str] = {
    "skops": "certify.models.sklearn:load_skops",
    "joblib": "certify.models.sklearn:load_joblib",
    "http": "certify.models.http:load_http",
    "torch": "certify.models.pytorch:load_torch",
}


BUILTIN_REPORTERS: dict[str, str] = {
    "summary": "certify.reports.summary:write_summary",
    "html": "certify.reports.html:write_html",
    "github-summary": "certify.reports.github:write_step_summary",
}


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@functools.cache
def suite_classes() -> dict[str, type[Suite]]:
    """Every known suite class by name, built-ins first, in a stable order."""
    found: dict[str, type[Suite]] = {name: _load(target) for name, target in BUILTIN_SUITES.items()}
    for ep in sorted(entry_points(group="certify.suites"), key=lambda e: e.name):
        if ep.name not in found:
            found[ep.name] = ep.load()
    return found


@functools.cache
def adapter_loaders() -> dict[str, Callable[..., Any]]:
    found: dict[str, Callable[..., Any]] = {name: _load(t) for name, t in BUILTIN_ADAPTERS.items()}
    for ep in entry_points(group="certify.adapters"):
        found.setdefault(ep.name, ep.load())
    return found


@functools.cache
def reporters() -> dict[str, Reporter]:
    """Report writers in order: built-ins (summary, HTML, CI summary), then entry points."""
    found: dict[str, Reporter] = {name: _load(t) for name, t in BUILTIN_REPORTERS.items()}
    for ep in sorted(entry_points(group="certify.reporters"), key=lambda e: e.name):
        found.setdefault(ep.name, ep.load())
    return found
