"""The explain suite's checks: each judges the :class:`~.result.ExplainResult` with the settings.

* ``explain::rank_agreement``: the agreement of the candidate's and the baseline's global
  rankings (Kendall's tau-b, or the overlap of their top k columns); warns only by default;
* ``explain::attribution_shift[<feature>]``: how far the column's share of the total attribution
  moved, candidate minus baseline (absolute); warns only by default;
* ``explain::protected_use[<attribute>]``: the share of the candidate's attribution a protected
  attribute carries, judged on its bootstrap interval: fails when the whole interval is above the
  fail level, warns when the interval spans it (inconclusive) or the share passes the warn level;
* ``explain::additivity``: SHAP values plus the expected value reproduce the candidate's own
  output (and the expected value its mean over the background);
* ``explain::stability``: the attributions of rows under small declared noise stay close.

A row that could not be explained (budget, time, explainer failure) errors every check: figures
over part of the sample are not evidence.
"""

from __future__ import annotations

from typing import Any

from certify.evidence import Comparison, Direction, Outcome, Status, Threshold, compare
from certify.suites.explain.result import ExplainResult
from certify.suites.explain.settings import ExplainSettings


def _explainers(result: ExplainResult) -> dict[str, str]:
    return {role: r.plan.kind for role, r in result.roles.items()}


def _incomplete(result: ExplainResult) -> Outcome | None:
    if result.complete:
        return None
    return Outcome(status=Status.ERRORED, reason=f"not every row explained: "
                   f"{result.incomplete_reason()}", details={"explainers": _explainers(result)})


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _span(ci: Any) -> str:
    return f"[{_pct(float(ci[0]))}, {_pct(float(ci[1]))}]"


def rank_agreement(result: ExplainResult, settings: ExplainSettings) -> Outcome:
    """``explain::rank_agreement``."""
    if (bad := _incomplete(result)) is not None:
        return bad
    assert result.rank is not None
    rank = result.rank
    metric = "kendall_tau" if settings.rank_metric == "kendall" else f"top_{rank['k']}_overlap"
    comparison = compare(metric, rank[settings.rank_metric], settings.rank_agreement,
                         Direction.MIN)
    return Outcome.from_comparisons(
        [comparison],
        subject=f"candidate's top {rank['k']} {rank['candidate_top']} vs the baseline's "
                f"{rank['baseline_top']}",
        metrics={"kendall_tau": rank["kendall"], "top_k_overlap": rank["top_k"], "k": rank["k"],
                 "candidate_top": rank["candidate_top"], "baseline_top": rank["baseline_top"],
                 "explainers": _explainers(result)})


def attribution_shift(result: ExplainResult, settings: ExplainSettings, feature: str) -> Outcome:
    """``explain::attribution_shift[<feature>]``."""
    if (bad := _incomplete(result)) is not None:
        return bad
    assert result.shift is not None and result.shift_ci is not None
    j = result.features.index(feature)
    shift, ci = float(result.shift[j]), result.shift_ci[j]
    cand, base = result.figures["candidate"], result.figures["baseline"]
    comparison = compare("share_shift", abs(shift), settings.attribution_shift, Direction.MAX)
    return Outcome.from_comparisons(
        [comparison],
        subject=f"{feature}: {_pct(float(cand.share[j]))} of the candidate's attribution vs "
                f"{_pct(float(base.share[j]))} of the baseline's ({shift:+.1%}, "
                f"{result.confidence:.0%} interval {_span(ci)})",
        metrics={"candidate_share": float(cand.share[j]),
                 "candidate_share_ci": cand.share_ci[j].tolist(),
                 "baseline_share": float(base.share[j]),
                 "baseline_share_ci": base.share_ci[j].tolist(),
                 "shift": shift, "shift_ci": [float(ci[0]), float(ci[1])],
                 "explainers": _explainers(result)})


def protected_use(result: ExplainResult, settings: ExplainSettings, attr: str) -> Outcome:
    """``explain::protected_use[<attribute>]``."""
    if (bad := _incomplete(result)) is not None:
        return bad
    entry = result.protected[attr]
    if not entry["input"]:
        return Outcome(status=Status.PASSED,
                       reason=f"{attr} is not an input of the models: no direct use possible",
                       metrics={"candidate_share": 0.0, "input": False})
    level = settings.protected_use
    cand = entry["candidate"]
    share, (lo, hi) = cand["share"], cand["share_ci"]
    base = entry.get("baseline")
    against = f" (baseline: {_pct(base['share'])})" if base else ""
    carries = (f"{attr} carries {_pct(share)} of the candidate's attribution, "
               f"{result.confidence:.0%} interval {_span((lo, hi))}{against}")
    lower = compare(f"{attr}_share_ci_lower", lo, Threshold(fail=level.fail), Direction.MAX)
    upper = _at_most_warned(compare(f"{attr}_share_ci_upper", hi, Threshold(fail=level.fail),
                                    Direction.MAX))
    point = _at_most_warned(compare(f"{attr}_share", share, level, Direction.MAX))
    if lower.status is Status.FAILED:
        status, reason = Status.FAILED, (f"{carries}: the whole interval is above the fail "
                                         f"level {_pct(level.fail)}")
    elif upper.status is Status.WARNED:
        status, reason = Status.WARNED, (f"{carries}: inconclusive, the interval spans the fail "
                                         f"level {_pct(level.fail)}")
    elif point.status is Status.WARNED:
        status, reason = Status.WARNED, (f"{carries}: above the warn level "
                                         f"{_pct(level.warn or level.fail)}")
    else:
        status, reason = Status.PASSED, f"{carries}: within {_pct(level.warn or level.fail)}"
    metrics: dict[str, Any] = {"candidate_share": share, "candidate_share_ci": [lo, hi],
                               "explainers": _explainers(result)}
    if base:
        metrics |= {"baseline_share": base["share"], "baseline_share_ci": base["share_ci"]}
    return Outcome(status=status, reason=reason, metrics=metrics,
                   comparisons=[lower, upper, point], artifacts=list(result.artifacts))


def _at_most_warned(comparison: Comparison) -> Comparison:
    """A crossing that alone cannot fail the check (inconclusive, or a point estimate)."""
    if comparison.status is Status.FAILED:
        return comparison.model_copy(update={"status": Status.WARNED})
    return comparison


def additivity(result: ExplainResult, settings: ExplainSettings) -> Outcome:
    """``explain::additivity``: judged on the candidate; a baseline whose explanation does not
    add up warns (the comparisons are of its explanation)."""
    if (bad := _incomplete(result)) is not None:
        return bad
    errors = {role: r.additivity(result.scale) for role, r in result.roles.items()}
    comparison = compare("additivity_error", errors["candidate"]["error"], settings.additivity,
                         Direction.MAX)
    outcome = Outcome.from_comparisons(
        [comparison],
        subject=f"candidate explained by {result.roles['candidate'].plan.kind} in the "
                f"{result.space.describe()}",
        metrics={"candidate": errors["candidate"]["error"],
                 "baseline": errors["baseline"]["error"] if "baseline" in errors else None,
                 "errors": errors, "explainers": _explainers(result)},
        artifacts=list(result.artifacts))
    base = errors.get("baseline")
    if (base is not None and outcome.status is Status.PASSED
            and not base["error"] <= settings.additivity.fail):
        outcome.status = Status.WARNED
        outcome.reason += (f"; the baseline's explanation does not add up "
                           f"(additivity_error={base['error']:.3g}): the comparisons are of it")
    return outcome


def stability(result: ExplainResult, settings: ExplainSettings) -> Outcome:
    """``explain::stability``: median cosine similarity of the candidate's attributions of rows
    with and without the declared noise."""
    if (bad := _incomplete(result)) is not None:
        return bad
    import numpy as np

    medians = {role: (float(np.median(r.stability)) if r.stability is not None
                      and len(r.stability) else None) for role, r in result.roles.items()}
    comparison = compare("median_cosine_similarity", medians["candidate"], settings.stability,
                         Direction.MIN)
    rows = result.roles["candidate"].stability
    return Outcome.from_comparisons(
        [comparison],
        subject=f"{0 if rows is None else len(rows)} rows under noise of "
                f"{result.stability_noise} standard deviations",
        metrics={"candidate": medians["candidate"], "baseline": medians.get("baseline"),
                 "explainers": _explainers(result)})
