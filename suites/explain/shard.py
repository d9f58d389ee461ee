"""The explanation of one shard of rows by one model: the unit of work of a Ray task (or of the
in-process loop). Deterministic given the job: exact explainers are, and the model-agnostic
explainers are seeded row by row, so neither the shard nor the worker changes a number."""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from certify.jsonsafe import one_line
from certify.models import Model
from certify.raycluster import ModelReload, received_model
from certify.suites.explain.plan import (
    RolePlan,
    import_shap,
    made_cached,
    snapped,
    split,
    tree_explainer,
)
from certify.suites.explain.sample import Codec, OutputSpace


class BudgetExhausted(Exception):  # noqa: N818 - a budget, not a bug
    pass


@dataclasses.dataclass
class ShardJob:
    plan: RolePlan
    shard: int
    positions: np.ndarray  # positions in the sample
    rows: pd.DataFrame  # the rows explained (original columns, schema order)
    background: pd.DataFrame
    seeds: np.ndarray
    space: OutputSpace
    codec: Codec
    evals: int
    budget: int  # model rows the model-agnostic explainer may score for this shard
    deadline: float
    linear_permutations: int


@dataclasses.dataclass
class ShardOutcome:
    role: str
    shard: int
    positions: np.ndarray
    values: np.ndarray  # (rows, features); NaN: not explained
    base: np.ndarray  # (rows,) the expected value the row's values add to
    status: list[str]  # ok | queries | time | error
    queries: int = 0
    elapsed_s: float = 0.0
    error: str = ""

    @classmethod
    def blank(cls, job: ShardJob, status: str) -> ShardOutcome:
        n, m = len(job.rows), job.rows.shape[1]
        return cls(job.plan.role, job.shard, job.positions, np.full((n, m), np.nan),
                   np.full(n, np.nan), [status] * n)


def explain_shard(job: ShardJob, model: Model | ModelReload) -> ShardOutcome:
    """Explain one shard (``model`` as :func:`certify.raycluster.ship_model` sent it, or the
    model). numpy's global generator, which SHAP draws from, is left as it was."""
    from threadpoolctl import threadpool_limits

    state = np.random.get_state()
    start = time.perf_counter()
    out = ShardOutcome.blank(job, "time")
    try:
        if time.time() > job.deadline:
            return out
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = {"tree": _tree, "linear": _linear}.get(job.plan.kind, _agnostic)
            run(job, received_model(model), out)
    except Exception as exc:  # noqa: BLE001 - the checks report it (errored), the run goes on
        out.status = ["error" if s != "ok" else s for s in out.status]
        out.error = one_line(exc)
    finally:
        np.random.set_state(state)
        out.elapsed_s = time.perf_counter() - start
    return out


def _sum_groups(values: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """Attributions of the made columns summed back to their original columns."""
    return np.stack([values[:, g].sum(axis=1) if g else np.zeros(len(values)) for g in groups],
                    axis=1)


def _tree(job: ShardJob, model: Model, out: ShardOutcome) -> None:
    plan = job.plan
    assert plan.groups is not None
    prefix, final = split(model.estimator)
    output = "probability" if job.space.kind == "probability" else "raw"
    background = made_cached(prefix, job.background)
    explainer = tree_explainer(final, background, output)
    moved = snapped(explainer, background)
    if not np.array_equal(moved, background, equal_nan=True):
        # the background rows must take the model's branches in SHAP's code too (see snapped)
        explainer = tree_explainer(final, moved, output)
    raw = explainer.shap_values(snapped(explainer, made_cached(prefix, job.rows)),
                                check_additivity=False)
    values = np.stack(raw, axis=-1) if isinstance(raw, list) else np.asarray(raw, dtype=float)
    expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    if values.ndim == 3:
        k = plan.class_index or 0
        values, base = values[:, :, k], float(expected[k])
    else:
        base = float(expected[0])
        if plan.class_index == 0:  # one output, the probability of classes_[1]: the complement
            values, base = -values, 1.0 - base
    out.values = _sum_groups(values, plan.groups)
    out.base = np.full(len(job.rows), base)
    out.status = ["ok"] * len(job.rows)


def _terms(job: ShardJob, model: Model) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A linear model's terms per original column for the rows and the background, and the
    rest of each one's margin (intercept and constant made columns)."""
    plan = job.plan
    assert plan.groups is not None
    prefix, final = split(model.estimator)
    w = np.asarray(final.coef_, dtype=float).reshape(-1)
    b = float(np.asarray(final.intercept_, dtype=float).reshape(-1)[0])

    def terms(cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        per = np.stack([cols[:, g] @ w[g] if g else np.zeros(len(cols)) for g in plan.groups],
                       axis=1)
        return per, cols @ w + b - per.sum(axis=1)

    a, rest = terms(made_cached(prefix, job.rows))
    c, rest_bg = terms(made_cached(prefix, job.background))
    return a, rest, c, rest_bg


def _sigmoid(z: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    from scipy.special import expit

    return np.asarray(expit(z, out=z) if in_place else expit(z), dtype=float)


def _linear(job: ShardJob, model: Model, out: ShardOutcome) -> None:
    a, rest, c, rest_bg = _terms(job, model)
    n, m = a.shape
    if job.plan.link == "identity":
        mean_c = c.mean(axis=0)
        out.values = a - mean_c
        out.base = np.full(n, float(np.mean(c.sum(axis=1) + rest_bg)))
    else:
        # The background's rest is the rows' rest (constant made columns); each row keeps its
        # own, so that the values add up to its output exactly.
        active = job.plan.active if job.plan.active is not None else list(range(m))
        values = np.zeros((n, m))
        if job.plan.exact:
            phi, base = _exact_logistic(a[:, active], c[:, active], rest)
        else:
            phi, base = _sampled_logistic(a[:, active], c[:, active], rest, job.seeds,
                                          job.linear_permutations)
        values[:, active] = phi
        if job.plan.class_index == 0:
            values, base = -values, 1.0 - base
        out.values, out.base = values, base
    out.status = ["ok"] * n


def _exact_logistic(a: np.ndarray, c: np.ndarray, rest: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Exact interventional Shapley values of ``sigmoid(rest + sum of terms)``: the value of a
    coalition S is the mean over the background of the output with S's terms from the row and
    the others from the background row; every coalition is evaluated once."""
    n, m = a.shape
    if m == 0:
        base = np.array([float(np.mean(_sigmoid(r + c.sum(axis=1)))) for r in rest])
        return np.zeros((n, 0)), base
    coalitions = 1 << m
    bits = ((np.arange(coalitions)[:, None] >> np.arange(m)[None, :]) & 1).astype(float)
    value = np.empty((coalitions, n))
    chunk = max(1, (1 << 20) // max(1, n * len(c)))  # temporaries of ~8 MB
    for lo in range(0, coalitions, chunk):
        mk = bits[lo:lo + chunk]
        inside = mk @ a.T + rest[None, :]  # (k, n)
        outside = (1.0 - mk) @ c.T  # (k, B)
        if max(np.abs(inside).max(), np.abs(outside).max()) < 300:
            # sigmoid(u + v) = 1 / (1 + exp(-u) exp(-v)): one exponential per margin part
            # instead of one per (row, background row) pair
            both = np.exp(-inside)[:, :, None] * np.exp(-outside)[:, None, :]
            both += 1.0
            value[lo:lo + chunk] = np.reciprocal(both, out=both).mean(axis=2)
        else:
            value[lo:lo + chunk] = _sigmoid(inside[:, :, None] + outside[:, None, :],
                                           in_place=True).mean(axis=2)
    size = bits.sum(axis=1).astype(int)
    weight = np.array([math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m)
                       for s in range(m)])
    phi = np.empty((n, m))
    for j in range(m):
        without = np.flatnonzero(bits[:, j] == 0)
        phi[:, j] = weight[size[without]] @ (value[without + (1 << j)] - value[without])
    return phi, value[0]


def _sampled_logistic(a: np.ndarray, c: np.ndarray, rest: np.ndarray, seeds: np.ndarray,
                      pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Shapley values of ``sigmoid(rest + sum of terms)`` from seeded antithetic permutations
    (each row its own seed); they add up exactly, like every permutation estimate."""
    n, m = a.shape
    phi = np.zeros((n, m))
    base = np.empty(n)
    for i in range(n):
        generator = np.random.default_rng(int(seeds[i]))
        start = rest[i] + c.sum(axis=1)
        base[i] = float(np.mean(_sigmoid(start)))
        for _ in range(pairs):
            order = generator.permutation(m)
            for walk in (order, order[::-1]):
                margin, previous = start.copy(), base[i]
                for j in walk:
                    margin += a[i, j] - c[:, j]
                    now = float(np.mean(_sigmoid(margin)))
                    phi[i, j] += now - previous
                    previous = now
        phi[i] /= 2 * pairs
    return phi, base


class _Scored:
    """The model in the output space on coded rows, counting the rows it scores."""

    def __init__(self, model: Model, job: ShardJob) -> None:
        self.model, self.job = model, job
        self.queries = 0
        self.limit = job.budget

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes, dtype=float).reshape(-1, len(self.job.codec.columns))
        if self.queries + len(codes) > self.limit:
            raise BudgetExhausted(f"query budget of {self.limit} rows for this shard spent")
        if time.time() > self.job.deadline:
            raise TimeoutError("wall-time budget spent")
        self.queries += len(codes)
        return self.job.space.of(self.model, self.job.codec.decode(codes))


def _agnostic(job: ShardJob, model: Model, out: ShardOutcome) -> None:
    shap = import_shap()
    scored = _Scored(model, job)
    rows = job.codec.encode(job.rows)
    background = job.codec.encode(job.background)
    explainer: Any
    try:
        if job.plan.kind == "kernel":
            np.random.seed(int(job.seeds[0]) if len(job.seeds) else 0)
            explainer = shap.KernelExplainer(scored, background, link="identity")
        else:
            masker = shap.maskers.Independent(background, max_samples=len(background))
            explainer = shap.PermutationExplainer(scored, masker)
        for i in range(len(rows)):
            np.random.seed(int(job.seeds[i]))
            if job.plan.kind == "kernel":
                vals = explainer.shap_values(rows[i:i + 1], nsamples=job.evals, l1_reg=False,
                                             silent=True)
                out.values[i] = np.asarray(vals, dtype=float).reshape(-1)
                out.base[i] = float(np.asarray(explainer.expected_value).reshape(-1)[0])
            else:
                result = explainer(rows[i:i + 1], max_evals=job.evals, silent=True)
                out.values[i] = np.asarray(result.values, dtype=float).reshape(-1)
                out.base[i] = float(np.asarray(result.base_values).reshape(-1)[0])
            out.status[i] = "ok"
    except BudgetExhausted as exc:
        out.status = [s if s == "ok" else "queries" for s in out.status]
        out.error = str(exc)
    except TimeoutError as exc:
        out.status = [s if s == "ok" else "time" for s in out.status]
        out.error = str(exc)
    finally:
        out.queries = scored.queries
