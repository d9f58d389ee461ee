"""The data and the models as deepchecks sees them: samples, pseudonyms, importance.

Sampling
    deepchecks is slow on large data: the reference and the evaluation data are each cut to
    ``sample_size`` rows (default 1000; stratified by the target: by class for classification,
    by target decile for regression), drawn from the policy seed. Smaller data is used whole.
    Random choices inside deepchecks' checks (``random_state``) are set from the seed as well.

Sensitive columns (``sensitive_columns``)
    deepchecks never sees their raw values, so neither its results nor its HTML can show them:
    before the deepchecks datasets are built, a sensitive categorical/boolean feature is
    replaced by the same short hashes ``ctx.mask`` writes (equality is kept: duplicates,
    conflicting labels, new categories still work; the mix of types inside one column is not),
    and a sensitive numeric feature by its dense rank among the sampled reference and evaluation
    values (order is kept: KS drift, predictive power and Spearman correlation are unchanged).
    The models still score the raw values: the adapter handed to deepchecks puts the raw
    sensitive values back by row index before calling the model (a row deepchecks made up is
    refused, and that check errors). Non-feature columns are not given to deepchecks. The target
    is never pseudonymised.

Feature importance
    deepchecks' own permutation importance takes tens of seconds. ``feature_importance =
    "permutation"`` computes a seeded permutation importance here instead (``importance_repeats``
    shuffles per feature on the evaluation sample, drop in accuracy or R^2, normalised to sum 1)
    and hands it to deepchecks (used by ``unused_features`` and to weigh and order features);
    ``"none"`` gives deepchecks none.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from certify.models import Model


def stratified_sample(frame: pd.DataFrame, target: str, task: str, size: int,
                      rng: np.random.Generator) -> pd.DataFrame:
    """``size`` rows of ``frame`` keeping the target's class shares (or deciles), seeded."""
    n = len(frame)
    if n <= size:
        return frame
    y = frame[target]
    if task == "classification":
        strata = pd.factorize(y, sort=True, use_na_sentinel=False)[0]
    else:
        strata = pd.qcut(y.rank(method="first"), q=min(10, n), labels=False).to_numpy()
    keys, inverse = np.unique(strata, return_inverse=True)
    counts = np.bincount(inverse)
    quota = np.floor(counts / n * size).astype(int)
    quota = np.maximum(quota, np.minimum(counts, 1))  # every class present keeps a row
    # Hand out what rounding left (or take back what the minimum added), largest strata first.
    order = np.argsort(-(counts / n * size - quota), kind="stable")
    i = 0
    while quota.sum() < size:
        k = order[i % len(keys)]
        if quota[k] < counts[k]:
            quota[k] += 1
        i += 1
    while quota.sum() > size:
        k = int(np.argmax(quota))
        quota[k] -= 1
    chosen = []
    for k in range(len(keys)):
        rows = np.flatnonzero(inverse == k)
        chosen.append(rng.choice(rows, size=quota[k], replace=False))
    picked = np.sort(np.concatenate(chosen))
    return frame.iloc[picked]


class ModelForDeepchecks:
    """A certify :class:`Model` as the scikit-learn-like object deepchecks expects.

    deepchecks' frames carry pseudonymised sensitive columns; the raw values are put back by
    row index (``raw``) before the model scores them. Predictions are cached by content.
    """

    def __init__(self, model: Model, raw: pd.DataFrame, sensitive: list[str], features: list[str],
                 task: str) -> None:
        self._model = model
        self._raw = raw
        self._sensitive = [c for c in sensitive if c in features]
        self._features = features
        self._cache: dict[tuple[str, bytes], np.ndarray] = {}
        if task == "classification" and model.classes is not None:
            self.classes_ = np.asarray(model.classes)
        if model.predict_proba is not None:
            self.predict_proba = self._predict_proba

    def _restore(self, X: pd.DataFrame) -> pd.DataFrame:  # noqa: N803
        X = X[self._features]  # noqa: N806
        if not self._sensitive:
            return X
        missing = X.index.difference(self._raw.index)
        if len(missing):
            raise ValueError(f"{len(missing)} rows deepchecks made up: their pseudonymised "
                             "sensitive values cannot be restored for the model")
        X = X.copy()  # noqa: N806
        for column in self._sensitive:
            X[column] = self._raw.loc[X.index, column].to_numpy()
        return X

    def _cached(self, kind: str, X: pd.DataFrame,  # noqa: N803
                fn: Callable[[pd.DataFrame], np.ndarray]) -> np.ndarray:  # noqa: N803
        key = (kind, hashlib.sha1(pd.util.hash_pandas_object(X, index=True).to_numpy().tobytes()
                                  + repr(list(X.columns)).encode()).digest())
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = np.asarray(fn(self._restore(X)))
        return self._cache[key]

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return self._cached("predict", X, self._model.predict)

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        proba = self._model.predict_proba
        assert proba is not None  # only offered (``__init__``) for a model with probabilities
        return self._cached("proba", X, proba)

    def fit(self, *args: Any, **kwargs: Any) -> ModelForDeepchecks:  # deepchecks checks for it
        return self


def permutation_importance(model: Model, X: pd.DataFrame, y: np.ndarray, task: str,  # noqa: N803
                           repeats: int, rng: np.random.Generator) -> dict[str, float] | None:
    """Seeded permutation importance (drop in accuracy / R^2), normalised to sum 1."""
    from sklearn.metrics import accuracy_score, r2_score

    def score(frame: pd.DataFrame) -> float:
        pred = np.asarray(model.predict(frame))
        if task == "classification":
            return float(accuracy_score(y, pred))
        return float(r2_score(y.astype(float), pred.astype(float)))

    base = score(X)
    drops = {}
    for column in X.columns:
        values = X[column].to_numpy()
        total = 0.0
        for _ in range(repeats):
            shuffled = X.copy()
            shuffled[column] = values[rng.permutation(len(values))]
            total += base - score(shuffled)
        drops[str(column)] = max(0.0, total / repeats)
    norm = sum(drops.values())
    if norm <= 0:
        return None
    return {k: v / norm for k, v in drops.items()}


def pseudonymise(ref: pd.DataFrame, ev: pd.DataFrame, columns: list[str], numeric: set[str],
                 mask: Callable[[pd.DataFrame], pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sensitive columns replaced: categories by ``mask``'s short hashes, numbers by pooled rank."""
    out_ref, out_ev = ref.copy(), ev.copy()
    hashed = [c for c in columns if c not in numeric]
    if hashed:  # only these columns: the target is never pseudonymised
        for out, frame in ((out_ref, ref), (out_ev, ev)):
            masked = mask(frame[hashed])
            for column in hashed:
                out[column] = masked[column].astype(object)
    for column in columns:
        if column in numeric:
            ranks = pd.concat([ref[column], ev[column]]).rank(method="dense").to_numpy()
            out_ref[column] = ranks[: len(ref)]
            out_ev[column] = ranks[len(ref):]
    return out_ref, out_ev
