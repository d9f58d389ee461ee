"""The suite's checks, one small function each: ``(result, settings) -> Outcome``.

An attack that hit its query or time budget, or a model that was not attacked (noisy answers,
slow calls), errors the checks that depend on it (with the reason), never passes them. A check
is ``passed``/``warned``/``failed`` only where a threshold (or the baseline comparison of
``regression``) judged it; one with no threshold records its figure as ``info`` (measured, not
judged), except ``robust_accuracy`` with neither threshold nor baseline, which errors."""

from __future__ import annotations

from typing import Any

import numpy as np

from certify.evidence import (
    Artifact,
    Direction,
    Outcome,
    Status,
    Threshold,
    compare,
)
from certify.jsonsafe import finite
from certify.suites.adversarial.results import INTERVAL, AdversarialResult, ModelAttack
from certify.suites.adversarial.settings import AdversarialSettings


def _base_metrics(result: AdversarialResult) -> dict[str, Any]:
    return {"epsilon": result.epsilon, "norm": result.norm, "sample_size": result.sample_size,
            "seed": result.seed, "features": result.columns, "executor": result.executor,
            "workers": result.workers, "shards": result.shards}


def _incomplete(result: AdversarialResult, roles: tuple[str, ...],
                metrics: dict[str, Any]) -> Outcome | None:
    """Errored when an attack of ``roles`` ran out of budget."""
    bad = [result.models[r] for r in roles if r in result.models and result.models[r].budget_reason]
    if not bad:
        return None
    reason = "; ".join(f"{m.role} attack incomplete: {m.budget_reason}" for m in bad)
    return Outcome(status=Status.ERRORED, reason=reason, metrics=metrics)


def _judged(metric: str, value: float, s: AdversarialSettings, direction: Direction, subject: str,
            metrics: dict[str, Any], artifacts: list[Artifact] | None = None) -> Outcome:
    """``value`` against the policy's threshold of ``metric`` (which is set)."""
    return Outcome.from_comparisons([compare(metric, value, s.limits()[metric], direction)],
                                    subject=subject, metrics=metrics, artifacts=artifacts)


def clean_accuracy(result: AdversarialResult, s: AdversarialSettings) -> Outcome:
    c, b = result.candidate, result.baseline
    metrics = {"candidate": c.clean_accuracy, "baseline": b.clean_accuracy if b else None,
               **_base_metrics(result)}
    if finite(c.clean_accuracy) is None:
        why = f": {c.budget_reason}" if c.budget_reason else ""
        return Outcome(status=Status.ERRORED, metrics=metrics,
                       reason=f"no clean accuracy was measured{why}")
    if "clean_accuracy" in s.limits():
        return _judged("clean_accuracy", c.clean_accuracy, s, Direction.MIN,
                       f"clean accuracy on {result.sample_size} rows", metrics)
    return Outcome(status=Status.INFO, metrics=metrics,
                   reason=f"clean accuracy {c.clean_accuracy:.4f} on {result.sample_size} rows "
                          "(measured, not judged: no threshold set)")


def robust_accuracy(result: AdversarialResult, s: AdversarialSettings) -> Outcome:
    c, b = result.candidate, result.baseline
    metrics = {"candidate": c.robust_accuracy, "baseline": b.robust_accuracy if b else None,
               "completed_rows": c.completed, "candidate_ci": c.robust_ci_at(c.policy_k),
               "baseline_ci": b.robust_ci_at(b.policy_k) if b else None, "interval": INTERVAL,
               **_base_metrics(result), "attack": c.attack, "attacked_rows": c.attacked,
               "fast_path": c.fast, "fast_path_mismatches": c.fast_mismatches,
               "notes": result.notes,
               "curve": {"epsilons": result.grid, "candidate": c.curve,
                         "baseline": b.curve if b else None}}
    arts = list(result.artifacts)
    incomplete = _incomplete(result, ("candidate",), metrics)
    if incomplete is not None:
        incomplete.artifacts = arts
        return incomplete
    ci = c.robust_ci_at(c.policy_k)
    shown = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
    subject = (f"robust accuracy {c.robust_accuracy:.4f}{shown} on {c.completed} rows at epsilon "
               f"{s.epsilon} ({c.attack})")
    if "robust_accuracy" in s.limits():
        return _judged("robust_accuracy", c.robust_accuracy, s, Direction.MIN, subject, metrics,
                       artifacts=arts)
    if b is None:
        return Outcome(status=Status.ERRORED, metrics=metrics, artifacts=arts,
                       reason=f"{subject}: no baseline and no thresholds.robust_accuracy in "
                              "[suites.adversarial]: nothing to certify robustness against")
    return Outcome(status=Status.INFO, metrics=metrics, artifacts=arts,
                   reason=f"{subject}: measured here, judged against the baseline by "
                          "adversarial::regression")


def attack_success_rate(result: AdversarialResult, s: AdversarialSettings) -> Outcome:
    c, b = result.candidate, result.baseline
    metrics = {"candidate": c.success_rate, "baseline": b.success_rate if b else None,
               "flipped_rows": c.flipped_count, "correct_rows": c.correct_completed,
               **_base_metrics(result), "attack": c.attack}
    incomplete = _incomplete(result, ("candidate",), metrics)
    if incomplete is not None:
        return incomplete
    subject = f"{c.flipped_count} of {c.correct_completed} correct rows flipped ({c.attack})"
    if "attack_success_rate" in s.limits():
        return _judged("attack_success_rate", c.success_rate, s, Direction.MAX, subject, metrics,
                       artifacts=list(result.artifacts))
    return Outcome(status=Status.INFO, metrics=metrics,
                   reason=f"{subject} (measured, not judged: no threshold set)")


def min_perturbation(result: AdversarialResult, s: AdversarialSettings) -> Outcome:
    c, b = result.candidate, result.baseline
    dist = c.perturbation()
    median = dist["quantiles"]["p50"]
    metrics = {"median": median, "rows": dist["rows"], "not_found": dist["not_found"],
               **_base_metrics(result), "attack": c.attack, "quantiles": dist["quantiles"],
               "baseline_quantiles": (b.perturbation()["quantiles"]
                                      if b is not None and b.kind == "black-box" else None)}
    incomplete = _incomplete(result, ("candidate",), metrics)
    if incomplete is not None:
        return incomplete
    shown = "none found" if median is None else f"{median:.4g}"
    subject = (f"median minimal perturbation {shown} (std units, L{result.norm}) over "
               f"{dist['rows']} correctly classified rows")
    if "min_perturbation_median" in s.limits():
        value = float("inf") if median is None else median
        return _judged("min_perturbation_median", value, s, Direction.MIN, subject, metrics)
    return Outcome(status=Status.INFO, metrics=metrics,
                   reason=f"{subject} (measured, not judged: no threshold set)")


#: Paired resamples of the rows for the interval of ``regression``'s difference.
RESAMPLES = 2000
#: Its confidence.
CONFIDENCE = 0.95


def paired_diff(c: ModelAttack, b: ModelAttack, seed: int
                ) -> tuple[float, tuple[float, float], int] | None:
    """Candidate minus baseline robust accuracy on the rows both attacks completed (the same
    sample rows), with its paired bootstrap interval (:data:`CONFIDENCE`, :data:`RESAMPLES`,
    seeded): ``(diff, (low, high), rows)``, or None without such rows. Values are rounded to 12
    decimals: a difference of 5 rows in 100 is -0.05, not -0.05000000000000004."""
    both = c.completed_mask & b.completed_mask
    robust_c = (c.correct & ~c.flipped[:, c.policy_k])[both].astype(float)
    robust_b = (b.correct & ~b.flipped[:, b.policy_k])[both].astype(float)
    n = len(robust_c)
    if n == 0:
        return None
    d = robust_c - robust_b
    means = d[np.random.default_rng(seed).integers(0, n, size=(RESAMPLES, n))].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return round(float(d.mean()), 12), (round(float(lo), 12), round(float(hi), 12)), n


def regression(result: AdversarialResult, s: AdversarialSettings) -> Outcome:
    """The candidate's robust accuracy against the baseline's, on the paired interval of the
    difference (:func:`paired_diff`): failed when the whole interval is beyond ``margin`` (a
    regression beyond doubt); passed when the difference itself is within it; warned as
    inconclusive when the difference is past the margin but its interval reaches back across.

    A rule for evidence of harm rather than of non-inferiority (the quality suite's): attacks are
    costly, so the sample is small by design (100 rows: an interval of about ±0.07), and a
    non-inferiority rule would warn on nearly every honest model; a point estimate alone flipped
    on a row or two (an honest torch model was rejected at -0.05 against a margin of 0.05)."""
    c, b = result.candidate, result.models["baseline"]
    metrics = {**_base_metrics(result), "candidate": c.robust_accuracy,
               "baseline": b.robust_accuracy, "diff": None, "diff_ci": None, "paired_rows": 0,
               "confidence": CONFIDENCE, "margin": s.margin,
               "candidate_attack": c.attack, "baseline_attack": b.attack,
               "same_attack": c.attack == b.attack}
    incomplete = _incomplete(result, ("candidate", "baseline"), metrics)
    if incomplete is not None:
        return incomplete
    paired = paired_diff(c, b, result.seed)
    subject = (f"robust accuracy {c.robust_accuracy:.4f} vs baseline {b.robust_accuracy:.4f} "
               f"({c.attack} / {b.attack})")
    if paired is None:
        return Outcome(status=Status.ERRORED, metrics=metrics,
                       reason=f"{subject}: no row was attacked to the end on both models")
    diff, (lo, hi), n = paired
    metrics.update(diff=diff, diff_ci=[lo, hi], paired_rows=n)
    subject += (f", difference {diff:+.4f} ({CONFIDENCE:.0%} interval [{lo:+.4f}, {hi:+.4f}] "
                f"over {n} paired rows)")
    level = Threshold(fail=-s.margin)
    upper = compare("robust_accuracy_diff_upper_ci", hi, level, Direction.MIN)
    if upper.status is Status.FAILED:
        return Outcome.from_comparisons([upper], subject=subject, metrics=metrics)
    point = compare("robust_accuracy_diff", diff, level, Direction.MIN)
    if point.status is Status.PASSED:
        return Outcome.from_comparisons([point], subject=subject, metrics=metrics)
    warned = point.model_copy(update={"status": Status.WARNED, "warn": -s.margin})
    return Outcome(status=Status.WARNED, metrics=metrics, comparisons=[warned],
                   reason=f"{subject}: inconclusive: the difference is past {-s.margin:g}, but "
                          "its interval reaches back across it (not a failure); a larger "
                          "sample_size would decide it")
