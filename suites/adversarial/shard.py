"""The attack of one shard of rows with one model: the unit of work of a Ray task (or of the
in-process loop). Deterministic given the job: every row's attack is seeded from its own seed."""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Any, Self

import numpy as np
import pandas as pd

from certify.models import Model
from certify.raycluster import ModelReload, received_model
from certify.suites.adversarial.estimators import art
from certify.suites.adversarial.lockstep import candidate_pools, hop_skip_jump, initial_points
from certify.suites.adversarial.querier import BudgetExhausted, Querier
from certify.suites.adversarial.settings import WHITE_BOX
from certify.suites.adversarial.space import AffineView, AttackSpace, Block


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
    #: HopSkipJump in lock-step over a shard's rows (:mod:`.lockstep`); False: ART's, row by row.
    batched: bool = True


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


@dataclasses.dataclass(kw_only=True)
class RowOutcomes:
    """Per-row outcomes of one model's attack, in row order (a shard's rows, or the sample's)."""

    status: list[str]  # ok | misclassified | queries | time | halted | not_attacked
    clean_idx: np.ndarray
    queries: np.ndarray
    min_norm: np.ndarray
    flipped: np.ndarray  # (rows, len(grid)) bool
    example_raw: np.ndarray  # (rows, d) perturbed values at the example point (nan: none)
    example_idx: np.ndarray  # adversarial class at the example point (-1: none)
    example_norm: np.ndarray
    fast_mismatches: int = 0
    elapsed_s: float = 0.0
    #: Why the attack stopped early, in words ("" when it did not).
    halt: str = ""

    @classmethod
    def blank(cls, n: int, epsilons: int, d: int, status: str, /, **fields: Any) -> Self:
        """``n`` rows with nothing measured yet, all in ``status`` (``epsilons`` attacked, ``d``
        perturbable columns); ``fields``: the subclass's own."""
        return cls(status=[status] * n, clean_idx=np.full(n, -1), queries=np.zeros(n, dtype=np.int64),
                   min_norm=np.full(n, np.inf), flipped=np.zeros((n, epsilons), dtype=bool),
                   example_raw=np.full((n, d), np.nan), example_idx=np.full(n, -1),
                   example_norm=np.full(n, np.nan), **fields)


@dataclasses.dataclass(kw_only=True)
class ShardOutcome(RowOutcomes):
    role: str
    shard: int
    positions: np.ndarray

    @classmethod
    def of(cls, job: ShardJob, status: str) -> ShardOutcome:
        """The job's rows, none attacked yet (all in ``status``)."""
        return cls.blank(len(job.block), len(job.params.grid), job.space.d, status, role=job.role,
                         shard=job.shard, positions=job.positions)


def bundle(jobs: list[ShardJob]) -> ShardJob:
    """Shards of one model as one job, their rows attacked together (fewer, larger model calls;
    the same numbers, since every row's attack is its own); :func:`split` cuts its outcome back."""
    first = jobs[0]
    if len(jobs) == 1:
        return first
    view = first.view
    if view is not None:
        view = dataclasses.replace(view, T0=np.concatenate([j.view.T0 for j in jobs
                                                           if j.view is not None]))
    block = Block(pd.concat([j.block.frame for j in jobs]),
                  *(np.concatenate([getattr(j.block, k) for j in jobs])
                    for k in ("z0", "raw0", "frozen")))
    return dataclasses.replace(
        first, positions=np.concatenate([j.positions for j in jobs]), block=block,
        true_idx=np.concatenate([j.true_idx for j in jobs]),
        seeds=np.concatenate([j.seeds for j in jobs]), view=view)


def split(out: ShardOutcome, jobs: list[ShardJob]) -> list[ShardOutcome]:
    """The outcome of a :func:`bundle` of ``jobs``, one per job (worker time shared by rows)."""
    if len(jobs) == 1:
        return [out]
    pieces, lo, n = [], 0, len(out.status)
    for k, job in enumerate(jobs):
        rows = slice(lo, lo + len(job.block))
        lo = rows.stop
        pieces.append(ShardOutcome(
            status=out.status[rows], clean_idx=out.clean_idx[rows], queries=out.queries[rows],
            min_norm=out.min_norm[rows], flipped=out.flipped[rows],
            example_raw=out.example_raw[rows], example_idx=out.example_idx[rows],
            example_norm=out.example_norm[rows],
            fast_mismatches=out.fast_mismatches if k == 0 else 0,
            elapsed_s=out.elapsed_s * len(job.block) / max(n, 1), halt=out.halt,
            role=job.role, shard=job.shard, positions=job.positions))
    return pieces


def attack_shard(job: ShardJob, model: Model | ModelReload) -> ShardOutcome:
    """Attack one shard of rows with one model (as :func:`ship_model` sent it, or the model).
    Deterministic given the job (seeded per row); numpy's global generator is left as it was."""
    from threadpoolctl import threadpool_limits

    state = np.random.get_state()
    start = time.perf_counter()
    try:
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _attack_shard(job, received_model(model), start)
    finally:
        np.random.set_state(state)


def _attack_shard(job: ShardJob, model: Model, start: float) -> ShardOutcome:
    p = job.params
    grid = np.asarray(p.grid)
    if time.time() > job.deadline:
        return ShardOutcome.of(job, "time")
    q = Querier(model, job.space, job.block, job.classes, job.view, job.fast, p.max_queries,
                job.deadline)
    out = ShardOutcome.of(job, "not_attacked")
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
    lib, p = art(), job.params
    sub = job.block.take(todo)
    sub_view = dataclasses.replace(job.view, T0=job.view.T0[todo]) if job.view is not None else None
    q = Querier(q_all.model, job.space, sub, job.classes, sub_view, job.fast, p.max_queries,
                job.deadline)
    q.set_clean(job.true_idx[todo])
    estimator = lib.tabular_gradient_classifier(
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
                attack = lib.fast_gradient(estimator, norm=norm, eps=float(eps),
                                           batch_size=len(todo))
            else:
                attack = lib.pgd(
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
    """A plausible adversarial starting point for row ``i`` (one or two queries): the nearest
    candidate of :func:`.lockstep.candidate_pools` the model classifies differently. ART's own
    initialisation (an unseeded generator) is never used."""
    for pool, zp in candidate_pools(job, i):
        if not len(pool):
            continue
        hits = np.flatnonzero(q.labels(pool) != clean)
        if len(hits):
            return pool[hits[np.argmin(job.space.distance(zp[hits], job.block.z0[i]))]]
    return None


def _black_box(job: ShardJob, q: Querier, todo: np.ndarray, grid: np.ndarray,
               out: ShardOutcome) -> None:
    b, space = job.block, job.space
    if job.params.attack == "hopskipjump" and job.params.batched:
        adv_points = _lock_step(job, q, todo, out)
    else:
        adv_points = _row_by_row(job, q, todo, out)
    found = sorted(adv_points)
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


def _closer(job: ShardJob, i: int, adv: np.ndarray, init: np.ndarray) -> np.ndarray:
    """The attack's point of row ``i``, or its starting point when the attack did not improve on
    it (both as plausible coordinates)."""
    b, space = job.block, job.space
    own = (b.z0[i : i + 1], b.raw0[i : i + 1], b.frozen[i : i + 1])
    zp, _ = space.plausible(adv[None], *own)
    start, _ = space.plausible(init[None], *own)
    if space.distance(zp[0], b.z0[i]) > space.distance(start[0], b.z0[i]):
        return np.asarray(start[0])
    return np.asarray(zp[0])


def _lock_step(job: ShardJob, q: Querier, todo: np.ndarray, out: ShardOutcome) -> dict[int, np.ndarray]:
    """HopSkipJump of all rows ``todo`` at once (:mod:`.lockstep`): their adversarial points."""
    try:
        init, spent = initial_points(job, q, todo, out.clean_idx)
    except BudgetExhausted as hit:
        for i in todo:
            out.status[i] = hit.kind
        out.halt = hit.detail
        return {}
    has = ~np.isnan(init).any(axis=1) & ~spent
    for k, i in enumerate(todo):
        out.status[i] = "queries" if spent[k] else "ok"  # no start point: robust within the budget
    rows = todo[has]
    if not len(rows):
        return {}
    try:
        final, over = hop_skip_jump(job, q, rows, init[has].astype(float), out.clean_idx)
    except BudgetExhausted as hit:
        for i in rows:
            out.status[i] = hit.kind
        out.halt = hit.detail
        return {}
    adv_points: dict[int, np.ndarray] = {}
    for k, i in enumerate(rows):
        if over[k]:
            out.status[i] = "queries"
        else:
            adv_points[int(i)] = _closer(job, int(i), final[k], init[has][k])
    return adv_points


def _row_by_row(job: ShardJob, q: Querier, todo: np.ndarray, out: ShardOutcome) -> dict[int, np.ndarray]:
    """ART's attack (HopSkipJump or Boundary), one row after the other: their adversarial points."""
    lib, p, b, space = art(), job.params, job.block, job.space
    clip = (space.lo.astype(np.float32), space.hi.astype(np.float32))
    classifier = lib.black_box_classifier(q.onehot, (space.d,), len(job.classes), clip_values=clip)
    norm: Any = np.inf if p.norm == "inf" else 2
    if p.attack == "hopskipjump":
        attack = lib.hop_skip_jump(classifier, batch_size=1 << 16, targeted=False, norm=norm,
                                   max_iter=p.bb_iterations, max_eval=max(p.bb_max_evals, p.bb_init_evals),
                                   init_eval=p.bb_init_evals, init_size=1, verbose=False)
    else:
        attack = lib.boundary(classifier, batch_size=1 << 16, targeted=False,
                              max_iter=p.bb_iterations * 10, num_trial=10, init_size=1, verbose=False)
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
            adv_points[int(i)] = _closer(job, int(i), adv[0], init)
            out.status[i] = "ok"
        except BudgetExhausted as hit:
            out.status[i] = hit.kind
    q.row = None
    return adv_points
