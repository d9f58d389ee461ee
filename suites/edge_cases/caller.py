"""Calling the model under a watchdog, and what one call's outcome was (:class:`Call`).

hypothesis's own ``deadline`` never interrupts a call, so every model call runs in one daemon
worker thread and the caller waits at most ``deadline_s`` for it. A call past the deadline
cannot be killed in-process: its thread is abandoned (a daemon thread never holds up the
interpreter's exit) and the model is not called again (:class:`ModelHung` from then on).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from certify.errors import ModelError
from certify.jsonsafe import one_line
from certify.models import Model, RejectedInput
from certify.models.isolated import IsolatedModel, ModelDied
from certify.models.isolated import ModelHung as IsolatedHung
from certify.suites.edge_cases.cases import Case
from certify.suites.edge_cases.settings import EdgeCasesSettings
from certify.suites.edge_cases.signals import ModelGone, ModelHung

CallKind = Literal["predicted", "rejected", "crashed", "bad_output"]


class Slot:
    """One job's result, filled in by the worker thread."""

    __slots__ = ("done", "error", "seconds", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.seconds = 0.0


class Worker:
    """One daemon thread that runs model calls; the caller waits at most the deadline.

    A call past the deadline cannot be stopped from outside; the worker (and the call
    inside it) is abandoned. Being a daemon thread, it never delays interpreter exit.
    """

    def __init__(self, threads: int | None) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Slot] | None] = queue.SimpleQueue()
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

    def run(self, fn: Callable[[], Any], timeout: float) -> Slot | None:
        slot = Slot()
        self._jobs.put((fn, slot))
        return slot if slot.done.wait(timeout) else None

    def stop(self) -> None:
        self._jobs.put(None)


@dataclass
class Call:
    """The outcome of one model call (predict and, when there is one, predict_proba)."""

    kind: CallKind
    pred: np.ndarray | None = None
    proba: np.ndarray | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.kind == "predicted"


@dataclass
class Death:
    """The call that ended the model's process: during ``check``, on ``case``."""

    check: str
    case: Case
    method: str
    cause: str


@dataclass
class Timeout:
    """The call that did not return: found by ``check``, on ``case``."""

    check: str
    case: Case
    method: str
    deadline_s: float


class Caller:
    """Calls the model under the watchdog and classifies what happened."""

    def __init__(self, model: Model, settings: EdgeCasesSettings,
                 features: list[str] | None = None) -> None:
        self.model = model
        self.settings = settings
        #: The schema's feature columns (what a frame without a column lacks, when the model
        #: does not say which columns it needs).
        self.features = list(features or [])
        self.worker = Worker(settings.model_threads)
        self.hung: Timeout | None = None
        self.death: Death | None = None
        self.check = ""
        self.seconds: list[float] = []
        self.clean = set(settings.reject_exceptions)

    def _clean(self, exc: BaseException) -> bool:
        for cls in type(exc).__mro__:
            if cls.__name__ in self.clean or f"{cls.__module__}.{cls.__qualname__}" in self.clean:
                return True
        return False

    def _one(self, method: str, fn: Callable[[pd.DataFrame], Any], case: Case) -> Slot:
        frame = case.frame.copy()  # a model that mutates its input must not change the next call
        deadline = self.settings.deadline_s

        def limited() -> Any:
            # An isolated model's process is stopped at the same deadline (a hang in C code
            # cannot be interrupted any other way); it is then dead for the rest of the run.
            if isinstance(self.model, IsolatedModel):
                with self.model.time_limit(deadline):
                    return fn(frame)
            return fn(frame)

        slot = self.worker.run(limited, deadline)
        if slot is None:
            self.hung = Timeout(self.check, case, method, self.settings.deadline_s)
            raise ModelHung()
        self.seconds.append(slot.seconds)
        return slot

    def _missing_column_refused(self, exc: BaseException, case: Case) -> bool:
        """A frame without one of the model's columns, refused the idiomatic way: a
        ``LookupError`` (pandas' ``KeyError`` from ``X[FEATURES]``) that names the missing column.
        An ``IndexError`` is not a refusal: it is what positional code hits by accident."""
        if "missing_column" not in case.kinds or not isinstance(exc, LookupError) \
                or isinstance(exc, IndexError):
            return False
        expected = self.model.features or self.features
        missing = [c for c in expected if c not in set(map(str, case.frame.columns))]
        return any(column in str(exc) for column in missing)

    def _kind(self, exc: BaseException, case: Case) -> CallKind:
        """What an exception of the model means: a clean rejection, a bad output, a crash.

        Clean rejections: ``RejectedInput`` (an HTTP 4xx), an exception of a class listed in
        ``reject_exceptions`` (``ValueError`` and ``TypeError`` by default), and per input kind:
        a missing column refused with a ``LookupError`` naming it. Anything else is a crash."""
        model = self.model
        if isinstance(exc, RejectedInput) or self._clean(exc) \
                or self._missing_column_refused(exc, case):
            return "rejected"
        if isinstance(exc, ModelError) and model.features is not None and (
                set(model.features) - set(map(str, case.frame.columns))):
            return "rejected"  # the adapter refuses a frame without a model feature
        if isinstance(exc, ModelError) and " returned shape " in str(exc):
            return "bad_output"
        return "crashed"

    def _gone(self, exc: ModelDied, case: Case, method: str) -> BaseException:
        """The stop signal for a model whose process ended during this call."""
        if isinstance(exc, IsolatedHung):  # stopped at the deadline: edge_cases::deadline's
            if self.hung is None:
                self.hung = Timeout(self.check, case, method, self.settings.deadline_s)
            return ModelHung()
        if self.death is None and not exc.earlier:
            self.death = Death(self.check, case, method, exc.cause)
        return ModelGone()

    def call(self, case: Case, *, proba_only: bool = False) -> Call:
        if self.hung is not None:
            raise ModelHung()
        if self.death is not None:
            raise ModelGone()
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
            if isinstance(exc, ModelDied):
                raise self._gone(exc, case, method)
            return Call(self._kind(exc, case), out.pred, out.proba,
                        f"{method}: {one_line(exc)}", out.seconds)
        return out

    def close(self) -> None:
        """Stop the worker thread, unless a call hung in it (then it is abandoned)."""
        if self.hung is None:
            self.worker.stop()
