"""The suite's artifacts (``artifacts/adversarial/``): ``examples.json``, a few adversarial rows
per model (sensitive columns masked), and ``results.json``, the per-row outcome of every model's
attack in sample order (no feature values)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from certify.jsonsafe import finite
from certify.suite import SuiteContext
from certify.suites.adversarial.plan import Prepared
from certify.suites.adversarial.results import AdversarialResult, ModelAttack, py
from certify.suites.adversarial.settings import AdversarialSettings


def write_artifacts(ctx: SuiteContext[AdversarialSettings], prep: Prepared,
                    result: AdversarialResult) -> None:
    """Write both artifacts; record them and the example rows on ``result``."""
    s = ctx.settings
    ev_index = ctx.data.evaluation.index[prep.positions]
    examples: dict[str, list[dict[str, Any]]] = {}
    rows_out: dict[str, dict[str, list[Any]]] = {}
    facts = _Facts(ctx, prep)
    for role, res in result.models.items():
        picked = [i for i in np.argsort(res.example_norm, kind="stable")
                  if res.example_idx[i] >= 0][: s.examples]
        examples[role] = [_example(ctx, prep, res, int(i), ev_index, facts) for i in picked]
        # Columnar: one list per field, in sample order.
        rows_out[role] = {
            "row": [py(v) for v in ev_index], "status": list(res.status),
            "true_label": [py(v) for v in prep.y],
            "clean_prediction": [res.label(int(k)) for k in res.clean_idx],
            "adversarial_prediction": [res.label(int(k)) for k in res.example_idx],
            "min_perturbation": [finite(v) for v in res.min_norm],
            "queries": [int(v) for v in res.queries]}
    result.examples = examples
    result.artifacts = [
        ctx.write_artifact("examples.json", {"epsilon": s.epsilon, "norm": s.norm,
                                             "features": prep.space.columns, "models": examples},
                           "example adversarial rows (sensitive columns masked)"),
        ctx.write_artifact("results.json",
                           json.dumps({"epsilon_grid": result.grid, "models": rows_out},
                                      separators=(",", ":"), sort_keys=True),
                           "per-row attack outcome, columnar (no feature values)"),
    ]


#: Quantiles bounding the bands a sensitive value is placed in (deciles).
BANDS = np.linspace(0.0, 1.0, 11)


class _Facts:
    """What an example row's changes are shown with: each perturbed column's precision in the
    data (decimals, from the reference rows) and, for sensitive columns, the reference deciles."""

    def __init__(self, ctx: SuiteContext[AdversarialSettings], prep: Prepared) -> None:
        ref = ctx.data.reference
        sensitive = set(ctx.sensitive_columns)
        self.decimals: dict[str, int] = {}
        self.edges: dict[str, np.ndarray] = {}
        for j, col in enumerate(prep.space.columns):
            values = pd.to_numeric(ref[col], errors="coerce").to_numpy(dtype=float)
            values = values[np.isfinite(values)][:2000]
            self.decimals[col] = 0 if prep.space.integer[j] else decimals(values)
            if col in sensitive and len(values):
                self.edges[col] = np.quantile(values, BANDS)

    def band(self, col: str, value: float) -> str:
        """The reference decile band of ``value``, e.g. ``"p40-p50"`` (below/above the range too)."""
        edges = self.edges[col]
        if value < edges[0]:
            return "below p0"
        if value > edges[-1]:
            return "above p100"
        k = min(int(np.searchsorted(edges, value, side="right")), len(edges) - 1)
        return f"p{int(round(BANDS[k - 1] * 100))}-p{int(round(BANDS[k] * 100))}"


def decimals(values: np.ndarray, most: int = 6) -> int:
    """The fewest decimals that write every value of ``values`` exactly (at most ``most``)."""
    for k in range(most + 1):
        scaled = values * 10.0 ** k
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled))):
            return k
    return most


def _example(ctx: SuiteContext[AdversarialSettings], prep: Prepared, res: ModelAttack, i: int,
             ev_index: pd.Index, facts: _Facts) -> dict[str, Any]:
    """Sample row ``i`` before and after its attack. Each changed column: its values, the change
    (raw and in standard deviations) and the data's precision; a sensitive column: pseudonyms,
    the change in standard deviations and the reference decile band before and after, never a
    raw value."""
    space = prep.space
    original = {k: py(v) for k, v in prep.block.frame.iloc[i].items()}
    adversarial = dict(original)
    changed: dict[str, dict[str, Any]] = {}
    sensitive = set(ctx.sensitive_columns)
    for j, col in enumerate(space.columns):
        value = res.example_raw[i, j]
        if not np.isfinite(value) or math.isclose(value, float(original[col]), abs_tol=0.0):
            continue
        new = int(round(value)) if space.integer[j] else float(value)
        adversarial[col] = new
        before = float(original[col])
        std_units = float((value - before) / space.std[j])
        if col in sensitive:
            changed[col] = {"from": ctx.mask_record({col: original[col]})[col],
                            "to": ctx.mask_record({col: new})[col], "std_units": std_units,
                            "band": {"from": facts.band(col, before), "to": facts.band(col, value)}}
        else:
            changed[col] = {"from": original[col], "to": new, "delta": float(value - before),
                            "std_units": std_units, "decimals": facts.decimals[col]}
    return {
        "row": py(ev_index[i]), "true_label": py(prep.y[i]),
        "original_prediction": res.label(int(res.clean_idx[i])),
        "adversarial_prediction": res.label(int(res.example_idx[i])),
        "perturbation": float(res.example_norm[i]), "changed": changed,
        "original": ctx.mask_record(original), "adversarial": ctx.mask_record(adversarial),
    }
