"""The validation suite's typed result, and the JSON of it that report.json keeps.

``report_data`` keys
    ``too_few`` (why nothing ran, or null), ``sample`` ({``reference_rows``,
    ``evaluation_rows``, ``reference_total``, ``evaluation_total``, ``seed``,
    ``stratified_by``}), ``pseudonymised`` (sensitive feature columns deepchecks saw
    pseudonymised), ``checks`` (one row per deepchecks check run: {``check``, ``class``,
    ``group``, ``role`` (candidate|baseline|null), ``state`` (ok|not_applicable|error),
    ``error``, ``seconds``, ``conditions``: [{``id``, ``condition``, ``name``, ``status``
    (as in the records: ``severity`` applied, inconclusive breaches warned), ``deciding``
    (the figures it was decided on: {``metric``, ``label``, ``value``, ``threshold``,
    ``direction``, ``strict``, ``percent``, ``where``, ``over``, ``n_over``, ...}, see
    :mod:`.deciding`), ``error`` (a condition that could not be added)}]}), ``counts``
    ({group: {status: n}} over the conditions of the non-baseline runs), ``comparison``
    ([{``scorer``, ``candidate``, ``baseline``, ``diff``, ``diff_ci`` ([lo, hi] or null),
    ``confidence``, ``resamples``}]), ``feature_importance`` ({role: {feature: importance}}),
    ``html`` (artifact path or null), ``html_error``, ``timings`` ({``import_s``, ``run_s``}).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from certify.evidence import Artifact, Status
from certify.suites.validation.deciding import Deciding
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
    #: The figures it was decided on (None: no reader for this condition, see :mod:`.deciding`).
    deciding: list[Deciding] | None = None
    deciding_error: str | None = None


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
    comparison: dict[str, dict[str, Any]]
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


def judged(cond: ConditionResult, severity: str) -> tuple[Status, str]:
    """The record's status and, where it differs from deepchecks' verdict, why: a breach that
    sampling noise explains is at most warned; one that the whole data resolves passes."""
    status = condition_status(cond.category, severity)
    if status not in (Status.WARNED, Status.FAILED) or not cond.deciding:
        return status, ""
    breached = [d for d in cond.deciding if d.breached()]
    if not breached and any(d.resolved for d in cond.deciding):
        return Status.PASSED, "; ".join(d.resolved for d in cond.deciding if d.resolved)
    if breached and all(d.inconclusive for d in breached) and status is Status.FAILED:
        return Status.WARNED, "; ".join(d.inconclusive for d in breached)
    return status, ""


def report_data(planned: list[PlannedCheck], result: ValidationResult) -> dict[str, Any]:
    """``result`` as report.json keeps it (see the module's documentation for the keys)."""
    ids = {}
    severity = {}
    for p in planned:
        for condition in p.conditions:
            severity[(p.key, condition)] = p.severity_of(condition)
            name, param = p.record_name(condition)
            ids[(p.key, condition)] = f"validation::{name}" + (f"[{param}]" if param else "")
    checks = []
    counts: dict[str, dict[str, int]] = {}
    for (key, role), run in result.runs.items():
        conditions = []
        for condition, cond in run.conditions.items():
            status = judged(cond, severity.get((key, condition), "deepchecks"))[0].value
            conditions.append({"id": ids.get((key, condition)), "condition": condition,
                               "name": cond.name, "status": status,
                               "deciding": [d.as_json() for d in cond.deciding or []]})
            if role != "baseline":
                group = counts.setdefault(run.group, {})
                group[status] = group.get(status, 0) + 1
        for condition, error in run.condition_errors.items():
            conditions.append({"id": ids.get((key, condition)), "condition": condition,
                               "name": condition, "status": "errored", "deciding": [],
                               "error": error})
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
