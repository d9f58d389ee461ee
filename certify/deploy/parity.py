"""Prediction parity: before any traffic, the served candidate scores a fixed, seeded sample of
the evaluation rows over HTTP, and its answers must match the certified file's own outputs
(loaded here from the registered bytes) within the plan's tolerance (default 1e-9 on each
probability; labels must be equal)."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from certify.jsonsafe import one_line, scalar
from certify.models import Model


@dataclass(frozen=True)
class ParityResult:
    url: str
    rows: int
    tolerance: float
    max_abs_diff: float | None
    label_mismatches: int
    passed: bool
    reason: str

    def record(self) -> dict[str, Any]:
        return asdict(self)


def parity_sample(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """The fixed sample: ``size`` rows drawn without replacement with the seed."""
    n = min(size, len(frame))
    picks = np.sort(np.random.default_rng(seed).choice(len(frame), size=n, replace=False))
    return frame.iloc[picks]


def score_remote(url: str, frame: pd.DataFrame, timeout_s: float) -> dict[str, Any]:
    rows = [[scalar(v) for v in row] for row in frame.to_numpy(dtype=object)]
    body = json.dumps({"instances": rows}, allow_nan=False, default=str).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - our URL
        data: dict[str, Any] = json.loads(response.read())
    return data


def check_parity(url: str, model: Model, frame: pd.DataFrame, *, tolerance: float,
                 require_probabilities: bool = True, timeout_s: float = 30.0) -> ParityResult:
    """Compare the served answers for ``frame`` with ``model``'s (the certified file's).
    Probabilities are compared when the server returns them; a server that returns none
    (KServe's scikit-learn runtime) is compared on labels, unless ``require_probabilities``."""
    try:
        served = score_remote(url, frame, timeout_s)
    except (OSError, ValueError) as exc:
        return ParityResult(url, len(frame), tolerance, None, 0, False,
                            f"the served candidate did not answer the parity sample: "
                            f"{one_line(exc)}")
    expected_labels = model.predict(frame)
    labels = np.asarray(served.get("predictions", []), dtype=object)
    if len(labels) != len(frame):
        return ParityResult(url, len(frame), tolerance, None, 0, False,
                            f"the served candidate returned {len(labels)} predictions for "
                            f"{len(frame)} rows")
    mismatches = int(sum(str(a) != str(b) for a, b in zip(labels, expected_labels, strict=True)))
    probabilities = "probabilities" in served or require_probabilities
    if probabilities and model.predict_proba is not None:
        expected = np.asarray(model.predict_proba(frame), dtype=float)
        got = np.asarray(served.get("probabilities", []), dtype=float)
    elif model.task == "regression":
        expected = np.asarray(expected_labels, dtype=float)
        got = np.asarray(labels, dtype=float)
    else:
        expected = got = np.zeros(0)
    if got.shape != expected.shape:
        return ParityResult(url, len(frame), tolerance, None, mismatches, False,
                            f"served outputs have shape {got.shape}, the certified model's "
                            f"{expected.shape}")
    diff = float(np.max(np.abs(got - expected))) if expected.size else 0.0
    passed = diff <= tolerance and mismatches == 0
    reason = (f"{len(frame)} rows: largest difference {diff:.3g} (tolerance {tolerance:g}), "
              f"{mismatches} label mismatch(es)")
    return ParityResult(url, len(frame), tolerance, diff, mismatches, passed, reason)
