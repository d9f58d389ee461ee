"""edge_cases: property-based edge-case testing of the candidate with hypothesis.

Inputs are generated from the data's schema (:class:`certify.data.ColumnSchema`): values
inside and just outside each numeric column's observed range, extreme magnitudes, zeros,
negative values where the data had none, NaN, +/-inf, None, unseen and empty
categories, wrong dtypes (text in numeric columns, numbers in categorical ones), a
missing, an extra or reordered columns, the empty batch, single rows and a large batch.
Every invariant is its own check, run as its own hypothesis property (so that the
counterexample is shrunk for that invariant), once per input kind ("stratum": ``valid``,
``large_batch``, ``nan``, ``inf``, ``out_of_range``, ``unseen_category``, ``wrong_dtype``,
``missing_column``, ``extra_column``, ``reordered_columns``, ``empty_batch``), so that every
kind is tried however small the budget. The valid part of a frame is reference rows with a
quarter of their cells redrawn from the schema (two hypothesis draws per frame: cheap); the
unusual values are hypothesis draws of their own (at least one per frame of a cell-kind
stratum), which the shrinker removes when a failure does not need them.

=============================  =============================================================
``edge_cases::deadline``        every model call returns within ``deadline_s``
``edge_cases::no_crash``        every input is predicted or cleanly rejected, as the policy says
``edge_cases::output_shape``    one output per input row, labels among the model's classes
``edge_cases::finite``          predictions (regression) and probabilities are finite
``edge_cases::proba_valid``     probabilities in [0, 1] summing to 1 (classifiers with proba)
``edge_cases::deterministic``   the same input twice gives the same output (and rejection)
``edge_cases::batch_invariant`` a row alone, in its batch and in a large batch scores the same
``edge_cases::row_order``       permuting the rows permutes the outputs
``edge_cases::column_order``    reordered columns: the same outputs, or a clean rejection
``edge_cases::monotonic[f]``    declared ``monotonic = {f = "increasing"|"decreasing"}``
``edge_cases::invariant[f]``    declared ``invariant = ["f"]``: the output ignores ``f``
``edge_cases::noise_stability`` declared ``noise = {scale, max_change}``
=============================  =============================================================

Accept or reject (policy)
    ``on_nan``, ``on_inf``, ``on_out_of_range``, ``on_unseen_category``, ``on_wrong_dtype``,
    ``on_missing_column``, ``on_extra_column``, ``on_reordered_columns``, ``on_empty_batch``
    each take ``"predict"`` (the model must return a valid prediction), ``"reject"`` (a
    clean rejection is fine, so is a valid prediction), ``"must_reject"`` (a prediction is
    a failure: silent garbage) or ``"skip"`` (never generate that kind of input). Values
    inside the observed ranges and categories, single rows and the large batch must always
    be predicted.

What counts as a clean rejection
    :class:`certify.models.RejectedInput` (an HTTP 4xx from the endpoint adapter), an
    exception whose class (or a base class) is named in ``reject_exceptions`` (default
    ``ValueError`` and ``TypeError``: scikit-learn's input validation raises these), and
    the adapter's own refusal of a frame that lacks one of the model's feature columns.
    Anything else is a crash: ``IndexError``, ``KeyError``, ``ZeroDivisionError``, an HTTP
    5xx, a malformed response, and a rejection of an input the policy says must be
    predicted.

Deadline (the watchdog)
    hypothesis's own ``deadline`` never interrupts a call, so every model call runs in one
    daemon worker thread and the suite waits at most ``deadline_s`` for it. A call past the
    deadline cannot be killed in-process: its thread is abandoned (a daemon thread never
    holds up the interpreter's exit), ``edge_cases::deadline`` fails with that input as the
    counterexample, and **the suite stops calling the model**: a thread is still running
    inside it, and a second call could race with it or queue behind it. The checks not yet
    finished are ``errored`` ("not run: the model hung"), never passed. The verdict is
    REJECTED (a failed check wins over errored ones). A hang is not shrunk (each further try
    would cost up to ``deadline_s``) and not saved to the example database.

Budgets
    each check runs ``max_examples`` examples, spread evenly over its strata (at least one
    each), and searches for at most ``time_budget_s`` seconds (each stratum gets its share,
    unused time rolls over); once a counterexample is found, shrinking gets up to
    ``shrink_budget_s`` more (the best counterexample so far is kept if it runs out). A check
    that judged fewer than ``min_examples`` examples is ``errored``, not passed. Model
    calls run with ``model_threads`` OpenMP threads (default 1: small batches are many
    times faster single-threaded on a busy machine; results are identical).

Counterexamples
    the shrunk input (sensitive columns masked with ``ctx.mask_record``; NaN, None and
    +/-inf are shown, as they are nobody's value), the observed output, the invariant, the
    check's hypothesis seed and the root seed go into the evidence ``details`` and into
    ``artifacts/edge_cases/counterexamples/<check>.json``. A sensitive number is never shown,
    but what it did is: its decile band in the reference data (``input.bands``) and, where a
    check moves it (``monotonic``), the change in standard deviations of the reference
    (``income +0.412 σ (p40–p50 → p50–p60)``; :mod:`~certify.suites.edge_cases.bands`).
    Numbers in reasons get the digits that make a small step visible (``60 → 60.0004``). Seeds derive from the root seed
    (``--certify-seed`` reproduces a run). The example database lives in
    ``<output root>/hypothesis-db`` (shared by every run of the project, unlike the per-run
    folder in DESIGN.md), so that a counterexample found once is replayed first next time,
    whatever the seed.

A comparison check (batch, order, monotonic, invariant, noise) that sees a difference
first calls the model again on the same input: if that answer differs too, the model is
nondeterministic, and the check is ``errored`` (see ``edge_cases::deterministic``)
rather than blamed for it.

``report_data``: see :mod:`certify.suites.edge_cases.report`. The parts: ``settings`` (the
policy section), ``generator`` (inputs), ``caller`` (the watchdog), ``invariants`` (one
function per check), ``runner`` (hypothesis), ``engine`` (the work), ``checks`` (outcomes),
``counterexamples`` and ``report`` (evidence), ``bands`` (sensitive numbers shown as bands and
changes), ``observed`` and ``view`` (panels).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from certify.evidence import check_id
from certify.suite import CheckSpec, Suite, SuiteContext, SuiteRecord
from certify.suites.edge_cases import engine, report, view
from certify.suites.edge_cases.checks import check_fn
from certify.suites.edge_cases.results import EdgeCasesResult
from certify.suites.edge_cases.settings import EdgeCasesSettings, NoiseSpec
from certify.view import Panel

__all__ = ["EdgeCasesResult", "EdgeCasesSettings", "EdgeCasesSuite", "NoiseSpec"]


class EdgeCasesSuite(Suite[EdgeCasesSettings, EdgeCasesResult]):
    name = "edge_cases"
    settings_model = EdgeCasesSettings
    description = ("Property-based edge cases (hypothesis): clean rejections, valid outputs, "
                   "determinism, batch invariance, deadlines, declared constraints.")

    def checks(self, ctx: SuiteContext[EdgeCasesSettings]) -> list[CheckSpec[EdgeCasesResult]]:
        engine.validate(ctx)
        s = ctx.settings
        specs = []
        for name, param in engine.planned(s, ctx.candidate):
            cid = check_id(self.name, name, param)
            specs.append(self.check(name, partial(check_fn(name), ctx, cid), param=param,
                                    description=engine.describe(s, name, param)))
        return specs

    def run(self, ctx: SuiteContext[EdgeCasesSettings]) -> EdgeCasesResult:
        return engine.run(ctx)

    def report_data(self, ctx: SuiteContext[EdgeCasesSettings],
                    result: EdgeCasesResult) -> dict[str, Any]:
        return report.report_data(ctx, result)

    def panels(self, record: SuiteRecord[EdgeCasesSettings]) -> list[Panel]:
        return view.panels(record)
