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
    for role, res in result.models.items():
        picked = [i for i in np.argsort(res.example_norm, kind="stable")
                  if res.example_idx[i] >= 0][: s.examples]
        examples[role] = [_example(ctx, prep, res, int(i), ev_index) for i in picked]
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


def _example(ctx: SuiteContext[AdversarialSettings], prep: Prepared, res: ModelAttack, i: int,
             ev_index: pd.Index) -> dict[str, Any]:
    """Sample row ``i`` before and after its attack (sensitive values masked)."""
    space = prep.space
    original = {k: py(v) for k, v in prep.block.frame.iloc[i].items()}
    adversarial = dict(original)
    changed = {}
    for j, col in enumerate(space.columns):
        value = res.example_raw[i, j]
        if np.isfinite(value) and not math.isclose(value, float(original[col]), abs_tol=0.0):
            new = int(round(value)) if space.integer[j] else float(value)
            adversarial[col] = new
            changed[col] = {"from": original[col], "to": new,
                            "std_units": float((value - float(original[col])) / space.std[j])}
    sensitive = set(ctx.sensitive_columns)
    for col in list(changed):
        if col in sensitive:
            changed[col] = {"from": ctx.mask_record({col: changed[col]["from"]})[col],
                            "to": ctx.mask_record({col: changed[col]["to"]})[col],
                            "std_units": changed[col]["std_units"]}
    return {
        "row": py(ev_index[i]), "true_label": py(prep.y[i]),
        "original_prediction": res.label(int(res.clean_idx[i])),
        "adversarial_prediction": res.label(int(res.example_idx[i])),
        "perturbation": float(res.example_norm[i]), "changed": changed,
        "original": ctx.mask_record(original), "adversarial": ctx.mask_record(adversarial),
    }
