"""The validation suite's typed result, and the JSON of it that report.json keeps.

``report_data`` keys
    ``too_few`` (why nothing ran, or null), ``sample`` ({``reference_rows``,
    ``evaluation_rows``, ``reference_total``, ``evaluation_total``, ``seed``,
    ``stratified_by``}), ``pseudonymised`` (sensitive feature columns deepchecks saw
    pseudonymised), ``checks`` (one row per deepchecks check run: {``check``, ``class``,
    ``group``, ``role`` (candidate|baseline|null), ``state`` (ok|not_applicable|error),
    ``error``, ``seconds``, ``conditions``: [{``id``, ``condition``, ``name``, ``status``
    (as in the records, ``severity`` applied), ``details``}]}), ``counts`` ({group: {status:
    n}} over the conditions of the non-baseline runs), ``comparison`` ([{``scorer``, ``candidate``,
    ``baseline``, ``diff``}]), ``feature_importance`` ({role: {feature: importance}}), ``html``
    (artifact path or null), ``html_error``, ``timings`` ({``import_s``, ``run_s``}).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from certify.evidence import Artifact, Status
from certify.suites.validation.plan import PlannedCheck
from certify.suites.validation.settings import Group

#: deepchecks' condition categories as statuses.
CATEGORY_STATUS = {"PASS": Status.PASSED, "WARN": Status.WARNED, "FAIL": Status.FAILED,
                   "ERROR": Status.ERRORED}


@dataclass
class ConditionResult:
    key: str
    name: str
    category: str  # PASS | WARN | FAIL | ERROR, or "" when the condition could not be added
    details: str


@dataclass
class CheckRun:
    key: str
    cls: str
    group: Group
    role: str | None  # candidate | baseline for model checks
    state: str = "ok"  # ok | not_applicable | error
    error: str | None = None
    conditions: dict[str, ConditionResult] = field(default_factory=dict)
    condition_errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    summary: Any = None
    seconds: float = 0.0


@dataclass
class ValidationResult:
    too_few: str | None  # why nothing ran: too few rows
    runs: dict[tuple[str, str | None], CheckRun]
    sample: dict[str, Any]
    pseudonymised: list[str]
    comparison: dict[str, dict[str, float | None]]
    comparison_error: str | None
    importance: dict[str, dict[str, float]]
    html: Artifact | None
    html_error: str | None
    import_s: float
    run_s: float


def condition_status(category: str, severity: str) -> Status:
    """deepchecks' condition category as a status, with the policy's ``severity`` applied."""
    status = CATEGORY_STATUS.get(category, Status.ERRORED)
    if status in (Status.WARNED, Status.FAILED) and severity != "deepchecks":
        status = Status.FAILED if severity == "fail" else Status.WARNED
    return status


def report_data(planned: list[PlannedCheck], result: ValidationResult) -> dict[str, Any]:
    """``result`` as report.json keeps it (see the module's documentation for the keys)."""
    ids = {}
    severity = {}
    for p in planned:
        severity[p.key] = p.severity
        for condition in p.conditions:
            name, param = p.record_name(condition)
            ids[(p.key, condition)] = f"validation::{name}" + (f"[{param}]" if param else "")
    checks = []
    counts: dict[str, dict[str, int]] = {}
    for (key, role), run in result.runs.items():
        conditions = []
        for condition, cond in run.conditions.items():
            status = condition_status(cond.category, severity.get(key, "deepchecks")).value
            conditions.append({"id": ids.get((key, condition)), "condition": condition,
                               "name": cond.name, "status": status, "details": cond.details})
            if role != "baseline":
                group = counts.setdefault(run.group, {})
                group[status] = group.get(status, 0) + 1
        for condition, error in run.condition_errors.items():
            conditions.append({"id": ids.get((key, condition)), "condition": condition,
                               "name": condition, "status": "errored", "details": error})
        checks.append({"check": key, "class": run.cls, "group": run.group, "role": role,
                       "state": run.state, "error": run.error, "seconds": run.seconds,
                       "conditions": conditions})
    return {
        "too_few": result.too_few,
        "sample": result.sample,
        "pseudonymised": result.pseudonymised,
        "checks": checks,
        "counts": counts,
        "comparison": [{"scorer": k, **v} for k, v in result.comparison.items()],
        "feature_importance": result.importance,
        "html": result.html.path if result.html else None,
        "html_error": result.html_error,
        "timings": {"import_s": result.import_s, "run_s": result.run_s},
    }
