"""The expensive work, callable without pytest: cut the sample into fixed shards, attack every
shard of every model (in this process or as Ray tasks), merge the outcomes in sample order and
write the artifacts. Every row's attack is seeded from (policy seed, row position), so the
numbers do not depend on the executor or the number of workers."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from certify.models import Model
from certify.raycluster import ensure_ray, ray_available, run_bounded, ship_model
from certify.suite import SuiteContext
from certify.suites.adversarial import probe
from certify.suites.adversarial.artifacts import write_artifacts
from certify.suites.adversarial.plan import Prepared
from certify.suites.adversarial.results import AdversarialResult, merge, py
from certify.suites.adversarial.settings import AdversarialSettings
from certify.suites.adversarial.shard import (
    AttackParams,
    ShardJob,
    ShardOutcome,
    attack_shard,
    bundle,
    split,
)

#: Seconds a Ray run may overshoot max_seconds (task start-up, imports) before it is cancelled.
RAY_GRACE_S = 60.0


def epsilon_grid(s: AdversarialSettings) -> list[float]:
    """The epsilons attacked: the policy's, and its multiples of the report curve."""
    return sorted({round(s.epsilon * f, 12) for f in s.curve} | {s.epsilon})


def row_seeds(seed: int, positions: np.ndarray) -> np.ndarray:
    """One seed per sampled row, from the policy seed and the row's evaluation position."""
    return np.array([(seed * 1_000_003 + int(pos) * 7919) % (2**32 - 1) for pos in positions],
                    dtype=np.int64)


def run(ctx: SuiteContext[AdversarialSettings], prep: Prepared, *,
        batched: bool = True) -> AdversarialResult:
    """Attack the candidate (and the baseline) as planned in ``prep``; ``batched=False`` runs
    HopSkipJump as ART does, row by row (the reference the benchmark compares with)."""
    s = ctx.settings
    started = time.perf_counter()
    models = _models(ctx)
    grid = epsilon_grid(s)
    n = len(prep.positions)
    seeds = row_seeds(ctx.seed, prep.positions)
    halts = _probe(ctx, prep, models)
    jobs: list[ShardJob] = []
    labels: dict[str, tuple[list[Any], np.ndarray]] = {}
    for role, plan in prep.plans.items():
        model = models[role]
        classes = list(model.classes) if model.classes else list(ctx.data.schema.classes or [])
        index = {c: i for i, c in enumerate(classes)}
        true_idx = np.array([index.get(py(v), -1) for v in prep.y], dtype=np.int64)
        labels[role] = (classes, true_idx)
        if role in halts:
            continue
        params = AttackParams(plan.attack, s.norm, s.epsilon, grid, s.pgd_steps, s.bb_iterations,
                              s.bb_init_evals, s.bb_max_evals, s.init_candidates, s.max_queries,
                              batched)
        for shard, lo in enumerate(range(0, n, s.shard_size)):
            rows = np.arange(lo, min(n, lo + s.shard_size))
            view = None
            if plan.view is not None:
                view = dataclasses.replace(plan.view, T0=plan.view.T0[rows])
            jobs.append(ShardJob(
                role=role, shard=shard, positions=rows, block=prep.block.take(rows),
                true_idx=true_idx[rows], classes=classes, space=prep.space, params=params,
                seeds=seeds[rows], donors=prep.donors, view=view, fast=plan.fast, deadline=0.0))
    outcomes: list[ShardOutcome] = []
    if s.executor == "ray" or (s.executor == "auto" and ray_available()):
        executor, workers = "ray", s.workers or 1
        if jobs:
            outcomes, workers = _on_ray(ctx, jobs, models)
    else:
        executor, workers = "inprocess", 1
        outcomes = _in_process(ctx, jobs, models, batched)
    results = {role: merge(plan, [o for o in outcomes if o.role == role], n, grid, s,
                           *labels[role], halt=halts.get(role))
               for role, plan in prep.plans.items()}
    result = AdversarialResult(
        epsilon=s.epsilon, norm=s.norm, grid=grid, seed=ctx.seed, sample_size=n,
        positions=prep.positions, columns=prep.space.columns, models=results,
        executor=executor, workers=workers, shards=-(-n // s.shard_size), notes=prep.notes,
        wall_s=time.perf_counter() - started, max_seconds=s.max_seconds)
    write_artifacts(ctx, prep, result)
    return result


def _probe(ctx: SuiteContext[AdversarialSettings], prep: Prepared,
           models: dict[str, Model]) -> dict[str, str]:
    """Why a model is not attacked (:mod:`.probe`: noisy answers, slow calls), by role. When the
    candidate is unfit the suite stops: the baseline is not attacked either."""
    s = ctx.settings
    halts: dict[str, str] = {}
    for role, plan in prep.plans.items():
        if "candidate" in halts:
            halts[role] = "not attacked: the suite stopped at the candidate"
            continue
        why = probe.noisy(models[role], prep.block.frame, role)
        if why is None and plan.kind == "black-box" and not plan.fast:
            calls = probe.sequential_calls(s.bb_iterations, prep.space.d, s.norm)
            why = probe.slow(models[role], prep.block.frame, role, s.max_call_seconds, calls)
        if why is not None:
            halts[role] = why
            ctx.progress(f"adversarial: {role} not attacked ({why.split(':')[0]})")
    return halts


def _models(ctx: SuiteContext[AdversarialSettings]) -> dict[str, Model]:
    models = {"candidate": ctx.candidate}
    if ctx.baseline is not None:
        models["baseline"] = ctx.baseline
    return models


def _in_process(ctx: SuiteContext[AdversarialSettings], jobs: list[ShardJob],
                models: dict[str, Model], batched: bool = True) -> list[ShardOutcome]:
    """Each model's shards attacked together, in this process (one bundle per model: with no
    worker to share the rows with, fewer and larger model calls are pure gain); shard by shard
    when not ``batched`` (as the suite did before the lock-step attack)."""
    deadline = time.time() + ctx.settings.max_seconds
    outcomes: list[ShardOutcome] = []
    for role in dict.fromkeys(j.role for j in jobs):
        mine = [j for j in jobs if j.role == role]
        for group in ([mine] if batched else [[j] for j in mine]):
            job = bundle(group)
            job.deadline = deadline
            outcomes.extend(split(attack_shard(job, models[role]), group))
        ctx.progress(f"adversarial: {role} attacked ({len(mine)} shards, in process)")
    return outcomes


def _on_ray(ctx: SuiteContext[AdversarialSettings], jobs: list[ShardJob],
            models: dict[str, Model]) -> tuple[list[ShardOutcome], int]:
    """One Ray task per shard, at most ``workers`` in flight (the policy's, else one per CPU of
    the cluster); shards still running ``RAY_GRACE_S`` after the deadline are cancelled and count
    as timed out. Returns the outcomes and the number of workers."""
    s, policy = ctx.settings, ctx.policy
    ray = ensure_ray()
    remote = ray.remote(num_cpus=1, max_retries=0)(attack_shard)
    refs = {role: ray.put(ship_model(models[role],
                                     policy.candidate if role == "candidate" else policy.baseline,
                                     policy.base_dir, role))
            for role in {j.role for j in jobs}}
    workers = s.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    deadline = time.time() + s.max_seconds

    def submit(job: ShardJob) -> Any:
        job.deadline = deadline
        return remote.remote(job, refs[job.role])

    outcomes = run_bounded(
        ray, submit, jobs, workers=workers, deadline=deadline, grace_s=RAY_GRACE_S,
        timed_out=lambda job: ShardOutcome.of(job, "time"),
        progress=lambda n: ctx.progress(f"adversarial: {n}/{len(jobs)} shards attacked (Ray)"))
    return outcomes, workers
