"""The rows explained and the background they are explained against (seeded, stratified), the
one output space both models are explained in, and the numeric coding of mixed-type rows that
SHAP's model-agnostic explainers need."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from certify.errors import ConfigError
from certify.models import Model

#: Quantile bins of a regression target used as strata.
REGRESSION_STRATA = 5
#: Tags that keep the seeded streams of the suite apart.
SAMPLE_TAG, BACKGROUND_TAG, ROW_TAG, BOOTSTRAP_TAG, NOISE_TAG = 1, 2, 3, 4, 5


def rng(seed: int, tag: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) % 2**63, tag])


def strata(y: pd.Series, task: str) -> np.ndarray:
    """The stratum of every row: its class, or its quantile bin of a regression target."""
    if task == "classification":
        return np.asarray(pd.factorize(y, sort=True)[0])
    bins = pd.qcut(y.astype(float), REGRESSION_STRATA, labels=False, duplicates="drop")
    return np.asarray(pd.Series(bins).fillna(-1).astype(int))


def stratified_positions(y: pd.Series, n: int, task: str, generator: np.random.Generator
                         ) -> np.ndarray:
    """``n`` row positions (sorted), each stratum represented in proportion (largest remainders,
    at least one row of every stratum while there is room); all rows when there are fewer."""
    total = len(y)
    if n >= total:
        return np.arange(total)
    groups = strata(y.reset_index(drop=True), task)
    keys, counts = np.unique(groups, return_counts=True)
    exact = counts / total * n
    take = np.floor(exact).astype(int)
    if n >= len(keys):
        take = np.maximum(take, 1)
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    k = 0
    while take.sum() < n:
        i = order[k % len(order)]
        if take[i] < counts[i]:
            take[i] += 1
        k += 1
    while take.sum() > n:
        take[int(np.argmax(take))] -= 1
    chosen = [generator.choice(np.flatnonzero(groups == key), size=int(t), replace=False)
              for key, t in zip(keys, take, strict=True) if t > 0]
    return np.sort(np.concatenate(chosen))


def row_seeds(seed: int, positions: np.ndarray) -> np.ndarray:
    """One seed per explained row, from the policy seed and the row's evaluation position (so a
    row's explanation does not depend on the shard it falls in)."""
    return np.array([(int(seed) * 1_000_003 + int(p) * 7919 + 17) % (2**32 - 1)
                     for p in positions], dtype=np.int64)


@dataclasses.dataclass(frozen=True)
class OutputSpace:
    """The one output both models are explained in."""

    #: "probability" (of ``positive``), "indicator" (predicted class is ``positive``: a model
    #: without probabilities) or "regression" (the predicted value).
    kind: str
    positive: Any = None

    def describe(self) -> str:
        if self.kind == "probability":
            return f"probability of class {self.positive!r}"
        if self.kind == "indicator":
            return f"1 if the predicted class is {self.positive!r}, else 0"
        return "the regression output"

    def of(self, model: Model, frame: pd.DataFrame) -> np.ndarray:
        """The model's output in this space on ``frame`` (through the model's own interface)."""
        if self.kind == "probability":
            assert model.predict_proba is not None and model.classes is not None
            proba = np.asarray(model.predict_proba(frame), dtype=float)
            return np.asarray(proba[:, class_index(model.classes, self.positive)], dtype=float)
        pred = np.asarray(model.predict(frame))
        if self.kind == "indicator":
            return np.asarray(pred == self.positive, dtype=float)
        return np.asarray(pred, dtype=float)


def class_index(classes: Any, positive: Any) -> int:
    """Where ``positive`` is among ``classes`` (numpy or Python values)."""
    values = [c.item() if isinstance(c, np.generic) else c for c in list(classes)]
    if positive not in values:
        raise ConfigError(f"suites.explain.positive_label: {positive!r} is not a class of the "
                          f"model (classes: {values})")
    return values.index(positive)


def output_space(task: str, models: list[Model], positive_label: Any,
                 schema_classes: list[Any] | None) -> OutputSpace:
    """Regression: the output. Classification: the probability of the positive class when every
    model has probabilities, else the indicator of predicting it."""
    if task != "classification":
        return OutputSpace("regression")
    classes = models[0].classes or schema_classes or []
    positive = positive_label if positive_label is not None else (classes[-1] if classes else None)
    for model in models:
        if model.classes is not None:
            class_index(model.classes, positive)
    if all(m.predict_proba is not None and m.classes is not None for m in models):
        return OutputSpace("probability", positive)
    return OutputSpace("indicator", positive)


@dataclasses.dataclass
class Codec:
    """Mixed-type rows as a float matrix and back: SHAP's maskers compare and copy numbers, so
    each non-numeric column travels as the code of its value (missing: NaN)."""

    columns: list[str]
    dtypes: dict[str, Any]
    categories: dict[str, list[Any]]

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> Codec:
        categories = {}
        for col in frame.columns:
            series = frame[col]
            if not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)):
                categories[str(col)] = sorted({v for v in series.dropna().tolist()}, key=repr)
        return cls([str(c) for c in frame.columns], dict(frame.dtypes), categories)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(self.columns)), dtype=float)
        for j, col in enumerate(self.columns):
            if col in self.categories:
                index = {v: i for i, v in enumerate(self.categories[col])}
                out[:, j] = [np.nan if pd.isna(v) else index[v] for v in frame[col].tolist()]
            else:
                out[:, j] = frame[col].to_numpy(dtype=float, na_value=np.nan)
        return out

    def decode(self, codes: np.ndarray) -> pd.DataFrame:
        codes = np.asarray(codes, dtype=float).reshape(-1, len(self.columns))
        data: dict[str, Any] = {}
        for j, col in enumerate(self.columns):
            values = codes[:, j]
            missing = np.isnan(values)
            if col in self.categories:
                table = np.asarray(self.categories[col] + [None], dtype=object)
                data[col] = table[np.where(missing, len(table) - 1, values).astype(int)]
                if not missing.any() and pd.api.types.is_bool_dtype(self.dtypes[col]):
                    data[col] = data[col].astype(bool)
            elif not missing.any() and pd.api.types.is_integer_dtype(self.dtypes[col]):
                data[col] = np.round(values).astype(self.dtypes[col])
            else:
                data[col] = values
        return pd.DataFrame(data, columns=self.columns)
