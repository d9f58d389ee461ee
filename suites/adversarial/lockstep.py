"""HopSkipJump in lock-step over the rows of a shard: the black-box attack's model queries batched.

ART's ``HopSkipJump.generate`` attacks one row at a time, and within a row its binary searches
and step-size searches ask about one point per model call: about seventy calls in sequence per
row. A model call costs about the same for one point as for a few hundred (a tree ensemble walks
every tree once per call; an isolated model adds a process round trip), so the suite spent its
time on call overhead. Here every phase of the algorithm runs for all rows of a shard at once:
each binary-search step, gradient estimate or step-size trial of all rows is one model call.

The algorithm is ART 1.20's HopSkipJump (Chen, Jordan and Wainwright 2020), untargeted, as the
suite configures it (``max_iter``, ``init_eval``, ``max_eval``, the initial point given): the same
binary-search threshold (``theta = 0.01 / d`` for L-inf, ``0.01 / sqrt(d)`` for L2), the same
``delta`` (``0.1 x`` the box width on the first iteration, then ``0.01 x`` the distance), the same
gradient estimate and geometric step-size search. Only the random draws differ: each row draws
from its own generator, seeded from the row's seed, instead of numpy's global one, so a row's
attack does not depend on the other rows of its batch (nor on the shard size or the executor).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import numpy as np

from certify.suites.adversarial.querier import BudgetExhausted, Querier

if TYPE_CHECKING:
    from certify.suites.adversarial.shard import ShardJob

#: Halvings of the step size tried before a row keeps its point (ART halves until success, which
#: a deterministic model grants after about 50: the step is then below the float resolution).
MAX_HALVINGS = 40


def candidate_pools(job: ShardJob, i: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The initial-point candidates of block row ``i``, as (attack points, their plausible
    coordinates), moved ones only: first random corners (L-inf) or directions (L2) at every
    radius of the epsilon grid plus the nearest reference rows; then seeded uniform draws in the
    attack box. Points are float32, as ART passes them back (it then accepts them as
    adversarial and never falls back to its own, unseeded, random initialisation)."""
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
    pools = []
    for pool in (np.concatenate(probes), rng.uniform(space.lo, space.hi, size=(k, space.d))):
        pool = np.where(frozen, z0, pool).astype(np.float32)
        zp, _ = space.plausible(pool, np.broadcast_to(z0, pool.shape),
                                np.broadcast_to(b.raw0[i], pool.shape),
                                np.broadcast_to(frozen, pool.shape))
        moved = space.distance(zp, z0) > 0
        pools.append((pool[moved], zp[moved]))
    return pools


def initial_points(job: ShardJob, q: Querier, todo: np.ndarray,
                   clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starting points of rows ``todo`` (block rows, clean class ``clean[i]``), all rows' candidates
    in one call per pool: the nearest candidate the model classifies differently. Returns the
    points (NaN where none was found) and a mask of the rows whose query budget the candidates
    would exceed (not sent; no point)."""
    n, d = len(todo), job.space.d
    found = np.full((n, d), np.nan)
    got = np.zeros(n, dtype=bool)
    spent = np.zeros(n, dtype=bool)
    pools = [candidate_pools(job, int(i)) for i in todo]
    pending = np.arange(n)
    for stage in (0, 1):
        sizes = np.array([len(pools[k][stage][0]) for k in pending], dtype=np.int64)
        over = q.queries[todo[pending]] + sizes > job.params.max_queries
        spent[pending[over & (sizes > 0)]] = True
        ask = pending[~over & (sizes > 0)]
        if len(ask):
            pts = np.concatenate([pools[k][stage][0] for k in ask])
            owners = np.repeat(todo[ask], [len(pools[k][stage][0]) for k in ask])
            labels = q.labels_at(pts, owners)
            start = 0
            for k in ask:
                pool, zp = pools[k][stage]
                hits = np.flatnonzero(labels[start:start + len(pool)] != clean[todo[k]])
                start += len(pool)
                if len(hits):
                    i = int(todo[k])
                    best = hits[np.argmin(job.space.distance(zp[hits], job.block.z0[i]))]
                    found[k], got[k] = pool[best], True
        pending = pending[~got[pending] & ~spent[pending]]
    return found, spent


class _Rows:
    """The rows under attack and their model answers: is a point adversarial for its row?"""

    def __init__(self, job: ShardJob, q: Querier, rows: np.ndarray, clean: np.ndarray) -> None:
        self.q = q
        self.rows = rows
        self.z0 = job.block.z0[rows]
        self.mask = (~job.block.frozen[rows]).astype(float)
        self.lo, self.hi = job.space.lo, job.space.hi
        self.clean = clean[rows]
        self.max_queries = job.params.max_queries
        self.spent = np.zeros(len(rows), dtype=bool)  # query budget exhausted

    def adversarial(self, points: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Whether each point (of local row ``idx[k]``), clipped to the box, is classified other
        than its row's clean class: one model call for all. A row whose budget the call would
        exceed is marked spent and not sent (its answers are False and never used)."""
        points = np.clip(points, self.lo, self.hi)
        counts = np.bincount(idx, minlength=len(self.rows))
        over = (counts > 0) & (self.q.queries[self.rows] + counts > self.max_queries)
        self.spent |= over
        send = ~self.spent[idx]
        out = np.zeros(len(idx), dtype=bool)
        if send.any():
            labels = self.q.labels_at(points[send], self.rows[idx[send]])
            out[send] = labels != self.clean[idx[send]]
        return out


def _distance(a: np.ndarray, b: np.ndarray, linf: bool) -> np.ndarray:
    dz = a - b
    return np.max(np.abs(dz), axis=1) if linf else np.sqrt(np.sum(dz * dz, axis=1))


def _interpolate(cur: np.ndarray, z0: np.ndarray, alpha: np.ndarray, linf: bool) -> np.ndarray:
    a = alpha[:, None]
    return np.clip(cur, z0 - a, z0 + a) if linf else (1 - a) * z0 + a * cur


def _binary_search(r: _Rows, cur: np.ndarray, act: np.ndarray, theta: float,
                   linf: bool) -> np.ndarray:
    """Each row's point moved toward its original row, to just on the adversarial side."""
    c, z0 = cur[act], r.z0[act]
    if linf:
        upper = _distance(c, z0, True)
        threshold = np.minimum(upper * theta, theta)
    else:
        upper = np.ones(len(act))
        threshold = np.full(len(act), theta)
    lower = np.zeros(len(act))
    while True:
        go = np.flatnonzero((upper - lower > threshold) & ~r.spent[act])
        if not len(go):
            break
        alpha = (upper[go] + lower[go]) / 2
        hit = r.adversarial(_interpolate(c[go], z0[go], alpha, linf), act[go])
        lower[go] = np.where(hit, lower[go], alpha)
        upper[go] = np.where(hit, alpha, upper[go])
    return _interpolate(c, z0, upper, linf)


def _update(r: _Rows, c: np.ndarray, act: np.ndarray, delta: np.ndarray, evals: int,
            rngs: list[np.random.Generator], linf: bool) -> np.ndarray:
    """The estimated direction away from the boundary at each row's point (ART's Eq. 14)."""
    m, d = c.shape
    noise = np.empty((m, evals, d))
    for k, i in enumerate(act):
        noise[k] = (rngs[i].uniform(-1.0, 1.0, size=(evals, d)) if linf
                    else rngs[i].standard_normal(size=(evals, d)))
    noise *= r.mask[act][:, None, :]
    noise /= np.maximum(np.sqrt(np.sum(noise ** 2, axis=2, keepdims=True)), 1e-300)
    samples = np.clip(c[:, None, :] + delta[:, None, :] * noise, r.lo, r.hi)
    noise = (samples - c[:, None, :]) / delta[:, None, :]
    hit = r.adversarial(samples.reshape(-1, d), np.repeat(act, evals)).reshape(m, evals)
    f = 2.0 * hit - 1.0
    mean_f = f.mean(axis=1)
    centred = ((f - mean_f[:, None])[:, :, None] * noise).mean(axis=1)
    grad = np.where((mean_f == 1.0)[:, None], noise.mean(axis=1),
                    np.where((mean_f == -1.0)[:, None], -noise.mean(axis=1), centred))
    if linf:
        return np.sign(grad)
    return grad / np.maximum(np.linalg.norm(grad, axis=1, keepdims=True), 1e-300)


def hop_skip_jump(job: ShardJob, q: Querier, rows: np.ndarray, init: np.ndarray,
                  clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """HopSkipJump from ``init`` (adversarial starting points) for block rows ``rows`` (clean
    classes ``clean[row]``), all rows in lock-step. Returns the final points and the mask of rows
    whose query budget ran out. Raises :class:`BudgetExhausted` past the deadline, or as soon as
    the iterations done so far project the rest past it."""
    p, space = job.params, job.space
    r = _Rows(job, q, rows, clean)
    n, d = init.shape
    linf = space.norm == "inf"
    theta = 0.01 / d if linf else 0.01 / math.sqrt(d)
    rngs = [np.random.default_rng([int(job.seeds[i]), 1]) for i in rows]
    cur = np.asarray(init, dtype=float).copy()
    started = time.time()
    max_eval = max(p.bb_max_evals, p.bb_init_evals)
    for it in range(p.bb_iterations):
        act = np.flatnonzero(~r.spent)
        if not len(act):
            break
        if it == 0:
            delta = np.broadcast_to(0.1 * (space.hi - space.lo), (len(act), d)).astype(float)
        else:
            delta = np.repeat(0.01 * _distance(cur[act], r.z0[act], linf)[:, None], d, axis=1)
        delta = np.maximum(delta, 1e-12)
        cur[act] = _binary_search(r, cur, act, theta, linf)
        keep = ~r.spent[act]
        act, delta = act[keep], delta[keep]
        evals = min(int(p.bb_init_evals * math.sqrt(it + 1)), max_eval)
        update = _update(r, cur[act], act, delta, evals, rngs, linf)
        keep = ~r.spent[act]
        act, update = act[keep], update[keep]
        # Geometric step-size search: the largest step (halving from twice the distance) whose
        # point stays adversarial.
        c = cur[act]
        eps = 2.0 * _distance(c, r.z0[act], linf) / math.sqrt(it + 1)
        pending = np.arange(len(act))
        for _ in range(MAX_HALVINGS):
            if not len(pending):
                break
            eps[pending] /= 2.0
            trial = c[pending] + eps[pending, None] * update[pending]
            hit = r.adversarial(trial, act[pending])
            cur[act[pending[hit]]] = np.clip(trial[hit], space.lo, space.hi)
            pending = pending[~hit & ~r.spent[act[pending]]]
        left = p.bb_iterations - it - 1
        spent_s = time.time() - started
        if left and time.time() + spent_s / (it + 1) * left > job.deadline:
            raise BudgetExhausted("time", f"stopped after iteration {it + 1} of {p.bb_iterations}: "
                                          f"{spent_s:.1f} s so far projected the rest past the "
                                          "deadline")
    return cur, r.spent
