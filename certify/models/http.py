"""A model served over HTTP (JSON in, JSON out).

Request:  ``POST url`` with ``{"instances": [[f1, f2, ...], ...]}`` (feature order of the
schema; NaN and missing values as ``null``).
Response: ``{"predictions": [...], "probabilities": [[...], ...]}``. Field names,
headers (values ``env:NAME`` come from the environment and are never logged), timeout
and retries are configurable in the policy.

A 4xx answer is the endpoint's clean rejection of an input (:class:`RejectedInput`);
a 5xx, a timeout or a malformed body is a :class:`ModelError`.

Digest: an endpoint has no bytes of its own; when ``options.artifact`` names the file
that is being served, its sha256 is the digest (so the certificate binds the served
model); otherwise the digest is of the URL, and the report says so.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from certify.errors import ConfigError, ModelError
from certify.models import Model, RejectedInput, sha256_digest


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


class HttpModel(Model):
    def __init__(self, spec: Any, headers: dict[str, str], **kwargs: Any) -> None:
        import httpx

        self.spec = spec
        self.url = str(spec.url)
        self._client = httpx.Client(timeout=spec.timeout_s, headers=headers)
        self._has_probabilities = spec.probabilities_field is not None and kwargs.get("task") == "classification"
        super().__init__(**kwargs)

    def _has_proba(self) -> bool:
        return self._has_probabilities

    def _call(self, X: pd.DataFrame) -> dict[str, Any]:  # noqa: N803
        import httpx

        rows = [[_jsonable(v) for v in row] for row in X.itertuples(index=False, name=None)]
        body = json.dumps({self.spec.request_field: rows}, allow_nan=False)
        last: str = ""
        for attempt in range(self.spec.retries + 1):
            try:
                response = self._client.post(self.url, content=body,
                                             headers={"content-type": "application/json"})
            except httpx.TimeoutException:
                last = f"timed out after {self.spec.timeout_s}s"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}"
            else:
                if 400 <= response.status_code < 500:
                    raise RejectedInput(f"HTTP {response.status_code}: {response.text[:200]}")
                if response.status_code >= 500:
                    last = f"HTTP {response.status_code}"
                else:
                    try:
                        parsed = response.json()
                    except ValueError:
                        raise ModelError(f"model {self.name}: response is not JSON") from None
                    if not isinstance(parsed, dict):
                        raise ModelError(f"model {self.name}: response is not a JSON object")
                    return parsed
            if attempt < self.spec.retries:
                time.sleep(min(0.05 * 2**attempt, 1.0))
        raise ModelError(f"model {self.name}: endpoint {self.url} failed: {last}")

    def _field(self, payload: dict[str, Any], field: str) -> Any:
        if field not in payload:
            raise ModelError(f"model {self.name}: response has no '{field}' field")
        return payload[field]

    def _predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        if len(X) == 0:
            return np.asarray([])
        return np.asarray(self._field(self._call(X), self.spec.predictions_field))

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        if len(X) == 0:
            return np.zeros((0, len(self.classes or [])))
        assert self.spec.probabilities_field is not None
        values = self._field(self._call(X), self.spec.probabilities_field)
        return np.asarray([[np.nan if v is None else v for v in row] for row in values], dtype=float)

    def close(self) -> None:
        self._client.close()


def _headers(spec: Any, role: str) -> dict[str, str]:
    out = {}
    for key, value in spec.headers.items():
        if value.startswith("env:"):
            var = value[4:]
            if var not in os.environ:
                raise ConfigError(f"{role}.headers.{key}: environment variable {var} is not set")
            out[key] = os.environ[var]
        else:
            out[key] = value
    return out


def load_http(spec: Any, base_dir: Path, role: str) -> HttpModel:
    task = spec.options.get("task", "classification" if spec.classes else "regression")
    artifact = spec.options.get("artifact")
    if artifact:
        path = Path(artifact)
        path = path if path.is_absolute() else base_dir / path
        if not path.is_file():
            raise ModelError(f"{role}.options.artifact: file not found: {path}")
        digest = sha256_digest(path.read_bytes())
    else:
        digest = sha256_digest(str(spec.url).encode())
    features = spec.options.get("features")
    return HttpModel(
        spec,
        _headers(spec, role),
        name=spec.display_name(),
        digest=digest,
        source=str(spec.url),
        format="http",
        task=task,
        classes=spec.classes,
        features=features,
    )
