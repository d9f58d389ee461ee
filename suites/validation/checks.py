"""The validation suite's checks: one evidence record per deepchecks condition, from the result.

Status comes from deepchecks' ``ConditionResult``: PASS -> passed, WARN -> warned, FAIL ->
failed, ERROR -> errored; ``severity = "fail"`` (or ``"warn"``; ``condition_severity`` for one
condition) turns an unmet condition (WARN or FAIL) into failed (or warned): deepchecks itself
only WARNs about some problems, e.g. duplicates. Two corrections (:mod:`.deciding`): a breach
that sampling noise explains at this sample size is warned, not failed (inconclusive), and a
"new" category that the whole reference data has is not new.

The record
    ``comparisons``: the figure the condition was decided on against its threshold
    (:mod:`.deciding`: the largest null share, the smallest AUC, the gain over the simple
    model, ...; two for feature drift, numeric and categorical). A condition that can only warn
    records the threshold as its warn level and the farthest value the figure can take as its
    fail level. ``reason``: plain sentences (the figure, where, the threshold, the items past
    it; the baseline's figure for a model check, and "the candidate regressed" where the
    baseline meets the condition and the candidate does not). ``metrics``: the deciding
    figures first (``baseline.<metric>`` next), then the numbers deepchecks computed
    (``reduce_output()`` and its value one or two levels deep), then the sample
    (``sample_rows_reference``, ``sample_rows_evaluation``, ``sample_seed``). ``details``:
    deepchecks' condition name and text, the check's arguments, a bounded summary of its value,
    and the baseline's result. A condition without a reader keeps deepchecks' own sentence, its
    dicts and lists put in words.

``vs_baseline[<scorer>]`` is judged on a paired bootstrap interval (:mod:`.compare`);
``html_report`` is ``info`` (a file written, nothing judged).

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

from certify.evidence import Comparison, Direction, Outcome, Status, compare
from certify.suites.validation.deciding import Deciding
from certify.suites.validation.plan import PlannedCheck
from certify.suites.validation.reasons import figure, plain, sentence
from certify.suites.validation.results import ValidationResult, judged
from certify.suites.validation.settings import ValidationSettings


def sample_metrics(result: ValidationResult) -> dict[str, Any]:
    """The sample every record was computed on."""
    return {"sample_rows_reference": result.sample["reference_rows"],
            "sample_rows_evaluation": result.sample["evaluation_rows"],
            "sample_seed": result.sample["seed"]}


def comparison(d: Deciding, status: Status, warn_only: bool) -> Comparison:
    """``d`` as a recorded comparison: the record's status where ``d`` is past its threshold.
    A condition that can only warn records deepchecks' threshold as the warn level and the
    farthest value the figure can take as the fail level (it never fails)."""
    direction = Direction.MAX if d.direction == "max" else Direction.MIN
    own = status if d.breached() else Status.PASSED
    if warn_only and d.bound is not None:
        return Comparison(metric=d.metric, value=d.value, direction=direction, fail=d.bound,
                          warn=d.threshold, status=own)
    return Comparison(metric=d.metric, value=d.value, direction=direction, fail=d.threshold,
                      status=own)


_WORD = {Status.PASSED: "passes", Status.WARNED: "warns", Status.FAILED: "fails",
         Status.ERRORED: "errors"}


def _baseline(result: ValidationResult, p: PlannedCheck, condition: str, status: Status,
              metrics: dict[str, Any], details: dict[str, Any]) -> str:
    """The baseline's figure on the same condition, as a sentence (and into ``metrics``)."""
    base = result.runs.get((p.key, "baseline"))
    if base is None:
        return ""
    if base.state != "ok":
        details["baseline"] = {"state": base.state, "error": base.error}
        return f" The baseline's check could not run ({base.error})."
    if condition not in base.conditions:
        return ""
    bc = base.conditions[condition]
    b_status = judged(bc, p.severity_of(condition))[0]
    details["baseline"] = {"result": bc.category, "status": b_status.value,
                           "deepchecks_details": bc.details, "values": base.values,
                           "deciding": [d.as_json() for d in bc.deciding or []]}
    metrics.update({f"baseline.{d.metric}": d.value for d in bc.deciding or []})
    text = ""
    if bc.deciding:
        d = bc.deciding[0]
        text = f" The baseline's figure is {figure(d.value, d.percent)} ({_WORD[b_status]})."
    else:
        text = f" The baseline {_WORD.get(b_status, b_status.value)} this condition."
    if b_status is Status.PASSED and status in (Status.FAILED, Status.WARNED):
        text += " The candidate regressed: the baseline meets this condition."
    return text


def deepchecks_condition(result: ValidationResult, p: PlannedCheck, condition: str) -> Outcome:
    """``validation::<check>`` or ``validation::<check>[<condition>]``: one deepchecks condition
    (the candidate's, for a model check, with the baseline's for comparison)."""
    arguments = p.conditions[condition]
    role = "candidate" if p.group == "model" else None
    if result.too_few is not None:
        return Outcome(status=Status.ERRORED, reason=result.too_few,
                       metrics=sample_metrics(result))
    run = result.runs[(p.key, role)]
    details: dict[str, Any] = {"check": p.cls, "group": p.group, "condition": condition,
                               "arguments": arguments}
    who = f"deepchecks {p.cls}" + (" (candidate)" if role else "")
    if run.state != "ok":
        details["error"] = run.error
        if run.state == "not_applicable" and not p.required:
            return Outcome(status=Status.SKIPPED, metrics=sample_metrics(result),
                           details=details, reason=f"{who} not applicable: {run.error}")
        prefix = "not applicable" if run.state == "not_applicable" else "raised"
        return Outcome(status=Status.ERRORED, metrics=sample_metrics(result), details=details,
                       reason=f"{who} {prefix}: {run.error}")
    if condition in run.condition_errors:
        return Outcome(status=Status.ERRORED, metrics=sample_metrics(result), details=details,
                       reason=f"{who}: {run.condition_errors[condition]}")
    cond = run.conditions[condition]
    severity = p.severity_of(condition)
    status, correction = judged(cond, severity)
    decidings = cond.deciding or []
    warn_only = [severity == "warn" or (severity == "deepchecks" and d.deepchecks_warns)
                 for d in decidings]
    comparisons = [comparison(d, status, w) for d, w in zip(decidings, warn_only, strict=True)]
    metrics: dict[str, Any] = {d.metric: d.value for d in decidings}
    metrics.update({f"{d.metric}_noise_level": d.noise for d in decidings if d.noise is not None})
    details.update({"name": cond.name, "result": cond.category,
                    "deepchecks_details": cond.details, "value": run.summary,
                    "deciding": [d.as_json() for d in decidings]})
    if cond.deciding_error:
        details["deciding_error"] = cond.deciding_error
    if decidings:
        # a comparison with a warn level is a warning-only threshold (see ``comparison``)
        ordered = sorted(zip(decidings, comparisons, strict=True),
                         key=lambda dc: not dc[0].breached())
        reason = " ".join(sentence(d, c.warn is not None) for d, c in ordered)
    else:
        reason = plain(f"{cond.name}: {cond.details}" if cond.details else cond.name) + "."
    if status is Status.WARNED and cond.category in ("WARN", "FAIL") and not correction:
        reason += (" A warning only (severity = \"warn\")." if severity == "warn" else
                   " deepchecks only warns about this." if cond.category == "WARN" else "")
    elif status is Status.FAILED and cond.category == "WARN":
        reason += " Failed: severity = \"fail\"."
    if correction:
        reason += (f" Inconclusive, so warned rather than failed: {correction}."
                   if status is Status.WARNED else f" Passed: {correction}.")
    reason += _baseline(result, p, condition, status, metrics, details)
    metrics.update(run.values)
    metrics.update(sample_metrics(result))
    return Outcome(status=status, reason=reason, metrics=metrics, comparisons=comparisons,
                   details=details)


def vs_baseline(result: ValidationResult, settings: ValidationSettings, scorer: str) -> Outcome:
    """``validation::vs_baseline[<scorer>]``: candidate minus baseline score against
    ``comparison.margin``, judged on its paired bootstrap interval (:mod:`.compare`)."""
    if result.too_few is not None:
        return Outcome(status=Status.ERRORED, reason=result.too_few,
                       metrics=sample_metrics(result))
    if result.comparison_error is not None:
        return Outcome(status=Status.ERRORED, metrics=sample_metrics(result),
                       reason=f"deepchecks SingleDatasetPerformance raised: "
                              f"{result.comparison_error}")
    pair = result.comparison.get(scorer, {})
    cand, base, diff = pair.get("candidate"), pair.get("baseline"), pair.get("diff")
    ci = pair.get("diff_ci")
    margin = settings.comparison.margin
    metrics = {f"{scorer}_diff": diff, "diff_ci": ci, "candidate": cand, "baseline": base,
               "diff": diff, **sample_metrics(result)}
    point = compare(f"{scorer}_diff", diff, margin, Direction.MIN)
    if cand is None or base is None or diff is None:
        return Outcome(status=Status.ERRORED, comparisons=[point], metrics=metrics,
                       reason=f"deepchecks computed no {scorer} for "
                              + ("the candidate" if cand is None else "the baseline"))
    subject = (f"{scorer}: candidate {cand:.4f}, baseline {base:.4f}, difference {diff:+.4f}")
    rule = f"the difference must be at least {margin.fail:g}"
    if ci is None:
        status = point.status
        why = f"{rule} (no interval for this scorer: the point estimate is judged)"
    else:
        lo, hi = ci
        level = f"{round(pair.get('confidence') or 0.95, 4) * 100:g}%"
        interval = f"{level} interval [{lo:+.4f}, {hi:+.4f}] ({pair.get('resamples')} paired " \
                   "resamples)"
        if hi < margin.fail:
            status, why = Status.FAILED, f"{rule}, and the whole {interval} is below it"
        elif lo < margin.fail:
            status, why = Status.WARNED, (f"inconclusive at this sample size: the {interval} "
                                          f"reaches both sides of {margin.fail:g}")
        elif margin.warn is not None and diff < margin.warn:
            status, why = Status.WARNED, (f"below the warn level {margin.warn:g}; the "
                                          f"{interval} stays above the fail level "
                                          f"{margin.fail:g}")
        else:
            status, why = Status.PASSED, f"{rule}; the {interval} stays above it"
    judged_point = Comparison(metric=f"{scorer}_diff", value=diff, direction=Direction.MIN,
                              fail=margin.fail, warn=margin.warn, status=status)
    return Outcome(status=status, comparisons=[judged_point], metrics=metrics,
                   reason=f"{subject}; {why}.")


def html_report(result: ValidationResult) -> Outcome:
    """``validation::html_report``: deepchecks' own HTML, saved offline (``info``: a file
    written, nothing judged)."""
    if result.too_few is not None:
        return Outcome(status=Status.ERRORED, reason=f"no deepchecks HTML: {result.too_few}")
    if result.html is None:
        return Outcome(status=Status.ERRORED,
                       reason=f"deepchecks' HTML not written: {result.html_error}")
    return Outcome(status=Status.INFO, artifacts=[result.html],
                   reason=f"deepchecks' own HTML report saved offline: {result.html.path}")
