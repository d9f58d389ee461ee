"""Model adapters behind one small interface.

A :class:`Model` takes a DataFrame with the schema's feature columns in schema order
and returns one prediction per row. ``predict_proba`` returns one column per class,
in the model's own class order (``classes``), or is ``None`` for a model without
probabilities. ``digest`` is ``sha256:`` of the exact bytes that were loaded.

Built-in adapters: ``skops`` (the safe default), ``joblib`` (only with
``allow_pickle = true``), ``http``. Third-party adapters register a loader in the
entry-point group ``certify.adapters``.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from certify.errors import ModelError
from certify.registry import adapter_loaders


class RejectedInput(Exception):  # noqa: N818 - it is an outcome, not a failure of ours
    """A model's clean, documented refusal of an input (e.g. an HTTP 4xx, a ValueError).

    Suites that probe edge cases treat this as a clean rejection, not a crash.
    """


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Model(abc.ABC):
    """A loaded model. Adapters subclass this and implement ``_predict``/``_predict_proba``."""

    #: The underlying estimator where there is one (for suites that need gradients).
    estimator: Any = None

    def __init__(self, *, name: str, digest: str, source: str, format: str, task: str,
                 classes: list[Any] | None = None, features: list[str] | None = None) -> None:
        self.name = name
        self.digest = digest
        self.source = source
        self.format = format
        self.task = task
        self.classes = classes
        self.features = features
        self.predict_proba: Callable[[pd.DataFrame], np.ndarray] | None = (
            self._checked_proba if self._has_proba() else None
        )

    # -- adapter hooks -------------------------------------------------------------
    @abc.abstractmethod
    def _predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """One prediction per row of ``X`` (feature columns in schema order)."""

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        raise ModelError(f"model {self.name} has no predict_proba")

    def _has_proba(self) -> bool:
        return False

    # -- checked interface -----------------------------------------------------------
    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        if self.features is not None and list(X.columns) != self.features:
            missing = [c for c in self.features if c not in X.columns]
            if missing:
                raise ModelError(f"model {self.name}: input lacks feature column '{missing[0]}'")
            X = X[self.features]  # noqa: N806
        return X

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        out = np.asarray(self._predict(self._frame(X)))
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim != 1 or len(out) != len(X):
            raise ModelError(
                f"model {self.name}: predict returned shape {out.shape} for {len(X)} rows "
                f"(expected ({len(X)},))"
            )
        return out

    def _checked_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        out = np.asarray(self._predict_proba(self._frame(X)), dtype=float)
        n_classes = len(self.classes) if self.classes is not None else None
        if out.ndim != 2 or len(out) != len(X) or (n_classes and out.shape[1] != n_classes):
            raise ModelError(
                f"model {self.name}: predict_proba returned shape {out.shape} for {len(X)} rows "
                f"(expected ({len(X)}, {n_classes if n_classes else 'n_classes'}))"
            )
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.digest[:19]}>"


def load_model(spec: Any, base_dir: Path, role: str) -> Model:
    """Load a model described by a :class:`certify.policy.ModelSpec` (``role``: candidate/baseline)."""
    loaders = adapter_loaders()
    loader = loaders.get(spec.format)
    if loader is None:
        raise ModelError(
            f"{role}.format: unknown model format {spec.format!r} (known: {', '.join(sorted(loaders))})"
        )
    model = loader(spec, base_dir, role)
    if not isinstance(model, Model):
        raise ModelError(f"{role}: adapter {spec.format!r} returned {type(model).__name__}, not a Model")
    return model


__all__ = ["Model", "RejectedInput", "load_model", "sha256_digest"]
