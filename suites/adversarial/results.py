"""The suite's typed result: each model's attack merged over its shards in sample order, the
metrics read from it (clean and robust accuracy, success rate, minimal perturbations), and the
``report_data`` drawn from it."""

from __future__ import annotations

import dataclasses
from typing import Any, TypedDict

import numpy as np

from certify.evidence import Artifact
from certify.jsonsafe import finite
from certify.suites.adversarial.plan import ModelPlan
from certify.suites.adversarial.settings import AdversarialSettings
from certify.suites.adversarial.shard import RowOutcomes, ShardOutcome


def py(value: Any) -> Any:
    """A numpy scalar as the Python value (NaN stays NaN: labels and feature values)."""
    return value.item() if isinstance(value, np.generic) else value


#: How the report's intervals of robust accuracy are made.
INTERVAL = "Wilson score 95% over the completed rows"
#: z of the two-sided 95% interval.
Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion ``successes / n`` (None for ``n == 0``): unlike
    the normal approximation it stays within [0, 1] and is not empty at 0 or 1 (0 of 200 rows
    robust still gives an upper limit of about 0.019)."""
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * float(np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)))
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)
    hi = 1.0 if successes >= n else min(1.0, centre + half)
    return lo, hi


class Perturbation(TypedDict):
    """The minimal perturbations of a black-box attack (``report_data["perturbation"][role]``)."""

    values: list[float]
    not_found: int
    quantiles: dict[str, float | None]
    rows: int


@dataclasses.dataclass(kw_only=True)
class ModelAttack(RowOutcomes):
    """One model's attack over the whole sample, merged in sample order."""

    role: str
    attack: str
    kind: str
    reason: str
    fast: bool
    classes: list[Any]
    true_idx: np.ndarray
    grid: list[float]
    epsilon: float
    max_queries: int
    max_seconds: float

    def label(self, k: int) -> Any:
        """The model's class of index ``k`` (``None`` for -1: none)."""
        return py(self.classes[k]) if 0 <= k < len(self.classes) else None


    @property
    def completed_mask(self) -> np.ndarray:
        return np.array([st in ("ok", "misclassified") for st in self.status])

    @property
    def completed(self) -> int:
        return int(self.completed_mask.sum())

    @property
    def attacked(self) -> int:
        return sum(1 for st in self.status if st != "misclassified")

    @property
    def correct(self) -> np.ndarray:
        return (self.clean_idx == self.true_idx) & (self.true_idx >= 0)

    @property
    def clean_accuracy(self) -> float:
        known = self.clean_idx >= 0
        return float(self.correct[known].mean()) if known.any() else float("nan")

    def robust_at(self, k: int) -> float:
        done = self.completed_mask
        if not done.any():
            return float("nan")
        return float((self.correct & ~self.flipped[:, k])[done].mean())

    def robust_ci_at(self, k: int) -> list[float] | None:
        """The Wilson 95% interval of :meth:`robust_at` over the completed rows."""
        done = self.completed_mask
        ci = wilson(int((self.correct & ~self.flipped[:, k])[done].sum()), int(done.sum()))
        return None if ci is None else [ci[0], ci[1]]

    @property
    def policy_k(self) -> int:
        return int(np.argmin(np.abs(np.asarray(self.grid) - self.epsilon)))

    @property
    def robust_accuracy(self) -> float:
        return self.robust_at(self.policy_k)

    @property
    def curve(self) -> list[float | None]:
        return [finite(self.robust_at(k)) for k in range(len(self.grid))]

    @property
    def curve_ci(self) -> list[list[float] | None]:
        return [self.robust_ci_at(k) for k in range(len(self.grid))]

    @property
    def correct_completed(self) -> int:
        return int((self.correct & self.completed_mask).sum())

    @property
    def flipped_count(self) -> int:
        return int((self.correct & self.completed_mask & self.flipped[:, self.policy_k]).sum())

    @property
    def success_rate(self) -> float:
        n = self.correct_completed
        return self.flipped_count / n if n else float("nan")

    def perturbation(self) -> Perturbation:
        rows = self.correct & self.completed_mask
        values = self.min_norm[rows]
        found = np.sort(values[np.isfinite(values)])
        quantiles: dict[str, float | None] = {}
        for name, q in (("p10", 0.1), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p90", 0.9)):
            # Rows with no adversarial found count as +infinity (they sit above every quantile).
            v = float(np.quantile(values, q, method="inverted_cdf")) if len(values) else float("nan")
            quantiles[name] = finite(v)
        return {"values": [float(v) for v in found], "not_found": int(np.sum(~np.isfinite(values))),
                "quantiles": quantiles, "rows": int(rows.sum())}

    @property
    def budget_reason(self) -> str | None:
        """Why this attack is incomplete (a budget hit, or the model was not attacked), or None."""
        if any(st == "halted" for st in self.status):
            return self.halt or "not attacked"
        queries = sum(1 for st in self.status if st == "queries")
        timed = sum(1 for st in self.status if st == "time")
        parts = []
        if queries:
            parts.append(f"query budget (max_queries={self.max_queries} per row) exhausted on "
                         f"{queries} row(s)")
        if timed:
            parts.append(f"wall-time budget (max_seconds={self.max_seconds:g}) exhausted with "
                         f"{timed} row(s) not attacked" + (f" ({self.halt})" if self.halt else ""))
        if not parts:
            return None
        return "; ".join(parts) + f"; completed {self.completed} of {len(self.status)} rows"


def merge(plan: ModelPlan, outcomes: list[ShardOutcome], n: int, grid: list[float],
          s: AdversarialSettings, classes: list[Any], true_idx: np.ndarray, *,
          halt: str | None = None) -> ModelAttack:
    """The model's shards, in sample order (rows of missing shards stay ``not_attacked``; every
    row is ``halted`` when the model was not attacked, ``halt`` saying why)."""
    outcomes = sorted(outcomes, key=lambda o: o.shard)
    d = outcomes[0].example_raw.shape[1] if outcomes else 0
    merged = ModelAttack.blank(
        n, len(grid), d, "not_attacked", role=plan.role, attack=plan.attack, kind=plan.kind,
        reason=plan.reason, fast=plan.fast, classes=classes, true_idx=true_idx, grid=grid,
        epsilon=s.epsilon, max_queries=s.max_queries, max_seconds=s.max_seconds)
    for o in outcomes:
        p = o.positions
        for r, i in enumerate(p):
            merged.status[i] = o.status[r]
        merged.clean_idx[p], merged.queries[p] = o.clean_idx, o.queries
        merged.min_norm[p], merged.flipped[p] = o.min_norm, o.flipped
        merged.example_raw[p], merged.example_idx[p] = o.example_raw, o.example_idx
        merged.example_norm[p] = o.example_norm
    merged.fast_mismatches = sum(o.fast_mismatches for o in outcomes)
    merged.elapsed_s = sum(o.elapsed_s for o in outcomes)
    merged.halt = halt or next((o.halt for o in outcomes if o.halt), "")
    if halt:
        merged.status = ["halted"] * n
    return merged


@dataclasses.dataclass
class AdversarialResult:
    epsilon: float
    norm: str
    grid: list[float]
    seed: int
    sample_size: int
    positions: np.ndarray
    columns: list[str]
    models: dict[str, ModelAttack]
    executor: str
    workers: int
    shards: int
    notes: list[str]
    #: Wall time of the suite's run (probes, attacks, re-scoring; artifacts excluded), seconds.
    wall_s: float = 0.0
    max_seconds: float = 0.0
    examples: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    artifacts: list[Artifact] = dataclasses.field(default_factory=list)

    @property
    def candidate(self) -> ModelAttack:
        return self.models["candidate"]

    @property
    def baseline(self) -> ModelAttack | None:
        return self.models.get("baseline")


def report_data(result: AdversarialResult) -> dict[str, Any]:
    """The data of the report's pictures (keys in the package docstring)."""
    base = result.baseline
    return {
        "epsilon": result.epsilon, "norm": result.norm, "sample_size": result.sample_size,
        "seed": result.seed, "features": result.columns,
        "attacks": {r: {"attack": m.attack, "kind": m.kind, "fast_path": m.fast, "reason": m.reason,
                        "fast_path_mismatches": m.fast_mismatches}
                    for r, m in result.models.items()},
        "notes": result.notes,
        "curve": {"epsilons": result.grid, "candidate": result.candidate.curve,
                  "baseline": base.curve if base else None,
                  "candidate_ci": result.candidate.curve_ci,
                  "baseline_ci": base.curve_ci if base else None,
                  "rows": {r: m.completed for r, m in result.models.items()},
                  "interval": INTERVAL},
        "metrics": {r: {"clean_accuracy": m.clean_accuracy, "robust_accuracy": m.robust_accuracy,
                        "robust_accuracy_ci": m.robust_ci_at(m.policy_k),
                        "attack_success_rate": m.success_rate, "rows": result.sample_size,
                        "completed": m.completed, "attacked": m.attacked}
                    for r, m in result.models.items()},
        "perturbation": {r: (m.perturbation() if m.kind == "black-box" else None)
                         for r, m in result.models.items()},
        "examples": result.examples.get("candidate", []),
        "budget": {r: {"status": "exhausted" if m.budget_reason else "ok", "reason": m.budget_reason,
                       "queries_total": int(m.queries.sum()), "elapsed_s": round(m.elapsed_s, 3)}
                   for r, m in result.models.items()},
        "timing": {"wall_s": round(result.wall_s, 3), "max_seconds": result.max_seconds,
                   "worker_s": {r: round(m.elapsed_s, 3) for r, m in result.models.items()},
                   "executor": result.executor, "workers": result.workers},
    }
