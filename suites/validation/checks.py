"""The validation suite's checks: one evidence record per deepchecks condition, from the result.

Status comes from deepchecks' ``ConditionResult``: PASS -> passed, WARN -> warned, FAIL ->
failed, ERROR -> errored; ``severity = "fail"`` (or ``"warn"``) turns an unmet condition (WARN
or FAIL) into failed (or warned): deepchecks itself only WARNs about some problems, e.g.
duplicates. The record's ``metrics`` hold the condition's arguments (``threshold.<arg>``), the
numbers the check computed (deepchecks' ``reduce_output()`` where the check has one, and the
numbers of its value one or two levels deep, e.g. per-class AUC, per-column drift scores), and
the sample (``sample_rows_reference``, ``sample_rows_evaluation``, ``sample_seed``); ``details``
hold deepchecks' condition text, a bounded summary of the check's value, and for ``model``
checks the baseline's condition result and numbers (``baseline.<name>`` in ``metrics``; the
record's status is the candidate's). A model check where the candidate fails a condition the
baseline passes says so in the reason ("the candidate regressed").

Failures of deepchecks itself, and too little data
    A check that raises, a condition name deepchecks does not have, or bad arguments: errored
    with the reason. A check deepchecks declares not applicable to this data or model
    (``DeepchecksNotSupportedError``, ``DatasetValidationError``, ``ModelValidationError``,
    ``NotEnoughSamplesError``, e.g. a date-leakage check on data without dates) is **skipped**
    when the check is configured ``required = false``, and **errored** when it is required (the
    default): a required check that could not run never passes. With fewer than ``min_rows``
    (default 100) reference or evaluation rows nothing runs and every record errors with that
    reason: deepchecks happily scores a dozen rows, and the result is noise.
"""

from __future__ import annotations

from typing import Any

from certify.evidence import Direction, Outcome, Status, compare
from certify.suites.validation.plan import PlannedCheck
from certify.suites.validation.results import CATEGORY_STATUS, ValidationResult, condition_status
from certify.suites.validation.settings import ValidationSettings


def sample_metrics(result: ValidationResult) -> dict[str, Any]:
    """The sample every record was computed on."""
    return {"sample_rows_reference": result.sample["reference_rows"],
            "sample_rows_evaluation": result.sample["evaluation_rows"],
            "sample_seed": result.sample["seed"]}


def deepchecks_condition(result: ValidationResult, p: PlannedCheck, condition: str) -> Outcome:
    """``validation::<check>`` or ``validation::<check>[<condition>]``: one deepchecks condition
    (the candidate's, for a model check, with the baseline's for comparison)."""
    arguments = p.conditions[condition]
    role = "candidate" if p.group == "model" else None
    thresholds = {f"threshold.{k}": v for k, v in arguments.items()
                  if isinstance(v, int | float | bool) or (isinstance(v, list) and len(v) < 10)}
    if result.too_few is not None:
        return Outcome(status=Status.ERRORED, reason=result.too_few,
                       metrics={**thresholds, **sample_metrics(result)})
    run = result.runs[(p.key, role)]
    metrics: dict[str, Any] = {**thresholds, **run.values, **sample_metrics(result)}
    details: dict[str, Any] = {"check": p.cls, "group": p.group, "condition": condition,
                               "arguments": arguments}
    who = f"deepchecks {p.cls}" + (" (candidate)" if role else "")
    if run.state != "ok":
        details["error"] = run.error
        if run.state == "not_applicable" and not p.required:
            return Outcome(status=Status.SKIPPED, metrics=metrics, details=details,
                           reason=f"{who} not applicable: {run.error}")
        prefix = "not applicable" if run.state == "not_applicable" else "raised"
        return Outcome(status=Status.ERRORED, metrics=metrics, details=details,
                       reason=f"{who} {prefix}: {run.error}")
    if condition in run.condition_errors:
        return Outcome(status=Status.ERRORED, metrics=metrics, details=details,
                       reason=f"{who}: {run.condition_errors[condition]}")
    cond = run.conditions[condition]
    status = condition_status(cond.category, p.severity)
    severity = f" [severity = {p.severity}]" if status is not CATEGORY_STATUS.get(
        cond.category) else ""
    details.update({"name": cond.name, "result": cond.category,
                    "deepchecks_details": cond.details, "value": run.summary})
    reason = (f"{cond.name}: {cond.category}{severity}"
              + (f" ({cond.details})" if cond.details else ""))
    base = result.runs.get((p.key, "baseline"))
    if base is not None:
        if base.state != "ok":
            details["baseline"] = {"state": base.state, "error": base.error}
        elif condition in base.conditions:
            bc = base.conditions[condition]
            details["baseline"] = {"result": bc.category, "deepchecks_details": bc.details,
                                   "values": base.values}
            metrics.update({f"baseline.{k}": v for k, v in base.values.items()})
            if bc.category != cond.category:
                reason += f"; baseline: {bc.category}"
                if bc.category == "PASS":
                    reason += " (the candidate regressed)"
    return Outcome(status=status, reason=reason, metrics=metrics, details=details)


def vs_baseline(result: ValidationResult, settings: ValidationSettings, scorer: str) -> Outcome:
    """``validation::vs_baseline[<scorer>]``: candidate minus baseline score against
    ``comparison.margin``."""
    if result.too_few is not None:
        return Outcome(status=Status.ERRORED, reason=result.too_few,
                       metrics=sample_metrics(result))
    if result.comparison_error is not None:
        return Outcome(status=Status.ERRORED, metrics=sample_metrics(result),
                       reason=f"deepchecks SingleDatasetPerformance raised: "
                              f"{result.comparison_error}")
    pair = result.comparison.get(scorer, {})
    cand, base, diff = pair.get("candidate"), pair.get("baseline"), pair.get("diff")
    comparison = compare(f"{scorer}_diff", diff, settings.comparison.margin, Direction.MIN)
    subject = (f"{scorer} candidate {cand:.4f} vs baseline {base:.4f}"
               if cand is not None and base is not None else f"{scorer}: no score")
    return Outcome.from_comparisons(
        [comparison], subject=subject,
        metrics={"candidate": cand, "baseline": base, "diff": diff, **sample_metrics(result)})


def html_report(result: ValidationResult) -> Outcome:
    """``validation::html_report``: deepchecks' own HTML, saved offline."""
    if result.too_few is not None:
        return Outcome(status=Status.ERRORED, reason=f"no deepchecks HTML: {result.too_few}")
    if result.html is None:
        return Outcome(status=Status.ERRORED,
                       reason=f"deepchecks' HTML not written: {result.html_error}")
    return Outcome(status=Status.PASSED, artifacts=[result.html],
                   reason=f"deepchecks' HTML saved offline: {result.html.path}")
