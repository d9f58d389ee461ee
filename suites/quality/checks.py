"""The quality suite's checks: each judges the :class:`~.engine.QualityResult` with the settings.

* ``quality::<metric>``: non-inferiority against the baseline on the confidence interval of
  ``candidate - baseline`` (passed when the whole interval is within ``margin``, failed when the
  whole interval is beyond it, warned as inconclusive when it reaches across) and the metric's
  absolute threshold;
* ``quality::thresholds``: errored when there is neither a baseline nor a threshold;
* ``quality::worst_slice[<column>]``: the worst slice's primary metric, absolute and against
  the baseline's same slice;
* ``quality::<gap>[<attribute>]``: a group-fairness gap on a protected attribute.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from certify.evidence import Comparison, Direction, Outcome, Status, Threshold, compare
from certify.suites.quality.engine import METRICS, RELATIVE_MARGIN, QualityResult
from certify.suites.quality.settings import QualitySettings


def _no_worse(name: str, diff: float, margin: float, direction: Direction) -> Comparison:
    """``diff`` (candidate - baseline) within ``margin`` of no change, in the metric's
    direction."""
    if direction is Direction.MIN:
        return compare(name, diff, Threshold(fail=-margin), Direction.MIN)
    return compare(name, diff, Threshold(fail=margin), Direction.MAX)


def metric(result: QualityResult, settings: QualitySettings, name: str) -> Outcome:
    """``quality::<metric>``: non-inferiority vs the baseline and the absolute threshold."""
    direction = METRICS[name][0]
    r = result.metrics[name]
    comparisons: list[Comparison] = []
    inconclusive = ""
    if r.diff_ci is not None:
        margin = absolute_margin(name, settings, r.baseline)
        comparison, inconclusive = non_inferiority(name, r.diff_ci, margin, direction)
        comparisons.append(comparison)
    if name in settings.thresholds:
        comparisons.append(compare(name, r.candidate, settings.thresholds[name], direction))
    metrics = {"candidate": r.candidate, "candidate_ci": list(r.candidate_ci),
               "baseline": r.baseline, "baseline_ci": list(r.baseline_ci) if r.baseline_ci else None,
               "diff": r.diff, "diff_ci": list(r.diff_ci) if r.diff_ci else None,
               "rows": result.n_rows}
    base = f" vs baseline {r.baseline:.4f}" if r.baseline is not None else ""
    subject = f"{name} {r.candidate:.4f}{base}"
    outcome = Outcome.from_comparisons(comparisons, subject=subject, metrics=metrics)
    if inconclusive:
        others = [c.describe() for c in comparisons[1:] if c.status is not Status.PASSED]
        outcome.reason = f"{subject}: " + "; ".join([inconclusive, *others])
    return outcome


def absolute_margin(name: str, settings: QualitySettings, baseline: float | None) -> float:
    """The margin in the metric's units: as set for a scale-free metric, a fraction of the
    baseline's value for an error metric in the target's units (rmse, mae), so that one default
    suits a target measured in cents or in millions."""
    margin = settings.margins.get(name, settings.margin)
    if name in RELATIVE_MARGIN and baseline is not None and np.isfinite(baseline):
        return margin * abs(baseline)
    return margin


def non_inferiority(name: str, diff_ci: tuple[float, float], margin: float,
                    direction: Direction) -> tuple[Comparison, str]:
    """``candidate - baseline`` against ``margin``, decided on its confidence interval.

    Passed when the whole interval is within the margin (non-inferior); failed only when the
    whole interval is beyond it (worse than allowed, beyond doubt); warned when it reaches across
    (inconclusive at this sample size: not a coin flip, and not a rejection of a model that may
    be as good). The comparison records the worst plausible bound against the margin.
    """
    lo, hi = diff_ci
    higher_is_better = direction is Direction.MIN
    level = -margin if higher_is_better else margin
    worst, best = (lo, hi) if higher_is_better else (hi, lo)
    bound = ("lower" if higher_is_better else "upper")
    judged = _no_worse(f"{name}_diff_{bound}_ci", worst, margin, direction)
    if judged.status is Status.PASSED:
        return judged, ""
    clearly = (best < level) if higher_is_better else (best > level)
    if clearly:
        return judged.model_copy(update={"status": Status.FAILED}), ""
    note = (f"inconclusive: {judged.metric}={worst:.4g} is past {level:.4g}, but the interval "
            f"[{lo:.4g}, {hi:.4g}] of the difference reaches across it; more evaluation rows "
            "would decide it")
    return judged.model_copy(update={"status": Status.WARNED, "warn": level}), note


def nothing_to_judge(result: QualityResult) -> Outcome:
    """``quality::thresholds``: no baseline and no absolute threshold."""
    return Outcome(status=Status.ERRORED,
                   reason="no baseline and no absolute thresholds in [suites.quality.thresholds]: "
                          "nothing to certify quality against")


def worst_slice(result: QualityResult, settings: QualitySettings, col: str) -> Outcome:
    """``quality::worst_slice[<column>]``: the worst slice, absolute and vs the baseline."""
    sr = result.slices[col]
    if sr.worst is None:
        return Outcome(status=Status.SKIPPED,
                       reason=f"no slice of {col} has {settings.slice_min_rows}+ rows with both "
                              "classes",
                       details={"slices": sr.rows})
    w = sr.worst
    primary = result.primary
    direction = METRICS[primary][0]
    comparisons = []
    if settings.slice_threshold is not None:
        comparisons.append(compare(f"worst_slice_{primary}", w["candidate"],
                                   settings.slice_threshold, direction))
    if w.get("baseline") is not None and np.isfinite(w["baseline"]):
        comparisons.append(_no_worse(f"worst_slice_{primary}_diff", w["candidate"] - w["baseline"],
                                     settings.slice_margin, direction))
    if not comparisons:
        return Outcome(status=Status.ERRORED,
                       reason=f"no baseline and no slice_threshold to judge slices of {col}",
                       details={"slices": sr.rows})
    return Outcome.from_comparisons(
        comparisons, subject=f"worst slice {col}={w['slice']} ({w['rows']} rows)",
        metrics={"worst_slice": w["slice"], "candidate": w["candidate"],
                 "baseline": w.get("baseline"), "rows": w["rows"]},
        details={"slices": sr.rows})


def fairness(result: QualityResult, settings: QualitySettings, gap: str, attr: str) -> Outcome:
    """``quality::<gap>[<attribute>]``: the gap between the groups of a protected attribute."""
    fair: dict[str, Any] = result.fairness[attr]
    comparison = compare(gap, fair[gap], settings.fairness[gap], Direction.MAX)
    if comparison.status is Status.ERRORED:
        return Outcome(status=Status.SKIPPED,
                       reason=f"{gap} undefined for {attr} (a group without positives)",
                       details={"groups": fair["groups"]})
    return Outcome.from_comparisons([comparison], subject=f"{attr}",
                                    details={"groups": fair["groups"]})
