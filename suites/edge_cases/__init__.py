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
    ``artifacts/edge_cases/counterexamples/<check>.json``. Seeds derive from the root seed
    (``--certify-seed`` reproduces a run). The example database lives in
    ``<output root>/hypothesis-db`` (shared by every run of the project, unlike the per-run
    folder in DESIGN.md), so that a counterexample found once is replayed first next time,
    whatever the seed.

A comparison check (batch, order, monotonic, invariant, noise) that sees a difference
first calls the model again on the same input: if that answer differs too, the model is
nondeterministic, and the check is ``errored`` (see ``edge_cases::deterministic``)
rather than blamed for it.

``report_data`` keys
    ``seed`` (root seed), ``database`` (path of the example database),
    ``checks``: {check id: {``examples`` (judged), ``generated`` (examples run in the search),
    ``shrink_examples``, ``calls``, ``seconds``, ``hypothesis_seed``, ``budget_exhausted``,
    ``outcome``: passed | counterexample | hung | not_run | untrustworthy | errored}},
    ``counterexamples``: [{``check``, ``invariant``, ``violation``, ``input`` {``columns``,
    ``rows`` (masked, at most 20), ``n_rows``, ``notes``, ``kinds``}, ``observed``,
    ``seed``, ``hypothesis_seed``, ``shrunk``, ``artifact``}],
    ``acceptance``: {input kind: {predicted, rejected, crashed, bad_output}} as seen by
    ``no_crash`` (kind ``valid`` for inputs with nothing unusual),
    ``latency_ms``: {``calls``, ``p50``, ``p95``, ``max``, ``deadline``}.
"""

from __future__ import annotations

import hashlib
import math
import queue
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from certify.errors import ConfigError, ModelError
from certify.evidence import Artifact, Direction, Outcome, Status, Threshold, compare
from certify.models import Model, RejectedInput
from certify.suite import CheckSpec, Suite, SuiteContext, SuiteRecord, SuiteSettings
from certify.suites.edge_cases import view
from certify.view import Panel

Acceptance = Literal["predict", "reject", "must_reject", "skip"]

#: Value-level input kinds (generated inside cells) and the policy key of each.
CELL_KINDS = {
    "out_of_range": "on_out_of_range",
    "nan": "on_nan",
    "inf": "on_inf",
    "unseen_category": "on_unseen_category",
    "wrong_dtype": "on_wrong_dtype",
}
#: Frame-level input kinds and their policy keys.
FRAME_KINDS = {
    "missing_column": "on_missing_column",
    "extra_column": "on_extra_column",
    "reordered_columns": "on_reordered_columns",
    "empty_batch": "on_empty_batch",
}
POLICY_KEYS = {**CELL_KINDS, **FRAME_KINDS}

_ACCEPTANCE_HELP = ("(every on_* key: 'predict': must be predicted; 'reject': a clean "
                    "rejection is fine; 'must_reject': predicting it fails; 'skip': never "
                    "generated)")
_EXTRA_COLUMN = "__certify_extra__"
_MAX_SHOWN_ROWS = 20
_SUITE_KEY_VERSION = "edge_cases/1"


class NoiseSpec(BaseModel):
    """Bounded output change under small input noise."""

    model_config = ConfigDict(extra="forbid")

    scale: float = Field(gt=0, le=1, description="Noise per numeric feature, as a fraction of its "
                         "observed range (uniform in +/- scale * (max - min)).")
    max_change: float = Field(ge=0, description="Largest allowed change of any output "
                              "(probability, regression prediction; a changed label counts 1).")
    columns: list[str] | None = Field(default=None, description="Numeric features to perturb "
                                      "(default: all numeric features).")


class EdgeCasesSettings(SuiteSettings):
    max_examples: int = Field(default=25, ge=1, le=100_000,
                              description="Examples per check, spread evenly over the input "
                              "kinds it tries (at least one each).")
    min_examples: int = Field(default=5, ge=1, description="A check that judged fewer examples "
                              "(time budget, rejected inputs) is errored, not passed.")
    time_budget_s: float = Field(default=10.0, gt=0, description="Search time per check.")
    shrink_budget_s: float = Field(default=5.0, ge=0, description="Extra time per check to "
                                   "shrink a counterexample once found.")
    deadline_s: float = Field(default=5.0, gt=0, description="Per model call; a call past it "
                              "fails edge_cases::deadline and the model is not called again.")
    max_rows: int = Field(default=6, ge=2, le=200, description="Rows in a generated batch.")
    large_batch: int = Field(default=1000, ge=0, description="Rows of the large-batch case "
                             "(0: no large batch).")
    on_nan: Acceptance = Field(default="reject", description="NaN or None in a column that had "
                               "no missing values. " + _ACCEPTANCE_HELP)
    on_inf: Acceptance = Field(default="reject", description="+/-inf in a numeric column.")
    on_out_of_range: Acceptance = Field(default="predict", description="Numbers outside the "
                                        "observed range: just outside, zero, negative, extreme "
                                        "magnitudes.")
    on_unseen_category: Acceptance = Field(default="reject", description="A category never seen, "
                                           "including the empty string.")
    on_wrong_dtype: Acceptance = Field(default="reject", description="Text in a numeric column, a "
                                       "number in a categorical one.")
    on_missing_column: Acceptance = Field(default="reject", description="A feature column "
                                          "missing.")
    on_extra_column: Acceptance = Field(default="reject", description="An unknown extra column.")
    on_reordered_columns: Acceptance = Field(default="reject", description="Feature columns in "
                                             "another order (for a positional endpoint, set "
                                             "candidate.options.features or 'skip').")
    on_empty_batch: Acceptance = Field(default="reject", description="A batch of zero rows.")
    reject_exceptions: list[str] = Field(
        default_factory=lambda: ["ValueError", "TypeError"],
        description="Exception classes (name or module.Name, base classes count) that are a "
                    "clean rejection, besides RejectedInput / HTTP 4xx.")
    prob_tolerance: float = Field(default=1e-6, ge=0, description="Probabilities: allowed "
                                  "distance from [0, 1] and of the row sum from 1.")
    batch_tolerance: float = Field(default=1e-9, ge=0, description="Batch, row-order, column-order "
                                   "and invariance checks: allowed output difference (an honest "
                                   "model differs by ~1e-16).")
    determinism_tolerance: float = Field(default=1e-12, ge=0, description="Allowed difference "
                                         "between two calls on the same input.")
    monotonic: dict[str, Literal["increasing", "decreasing"]] = Field(
        default_factory=dict, description="Declared monotonic numeric features, e.g. "
        "{late_payments = \"increasing\"} (score: probability of positive_label, or the "
        "regression prediction).")
    monotonic_tolerance: float = Field(default=1e-9, ge=0, description="Allowed step against the "
                                       "declared direction.")
    invariant: list[str] = Field(default_factory=list, description="Features the output must "
                                 "not depend on, e.g. [\"sex\"].")
    noise: NoiseSpec | None = Field(default=None, description="Declared stability under small "
                                    "noise: {scale = 0.001, max_change = 0.05}.")
    positive_label: Any = Field(default=None, description="Class scored by the monotonic check "
                                "(default: the model's last class).")
    model_threads: int | None = Field(default=1, ge=1, description="OpenMP threads for an "
                                      "in-process model during this suite (none: unchanged).")
    checks: list[str] | None = Field(default=None, description="Run only these checks (names "
                                     "such as no_crash, monotonic); default: all that apply.")


# -- generated inputs -----------------------------------------------------------------------

@dataclass
class Case:
    """One generated input: a frame plus what is unusual about it."""

    frame: pd.DataFrame
    kinds: frozenset[str] = frozenset()
    notes: list[str] = field(default_factory=list)
    distinct_rows: int | None = None  # the large batch repeats its first rows

    def describe(self, limit: int = 4) -> str:
        n = len(self.frame)
        size = f"{n} row{'s' if n != 1 else ''}"
        shown = self.notes[:limit] + ([f"+{len(self.notes) - limit} more"]
                                      if len(self.notes) > limit else [])
        return size + (": " + ", ".join(shown) if shown else " of valid values")


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _json_value(value: Any) -> Any:
    """A cell or output as JSON: NaN, +/-inf as strings (strict JSON has none)."""
    value = _py(value)
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _tile(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """``frame``'s rows repeated in order up to ``rows`` rows."""
    return frame.iloc[np.arange(rows) % len(frame)].reset_index(drop=True)


def _is_marker(value: Any) -> bool:
    """NaN, None, +/-inf: generated markers, nobody's value."""
    value = _py(value)
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _show(value: Any) -> str:
    value = _py(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.6g}"
    return repr(value)


class _Generator:
    """Hypothesis strategies derived from the schema (built inside ``run``)."""

    def __init__(self, ctx: SuiteContext, settings: EdgeCasesSettings) -> None:
        from hypothesis import strategies as st

        self.st = st
        self.settings = settings
        self.schema = ctx.data.schema
        self.features = list(self.schema.features)
        self.sensitive = set(ctx.sensitive_columns)
        reference = ctx.data.reference
        self.empty = reference[self.features].iloc[:0].copy()
        self.pool = reference[self.features].reset_index(drop=True)
        self.valid: dict[str, Any] = {}
        self.edges: dict[str, dict[str, Any]] = {}
        self.ranges: dict[str, tuple[float, float, bool]] = {}
        self._cache: dict[tuple[str, int], Any] = {}
        self.categories: dict[str, list[Any]] = {}
        for col in self.schema.columns:
            self._column(col, reference[col.name])
        self.enabled = {kind for kind, key in POLICY_KEYS.items()
                        if getattr(settings, key) != "skip"}

    # per column -----------------------------------------------------------------------
    def _column(self, col: Any, series: pd.Series) -> None:
        st = self.st
        name = col.name
        observed = [_py(v) for v in series.dropna().unique()[:200]]
        edges: dict[str, Any] = {}
        if col.kind == "numeric":
            lo = col.min if col.min is not None else float(min(observed, default=0.0))
            hi = col.max if col.max is not None else float(max(observed, default=1.0))
            integer = str(col.dtype).startswith(("int", "uint"))
            self.ranges[name] = (float(lo), float(hi), integer)
            if integer and math.floor(hi) >= math.ceil(lo):
                valid = st.integers(math.ceil(lo), math.floor(hi))
            elif hi > lo:
                valid = st.one_of(st.sampled_from([lo, hi]),
                                  st.floats(lo, hi, allow_nan=False, allow_infinity=False))
            else:
                valid = st.just(lo)
            span = max(hi - lo, 1.0)
            outside: list[float] = [lo - 0.01 * span, hi + 0.01 * span, lo - span, hi + span,
                                    0.0, -1.0, -abs(hi) - 1.0, 1e9, -1e9, 1e300, -1e300,
                                    float(np.finfo(np.float64).max),
                                    -float(np.finfo(np.float64).max)]
            if integer:
                outside += [int(lo) - 1, int(hi) + 1, -1, 10**9, -(10**9)]
            # outside the observed range only; smallest magnitude first (shrinks there)
            values = sorted({v for v in outside if not lo <= v <= hi},
                            key=lambda v: (abs(v), isinstance(v, float), v))
            edges["out_of_range"] = st.sampled_from(values)
            edges["inf"] = st.sampled_from([math.inf, -math.inf])
            edges["wrong_dtype"] = st.sampled_from(["abc", "", "ten", "1e3"])
        else:
            categories = list(col.categories) if col.categories else observed
            categories = categories or ["a"]
            self.categories[name] = list(categories)
            valid = st.sampled_from(categories)
            if col.kind == "boolean":
                edges["wrong_dtype"] = st.sampled_from(["yes", 2])
            elif all(isinstance(c, int | float) and not isinstance(c, bool) for c in categories):
                top = max(categories)
                edges["unseen_category"] = st.sampled_from(
                    [v for v in (top + 1, -1, top + 1000) if v not in categories])
                edges["wrong_dtype"] = st.sampled_from(["abc", ""])
            else:
                text = [str(c) for c in categories]
                unseen = ["", "__unseen__", "UNSEEN", *(f" {t}" for t in text[:2]),
                          *(t.upper() for t in text[:2])]
                edges["unseen_category"] = st.sampled_from(
                    [u for u in dict.fromkeys(unseen) if u not in text])
                edges["wrong_dtype"] = st.sampled_from([0, 1.5, -1])
        if not col.nullable:
            edges["nan"] = st.sampled_from([math.nan, None])
        self.valid[name] = valid
        self.edges[name] = edges

    def note(self, column: str, kind: str, value: Any) -> str:
        label = kind.replace("_", " ")
        if column in self.sensitive and not _is_marker(value):
            return f"{column}=<masked> ({label})"
        return f"{column}={_show(value)} ({label})"

    # frames -----------------------------------------------------------------------------
    def strata(self, kinds: set[str], *, large: bool = True) -> list[str]:
        """The input kinds one property covers, each its own hypothesis run: ``valid``,
        ``large_batch``, then every enabled kind of ``kinds`` that some column can take."""
        out = ["valid"]
        if large and self.settings.large_batch:
            out.append("large_batch")
        out += [k for k in CELL_KINDS if k in kinds and k in self.enabled
                and any(k in self.edges[c] for c in self.features)]
        out += [k for k in FRAME_KINDS if k in kinds and k in self.enabled]
        return out

    def cases(self, stratum: str, *, min_rows: int = 1) -> Any:
        """Frames of one stratum. A cell-kind stratum has at least one such cell (the first
        column that can take it, row 0, once shrunk); other cells take it half the time."""
        key = (stratum, min_rows)
        if key not in self._cache:  # hypothesis reads a composite's source when it is built
            self._cache[key] = self._cases(stratum, min_rows)
        return self._cache[key]

    def _cases(self, stratum: str, min_rows: int) -> Any:
        st = self.st
        if stratum == "empty_batch":
            return st.just(Case(self.empty.copy(), frozenset({"empty_batch"}), ["empty batch"]))
        edge_kind = stratum if stratum in CELL_KINDS else None
        able = [c for c in self.features if edge_kind in self.edges[c]] if edge_kind else []

        @st.composite
        def draw_case(draw: Any) -> Case:
            frame = draw(self.rows(min_rows, self.settings.max_rows))
            n = len(frame)
            found: set[str] = set()
            notes: list[str] = []
            # In a cell-kind stratum: at least one unusual value (the first column that can
            # take one, row 0, once shrunk) and a few more; each is a hypothesis draw, so the
            # shrinker removes those a failure does not need.
            if able:
                forced = (draw(st.sampled_from(able)), draw(st.integers(0, n - 1)))
                more = draw(st.lists(st.tuples(st.sampled_from(able), st.integers(0, n - 1)),
                                     max_size=n + 2))
                edits: dict[str, dict[int, Any]] = {}
                for column, row in [forced, *more]:
                    value = draw(self.edges[column][stratum])
                    edits.setdefault(column, {})[row] = value
                    found.add(stratum)
                    notes.append(self.note(column, stratum, value))
                for column, changes in edits.items():
                    values = frame[column].tolist()
                    for row, value in changes.items():
                        values[row] = value
                    series = pd.Series(values, dtype=object)
                    # numeric columns take the dtype their values allow; categorical ones
                    # stay object, as in the data (an all-NaN column must not turn float)
                    frame[column] = series.infer_objects() if column in self.ranges else series
            distinct = None
            if stratum == "large_batch":
                frame = _tile(frame, self.settings.large_batch)
                distinct = n
                notes.append(f"large batch of {len(frame)} rows ({n} distinct, repeated)")
            elif stratum == "missing_column":
                drop = draw(st.sampled_from(self.features))
                frame = frame.drop(columns=[drop])
                found.add(stratum)
                notes.append(f"column {drop!r} missing")
            elif stratum == "extra_column":
                at = draw(st.integers(0, len(self.features)))
                value = draw(st.sampled_from([0, 1.5, "x"]))
                frame.insert(at, _EXTRA_COLUMN, [value] * len(frame))
                found.add(stratum)
                notes.append(f"extra column {_EXTRA_COLUMN!r} at position {at}")
            elif stratum == "reordered_columns":
                order = list(draw(st.permutations(self.features)))
                if order == self.features:
                    order = order[1:] + order[:1]
                frame = frame[order]
                found.add(stratum)
                notes.append("columns reordered: " + ", ".join(order))
            return Case(frame, frozenset(found), notes, distinct)

        return draw_case()

    def rows(self, min_rows: int, max_rows: int) -> Any:
        """Valid rows: reference rows, a quarter of their cells replaced by values drawn from
        the schema (within the observed ranges, the bounds themselves, known categories).

        Two hypothesis draws (row count, seed) whatever the size: valid filler is cheap to
        generate, and the unusual values a check is about stay separate draws that shrink.
        """
        st = self.st

        def frame(drawn: tuple[int, int]) -> pd.DataFrame:
            return self.background(*drawn)

        return st.tuples(st.integers(min_rows, max_rows), st.integers(0, 2**32 - 1)).map(frame)

    def background(self, n: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        frame = self.pool.iloc[rng.integers(0, len(self.pool), n)].reset_index(drop=True)
        for column in self.features:
            replace = rng.random(n) < 0.25
            if not replace.any():
                continue
            if column in self.ranges:
                lo, hi, integer = self.ranges[column]
                if integer and math.floor(hi) < math.ceil(lo):
                    continue
                if integer:
                    fresh: np.ndarray = rng.integers(math.ceil(lo), math.floor(hi) + 1, n)
                else:
                    fresh = rng.uniform(lo, hi, n)
                    bound = rng.random(n) < 0.2
                    fresh[bound] = np.where(rng.random(int(bound.sum())) < 0.5, lo, hi)
                values = frame[column].to_numpy().copy()
                if integer and values.dtype.kind in "iu":
                    values[replace] = fresh[replace]
                else:
                    values = values.astype(float)
                    values[replace] = fresh[replace]
                frame[column] = values
            elif self.categories.get(column):
                choices = self.categories[column]
                values = frame[column].to_numpy(dtype=object).copy()
                picks = rng.integers(0, len(choices), int(replace.sum()))
                values[replace] = [choices[i] for i in picks]
                frame[column] = pd.Series(values, dtype=object)
        return frame

    def values_of(self, column: str, max_size: int) -> Any:
        """2..max_size distinct valid values of ``column`` (sorted for numbers)."""
        values = self.st.lists(self.valid[column], min_size=2, max_size=max_size, unique_by=repr)
        return values.map(sorted) if column in self.ranges else values


# -- calling the model under a watchdog ----------------------------------------------------

class _Slot:
    __slots__ = ("done", "error", "seconds", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.seconds = 0.0


class _Worker:
    """One daemon thread that runs model calls; the caller waits at most the deadline.

    A call past the deadline cannot be stopped from outside; the worker (and the call
    inside it) is abandoned. Being a daemon thread, it never delays interpreter exit.
    """

    def __init__(self, threads: int | None) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], _Slot] | None] = queue.SimpleQueue()
        self._threads = threads
        self._thread = threading.Thread(target=self._loop, name="certify-edge-cases-model",
                                        daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        limiter = None
        if self._threads is not None:
            try:  # OpenMP's thread count is per calling thread: this affects this worker only.
                from threadpoolctl import threadpool_limits

                limiter = threadpool_limits(limits=self._threads, user_api="openmp")
            except Exception:  # noqa: BLE001 - a speed-up only
                limiter = None
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                fn, slot = job
                start = time.perf_counter()
                try:
                    slot.value = fn()
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    slot.error = exc
                slot.seconds = time.perf_counter() - start
                slot.done.set()
        finally:
            if limiter is not None:
                limiter.restore_original_limits()

    def run(self, fn: Callable[[], Any], timeout: float) -> _Slot | None:
        slot = _Slot()
        self._jobs.put((fn, slot))
        return slot if slot.done.wait(timeout) else None

    def stop(self) -> None:
        self._jobs.put(None)


class _ModelHung(BaseException):  # noqa: N818 - control flow through hypothesis, not an error
    """Stops hypothesis at once: the model did not return within the deadline."""


class _Stop(BaseException):  # noqa: N818
    """Stops hypothesis at once: the check's time budget is spent."""


class _Untrustworthy(BaseException):  # noqa: N818
    """Stops hypothesis at once: the check cannot be judged (nondeterministic model)."""


class _Violation(AssertionError):
    """The invariant does not hold for this example (hypothesis shrinks it)."""

    def __init__(self, message: str, observed: dict[str, Any], case: Case) -> None:
        super().__init__(message)
        self.message = message
        self.observed = observed
        self.case = case


@dataclass
class Call:
    """The outcome of one model call (predict and, when there is one, predict_proba)."""

    kind: Literal["predicted", "rejected", "crashed", "bad_output"]
    pred: np.ndarray | None = None
    proba: np.ndarray | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.kind == "predicted"


@dataclass
class Timeout:
    check: str
    case: Case
    method: str
    deadline_s: float


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


class _Caller:
    """Calls the model under the watchdog and classifies what happened."""

    def __init__(self, model: Model, settings: EdgeCasesSettings) -> None:
        self.model = model
        self.settings = settings
        self.worker = _Worker(settings.model_threads)
        self.hung: Timeout | None = None
        self.check = ""
        self.seconds: list[float] = []
        self.clean = set(settings.reject_exceptions)

    def _clean(self, exc: BaseException) -> bool:
        for cls in type(exc).__mro__:
            if cls.__name__ in self.clean or f"{cls.__module__}.{cls.__qualname__}" in self.clean:
                return True
        return False

    def _one(self, method: str, fn: Callable[[pd.DataFrame], Any], case: Case) -> _Slot:
        frame = case.frame.copy()  # a model that mutates its input must not change the next call
        slot = self.worker.run(lambda: fn(frame), self.settings.deadline_s)
        if slot is None:
            self.hung = Timeout(self.check, case, method, self.settings.deadline_s)
            raise _ModelHung()
        self.seconds.append(slot.seconds)
        return slot

    def call(self, case: Case, *, proba_only: bool = False) -> Call:
        if self.hung is not None:
            raise _ModelHung()
        model = self.model
        methods: list[tuple[str, Callable[[pd.DataFrame], Any]]] = []
        if not (proba_only and model.predict_proba is not None):
            methods.append(("predict", model.predict))
        if model.predict_proba is not None:
            methods.append(("predict_proba", model.predict_proba))
        out = Call("predicted")
        for method, fn in methods:
            slot = self._one(method, fn, case)
            out.seconds += slot.seconds
            exc = slot.error
            if exc is None:
                value = np.asarray(slot.value)
                if method == "predict":
                    out.pred = value
                else:
                    out.proba = value
                continue
            kind: Literal["rejected", "crashed", "bad_output"]
            if isinstance(exc, RejectedInput) or self._clean(exc):
                kind = "rejected"
            elif isinstance(exc, ModelError) and model.features is not None and (
                    set(model.features) - set(map(str, case.frame.columns))):
                kind = "rejected"  # the adapter refuses a frame without a model feature
            elif isinstance(exc, ModelError) and " returned shape " in str(exc):
                kind = "bad_output"
            else:
                kind = "crashed"
            return Call(kind, out.pred, out.proba, f"{method}: {_one_line(exc)}", out.seconds)
        return out


# -- comparing outputs ----------------------------------------------------------------------

def _numeric(values: np.ndarray) -> np.ndarray | None:
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return None


def _max_diff(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Largest absolute difference; NaN equals NaN; labels differ by inf."""
    if a is None and b is None:
        return 0.0
    if a is None or b is None or np.shape(a) != np.shape(b):
        return math.inf
    if a.size == 0:
        return 0.0
    fa, fb = _numeric(a), _numeric(b)
    if fa is None or fb is None or a.dtype.kind in "OUSb" or b.dtype.kind in "OUSb":
        same = all(x == y or (x != x and y != y) for x, y in zip(a.ravel().tolist(),
                                                                   b.ravel().tolist(), strict=True))
        return 0.0 if same else math.inf
    both_nan = np.isnan(fa) & np.isnan(fb)
    with np.errstate(invalid="ignore"):
        diff = np.where(both_nan, 0.0, np.abs(fa - fb))
    diff = np.where(np.isnan(diff), math.inf, diff)
    return float(diff.max())


def _rows(values: np.ndarray | None, index: Any) -> np.ndarray | None:
    return None if values is None else np.asarray(values)[index]


def _outputs_json(call: Call, limit: int = _MAX_SHOWN_ROWS) -> dict[str, Any]:
    out: dict[str, Any] = {"outcome": call.kind}
    if call.error:
        out["error"] = call.error
    if call.pred is not None:
        out["predictions"] = [_json_value(v) for v in np.ravel(call.pred)[:limit]]
    if call.proba is not None:
        out["probabilities"] = [[_json_value(v) for v in row] for row in
                                np.asarray(call.proba)[:limit].tolist()]
    return out


def _diff_outputs(a: Call, b: Call) -> float:
    return max(_max_diff(a.pred, b.pred), _max_diff(a.proba, b.proba))


# -- results -------------------------------------------------------------------------------

@dataclass
class Counterexample:
    check: str
    invariant: str
    violation: str
    case: Case
    observed: dict[str, Any]
    shrunk: bool = True


@dataclass
class PropertyResult:
    check: str
    invariant: str
    hypothesis_seed: int
    examples: int = 0  # judged
    generated: int = 0  # test-function runs before the first counterexample
    shrink_examples: int = 0
    calls: int = 0
    seconds: float = 0.0
    budget_exhausted: bool = False
    shrink_exhausted: bool = False
    failure: Counterexample | None = None
    flaky: bool = False
    hung: bool = False
    not_run: bool = False
    untrustworthy: str | None = None
    error: str | None = None
    shrinking: bool = False
    strata: dict[str, int] = field(default_factory=dict)  # input kind -> examples judged

    def judged(self) -> None:
        """Count one judged example (search and shrinking are counted apart)."""
        if not self.shrinking:
            self.examples += 1

    @property
    def outcome(self) -> str:
        if self.failure is not None:
            return "counterexample"
        if self.not_run:
            return "not_run"
        if self.hung:
            return "hung"
        if self.untrustworthy:
            return "untrustworthy"
        if self.error:
            return "errored"
        return "passed"


@dataclass
class EdgeCasesResult:
    properties: dict[str, PropertyResult]
    timeouts: list[Timeout]
    call_seconds: list[float]
    acceptance: dict[str, dict[str, int]]
    features: list[str]


# -- the suite -------------------------------------------------------------------------------

def database_key(check: str, stratum: str, features: list[str]) -> bytes:
    """The example-database key of one check's stratum (input kind)."""
    key = f"{_SUITE_KEY_VERSION}|{check}|{stratum}|{','.join(features)}"
    return hashlib.sha384(key.encode()).digest()


def _check_seed(root: int, check: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{root}:{check}".encode()).digest()[:4], "big")


class EdgeCasesSuite(Suite):

    def panels(self, record: SuiteRecord[Any]) -> list[Panel]:
        return view.panels(record)
    name = "edge_cases"
    settings_model = EdgeCasesSettings
    description = ("Property-based edge cases (hypothesis): clean rejections, valid outputs, "
                   "determinism, batch invariance, deadlines, declared constraints.")

    INVARIANTS = {
        "deadline": "every model call returns within deadline_s",
        "no_crash": "every input is predicted or cleanly rejected, as the policy says",
        "output_shape": "one output per input row; labels among the model's classes",
        "finite": "predictions and probabilities are finite",
        "proba_valid": "probabilities lie in [0, 1] and each row sums to 1",
        "deterministic": "the same input twice gives the same output",
        "batch_invariant": "a row scores the same alone, in its batch and in a large batch",
        "row_order": "permuting the rows permutes the outputs",
        "column_order": "reordered columns give the same outputs or a clean rejection",
        "noise_stability": "small input noise changes no output by more than max_change",
    }

    # -- planning --------------------------------------------------------------------------
    def _validate(self, ctx: SuiteContext) -> None:
        s: EdgeCasesSettings = ctx.settings
        schema = ctx.data.schema
        scored = ctx.candidate.predict_proba is not None or schema.task == "regression"
        for feature in s.monotonic:
            if feature not in schema.features or schema.column(feature).kind != "numeric":
                raise ConfigError(f"suites.edge_cases.monotonic: '{feature}' is not a numeric "
                                  "feature column")
            if not scored:
                raise ConfigError("suites.edge_cases.monotonic: the candidate has no "
                                  "probabilities to score monotonicity on")
        for feature in s.invariant:
            if feature not in schema.features:
                raise ConfigError(f"suites.edge_cases.invariant: '{feature}' is not a feature column")
        if s.noise is not None:
            for feature in s.noise.columns or []:
                if feature not in schema.features or schema.column(feature).kind != "numeric":
                    raise ConfigError(f"suites.edge_cases.noise.columns: '{feature}' is not a "
                                      "numeric feature column")
        classes = ctx.candidate.classes or []
        if s.positive_label is not None and classes and s.positive_label not in classes:
            raise ConfigError(f"suites.edge_cases.positive_label: {s.positive_label!r} is not a "
                              f"class of the candidate ({classes})")
        known = {*self.INVARIANTS, "monotonic", "invariant"}
        unknown = [c for c in s.checks or [] if c not in known]
        if unknown:
            raise ConfigError(f"suites.edge_cases.checks: unknown check '{unknown[0]}' "
                              f"(known: {', '.join(sorted(known))})")
        bad = [k for k in s.reject_exceptions if not k.replace(".", "").replace("_", "").isalnum()]
        if bad:
            raise ConfigError(f"suites.edge_cases.reject_exceptions: {bad[0]!r} is not a class name")

    def _names(self, ctx: SuiteContext) -> list[tuple[str, str | None]]:
        s: EdgeCasesSettings = ctx.settings
        names: list[tuple[str, str | None]] = [("deadline", None), ("no_crash", None),
                                               ("output_shape", None), ("finite", None)]
        if ctx.candidate.predict_proba is not None:
            names.append(("proba_valid", None))
        names += [("deterministic", None), ("batch_invariant", None), ("row_order", None)]
        if s.on_reordered_columns != "skip":
            names.append(("column_order", None))
        names += [("monotonic", f) for f in s.monotonic]
        names += [("invariant", f) for f in s.invariant]
        if s.noise is not None:
            names.append(("noise_stability", None))
        if s.checks is not None:
            names = [(n, p) for n, p in names if n in s.checks]
        return names

    def checks(self, ctx: SuiteContext) -> list[CheckSpec]:
        self._validate(ctx)
        s: EdgeCasesSettings = ctx.settings
        specs = []
        for name, param in self._names(ctx):
            specs.append(self.check(name, self._check_fn(ctx, name, param), param=param,
                                    description=self._invariant(s, name, param)))
        return specs

    def _invariant(self, s: EdgeCasesSettings, name: str, param: str | None) -> str:
        if name == "monotonic" and param is not None:
            return f"the score is {s.monotonic[param]} in {param}"
        if name == "invariant" and param is not None:
            return f"the output does not depend on {param}"
        return self.INVARIANTS[name]

    # -- the work --------------------------------------------------------------------------
    def run(self, ctx: SuiteContext) -> EdgeCasesResult:
        s: EdgeCasesSettings = ctx.settings
        gen = _Generator(ctx, s)
        caller = _Caller(ctx.candidate, s)
        acceptance: dict[str, dict[str, int]] = {}
        props: dict[str, PropertyResult] = {}
        from hypothesis.configuration import set_hypothesis_home_dir

        # Hypothesis keeps caches under its home (default ./.hypothesis in the working
        # directory): ours live in the output folder, so a run writes nowhere else.
        set_hypothesis_home_dir(ctx.output_root / "hypothesis-home")
        try:
            with warnings.catch_warnings():
                # Edge inputs make honest models warn (overflow, unknown categories): noise here.
                warnings.simplefilter("ignore")
                for name, param in self._names(ctx):
                    cid = f"{self.name}::{name}" + (f"[{param}]" if param else "")
                    ctx.progress(f"edge_cases: {cid}")
                    strata, body = self._property(ctx, gen, caller, name, param, acceptance)
                    props[cid] = self._run_property(ctx, caller, cid,
                                                    self._invariant(s, name, param), strata, body)
        finally:
            set_hypothesis_home_dir(None)
            if caller.hung is None:
                caller.worker.stop()
        timeouts = [caller.hung] if caller.hung is not None else []
        return EdgeCasesResult(props, timeouts, caller.seconds, acceptance, gen.features)

    def _run_property(self, ctx: SuiteContext, caller: _Caller, cid: str, invariant: str,
                      strata: list[tuple[str, Any]],
                      body: Callable[[Any, PropertyResult], None]) -> PropertyResult:
        """Run ``body`` as one hypothesis property per stratum (input kind), sharing the
        check's example and time budgets; stop at the first counterexample."""
        s: EdgeCasesSettings = ctx.settings
        result = PropertyResult(cid, invariant, _check_seed(ctx.seed, cid))
        if caller.hung is not None:
            result.not_run = True
            return result
        caller.check = cid
        calls_before = len(caller.seconds)
        start = time.perf_counter()
        share, extra = divmod(s.max_examples, len(strata))
        for i, (stratum, strategy) in enumerate(strata):
            examples = max(1, share + (1 if i < extra else 0))
            search_end = start + s.time_budget_s * (i + 1) / len(strata)
            result.strata[stratum] = self._run_stratum(ctx, result, cid, stratum, strategy, body,
                                                       examples, search_end)
            if result.outcome != "passed":
                break
        if result.failure is not None and (result.shrink_exhausted or result.flaky):
            result.failure.shrunk = False
        result.seconds = time.perf_counter() - start
        result.calls = len(caller.seconds) - calls_before
        return result

    def _run_stratum(self, ctx: SuiteContext, result: PropertyResult, cid: str, stratum: str,
                     strategy: Any, body: Callable[[Any, PropertyResult], None],
                     max_examples: int, search_end: float) -> int:
        from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
        from hypothesis.database import DirectoryBasedExampleDatabase
        from hypothesis.errors import Flaky

        s: EdgeCasesSettings = ctx.settings
        found_at: list[float] = []
        judged_before = result.examples

        def test(case: Any) -> None:
            now = time.perf_counter()
            if not found_at and now > search_end:
                result.budget_exhausted = True
                raise _Stop()
            if found_at and now > found_at[0] + s.shrink_budget_s:
                result.shrink_exhausted = True
                raise _Stop()
            result.shrinking = bool(found_at)
            if found_at:
                result.shrink_examples += 1
            else:
                result.generated += 1
            try:
                body(case, result)
            except _Violation as violation:
                if not found_at:
                    found_at.append(time.perf_counter())
                result.failure = Counterexample(cid, result.invariant, violation.message,
                                                violation.case, violation.observed)
                raise

        db_dir = ctx.output_root / "hypothesis-db"
        db_dir.mkdir(parents=True, exist_ok=True)
        config = settings(
            database=DirectoryBasedExampleDatabase(str(db_dir)),
            max_examples=max_examples,
            deadline=None,
            derandomize=False,
            phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,
            print_blob=False,
            report_multiple_bugs=False,
        )
        stratum_seed = _check_seed(result.hypothesis_seed, stratum)
        wrapped = config(seed(stratum_seed)(given(strategy)(test)))
        # One database key per check and stratum. Setting it spares hypothesis reading this
        # function's source for a digest on every run (all these closures share one source).
        wrapped._hypothesis_internal_database_key = database_key(cid, stratum,
                                                                 ctx.data.schema.features)
        try:
            wrapped()
        except (_Violation, _Stop):
            pass
        except _ModelHung:
            result.hung = True
        except _Untrustworthy as exc:
            result.untrustworthy = str(exc)
        except Flaky:
            result.flaky = True
        except Exception as exc:  # noqa: BLE001 - hypothesis or strategy trouble: errored
            if result.failure is None:
                result.error = f"{stratum}: {_one_line(exc)}"
            else:
                result.flaky = True
        return result.examples - judged_before

    # -- properties ------------------------------------------------------------------------
    def _property(self, ctx: SuiteContext, gen: _Generator, caller: _Caller, name: str,
                  param: str | None, acceptance: dict[str, dict[str, int]]
                  ) -> tuple[list[tuple[str, Any]], Callable[[Any, PropertyResult], None]]:
        """The strata (input kind, hypothesis strategy) and the body of one check."""
        s: EdgeCasesSettings = ctx.settings
        st = gen.st
        model = ctx.candidate
        every = set(POLICY_KEYS)
        accepted = {k for k, key in CELL_KINDS.items() if getattr(s, key) == "predict"}
        edge_strata = [(k, gen.cases(k)) for k in gen.strata(every)]
        tol_batch = s.batch_tolerance

        def expected(case: Case) -> str:
            levels = [getattr(s, POLICY_KEYS[k]) for k in case.kinds]
            if "must_reject" in levels:
                return "must_reject"
            return "reject" if "reject" in levels else "predict"

        def policy_keys(case: Case) -> str:
            return ", ".join(sorted(f"{POLICY_KEYS[k]}={getattr(s, POLICY_KEYS[k])!r}"
                                    for k in case.kinds)) or "valid input"

        def confirm(case: Case, first: Call, result: PropertyResult) -> None:
            """Before blaming a difference on this check: is the model deterministic here?"""
            again = caller.call(case, proba_only=True)
            if again.kind != first.kind or _diff_outputs(again, first) > s.determinism_tolerance:
                raise _Untrustworthy(
                    "cannot judge: the model gave different outputs for the same input "
                    f"({case.describe()}); see edge_cases::deterministic")

        if name in ("deadline", "no_crash", "output_shape", "finite", "proba_valid"):
            def body_one(case: Case, result: PropertyResult) -> None:
                call = caller.call(case, proba_only=name == "proba_valid")
                if name == "deadline":
                    result.judged()
                    return
                if name == "no_crash":
                    result.judged()
                    if not result.shrinking:
                        self._tally(acceptance, case, call)
                    want = expected(case)
                    if call.kind == "crashed":
                        raise _Violation(f"crashed: {call.error}", _outputs_json(call), case)
                    if call.kind == "rejected" and want == "predict":
                        raise _Violation(f"rejected an input the policy says must be predicted "
                                         f"({policy_keys(case)}): {call.error}",
                                         _outputs_json(call), case)
                    if call.kind != "rejected" and want == "must_reject":
                        raise _Violation(f"predicted an input the policy says must be rejected "
                                         f"({policy_keys(case)})", _outputs_json(call), case)
                    return
                if name == "output_shape":
                    if call.kind == "bad_output":
                        result.judged()
                        raise _Violation(f"wrong output: {call.error}", _outputs_json(call), case)
                    if not call.ok:
                        return
                    result.judged()
                    problem = self._shape_problem(model, case, call)
                    if problem:
                        raise _Violation(problem, _outputs_json(call), case)
                    return
                if not call.ok:
                    return
                result.judged()
                if name == "finite":
                    problem = self._finite_problem(model, call)
                else:
                    problem = self._proba_problem(call, s.prob_tolerance)
                if problem:
                    raise _Violation(problem, _outputs_json(call), case)

            return edge_strata, body_one

        if name == "deterministic":
            def body_det(case: Case, result: PropertyResult) -> None:
                first = caller.call(case)
                second = caller.call(case)
                result.judged()
                if first.kind != second.kind:
                    raise _Violation(f"first call {first.kind}, second call {second.kind}",
                                     {"first": _outputs_json(first), "second": _outputs_json(second)},
                                     case)
                diff = _diff_outputs(first, second)
                if diff > s.determinism_tolerance:
                    raise _Violation(f"two calls on the same input differ by {diff:.3g} "
                                     f"(tolerance {s.determinism_tolerance:g})",
                                     {"first": _outputs_json(first), "second": _outputs_json(second),
                                      "max_abs_diff": diff}, case)

            return edge_strata, body_det

        if name == "batch_invariant":
            large = st.booleans() if s.large_batch else st.just(False)
            strata = [(k, st.tuples(gen.cases(k, min_rows=2), large))
                      for k in gen.strata(accepted, large=False)]

            def body_batch(drawn: tuple[Case, bool], result: PropertyResult) -> None:
                case, in_large = drawn
                batch = caller.call(case, proba_only=True)
                if not batch.ok:
                    return
                result.judged()
                frame = case.frame
                for i in range(len(frame)):
                    alone_case = Case(frame.iloc[[i]].reset_index(drop=True), case.kinds,
                                      case.notes)
                    alone = caller.call(alone_case, proba_only=True)
                    if not alone.ok:
                        confirm(alone_case, alone, result)
                        raise _Violation(
                            f"row {i} alone is {alone.kind} ({alone.error}), but its batch of "
                            f"{len(frame)} rows was predicted",
                            {"row": i, "alone": _outputs_json(alone),
                             "in_batch": _outputs_json(batch)}, case)
                    in_batch = Call("predicted", _rows(batch.pred, [i]), _rows(batch.proba, [i]))
                    diff = _diff_outputs(alone, in_batch)
                    if diff > tol_batch:
                        confirm(alone_case, alone, result)
                        raise _Violation(
                            f"row {i} scored alone differs from the same row in a batch of "
                            f"{len(frame)} by {diff:.3g} (tolerance {tol_batch:g})",
                            {"row": i, "alone": _outputs_json(alone),
                             "in_batch": _outputs_json(in_batch), "max_abs_diff": diff}, case)
                if in_large:
                    big = _tile(frame, s.large_batch)
                    big_case = Case(big, case.kinds, [*case.notes,
                                                      f"repeated to {len(big)} rows"], len(frame))
                    large_call = caller.call(big_case, proba_only=True)
                    if not large_call.ok:
                        confirm(big_case, large_call, result)
                        raise _Violation(
                            f"the batch of {len(frame)} rows repeated to {len(big)} rows is "
                            f"{large_call.kind} ({large_call.error}), the batch itself predicted",
                            {"batch": _outputs_json(batch), "large": _outputs_json(large_call)},
                            case)
                    index = np.arange(len(big)) % len(frame)
                    expanded = Call("predicted", _rows(batch.pred, index), _rows(batch.proba, index))
                    diff = _diff_outputs(large_call, expanded)
                    if diff > tol_batch:
                        confirm(case, batch, result)
                        raise _Violation(
                            f"the batch of {len(frame)} rows repeated to {len(big)} rows scores "
                            f"differently by {diff:.3g} (tolerance {tol_batch:g})",
                            {"batch": _outputs_json(batch), "large": _outputs_json(large_call),
                             "max_abs_diff": diff}, case)

            return strata, body_batch

        if name in ("row_order", "column_order"):
            strata = []

            def with_order(c: Case) -> Any:
                return st.tuples(st.just(c), st.permutations(list(range(len(c.frame)))))

            for k in gen.strata(accepted, large=False):
                base = gen.cases(k, min_rows=2)
                if name == "row_order":
                    strata.append((k, base.flatmap(with_order)))
                else:
                    strata.append((k, st.tuples(base, st.permutations(gen.features))))

            def body_order(drawn: tuple[Case, list[Any]], result: PropertyResult) -> None:
                case, order = drawn
                first = caller.call(case, proba_only=True)
                if not first.ok:
                    return
                if name == "row_order":
                    moved = Case(case.frame.iloc[list(order)].reset_index(drop=True), case.kinds,
                                 [*case.notes, f"rows permuted: {list(order)}"])
                    want = Call("predicted", _rows(first.pred, list(order)),
                                _rows(first.proba, list(order)))
                else:
                    cols = list(order)
                    if cols == gen.features:
                        cols = cols[1:] + cols[:1]
                    moved = Case(case.frame[cols], case.kinds | {"reordered_columns"},
                                 [*case.notes, "columns reordered: " + ", ".join(cols)])
                    want = first
                second = caller.call(moved, proba_only=True)
                if second.kind == "rejected" and name == "column_order":
                    result.judged()
                    if s.on_reordered_columns == "predict":
                        raise _Violation(f"rejected reordered columns (on_reordered_columns = "
                                         f"'predict'): {second.error}", _outputs_json(second), moved)
                    return
                if not second.ok:
                    result.judged()
                    confirm(case, first, result)
                    what = "permuted rows" if name == "row_order" else "reordered columns"
                    raise _Violation(f"{what}: {second.kind} ({second.error}), the original "
                                     "order predicted", {"original": _outputs_json(first),
                                                         "moved": _outputs_json(second)}, moved)
                result.judged()
                diff = _diff_outputs(second, want)
                if diff > tol_batch:
                    confirm(case, first, result)
                    what = "permuted rows" if name == "row_order" else "reordered columns"
                    raise _Violation(f"{what} change the outputs by {diff:.3g} "
                                     f"(tolerance {tol_batch:g})",
                                     {"original": _outputs_json(first),
                                      "moved": _outputs_json(second), "max_abs_diff": diff}, moved)

            return strata, body_order

        if name in ("monotonic", "invariant"):
            assert param is not None
            strategy = st.tuples(gen.rows(1, 1), gen.values_of(param, 8))

            def body_scan(drawn: tuple[pd.DataFrame, list[Any]], result: PropertyResult) -> None:
                row, values = drawn
                frame = _tile(row, len(values))
                frame[param] = values
                notes = [f"{param} in [{', '.join(_show(v) for v in values)}]"]
                if param in gen.sensitive:
                    notes = [f"{param}: {len(values)} values (masked)"]
                case = Case(frame, frozenset(), notes)
                call = caller.call(case, proba_only=True)
                if not call.ok:
                    return
                result.judged()
                if name == "invariant":
                    first = Call("predicted", _rows(call.pred, [0] * len(values)),
                                 _rows(call.proba, [0] * len(values)))
                    diff = _diff_outputs(call, first)
                    if diff > tol_batch:
                        confirm(case, call, result)
                        raise _Violation(f"changing {param} changes the output by {diff:.3g} "
                                         f"(tolerance {tol_batch:g})",
                                         {**_outputs_json(call), "max_abs_diff": diff}, case)
                    return
                score = self._score(model, s, call)
                sign = 1.0 if s.monotonic[param] == "increasing" else -1.0
                steps = sign * np.diff(score)
                worst = int(np.argmin(steps)) if len(steps) else 0
                if len(steps) and (np.isnan(steps).any() or steps[worst] < -s.monotonic_tolerance):
                    confirm(case, call, result)
                    a, b = values[worst], values[worst + 1]
                    shown_a = "<masked>" if param in gen.sensitive else _show(a)
                    shown_b = "<masked>" if param in gen.sensitive else _show(b)
                    raise _Violation(
                        f"{s.monotonic[param]} in {param} required, but {param} {shown_a} -> "
                        f"{shown_b} moves the score {score[worst]:.4g} -> {score[worst + 1]:.4g}",
                        {**_outputs_json(call), "scores": [_json_value(v) for v in score],
                         "step": [worst, worst + 1]}, case)

            return [("valid", strategy)], body_scan

        if name == "noise_stability":
            assert s.noise is not None
            noise = s.noise
            columns = noise.columns or [c for c in gen.features if c in gen.ranges]
            strategy = st.tuples(gen.rows(1, min(4, s.max_rows)),
                                 st.lists(st.lists(st.floats(-1, 1), min_size=len(columns),
                                                   max_size=len(columns)),
                                          min_size=4, max_size=4))

            def body_noise(drawn: tuple[pd.DataFrame, list[list[float]]], result: PropertyResult) -> None:
                rows, shifts = drawn
                noisy = rows.copy()
                for j, col in enumerate(columns):
                    lo, hi, _ = gen.ranges[col]
                    delta = np.asarray([shifts[i % len(shifts)][j] for i in range(len(rows))])
                    noisy[col] = rows[col].astype(float) + delta * noise.scale * (hi - lo)
                both = pd.concat([rows, noisy], ignore_index=True)
                case = Case(both, frozenset(), [f"rows 0-{len(rows) - 1} clean, "
                                                f"{len(rows)}-{2 * len(rows) - 1} with noise "
                                                f"{noise.scale:g} x range on {len(columns)} columns"])
                call = caller.call(case, proba_only=True)
                if not call.ok:
                    return
                result.judged()
                n = len(rows)
                clean = Call("predicted", _rows(call.pred, slice(0, n)), _rows(call.proba, slice(0, n)))
                moved = Call("predicted", _rows(call.pred, slice(n, None)),
                             _rows(call.proba, slice(n, None)))
                diff = min(_diff_outputs(clean, moved), 1.0) if call.proba is None and \
                    model.task == "classification" else _diff_outputs(clean, moved)
                if diff > noise.max_change:
                    confirm(case, call, result)
                    raise _Violation(f"noise of {noise.scale:g} x range changes an output by "
                                     f"{diff:.4g} (max_change {noise.max_change:g})",
                                     {**_outputs_json(call), "max_abs_diff": diff}, case)

            return [("valid", strategy)], body_noise

        raise AssertionError(name)

    # -- judging helpers -------------------------------------------------------------------
    @staticmethod
    def _tally(acceptance: dict[str, dict[str, int]], case: Case, call: Call) -> None:
        for kind in sorted(case.kinds) or ["valid"]:
            counts = acceptance.setdefault(kind, {"predicted": 0, "rejected": 0, "crashed": 0,
                                                  "bad_output": 0})
            counts[call.kind] += 1

    @staticmethod
    def _shape_problem(model: Model, case: Case, call: Call) -> str | None:
        n = len(case.frame)
        pred = call.pred
        if pred is not None:
            if pred.ndim != 1 or len(pred) != n:
                return f"predict returned shape {pred.shape} for {n} rows"
            if model.task == "classification" and model.classes:
                known = {_py(c) for c in model.classes}
                unknown = [_py(v) for v in pred.tolist() if _py(v) not in known]
                if unknown:
                    return f"predicted label {unknown[0]!r} is not one of the classes {sorted(known, key=str)}"
            if model.task == "regression" and _numeric(pred) is None:
                return f"regression predictions are not numbers (dtype {pred.dtype})"
        if call.proba is not None:
            k = len(model.classes) if model.classes else call.proba.shape[-1]
            if call.proba.shape != (n, k):
                return f"predict_proba returned shape {call.proba.shape} for {n} rows, {k} classes"
        return None

    @staticmethod
    def _finite_problem(model: Model, call: Call) -> str | None:
        if call.pred is not None and model.task == "regression":
            values = _numeric(call.pred)
            if values is not None and not np.isfinite(values).all():
                bad = values[~np.isfinite(values)][0]
                return f"prediction {_show(bad)} is not finite"
        if call.pred is not None and model.task == "classification":
            for v in call.pred.tolist():
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    return f"predicted label {v!r}"
        if call.proba is not None:
            values = _numeric(call.proba)
            if values is None:
                return "probabilities are not numbers"
            if not np.isfinite(values).all():
                row = int(np.argwhere(~np.isfinite(values))[0][0])
                return f"probabilities of row {row} are not finite: {[_show(v) for v in values[row]]}"
        return None

    @staticmethod
    def _proba_problem(call: Call, tol: float) -> str | None:
        if call.proba is None or call.proba.size == 0:
            return None
        values = _numeric(call.proba)
        if values is None:
            return "probabilities are not numbers"
        finite = np.isfinite(values).all(axis=1)
        low, high = values < -tol, values > 1 + tol
        if ((low | high) & finite[:, None]).any():
            row = int(np.argwhere((low | high) & finite[:, None])[0][0])
            return f"probabilities of row {row} leave [0, 1]: {[_show(v) for v in values[row]]}"
        sums = values.sum(axis=1)
        off = finite & (np.abs(sums - 1) > tol)
        if off.any():
            row = int(np.argmax(off))
            return (f"probabilities of row {row} sum to {sums[row]:.6g}, not 1 "
                    f"(tolerance {tol:g}): {[_show(v) for v in values[row]]}")
        return None

    @staticmethod
    def _score(model: Model, s: EdgeCasesSettings, call: Call) -> np.ndarray:
        if call.proba is not None and model.classes:
            label = s.positive_label if s.positive_label is not None else model.classes[-1]
            return np.asarray(call.proba, dtype=float)[:, list(model.classes).index(label)]
        return np.asarray(call.pred, dtype=float)

    # -- evidence --------------------------------------------------------------------------
    def _case_json(self, ctx: SuiteContext, case: Case) -> dict[str, Any]:
        frame = case.frame
        rows = []
        for record in frame.head(_MAX_SHOWN_ROWS).to_dict(orient="records"):
            masked = ctx.mask_record({str(k): v for k, v in record.items()})
            for col in ctx.sensitive_columns:
                if col in record and _is_marker(record[col]):
                    masked[col] = record[col]
            rows.append({k: _json_value(v) for k, v in masked.items()})
        return {"columns": [str(c) for c in frame.columns], "rows": rows, "n_rows": len(frame),
                "notes": list(case.notes), "kinds": sorted(case.kinds),
                "distinct_rows": case.distinct_rows}

    def _counterexample_json(self, ctx: SuiteContext, prop: PropertyResult,
                             cx: Counterexample) -> dict[str, Any]:
        short = cx.check.split("::", 1)[1]
        keyword = short.split("[", 1)[0]
        return {
            "check": cx.check,
            "invariant": cx.invariant,
            "violation": cx.violation,
            "input": self._case_json(ctx, cx.case),
            "observed": cx.observed,
            "seed": ctx.seed,
            "hypothesis_seed": prop.hypothesis_seed,
            "shrunk": cx.shrunk,
            "reproduce": f"pytest --certify --certify-seed={ctx.seed} -k 'edge_cases and {keyword}'",
        }

    def _write_counterexample(self, ctx: SuiteContext, prop: PropertyResult,
                              cx: Counterexample) -> tuple[dict[str, Any], Artifact]:
        data = self._counterexample_json(ctx, prop, cx)
        relname = "counterexamples/" + cx.check.split("::", 1)[1].replace("[", "-").replace(
            "]", "") + ".json"
        artifact = ctx.write_artifact(relname, data, f"counterexample of {cx.check}")
        data["artifact"] = artifact.path
        return data, artifact

    def _metrics(self, ctx: SuiteContext, prop: PropertyResult) -> dict[str, Any]:
        s: EdgeCasesSettings = ctx.settings
        return {"examples": prop.examples, "generated": prop.generated,
                "shrink_examples": prop.shrink_examples, "calls": prop.calls,
                "seconds": round(prop.seconds, 3), "max_examples": s.max_examples,
                "budget_exhausted": prop.budget_exhausted, "seed": ctx.seed,
                "hypothesis_seed": prop.hypothesis_seed, "examples_by_kind": dict(prop.strata)}

    def _check_fn(self, ctx: SuiteContext, name: str, param: str | None) -> Callable[[Any], Outcome]:
        cid = f"{self.name}::{name}" + (f"[{param}]" if param else "")

        def check(result: EdgeCasesResult) -> Outcome:
            prop = result.properties[cid]
            s: EdgeCasesSettings = ctx.settings
            metrics = self._metrics(ctx, prop)
            if name == "deadline":
                return self._deadline_outcome(ctx, result, prop, metrics)
            if prop.failure is not None:
                data, artifact = self._write_counterexample(ctx, prop, prop.failure)
                comparison = compare("counterexamples", 1, Threshold(fail=0), Direction.MAX)
                note = "" if prop.failure.shrunk else " (not fully shrunk)"
                return Outcome(
                    status=comparison.status, metrics={**metrics, "counterexamples": 1},
                    comparisons=[comparison], artifacts=[artifact],
                    details={"counterexample": data},
                    reason=(f"{prop.failure.violation} on input [{prop.failure.case.describe()}]"
                            f"{note}; counterexample: {artifact.path}"))
            if prop.not_run or prop.hung:
                hung = result.timeouts[0] if result.timeouts else None
                where = f" in {hung.check}" if hung and hung.check != cid else ""
                return Outcome(status=Status.ERRORED, metrics=metrics, reason=(
                    f"{'not run' if prop.not_run else f'stopped after {prop.examples} examples'}: "
                    f"the model did not return within {s.deadline_s:g} s{where} and is no longer "
                    "called (see edge_cases::deadline)"))
            if prop.untrustworthy:
                return Outcome(status=Status.ERRORED, metrics=metrics, reason=prop.untrustworthy)
            if prop.error:
                return Outcome(status=Status.ERRORED, metrics=metrics,
                               reason=f"property run failed: {prop.error}")
            if prop.examples < s.min_examples:
                why = (f"time budget of {s.time_budget_s:g} s spent" if prop.budget_exhausted
                       else "the model rejected the rest")
                return Outcome(status=Status.ERRORED, metrics=metrics, reason=(
                    f"only {prop.examples} examples judged (min_examples {s.min_examples}; "
                    f"{why}): not enough to certify"))
            comparison = compare("counterexamples", 0, Threshold(fail=0), Direction.MAX)
            budget = " (time budget reached)" if prop.budget_exhausted else ""
            return Outcome(status=comparison.status, comparisons=[comparison],
                           metrics={**metrics, "counterexamples": 0},
                           reason=f"no counterexample in {prop.examples} examples{budget}")

        return check

    def _deadline_outcome(self, ctx: SuiteContext, result: EdgeCasesResult, prop: PropertyResult,
                          metrics: dict[str, Any]) -> Outcome:
        s: EdgeCasesSettings = ctx.settings
        seconds = np.asarray(result.call_seconds) if result.call_seconds else np.zeros(1)
        metrics = {**metrics, "calls_total": len(result.call_seconds),
                   "max_call_s": round(float(seconds.max()), 6),
                   "p95_call_s": round(float(np.quantile(seconds, 0.95)), 6),
                   "deadline_s": s.deadline_s}
        if result.timeouts:
            hung = result.timeouts[0]
            cx = Counterexample(cid := f"{self.name}::deadline", self.INVARIANTS["deadline"],
                                f"{hung.method} did not return within {hung.deadline_s:g} s",
                                hung.case, {"method": hung.method, "deadline_s": hung.deadline_s,
                                            "found_by": hung.check}, shrunk=False)
            del cid
            data, artifact = self._write_counterexample(ctx, prop, cx)
            comparison = compare("timeouts", len(result.timeouts), Threshold(fail=0), Direction.MAX)
            found = "" if hung.check == cx.check else f" (found by {hung.check})"
            return Outcome(status=comparison.status, comparisons=[comparison],
                           metrics={**metrics, "timeouts": len(result.timeouts)},
                           artifacts=[artifact], details={"counterexample": data},
                           reason=(f"{cx.violation} on input [{hung.case.describe()}]{found}; the "
                                   f"model was not called again; counterexample: {artifact.path}"))
        if prop.error:
            return Outcome(status=Status.ERRORED, metrics=metrics,
                           reason=f"property run failed: {prop.error}")
        if prop.examples < s.min_examples:
            return Outcome(status=Status.ERRORED, metrics=metrics, reason=(
                f"only {prop.examples} examples in the time budget (min_examples "
                f"{s.min_examples}): not enough to certify"))
        comparison = compare("timeouts", 0, Threshold(fail=0), Direction.MAX)
        return Outcome(status=comparison.status, comparisons=[comparison],
                       metrics={**metrics, "timeouts": 0},
                       reason=(f"{len(result.call_seconds)} calls, slowest "
                               f"{float(seconds.max()) * 1e3:.1f} ms (deadline {s.deadline_s:g} s)"))

    # -- report ----------------------------------------------------------------------------
    def report_data(self, ctx: SuiteContext, result: EdgeCasesResult) -> dict[str, Any]:
        s: EdgeCasesSettings = ctx.settings
        checks = {cid: {"examples": p.examples, "generated": p.generated,
                        "shrink_examples": p.shrink_examples, "calls": p.calls,
                        "seconds": round(p.seconds, 3), "hypothesis_seed": p.hypothesis_seed,
                        "budget_exhausted": p.budget_exhausted, "outcome": p.outcome}
                  for cid, p in result.properties.items()}
        counterexamples = []
        for cid, p in result.properties.items():
            if p.failure is not None:
                data = self._counterexample_json(ctx, p, p.failure)
                data["artifact"] = "artifacts/edge_cases/counterexamples/" + cid.split(
                    "::", 1)[1].replace("[", "-").replace("]", "") + ".json"
                counterexamples.append(data)
        if result.timeouts:
            hung = result.timeouts[0]
            deadline = result.properties.get(f"{self.name}::deadline")
            counterexamples.append({
                "check": f"{self.name}::deadline", "invariant": self.INVARIANTS["deadline"],
                "violation": f"{hung.method} did not return within {hung.deadline_s:g} s",
                "input": self._case_json(ctx, hung.case), "observed": {"found_by": hung.check},
                "seed": ctx.seed, "hypothesis_seed": deadline.hypothesis_seed if deadline else None,
                "shrunk": False, "artifact": "artifacts/edge_cases/counterexamples/deadline.json"})
        seconds = np.asarray(result.call_seconds) if result.call_seconds else np.zeros(1)
        return {
            "seed": ctx.seed,
            "database": str(ctx.output_root / "hypothesis-db"),
            "checks": checks,
            "counterexamples": counterexamples,
            "acceptance": result.acceptance,
            "latency_ms": {"calls": len(result.call_seconds),
                           "p50": round(float(np.quantile(seconds, 0.5)) * 1e3, 3),
                           "p95": round(float(np.quantile(seconds, 0.95)) * 1e3, 3),
                           "max": round(float(seconds.max()) * 1e3, 3),
                           "deadline": s.deadline_s * 1e3},
        }
