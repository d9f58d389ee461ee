"""Judging a canary step: candidate vs champion, and the candidate against absolute SLOs.

:func:`compare_rounds` is the interval-based comparison (DESIGN.md, Conventions): the samples
come from interleaved rounds (both deployments served in each round, through the same ingress),
a stratified bootstrap resamples within each round, and the confidence interval of the
difference (candidate - champion) of the statistic decides:

* ``fail``: the whole interval lies above the margin (the candidate is worse by more than the
  margin, with the stated confidence);
* ``pass``: the whole interval lies at or below the margin;
* ``inconclusive``: the interval straddles the margin (too few samples, too much noise); not a
  failure, recorded with the interval.

The same model against itself never fails: its difference is centred on 0, below any margin.
It is one function with plain inputs so that the load suite's own comparison can replace it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from certify.deploy.plan import AnalysisSpec

Outcome = Literal["pass", "fail", "inconclusive"]
#: A statistic of a 2-D array of resampled values (one row per resample) -> one value per row.
Statistic = Callable[[np.ndarray], np.ndarray]


def percentile(q: float) -> Statistic:
    def stat(values: np.ndarray) -> np.ndarray:
        return np.asarray(np.percentile(values, q, axis=-1))
    return stat


def mean(values: np.ndarray) -> np.ndarray:
    return np.asarray(np.mean(values, axis=-1))


@dataclass(frozen=True)
class Comparison:
    metric: str
    candidate: float | None
    champion: float | None
    difference: float | None
    low: float | None
    high: float | None
    margin: float
    confidence: float
    outcome: Outcome
    n_candidate: int
    n_champion: int
    reason: str

    def record(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def compare_rounds(candidate: Sequence[Sequence[float]], champion: Sequence[Sequence[float]],
                   *, statistic: Statistic, margin: float, metric: str,
                   confidence: float = 0.95, resamples: int = 1000,
                   seed: int = 0) -> Comparison:
    """Is the candidate worse than the champion by more than ``margin`` (in the statistic's
    units)? ``candidate[i]`` and ``champion[i]`` are the samples of interleaved round ``i``."""
    rounds = [(np.asarray(c, dtype=float), np.asarray(b, dtype=float))
              for c, b in zip(candidate, champion, strict=True)]
    n_c = sum(len(c) for c, _ in rounds)
    n_b = sum(len(b) for _, b in rounds)
    pooled_c = np.concatenate([c for c, _ in rounds]) if n_c else np.empty(0)
    pooled_b = np.concatenate([b for _, b in rounds]) if n_b else np.empty(0)
    point_c = float(statistic(pooled_c[None, :])[0]) if n_c else None
    point_b = float(statistic(pooled_b[None, :])[0]) if n_b else None
    if point_c is None or point_b is None:
        who = "candidate" if point_c is None else "champion"
        return Comparison(metric, point_c, point_b, None, None, None, margin, confidence,
                          "inconclusive", n_c, n_b, f"{metric}: no {who} samples")
    rng = np.random.default_rng(seed)

    def resample(side: int) -> np.ndarray:
        parts = []
        for pair in rounds:
            values = pair[side]
            if len(values):
                parts.append(values[rng.integers(0, len(values), size=(resamples, len(values)))])
        return np.concatenate(parts, axis=1)

    diffs = statistic(resample(0)) - statistic(resample(1))
    alpha = (1 - confidence) / 2
    low, high = (float(x) for x in np.quantile(diffs, [alpha, 1 - alpha]))
    diff = point_c - point_b
    interval = f"[{_fmt(low)}, {_fmt(high)}]"
    if low > margin:
        outcome: Outcome = "fail"
        reason = (f"{metric}: candidate {_fmt(point_c)} vs champion {_fmt(point_b)}, difference "
                  f"{_fmt(diff)} with {confidence:.0%} interval {interval} entirely above the "
                  f"margin {_fmt(margin)}")
    elif high <= margin:
        outcome = "pass"
        reason = (f"{metric}: candidate {_fmt(point_c)} vs champion {_fmt(point_b)}, interval "
                  f"{interval} within the margin {_fmt(margin)}")
    else:
        outcome = "inconclusive"
        reason = (f"{metric}: candidate {_fmt(point_c)} vs champion {_fmt(point_b)}, interval "
                  f"{interval} straddles the margin {_fmt(margin)} (not a failure)")
    return Comparison(metric, point_c, point_b, diff, low, high, margin, confidence, outcome,
                      n_c, n_b, reason)


# -- a step's samples and its judgement ----------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    """One request through the ingress: which deployment answered, how long, whether it failed."""

    role: str  # "candidate", "champion" or "unknown" (no answer to attribute)
    latency_ms: float
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class SloResult:
    metric: str
    value: float | None
    limit: float
    passed: bool

    def record(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StepAnalysis:
    weight: float
    requests: int
    by_role: dict[str, dict[str, Any]]
    comparisons: list[Comparison] = field(default_factory=list)
    slos: list[SloResult] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.reasons

    def record(self) -> dict[str, Any]:
        return {"weight": self.weight, "requests": self.requests, "by_role": self.by_role,
                "comparisons": [c.record() for c in self.comparisons],
                "slos": [s.record() for s in self.slos], "passed": self.passed,
                "reasons": self.reasons, "notes": self.notes, "elapsed_s": self.elapsed_s}


def _role_figures(samples: list[Sample]) -> dict[str, Any]:
    ok = np.asarray([s.latency_ms for s in samples if s.ok], dtype=float)
    errors: dict[str, int] = {}
    for s in samples:
        if not s.ok:
            errors[s.error or "error"] = errors.get(s.error or "error", 0) + 1
    out: dict[str, Any] = {"requests": len(samples), "failures": len(samples) - len(ok),
                           "error_rate": (len(samples) - len(ok)) / len(samples) if samples else None,
                           "errors": errors}
    for name, q in (("p50_ms", 50), ("p90_ms", 90), ("p95_ms", 95), ("p99_ms", 99)):
        out[name] = round(float(np.percentile(ok, q)), 3) if len(ok) else None
    return out


def judge_step(rounds: list[list[Sample]], *, weight: float, spec: AnalysisSpec,
               slos: dict[str, float], compare: bool, seed: int) -> StepAnalysis:
    """The step's figures per deployment, the candidate's SLOs, and (with a champion serving
    part of the traffic) the candidate-vs-champion comparisons of latency and error rate."""
    flat = [s for r in rounds for s in r]
    by_role = {role: _role_figures([s for s in flat if s.role == role])
               for role in ("candidate", "champion", "unknown") if any(s.role == role for s in flat)}
    step = StepAnalysis(weight=weight, requests=len(flat), by_role=by_role)
    unknown = by_role.get("unknown")
    if unknown:
        step.reasons.append(f"{unknown['requests']} request(s) got no answer from the ingress "
                            f"({', '.join(unknown['errors'])})")
    cand = by_role.get("candidate")
    if cand is None:
        step.notes.append("the candidate received no request in this step: not judged")
    else:
        for metric, limit in slos.items():
            value = cand.get(metric)
            passed = value is None or value <= limit
            step.slos.append(SloResult(metric, value, limit, passed))
            if not passed:
                step.reasons.append(f"candidate {metric} {value:.4g} exceeds the SLO {limit:g}")
    if compare and cand is not None and "champion" in by_role:
        q = float(spec.latency_metric.removeprefix("p").removesuffix("_ms"))
        lat_c = [[s.latency_ms for s in r if s.role == "candidate" and s.ok] for r in rounds]
        lat_b = [[s.latency_ms for s in r if s.role == "champion" and s.ok] for r in rounds]
        base = by_role["champion"].get(spec.latency_metric) or 0.0
        margin = spec.latency_margin * base + spec.latency_slack_ms
        step.comparisons.append(compare_rounds(
            lat_c, lat_b, statistic=percentile(q), margin=margin, metric=spec.latency_metric,
            confidence=spec.confidence, resamples=spec.bootstrap, seed=seed))
        err_c = [[0.0 if s.ok else 1.0 for s in r if s.role == "candidate"] for r in rounds]
        err_b = [[0.0 if s.ok else 1.0 for s in r if s.role == "champion"] for r in rounds]
        step.comparisons.append(compare_rounds(
            err_c, err_b, statistic=mean, margin=spec.error_margin, metric="error_rate",
            confidence=spec.confidence, resamples=spec.bootstrap, seed=seed + 1))
        step.reasons += [c.reason for c in step.comparisons if c.outcome == "fail"]
        step.notes += [c.reason for c in step.comparisons if c.outcome == "inconclusive"]
    elif compare:
        step.notes.append("no champion traffic in this step: candidate vs champion not compared")
    return step
