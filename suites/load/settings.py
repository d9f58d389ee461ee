"""``[suites.load]``: the load suite's policy section and the metrics it judges.

Fields, defaults and descriptions are the policy's (its JSON Schema and the README's policy
reference are generated from them).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from certify.evidence import Direction, Threshold
from certify.suite import SuiteSettings

Profile = Literal["steady", "ramp", "spike"]
ALL_PROFILES: tuple[Profile, ...] = ("steady", "ramp", "spike")
STEADY: tuple[Profile, ...] = ("steady",)

#: metric -> (direction, key in the latency summary or None)
METRICS: dict[str, tuple[Direction, str | None]] = {
    "p50_ms": (Direction.MAX, "p50"),
    "p90_ms": (Direction.MAX, "p90"),
    "p95_ms": (Direction.MAX, "p95"),
    "p99_ms": (Direction.MAX, "p99"),
    "p999_ms": (Direction.MAX, "p999"),
    "error_rate": (Direction.MAX, None),
    "throughput_rps": (Direction.MIN, None),
}


def _default_thresholds() -> dict[str, Threshold]:
    return {
        "p50_ms": Threshold(fail=250.0, warn=100.0),
        "p95_ms": Threshold(fail=1000.0, warn=500.0),
        "p99_ms": Threshold(fail=2000.0, warn=1000.0),
        "error_rate": Threshold(fail=0.01, warn=0.001),
    }


def _known(metrics: dict[str, Any], where: str) -> None:
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric '{unknown[0]}' in {where} (known: {', '.join(METRICS)})")


class LoadSettings(SuiteSettings):
    """``[suites.load]``: traffic shape, bounds, generators, server and SLO thresholds."""

    profiles: list[Profile] = Field(
        default_factory=lambda: list(ALL_PROFILES),
        description="Traffic profiles to run, in order: 'steady' (constant), 'ramp' (rising "
                    "linearly to ramp_to x steady), 'spike' (spike_factor x steady in the "
                    "middle third).")
    mode: Literal["closed", "open"] = Field(
        default="closed",
        description="'closed': Locust users each wait for their answer (then think_time_s); "
                    "'open': requests at a fixed arrival rate, latency measured from the "
                    "intended send time (corrects coordinated omission).")
    workers: int = Field(default=1, ge=1, le=512,
                         description="Locust processes, each started by one Ray actor; the "
                                     "actors spread over the cluster's nodes.")
    worker_num_cpus: float = Field(default=1.0, gt=0,
                                   description="Ray CPUs reserved per generator actor.")
    users: int = Field(default=4, ge=1, le=100_000,
                       description="Closed loop: concurrent users (all workers) at steady state.")
    spawn_rate: float = Field(default=100.0, gt=0,
                              description="Closed loop: users started per second (all workers).")
    think_time_s: float = Field(default=0.0, ge=0, le=60,
                                description="Closed loop: pause between a user's requests.")
    rate: float = Field(default=50.0, gt=0, le=1_000_000,
                        description="Open loop: requests per second (all workers) at steady state.")
    open_users: int = Field(default=32, ge=1, le=10_000,
                            description="Open loop: most requests in flight per worker.")
    duration_s: float = Field(default=5.0, gt=0, le=3600, description="Length of each profile.")
    warmup_s: float = Field(default=1.0, ge=0, le=600,
                            description="Unmeasured steady load before the first profile.")
    ramp_to: float = Field(default=2.0, ge=1, le=1000,
                           description="Ramp: final load as a multiple of steady.")
    spike_factor: float = Field(default=4.0, ge=1, le=1000,
                                description="Spike: load in the middle third as a multiple of steady.")
    max_requests: int = Field(default=200_000, ge=1,
                              description="Cap on requests per profile (all workers together).")
    request_timeout_s: float = Field(default=5.0, gt=0, le=600,
                                     description="A request unanswered this long is a 'timeout' error.")
    rows_per_request: int = Field(default=1, ge=1, le=10_000,
                                  description="Evaluation rows in each request body.")
    body_pool: int = Field(default=256, ge=1, le=100_000,
                           description="Distinct request bodies drawn (seeded) from the evaluation rows.")
    server_workers: int = Field(default=2, ge=1, le=256,
                                description="Worker processes of the server that serves the model.")
    server_host: str = Field(
        default="127.0.0.1",
        description="Address the served model binds; '0.0.0.0' when generators on other cluster "
                    "nodes must reach it (the URL then uses this node's IP).")
    server_cpus: list[int] | None = Field(
        default=None, description="CPU cores to pin the server processes to (Linux; benchmarks).")
    generator_cpus: list[int] | None = Field(
        default=None, description="CPU cores to pin the Locust processes to (Linux; benchmarks).")
    start_timeout_s: float = Field(default=90.0, gt=0, le=3600,
                                   description="Limit for the server and the generators to be ready.")
    generator_cpu_limit: float = Field(
        default=80.0, gt=0, le=100,
        description="A Locust process busier than this (% of one core, peak 1-s sample) is "
                    "saturated: its profile's checks are errored (or warned, see on_saturated).")
    on_saturated: Literal["error", "warn"] = Field(
        default="error", description="What a saturated generator makes of its profile's checks.")
    thresholds: dict[str, Threshold] = Field(
        default_factory=_default_thresholds,
        description="SLOs for every profile: p50_ms, p90_ms, p95_ms, p99_ms, p999_ms (max), "
                    "error_rate (max), throughput_rps (min), each {fail, warn}.")
    profile_thresholds: dict[Profile, dict[str, Threshold]] = Field(
        default_factory=dict,
        description="Per-profile SLOs that replace or add to 'thresholds', e.g. "
                    "[suites.load.profile_thresholds.spike] p95_ms = {fail = 800}.")
    compare_baseline: bool = Field(
        default=False,
        description="Serve the baseline too and compare: each of baseline_profiles runs for twice "
                    "duration_s, in interleaved rounds (candidate, baseline, candidate, ...), and "
                    "p95_regression fails only when the interval of the difference clears the "
                    "allowance.")
    baseline_profiles: list[Profile] = Field(
        default_factory=lambda: list(STEADY), description="Profiles run against the baseline too.")
    regression_margin: float = Field(
        default=0.2, ge=0,
        description="Candidate p95 may exceed the baseline's by this fraction of it...")
    regression_slack_ms: float = Field(
        default=0.0, ge=0,
        description="...plus this many milliseconds. The interval carries the noise; a slack "
                    "only widens the allowance (a fixed 2 ms hid a 2x regression of a fast model).")
    round_s: float | None = Field(
        default=None, gt=0, le=60,
        description="Length of a measurement round (the unit of the interleaving and of the "
                    "intervals); default: a tenth of duration_s, within 0.25-1 s.")
    confidence: float = Field(
        default=0.95, ge=0.5, le=0.999,
        description="Confidence of the latency intervals (a two-level bootstrap: rounds, then "
                    "the requests within them). A latency SLO or a regression is decided only "
                    "when its interval lies wholly on one side of the level.")
    extend_runs: int = Field(
        default=1, ge=0, le=10,
        description="When a latency SLO's or the regression's interval straddles its level, run "
                    "that profile again (pooled) up to this many times; still straddling: "
                    "'inconclusive', warned with the interval.")
    delayed_ack_share: float = Field(
        default=0.5, gt=0, le=1,
        description="Warn when this share of latencies lies within 39-45 ms, three times denser "
                    "than beside it (the TCP delayed-ACK signature).")
    ray_address: str | None = Field(
        default=None, description="Ray cluster to join (default: RAY_ADDRESS, else a local Ray).")
    allow_remote: bool = Field(
        default=False,
        description="Allow load against a non-loopback URL (the HTTP adapter's endpoint).")

    @field_validator("thresholds")
    @classmethod
    def _metrics_known(cls, value: dict[str, Threshold]) -> dict[str, Threshold]:
        _known(value, "thresholds")
        return value

    @field_validator("profile_thresholds")
    @classmethod
    def _profile_metrics_known(cls, value: dict[str, dict[str, Threshold]]) -> dict[str, dict[str, Threshold]]:
        for profile, metrics in value.items():
            _known(metrics, f"profile_thresholds.{profile}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> LoadSettings:
        if not self.profiles:
            raise ValueError("profiles: at least one profile is needed")
        if len(set(self.profiles)) != len(self.profiles):
            raise ValueError("profiles: a profile is listed twice")
        if self.mode == "closed" and self.users < self.workers:
            raise ValueError(f"users ({self.users}) must be at least workers ({self.workers})")
        return self

    def thresholds_for(self, profile: str) -> dict[str, Threshold]:
        merged = dict(self.thresholds)
        merged.update(self.profile_thresholds.get(profile, {}))  # type: ignore[call-overload]
        return {m: merged[m] for m in METRICS if m in merged}
