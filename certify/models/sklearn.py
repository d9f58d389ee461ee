"""scikit-learn models from skops files (safe default) or joblib/pickle (explicit opt-in)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from certify.errors import ModelError
from certify.models import Model, sha256_digest


class SklearnModel(Model):
    def __init__(self, estimator: Any, **kwargs: Any) -> None:
        self.estimator = estimator
        super().__init__(**kwargs)

    def _predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return np.asarray(self.estimator.predict(X))

    def _has_proba(self) -> bool:
        return self.task == "classification" and hasattr(self.estimator, "predict_proba")

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return np.asarray(self.estimator.predict_proba(X))


def _read(spec: Any, base_dir: Path, role: str) -> tuple[Path, bytes]:
    path = Path(spec.path)
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise ModelError(f"{role}.path: model file not found: {path}")
    data = path.read_bytes()
    if not data:
        raise ModelError(f"{role}.path: model file is empty: {path}")
    return path, data


def _wrap(estimator: Any, spec: Any, path: Path, data: bytes, role: str) -> SklearnModel:
    if not hasattr(estimator, "predict"):
        raise ModelError(f"{role}: {path} holds a {type(estimator).__name__}, which has no predict()")
    is_classifier = getattr(estimator, "_estimator_type", None) == "classifier" or hasattr(
        estimator, "classes_"
    )
    task = "classification" if is_classifier else "regression"
    classes = [c.item() if isinstance(c, np.generic) else c for c in getattr(estimator, "classes_", [])] or None
    features = getattr(estimator, "feature_names_in_", None)
    return SklearnModel(
        estimator,
        name=spec.display_name(),
        digest=sha256_digest(data),
        source=str(path),
        format=spec.format,
        task=task,
        classes=classes if task == "classification" else None,
        features=[str(f) for f in features] if features is not None else None,
    )


def load_skops(spec: Any, base_dir: Path, role: str) -> SklearnModel:
    import skops.io as sio

    path, data = _read(spec, base_dir, role)
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # noqa: BLE001 - a corrupt file can fail in many ways
        raise ModelError(f"{role}.path: {path} is not a readable skops file ({type(exc).__name__})") from None
    extra = sorted(set(untrusted) - set(spec.trusted_types))
    if extra:
        raise ModelError(
            f"{role}.path: {path} contains types skops does not trust: {', '.join(extra)}; "
            f"review them and list them in {role}.trusted_types"
        )
    try:
        estimator = sio.loads(data, trusted=list(untrusted))
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"{role}.path: cannot load {path}: {type(exc).__name__}: {exc}") from None
    return _wrap(estimator, spec, path, data, role)


def load_joblib(spec: Any, base_dir: Path, role: str) -> SklearnModel:
    import joblib

    if not spec.allow_pickle:
        raise ModelError(f"{role}: joblib/pickle models need allow_pickle = true")
    path, data = _read(spec, base_dir, role)
    try:
        estimator = joblib.load(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"{role}.path: {path} is not a loadable joblib/pickle file "
                         f"({type(exc).__name__})") from None
    return _wrap(estimator, spec, path, data, role)
