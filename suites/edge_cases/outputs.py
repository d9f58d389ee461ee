"""Reading the model's outputs: their differences, their JSON, and what is wrong with them.

A ``*_problem`` function returns the one-line violation of an output, or ``None``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from certify.models import Model
from certify.suites.edge_cases.caller import Call
from certify.suites.edge_cases.cases import MAX_SHOWN_ROWS, Case, json_value, py_value, show
from certify.suites.edge_cases.settings import EdgeCasesSettings


def numeric(values: np.ndarray) -> np.ndarray | None:
    """``values`` as floats, or ``None`` when they are not numbers."""
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return None


def max_diff(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Largest difference, absolute for values within ±1 (probabilities) and relative to the
    larger magnitude beyond (a regression's values: float32 carries ~7 digits of 5000 as well as
    of 0.5); NaN equals NaN; labels differ by inf."""
    if a is None and b is None:
        return 0.0
    if a is None or b is None or np.shape(a) != np.shape(b):
        return math.inf
    if a.size == 0:
        return 0.0
    fa, fb = numeric(a), numeric(b)
    if fa is None or fb is None or a.dtype.kind in "OUSb" or b.dtype.kind in "OUSb":
        same = all(x == y or (x != x and y != y) for x, y in zip(a.ravel().tolist(),
                                                                   b.ravel().tolist(), strict=True))
        return 0.0 if same else math.inf
    both_nan = np.isnan(fa) & np.isnan(fb)
    with np.errstate(invalid="ignore"):
        scale = np.maximum(1.0, np.maximum(np.abs(fa), np.abs(fb)))
        diff = np.where(both_nan, 0.0, np.abs(fa - fb) / scale)
    diff = np.where(np.isnan(diff), math.inf, diff)
    return float(diff.max())


def rows(values: np.ndarray | None, index: Any) -> np.ndarray | None:
    return None if values is None else np.asarray(values)[index]


def select(call: Call, index: Any) -> Call:
    """The predicted outputs of ``call`` at ``index`` (rows, in that order)."""
    return Call("predicted", rows(call.pred, index), rows(call.proba, index))


def outputs_json(call: Call, limit: int = MAX_SHOWN_ROWS) -> dict[str, Any]:
    out: dict[str, Any] = {"outcome": call.kind}
    if call.error:
        out["error"] = call.error
    if call.pred is not None:
        out["predictions"] = [json_value(v) for v in np.ravel(call.pred)[:limit]]
    if call.proba is not None:
        out["probabilities"] = [[json_value(v) for v in row] for row in
                                np.asarray(call.proba)[:limit].tolist()]
    return out


def diff_outputs(a: Call, b: Call) -> float:
    return max(max_diff(a.pred, b.pred), max_diff(a.proba, b.proba))


def shape_problem(model: Model, case: Case, call: Call) -> str | None:
    n = len(case.frame)
    pred = call.pred
    if pred is not None:
        if pred.ndim != 1 or len(pred) != n:
            return f"predict returned shape {pred.shape} for {n} rows"
        if model.task == "classification" and model.classes:
            known = {py_value(c) for c in model.classes}
            unknown = [py_value(v) for v in pred.tolist() if py_value(v) not in known]
            if unknown:
                return f"predicted label {unknown[0]!r} is not one of the classes {sorted(known, key=str)}"
        if model.task == "regression" and numeric(pred) is None:
            return f"regression predictions are not numbers (dtype {pred.dtype})"
    if call.proba is not None:
        k = len(model.classes) if model.classes else call.proba.shape[-1]
        if call.proba.shape != (n, k):
            return f"predict_proba returned shape {call.proba.shape} for {n} rows, {k} classes"
    return None


def finite_problem(model: Model, call: Call) -> str | None:
    if call.pred is not None and model.task == "regression":
        values = numeric(call.pred)
        if values is not None and not np.isfinite(values).all():
            bad = values[~np.isfinite(values)][0]
            return f"prediction {show(bad)} is not finite"
    if call.pred is not None and model.task == "classification":
        for v in call.pred.tolist():
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return f"predicted label {v!r}"
    if call.proba is not None:
        values = numeric(call.proba)
        if values is None:
            return "probabilities are not numbers"
        if not np.isfinite(values).all():
            row = int(np.argwhere(~np.isfinite(values))[0][0])
            return f"probabilities of row {row} are not finite: {[show(v) for v in values[row]]}"
    return None


def proba_problem(call: Call, tol: float) -> str | None:
    if call.proba is None or call.proba.size == 0:
        return None
    values = numeric(call.proba)
    if values is None:
        return "probabilities are not numbers"
    finite = np.isfinite(values).all(axis=1)
    low, high = values < -tol, values > 1 + tol
    if ((low | high) & finite[:, None]).any():
        row = int(np.argwhere((low | high) & finite[:, None])[0][0])
        return f"probabilities of row {row} leave [0, 1]: {[show(v) for v in values[row]]}"
    sums = values.sum(axis=1)
    off = finite & (np.abs(sums - 1) > tol)
    if off.any():
        row = int(np.argmax(off))
        return (f"probabilities of row {row} sum to {sums[row]:.6g}, not 1 "
                f"(tolerance {tol:g}): {[show(v) for v in values[row]]}")
    return None


def score(model: Model, s: EdgeCasesSettings, call: Call) -> np.ndarray:
    """The monotonic check's score: the probability of ``positive_label`` (default: the last
    class), or the regression prediction."""
    if call.proba is not None and model.classes:
        label = s.positive_label if s.positive_label is not None else model.classes[-1]
        return np.asarray(call.proba, dtype=float)[:, list(model.classes).index(label)]
    return np.asarray(call.pred, dtype=float)
