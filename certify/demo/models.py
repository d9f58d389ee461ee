"""Deliberately broken models for the demo's ``--sabotage`` kinds and for tests.

They must be importable at load time (skops loads them by import path) and
skops-serialisable: plain attributes only (numbers, lists, fitted scikit-learn objects).
Each suite adds its own classes here; do not rewrite the others'.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from certify.demo.data import FEATURES, SEED, TARGET, preprocessor


class RippleClassifier(ClassifierMixin, BaseEstimator):
    """A binary classifier with a high-frequency ripple on its decision function (``brittle``).

    ``base`` is a fitted binary classifier on the same (transformed) input. To its logit
    this adds ``amplitude * sum_k sin(2 pi x_k / step_k)`` where ``x_k = X[:, column_k] *
    scale_k + mean_k`` recovers the raw value of a standardised input column. On values
    recorded at the data's own precision (``step_k``: cents, 1e-4, 0.1 years) every sine is
    zero, so the model is exactly as accurate as ``base`` on clean data; between those
    values the ripple flips its decisions: the caricature of a model whose boundary hugs
    the data (adversarial suite, ``certify demo --sabotage brittle``).
    """

    def __init__(self, base: Any = None, columns: list[int] | None = None,
                 means: list[float] | None = None, scales: list[float] | None = None,
                 steps: list[float] | None = None, amplitude: float = 4.0) -> None:
        self.base = base
        self.columns = columns
        self.means = means
        self.scales = scales
        self.steps = steps
        self.amplitude = amplitude

    def fit(self, X: Any, y: Any) -> RippleClassifier:  # noqa: N803 - sklearn convention
        self.base.fit(X, y)
        self.classes_ = self.base.classes_
        return self

    def _ripple(self, X: Any) -> np.ndarray:  # noqa: N803
        X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=float)  # noqa: N806
        raw = X[:, self.columns or []] * np.asarray(self.scales) + np.asarray(self.means)
        waves = np.sin(2 * np.pi * raw / np.asarray(self.steps))
        return np.asarray(np.nan_to_num(self.amplitude * waves.sum(axis=1)), dtype=float)

    def predict_proba(self, X: Any) -> np.ndarray:  # noqa: N803
        p = np.clip(np.asarray(self.base.predict_proba(X), dtype=float)[:, 1], 1e-12, 1 - 1e-12)
        logit = np.log(p / (1 - p)) + self._ripple(X)
        p1 = 1 / (1 + np.exp(-logit))
        return np.column_stack([1 - p1, p1])

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        return np.asarray(self.classes_)[np.argmax(self.predict_proba(X), axis=1)]


# -- edge_cases suite: broken wrappers around a fitted demo pipeline ---------------------------
# Each takes ``base`` (a fitted binary classifier on the raw feature frame, e.g. the demo's
# pipeline) and copies its ``classes_`` and ``feature_names_in_``; only the named defect
# differs from ``base``. Build them with :func:`edge_case_sabotage`.


class _EdgeCaseWrapper(ClassifierMixin, BaseEstimator):
    base: Any

    def fit(self, X: Any, y: Any) -> Any:  # noqa: N803 - sklearn convention
        self.base.fit(X, y)
        self.classes_ = self.base.classes_
        self.feature_names_in_ = list(getattr(self.base, "feature_names_in_", []))
        return self

    def _proba(self, X: Any) -> np.ndarray:  # noqa: N803
        return np.asarray(self.base.predict_proba(X), dtype=float)

    def predict_proba(self, X: Any) -> np.ndarray:  # noqa: N803
        return self._proba(X)

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        return np.asarray(self.classes_)[np.argmax(self.predict_proba(X), axis=1)]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.asarray(np.log(p / (1 - p)), dtype=float)


def _two(p1: np.ndarray) -> np.ndarray:
    return np.column_stack([1 - p1, p1])


class NaNCrashClassifier(_EdgeCaseWrapper):
    """Crashes (IndexError) on NaN: a band lookup table indexed by ``value // step``.

    NaN survives ``np.clip`` and becomes INT64_MIN when cast to an integer index, so the
    lookup fails with an IndexError, not a clean ValueError (``nan-crash``). The table holds
    zeros: on every other input the output is exactly ``base``'s.
    """

    def __init__(self, base: Any = None, columns: list[str] | None = None, step: float = 1.0,
                 bands: int = 64) -> None:
        self.base = base
        self.columns = columns
        self.step = step
        self.bands = bands

    def _proba(self, X: Any) -> np.ndarray:  # noqa: N803
        table = np.zeros(self.bands)
        shift = np.zeros(len(X))
        for column in self.columns or []:
            values = np.clip(np.asarray(X[column], dtype=float), 0, self.step * (self.bands - 1))
            with np.errstate(invalid="ignore"):
                index = (values // self.step).astype(np.int64)
            shift += table[index]
        p1 = self.base.predict_proba(X)[:, 1]
        return _two(1 / (1 + np.exp(-(_logit(p1) + shift))))


class NondeterministicClassifier(_EdgeCaseWrapper):
    """Adds fresh random noise (unseeded) to the logit on every call (``nondeterministic``)."""

    def __init__(self, base: Any = None, noise: float = 0.3) -> None:
        self.base = base
        self.noise = noise

    def _proba(self, X: Any) -> np.ndarray:  # noqa: N803
        p1 = self.base.predict_proba(X)[:, 1]
        jitter = np.random.default_rng().normal(0.0, self.noise, len(p1))
        return _two(1 / (1 + np.exp(-(_logit(p1) + jitter))))


class UnnormalisedProbaClassifier(_EdgeCaseWrapper):
    """Per-class square-root "calibration" without renormalising: rows sum to more than 1
    (``proba-sum``); labels are those of ``base``."""

    def __init__(self, base: Any = None) -> None:
        self.base = base

    def _proba(self, X: Any) -> np.ndarray:  # noqa: N803
        return np.sqrt(np.asarray(self.base.predict_proba(X), dtype=float))


class BatchDependentClassifier(_EdgeCaseWrapper):
    """Re-standardises ``columns`` with the incoming batch's own mean and spread before
    scoring (a scaler re-fitted per request): a row's score depends on its batch (``batch``).

    Row order does not matter (mean and spread are symmetric), nor does a batch whose rows
    agree in these columns.
    """

    def __init__(self, base: Any = None, columns: list[str] | None = None,
                 means: list[float] | None = None, scales: list[float] | None = None) -> None:
        self.base = base
        self.columns = columns
        self.means = means
        self.scales = scales

    def _proba(self, X: Any) -> np.ndarray:  # noqa: N803
        X = X.copy()  # noqa: N806
        for column, mean, scale in zip(self.columns or [], self.means or [], self.scales or [],
                                       strict=True):
            values = np.asarray(X[column], dtype=float)
            spread = np.nanstd(values) if len(values) else 0.0
            centred = values - np.nanmean(values) if len(values) else values
            X[column] = centred / (spread if spread > 0 else 1.0) * scale + mean
        return np.asarray(self.base.predict_proba(X), dtype=float)


class HangingClassifier(_EdgeCaseWrapper):
    """Sleeps ``sleep_s`` (bounded, default 30 s) when a value of ``columns`` lies outside
    ``[lows, highs]``: a solver that does not converge on impossible values (``hang``)."""

    def __init__(self, base: Any = None, columns: list[str] | None = None,
                 lows: list[float] | None = None, highs: list[float] | None = None,
                 sleep_s: float = 30.0) -> None:
        self.base = base
        self.columns = columns
        self.lows = lows
        self.highs = highs
        self.sleep_s = sleep_s

    def _proba(self, X: Any) -> np.ndarray:  # noqa: N803
        import time

        for column, low, high in zip(self.columns or [], self.lows or [], self.highs or [],
                                     strict=True):
            try:
                values = np.asarray(X[column], dtype=float)
            except (TypeError, ValueError):
                continue
            if ((values < low) | (values > high)).any():
                time.sleep(self.sleep_s)
                break
        return np.asarray(self.base.predict_proba(X), dtype=float)


class NonMonotonicClassifier(_EdgeCaseWrapper):
    """Lowers the logit by ``penalty`` once ``column`` reaches ``threshold``: the risk score
    drops for applicants with many late payments (``monotonic``)."""

    def __init__(self, base: Any = None, column: str = "late_payments", threshold: float = 3.0,
                 penalty: float = 3.0) -> None:
        self.base = base
        self.column = column
        self.threshold = threshold
        self.penalty = penalty

    def _proba(self, X: Any) -> np.ndarray:  # noqa: N803
        p1 = self.base.predict_proba(X)[:, 1]
        values = np.asarray(X[self.column], dtype=float)
        with np.errstate(invalid="ignore"):
            drop = np.where(values >= self.threshold, self.penalty, 0.0)
        return _two(1 / (1 + np.exp(-(_logit(p1) - drop))))


#: Numeric columns of the demo data (certify.demo.FEATURES without the categorical ones).
_DEMO_NUMERIC = ["age", "income", "debt_ratio", "credit_lines", "late_payments",
                 "employment_years"]
#: Monotonic constraints the ``monotonic`` sabotage declares (and its honest base obeys).
MONOTONIC_DEMO = {"late_payments": "increasing", "debt_ratio": "increasing"}


def monotone_candidate(reference: Any, constraints: dict[str, str] | None = None) -> Any:
    """The demo's boosted pipeline fitted with monotonic constraints (an honest model that
    obeys ``MONOTONIC_DEMO``)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from threadpoolctl import threadpool_limits

    constraints = MONOTONIC_DEMO if constraints is None else constraints
    prep = preprocessor().fit(reference[FEATURES])
    width = prep.transform(reference[FEATURES].head(1)).shape[1]
    cst = [0] * width
    for column, direction in constraints.items():
        cst[_DEMO_NUMERIC.index(column)] = 1 if direction == "increasing" else -1
    model = Pipeline([("prep", prep), ("clf", HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.08, max_leaf_nodes=15, random_state=SEED,
        monotonic_cst=cst))])
    with threadpool_limits(limits=1, user_api="openmp"):  # far faster on a busy machine
        return model.fit(reference[FEATURES], reference[TARGET])


EDGE_CASE_KINDS = ("nan-crash", "nondeterministic", "proba-sum", "batch", "hang", "monotonic")


def edge_case_sabotage(kind: str, fitted: Any, reference: Any, *, sleep_s: float = 30.0) -> Any:
    """A broken wrapper of kind ``kind`` (see EDGE_CASE_KINDS) around the fitted pipeline
    ``fitted``; ``monotonic`` wraps :func:`monotone_candidate` instead."""
    model: _EdgeCaseWrapper
    if kind == "nan-crash":
        model = NaNCrashClassifier(fitted, columns=list(_DEMO_NUMERIC), step=0.25, bands=64)
    elif kind == "nondeterministic":
        model = NondeterministicClassifier(fitted, noise=0.3)
    elif kind == "proba-sum":
        model = UnnormalisedProbaClassifier(fitted)
    elif kind == "batch":
        columns = ["debt_ratio", "income", "age"]
        model = BatchDependentClassifier(
            fitted, columns=columns, means=[float(reference[c].mean()) for c in columns],
            scales=[float(reference[c].std()) for c in columns])
    elif kind == "hang":
        # impossible values only (negative ages, counts, amounts; ten times the largest seen),
        # so that the other suites, on real rows, never stall
        model = HangingClassifier(
            fitted, columns=list(_DEMO_NUMERIC), lows=[0.0] * len(_DEMO_NUMERIC),
            highs=[10 * float(reference[c].max()) for c in _DEMO_NUMERIC], sleep_s=sleep_s)
    elif kind == "monotonic":
        model = NonMonotonicClassifier(monotone_candidate(reference), column="late_payments",
                                       threshold=3.0, penalty=3.0)
        fitted = model.base
    else:
        raise ValueError(f"unknown edge-case sabotage {kind!r} (known: {', '.join(EDGE_CASE_KINDS)})")
    model.classes_ = fitted.classes_
    model.feature_names_in_ = [str(c) for c in fitted.feature_names_in_]
    return model


# -- load suite: models that misbehave only under traffic --------------------------------------
# Module-level (not an attribute, so the models stay skops-serialisable): one call at a time
# in each process that scores with SlowClassifier.
_SERIAL_LOCK = threading.Lock()


class SlowClassifier(_EdgeCaseWrapper):
    """Scores like ``base`` but sleeps ``delay_s`` in every ``predict_proba`` call, one call at
    a time per process (a lock): a model that serialises requests, so its latency grows with
    the number of concurrent requests (load suite, ``certify demo --sabotage slow``).
    ``predict`` does not sleep."""

    def __init__(self, base: Any = None, delay_s: float = 0.05) -> None:
        self.base = base
        self.delay_s = delay_s

    def predict_proba(self, X: Any) -> np.ndarray:  # noqa: N803
        import time

        with _SERIAL_LOCK:
            time.sleep(self.delay_s)
            return np.asarray(self.base.predict_proba(X), dtype=float)

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        return np.asarray(self.classes_)[np.argmax(self._proba(X), axis=1)]


class FlakyClassifier(_EdgeCaseWrapper):
    """Raises ``RuntimeError`` on every ``fail_every``-th ``predict_proba`` call in a process
    (a flaky backend behind the model): served, a share of requests get HTTP 500."""

    def __init__(self, base: Any = None, fail_every: int = 4) -> None:
        self.base = base
        self.fail_every = fail_every

    def predict_proba(self, X: Any) -> np.ndarray:  # noqa: N803
        self.calls_ = int(getattr(self, "calls_", 0)) + 1
        if self.calls_ % max(int(self.fail_every), 1) == 0:
            raise RuntimeError(f"backend unavailable (call {self.calls_})")
        return np.asarray(self.base.predict_proba(X), dtype=float)

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        return np.asarray(self.classes_)[np.argmax(self._proba(X), axis=1)]


def load_sabotage(kind: str, fitted: Any, **options: Any) -> Any:
    """A ``slow`` or ``flaky`` wrapper around the fitted pipeline ``fitted``."""
    model: _EdgeCaseWrapper
    if kind == "slow":
        model = SlowClassifier(fitted, **options)
    elif kind == "flaky":
        model = FlakyClassifier(fitted, **options)
    else:
        raise ValueError(f"unknown load sabotage {kind!r} (known: slow, flaky)")
    model.classes_ = fitted.classes_
    model.feature_names_in_ = [str(c) for c in fitted.feature_names_in_]
    return model


def leaky_model() -> Any:
    """The ``leaky`` sabotage: an unpruned random forest (fully grown trees, one row per leaf) on
    the demo's preprocessing. As accurate as the honest candidate on new rows, it is near-certain
    of every training row's label: a membership attack tells them apart. (The clip keeps absurd
    inputs such as 1e300 finite in the forest's float32: the sabotage is memorisation, not a
    crash.)"""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    return Pipeline([("prep", preprocessor()),
                     ("clip", FunctionTransformer(np.clip, kw_args={"a_min": -1e6,
                                                                    "a_max": 1e6})),
                     ("clf", RandomForestClassifier(n_estimators=100, random_state=SEED,
                                                    n_jobs=1))])


def shortcut_model(reference: Any, *, bias: float = 0.12) -> Any:
    """The ``shortcut`` sabotage: the demo's boosted pipeline, also given ``sex``, fitted on
    historical labels biased by sex (a share ``bias`` of men's good loans recorded as defaults,
    the same share of women's defaults recorded as good). About as accurate as the real
    candidate on unbiased evaluation data, but it leans on ``sex``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder
    from threadpoolctl import threadpool_limits

    biased = reference.copy()
    rng = np.random.default_rng(SEED + 2)
    male = (biased["sex"] == "male").to_numpy()
    y = biased[TARGET].to_numpy().copy()
    draw = rng.random(len(y)) < bias
    y[male & (y == 0) & draw] = 1
    y[~male & (y == 1) & draw] = 0
    model = Pipeline([
        ("prep", ColumnTransformer([("base", preprocessor(), FEATURES),
                                    ("sex", OneHotEncoder(handle_unknown="ignore"), ["sex"])])),
        ("clf", HistGradientBoostingClassifier(max_iter=150, learning_rate=0.08,
                                               max_leaf_nodes=15, random_state=SEED)),
    ])
    with threadpool_limits(1):
        return model.fit(biased[FEATURES], y)
