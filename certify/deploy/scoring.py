"""Scoring one request body, shared by the Ray Serve replica and the KServe custom predictor:
``{"instances": [[f1, f2, ...], ...]}`` -> ``{"predictions": [...], "probabilities": [...]}``
(the protocol of :mod:`certify.models.http`), 400 for a malformed body, 500 when the model fails.
Loading checks the file's digest before the model is built from it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd

from certify.jsonsafe import json_safe
from certify.models import Model, load_model
from certify.policy import ModelSpec


def load_certified(path: Path, spec: dict[str, Any], digest: str) -> Model:
    """The model in ``path``, refused unless its bytes have ``digest``."""
    actual = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != digest:
        raise RuntimeError(f"{path.name}: digest {actual} is not the certified {digest}")
    model = load_model(ModelSpec.model_validate({**spec, "path": str(path)}), path.parent,
                       "candidate")
    if model.digest != digest:
        raise RuntimeError(f"{path.name}: loaded digest {model.digest} is not {digest}")
    return model


class Scorer:
    def __init__(self, model: Model, features: list[str], dtypes: dict[str, str]) -> None:
        self.model = model
        self.features = list(features)
        self.numeric = [c for c in self.features
                        if dtypes.get(c, "object").startswith(("int", "float"))]

    def score(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) for one request body."""
        try:
            rows = json.loads(body)["instances"]
            if not isinstance(rows, list) or not rows or any(
                    not isinstance(r, list) or len(r) != len(self.features) for r in rows):
                raise ValueError(f"'instances' must be rows of {len(self.features)} values")
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"error": f"bad request: {exc}"}
        frame = pd.DataFrame(rows, columns=self.features)
        for column in self.numeric:
            if frame[column].dtype == object:
                frame[column] = pd.to_numeric(frame[column], errors="coerce")
        try:
            out: dict[str, Any] = {"predictions": json_safe(self.model.predict(frame))}
            if self.model.predict_proba is not None:
                out["probabilities"] = json_safe(self.model.predict_proba(frame))
        except Exception as exc:  # noqa: BLE001 - the model's failure is this request's 500
            return 500, {"error": f"{type(exc).__name__}: {exc}"}
        return 200, out
