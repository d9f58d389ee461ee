"""The invariants of the edge_cases suite: one function per check, registered by name.

An invariant is a function ``(probe, param) -> Property``: the strata it runs on (one
hypothesis run per input kind, each with its strategy) and the body hypothesis calls with each
drawn example. A body calls the model through ``probe.caller``, counts the examples it judged
(``result.judged()``) and raises :class:`Violation` with the observed output when the invariant
does not hold. A comparison that sees a difference first asks
:meth:`~certify.suites.edge_cases.probe.Probe.confirm` whether the model is deterministic on
that input (else the check is untrustworthy, not failed).

Adding an invariant is adding one function here, registered with :func:`register` (its check
name, its one-line statement, and for which settings it applies). The registration order is
the order of the checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from certify.models import Model
from certify.suites.edge_cases.bands import distinct, pair
from certify.suites.edge_cases.caller import Call
from certify.suites.edge_cases.cases import Case, json_value, tile
from certify.suites.edge_cases.outputs import (
    diff_outputs,
    finite_problem,
    outputs_json,
    proba_problem,
    score,
    select,
    shape_problem,
)
from certify.suites.edge_cases.probe import Probe, Property
from certify.suites.edge_cases.results import PropertyResult
from certify.suites.edge_cases.settings import POLICY_KEYS, EdgeCasesSettings
from certify.suites.edge_cases.signals import Violation

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

Builder = Callable[[Probe, "str | None"], Property[Any]]


def _always(settings: EdgeCasesSettings, model: Model) -> list[str | None]:
    return [None]


@dataclass(frozen=True)
class Invariant:
    """A registered invariant: its check name, statement, builder and parameters."""

    name: str
    text: str  # ``{param}`` and ``{direction}`` are filled in for a parametrised check
    build: Builder
    params: Callable[[EdgeCasesSettings, Model], list[str | None]] = _always

    def describe(self, settings: EdgeCasesSettings, param: str | None) -> str:
        if param is None:
            return self.text
        return self.text.format(param=param, direction=settings.monotonic.get(param))


#: Every invariant by check name, in the order of the checks.
INVARIANTS: dict[str, Invariant] = {}


def register(name: str, text: str,
             params: Callable[[EdgeCasesSettings, Model], list[str | None]] = _always
             ) -> Callable[[Builder], Builder]:
    """Register an invariant builder as the check ``name`` (``params``: its checks' parameters
    for these settings and this model; an empty list: the check does not apply)."""
    def add(build: Builder) -> Builder:
        INVARIANTS[name] = Invariant(name, text, build, params)
        return build
    return add


# -- one call per example: the output itself ------------------------------------------------

@register("deadline", "every model call returns within deadline_s")
def deadline(p: Probe, param: str | None) -> Property[Case]:
    def body(case: Case, result: PropertyResult) -> None:
        p.caller.call(case)
        result.judged()

    return Property(p.edge_strata(), body)


def _expected(s: EdgeCasesSettings, case: Case) -> str:
    levels = [getattr(s, POLICY_KEYS[k]) for k in case.kinds]
    if "must_reject" in levels:
        return "must_reject"
    return "reject" if "reject" in levels else "predict"


def _policy_keys(s: EdgeCasesSettings, case: Case) -> str:
    return ", ".join(sorted(f"{POLICY_KEYS[k]}={getattr(s, POLICY_KEYS[k])!r}"
                            for k in case.kinds)) or "valid input"


def _tally(acceptance: dict[str, dict[str, int]], case: Case, call: Call) -> None:
    for kind in sorted(case.kinds) or ["valid"]:
        counts = acceptance.setdefault(kind, {"predicted": 0, "rejected": 0, "crashed": 0,
                                              "bad_output": 0})
        counts[call.kind] += 1


@register("no_crash", "every input is predicted or cleanly rejected, as the policy says")
def no_crash(p: Probe, param: str | None) -> Property[Case]:
    s = p.settings

    def body(case: Case, result: PropertyResult) -> None:
        call = p.caller.call(case)
        result.judged()
        if not result.shrinking:
            _tally(p.acceptance, case, call)
        want = _expected(s, case)
        if call.kind == "crashed":
            raise Violation(f"crashed: {call.error}", outputs_json(call), case)
        if call.kind == "rejected" and want == "predict":
            raise Violation(f"rejected an input the policy says must be predicted "
                            f"({_policy_keys(s, case)}): {call.error}", outputs_json(call), case)
        if call.kind != "rejected" and want == "must_reject":
            raise Violation(f"predicted an input the policy says must be rejected "
                            f"({_policy_keys(s, case)})", outputs_json(call), case)

    return Property(p.edge_strata(), body)


@register("output_shape", "one output per input row; labels among the model's classes")
def output_shape(p: Probe, param: str | None) -> Property[Case]:
    def body(case: Case, result: PropertyResult) -> None:
        call = p.caller.call(case)
        if call.kind == "bad_output":
            result.judged()
            raise Violation(f"wrong output: {call.error}", outputs_json(call), case)
        if not call.ok:
            return
        result.judged()
        problem = shape_problem(p.model, case, call)
        if problem:
            raise Violation(problem, outputs_json(call), case)

    return Property(p.edge_strata(), body)


def _judge_output(p: Probe, problem: Callable[[Call], str | None], *,
                  proba_only: bool = False) -> Property[Case]:
    """A property of one predicted output (inputs the model rejects are not judged)."""
    def body(case: Case, result: PropertyResult) -> None:
        call = p.caller.call(case, proba_only=proba_only)
        if not call.ok:
            return
        result.judged()
        found = problem(call)
        if found:
            raise Violation(found, outputs_json(call), case)

    return Property(p.edge_strata(), body)


@register("finite", "predictions and probabilities are finite")
def finite(p: Probe, param: str | None) -> Property[Case]:
    return _judge_output(p, lambda call: finite_problem(p.model, call))


@register("proba_valid", "probabilities lie in [0, 1] and each row sums to 1",
          params=lambda s, model: [None] if model.predict_proba is not None else [])
def proba_valid(p: Probe, param: str | None) -> Property[Case]:
    return _judge_output(p, lambda call: proba_problem(call, p.settings.prob_tolerance),
                         proba_only=True)


@register("deterministic", "the same input twice gives the same output")
def deterministic(p: Probe, param: str | None) -> Property[Case]:
    tol = p.settings.determinism_tolerance

    def body(case: Case, result: PropertyResult) -> None:
        first = p.caller.call(case)
        second = p.caller.call(case)
        result.judged()
        if first.kind != second.kind:
            raise Violation(f"first call {first.kind}, second call {second.kind}",
                            {"first": outputs_json(first), "second": outputs_json(second)}, case)
        diff = diff_outputs(first, second)
        if diff > tol:
            raise Violation(f"two calls on the same input differ by {diff:.3g} "
                            f"(tolerance {tol:g})",
                            {"first": outputs_json(first), "second": outputs_json(second),
                             "max_abs_diff": diff}, case)

    return Property(p.edge_strata(), body)


# -- comparisons: the same rows in another batch, order or column order ----------------------

@register("batch_invariant", "a row scores the same alone, in its batch and in a large batch")
def batch_invariant(p: Probe, param: str | None) -> Property[tuple[Case, bool]]:
    s, st, caller = p.settings, p.gen.st, p.caller
    tol = s.batch_tolerance
    large = st.booleans() if s.large_batch else st.just(False)
    strata = [(k, st.tuples(p.gen.cases(k, min_rows=2), large))
              for k in p.gen.strata(p.accepted(), large=False)]

    def body(drawn: tuple[Case, bool], result: PropertyResult) -> None:
        case, in_large = drawn
        batch = caller.call(case, proba_only=True)
        if not batch.ok:
            return
        result.judged()
        frame = case.frame
        for i in range(len(frame)):
            alone_case = Case(frame.iloc[[i]].reset_index(drop=True), case.kinds, case.notes)
            alone = caller.call(alone_case, proba_only=True)
            if not alone.ok:
                p.confirm(alone_case, alone)
                raise Violation(
                    f"row {i} alone is {alone.kind} ({alone.error}), but its batch of "
                    f"{len(frame)} rows was predicted",
                    {"row": i, "alone": outputs_json(alone), "in_batch": outputs_json(batch)},
                    case)
            in_batch = select(batch, [i])
            diff = diff_outputs(alone, in_batch)
            if diff > tol:
                p.confirm(alone_case, alone)
                raise Violation(
                    f"row {i} scored alone differs from the same row in a batch of "
                    f"{len(frame)} by {diff:.3g} (tolerance {tol:g})",
                    {"row": i, "alone": outputs_json(alone),
                     "in_batch": outputs_json(in_batch), "max_abs_diff": diff}, case)
        if in_large:
            big = tile(frame, s.large_batch)
            big_case = Case(big, case.kinds, [*case.notes, f"repeated to {len(big)} rows"],
                            len(frame))
            large_call = caller.call(big_case, proba_only=True)
            if not large_call.ok:
                p.confirm(big_case, large_call)
                raise Violation(
                    f"the batch of {len(frame)} rows repeated to {len(big)} rows is "
                    f"{large_call.kind} ({large_call.error}), the batch itself predicted",
                    {"batch": outputs_json(batch), "large": outputs_json(large_call)}, case)
            diff = diff_outputs(large_call, select(batch, np.arange(len(big)) % len(frame)))
            if diff > tol:
                p.confirm(case, batch)
                raise Violation(
                    f"the batch of {len(frame)} rows repeated to {len(big)} rows scores "
                    f"differently by {diff:.3g} (tolerance {tol:g})",
                    {"batch": outputs_json(batch), "large": outputs_json(large_call),
                     "max_abs_diff": diff}, case)

    return Property(strata, body)


Moved = Callable[[Case, Call, list[Any]], tuple[Case, Call]]


def _reordered(p: Probe, what: str, move: Moved, *, may_reject: bool = False
               ) -> Callable[[tuple[Case, list[Any]], PropertyResult], None]:
    """The body of an order check: ``move(case, first, order)`` gives the moved input and the
    outputs it must have; ``may_reject``: a clean rejection of the moved input is judged by
    ``on_reordered_columns``."""
    tol = p.settings.batch_tolerance

    def body(drawn: tuple[Case, list[Any]], result: PropertyResult) -> None:
        case, order = drawn
        first = p.caller.call(case, proba_only=True)
        if not first.ok:
            return
        moved, want = move(case, first, list(order))
        second = p.caller.call(moved, proba_only=True)
        if second.kind == "rejected" and may_reject:
            result.judged()
            if p.settings.on_reordered_columns == "predict":
                raise Violation(f"rejected reordered columns (on_reordered_columns = "
                                f"'predict'): {second.error}", outputs_json(second), moved)
            return
        if not second.ok:
            result.judged()
            p.confirm(case, first)
            raise Violation(f"{what}: {second.kind} ({second.error}), the original "
                            "order predicted", {"original": outputs_json(first),
                                                "moved": outputs_json(second)}, moved)
        result.judged()
        diff = diff_outputs(second, want)
        if diff > tol:
            p.confirm(case, first)
            raise Violation(f"{what} change the outputs by {diff:.3g} (tolerance {tol:g})",
                            {"original": outputs_json(first), "moved": outputs_json(second),
                             "expected": outputs_json(want), "max_abs_diff": diff}, moved)

    return body


@register("row_order", "permuting the rows permutes the outputs")
def row_order(p: Probe, param: str | None) -> Property[tuple[Case, list[int]]]:
    st = p.gen.st

    def with_order(c: Case) -> SearchStrategy[tuple[Case, list[int]]]:
        return st.tuples(st.just(c), st.permutations(list(range(len(c.frame)))))

    def move(case: Case, first: Call, order: list[Any]) -> tuple[Case, Call]:
        moved = Case(case.frame.iloc[order].reset_index(drop=True), case.kinds,
                     [*case.notes, f"rows permuted: {order}"])
        return moved, select(first, order)

    strata = [(k, p.gen.cases(k, min_rows=2).flatmap(with_order))
              for k in p.gen.strata(p.accepted(), large=False)]
    return Property(strata, _reordered(p, "permuted rows", move))


@register("column_order", "reordered columns give the same outputs or a clean rejection",
          params=lambda s, model: [None] if s.on_reordered_columns != "skip" else [])
def column_order(p: Probe, param: str | None) -> Property[tuple[Case, list[str]]]:
    st, features = p.gen.st, p.gen.features

    def move(case: Case, first: Call, order: list[Any]) -> tuple[Case, Call]:
        cols = order if order != features else order[1:] + order[:1]
        moved = Case(case.frame[cols], case.kinds | {"reordered_columns"},
                     [*case.notes, "columns reordered: " + ", ".join(cols)])
        return moved, first

    strata = [(k, st.tuples(p.gen.cases(k, min_rows=2), st.permutations(features)))
              for k in p.gen.strata(p.accepted(), large=False)]
    return Property(strata, _reordered(p, "reordered columns", move, may_reject=True))


# -- declared constraints -----------------------------------------------------------------------

def _scan(p: Probe, param: str, judge: Callable[[Case, list[Any], Call], None]
          ) -> Property[tuple[pd.DataFrame, list[Any]]]:
    """One valid row repeated, ``param`` taking 2..8 distinct valid values in turn; ``judge``
    sees each scan the model predicted (with the values and the outputs)."""
    def body(drawn: tuple[pd.DataFrame, list[Any]], result: PropertyResult) -> None:
        row, values = drawn
        frame = tile(row, len(values))
        frame[param] = values
        notes = [f"{param} in [{', '.join(distinct(values))}]"]
        if param in p.gen.sensitive:
            band = p.gen.bands.get(param)
            span = f" from {band.band(values[0])} to {band.band(values[-1])}" if band else ""
            notes = [f"{param}: {len(values)} values{span} (masked)"]
        case = Case(frame, frozenset(), notes)
        call = p.caller.call(case, proba_only=True)
        if not call.ok:
            return
        result.judged()
        judge(case, values, call)

    return Property([("valid", p.gen.st.tuples(p.gen.rows(1, 1), p.gen.values_of(param, 8)))],
                    body)


def _scanned(p: Probe, param: str, values: list[Any], step: int) -> dict[str, Any]:
    """The scanned values as shown (a sensitive number as its decile band and its change in σ
    of the reference, never the value) and the change of the step ``step -> step + 1``."""
    band = p.gen.bands.get(param) if param in p.gen.sensitive else None
    a, b = values[step], values[step + 1]
    if param in p.gen.sensitive:
        if band is None:  # a category: its pseudonym tells equal from different
            return {"values": [f"value {i + 1} (masked)" for i in range(len(values))],
                    "change": "changed (masked)"}
        shown = [band.band(values[0])] + [
            f"{band.band(v)}, {band.shift(u, v)} from the row before"
            for u, v in zip(values, values[1:], strict=False)]
        return {"values": shown, "change": band.change(a, b)}
    texts = distinct(values)
    return {"values": texts, "change": "{} → {}".format(*pair(a, b, 6))}


@register("monotonic", "the score is {direction} in {param}",
          params=lambda s, model: list(s.monotonic))
def monotonic(p: Probe, param: str | None) -> Property[tuple[pd.DataFrame, list[Any]]]:
    assert param is not None
    s = p.settings
    direction = s.monotonic[param]

    def judge(case: Case, values: list[Any], call: Call) -> None:
        scores = score(p.model, s, call)
        steps = (1.0 if direction == "increasing" else -1.0) * np.diff(scores)
        worst = int(np.argmin(steps)) if len(steps) else 0
        if len(steps) and (np.isnan(steps).any() or steps[worst] < -s.monotonic_tolerance):
            p.confirm(case, call)
            shown = _scanned(p, param, values, worst)
            before, after = pair(scores[worst], scores[worst + 1])
            raise Violation(
                f"{direction} in {param} required, but {param} {shown['change']} moves "
                f"the score {before} → {after}",
                {**outputs_json(call), "scores": [json_value(v) for v in scores],
                 "step": [worst, worst + 1], "values": shown["values"],
                 "change": shown["change"]}, case)

    return _scan(p, param, judge)


@register("invariant", "the output does not depend on {param}",
          params=lambda s, model: list(s.invariant))
def invariance(p: Probe, param: str | None) -> Property[tuple[pd.DataFrame, list[Any]]]:
    assert param is not None
    tol = p.settings.batch_tolerance

    def judge(case: Case, values: list[Any], call: Call) -> None:
        diff = diff_outputs(call, select(call, [0] * len(values)))
        if diff > tol:
            p.confirm(case, call)
            raise Violation(f"changing {param} changes the output by {diff:.3g} "
                            f"(tolerance {tol:g})",
                            {**outputs_json(call), "max_abs_diff": diff}, case)

    return _scan(p, param, judge)


@register("noise_stability", "small input noise changes no output by more than max_change",
          params=lambda s, model: [None] if s.noise is not None else [])
def noise_stability(p: Probe, param: str | None) -> Property[tuple[pd.DataFrame, list[list[float]]]]:
    s, st, gen = p.settings, p.gen.st, p.gen
    assert s.noise is not None
    noise = s.noise
    columns = noise.columns or [c for c in gen.features if c in gen.ranges]
    strategy = st.tuples(gen.rows(1, min(4, s.max_rows)),
                         st.lists(st.lists(st.floats(-1, 1), min_size=len(columns),
                                           max_size=len(columns)), min_size=4, max_size=4))

    def body(drawn: tuple[pd.DataFrame, list[list[float]]], result: PropertyResult) -> None:
        rows, shifts = drawn
        noisy = rows.copy()
        for j, col in enumerate(columns):
            lo, hi, _ = gen.ranges[col]
            delta = np.asarray([shifts[i % len(shifts)][j] for i in range(len(rows))])
            noisy[col] = rows[col].astype(float) + delta * noise.scale * (hi - lo)
        both = pd.concat([rows, noisy], ignore_index=True)
        n = len(rows)
        case = Case(both, frozenset(), [f"rows 0-{n - 1} clean, {n}-{2 * n - 1} with noise "
                                        f"{noise.scale:g} x range on {len(columns)} columns"])
        call = p.caller.call(case, proba_only=True)
        if not call.ok:
            return
        result.judged()
        diff = diff_outputs(select(call, slice(0, n)), select(call, slice(n, None)))
        if call.proba is None and p.model.task == "classification":
            diff = min(diff, 1.0)  # a changed label counts 1
        if diff > noise.max_change:
            p.confirm(case, call)
            raise Violation(f"noise of {noise.scale:g} x range changes an output by "
                            f"{diff:.4g} (max_change {noise.max_change:g})",
                            {**outputs_json(call), "max_abs_diff": diff}, case)

    return Property([("valid", strategy)], body)
