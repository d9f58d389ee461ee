"""The typed result of a load run: one :class:`ProfileRun` per (model, profile), merged over
all generators, in a :class:`LoadResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from certify.evidence import Artifact
from certify.suites.load.settings import METRICS


@dataclass
class ProfileRun:
    """One profile against one model, merged over all workers."""

    profile: str
    role: str
    mode: str
    workers: list[dict[str, Any]]
    hist: str
    service_hist: str
    latency_ms: dict[str, Any]
    service_latency_ms: dict[str, Any]
    requests: int
    successes: int
    failures: int
    issued: int
    errors: dict[str, int]
    series: list[dict[str, Any]]
    elapsed_s: float
    stopped_by: str
    merge: dict[str, Any]
    generator_error: str | None = None
    saturated: str | None = None
    server_died: str | None = None
    server_cpu_pct: float | None = None
    offered: int | None = None
    unsent: int | None = None
    plan: dict[str, Any] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)
    #: This target's measured rounds in order (encoded histograms; round ``i`` of the candidate
    #: and of the baseline are a pair), their strata and their length.
    rounds: list[str] = field(default_factory=list)
    strata: list[int] = field(default_factory=list)
    round_s: float = 0.0
    #: Wall time of the run(s) on the time axis of ``series`` (both targets' rounds).
    span_s: float = 0.0
    #: Runs of the profile pooled here (1 + extensions).
    runs: int = 1
    #: Percentile key (``p50`` ...) -> :meth:`certify.suites.load.compare.Interval.record`.
    intervals: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The load the profile asked for over time (:func:`certify.suites.load.plan.shape`).
    shape: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput_rps(self) -> float | None:
        return self.successes / self.elapsed_s if self.elapsed_s > 0 else None

    @property
    def error_rate(self) -> float | None:
        return self.failures / self.requests if self.requests else None

    def metric(self, name: str) -> float | None:
        if name == "error_rate":
            return self.error_rate
        if name == "throughput_rps":
            return self.throughput_rps
        key = METRICS[name][1]
        assert key is not None
        value = self.latency_ms.get(key)
        return None if value is None else float(value)

    def errors_text(self, limit: int = 3) -> str:
        top = sorted(self.errors.items(), key=lambda kv: -kv[1])[:limit]
        return ", ".join(f"{name}: {n}" for name, n in top)

    def record(self) -> dict[str, Any]:
        """This run as report.json and summary.json record it."""
        return {
            "requests": self.requests, "successes": self.successes, "failures": self.failures,
            "error_rate": self.error_rate, "throughput_rps": self.throughput_rps,
            "elapsed_s": self.elapsed_s, "stopped_by": self.stopped_by,
            "latency_ms": self.latency_ms, "service_latency_ms": self.service_latency_ms,
            "errors": self.errors, "series": self.series,
            "generator_cpu": [{"index": w.get("index"), "mean_pct": w.get("mean_pct"),
                               "peak_pct": w.get("peak_pct"),
                               "loop_lag_p99_ms": w.get("loop_lag_p99_ms")} for w in self.workers],
            "generator_saturated": self.saturated, "generator_error": self.generator_error,
            "server_cpu_pct": self.server_cpu_pct, "server_died": self.server_died,
            "merge": {k: self.merge[k] for k in ("merged_count", "sum_of_workers", "exact")},
            "offered": self.offered, "unsent": self.unsent,
            "latency_ci_ms": {k: [v.get("low"), v.get("high")] for k, v in self.intervals.items()},
            "confidence": next((v.get("confidence") for v in self.intervals.values()), None),
            "interval_method": next((v.get("method") for v in self.intervals.values()), None),
            "rounds": len(self.rounds), "round_s": round(self.round_s, 4), "runs": self.runs,
            "span_s": round(self.span_s, 4), "shape": self.shape,
        }


@dataclass
class LoadResult:
    target: dict[str, Any]
    mode: str
    generators: list[dict[str, Any]]
    runs: dict[tuple[str, str], ProfileRun]
    settings: dict[str, Any]
    artifacts: list[Artifact] = field(default_factory=list)
    seed: int = 0
    body_pool: int = 0
    #: :func:`certify.suites.load.probe.probe` against the candidate after its profiles.
    probe: dict[str, Any] = field(default_factory=dict)
    #: Per role: how the served model answers (:func:`certify.suites.load.app.check_labels`).
    serving: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Per compared profile: :meth:`certify.suites.load.compare.Regression.record`.
    regressions: dict[str, dict[str, Any]] = field(default_factory=dict)
