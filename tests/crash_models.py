"""Models that misbehave the way untrusted code can: they kill, exhaust or stall their process.

They wrap a fitted scikit-learn model and misbehave only on one kind of input, so that the same
model certifies its ordinary rows. Loaded by the model worker by import path (joblib).
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin


class _Wrapper(ClassifierMixin, BaseEstimator):
    def __init__(self, base: Any = None, column: str = "age") -> None:
        self.base = base
        self.column = column

    def _trigger(self, X: pd.DataFrame) -> bool:  # noqa: N803
        raise NotImplementedError

    def _misbehave(self) -> None:
        raise NotImplementedError

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        X = X[list(self.feature_names_in_)]  # the usual wrapper: columns by name (KeyError)  # noqa: N806
        if self._trigger(X):
            self._misbehave()
        return np.asarray(self.base.predict_proba(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return np.asarray(self.classes_)[np.argmax(self.predict_proba(X), axis=1)]


class SegfaultOnNaN(_Wrapper):
    """Reads address 0 (SIGSEGV) when the column holds a missing value."""

    def _trigger(self, X: pd.DataFrame) -> bool:  # noqa: N803
        return self.column in X and bool(pd.isna(X[self.column]).any())

    def _misbehave(self) -> None:
        ctypes.string_at(0)


class ExitOnNegative(_Wrapper):
    """Ends its process with exit code 3 on a negative value (a C library's exit())."""

    def _trigger(self, X: pd.DataFrame) -> bool:  # noqa: N803
        values = pd.to_numeric(X[self.column], errors="coerce") if self.column in X else None
        return values is not None and bool((values < 0).any())

    def _misbehave(self) -> None:
        os._exit(3)


class MemoryEater(_Wrapper):
    """Allocates (and touches) 3 GiB on a value above 1000."""

    def _trigger(self, X: pd.DataFrame) -> bool:  # noqa: N803
        values = pd.to_numeric(X[self.column], errors="coerce") if self.column in X else None
        return values is not None and bool((values > 1000).any())

    def _misbehave(self) -> None:
        hog = np.ones(3 * 2**30 // 8)
        hog.sum()


class HangsInC(_Wrapper):
    """Sleeps 600 s inside libc on a missing value: no Python deadline can interrupt it."""

    def _trigger(self, X: pd.DataFrame) -> bool:  # noqa: N803
        return self.column in X and bool(pd.isna(X[self.column]).any())

    def _misbehave(self) -> None:
        ctypes.CDLL(None).sleep(600)


class RaisesOwnError(_Wrapper):
    """Raises an exception class of its own (a subclass of ValueError) on a negative value."""

    class Refused(ValueError):
        pass

    def _trigger(self, X: pd.DataFrame) -> bool:  # noqa: N803
        return ExitOnNegative._trigger(self, X)  # type: ignore[arg-type]

    def _misbehave(self) -> None:
        raise RaisesOwnError.Refused("negative values are refused")


def wrap(kind: type[_Wrapper], fitted: Any, column: str = "age") -> _Wrapper:
    model = kind(fitted, column)
    model.classes_ = fitted.classes_
    model.feature_names_in_ = np.asarray([str(c) for c in fitted.feature_names_in_], dtype=object)
    return model
