"""Reference and evaluation data, and the schema inferred from the reference data."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from certify.errors import DataError

#: An integer target with at most this many distinct values is taken as classification.
MAX_INFERRED_CLASSES = 20
#: A non-numeric column, or an integer column with at most this many values, is categorical.
MAX_CATEGORIES = 50


class ColumnSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Literal["numeric", "categorical", "boolean"]
    dtype: str
    min: float | None = None
    max: float | None = None
    categories: list[Any] | None = None
    nullable: bool = False
    sensitive: bool = False


class Schema(BaseModel):
    """Feature columns in model order, the target and the task."""

    model_config = ConfigDict(extra="forbid")

    columns: list[ColumnSchema]
    target: str
    task: Literal["classification", "regression"]
    classes: list[Any] | None = None

    @property
    def features(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSchema:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def redacted(self) -> Schema:
        """A copy safe to write out: sensitive columns lose their observed values
        (min, max, categories are individual people's values)."""
        columns = [c.model_copy(update={"min": None, "max": None, "categories": None})
                   if c.sensitive else c for c in self.columns]
        return self.model_copy(update={"columns": columns})

    def numeric(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "numeric"]

    def categorical(self) -> list[str]:
        return [c.name for c in self.columns if c.kind != "numeric"]


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def load_table(path: Path, key: str = "data") -> pd.DataFrame:
    """Read CSV or Parquet; any failure is one :class:`DataError` naming the key and file."""
    if not path.is_file():
        raise DataError(f"{key}: file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".txt", ".gz"):
            frame = pd.read_csv(path)
        else:
            raise DataError(f"{key}: unsupported data format '{suffix}' ({path}); use CSV or Parquet")
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{key}: {path} is empty") from None
    except Exception as exc:  # noqa: BLE001 - any reader failure is a data error
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{key}: cannot read {path}: {first}") from None
    if frame.empty:
        raise DataError(f"{key}: {path} has no rows")
    return frame


def infer_task(target: pd.Series) -> Literal["classification", "regression"]:
    if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        return "classification"
    if pd.api.types.is_integer_dtype(target) and target.nunique() <= MAX_INFERRED_CLASSES:
        return "classification"
    values = target.dropna()
    if len(values) and np.all(np.equal(np.mod(values, 1), 0)) and values.nunique() <= MAX_INFERRED_CLASSES:
        return "classification"
    return "regression"


def _python(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def infer_column(series: pd.Series, sensitive: bool) -> ColumnSchema:
    nullable = bool(series.isna().any())
    name = str(series.name)
    if pd.api.types.is_bool_dtype(series):
        return ColumnSchema(name=name, kind="boolean", dtype=str(series.dtype),
                            categories=[False, True], nullable=nullable, sensitive=sensitive)
    if pd.api.types.is_numeric_dtype(series):
        values = series.dropna()
        return ColumnSchema(
            name=name, kind="numeric", dtype=str(series.dtype),
            min=float(values.min()) if len(values) else None,
            max=float(values.max()) if len(values) else None,
            nullable=nullable, sensitive=sensitive,
        )
    cats = sorted({_python(v) for v in series.dropna().unique()}, key=str)
    return ColumnSchema(name=name, kind="categorical", dtype=str(series.dtype),
                        categories=cats, nullable=nullable, sensitive=sensitive)


def infer_schema(reference: pd.DataFrame, *, target: str, features: list[str] | None = None,
                 task: str | None = None, overrides: dict[str, Any] | None = None,
                 sensitive: list[str] | None = None, where: str = "reference data") -> Schema:
    if target not in reference.columns:
        raise DataError(f"{where}: target column '{target}' not found (columns: {', '.join(map(str, reference.columns))})")
    feature_names = features if features is not None else [str(c) for c in reference.columns if c != target]
    missing = [f for f in feature_names if f not in reference.columns]
    if missing:
        raise DataError(f"{where}: feature column '{missing[0]}' not found")
    if not feature_names:
        raise DataError(f"{where}: no feature columns besides the target '{target}'")
    sensitive_set = set(sensitive or [])
    columns = []
    for name in feature_names:
        col = infer_column(reference[name], name in sensitive_set)
        override = (overrides or {}).get(name)
        if override is not None:
            patch = {k: v for k, v in override.model_dump().items() if v is not None}
            col = col.model_copy(update=patch)
        columns.append(col)
    unknown = sorted(set(overrides or {}) - set(feature_names))
    if unknown:
        raise DataError(f"data.columns: '{unknown[0]}' is not a feature column")
    y = reference[target]
    if y.isna().any():
        raise DataError(f"{where}: target column '{target}' has missing values")
    resolved = task or infer_task(y)
    classes = None
    if resolved == "classification":
        classes = sorted({_python(v) for v in y.unique()}, key=lambda v: (str(type(v)), v))
        if len(classes) < 2:
            raise DataError(f"{where}: target '{target}' has a single class ({classes[0]!r}); "
                            "a classifier cannot be certified on it")
    return Schema(columns=columns, target=target, task=resolved, classes=classes)


@dataclass
class Dataset:
    """Reference and evaluation data with their schema and digests."""

    reference: pd.DataFrame
    evaluation: pd.DataFrame
    schema: Schema
    reference_path: Path
    evaluation_path: Path
    reference_digest: str
    evaluation_digest: str

    def X(self, split: str = "evaluation") -> pd.DataFrame:  # noqa: N802 - ML convention
        frame = self.evaluation if split == "evaluation" else self.reference
        return frame[self.schema.features]

    def y(self, split: str = "evaluation") -> pd.Series:
        frame = self.evaluation if split == "evaluation" else self.reference
        return frame[self.schema.target]


def validate_frame(frame: pd.DataFrame, schema: Schema, where: str) -> None:
    for name in [*schema.features, schema.target]:
        if name not in frame.columns:
            kind = "target" if name == schema.target else "feature"
            raise DataError(f"{where}: {kind} column '{name}' not found")
    if frame[schema.target].isna().any():
        raise DataError(f"{where}: target column '{schema.target}' has missing values")


def load_dataset(reference: Path, evaluation: Path, *, target: str, features: list[str] | None = None,
                 task: str | None = None, overrides: dict[str, Any] | None = None,
                 sensitive: list[str] | None = None) -> Dataset:
    ref = load_table(reference, "data.reference")
    ev = load_table(evaluation, "data.evaluation")
    schema = infer_schema(ref, target=target, features=features, task=task, overrides=overrides,
                          sensitive=sensitive, where=f"data.reference ({reference})")
    validate_frame(ev, schema, f"data.evaluation ({evaluation})")
    if schema.task == "classification" and ev[target].nunique() < 2:
        raise DataError(f"data.evaluation ({evaluation}): target '{target}' has a single class; "
                        "metrics such as ROC AUC are undefined")
    return Dataset(ref, ev, schema, reference, evaluation, file_digest(reference), file_digest(evaluation))
