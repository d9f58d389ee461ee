"""Models that cannot take the run down: each in-process model answers from a worker process.

An untrusted model may segfault, call ``os._exit``, eat the machine's memory or hang in C code
where no Python deadline can interrupt it. :class:`IsolatedModel` keeps the model's metadata
(and its estimator, for suites that need gradients) in the run's process, but every
``predict`` / ``predict_proba`` is answered by a worker process (:mod:`certify.models.worker`)
that loaded the same file (digest checked). The parent watches each call:

* the worker dies (a signal, an exit code): :class:`ModelDied`, naming the signal or code;
* its memory (RSS) passes the limit: the worker is killed, :class:`ModelOutOfMemory`;
* no answer within the call's time limit: the worker is killed, :class:`ModelHung`.

After a death the model stays dead for the rest of the run: every later call raises
:class:`ModelDied` with the first cause (``earlier = True``), so the suites that come after
report errored checks naming it instead of running against a restarted model. A model's own
Python exceptions come back as exceptions of the same builtin type (``KeyError``, ``ValueError``
...), whose class names along the model's exception hierarchy are kept (``remote_mro``), so
rejection rules that name exception classes keep working.

Workers are forked by multiprocessing's fork server, which starts a resource tracker. At the
interpreter's exit (:func:`_stop_helpers`) the run ends the workers still open, then both
helpers, and waits for them: left to themselves they notice the run's end only after it has
exited, and outlive it as orphans in its process group.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import functools
import io
import multiprocessing
import multiprocessing.context
import os
import pickle
import signal
import sys
import threading
import time
import types
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from certify.errors import ModelError
from certify.models import Model
from certify.models.worker import serve, unpack

#: How often the watchdog looks at the worker's memory while a call runs.
POLL_S = 0.05
#: How long a worker may take to start and load the model.
START_TIMEOUT_S = 120.0


class ModelDied(ModelError):
    """The model's process ended (or was ended) during a call; the model is dead for the run."""

    def __init__(self, message: str, *, cause: str, earlier: bool = False) -> None:
        super().__init__(message)
        self.cause = cause
        self.earlier = earlier


class ModelHung(ModelDied):
    """No answer within the call's time limit; the worker was killed."""


class ModelOutOfMemory(ModelDied):
    """The worker's memory passed the limit; it was killed."""


class RemoteError(Exception):
    """Mixin of the exceptions a model raised in its worker (``remote_mro``: class names)."""

    remote_mro: tuple[str, ...] = ()


_BUILTIN_EXCEPTIONS = {f"builtins.{name}": obj for name, obj in vars(builtins).items()
                       if isinstance(obj, type) and issubclass(obj, BaseException)}
_REBUILT: dict[tuple[str, ...], type[BaseException]] = {}


def rebuild_exception(mro: list[str], message: str) -> BaseException:
    """An exception whose class chain carries the model's class names, built on the first builtin
    exception class of its MRO (so ``isinstance(exc, LookupError)`` still holds)."""
    key = tuple(mro)
    cls = _REBUILT.get(key)
    if cls is None:
        builtin_at = next((i for i, name in enumerate(mro) if name in _BUILTIN_EXCEPTIONS),
                          len(mro))
        base: type[BaseException] = (_BUILTIN_EXCEPTIONS[mro[builtin_at]]
                                     if builtin_at < len(mro) else Exception)
        if not issubclass(base, Exception):  # SystemExit, KeyboardInterrupt: not the run's
            base = Exception
        cls = base
        for name in reversed(mro[:builtin_at]):
            module, _, qualname = name.rpartition(".")
            cls = type(qualname.rsplit(".", 1)[-1], (cls, RemoteError),
                       {"__module__": module, "__qualname__": qualname, "remote_mro": key})
        _REBUILT[key] = cls
    if issubclass(cls, KeyError) and len(message) >= 2 and message[0] == message[-1] in "'\"":
        message = message[1:-1]  # KeyError's str() quotes its argument: not twice
    try:
        return cls(message)
    except Exception:  # noqa: BLE001 - a constructor with other arguments
        return RuntimeError(message)


def signal_text(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


@dataclass(frozen=True)
class Limits:
    """What a worker may use: memory (RSS, MiB) and time per call (seconds)."""

    memory_mb: float
    call_timeout_s: float

    @staticmethod
    def default_memory_mb() -> float:
        """Half of the machine's memory: enough for any model the run itself can hold."""
        import psutil

        return float(psutil.virtual_memory().total / 2**20 / 2)


#: What the fork server imports once, so that a worker starts by forking, not by importing.
PRELOAD = ["certify.models.worker", "certify.models.sklearn", "numpy", "pandas", "joblib",
           "skops.io", "sklearn.pipeline", "sklearn.compose", "sklearn.preprocessing",
           "sklearn.linear_model", "sklearn.ensemble"]


@functools.cache
def _context() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    # Registered after multiprocessing's own exit handler, so it runs before that one.
    atexit.register(_stop_helpers)
    return context


#: The isolated models whose worker may still run (for :func:`_stop_helpers`).
_OPEN: weakref.WeakSet[IsolatedModel] = weakref.WeakSet()


def _stop_helpers() -> None:
    """At exit: end the open workers, then the fork server and the resource tracker, waiting
    for each (see the module doc)."""
    from multiprocessing import forkserver, resource_tracker

    for model in list(_OPEN):
        model.close()
    with contextlib.suppress(OSError, ChildProcessError):
        forkserver._forkserver._stop()  # type: ignore[attr-defined]
    with contextlib.suppress(OSError, ChildProcessError, AttributeError):
        resource_tracker._resource_tracker._stop()  # type: ignore[attr-defined]


_START_LOCK = threading.Lock()


@contextlib.contextmanager
def _without_main() -> Iterator[None]:
    """multiprocessing re-runs the parent's ``__main__`` in a new process (a script without an
    ``if __name__ == "__main__"`` guard would run again, a ``python -m`` command would start
    again); a worker needs none of it, so for the start it sees an empty ``__main__``."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


class _Worker:
    """One worker process (forked by the fork server) and its two pipes."""

    def __init__(self, inner: Model, spec: Any, base_dir: Path, role: str, threads: int | None
                 ) -> None:
        context = _context()
        calls_r, self._calls = context.Pipe(duplex=False)
        self._answers, answers_w = context.Pipe(duplex=False)
        self.proc = context.Process(
            target=serve, name=f"certify-model-{role}", daemon=True,
            args=(calls_r, answers_w, spec, base_dir, role, inner.digest, list(sys.path), threads))
        with _START_LOCK, _without_main():
            self.proc.start()
        calls_r.close()
        answers_w.close()
        self.ready = False

    def send(self, method: str, frame: pd.DataFrame) -> None:
        self._calls.send_bytes(pickle.dumps(("call", method, frame)))

    def _exit_text(self) -> str:
        self.proc.join(timeout=10)
        code = self.proc.exitcode
        return signal_text(code) if code is not None else "stopped answering"

    def receive(self, timeout_s: float, memory_mb: float) -> tuple[str, Any]:
        """("ok", (header, body)) or ("died"|"hung"|"oom", text); kills the worker on hang or OOM."""
        import psutil

        deadline = time.monotonic() + timeout_s
        try:
            ps: psutil.Process | None = psutil.Process(self.proc.pid)
        except psutil.Error:
            ps = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                return "hung", f"no answer within {timeout_s:g} s"
            if self._answers.poll(min(POLL_S, left)):
                break
            if not self.proc.is_alive():
                break  # died without a word: read the end of the pipe below
            if ps is not None:
                with contextlib.suppress(psutil.Error):
                    rss = ps.memory_info().rss / 2**20
                    if rss > memory_mb:
                        self.kill()
                        return "oom", (f"used {rss:.0f} MiB of memory, over the limit of "
                                       f"{memory_mb:.0f} MiB")
        try:
            return "ok", unpack(self._answers.recv_bytes())
        except (EOFError, OSError):
            return "died", self._exit_text()

    def kill(self) -> None:
        if self.proc.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.kill()
            self.proc.join(timeout=10)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._calls.close()  # the worker reads EOF and exits
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.kill()
        with contextlib.suppress(OSError):
            self._answers.close()


class IsolatedModel(Model):
    """``inner``'s metadata here, its predictions from a worker process (see the module doc)."""

    def __init__(self, inner: Model, spec: Any, base_dir: Path, role: str, limits: Limits,
                 threads: int | None = None) -> None:
        self.inner = inner
        self.estimator = inner.estimator
        self.limits = limits
        self.role = role
        self._lock = threading.Lock()
        self._local = threading.local()
        self._dead: ModelDied | None = None
        self._worker: _Worker | None = _Worker(inner, spec, base_dir, role, threads)
        # A model dropped without close() (a session thrown away) does not leave its worker.
        self._finalizer = weakref.finalize(self, self._worker.close)
        _OPEN.add(self)
        self._has_proba_inner = inner.predict_proba is not None
        super().__init__(name=inner.name, digest=inner.digest, source=inner.source,
                         format=inner.format, task=inner.task, classes=inner.classes,
                         features=inner.features)

    def __reduce__(self) -> Any:
        raise TypeError("an isolated model is not pickled: ship its policy entry and reload it")

    def _has_proba(self) -> bool:
        return self._has_proba_inner

    @contextlib.contextmanager
    def time_limit(self, seconds: float) -> Iterator[None]:
        """Calls made by this thread inside the block get at most ``seconds`` each."""
        previous = getattr(self._local, "timeout", None)
        self._local.timeout = seconds
        try:
            yield
        finally:
            self._local.timeout = previous

    @property
    def dead(self) -> ModelDied | None:
        return self._dead

    def _predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return self._call("predict", X)

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return self._call("predict_proba", X)

    def _died(self, kind: str, text: str, method: str, rows: int) -> ModelDied:
        cls = {"hung": ModelHung, "oom": ModelOutOfMemory}.get(kind, ModelDied)
        cause = f"the {self.role} {self.name} {text} during {method} on {rows} row(s)"
        self._dead = cls(cause, cause=cause)
        self._worker = None
        self._finalizer()  # whatever is left of the worker is stopped now
        return self._dead

    def _call(self, method: str, frame: pd.DataFrame) -> np.ndarray:
        timeout = getattr(self._local, "timeout", None) or self.limits.call_timeout_s
        with self._lock:
            if self._dead is not None:
                raise ModelDied(f"the {self.role} died earlier in this run: {self._dead.cause}",
                                cause=self._dead.cause, earlier=True)
            worker = self._worker
            if worker is None:
                raise ModelError(f"the {self.role} {self.name} was closed: the run is over")
            if not worker.ready:
                status, answer = worker.receive(START_TIMEOUT_S, self.limits.memory_mb)
                if status != "ok":
                    raise self._died(status, answer, "loading", 0)
                header, _ = answer
                if not header.get("ok"):
                    error = header["error"]
                    raise self._died("died", f"could not be loaded in its worker: "
                                     f"{error['mro'][0].rsplit('.', 1)[-1]}: {error['message']}",
                                     "loading", 0)
                worker.ready = True
            try:
                worker.send(method, frame)
            except (BrokenPipeError, OSError):
                raise self._died("died", worker._exit_text(), method, len(frame)) from None
            status, answer = worker.receive(timeout, self.limits.memory_mb)
            if status != "ok":
                raise self._died(status, answer, method, len(frame))
            header, body = answer
        if not header.get("ok"):
            error = header["error"]
            raise rebuild_exception(error["mro"], error["message"])
        if header["kind"] == "npy":
            return np.load(io.BytesIO(body), allow_pickle=False)
        return np.array(header["value"], dtype=object).reshape(header["shape"])

    def close(self) -> None:
        """End the worker (the run is over)."""
        with self._lock:
            if self._worker is not None:
                self._worker = None
                self._finalizer()


def in_process(model: Model) -> Model:
    """The model object to hand to another process of ours that runs it on its own (a Ray
    task, a server worker): an isolated model's loaded original, else the model itself. That
    process is where a crash then happens, and it is already apart from the run."""
    return model.inner if isinstance(model, IsolatedModel) else model


def isolate(inner: Model, spec: Any, base_dir: Path, role: str, limits: Limits,
            threads: int | None = None) -> Model:
    """``inner`` answered from a worker process, when it runs in this process (an HTTP endpoint
    is already elsewhere)."""
    if inner.format == "http":
        return inner
    return IsolatedModel(inner, spec, base_dir, role, limits, threads)
