"""One outcome function per kind of check, from the typed result.

Every invariant's check is judged the same way (:func:`property_check`): a counterexample
fails it; a hang, an untrustworthy model, a failed run or too few examples leave it errored;
else it passes. ``edge_cases::deadline`` is judged on the watchdog's timeouts
(:func:`deadline_check`). A check passed, or errored for too few examples, records the sample
size that decided it as a comparison (``examples >= min_examples``, :func:`sample_size`), so
the page shows it as the deciding value and threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from certify.evidence import Comparison, Direction, Outcome, Status, Threshold, compare
from certify.suite import SuiteContext
from certify.suites.edge_cases.counterexamples import hang_violation, write_counterexample
from certify.suites.edge_cases.invariants import INVARIANTS
from certify.suites.edge_cases.results import Counterexample, EdgeCasesResult, PropertyResult
from certify.suites.edge_cases.settings import EdgeCasesSettings

Context = SuiteContext[EdgeCasesSettings]
NO_CRASH = "edge_cases::no_crash"
CheckFn = Callable[[Context, str, EdgeCasesResult], Outcome]


def _metrics(ctx: Context, prop: PropertyResult) -> dict[str, Any]:
    return {"examples": prop.examples, "generated": prop.generated,
            "shrink_examples": prop.shrink_examples, "calls": prop.calls,
            "seconds": round(prop.seconds, 3), "max_examples": ctx.settings.max_examples,
            "budget_exhausted": prop.budget_exhausted, "seed": ctx.seed,
            "hypothesis_seed": prop.hypothesis_seed, "examples_by_kind": dict(prop.strata)}


def _errored(metrics: dict[str, Any], reason: str,
             comparisons: list[Comparison] | None = None) -> Outcome:
    return Outcome(status=Status.ERRORED, metrics=metrics, reason=reason,
                   comparisons=comparisons or [])


def sample_size(ctx: Context, prop: PropertyResult) -> Comparison:
    """The sample size that decides whether a check without a counterexample can pass: the
    examples judged against ``min_examples`` (fewer leave it errored, so the comparison is
    recorded as errored, not failed)."""
    c = compare("examples", prop.examples, Threshold(fail=ctx.settings.min_examples),
                Direction.MIN)
    return c if c.status is Status.PASSED else c.model_copy(update={"status": Status.ERRORED})


def property_check(ctx: Context, cid: str, result: EdgeCasesResult) -> Outcome:
    """The check ``cid`` of an invariant: passed when its search found no counterexample."""
    s = ctx.settings
    prop = result.properties[cid]
    metrics = _metrics(ctx, prop)
    if prop.failure is not None:
        data, artifact = write_counterexample(ctx, prop, prop.failure)
        comparison = compare("counterexamples", 1, Threshold(fail=0), Direction.MAX)
        note = "" if prop.failure.shrunk else " (not fully shrunk)"
        return Outcome(
            status=comparison.status, metrics={**metrics, "counterexamples": 1},
            comparisons=[comparison], artifacts=[artifact], details={"counterexample": data},
            reason=(f"{prop.failure.violation} on input [{prop.failure.case.describe()}]"
                    f"{note}; counterexample: {artifact.path}"))
    if prop.not_run or prop.hung:
        hung = result.timeouts[0] if result.timeouts else None
        where = f" in {hung.check}" if hung and hung.check != cid else ""
        return _errored(metrics, (
            f"{'not run' if prop.not_run else f'stopped after {prop.examples} examples'}: "
            f"the model did not return within {s.deadline_s:g} s{where} and is no longer "
            "called (see edge_cases::deadline)"))
    death = result.death
    if death is not None and cid == NO_CRASH:
        # A model whose process died on an input crashed on it, whichever check sent it.
        cx = Counterexample(cid, prop.invariant, death.cause, death.case,
                            {"method": death.method, "died": death.cause,
                             "found_by": death.check}, shrunk=False)
        data, artifact = write_counterexample(ctx, prop, cx)
        comparison = compare("counterexamples", 1, Threshold(fail=0), Direction.MAX)
        found = "" if death.check == cid else f" (found by {death.check})"
        return Outcome(
            status=comparison.status, metrics={**metrics, "counterexamples": 1},
            comparisons=[comparison], artifacts=[artifact], details={"counterexample": data},
            reason=(f"{death.cause} on input [{death.case.describe()}]{found}; the model is "
                    f"dead for the rest of the run; counterexample: {artifact.path}"))
    if prop.died and death is not None:
        return _errored(metrics, (
            f"{'not run' if prop.examples == 0 else f'stopped after {prop.examples} examples'}: "
            f"the model's process ended ({death.cause}) during {death.check}; see "
            f"{NO_CRASH}"))
    if prop.untrustworthy:
        return _errored(metrics, prop.untrustworthy)
    if prop.error:
        return _errored(metrics, f"property run failed: {prop.error}")
    if prop.examples < s.min_examples:
        why = (f"time budget of {s.time_budget_s:g} s spent" if prop.budget_exhausted
               else "the model rejected the rest")
        return _errored(metrics, (
            f"only {prop.examples} examples judged (min_examples {s.min_examples}; "
            f"{why}): not enough to certify"), [sample_size(ctx, prop)])
    comparison = compare("counterexamples", 0, Threshold(fail=0), Direction.MAX)
    budget = " (time budget reached)" if prop.budget_exhausted else ""
    return Outcome(status=comparison.status, comparisons=[comparison, sample_size(ctx, prop)],
                   metrics={**metrics, "counterexamples": 0},
                   reason=f"no counterexample in {prop.examples} examples{budget}")


def deadline_check(ctx: Context, cid: str, result: EdgeCasesResult) -> Outcome:
    """``edge_cases::deadline``: failed by the first call that did not return in time."""
    s = ctx.settings
    prop = result.properties[cid]
    seconds = np.asarray(result.call_seconds) if result.call_seconds else np.zeros(1)
    metrics = {**_metrics(ctx, prop), "calls_total": len(result.call_seconds),
               "max_call_s": round(float(seconds.max()), 6),
               "p95_call_s": round(float(np.quantile(seconds, 0.95)), 6),
               "deadline_s": s.deadline_s}
    if result.timeouts:
        hung = result.timeouts[0]
        cx = Counterexample(cid, INVARIANTS["deadline"].text, hang_violation(hung), hung.case,
                            {"method": hung.method, "deadline_s": hung.deadline_s,
                             "found_by": hung.check}, shrunk=False)
        data, artifact = write_counterexample(ctx, prop, cx)
        comparison = compare("timeouts", len(result.timeouts), Threshold(fail=0), Direction.MAX)
        found = "" if hung.check == cx.check else f" (found by {hung.check})"
        return Outcome(status=comparison.status, comparisons=[comparison],
                       metrics={**metrics, "timeouts": len(result.timeouts)},
                       artifacts=[artifact], details={"counterexample": data},
                       reason=(f"{cx.violation} on input [{hung.case.describe()}]{found}; the "
                               f"model was not called again; counterexample: {artifact.path}"))
    if prop.error:
        return _errored(metrics, f"property run failed: {prop.error}")
    if prop.examples < s.min_examples:
        return _errored(metrics, (
            f"only {prop.examples} examples in the time budget (min_examples "
            f"{s.min_examples}): not enough to certify"), [sample_size(ctx, prop)])
    comparison = compare("timeouts", 0, Threshold(fail=0), Direction.MAX)
    return Outcome(status=comparison.status, comparisons=[comparison, sample_size(ctx, prop)],
                   metrics={**metrics, "timeouts": 0},
                   reason=(f"{len(result.call_seconds)} calls, slowest "
                           f"{float(seconds.max()) * 1e3:.1f} ms (deadline {s.deadline_s:g} s)"))


def check_fn(name: str) -> CheckFn:
    """The outcome function of the check ``name``."""
    return deadline_check if name == "deadline" else property_check
