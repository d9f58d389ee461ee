"""The expensive work, callable without pytest: draw the sample and the background, choose each
model's explainer, explain fixed shards of rows (in this process or as Ray tasks), merge them in
sample order and compute the figures the checks judge."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from certify.models import Model
from certify.raycluster import ensure_ray, ray_available, run_bounded, ship_model
from certify.suite import SuiteContext
from certify.suites.explain.plan import RolePlan, plan_role
from certify.suites.explain.result import (
    ExplainResult,
    RoleExplanation,
    figures,
    rank_agreement,
    shift_interval,
)
from certify.suites.explain.sample import (
    BACKGROUND_TAG,
    NOISE_TAG,
    SAMPLE_TAG,
    Codec,
    OutputSpace,
    output_space,
    rng,
    row_seeds,
    stratified_positions,
)
from certify.suites.explain.settings import ExplainSettings
from certify.suites.explain.shard import ShardJob, ShardOutcome, explain_shard

#: Seconds a Ray run may overshoot max_seconds (task start-up, imports) before it is cancelled.
RAY_GRACE_S = 60.0
#: Features shown per model for each of the most disagreeing rows.
TOP_PER_ROW = 4


def models_of(ctx: SuiteContext[ExplainSettings]) -> dict[str, Model]:
    models = {"candidate": ctx.candidate}
    if ctx.baseline is not None:
        models["baseline"] = ctx.baseline
    return models


def evals_per_row(settings: ExplainSettings, features: int) -> int:
    """Coalitions per row of the model-agnostic explainer (SHAP's max_evals / nsamples)."""
    if settings.evals_per_row is not None:
        return max(settings.evals_per_row, 2 * features + 1)
    return (2 if settings.agnostic == "permutation" else 4) * (2 * features + 1)


def draw(ctx: SuiteContext[ExplainSettings]) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """The explained evaluation rows (positions, frame) and the background reference rows."""
    s, data = ctx.settings, ctx.data
    task, target, features = data.schema.task, data.schema.target, data.schema.features
    positions = stratified_positions(data.evaluation[target], s.sample_size, task,
                                     rng(ctx.seed, SAMPLE_TAG))
    back = stratified_positions(data.reference[target], s.background_size, task,
                                rng(ctx.seed, BACKGROUND_TAG))
    rows = data.evaluation.iloc[positions][features].reset_index(drop=True)
    background = data.reference.iloc[back][features].reset_index(drop=True)
    return positions, rows, background


def run(ctx: SuiteContext[ExplainSettings]) -> ExplainResult:
    s = ctx.settings
    features = ctx.data.schema.features
    positions, rows, background = draw(ctx)
    models = models_of(ctx)
    space = output_space(ctx.data.schema.task, list(models.values()), s.positive_label,
                         ctx.data.schema.classes)
    probe = pd.concat([rows, background], ignore_index=True)
    seeds = row_seeds(ctx.seed, positions)
    # The models' own outputs (for additivity) come from their worker processes: asked for now,
    # they are computed there while this process explains.
    with ThreadPoolExecutor(1, thread_name_prefix="explain-outputs") as pool:
        asked = pool.submit(lambda: {role: space.of(m, probe) for role, m in models.items()})
        plans = {role: plan_role(role, m, rows, background, space, s)
                 for role, m in models.items()}
        on_ray = _on_ray_roles(s, plans)
        jobs = _jobs(ctx, plans, rows, seeds, background, space, Codec.fit(probe), on_ray)
        ctx.progress(f"explain: {', '.join(f'{r} by {p.kind}' for r, p in plans.items())}")
        outcomes: list[ShardOutcome] = []
        workers = 1
        remote = [j for j in jobs if j.plan.role in on_ray]
        if remote:
            outcomes, workers = _on_ray(ctx, remote, models)
        outcomes += _in_process(ctx, [j for j in jobs if j.plan.role not in on_ray], models)
        executor = "ray" if remote else "inprocess"
        outputs = asked.result()
    n = len(rows)
    roles = {role: _merge(plans[role], [o for o in outcomes if o.role == role], n,
                          len(features), outputs[role])
             for role in plans}
    if s.stability_noise is not None:
        _stability(ctx, roles, rows, background, seeds, jobs[0].codec, space, models)
    shards = max(sum(1 for j in jobs if j.plan.role == role) for role in plans)
    result = summarise(ctx, roles, positions, rows, len(background), space, executor, workers,
                       shards)
    result.executors = {role: "ray" if role in on_ray else "inprocess" for role in plans}
    return result


def _on_ray_roles(s: ExplainSettings, plans: dict[str, RolePlan]) -> set[str]:
    """The models whose shards go to Ray: every model with ``executor = "ray"``; with "auto",
    the model-agnostic ones when Ray runs here (or RAY_ADDRESS is set). An exact explainer's
    work is too short to pay for Ray's tasks (each worker imports SHAP, seconds)."""
    if s.executor == "ray":
        return set(plans)
    if s.executor == "auto" and any(p.agnostic for p in plans.values()) and ray_available():
        return {role for role, p in plans.items() if p.agnostic}
    return set()


def _jobs(ctx: SuiteContext[ExplainSettings], plans: dict[str, RolePlan], rows: pd.DataFrame,
          seeds: np.ndarray, background: pd.DataFrame, space: OutputSpace, codec: Codec,
          on_ray: set[str]) -> list[ShardJob]:
    """Fixed shards of ``shard_size`` rows per model; in this process an exact explainer takes
    all rows at once (its values of a row do not depend on the other rows)."""
    s = ctx.settings
    n = len(rows)
    jobs: list[ShardJob] = []
    for plan in plans.values():
        size = s.shard_size if (plan.role in on_ray or plan.agnostic) else max(n, 1)
        for shard, lo in enumerate(range(0, n, size)):
            part = np.arange(lo, min(n, lo + size))
            jobs.append(ShardJob(
                plan=plan, shard=shard, positions=part,
                rows=rows if len(part) == n else rows.iloc[part], seeds=seeds[part],
                background=background, space=space, codec=codec,
                evals=evals_per_row(s, rows.shape[1]),
                budget=max(1, s.max_queries * len(part) // n), deadline=0.0,
                linear_permutations=s.linear_permutations))
    return jobs


def _in_process(ctx: SuiteContext[ExplainSettings], jobs: list[ShardJob],
                models: dict[str, Model]) -> list[ShardOutcome]:
    deadline = time.time() + ctx.settings.max_seconds
    outcomes = []
    for k, job in enumerate(jobs):
        job.deadline = deadline
        outcomes.append(explain_shard(job, models[job.plan.role]))
        ctx.progress(f"explain: {k + 1}/{len(jobs)} shards explained (in process)")
    return outcomes


def _on_ray(ctx: SuiteContext[ExplainSettings], jobs: list[ShardJob],
            models: dict[str, Model]) -> tuple[list[ShardOutcome], int]:
    """One Ray task per shard, at most ``workers`` in flight (the policy's, else one per CPU of
    the cluster); shards still running ``RAY_GRACE_S`` after the deadline are cancelled."""
    s, policy = ctx.settings, ctx.policy
    ray = ensure_ray()
    remote = ray.remote(num_cpus=1, max_retries=0)(explain_shard)
    refs = {role: ray.put(ship_model(models[role],
                                     policy.candidate if role == "candidate" else policy.baseline,
                                     policy.base_dir, role))
            for role in {j.plan.role for j in jobs}}
    workers = s.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    deadline = time.time() + s.max_seconds

    def submit(job: ShardJob) -> Any:
        job.deadline = deadline
        return remote.remote(job, refs[job.plan.role])

    outcomes = run_bounded(
        ray, submit, jobs, workers=workers, deadline=deadline, grace_s=RAY_GRACE_S,
        timed_out=lambda job: ShardOutcome.blank(job, "time"),
        progress=lambda n: ctx.progress(f"explain: {n}/{len(jobs)} shards explained (Ray)"))
    return outcomes, workers


def _merge(plan: RolePlan, outcomes: list[ShardOutcome], n: int, m: int, output: np.ndarray
           ) -> RoleExplanation:
    """The shards of one model in sample order; ``output``: the model's own output on the
    sample rows followed by the background rows."""
    values, base = np.full((n, m), np.nan), np.full(n, np.nan)
    status = ["time"] * n
    errors: list[str] = []
    for o in sorted(outcomes, key=lambda o: o.shard):
        values[o.positions], base[o.positions] = o.values, o.base
        for p, st in zip(o.positions, o.status, strict=True):
            status[int(p)] = st
        if o.error and o.error not in errors:
            errors.append(o.error)
    return RoleExplanation(
        plan=plan, values=values, base=base, output=output[:n],
        background_output=float(np.mean(output[n:])), status=status,
        queries=sum(o.queries for o in outcomes), elapsed_s=sum(o.elapsed_s for o in outcomes),
        errors=errors)


def noisy(ctx: SuiteContext[ExplainSettings], rows: pd.DataFrame, k: int
          ) -> tuple[np.ndarray, pd.DataFrame]:
    """``k`` seeded sample rows with Gaussian noise of ``stability_noise`` reference standard
    deviations on every numeric column (integers rounded, clipped to the schema's range)."""
    s, schema = ctx.settings, ctx.data.schema
    assert s.stability_noise is not None
    generator = rng(ctx.seed, NOISE_TAG)
    picked = np.sort(generator.choice(len(rows), size=min(k, len(rows)), replace=False))
    out = rows.iloc[picked].reset_index(drop=True).copy()
    for name in schema.numeric():
        col = schema.column(name)
        std = float(ctx.data.reference[name].std())
        if not np.isfinite(std) or std == 0:
            continue
        values = out[name].to_numpy(dtype=float) + generator.normal(0, s.stability_noise * std,
                                                                     len(out))
        values = np.clip(values, col.min if col.min is not None else -np.inf,
                         col.max if col.max is not None else np.inf)
        if pd.api.types.is_integer_dtype(out[name]):
            out[name] = np.round(values).astype(out[name].dtype)
        else:
            out[name] = values
    return picked, out


def _stability(ctx: SuiteContext[ExplainSettings], roles: dict[str, RoleExplanation],
               rows: pd.DataFrame, background: pd.DataFrame, seeds: np.ndarray, codec: Codec,
               space: OutputSpace, models: dict[str, Model]) -> None:
    """Re-explain a few rows under noise (in this process) and compare their attributions."""
    s = ctx.settings
    picked, moved = noisy(ctx, rows, s.stability_rows)
    deadline = time.time() + s.max_seconds
    for role, r in roles.items():
        job = ShardJob(plan=r.plan, shard=0, positions=np.arange(len(moved)), rows=moved,
                       background=background, space=space, codec=codec,
                       seeds=seeds[picked], evals=evals_per_row(s, len(rows.columns)),
                       budget=max(1, s.max_queries * len(moved) // max(1, len(rows))),
                       deadline=deadline,
                       linear_permutations=s.linear_permutations)
        out = explain_shard(job, models[role])
        a, b = r.values[picked], out.values
        ok = np.array([st == "ok" for st in out.status]) & r.explained[picked]
        na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = np.where((na == 0) & (nb == 0), 1.0, (a * b).sum(axis=1) / (na * nb))
        r.stability = np.nan_to_num(cos[ok], nan=0.0)
        if out.error:
            r.errors.append(f"stability: {out.error}")


def summarise(ctx: SuiteContext[ExplainSettings], roles: dict[str, RoleExplanation],
              positions: np.ndarray, rows: pd.DataFrame, background_rows: int,
              space: OutputSpace, executor: str, workers: int, shards: int) -> ExplainResult:
    """The global figures over the rows every model explained."""
    s = ctx.settings
    features = ctx.data.schema.features
    both = np.logical_and.reduce([r.explained for r in roles.values()])
    figs = {role: figures(r.values[both], s, ctx.seed) for role, r in roles.items()}
    shift = shift_ci = rank = None
    cand = roles["candidate"]
    base = roles.get("baseline")
    if base is not None and both.any():
        shift = figs["candidate"].share - figs["baseline"].share
        shift_ci = shift_interval(cand.values[both], base.values[both], s, ctx.seed)
        rank = rank_agreement(figs["candidate"].importance, figs["baseline"].importance,
                              features, s.top_k)
    protected: dict[str, dict[str, Any]] = {}
    for attr in ctx.policy.protected_attributes:
        entry: dict[str, Any] = {"input": attr in features}
        if attr in features:
            j = features.index(attr)
            for role, fig in figs.items():
                entry[role] = {"share": float(fig.share[j]), "share_ci": fig.share_ci[j].tolist(),
                               "importance": float(fig.importance[j])}
        protected[attr] = entry
    scale = 1.0
    notes = []
    if space.kind == "regression":
        spread = float(np.std(cand.output))
        scale = spread if spread > 0 else 1.0
        notes.append(f"regression: additivity in standard deviations of the candidate's output "
                     f"({scale:.4g})")
    if not both.all():
        notes.append(f"figures over the {int(both.sum())} of {len(both)} rows every model "
                     "explained")
    return ExplainResult(
        features=features, positions=positions, background_rows=background_rows, space=space,
        seed=ctx.seed, roles=roles, figures=figs,
        shift=shift, shift_ci=shift_ci, rank=rank, protected=protected, scale=scale,
        disagreeing=_disagreeing(ctx, roles, positions, rows, both) if base is not None else [],
        executor=executor, workers=workers, shards=shards, confidence=s.confidence, notes=notes,
        stability_noise=s.stability_noise)


def _disagreeing(ctx: SuiteContext[ExplainSettings], roles: dict[str, RoleExplanation],
                 positions: np.ndarray, rows: pd.DataFrame, both: np.ndarray
                 ) -> list[dict[str, Any]]:
    """The rows whose two explanations differ most (sum of |candidate - baseline| values), with
    the row's values (sensitive ones masked) and each model's largest contributions."""
    features = ctx.data.schema.features
    cand, base = roles["candidate"], roles["baseline"]
    gap = np.where(both, np.abs(cand.values - base.values).sum(axis=1), -np.inf)
    order = [int(i) for i in np.argsort(-gap, kind="stable")[:ctx.settings.disagreeing_rows]
             if np.isfinite(gap[i])]
    out = []
    for i in order:
        values = {k: (v.item() if isinstance(v, np.generic) else v)
                  for k, v in rows.iloc[i].to_dict().items()}
        record = ctx.mask_record(values)
        entry: dict[str, Any] = {"row": int(positions[i]), "gap": float(gap[i]), "values": record}
        for role, r in (("candidate", cand), ("baseline", base)):
            top = np.argsort(-np.abs(r.values[i]), kind="stable")[:TOP_PER_ROW]
            entry[role] = {"output": float(r.output[i]), "expected": float(r.base[i]),
                           "top": [[features[j], float(r.values[i, j])] for j in top]}
        out.append(entry)
    return out


def write_artifacts(ctx: SuiteContext[ExplainSettings], result: ExplainResult) -> None:
    """``attributions.json``: per model, the values of every explained evaluation row on the
    original columns, the expected value and the model's output (no feature values)."""

    def numbers(values: np.ndarray) -> Any:
        rounded = values.round(10).astype(object)
        rounded[~np.isfinite(values)] = None  # a row not explained
        return rounded.tolist()

    data = {
        "output": result.space.describe(), "features": result.features,
        "rows": [int(p) for p in result.positions],
        "models": {role: {"explainer": r.plan.kind, "status": r.status,
                          "values": numbers(r.values), "expected": numbers(r.base),
                          "output": numbers(r.output)}
                   for role, r in result.roles.items()},
    }
    result.artifacts.append(ctx.write_artifact(
        "attributions.json", json.dumps(data, separators=(",", ":")),
        "SHAP values per explained evaluation row and model (original columns)"))
