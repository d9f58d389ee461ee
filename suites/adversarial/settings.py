"""The adversarial suite's policy section ``[suites.adversarial]``: the threat model, the attack
choice, the budgets and the thresholds."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator

from certify.evidence import Direction, Threshold
from certify.suite import SuiteSettings

WHITE_BOX = ("pgd", "fgsm")
BLACK_BOX = ("hopskipjump", "boundary")
ATTACKS = WHITE_BOX + BLACK_BOX
#: threshold key -> which side is good
THRESHOLDS: dict[str, Direction] = {
    "clean_accuracy": Direction.MIN,
    "robust_accuracy": Direction.MIN,
    "attack_success_rate": Direction.MAX,
    "min_perturbation_median": Direction.MIN,
}
#: Thresholds in force unless the policy overrides them (a brittle model must not pass by default).
DEFAULT_THRESHOLDS: dict[str, Threshold] = {"attack_success_rate": Threshold(fail=0.5, warn=0.3)}


class AdversarialSettings(SuiteSettings):
    epsilon: float = Field(
        default=0.1, gt=0,
        description="Perturbation budget in units of each feature's standard deviation "
                    "(reference data), measured with `norm`.")
    norm: Literal["inf", "2"] = Field(
        default="inf", description="Norm of the perturbation: 'inf' (L-infinity) or '2' (L2).")
    curve: list[float] = Field(
        default_factory=lambda: [0.25, 0.5, 1.0, 2.0, 4.0],
        description="Multiples of epsilon at which robust accuracy is also measured (report curve).")
    sample_size: int = Field(
        default=200, ge=1, description="Evaluation rows attacked (seeded sample; all if fewer).")
    features: list[str] | None = Field(
        default=None, description="Numeric columns the attacker may change (default: all numeric).")
    immutable: list[str] = Field(
        default_factory=list, description="Columns never perturbed (e.g. age).")
    attack: Literal["auto", "pgd", "fgsm", "hopskipjump", "boundary"] = Field(
        default="auto",
        description="Attack on the candidate: 'auto' = pgd where ART can take gradients, "
                    "else hopskipjump.")
    baseline_attack: Literal["same", "auto", "pgd", "fgsm", "hopskipjump", "boundary"] = Field(
        default="same",
        description="Attack on the baseline: 'same' = the candidate's where the baseline "
                    "supports it, else the baseline's own auto choice.")
    margin: float = Field(
        default=0.05, ge=0,
        description="Candidate robust accuracy may trail the baseline's by at most this "
                    "(adversarial::regression fails when the whole paired 95% interval of the "
                    "difference is beyond it, warns when only the estimate is).")
    thresholds: dict[str, Threshold] = Field(
        default_factory=dict,
        description="Absolute thresholds: clean_accuracy, robust_accuracy, attack_success_rate, "
                    "min_perturbation_median; merged over the default attack_success_rate = "
                    "{fail = 0.5, warn = 0.3}.")
    pgd_steps: int = Field(default=10, ge=1, le=1000, description="PGD iterations per epsilon.")
    bb_iterations: int = Field(
        default=5, ge=0, le=1000,
        description="Black-box iterations per row (HopSkipJump max_iter; Boundary max_iter x 10).")
    bb_init_evals: int = Field(
        default=10, ge=1, description="HopSkipJump initial gradient-estimation queries.")
    bb_max_evals: int = Field(
        default=100, ge=1, description="HopSkipJump maximum gradient-estimation queries.")
    init_candidates: int = Field(
        default=32, ge=1, le=4096,
        description="Nearest reference rows (then random points) tried as the initial "
                    "adversarial point of a black-box attack.")
    max_queries: int = Field(
        default=5000, ge=1, description="Query budget: model queries (rows scored) per attacked row.")
    max_seconds: float = Field(
        default=300.0, gt=0,
        description="Wall-time budget of the attacks (candidate and baseline together, one "
                    "deadline), checked between model calls; an attack whose first iterations "
                    "project it past the deadline stops there.")
    max_call_seconds: float = Field(
        default=1.0, gt=0,
        description="Per-call budget of a black-box attack that queries the model itself: a "
                    "model whose single call on one row takes longer (timed before the attack) "
                    "is not attacked, and its attack checks error with the reason.")
    executor: Literal["ray", "inprocess", "auto"] = Field(
        default="ray",
        description="'ray' (local Ray, RAY_ADDRESS for a cluster), 'inprocess', or 'auto' "
                    "(Ray only when already running here or RAY_ADDRESS is set).")
    workers: int | None = Field(
        default=None, ge=1, description="Shard tasks in flight at once (default: all).")
    shard_size: int = Field(
        default=16, ge=1, description="Rows per shard (fixed: results do not depend on workers).")
    examples: int = Field(default=5, ge=0, le=100, description="Example adversarial rows saved per model.")
    fast_path: bool = Field(
        default=True,
        description="Query affine scikit-learn pipelines through their final estimator "
                    "during the search (results are always re-scored on the real model).")

    @field_validator("norm", mode="before")
    @classmethod
    def _norm(cls, value: Any) -> Any:
        aliases = {"linf": "inf", "l_inf": "inf", "infinity": "inf", "l2": "2", 2: "2", "2": "2"}
        if isinstance(value, float) and math.isinf(value):
            return "inf"
        key = value.lower() if isinstance(value, str) else value
        return aliases.get(key, value)

    @field_validator("thresholds")
    @classmethod
    def _known_thresholds(cls, value: dict[str, Threshold]) -> dict[str, Threshold]:
        unknown = sorted(set(value) - set(THRESHOLDS))
        if unknown:
            raise ValueError(f"unknown threshold '{unknown[0]}' (known: {', '.join(THRESHOLDS)})")
        return value

    def limits(self) -> dict[str, Threshold]:
        """The thresholds in force: the policy's, over the defaults."""
        return {**DEFAULT_THRESHOLDS, **self.thresholds}

    @field_validator("curve")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if any(not (v > 0 and math.isfinite(v)) for v in value):
            raise ValueError("curve multiples must be positive numbers")
        return value
