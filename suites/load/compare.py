"""Latency decisions that hold: percentiles with bootstrap intervals, and candidate vs baseline
compared the way benchmark tools compare them. Pure functions of the samples (numpy only).

The samples come in **rounds**: consecutive slices of one measurement (:func:`intervals`), or,
for a comparison, interleaved rounds of two targets (candidate, baseline, candidate, ...;
:func:`compare`), where round ``i`` of one is paired with round ``i`` of the other. A round is
a weighted sample (:class:`Sample`: distinct values and their counts, e.g. the buckets of an
HdrHistogram).

The interval is a percentile bootstrap over rounds: rounds are resampled with replacement
(within their stratum: the phase of the traffic profile, so that a spike stays a third of every
resample) and the percentile of the pooled resample is taken. Resampling whole rounds carries
both the drift of a shared machine and the sampling error of each round into the interval; with
at least :data:`CLUSTER_ROUNDS` rounds in every stratum that is all it needs (the interval is
widened by ``sqrt(k / (k - 1))`` for the ``k`` rounds of the smallest stratum, the bootstrap's
small-sample bias). With fewer rounds the requests of each drawn round are redrawn too (a
Poisson bootstrap): two stages, wider than needed but never narrower. In a comparison the two
targets' rounds are drawn together (pairs), so drift common to a pair cancels instead of
deciding. Simulated (lognormal latencies, a common drift of 30 % per pair, 10-20 % of
independent noise per round): 89-95 % coverage for a 95 % interval with 8 rounds per stratum
by rounds alone, 99-100 % with two stages.

Decisions never flip on noise: a regression or an SLO fails only when the whole interval is on
the wrong side of its level, passes only when the whole interval is on the right side, and is
``inconclusive`` otherwise (the caller measures longer or reports it, warned).

Percentiles are nearest-rank, the definition HdrHistogram uses (``rank = max(1, round(q/100
* n))``), so a point estimate here equals the histogram's own. Raw values given as plain numbers
are kept to three significant digits, as the histograms keep them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

Decision = Literal["pass", "fail", "inconclusive"]

#: Bootstrap resamples per interval.
RESAMPLES = 1000
#: Rounds per stratum from which rounds alone are resampled (fewer: rounds and requests).
CLUSTER_ROUNDS = 8


@dataclass(frozen=True)
class Sample:
    """One round of one target: distinct values and how often each was seen."""

    values: np.ndarray
    counts: np.ndarray

    @property
    def n(self) -> int:
        return int(self.counts.sum())


def sample(values: Sequence[float] | np.ndarray, counts: Sequence[int] | np.ndarray | None = None,
           *, digits: int | None = 3) -> Sample:
    """A :class:`Sample` from raw values (``counts`` None) or from values and their counts.

    Raw values are rounded to ``digits`` significant digits (None: kept as they are).
    """
    v = np.asarray(values, dtype=float).ravel()
    c = np.ones(len(v), dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
    keep = np.isfinite(v) & (c > 0)
    v, c = v[keep], c[keep]
    if digits is not None and len(v):
        v = _round_sig(v, digits)
    if not len(v):
        return Sample(np.empty(0), np.empty(0, dtype=np.int64))
    uniq, inverse = np.unique(v, return_inverse=True)
    return Sample(uniq, np.bincount(inverse, weights=c, minlength=len(uniq)).astype(np.int64))


def _round_sig(v: np.ndarray, digits: int) -> np.ndarray:
    mag = np.floor(np.log10(np.where(v == 0, 1.0, np.abs(v))))
    scale = 10.0 ** (digits - 1 - mag)
    return np.asarray(np.round(v * scale) / scale)


def _as_sample(item: Sample | Sequence[float] | np.ndarray) -> Sample:
    return item if isinstance(item, Sample) else sample(item)


@dataclass(frozen=True)
class Interval:
    """A percentile of pooled rounds with its bootstrap interval."""

    q: float
    point: float | None
    low: float | None
    high: float | None
    n: int
    rounds: int
    confidence: float
    #: ``"rounds"`` or ``"rounds+requests"`` (see the module's text).
    method: str = ""

    def record(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Regression:
    """Candidate vs baseline on the ``q``-th percentile (see :func:`compare`)."""

    q: float
    candidate: Interval
    baseline: Interval
    #: candidate - baseline, and its interval.
    difference: float | None
    low: float | None
    high: float | None
    #: What the candidate may add: ``margin * baseline + slack`` (the baseline's point
    #: estimate), and the interval of the difference less it (above 0: slower than allowed).
    allowance: float | None
    excess_low: float | None
    excess_high: float | None
    margin: float
    slack: float
    confidence: float
    pairs: int
    decision: Decision
    reason: str
    method: str = ""

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        out["candidate"] = self.candidate.record()
        out["baseline"] = self.baseline.record()
        return out


def percentile(values: np.ndarray, counts: np.ndarray, q: float) -> float | None:
    """The nearest-rank ``q``-th percentile of a weighted sample (``values`` sorted)."""
    n = int(counts.sum())
    if not n:
        return None
    rank = max(1, int(q / 100.0 * n + 0.5))
    return float(values[int(np.searchsorted(np.cumsum(counts), rank))])


class _Pool:
    """All rounds of one target as counts on one grid of distinct values (a rounds x values
    matrix)."""

    def __init__(self, rounds: Sequence[Sample]) -> None:
        nonempty = [r.values for r in rounds if r.n]
        self.grid = np.unique(np.concatenate(nonempty)) if nonempty else np.empty(0)
        self.counts = np.zeros((len(rounds), len(self.grid)), dtype=np.int64)
        for i, r in enumerate(rounds):
            if r.n:
                self.counts[i, np.searchsorted(self.grid, r.values)] = r.counts

    def pooled(self) -> np.ndarray:
        return np.asarray(self.counts.sum(axis=0))

    def resample(self, draws: np.ndarray, rng: np.random.Generator,
                 requests: bool) -> np.ndarray:
        """Counts on the grid per resample: ``draws[b, i]`` copies of round ``i`` in resample
        ``b``; with ``requests`` the requests of the copies are redrawn too, as a Poisson
        bootstrap (each value's count drawn from a Poisson of its expected count), so the
        copies of all rounds are redrawn in one draw per resample and value."""
        if not len(self.grid):
            return np.zeros((draws.shape[0], 0), dtype=np.int64)
        expected = draws @ self.counts
        return np.asarray(rng.poisson(expected.astype(float))) if requests else expected


def _draws(strata: Sequence[int], resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``(resamples, rounds)`` multiplicities: each stratum's rounds drawn with replacement,
    as many as it holds."""
    labels = np.asarray(strata)
    out = np.zeros((resamples, len(labels)), dtype=np.int64)
    rows = np.arange(resamples)[:, None]
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        picks = members[rng.integers(0, len(members), size=(resamples, len(members)))]
        np.add.at(out, (np.broadcast_to(rows, picks.shape), picks), 1)
    return out


def _quantiles(grid: np.ndarray, weights: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Nearest-rank percentiles of each row of ``weights`` -> ``(len(qs), rows)``; NaN where a
    row is empty."""
    cum = np.cumsum(weights, axis=1)
    total = cum[:, -1] if cum.shape[1] else np.zeros(len(weights), dtype=np.int64)
    out = np.full((len(qs), len(weights)), np.nan)
    for j, q in enumerate(qs):
        rank = np.maximum(1, np.floor(q / 100.0 * total + 0.5)).astype(np.int64)
        idx = (cum < rank[:, None]).sum(axis=1)
        ok = total > 0
        out[j, ok] = grid[np.minimum(idx[ok], len(grid) - 1)]
    return out


def _bounds(values: np.ndarray, confidence: float, point: float | None = None,
            widen: float = 1.0) -> tuple[float | None, float | None]:
    """The percentile interval of the resampled ``values``, widened about ``point``."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return None, None
    alpha = (1.0 - confidence) / 2.0
    low, high = (float(x) for x in np.quantile(finite, [alpha, 1.0 - alpha]))
    if point is not None and widen != 1.0:
        low, high = point - (point - low) * widen, point + (high - point) * widen
    return low, high


def _method(labels: Sequence[int], used: Sequence[bool]) -> tuple[bool, float, str]:
    """``(redraw requests, widening, name)`` from the non-empty rounds per stratum."""
    per: dict[int, int] = {}
    for label, ok in zip(labels, used, strict=True):
        per[label] = per.get(label, 0) + int(ok)
    k = min(per.values(), default=0)
    if k >= CLUSTER_ROUNDS:
        return False, math.sqrt(k / (k - 1)), "rounds"
    return True, 1.0, "rounds+requests"


def _strata(strata: Sequence[int] | None, rounds: int) -> list[int]:
    if strata is None:
        return [0] * rounds
    if len(strata) != rounds:
        raise ValueError(f"{len(strata)} strata for {rounds} rounds")
    return [int(s) for s in strata]


def intervals(rounds: Sequence[Sample | Sequence[float] | np.ndarray], qs: Sequence[float], *,
              strata: Sequence[int] | None = None, confidence: float = 0.95,
              resamples: int = RESAMPLES, seed: int = 0) -> dict[float, Interval]:
    """The ``qs`` percentiles of the pooled ``rounds``, each with its bootstrap interval."""
    samples = [_as_sample(r) for r in rounds]
    pool = _Pool(samples)
    labels = _strata(strata, len(samples))
    pooled = pool.pooled()
    n = int(pooled.sum())
    used = sum(1 for r in samples if r.n)
    if not n:
        return {q: Interval(q, None, None, None, 0, 0, confidence) for q in qs}
    requests, widen, method = _method(labels, [r.n > 0 for r in samples])
    rng = np.random.default_rng(seed)
    stats = _quantiles(pool.grid, pool.resample(_draws(labels, resamples, rng), rng, requests),
                       qs)
    out = {}
    for j, q in enumerate(qs):
        point = percentile(pool.grid, pooled, q)
        low, high = _bounds(stats[j], confidence, point, widen)
        out[q] = Interval(q, point, low, high, n, used, confidence, method)
    return out


def compare(candidate: Sequence[Sample | Sequence[float] | np.ndarray],
            baseline: Sequence[Sample | Sequence[float] | np.ndarray], *, q: float = 95.0,
            margin: float = 0.2, slack: float = 0.0, strata: Sequence[int] | None = None,
            confidence: float = 0.95, resamples: int = RESAMPLES, seed: int = 0,
            metric: str = "", unit: str = " ms", against: str = "baseline") -> Regression:
    """Is the candidate's ``q``-th percentile worse than the baseline's by more than
    ``margin * baseline + slack``?

    ``metric``, ``unit`` and ``against`` (the other target's name) only word the reason.
    ``candidate[i]`` and ``baseline[i]`` are the samples of interleaved round ``i`` (same
    length; a round may be empty on one side). The pairs are resampled together. The
    allowance is ``margin * baseline + slack`` at the baseline's point estimate: ``fail`` when
    the interval of the difference (candidate - baseline) lies wholly above it, ``pass`` when
    wholly at or below it, ``inconclusive`` otherwise (or when a side has no sample).
    """
    if len(candidate) != len(baseline):
        raise ValueError(f"{len(candidate)} candidate rounds vs {len(baseline)} baseline rounds")
    cand = [_as_sample(r) for r in candidate]
    base = [_as_sample(r) for r in baseline]
    keep = [i for i in range(len(cand)) if cand[i].n or base[i].n]
    labels = _strata(strata, len(cand))
    cand, base, labels = [cand[i] for i in keep], [base[i] for i in keep], [labels[i] for i in keep]
    name = metric or f"p{q:g}"
    c_pool, b_pool = _Pool(cand), _Pool(base)
    c_counts, b_counts = c_pool.pooled(), b_pool.pooled()
    c_point = percentile(c_pool.grid, c_counts, q)
    b_point = percentile(b_pool.grid, b_counts, q)
    if c_point is None or b_point is None:
        who = "candidate" if c_point is None else against
        empty = Interval(q, None, None, None, 0, 0, confidence)
        c_int = Interval(q, c_point, None, None, int(c_counts.sum()), 0, confidence) \
            if c_point is not None else empty
        b_int = Interval(q, b_point, None, None, int(b_counts.sum()), 0, confidence) \
            if b_point is not None else empty
        return Regression(q, c_int, b_int, None, None, None, None, None, None, margin, slack,
                          confidence, len(keep), "inconclusive",
                          f"{name}: no {who} response to compare")
    requests, widen, method = _method(labels, [c.n > 0 and b.n > 0
                                               for c, b in zip(cand, base, strict=True)])
    rng = np.random.default_rng(seed)
    draws = _draws(labels, resamples, rng)
    c_star = _quantiles(c_pool.grid, c_pool.resample(draws, rng, requests), [q])[0]
    b_star = _quantiles(b_pool.grid, b_pool.resample(draws, rng, requests), [q])[0]
    diff = c_point - b_point
    allowance = margin * b_point + slack
    low, high = _bounds(c_star - b_star, confidence, diff, widen)
    e_low = None if low is None else low - allowance
    e_high = None if high is None else high - allowance
    c_lo, c_hi = _bounds(c_star, confidence, c_point, widen)
    b_lo, b_hi = _bounds(b_star, confidence, b_point, widen)
    c_int = Interval(q, c_point, c_lo, c_hi, int(c_counts.sum()),
                     sum(1 for r in cand if r.n), confidence, method)
    b_int = Interval(q, b_point, b_lo, b_hi, int(b_counts.sum()),
                     sum(1 for r in base if r.n), confidence, method)
    decision: Decision
    if e_low is None or e_high is None:
        decision = "inconclusive"
    elif e_low > 0:
        decision = "fail"
    elif e_high <= 0:
        decision = "pass"
    else:
        decision = "inconclusive"
    reason = _regression_reason(name, unit, c_point, b_point, diff, low, high, allowance,
                                margin, slack, confidence, len(keep), decision, against)
    return Regression(q, c_int, b_int, diff, low, high, allowance, e_low, e_high, margin, slack,
                      confidence, len(keep), decision, reason, method)


def _g(value: float | None, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:.4g}{unit}"


def _regression_reason(name: str, unit: str, c: float, b: float, diff: float, low: float | None,
                       high: float | None, allowance: float, margin: float, slack: float,
                       confidence: float, pairs: int, decision: Decision, against: str) -> str:
    change = f"{(c / b - 1):+.0%}" if b else "n/a"
    head = (f"{name} {_g(c, unit)} vs {against} {_g(b, unit)} ({change}); difference "
            f"{_g(diff, unit)}, {confidence:.0%} interval [{_g(low)}, {_g(high)}]{unit} over "
            f"{pairs} interleaved round pair(s); allowed: {margin:.0%} of the {against}"
            + (f" + {slack:g}{unit}" if slack else "") + f" = {_g(allowance, unit)}")
    if decision == "fail":
        return head + ": the candidate is slower by more than allowed, beyond the noise"
    if decision == "pass":
        return head + ": within the allowance"
    return (head + ": the interval straddles the allowance, inconclusive (not a failure); "
            "measure longer (more rounds) or on a quieter machine to decide")


def judge(interval: Interval, level: float, *, upper: bool = True) -> Decision:
    """An SLO level against an interval: ``upper`` (the value must stay at or below ``level``,
    a latency) or lower (at or above it). Passes or fails only when the whole interval is on one
    side; ``inconclusive`` when it straddles the level or is missing."""
    low, high = interval.low, interval.high
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "inconclusive"
    if upper:
        return "pass" if high <= level else "fail" if low > level else "inconclusive"
    return "pass" if low >= level else "fail" if high < level else "inconclusive"
