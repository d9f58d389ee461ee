"""adversarial: how easily small, deliberate input changes push the candidate's decisions over.

Built on adversarial-robustness-toolbox (ART). The candidate and the baseline are attacked
on the same seeded sample of evaluation rows, under the same threat model, and compared.

Threat model (``[suites.adversarial]``)
    * ``epsilon`` is in units of each feature's standard deviation on the reference data:
      the attack works on standardised features ``z = (x - mean) / std`` and every
      perturbation is mapped back to raw units. ``norm`` is ``"inf"`` (each feature may move
      by ``epsilon`` standard deviations) or ``"2"``.
    * Only numeric feature columns are perturbed (``features``, default: all of them) minus
      the ``immutable`` ones; categorical and boolean columns keep the row's values (naming
      one in ``features`` is a configuration error). Constant columns are left alone.
    * Adversarial rows stay plausible: values are clipped to the schema's ``min``/``max``
      (widened to the row's own value when the row already lies outside), integer columns
      move by whole units toward the original value (so rounding never grows a
      perturbation), missing values stay missing. Moves below 1e-6 standard deviations
      (float32 noise of the attack) count as no move.

Attack choice (``attack``, default ``"auto"``)
    * White-box ``pgd`` (or ``fgsm``) where ART can take gradients: a scikit-learn
      ``LogisticRegression``, ``SVC`` or ``LinearSVC``, bare or as the last step of a
      ``Pipeline`` whose preprocessing is verified to be affine in the attacked features
      (``StandardScaler``, one-hot encoding of the untouched categoricals, ...), and a
      ``torch.nn.Module`` estimator taking the numeric features in schema order (ART's
      ``PyTorchClassifier``; the ``torch`` adapter, with the ``torch`` extra). The gradient is ART's
      own (``ScikitlearnLogisticRegression.loss_gradient`` etc.) in the model's transformed
      space, chained with the preprocessing's Jacobian, which is exact for an affine map.
    * Black-box ``hopskipjump`` (or ``boundary``, L2 only) for any other model: tree
      ensembles, HTTP endpoints. These are minimal-perturbation attacks: each row's smallest
      adversarial perturbation found gives robust accuracy at every epsilon at once. The
      initial adversarial point is the nearest reference row (attacked features only) the
      model classifies differently, else a seeded uniform draw, so that ART's unseeded
      initialisation is never used.
    * The baseline is attacked "the same way" (``baseline_attack = "same"``): with the
      candidate's attack where the baseline supports it, else with its own ``auto`` choice
      (the evidence says so).
    * Speed: when a scikit-learn pipeline's preprocessing is verified affine in the attacked
      features (and ``fast_path`` is on), attack queries go to the final estimator on the
      transformed array instead of rebuilding a DataFrame per query. Every reported number
      is still measured on the real model: clean and adversarial rows are scored through the
      certify ``Model`` interface, and disagreements are counted (``fast_path_mismatches``).

Scale-out and determinism
    The sample is cut into fixed shards of ``shard_size`` rows; each shard of each model is
    one Ray task (``executor = "ray"``: a local Ray on 127.0.0.1, or the cluster named by
    ``RAY_ADDRESS``), at most ``workers`` at a time; ``"inprocess"`` runs the same shard
    function in this process; ``"auto"`` uses Ray only when it is already running here or
    ``RAY_ADDRESS`` is set. ART draws from numpy's global generator, so every row's attack is
    seeded from (policy seed, row position): the same seed gives the same numbers whatever
    the number of workers or the executor.

Budgets
    ``max_queries`` bounds the model queries (rows scored) per attacked row, ``max_seconds``
    the wall time of each model's attack. Hitting either keeps what completed (metrics are
    computed over completed rows and recorded) and errors the attack's checks with the
    reason (verdict INCOMPLETE), never passes them.

Checks (each an evidence record): ``clean_accuracy``, ``robust_accuracy`` (at ``epsilon``),
``attack_success_rate`` (share of correctly classified rows flipped within ``epsilon``),
``min_perturbation`` (black-box candidate attack: distribution of the minimal perturbation),
``regression`` (with a baseline: candidate robust accuracy minus baseline's must be at least
``-margin``). Thresholds: ``thresholds.<metric> = {fail = ..., warn = ...}``, merged over the
default ``attack_success_rate = {fail = 0.5, warn = 0.3}``; a check with no threshold records
its metric and passes, except ``robust_accuracy`` with neither threshold nor baseline, which
errors (nothing to certify against).

Artifacts (``artifacts/adversarial/``): ``examples.json`` (a few adversarial rows per model,
original and adversarial values and predictions, sensitive columns masked) and
``results.json`` (per model, columnar lists in sample order: evaluation ``row`` index,
``status`` (ok | misclassified | queries | time | not_attacked), ``true_label``,
``clean_prediction``, ``adversarial_prediction``, ``min_perturbation``, ``queries``; no
feature values).

``report_data`` keys
    ``epsilon``, ``norm``, ``sample_size``, ``seed``, ``features`` (perturbed columns),
    ``attacks`` ({role: {attack, kind ("white-box"|"black-box"), fast_path, reason,
    fast_path_mismatches}}),
    ``notes`` (e.g. columns left alone because they are constant),
    ``curve`` ({``epsilons``: [...], ``candidate``: [robust accuracy...], ``baseline``: [...]
    or null}), ``metrics`` ({role: {clean_accuracy, robust_accuracy, attack_success_rate,
    rows, completed, attacked}}), ``perturbation`` ({role: {``values``: sorted finite minimal
    perturbations, ``not_found``: rows with none found, ``quantiles``: {p10, p25, p50, p75,
    p90}} for black-box attacks, else null}), ``examples`` (candidate example rows as in
    examples.json), ``budget`` ({role: {status, reason, queries_total, elapsed_s}}).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
import warnings
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from certify.errors import ConfigError
from certify.evidence import Artifact, Direction, Outcome, Status, Threshold, compare
from certify.suite import CheckSpec, Suite, SuiteContext, SuiteRecord, SuiteSettings
from certify.suites.adversarial import view
from certify.view import Panel

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
#: A move smaller than this many standard deviations is float noise, not a perturbation.
Z_TOLERANCE = 1e-6
#: Sample rows on which a model's affine input transform is verified.
VERIFY_ROWS = 64
#: Seconds a Ray run may overshoot max_seconds (task start-up, imports) before it is cancelled.
RAY_GRACE_S = 60.0


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
        description="Candidate robust accuracy may trail the baseline's by at most this.")
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
        default=300.0, gt=0, description="Wall-time budget of each model's attack.")
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


# ---------------------------------------------------------------------------------------
# The attack space: standardised numeric features, plausibility
# ---------------------------------------------------------------------------------------
@dataclasses.dataclass
class AttackSpace:
    """Standardised coordinates of the perturbable columns and the rules that keep rows plausible."""

    columns: list[str]
    mean: np.ndarray
    std: np.ndarray
    raw_lo: np.ndarray
    raw_hi: np.ndarray
    integer: np.ndarray
    norm: str
    lo: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    hi: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))

    @property
    def d(self) -> int:
        return len(self.columns)

    def to_z(self, raw: np.ndarray) -> np.ndarray:
        return (raw - self.mean) / self.std

    def plausible(self, z: np.ndarray, z0: np.ndarray, raw0: np.ndarray,
                  frozen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map attack points to plausible rows: returns (z, raw) after clipping and rounding."""
        z = np.asarray(z, dtype=float)
        dz = z - z0
        dz = np.where(np.abs(dz) < Z_TOLERANCE * np.maximum(1.0, np.abs(z0)), 0.0, dz)
        raw = raw0 + self.std * dz
        with np.errstate(invalid="ignore"):
            raw = np.clip(raw, np.fmin(self.raw_lo, raw0), np.fmax(self.raw_hi, raw0))
        if self.integer.any():
            ints = self.integer
            delta = raw[..., ints] - raw0[..., ints]
            # Whole units toward the original; a move within float32 noise of a whole number of
            # units is that number (the attack's float32 must not turn +1 into 0.99999994 -> 0).
            near = np.round(delta)
            noise = Z_TOLERANCE * self.std[ints] * np.maximum(1.0, np.abs(z[..., ints]))
            step = np.where(np.abs(delta - near) <= noise, near, np.trunc(delta))
            raw[..., ints] = raw0[..., ints] + step
        raw = np.where(frozen, raw0, raw)
        zp = np.where(frozen, z0, z0 + (raw - raw0) / self.std)
        return zp, raw

    def distance(self, z: np.ndarray, z0: np.ndarray) -> np.ndarray:
        dz = np.nan_to_num(np.asarray(z, dtype=float) - z0)
        if self.norm == "inf":
            return np.max(np.abs(dz), axis=-1) if dz.shape[-1] else np.zeros(dz.shape[:-1])
        return np.sqrt(np.sum(dz * dz, axis=-1))


@dataclasses.dataclass
class Block:
    """Rows under attack: the full feature rows plus their attack coordinates."""

    frame: pd.DataFrame
    z0: np.ndarray
    raw0: np.ndarray
    frozen: np.ndarray

    def take(self, idx: np.ndarray) -> Block:
        return Block(self.frame.iloc[idx], self.z0[idx], self.raw0[idx], self.frozen[idx])

    def __len__(self) -> int:
        return len(self.frame)


@dataclasses.dataclass
class AffineView:
    """A model whose input transform is affine in the attacked features: T(z) = T0 + (z - z0) J."""

    kind: Literal["pipeline", "bare", "torch"]
    T0: np.ndarray
    J: np.ndarray
    gradient: bool


class BudgetExhausted(Exception):  # noqa: N818 - an outcome, reported as such
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _final_estimator(estimator: Any, kind: str) -> Any:
    return estimator[-1] if kind == "pipeline" else estimator


class Querier:
    """Model queries from attack coordinates, with the per-row query and wall-time budgets.

    ``row`` set: every query point belongs to that row (black-box, one row at a time);
    ``row`` None: query points are aligned with the block's rows (white-box, whole block).
    """

    def __init__(self, model: Any, space: AttackSpace, block: Block, classes: list[Any],
                 view: AffineView | None, fast: bool, max_queries: int, deadline: float) -> None:
        self.model = model
        self.space = space
        self.block = block
        self.classes = classes
        self.view = view
        self.fast = fast and view is not None
        self.max_queries = max_queries
        self.deadline = deadline
        self.row: int | None = None
        self.queries = np.zeros(len(block), dtype=np.int64)
        self.other = np.zeros(len(block), dtype=np.int64)
        self._memo: dict[tuple[int, bytes], np.ndarray] = {}
        self._final = _final_estimator(model.estimator, view.kind) if view is not None else None
        self._torch: Any = None

    def _rows(self, n: int) -> np.ndarray:
        if self.row is not None:
            return np.full(n, self.row)
        if n != len(self.block):
            raise ValueError(f"aligned query of {n} points for a block of {len(self.block)} rows")
        return np.arange(n)

    def charge(self, rows: np.ndarray) -> None:
        if time.time() > self.deadline:
            raise BudgetExhausted("time")
        if self.row is not None:
            if self.queries[self.row] + len(rows) > self.max_queries:
                raise BudgetExhausted("queries")
            self.queries[self.row] += len(rows)
            return
        if np.any(self.queries + 1 > self.max_queries):
            raise BudgetExhausted("queries")
        self.queries += 1

    def to_index(self, labels: np.ndarray) -> np.ndarray:
        labels = np.asarray(labels)
        out = np.full(len(labels), -1, dtype=np.int64)
        for k, cls in enumerate(self.classes):
            out[labels == cls] = k
        return out

    def frame(self, z: np.ndarray, rows: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        """Plausible DataFrame rows for attack points ``z`` of block rows ``rows``."""
        b = self.block
        zp, raw = self.space.plausible(z, b.z0[rows], b.raw0[rows], b.frozen[rows])
        out = b.frame.iloc[rows].copy()
        for j, col in enumerate(self.space.columns):
            values = raw[:, j]
            if self.space.integer[j]:
                out[col] = values.astype(b.frame[col].dtype)
            else:
                out[col] = values
        return out, zp

    def labels(self, z: np.ndarray, *, real: bool = False, charge: bool = True) -> np.ndarray:
        """Class index per query point (-1 for a label outside the model's classes)."""
        z = np.asarray(z, dtype=float).reshape(-1, self.space.d)
        rows = self._rows(len(z))
        key = None
        if self.row is not None and len(z) == 1 and not real:
            # ART re-asks single points (the row itself, its starting point, its result):
            # those answers are known, and are not charged as model queries.
            key = (self.row, z.tobytes())
            if key in self._memo:
                return self._memo[key]
        if charge:
            self.charge(rows)
        out = self._labels(z, rows, real)
        if key is not None:
            if len(self._memo) > 64:
                self._memo.clear()
            self._memo[key] = out
        return out

    def _labels(self, z: np.ndarray, rows: np.ndarray, real: bool) -> np.ndarray:
        b = self.block
        if self.fast and not real:
            assert self.view is not None
            zp, _ = self.space.plausible(z, b.z0[rows], b.raw0[rows], b.frozen[rows])
            t = self.view.T0[rows] + (zp - b.z0[rows]) @ self.view.J
            if self.view.kind == "torch":
                return np.argmax(self._torch_inner().predict(t.astype(np.float32)), axis=1)
            assert self._final is not None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return self.to_index(np.asarray(self._final.predict(t)))
        frame, _ = self.frame(z, rows)
        return self.to_index(np.asarray(self.model.predict(frame)))

    def onehot(self, z: np.ndarray) -> np.ndarray:
        idx = self.labels(z)
        # A label outside the model's classes is "some other class": never the row's clean one.
        idx = np.where(idx >= 0, idx, self.other[self._rows(len(idx))])
        out = np.zeros((len(idx), len(self.classes)), dtype=np.float32)
        out[np.arange(len(idx)), idx] = 1.0
        return out

    def set_clean(self, clean_idx: np.ndarray) -> None:
        self.other = (np.maximum(clean_idx, 0) + 1) % len(self.classes)

    def _torch_inner(self) -> Any:
        if self._torch is None:
            self._torch = _torch_classifier(self.model.estimator, self.view.T0.shape[1],  # type: ignore[union-attr]
                                            len(self.classes))
        return self._torch

    def gradient_inner(self) -> Any:
        """ART's own gradient-capable estimator for the model in its transformed space."""
        assert self.view is not None and self.view.gradient
        if self.view.kind == "torch":
            return self._torch_inner()
        from art.estimators.classification.scikitlearn import SklearnClassifier

        return SklearnClassifier(model=self._final)


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _torch_classifier(module: Any, n_inputs: int, n_classes: int) -> Any:
    import torch
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(model=module, loss=torch.nn.CrossEntropyLoss(), input_shape=(n_inputs,),
                             nb_classes=n_classes,
                             device_type="gpu" if torch.cuda.is_available() else "cpu")


@functools.cache
def _art() -> Any:
    """Import ART quietly (it warns when torch is absent) and define our estimator class."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import logging

        from art.attacks.evasion import (
            BoundaryAttack,
            FastGradientMethod,
            HopSkipJump,
            ProjectedGradientDescent,
        )
        from art.estimators.classification import BlackBoxClassifier
        from art.estimators.classification.classifier import ClassifierMixin
        from art.estimators.estimator import BaseEstimator, LossGradientsMixin

        logging.getLogger("art").setLevel(logging.WARNING)

    class TabularGradientClassifier(LossGradientsMixin, ClassifierMixin, BaseEstimator):
        """ART estimator over the attack coordinates of a block of rows (aligned queries).

        Predictions come from the model (through the querier); loss gradients from ART's
        own estimator in the model's transformed space, chained with the affine map's
        Jacobian: d loss / d z = (d loss / d T) J^T.
        """

        estimator_params = BaseEstimator.estimator_params + ClassifierMixin.estimator_params

        def __init__(self, querier: Querier, inner: Any, clip_values: Any) -> None:
            super().__init__(model=None, clip_values=clip_values)
            self._querier = querier
            self._inner = inner
            self.nb_classes = len(querier.classes)

        @property
        def input_shape(self) -> tuple[int, ...]:
            return (self._querier.space.d,)

        def predict(self, x: np.ndarray, batch_size: int = 128, **kwargs: Any) -> np.ndarray:
            return self._querier.onehot(x)

        def fit(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> None:
            raise NotImplementedError("attack-only estimator")

        def loss_gradient(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> np.ndarray:
            q = self._querier
            assert q.view is not None
            rows = q._rows(len(x))
            q.charge(rows)
            t = q.view.T0[rows] + (np.asarray(x, dtype=float) - q.block.z0[rows]) @ q.view.J
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                grad = np.asarray(self._inner.loss_gradient(t.astype(np.float32), y), dtype=float)
            return (grad.reshape(len(x), -1) @ q.view.J.T).astype(np.float32)

    return {
        "HopSkipJump": HopSkipJump, "BoundaryAttack": BoundaryAttack,
        "FastGradientMethod": FastGradientMethod, "ProjectedGradientDescent": ProjectedGradientDescent,
        "BlackBoxClassifier": BlackBoxClassifier, "TabularGradientClassifier": TabularGradientClassifier,
    }


# ---------------------------------------------------------------------------------------
# One shard: the unit of work of a Ray task (or of the in-process loop)
# ---------------------------------------------------------------------------------------
@dataclasses.dataclass
class AttackParams:
    attack: str
    norm: str
    epsilon: float
    grid: list[float]
    pgd_steps: int
    bb_iterations: int
    bb_init_evals: int
    bb_max_evals: int
    init_candidates: int
    max_queries: int


@dataclasses.dataclass
class ShardJob:
    role: str
    shard: int
    positions: np.ndarray  # positions in the sample
    block: Block
    true_idx: np.ndarray
    classes: list[Any]
    space: AttackSpace
    params: AttackParams
    seeds: np.ndarray
    donors: np.ndarray
    view: AffineView | None
    fast: bool
    deadline: float
    model: Any = None
    model_spec: Any = None


@dataclasses.dataclass
class ShardOutcome:
    role: str
    shard: int
    positions: np.ndarray
    status: list[str]
    clean_idx: np.ndarray
    queries: np.ndarray
    min_norm: np.ndarray
    flipped: np.ndarray  # (rows, len(grid)) bool
    example_raw: np.ndarray  # (rows, d) perturbed values at the example point (nan: none)
    example_idx: np.ndarray  # adversarial class at the example point (-1: none)
    example_norm: np.ndarray
    fast_mismatches: int
    elapsed_s: float


_MODEL_CACHE: dict[tuple[str, str], Any] = {}


def _resolve_model(job: ShardJob, model: Any) -> Any:
    if model is not None:
        return model
    if job.model is not None:
        return job.model
    spec, base_dir, role, digest = job.model_spec
    key = (role, digest)
    if key not in _MODEL_CACHE:
        from certify.models import load_model

        loaded = load_model(spec, base_dir, role)
        if loaded.digest != digest:
            raise RuntimeError(f"{role}: model bytes changed during the attack ({loaded.digest})")
        _MODEL_CACHE[key] = loaded
    return _MODEL_CACHE[key]


def attack_shard(job: ShardJob, model: Any = None) -> ShardOutcome:
    """Attack one shard of rows with one model. Deterministic given the job (seeded per row)."""
    from threadpoolctl import threadpool_limits

    state = np.random.get_state()
    start = time.perf_counter()
    try:
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _attack_shard(job, _resolve_model(job, model), start)
    finally:
        np.random.set_state(state)


def _attack_shard(job: ShardJob, model: Any, start: float) -> ShardOutcome:
    n, p = len(job.block), job.params
    grid = np.asarray(p.grid)
    q = Querier(model, job.space, job.block, job.classes, job.view, job.fast, p.max_queries,
                job.deadline)
    out = ShardOutcome(
        role=job.role, shard=job.shard, positions=job.positions, status=["not_attacked"] * n,
        clean_idx=np.full(n, -1), queries=q.queries, min_norm=np.full(n, np.inf),
        flipped=np.zeros((n, len(grid)), dtype=bool), example_raw=np.full((n, job.space.d), np.nan),
        example_idx=np.full(n, -1), example_norm=np.full(n, np.nan), fast_mismatches=0,
        elapsed_s=0.0)
    if time.time() > job.deadline:
        out.status = ["time"] * n
        return out
    # Clean predictions on the real model (one query per row, not charged to the attack).
    out.clean_idx = q.labels(job.block.z0, real=True, charge=False)
    q.set_clean(out.clean_idx)
    correct = (out.clean_idx == job.true_idx) & (job.true_idx >= 0)
    for i in np.flatnonzero(~correct):
        out.status[i] = "misclassified"
    todo = np.flatnonzero(correct)
    if len(todo):
        if p.attack in WHITE_BOX:
            _white_box(job, q, todo, grid, out)
        else:
            _black_box(job, q, todo, grid, out)
    out.queries = q.queries
    out.elapsed_s = time.perf_counter() - start
    return out


def _white_box(job: ShardJob, q_all: Querier, todo: np.ndarray, grid: np.ndarray,
               out: ShardOutcome) -> None:
    art, p = _art(), job.params
    sub = job.block.take(todo)
    sub_view = dataclasses.replace(job.view, T0=job.view.T0[todo]) if job.view is not None else None
    q = Querier(q_all.model, job.space, sub, job.classes, sub_view, job.fast, p.max_queries,
                job.deadline)
    q.set_clean(job.true_idx[todo])
    estimator = art["TabularGradientClassifier"](
        q, q.gradient_inner(), (job.space.lo.astype(np.float32), job.space.hi.astype(np.float32)))
    y = np.zeros((len(todo), len(job.classes)), dtype=np.float32)
    y[np.arange(len(todo)), job.true_idx[todo]] = 1.0
    mask = (~sub.frozen).astype(np.float32)
    x = sub.z0.astype(np.float32)
    norm = np.inf if p.norm == "inf" else 2
    np.random.seed(int(job.seeds[todo[0]]))
    try:
        for k, eps in enumerate(grid):
            if p.attack == "fgsm":
                attack = art["FastGradientMethod"](estimator, norm=norm, eps=float(eps),
                                                   batch_size=len(todo))
            else:
                attack = art["ProjectedGradientDescent"](
                    estimator, norm=norm, eps=float(eps), eps_step=2.5 * float(eps) / p.pgd_steps,
                    max_iter=p.pgd_steps, num_random_init=0, batch_size=len(todo), verbose=False)
            adv = attack.generate(x=x, y=y, mask=mask)
            zp, raw = job.space.plausible(adv, sub.z0, sub.raw0, sub.frozen)
            adv_idx = q.labels(zp, real=True, charge=False)
            dist = job.space.distance(zp, sub.z0)
            flipped = adv_idx != job.true_idx[todo]
            out.flipped[todo, k] = flipped
            if math.isclose(eps, p.epsilon):
                for r, i in enumerate(todo):
                    if flipped[r]:
                        out.example_raw[i] = raw[r]
                        out.example_idx[i] = adv_idx[r]
                        out.example_norm[i] = dist[r]
        for i in todo:
            hits = np.flatnonzero(out.flipped[i])
            out.min_norm[i] = grid[hits[0]] if len(hits) else np.inf
            out.status[i] = "ok"
    except BudgetExhausted as hit:
        for i in todo:
            out.status[i] = hit.kind
    q_all.queries[todo] += q.queries


def _initial_point(job: ShardJob, q: Querier, i: int, clean: int) -> np.ndarray | None:
    """A plausible adversarial starting point for row ``i`` (one or two batched queries).

    Candidates: random corners (L-inf) or directions (L2) at every radius of the epsilon
    grid, and the nearest reference rows (attacked features only); the nearest one the
    model classifies differently wins. Failing that, seeded uniform draws in the attack box.
    ART's own initialisation (an unseeded generator) is never used.
    """
    b, space, p = job.block, job.space, job.params
    z0, frozen = b.z0[i], b.frozen[i]
    rng = np.random.default_rng(int(job.seeds[i]))
    k = p.init_candidates
    probes = []
    for radius in p.grid:
        if space.norm == "inf":
            step = rng.choice([-1.0, 1.0], size=(k, space.d))
        else:
            step = rng.standard_normal(size=(k, space.d))
            step /= np.maximum(np.linalg.norm(step, axis=1, keepdims=True), 1e-12)
        probes.append(z0 + radius * step)
    if len(job.donors):
        order = np.argsort(space.distance(job.donors, z0), kind="stable")
        probes.append(job.donors[order[:k]])
    pools = [np.concatenate(probes), rng.uniform(space.lo, space.hi, size=(k, space.d))]
    for pool in pools:
        # Checked exactly as ART will pass it back (float32), so ART accepts it as adversarial
        # and never falls back to its own, unseeded, random initialisation.
        pool = np.where(frozen, z0, pool).astype(np.float32)
        zp, _ = space.plausible(pool, np.broadcast_to(z0, pool.shape),
                                np.broadcast_to(b.raw0[i], pool.shape), np.broadcast_to(frozen, pool.shape))
        moved = space.distance(zp, z0) > 0
        if not moved.any():
            continue
        zp = zp[moved]
        pool = pool[moved]
        hits = np.flatnonzero(q.labels(pool) != clean)
        if len(hits):
            return pool[hits[np.argmin(space.distance(zp[hits], z0))]]
    return None


def _black_box(job: ShardJob, q: Querier, todo: np.ndarray, grid: np.ndarray,
               out: ShardOutcome) -> None:
    art, p, b, space = _art(), job.params, job.block, job.space
    clip = (space.lo.astype(np.float32), space.hi.astype(np.float32))
    classifier = art["BlackBoxClassifier"](q.onehot, (space.d,), len(job.classes), clip_values=clip)
    norm: Any = np.inf if p.norm == "inf" else 2
    if p.attack == "hopskipjump":
        attack = art["HopSkipJump"](classifier, batch_size=1 << 16, targeted=False, norm=norm,
                                    max_iter=p.bb_iterations, max_eval=max(p.bb_max_evals, p.bb_init_evals),
                                    init_eval=p.bb_init_evals, init_size=1, verbose=False)
    else:
        attack = art["BoundaryAttack"](classifier, batch_size=1 << 16, targeted=False,
                                       max_iter=p.bb_iterations * 10, num_trial=10, init_size=1,
                                       verbose=False)
    found: list[int] = []
    adv_points: dict[int, np.ndarray] = {}
    for i in todo:
        if time.time() > job.deadline:
            out.status[i] = "time"
            continue
        np.random.seed(int(job.seeds[i]))
        q.row = int(i)
        clean = int(out.clean_idx[i])
        try:
            init = _initial_point(job, q, int(i), clean)
            if init is None:
                out.status[i] = "ok"  # no adversarial point found: robust within the budget
                continue
            y = np.zeros((1, len(job.classes)), dtype=np.float32)
            y[0, clean] = 1.0
            frozen = b.frozen[i]
            kwargs: dict[str, Any] = {"x_adv_init": init[None].astype(np.float32)}
            if frozen.any():
                kwargs["mask"] = (~frozen).astype(np.float32)[None]
            adv = attack.generate(x=b.z0[i : i + 1].astype(np.float32), y=y, **kwargs)
            own = (b.z0[i : i + 1], b.raw0[i : i + 1], b.frozen[i : i + 1])
            zp, _ = space.plausible(adv, *own)
            start, _ = space.plausible(init[None], *own)
            # Keep the starting point when the attack did not improve on it.
            if space.distance(zp[0], b.z0[i]) > space.distance(start[0], b.z0[i]):
                zp = start
            adv_points[int(i)] = zp[0]
            found.append(int(i))
            out.status[i] = "ok"
        except BudgetExhausted as hit:
            out.status[i] = hit.kind
    q.row = None
    if found:
        # The real model decides: re-score every adversarial point through the Model interface.
        rows = np.asarray(found)
        pts = np.stack([adv_points[i] for i in found])
        frame, zp = q.frame(pts, rows)
        real = q.to_index(np.asarray(q.model.predict(frame)))
        raw = frame[space.columns].to_numpy(dtype=float)
        for r, i in enumerate(found):
            if real[r] == out.clean_idx[i]:
                out.fast_mismatches += 1
                continue
            dist = float(space.distance(zp[r], b.z0[i]))
            out.min_norm[i] = dist
            out.example_raw[i] = raw[r]
            out.example_idx[i] = real[r]
            out.example_norm[i] = dist
    for i in todo:
        out.flipped[i] = out.min_norm[i] <= grid * (1 + 1e-9)


# ---------------------------------------------------------------------------------------
# Planning: threat model, sample, what each model supports
# ---------------------------------------------------------------------------------------
@dataclasses.dataclass
class ModelPlan:
    role: str
    attack: str
    kind: str  # white-box | black-box
    reason: str
    view: AffineView | None
    fast: bool


@dataclasses.dataclass
class Prepared:
    space: AttackSpace
    positions: np.ndarray  # evaluation-frame positions of the sampled rows
    block: Block
    y: np.ndarray
    donors: np.ndarray
    plans: dict[str, ModelPlan]
    notes: list[str]


GRADIENT_ESTIMATORS = ("LogisticRegression", "SVC", "LinearSVC")


def _is_torch_module(obj: Any) -> bool:
    if not type(obj).__module__.startswith("torch") and "torch" not in {
            c.__module__.split(".")[0] for c in type(obj).__mro__}:
        return False
    try:
        import torch

        return isinstance(obj, torch.nn.Module)
    except ImportError:  # pragma: no cover
        return False


def affine_view(model: Any, space: AttackSpace, block: Block, features: list[str],
                numeric_only: bool) -> tuple[AffineView | None, str]:
    """Whether the model's input transform is affine in the attacked features (verified)."""
    est = getattr(model, "estimator", None)
    if est is None:
        return None, "no in-process estimator (e.g. an HTTP endpoint)"
    kind: Literal["pipeline", "bare", "torch"]
    if _is_torch_module(est):
        if not numeric_only:
            return None, "a torch module needs all features numeric"
        kind = "torch"
    else:
        from sklearn.pipeline import Pipeline

        if isinstance(est, Pipeline) and len(est.steps) > 1:
            kind = "pipeline"
        elif hasattr(est, "predict") and numeric_only:
            kind = "bare"
        else:
            return None, f"{type(est).__name__} has no affine input transform we can verify"
    frame = block.frame[features]

    def transform(f: pd.DataFrame) -> np.ndarray:
        out = est[:-1].transform(f) if kind == "pipeline" else f.to_numpy(dtype=float)
        if hasattr(out, "toarray"):
            out = out.toarray()
        if not isinstance(out, np.ndarray) or out.ndim != 2:
            raise TypeError(f"transform returned {type(out).__name__}")
        return np.asarray(out, dtype=float)

    # Verified on a fixed subset of the sample (probes of -1, +1 and +2 standard deviations per
    # attacked column); the map itself is then applied to every row. The fast path only steers
    # the search: every reported number is re-scored on the real model.
    check = slice(0, VERIFY_ROWS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = transform(frame)
            sub, t_sub = frame.iloc[check], t0[check]
            jac = np.zeros((space.d, t0.shape[1]))
            for j, col in enumerate(space.columns):
                valid = ~block.frozen[check, j]
                if not valid.any() or col not in frame.columns:
                    continue
                deltas = []
                for step in (1.0, 2.0, -1.0):
                    probe = sub.copy()
                    probe[col] = sub[col].astype(float) + step * space.std[j]
                    deltas.append(transform(probe)[valid] - t_sub[valid])
                d1, d2, dm = deltas
                scale = max(1.0, float(np.max(np.abs(d1))))
                atol = 1e-9 * scale
                if not (np.allclose(d2, 2 * d1, rtol=1e-7, atol=atol)
                        and np.allclose(dm, -d1, rtol=1e-7, atol=atol)
                        and np.allclose(d1, d1[0], rtol=1e-7, atol=atol)):
                    return None, f"preprocessing is not affine in '{col}'"
                jac[j] = d1[0]
            final = _final_estimator(est, kind)
            if kind != "torch":
                agree = np.asarray(final.predict(t_sub)) == np.asarray(model.predict(block.frame.iloc[check]))
                if not agree.all():
                    return None, "final estimator on the transformed rows disagrees with the model"
    except Exception as exc:  # noqa: BLE001 - any failure means: no verified affine view
        return None, f"cannot verify the input transform ({type(exc).__name__}: {exc})"[:200]
    gradient = kind == "torch" or type(final).__name__ in GRADIENT_ESTIMATORS and \
        type(final).__module__.startswith("sklearn.")
    return AffineView(kind, t0, jac, gradient), (
        f"{kind} with affine input transform; final estimator {type(final).__name__}")


def _choose(requested: str, view: AffineView | None, why: str, role: str,
            key: str) -> tuple[str, str]:
    gradient = view is not None and view.gradient
    if requested == "auto":
        if gradient:
            return "pgd", f"gradients available ({why})"
        return "hopskipjump", f"no gradients ({why})"
    if requested in WHITE_BOX and not gradient:
        raise ConfigError(f"suites.adversarial.{key}: {requested} needs model gradients, but the "
                          f"{role} has none ({why}); use hopskipjump, boundary or auto")
    return requested, "named in the policy"


class AdversarialSuite(Suite):

    def panels(self, record: SuiteRecord[Any]) -> list[Panel]:
        return view.panels(record)
    name = "adversarial"
    settings_model = AdversarialSettings
    description = "Robust accuracy under ART attacks (white-box PGD or black-box HopSkipJump), vs the baseline."

    def __init__(self) -> None:
        self._prepared: dict[int, Prepared] = {}

    # -- planning ----------------------------------------------------------------------
    def prepare(self, ctx: SuiteContext) -> Prepared:
        from threadpoolctl import threadpool_limits

        key = id(ctx)
        if key not in self._prepared:
            with threadpool_limits(1):  # small batches: OpenMP threads only contend
                self._prepared[key] = self._prepare(ctx)
        return self._prepared[key]

    def _prepare(self, ctx: SuiteContext) -> Prepared:
        s: AdversarialSettings = ctx.settings
        schema = ctx.data.schema
        where = "suites.adversarial"
        if schema.task != "classification":
            raise ConfigError(f"{where}: the data's task is {schema.task}; the adversarial suite "
                              "certifies classifiers only (remove [suites.adversarial])")
        if s.attack == "boundary" and s.norm == "inf" or s.baseline_attack == "boundary" and s.norm == "inf":
            raise ConfigError(f"{where}.attack: the boundary attack is L2 only; set norm = \"2\"")
        for key, names in (("immutable", s.immutable), ("features", s.features or [])):
            for col in names:
                if col not in schema.features:
                    raise ConfigError(f"{where}.{key}: '{col}' is not a feature column")
        numeric = schema.numeric()
        if s.features is not None:
            bad = [c for c in s.features if c not in numeric]
            if bad:
                raise ConfigError(f"{where}.features: '{bad[0]}' is {schema.column(bad[0]).kind}; "
                                  "only numeric columns can be perturbed")
        wanted = [c for c in (s.features if s.features is not None else numeric)
                  if c not in set(s.immutable)]
        ref = ctx.data.reference
        notes = []
        columns, means, stds = [], [], []
        for col in wanted:
            values = pd.to_numeric(ref[col], errors="coerce").to_numpy(dtype=float)
            spread = float(np.nanstd(values)) if np.isfinite(values).any() else float("nan")
            if not (spread > 0 and math.isfinite(spread)):
                notes.append(f"'{col}' is constant on the reference data: not perturbed")
                continue
            columns.append(col)
            means.append(float(np.nanmean(values)))
            stds.append(spread)
        if not columns:
            raise ConfigError(f"{where}: no column can be perturbed (numeric features minus "
                              f"immutable: {', '.join(wanted) or 'none'})")
        ev = ctx.data.evaluation
        rng = np.random.default_rng(ctx.seed)
        n = min(s.sample_size, len(ev))
        positions = np.sort(rng.choice(len(ev), size=n, replace=False))
        frame = ev.iloc[positions][schema.features]
        raw0 = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        mean, std = np.asarray(means), np.asarray(stds)
        cols = [schema.column(c) for c in columns]
        raw_lo = np.array([c.min if c.min is not None else -np.inf for c in cols], dtype=float)
        raw_hi = np.array([c.max if c.max is not None else np.inf for c in cols], dtype=float)
        integer = np.array([pd.api.types.is_integer_dtype(ev[c].dtype)
                            or pd.api.types.is_integer_dtype(ref[c].dtype) for c in columns])
        space = AttackSpace(columns, mean, std, raw_lo, raw_hi, integer, s.norm)
        z0 = space.to_z(raw0)
        frozen = ~np.isfinite(z0)
        z0 = np.where(frozen, 0.0, z0)
        # The attack box (finite, standardised): the schema range, widened to the sample's values.
        ref_z = space.to_z(ref[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float))
        lo = np.where(np.isfinite(raw_lo), space.to_z(raw_lo), np.nanmin(ref_z, axis=0))
        hi = np.where(np.isfinite(raw_hi), space.to_z(raw_hi), np.nanmax(ref_z, axis=0))
        space.lo = np.fmin(lo, np.where(frozen, np.inf, z0).min(axis=0))
        space.hi = np.fmax(hi, np.where(frozen, -np.inf, z0).max(axis=0))
        block = Block(frame, z0, np.where(frozen, np.nan, raw0), frozen)
        finite = np.all(np.isfinite(ref_z), axis=1)
        pool = ref_z[finite]
        donors = pool[np.sort(rng.choice(len(pool), size=min(512, len(pool)), replace=False))] \
            if len(pool) else np.zeros((0, space.d))
        y = ev.iloc[positions][schema.target].to_numpy()
        numeric_only = all(c.kind == "numeric" for c in schema.columns)
        plans: dict[str, ModelPlan] = {}
        cand_view, cand_why = affine_view(ctx.candidate, space, block, self._features(ctx.candidate, ctx),
                                          numeric_only)
        attack, reason = _choose(s.attack, cand_view, cand_why, "candidate", "attack")
        plans["candidate"] = ModelPlan("candidate", attack, _kind(attack), reason, cand_view,
                                       s.fast_path and cand_view is not None)
        if ctx.baseline is not None:
            view, why = affine_view(ctx.baseline, space, block, self._features(ctx.baseline, ctx),
                                    numeric_only)
            if s.baseline_attack == "same":
                if attack in BLACK_BOX or (view is not None and view.gradient):
                    b_attack, b_reason = attack, "same attack as the candidate"
                else:
                    b_attack, b_reason = _choose("auto", view, why, "baseline", "baseline_attack")
                    b_reason = f"candidate's {attack} impossible here: {b_reason}"
            else:
                b_attack, b_reason = _choose(s.baseline_attack, view, why, "baseline", "baseline_attack")
            plans["baseline"] = ModelPlan("baseline", b_attack, _kind(b_attack), b_reason, view,
                                          s.fast_path and view is not None)
        return Prepared(space, positions, block, y, donors, plans, notes)

    @staticmethod
    def _features(model: Any, ctx: SuiteContext) -> list[str]:
        return list(model.features) if model.features else ctx.data.schema.features

    def checks(self, ctx: SuiteContext) -> list[CheckSpec]:
        s: AdversarialSettings = ctx.settings
        prep = self.prepare(ctx)
        specs = [
            self.check("clean_accuracy", self._clean_check(ctx),
                       description="candidate accuracy on the attacked sample before any attack"),
            self.check("robust_accuracy", self._robust_check(ctx),
                       description=f"candidate accuracy under attack within epsilon={s.epsilon} "
                                   f"(L{s.norm}, feature standard deviations)"),
            self.check("attack_success_rate", self._success_check(ctx),
                       description="share of correctly classified rows the attack flips within epsilon"),
        ]
        if prep.plans["candidate"].kind == "black-box":
            specs.append(self.check("min_perturbation", self._perturbation_check(ctx),
                                    description="distribution of the smallest adversarial perturbation "
                                                "found per row (black-box attack)"))
        if ctx.baseline is not None:
            specs.append(self.check("regression", self._regression_check(ctx),
                                    description=f"candidate robust accuracy vs the baseline's, same rows "
                                                f"and threat model (margin {s.margin})"))
        return specs

    # -- the work ------------------------------------------------------------------------
    def run(self, ctx: SuiteContext) -> AdversarialResult:
        s: AdversarialSettings = ctx.settings
        prep = self.prepare(ctx)
        models = {"candidate": ctx.candidate, "baseline": ctx.baseline}
        grid = sorted({round(s.epsilon * f, 12) for f in s.curve} | {s.epsilon})
        n = len(prep.positions)
        seeds = np.array([(ctx.seed * 1_000_003 + int(pos) * 7919) % (2**32 - 1) for pos in prep.positions],
                         dtype=np.int64)
        start_wall = time.time()
        jobs: list[ShardJob] = []
        labels: dict[str, tuple[list[Any], np.ndarray]] = {}
        for role, plan in prep.plans.items():
            model = models[role]
            assert model is not None
            classes = list(model.classes) if model.classes else list(ctx.data.schema.classes or [])
            index = {c: i for i, c in enumerate(classes)}
            true_idx = np.array([index.get(_py(v), -1) for v in prep.y], dtype=np.int64)
            labels[role] = (classes, true_idx)
            params = AttackParams(plan.attack, s.norm, s.epsilon, grid, s.pgd_steps, s.bb_iterations,
                                  s.bb_init_evals, s.bb_max_evals, s.init_candidates, s.max_queries)
            for shard, lo in enumerate(range(0, n, s.shard_size)):
                rows = np.arange(lo, min(n, lo + s.shard_size))
                view = None
                if plan.view is not None:
                    view = dataclasses.replace(plan.view, T0=plan.view.T0[rows])
                jobs.append(ShardJob(
                    role=role, shard=shard, positions=rows, block=prep.block.take(rows),
                    true_idx=true_idx[rows], classes=classes, space=prep.space, params=params,
                    seeds=seeds[rows], donors=prep.donors, view=view, fast=plan.fast,
                    deadline=0.0))
        outcomes, executor, workers = self._execute(ctx, jobs, models, start_wall)
        results = {role: _merge(role, plan, [o for o in outcomes if o.role == role], n, grid, s,
                                *labels[role])
                   for role, plan in prep.plans.items()}
        result = AdversarialResult(
            epsilon=s.epsilon, norm=s.norm, grid=grid, seed=ctx.seed, sample_size=n,
            positions=prep.positions, columns=prep.space.columns, models=results,
            executor=executor, workers=workers, shards=len({j.shard for j in jobs}),
            notes=prep.notes)
        self._write_artifacts(ctx, prep, result, models)
        return result

    def _execute(self, ctx: SuiteContext, jobs: list[ShardJob], models: dict[str, Any],
                 start_wall: float) -> tuple[list[ShardOutcome], str, int]:
        s: AdversarialSettings = ctx.settings
        use_ray = s.executor == "ray" or (s.executor == "auto" and _ray_available())
        total = len(jobs)
        if not use_ray:
            deadline = time.time() + s.max_seconds
            done_jobs: list[ShardOutcome] = []
            for k, job in enumerate(jobs):
                job.deadline = deadline
                done_jobs.append(attack_shard(job, models[job.role]))
                ctx.progress(f"adversarial: {k + 1}/{total} shards attacked (in process)")
            return done_jobs, "inprocess", 1
        from certify.raycluster import ensure_ray

        ray = ensure_ray()
        remote = ray.remote(num_cpus=1, max_retries=0)(attack_shard)
        refs: dict[str, Any] = {}
        for role in {j.role for j in jobs}:
            handle = _ship(models[role], ctx, role)
            refs[role] = ray.put(handle) if not isinstance(handle, tuple) else None
            if isinstance(handle, tuple):
                for j in jobs:
                    if j.role == role:
                        j.model_spec = handle
        workers = s.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        deadline = time.time() + s.max_seconds
        pending: dict[Any, ShardJob] = {}
        queue = list(jobs)
        outcomes: list[ShardOutcome] = []
        while queue or pending:
            while queue and len(pending) < workers:
                job = queue.pop(0)
                job.deadline = deadline
                pending[remote.remote(job, refs[job.role])] = job
            left = deadline + RAY_GRACE_S - time.time()
            done, _ = ray.wait(list(pending), num_returns=1, timeout=max(0.0, left))
            if not done:
                for ref, job in pending.items():
                    ray.cancel(ref, force=True)
                    outcomes.append(_timed_out(job))
                for job in queue:
                    outcomes.append(_timed_out(job))
                break
            for ref in done:
                pending.pop(ref)
                outcomes.append(ray.get(ref))
                ctx.progress(f"adversarial: {len(outcomes)}/{total} shards attacked (Ray)")
        return outcomes, "ray", workers

    def _write_artifacts(self, ctx: SuiteContext, prep: Prepared, result: AdversarialResult,
                         models: dict[str, Any]) -> None:
        s: AdversarialSettings = ctx.settings
        ev_index = ctx.data.evaluation.index[prep.positions]
        examples: dict[str, list[dict[str, Any]]] = {}
        rows_out: dict[str, dict[str, list[Any]]] = {}
        for role, res in result.models.items():
            classes = res.classes

            def label(k: int, classes: list[Any] = classes) -> Any:
                return _py(classes[k]) if 0 <= k < len(classes) else None
            picked = [i for i in np.argsort(res.example_norm, kind="stable")
                      if res.example_idx[i] >= 0][: s.examples]
            rows: list[dict[str, Any]] = []
            for i in picked:
                original = {k: _py(v) for k, v in prep.block.frame.iloc[i].items()}
                adversarial = dict(original)
                changed = {}
                for j, col in enumerate(prep.space.columns):
                    value = res.example_raw[i, j]
                    if np.isfinite(value) and not math.isclose(value, float(original[col]), abs_tol=0.0):
                        new = int(round(value)) if prep.space.integer[j] else float(value)
                        adversarial[col] = new
                        changed[col] = {"from": original[col], "to": new,
                                        "std_units": float((value - float(original[col])) / prep.space.std[j])}
                sensitive = set(ctx.sensitive_columns)
                for col in list(changed):
                    if col in sensitive:
                        changed[col] = {"from": ctx.mask_record({col: changed[col]["from"]})[col],
                                        "to": ctx.mask_record({col: changed[col]["to"]})[col],
                                        "std_units": changed[col]["std_units"]}
                rows.append({
                    "row": _py(ev_index[i]), "true_label": _py(prep.y[i]),
                    "original_prediction": label(int(res.clean_idx[i])),
                    "adversarial_prediction": label(int(res.example_idx[i])),
                    "perturbation": float(res.example_norm[i]), "changed": changed,
                    "original": ctx.mask_record(original), "adversarial": ctx.mask_record(adversarial),
                })
            examples[role] = rows
            # Columnar: one list per field, in sample order.
            rows_out[role] = {
                "row": [_py(v) for v in ev_index], "status": list(res.status),
                "true_label": [_py(v) for v in prep.y],
                "clean_prediction": [label(int(k)) for k in res.clean_idx],
                "adversarial_prediction": [label(int(k)) for k in res.example_idx],
                "min_perturbation": [float(v) if np.isfinite(v) else None for v in res.min_norm],
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

    # -- checks --------------------------------------------------------------------------
    def _base_metrics(self, result: AdversarialResult) -> dict[str, Any]:
        return {"epsilon": result.epsilon, "norm": result.norm, "sample_size": result.sample_size,
                "seed": result.seed, "features": result.columns, "executor": result.executor,
                "workers": result.workers, "shards": result.shards}

    def _clean_check(self, ctx: SuiteContext) -> Any:
        s: AdversarialSettings = ctx.settings

        def check(result: AdversarialResult) -> Outcome:
            c = result.models["candidate"]
            metrics = {**self._base_metrics(result), "candidate": c.clean_accuracy,
                       "baseline": _get(result, "baseline", "clean_accuracy")}
            if c.clean_accuracy is None or not math.isfinite(c.clean_accuracy):
                why = f": {c.budget_reason}" if c.budget_reason else ""
                return Outcome(status=Status.ERRORED, metrics=metrics,
                               reason=f"no clean accuracy was measured{why}")
            if "clean_accuracy" in s.limits():
                return Outcome.from_comparisons(
                    [compare("clean_accuracy", c.clean_accuracy, s.limits()["clean_accuracy"],
                             Direction.MIN)], subject=f"clean accuracy on {result.sample_size} rows",
                    metrics=metrics)
            return Outcome(status=Status.PASSED, metrics=metrics,
                           reason=f"clean accuracy {c.clean_accuracy:.4f} on {result.sample_size} rows "
                                  "(no threshold set)")

        return check

    def _incomplete(self, result: AdversarialResult, roles: tuple[str, ...],
                    metrics: dict[str, Any]) -> Outcome | None:
        bad = [result.models[r] for r in roles if r in result.models and result.models[r].budget_reason]
        if not bad:
            return None
        reason = "; ".join(f"{m.role} attack incomplete: {m.budget_reason}" for m in bad)
        return Outcome(status=Status.ERRORED, reason=reason, metrics=metrics)

    def _robust_check(self, ctx: SuiteContext) -> Any:
        s: AdversarialSettings = ctx.settings

        def check(result: AdversarialResult) -> Outcome:
            c = result.models["candidate"]
            metrics = {**self._base_metrics(result), "candidate": c.robust_accuracy,
                       "baseline": _get(result, "baseline", "robust_accuracy"),
                       "attack": c.attack, "completed_rows": c.completed, "attacked_rows": c.attacked,
                       "fast_path": c.fast, "fast_path_mismatches": c.fast_mismatches,
                       "notes": result.notes,
                       "curve": {"epsilons": result.grid, "candidate": c.curve,
                                 "baseline": _get(result, "baseline", "curve")}}
            arts = list(result.artifacts)
            incomplete = self._incomplete(result, ("candidate",), metrics)
            if incomplete is not None:
                incomplete.artifacts = arts
                return incomplete
            subject = f"robust accuracy {c.robust_accuracy:.4f} at epsilon {s.epsilon} ({c.attack})"
            if "robust_accuracy" in s.limits():
                return Outcome.from_comparisons(
                    [compare("robust_accuracy", c.robust_accuracy, s.limits()["robust_accuracy"],
                             Direction.MIN)], subject=subject, metrics=metrics, artifacts=arts)
            if ctx.baseline is None:
                return Outcome(status=Status.ERRORED, metrics=metrics, artifacts=arts,
                               reason=f"{subject}: no baseline and no thresholds.robust_accuracy in "
                                      "[suites.adversarial]: nothing to certify robustness against")
            return Outcome(status=Status.PASSED, metrics=metrics, artifacts=arts,
                           reason=f"{subject}; judged against the baseline by adversarial::regression")

        return check

    def _success_check(self, ctx: SuiteContext) -> Any:
        s: AdversarialSettings = ctx.settings

        def check(result: AdversarialResult) -> Outcome:
            c = result.models["candidate"]
            metrics = {**self._base_metrics(result), "candidate": c.success_rate,
                       "baseline": _get(result, "baseline", "success_rate"), "attack": c.attack,
                       "flipped_rows": c.flipped_count, "correct_rows": c.correct_completed}
            incomplete = self._incomplete(result, ("candidate",), metrics)
            if incomplete is not None:
                return incomplete
            subject = f"{c.flipped_count} of {c.correct_completed} correct rows flipped ({c.attack})"
            if "attack_success_rate" in s.limits():
                return Outcome.from_comparisons(
                    [compare("attack_success_rate", c.success_rate, s.limits()["attack_success_rate"],
                             Direction.MAX)], subject=subject, metrics=metrics,
                    artifacts=list(result.artifacts))
            return Outcome(status=Status.PASSED, metrics=metrics,
                           reason=f"{subject} (no threshold set)")

        return check

    def _perturbation_check(self, ctx: SuiteContext) -> Any:
        s: AdversarialSettings = ctx.settings

        def check(result: AdversarialResult) -> Outcome:
            c = result.models["candidate"]
            dist = c.perturbation()
            metrics = {**self._base_metrics(result), "attack": c.attack,
                       "median": dist["quantiles"]["p50"], "quantiles": dist["quantiles"],
                       "not_found": dist["not_found"],
                       "baseline_quantiles": (result.models["baseline"].perturbation()["quantiles"]
                                              if "baseline" in result.models
                                              and result.models["baseline"].kind == "black-box" else None)}
            incomplete = self._incomplete(result, ("candidate",), metrics)
            if incomplete is not None:
                return incomplete
            median = dist["quantiles"]["p50"]
            shown = "none found" if median is None else f"{median:.4g}"
            subject = f"median minimal perturbation {shown} (std units, L{result.norm})"
            if "min_perturbation_median" in s.limits():
                value = float("inf") if median is None else median
                return Outcome.from_comparisons(
                    [compare("min_perturbation_median", value, s.limits()["min_perturbation_median"],
                             Direction.MIN)], subject=subject, metrics=metrics)
            return Outcome(status=Status.PASSED, metrics=metrics, reason=f"{subject} (no threshold set)")

        return check

    def _regression_check(self, ctx: SuiteContext) -> Any:
        s: AdversarialSettings = ctx.settings

        def check(result: AdversarialResult) -> Outcome:
            c, b = result.models["candidate"], result.models["baseline"]
            diff = c.robust_accuracy - b.robust_accuracy
            metrics = {**self._base_metrics(result), "candidate": c.robust_accuracy,
                       "baseline": b.robust_accuracy, "diff": diff, "margin": s.margin,
                       "candidate_attack": c.attack, "baseline_attack": b.attack,
                       "same_attack": c.attack == b.attack}
            incomplete = self._incomplete(result, ("candidate", "baseline"), metrics)
            if incomplete is not None:
                return incomplete
            return Outcome.from_comparisons(
                [compare("robust_accuracy_diff", diff, Threshold(fail=-s.margin), Direction.MIN)],
                subject=f"robust accuracy {c.robust_accuracy:.4f} vs baseline {b.robust_accuracy:.4f} "
                        f"({c.attack} / {b.attack})", metrics=metrics)

        return check

    def report_data(self, ctx: SuiteContext, result: AdversarialResult) -> dict[str, Any]:
        base = result.models.get("baseline")
        return {
            "epsilon": result.epsilon, "norm": result.norm, "sample_size": result.sample_size,
            "seed": result.seed, "features": result.columns,
            "attacks": {r: {"attack": m.attack, "kind": m.kind, "fast_path": m.fast, "reason": m.reason,
                            "fast_path_mismatches": m.fast_mismatches}
                        for r, m in result.models.items()},
            "notes": result.notes,
            "curve": {"epsilons": result.grid, "candidate": result.models["candidate"].curve,
                      "baseline": base.curve if base else None},
            "metrics": {r: {"clean_accuracy": m.clean_accuracy, "robust_accuracy": m.robust_accuracy,
                            "attack_success_rate": m.success_rate, "rows": result.sample_size,
                            "completed": m.completed, "attacked": m.attacked}
                        for r, m in result.models.items()},
            "perturbation": {r: (m.perturbation() if m.kind == "black-box" else None)
                             for r, m in result.models.items()},
            "examples": result.examples.get("candidate", []),
            "budget": {r: {"status": "exhausted" if m.budget_reason else "ok", "reason": m.budget_reason,
                           "queries_total": int(m.queries.sum()), "elapsed_s": round(m.elapsed_s, 3)}
                       for r, m in result.models.items()},
        }


def _kind(attack: str) -> str:
    return "white-box" if attack in WHITE_BOX else "black-box"


def _ray_available() -> bool:
    """For ``executor = "auto"``: a cluster named by RAY_ADDRESS, or a Ray already running in this
    process with a CPU free (another suite's actors may hold them all)."""
    if os.environ.get("RAY_ADDRESS"):
        return True
    try:
        import sys

        ray = sys.modules.get("ray")
        return bool(ray is not None and ray.is_initialized()
                    and ray.available_resources().get("CPU", 0) >= 1)
    except Exception:  # noqa: BLE001 - no usable Ray: run in process
        return False


def _ship(model: Any, ctx: SuiteContext, role: str) -> Any:
    """The model itself when it pickles (scikit-learn), else how to load it again in a worker."""
    from ray import cloudpickle  # the serialiser Ray itself will use for the model

    try:
        cloudpickle.dumps(model)
        return model
    except Exception:  # noqa: BLE001 - e.g. an HTTP client: reload from the policy in the worker
        spec = ctx.policy.candidate if role == "candidate" else ctx.policy.baseline
        return (spec, ctx.policy.base_dir, role, model.digest)


def _timed_out(job: ShardJob) -> ShardOutcome:
    n = len(job.block)
    return ShardOutcome(role=job.role, shard=job.shard, positions=job.positions, status=["time"] * n,
                        clean_idx=np.full(n, -1), queries=np.zeros(n, dtype=np.int64),
                        min_norm=np.full(n, np.inf), flipped=np.zeros((n, len(job.params.grid)), dtype=bool),
                        example_raw=np.full((n, job.space.d), np.nan), example_idx=np.full(n, -1),
                        example_norm=np.full(n, np.nan), fast_mismatches=0, elapsed_s=0.0)


# ---------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------
@dataclasses.dataclass
class ModelAttack:
    """One model's attack over the whole sample, merged in sample order."""

    role: str
    attack: str
    kind: str
    reason: str
    fast: bool
    classes: list[Any]
    status: list[str]
    clean_idx: np.ndarray
    true_idx: np.ndarray
    queries: np.ndarray
    min_norm: np.ndarray
    flipped: np.ndarray
    example_raw: np.ndarray
    example_idx: np.ndarray
    example_norm: np.ndarray
    fast_mismatches: int
    elapsed_s: float
    grid: list[float]
    epsilon: float
    max_queries: int
    max_seconds: float

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

    @property
    def policy_k(self) -> int:
        return int(np.argmin(np.abs(np.asarray(self.grid) - self.epsilon)))

    @property
    def robust_accuracy(self) -> float:
        return self.robust_at(self.policy_k)

    @property
    def curve(self) -> list[float | None]:
        return [None if math.isnan(v) else v for v in (self.robust_at(k) for k in range(len(self.grid)))]

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

    def perturbation(self) -> dict[str, Any]:
        rows = self.correct & self.completed_mask
        values = self.min_norm[rows]
        finite = np.sort(values[np.isfinite(values)])
        quantiles: dict[str, float | None] = {}
        for name, q in (("p10", 0.1), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p90", 0.9)):
            # Rows with no adversarial found count as +infinity (they sit above every quantile).
            v = float(np.quantile(values, q, method="inverted_cdf")) if len(values) else float("nan")
            quantiles[name] = v if math.isfinite(v) else None
        return {"values": [float(v) for v in finite], "not_found": int(np.sum(~np.isfinite(values))),
                "quantiles": quantiles}

    @property
    def budget_reason(self) -> str | None:
        queries = sum(1 for st in self.status if st == "queries")
        timed = sum(1 for st in self.status if st == "time")
        parts = []
        if queries:
            parts.append(f"query budget (max_queries={self.max_queries} per row) exhausted on "
                         f"{queries} row(s)")
        if timed:
            parts.append(f"wall-time budget (max_seconds={self.max_seconds:g}) exhausted with "
                         f"{timed} row(s) not attacked")
        if not parts:
            return None
        return "; ".join(parts) + f"; completed {self.completed} of {len(self.status)} rows"


def _merge(role: str, plan: ModelPlan, outcomes: list[ShardOutcome], n: int, grid: list[float],
           s: AdversarialSettings, classes: list[Any], true_idx: np.ndarray) -> ModelAttack:
    outcomes = sorted(outcomes, key=lambda o: o.shard)
    d = outcomes[0].example_raw.shape[1] if outcomes else 0
    status = ["not_attacked"] * n
    clean = np.full(n, -1)
    queries = np.zeros(n, dtype=np.int64)
    min_norm = np.full(n, np.inf)
    flipped = np.zeros((n, len(grid)), dtype=bool)
    ex_raw, ex_idx, ex_norm = np.full((n, d), np.nan), np.full(n, -1), np.full(n, np.nan)
    for o in outcomes:
        p = o.positions
        for r, i in enumerate(p):
            status[i] = o.status[r]
        clean[p], queries[p], min_norm[p], flipped[p] = o.clean_idx, o.queries, o.min_norm, o.flipped
        ex_raw[p], ex_idx[p], ex_norm[p] = o.example_raw, o.example_idx, o.example_norm
    return ModelAttack(role=role, attack=plan.attack, kind=plan.kind, reason=plan.reason, fast=plan.fast,
                       classes=classes, status=status, clean_idx=clean, true_idx=true_idx,
                       queries=queries, min_norm=min_norm, flipped=flipped, example_raw=ex_raw,
                       example_idx=ex_idx, example_norm=ex_norm,
                       fast_mismatches=sum(o.fast_mismatches for o in outcomes),
                       elapsed_s=sum(o.elapsed_s for o in outcomes), grid=grid,
                       epsilon=s.epsilon, max_queries=s.max_queries, max_seconds=s.max_seconds)


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
    examples: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    artifacts: list[Artifact] = dataclasses.field(default_factory=list)


def _get(result: AdversarialResult, role: str, attr: str) -> Any:
    model = result.models.get(role)
    return getattr(model, attr) if model is not None else None


__all__ = ["AdversarialSettings", "AdversarialSuite", "AttackSpace", "attack_shard"]
