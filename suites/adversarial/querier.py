"""Model queries from attack coordinates: the bridge between ART's points and the model, with
the per-row query budget and the wall-time budget of an attack."""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from certify.models import Model
from certify.suites.adversarial.space import AffineView, AttackSpace, Block, final_estimator

#: Most query points sent to the model in one call (bounds the frame built and shipped per call).
CHUNK = 16384


class BudgetExhausted(Exception):  # noqa: N818 - an outcome, reported as such
    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.detail = detail


def torch_classifier(module: Any, n_inputs: int, n_classes: int) -> Any:
    """ART's ``PyTorchClassifier`` over a torch module taking ``n_inputs`` features."""
    import torch
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(model=module, loss=torch.nn.CrossEntropyLoss(), input_shape=(n_inputs,),
                             nb_classes=n_classes,
                             device_type="gpu" if torch.cuda.is_available() else "cpu")


class Querier:
    """Model queries from attack coordinates, with the per-row query and wall-time budgets.

    ``row`` set: every query point belongs to that row (black-box, one row at a time);
    ``row`` None: query points are aligned with the block's rows (white-box, whole block).
    """

    def __init__(self, model: Model, space: AttackSpace, block: Block, classes: list[Any],
                 view: AffineView | None, fast: bool, max_queries: int, deadline: float) -> None:
        self.model = model
        self.space = space
        self.block = block
        self.classes = classes
        self.view = view
        self.fast = fast and view is not None
        self.max_queries = max_queries
        self.deadline = deadline
        self.row: int | None = None
        self.queries = np.zeros(len(block), dtype=np.int64)
        self.other = np.zeros(len(block), dtype=np.int64)
        self._memo: dict[tuple[int, bytes], np.ndarray] = {}
        self._final = final_estimator(model.estimator, view.kind) if view is not None else None
        self._torch: Any = None

    def rows_for(self, n: int) -> np.ndarray:
        """The block rows of ``n`` query points."""
        if self.row is not None:
            return np.full(n, self.row)
        if n != len(self.block):
            raise ValueError(f"aligned query of {n} points for a block of {len(self.block)} rows")
        return np.arange(n)

    def charge(self, rows: np.ndarray) -> None:
        if time.time() > self.deadline:
            raise BudgetExhausted("time")
        if self.row is not None:
            if self.queries[self.row] + len(rows) > self.max_queries:
                raise BudgetExhausted("queries")
            self.queries[self.row] += len(rows)
            return
        if np.any(self.queries + 1 > self.max_queries):
            raise BudgetExhausted("queries")
        self.queries += 1

    def labels_at(self, z: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Class index per query point ``z[k]`` of block row ``rows[k]`` (any number of points per
        row, in one model call per chunk): the batched queries of a lock-step attack. Each row is
        charged its own points; the caller keeps every row within ``max_queries`` (rows over it
        are not sent). Raises :class:`BudgetExhausted` ("time") past the deadline."""
        if time.time() > self.deadline:
            raise BudgetExhausted("time")
        z = np.asarray(z, dtype=float).reshape(-1, self.space.d)
        rows = np.asarray(rows, dtype=np.int64)
        np.add.at(self.queries, rows, 1)
        out = np.empty(len(z), dtype=np.int64)
        for lo in range(0, len(z), CHUNK):
            part = slice(lo, lo + CHUNK)
            out[part] = self._labels(z[part], rows[part], False)
        return out

    def to_index(self, labels: np.ndarray) -> np.ndarray:
        labels = np.asarray(labels)
        out = np.full(len(labels), -1, dtype=np.int64)
        for k, cls in enumerate(self.classes):
            out[labels == cls] = k
        return out

    def frame(self, z: np.ndarray, rows: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        """Plausible DataFrame rows for attack points ``z`` of block rows ``rows``."""
        b = self.block
        zp, raw = self.space.plausible(z, b.z0[rows], b.raw0[rows], b.frozen[rows])
        out = b.frame.iloc[rows].copy()
        for j, col in enumerate(self.space.columns):
            values = raw[:, j]
            if self.space.integer[j]:
                out[col] = values.astype(b.frame[col].dtype)
            else:
                out[col] = values
        return out, zp

    def labels(self, z: np.ndarray, *, real: bool = False, charge: bool = True) -> np.ndarray:
        """Class index per query point (-1 for a label outside the model's classes)."""
        z = np.asarray(z, dtype=float).reshape(-1, self.space.d)
        rows = self.rows_for(len(z))
        key = None
        if self.row is not None and len(z) == 1 and not real:
            # ART re-asks single points (the row itself, its starting point, its result):
            # those answers are known, and are not charged as model queries.
            key = (self.row, z.tobytes())
            if key in self._memo:
                return self._memo[key]
        if charge:
            self.charge(rows)
        out = self._labels(z, rows, real)
        if key is not None:
            if len(self._memo) > 64:
                self._memo.clear()
            self._memo[key] = out
        return out

    def transformed(self, z: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Attack points of ``rows`` in the model's transformed space: T0 + (z - z0) J."""
        assert self.view is not None
        return self.view.T0[rows] + (z - self.block.z0[rows]) @ self.view.J

    def _labels(self, z: np.ndarray, rows: np.ndarray, real: bool) -> np.ndarray:
        b = self.block
        if self.fast and not real:
            assert self.view is not None
            zp, _ = self.space.plausible(z, b.z0[rows], b.raw0[rows], b.frozen[rows])
            t = self.transformed(zp, rows)
            if self.view.kind == "torch":
                return np.argmax(self._torch_inner().predict(t.astype(np.float32)), axis=1)
            assert self._final is not None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return self.to_index(np.asarray(self._final.predict(t)))
        frame, _ = self.frame(z, rows)
        return self.to_index(np.asarray(self.model.predict(frame)))

    def onehot(self, z: np.ndarray) -> np.ndarray:
        idx = self.labels(z)
        # A label outside the model's classes is "some other class": never the row's clean one.
        idx = np.where(idx >= 0, idx, self.other[self.rows_for(len(idx))])
        out = np.zeros((len(idx), len(self.classes)), dtype=np.float32)
        out[np.arange(len(idx)), idx] = 1.0
        return out

    def set_clean(self, clean_idx: np.ndarray) -> None:
        self.other = (np.maximum(clean_idx, 0) + 1) % len(self.classes)

    def _torch_inner(self) -> Any:
        if self._torch is None:
            assert self.view is not None
            self._torch = torch_classifier(self.model.estimator, self.view.T0.shape[1],
                                           len(self.classes))
        return self._torch

    def gradient_inner(self) -> Any:
        """ART's own gradient-capable estimator for the model in its transformed space."""
        assert self.view is not None and self.view.gradient
        if self.view.kind == "torch":
            return self._torch_inner()
        from art.estimators.classification.scikitlearn import SklearnClassifier

        return SklearnClassifier(model=self._final)
