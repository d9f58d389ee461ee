"""The load suite: settings, the run (serve, generate, merge) and its checks.

See the package docstring (:mod:`certify.suites.load`) for what it measures and for the
keys of ``report_data``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import os
import socket
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from certify.errors import ConfigError, SuiteError
from certify.evidence import Artifact, Direction, Outcome, Status, Threshold, compare, worst
from certify.suite import CheckSpec, Suite, SuiteContext, SuiteRecord, SuiteSettings
from certify.suites.load import view
from certify.view import Panel

Profile = Literal["steady", "ramp", "spike"]
_ALL_PROFILES: tuple[Profile, ...] = ("steady", "ramp", "spike")
_STEADY: tuple[Profile, ...] = ("steady",)

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

#: The delayed-ACK window: a keep-alive request that waits for a delayed ACK takes ~40 ms
#: more than it should; the neighbouring windows of the same width tell a sharp cluster
#: there from a broad latency distribution that merely has its middle near 40 ms.
DELAYED_ACK_US = (39_000, 45_000)
DELAYED_ACK_NEIGHBOURS_US = ((33_000, 38_999), (45_001, 51_000))
#: The cluster must be this many times denser than either neighbouring window.
DELAYED_ACK_PEAK = 3.0
#: A small response whose last byte trails its first by this much was held back (probe).
DELAYED_ACK_GAP_MS = 30.0
#: Seconds between telling the generators to start and the start (they start together).
START_LEAD_S = 0.25


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
        default_factory=lambda: list(_ALL_PROFILES),
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
        default=False, description="Serve the baseline the same way and fail a p95 regression.")
    baseline_profiles: list[Profile] = Field(
        default_factory=lambda: list(_STEADY), description="Profiles run against the baseline too.")
    regression_margin: float = Field(
        default=0.2, ge=0, description="Candidate p95 may exceed the baseline's by this fraction...")
    regression_slack_ms: float = Field(
        default=2.0, ge=0, description="...plus this many milliseconds (noise floor).")
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


# -- results ---------------------------------------------------------------------------------
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


# -- helpers ---------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    return value


def _remote_allowed(s: LoadSettings, url: str, role: str) -> None:
    host = urllib.parse.urlsplit(url).hostname or ""
    if not _is_loopback(host) and not s.allow_remote:
        raise ConfigError(
            f"suites.load: the {role} URL {urllib.parse.urlsplit(url).netloc} is not a loopback "
            f"address; set allow_remote = true to load-test it")


def _check_ray_address(address: str | None) -> None:
    """Fail fast (a one-line error, not a long hang in ``ray.init``) on an unreachable cluster."""
    address = address or os.environ.get("RAY_ADDRESS")
    if not address or address in ("auto", "local") or "://" in address:
        return
    import ray

    if ray.is_initialized():
        return
    from ray._private.services import canonicalize_bootstrap_address

    try:
        target = canonicalize_bootstrap_address(address) or address
        host, _, port = target.rpartition(":")
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except (OSError, ValueError) as exc:
        raise SuiteError(f"load: Ray cluster {address} is not reachable "
                         f"({type(exc).__name__}: {exc})") from None


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _stages(s: LoadSettings, profile: str, share: float, users: int,
            d: float) -> list[dict[str, float]]:
    """A worker's stages over ``d`` seconds: closed loop (users) or open loop (rate)."""
    if s.mode == "open":
        rate = s.rate * share
        if profile == "ramp":
            return [{"at": 0.0, "rate": rate * 0.1}, {"at": d, "rate": rate * s.ramp_to}]
        if profile == "spike":
            high = rate * s.spike_factor
            eps = 1e-6
            return [{"at": 0.0, "rate": rate}, {"at": d / 3 - eps, "rate": rate},
                    {"at": d / 3, "rate": high}, {"at": 2 * d / 3 - eps, "rate": high},
                    {"at": 2 * d / 3, "rate": rate}]
        return [{"at": 0.0, "rate": rate}]
    spawn = max(s.spawn_rate * share, 1.0)
    if profile == "ramp":
        top = max(users, math.ceil(users * s.ramp_to))
        return [{"at": 0.0, "users": top, "spawn_rate": max(top / d, 0.1)}]
    if profile == "spike":
        high = max(users, math.ceil(users * s.spike_factor))
        fast = max(20.0 * high, spawn)
        return [{"at": 0.0, "users": users, "spawn_rate": spawn},
                {"at": d / 3, "users": high, "spawn_rate": fast},
                {"at": 2 * d / 3, "users": users, "spawn_rate": fast}]
    return [{"at": 0.0, "users": users, "spawn_rate": spawn}]


@dataclass
class _Target:
    """Where the generators send, and the server behind it when we serve the model."""

    url: str
    kind: str
    request_field: str
    expect: str
    headers: dict[str, str]
    server: Any = None

    def setup(self, bodies: list[str]) -> dict[str, Any]:
        parts = urllib.parse.urlsplit(self.url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return {"host": f"{parts.scheme}://{parts.netloc}", "path": path, "bodies": bodies,
                "headers": self.headers, "expect": self.expect}

    def public_url(self) -> str:
        parts = urllib.parse.urlsplit(self.url)
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


# -- the suite -------------------------------------------------------------------------------
class LoadSuite(Suite):

    def panels(self, record: SuiteRecord[Any]) -> list[Panel]:
        return view.panels(record)
    name = "load"
    settings_model = LoadSettings
    description = ("Latency, error-rate and throughput SLOs of the served candidate under steady, "
                   "ramp and spike load (Locust on Ray, exact HdrHistogram percentiles).")

    # -- planning --------------------------------------------------------------------------
    def _baseline_on(self, ctx: SuiteContext) -> bool:
        return bool(ctx.settings.compare_baseline and ctx.baseline is not None)

    def checks(self, ctx: SuiteContext) -> list[CheckSpec]:
        s: LoadSettings = ctx.settings
        for role, model in (("candidate", ctx.candidate), ("baseline", ctx.baseline)):
            if model is not None and getattr(model, "format", None) == "http" and (
                    role == "candidate" or self._baseline_on(ctx)):
                _remote_allowed(s, model.source, role)
        specs: list[CheckSpec] = []
        for profile in s.profiles:
            for metric, threshold in s.thresholds_for(profile).items():
                specs.append(self.check(
                    metric, self._slo_check(s, profile, metric, threshold), param=profile,
                    description=f"{metric} of the candidate under the {profile} profile"))
        if self._baseline_on(ctx):
            for profile in s.baseline_profiles:
                specs.append(self.check(
                    "p95_regression", self._regression_check(s, profile), param=profile,
                    description=f"p95 under {profile}: candidate vs baseline served the same way"))
        specs.append(self.check("delayed_ack", self._delayed_ack_check(s), required=False,
                                description="latencies clustered around 40 ms (TCP delayed ACK)"))
        return specs

    # -- the work ----------------------------------------------------------------------------
    def _bodies(self, ctx: SuiteContext, request_field: str) -> tuple[list[str], dict[str, Any]]:
        import numpy as np

        s: LoadSettings = ctx.settings
        frame = ctx.data.X()
        if frame.empty:
            raise SuiteError("load: the evaluation data has no rows to send")
        rows = frame.to_numpy(dtype=object)
        rng = np.random.default_rng(ctx.seed)
        bodies = []
        for _ in range(s.body_pool):
            picks = rng.integers(0, len(rows), size=s.rows_per_request)
            instances = [[_jsonable(v) for v in rows[i]] for i in picks]
            bodies.append(json.dumps({request_field: instances}, allow_nan=False,
                                     separators=(",", ":"), default=str))
        first = dict(zip(frame.columns, (_jsonable(v) for v in rows[0]), strict=True))
        example = {"request_field": request_field, "rows_per_request": s.rows_per_request,
                   "body_pool": s.body_pool, "first_row_masked": ctx.mask_record(first)}
        return bodies, example

    def _target(self, ctx: SuiteContext, model: Any, role: str) -> _Target:
        s: LoadSettings = ctx.settings
        if model.format == "http":
            from certify.models.http import _headers

            spec = model.spec
            url = str(spec.url)
            _remote_allowed(s, url, role)
            return _Target(url, "url", spec.request_field, f'"{spec.predictions_field}"',
                           _headers(spec, role))
        from certify.suites.load.server import ModelServer

        frame = ctx.data.X().head(1)
        server = ModelServer(model, features=list(frame.columns),
                             dtypes={c: str(frame[c].dtype) for c in frame.columns},
                             workers=s.server_workers, host=s.server_host,
                             affinity=s.server_cpus, label=role)
        server.spawn()
        return _Target(server.url, "served", "instances", '"predictions"', {}, server)

    def run(self, ctx: SuiteContext) -> LoadResult:
        from certify.raycluster import ensure_ray
        from certify.suites.load.generator import GeneratorPool

        s: LoadSettings = ctx.settings
        runs: dict[tuple[str, str], ProfileRun] = {}
        with contextlib.ExitStack() as stack:
            target = self._target(ctx, ctx.candidate, "candidate")
            if target.server is not None:
                stack.callback(target.server.stop)
            bodies, example = self._bodies(ctx, target.request_field)
            ctx.progress("load: starting Ray and the load generators")
            _check_ray_address(s.ray_address)
            ray = ensure_ray(s.ray_address)
            setup = {**target.setup(bodies), "timeout_s": s.request_timeout_s, "seed": ctx.seed,
                     "open_users": s.open_users, "think_time_s": s.think_time_s,
                     "grace_s": s.request_timeout_s + 10}
            pool = GeneratorPool(ray, s.workers, setup, num_cpus=s.worker_num_cpus,
                                 affinity=s.generator_cpus)
            stack.callback(pool.close)
            if target.server is not None:
                target.server.wait_ready(s.start_timeout_s)
            pool.start(s.start_timeout_s)
            generators = [{"index": w.index, **{k: w.info.get(k) for k in
                                                ("node_id", "hostname", "actor_pid", "locust_pid")}}
                          for w in pool.workers]
            if s.warmup_s > 0:
                ctx.progress(f"load: warm-up ({s.warmup_s:g} s)")
                self._profile(ctx, pool, target, "steady", "warmup", duration=s.warmup_s)
            for profile in s.profiles:
                dead = target.server.check() if target.server is not None else []
                if dead:  # no point in loading a dead server: its checks fail as they stand
                    runs[("candidate", profile)] = _not_run(
                        profile, "candidate", s.mode,
                        f"{len(dead)} of {len(target.server.procs)} server process(es) had "
                        f"already died (exit code {dead[0][1]})")
                    continue
                ctx.progress(f"load: {profile} profile ({s.duration_s:g} s, {s.mode} loop)")
                runs[("candidate", profile)] = self._profile(ctx, pool, target, profile, "candidate")
            probe = {"error": "not probed (server dead)"}
            if target.server is None or not target.server.check():
                from certify.suites.load.probe import probe as probe_gap

                probe = probe_gap(target.url, bodies[0], target.headers, count=10,
                                  timeout_s=min(10.0, 2 * s.request_timeout_s))
            if self._baseline_on(ctx):
                if target.server is not None:
                    target.server.stop()
                base = self._target(ctx, ctx.baseline, "baseline")
                if base.server is not None:
                    stack.callback(base.server.stop)
                    base.server.wait_ready(s.start_timeout_s)
                base_bodies = bodies
                if base.request_field != target.request_field:
                    base_bodies, _ = self._bodies(ctx, base.request_field)
                override = base.setup(base_bodies)
                if base_bodies is bodies:
                    override.pop("bodies")
                for profile in s.baseline_profiles:
                    ctx.progress(f"load: baseline {profile} profile ({s.duration_s:g} s)")
                    if s.warmup_s > 0:
                        self._profile(ctx, pool, base, "steady", "warmup", duration=s.warmup_s,
                                      override=override)
                    runs[("baseline", profile)] = self._profile(ctx, pool, base, profile,
                                                                "baseline", override=override)
        result = LoadResult(
            target={"kind": target.kind, "url": target.public_url(),
                    "server_workers": s.server_workers if target.server is not None else None},
            mode=s.mode, generators=generators, runs=runs,
            settings={"workers": s.workers, "users": s.users, "rate": s.rate,
                      "duration_s": s.duration_s, "max_requests": s.max_requests,
                      "spike_factor": s.spike_factor, "ramp_to": s.ramp_to, "mode": s.mode,
                      "rows_per_request": s.rows_per_request},
            seed=ctx.seed, body_pool=len(bodies), probe=probe,
        )
        self._write_artifacts(ctx, result, example)
        return result

    def _profile(self, ctx: SuiteContext, pool: Any, target: _Target, profile: str, role: str,
                 *, duration: float | None = None,
                 override: dict[str, Any] | None = None) -> ProfileRun:
        from certify.suites.load import histogram as hd

        s: LoadSettings = ctx.settings
        n = len(pool.workers)
        duration = s.duration_s if duration is None else duration
        user_split = _split(s.users, n)
        caps = _split(s.max_requests, n)
        start_at = time.time() + START_LEAD_S + 0.02 * n
        plans = []
        for i in range(n):
            plan: dict[str, Any] = {
                "name": profile, "mode": s.mode, "duration_s": duration,
                "stages": _stages(s, profile, 1.0 / n, user_split[i], duration),
                "max_requests": max(caps[i], 0), "start_at": start_at,
            }
            if override:
                plan["target"] = override
            plans.append(plan)
        server = target.server
        died_before = len(server.check()) if server is not None else 0
        died_at: list[float] = []
        cpu0 = server.cpu_seconds() if server is not None else 0.0

        def poll() -> None:
            if server is not None and len(server.check()) > died_before and not died_at:
                died_at.append(time.time() - start_at)

        timeout = START_LEAD_S + 0.02 * n + duration + s.request_timeout_s + 10
        results = pool.run(plans, timeout, poll=poll)
        poll()
        ok = [r for r in results if "error" not in r]
        problems = [f"generator {r.get('index')}: {r['error']}" for r in results if "error" in r]
        for r in ok:
            if r.get("listener_errors"):
                problems.append(f"generator {r['index']}: the request listener raised "
                                f"{r['listener_errors']} time(s) ({r.get('first_listener_error')})")
            if r.get("task_errors"):
                problems.append(f"generator {r['index']}: the load task raised "
                                f"{r['task_errors']} time(s) ({r.get('first_task_error')})")
        open_loop = s.mode == "open"
        service = hd.merge(r["hist"] for r in ok)
        measured = hd.merge(r["corrected"] for r in ok) if open_loop else service
        successes = sum(int(r["successes"]) for r in ok)
        merged_count = hd.count(service)
        merge = {"merged_count": merged_count, "sum_of_workers": successes,
                 "exact": merged_count == successes,
                 "per_worker": [int(r["successes"]) for r in ok]}
        if not merge["exact"]:
            problems.append(f"merged histogram holds {merged_count} latencies, workers reported "
                            f"{successes}")
        elapsed = max((float(r["elapsed_s"]) for r in ok), default=0.0)
        # Per-second series; a sliver (< 0.2 s) of a last second joins the second before it.
        last = int(elapsed)
        if last >= 1 and elapsed - last < 0.2:
            last -= 1
        by_second: dict[int, dict[str, Any]] = {}
        for r in ok:
            for item in r["series"]:
                second = min(int(item["t"]), last)
                slot = by_second.setdefault(second, {"ok": 0, "fail": 0, "hists": []})
                slot["ok"] += int(item["ok"])
                slot["fail"] += int(item["fail"])
                slot["hists"].append(item["hist"])
        series = []
        for second in sorted(by_second):
            slot = by_second[second]
            width = 1.0 if second < last else max(elapsed - second, 0.05)
            h = hd.merge(slot["hists"])
            series.append({"t": second, "requests": slot["ok"] + slot["fail"],
                           "failures": slot["fail"], "rps": round(slot["ok"] / width, 2),
                           "p50_ms": hd.percentile_ms(h, 50), "p95_ms": hd.percentile_ms(h, 95),
                           "p99_ms": hd.percentile_ms(h, 99)})
        errors: dict[str, int] = {}
        for r in ok:
            for name, count in r["errors"].items():
                errors[name] = errors.get(name, 0) + int(count)
        workers = []
        saturated = []
        for r in sorted(results, key=lambda r: int(r.get("index") or 0)):
            if "error" in r:
                workers.append({"index": r.get("index"), "error": r["error"]})
                continue
            samples = [float(x) for x in r.get("cpu_samples_pct") or []]
            mean = r.get("cpu_mean_pct")
            peak = max(samples) if samples else (float(mean) if mean is not None else None)
            workers.append({"index": r["index"], "requests": r["requests"],
                            "successes": r["successes"], "failures": r["failures"],
                            "mean_pct": mean, "peak_pct": peak,
                            "loop_lag_p99_ms": (r.get("loop_lag_ms") or {}).get("p99"),
                            "stopped_by": r.get("stopped_by")})
            if peak is not None and peak > s.generator_cpu_limit:
                saturated.append(f"generator {r['index']} used {peak:.0f}% of a core "
                                 f"(limit {s.generator_cpu_limit:g}%)")
        server_died = None
        server_cpu = None
        if server is not None:
            dead = server.check()[died_before:]
            if dead:
                when = f" {died_at[0]:.1f} s into the profile" if died_at else ""
                server_died = (f"{len(dead)} of {len(server.procs)} server process(es) died{when} "
                               f"(exit code {dead[0][1]})")
            if elapsed > 0:
                server_cpu = round(100.0 * (server.cpu_seconds() - cpu0) / elapsed, 1)
        stopped = {str(r.get("stopped_by")) for r in ok}
        offered = sum(int(r["offered"]) for r in ok) if open_loop and ok else None
        unsent = sum(int(r["unsent"]) for r in ok) if open_loop and ok else None
        return ProfileRun(
            profile=profile, role=role, mode=s.mode, workers=workers,
            hist=hd.encode(measured), service_hist=hd.encode(service),
            latency_ms=hd.summary_ms(measured), service_latency_ms=hd.summary_ms(service),
            requests=sum(int(r["requests"]) for r in ok), successes=successes,
            failures=sum(int(r["failures"]) for r in ok),
            issued=sum(int(r["issued"]) for r in ok), errors=errors, series=series,
            elapsed_s=round(elapsed, 4),
            stopped_by="max_requests" if "max_requests" in stopped else "duration",
            merge=merge, generator_error="; ".join(problems) or None,
            saturated="; ".join(saturated) or None, server_died=server_died,
            server_cpu_pct=server_cpu, offered=offered, unsent=unsent,
            plan={"duration_s": duration, "workers": n, "stages": [p["stages"] for p in plans]},
        )

    def _write_artifacts(self, ctx: SuiteContext, result: LoadResult, example: dict[str, Any]) -> None:
        summary: dict[str, Any] = {"target": result.target, "generators": result.generators,
                                   "settings": result.settings, "seed": result.seed, "runs": {}}
        for (role, profile), run in result.runs.items():
            run.artifacts.append(ctx.write_artifact(
                f"{role}-{profile}.hdr", run.hist + "\n",
                f"merged HdrHistogram (µs, base64) of {role} latencies under {profile}"))
            summary["runs"][f"{role}/{profile}"] = _run_record(run)
        result.artifacts.append(ctx.write_artifact("summary.json", summary,
                                                   "load profiles: percentiles, series, errors"))
        result.artifacts.append(ctx.write_artifact(
            "request-example.json", example, "shape of the request bodies (sensitive values masked)"))

    # -- checks ------------------------------------------------------------------------------
    def _slo_check(self, s: LoadSettings, profile: str, metric: str, threshold: Threshold) -> Any:
        def check(result: LoadResult) -> Outcome:
            run = result.runs.get(("candidate", profile))
            if run is None:
                return Outcome(status=Status.ERRORED, reason=f"profile {profile} did not run")
            return self._judge(s, result, run, metric, threshold)

        return check

    def _judge(self, s: LoadSettings, result: LoadResult, run: ProfileRun, metric: str,
               threshold: Threshold) -> Outcome:
        s_sat = s.on_saturated
        direction = METRICS[metric][0]
        value = run.metric(metric)
        comparison = compare(metric, value, threshold, direction)
        metrics = _metrics(run)
        details = _details(run)
        artifacts = list(run.artifacts) + list(result.artifacts)
        where = f"{run.profile} ({run.requests} responses in {run.elapsed_s:.1f} s)"
        if run.generator_error:
            return Outcome(status=Status.ERRORED, reason=f"load generator failed under "
                           f"{run.profile}: {run.generator_error}", metrics=metrics,
                           comparisons=[comparison], details=details, artifacts=artifacts)
        if run.server_died:
            return Outcome(status=Status.FAILED, reason=f"server died under {run.profile}: "
                           f"{run.server_died}; {run.failures} of {run.requests} requests failed"
                           + (f" ({run.errors_text()})" if run.errors else ""),
                           metrics=metrics, comparisons=[comparison], details=details,
                           artifacts=artifacts)
        if run.saturated and s_sat == "error":
            return Outcome(status=Status.ERRORED, reason=f"load generator saturated under "
                           f"{run.profile}: {run.saturated}; its latencies would measure the "
                           f"generator, not the model", metrics=metrics,
                           comparisons=[comparison], details=details, artifacts=artifacts)
        if run.requests == 0:
            status = Status.FAILED if run.issued else Status.ERRORED
            why = (f"no answer to any of {run.issued} requests within {run.elapsed_s:.1f} s "
                   f"(server hung?)" if run.issued else "no request was sent")
            return Outcome(status=status, reason=f"{run.profile}: {why}", metrics=metrics,
                           comparisons=[comparison], details=details, artifacts=artifacts)
        if value is None and METRICS[metric][1] is not None:
            return Outcome(status=Status.FAILED,
                           reason=f"{run.profile}: no successful response; {run.failures} of "
                                  f"{run.requests} requests failed ({run.errors_text()})",
                           metrics=metrics, comparisons=[comparison], details=details,
                           artifacts=artifacts)
        out = Outcome.from_comparisons([comparison], subject=where, metrics=metrics,
                                       details=details, artifacts=artifacts)
        if metric == "error_rate" and run.errors:
            out.reason += f"; errors: {run.errors_text()}"
        if run.saturated:  # on_saturated = "warn"
            out.status = worst([out.status, Status.WARNED])
            out.reason += f"; generator saturated: {run.saturated}"
        return out

    def _regression_check(self, s: LoadSettings, profile: str) -> Any:
        def check(result: LoadResult) -> Outcome:
            cand = result.runs.get(("candidate", profile))
            base = result.runs.get(("baseline", profile))
            if cand is None or base is None:
                return Outcome(status=Status.ERRORED,
                               reason=f"profile {profile} did not run for both models")
            margin, slack = s.regression_margin, s.regression_slack_ms
            for run in (cand, base):
                if run.generator_error or (run.saturated and s.on_saturated == "error"):
                    return Outcome(status=Status.ERRORED,
                                   reason=f"{run.role} {profile}: "
                                          f"{run.generator_error or run.saturated}")
            c95, b95 = cand.metric("p95_ms"), base.metric("p95_ms")
            if base.server_died or b95 is None:
                return Outcome(status=Status.ERRORED,
                               reason=f"baseline {profile}: no latency to compare with "
                                      f"({base.server_died or base.errors_text() or 'no response'})")
            if cand.server_died or c95 is None:
                return Outcome(status=Status.FAILED,
                               reason=f"candidate {profile}: {cand.server_died or 'no successful response'}")
            excess = c95 - b95 * (1 + margin)
            comparison = compare("p95_excess_ms", excess, Threshold(fail=slack), Direction.MAX)
            change = (c95 / b95 - 1) * 100 if b95 else float("inf")
            return Outcome.from_comparisons(
                [comparison],
                subject=(f"p95 {c95:.2f} ms vs baseline {b95:.2f} ms ({change:+.0f}%, margin "
                         f"{margin:.0%} + {slack:g} ms)"),
                metrics={"candidate_p95_ms": c95, "baseline_p95_ms": b95, "p95_excess_ms": excess,
                         "margin": margin, "slack_ms": slack},
                artifacts=cand.artifacts + base.artifacts)

        return check

    def _delayed_ack_check(self, s: LoadSettings) -> Any:
        return lambda result: self._delayed_ack(s, result)

    def _delayed_ack(self, s: LoadSettings, result: LoadResult) -> Outcome:
        from certify.suites.load import histogram as hd

        runs = [r for (role, _), r in result.runs.items() if role == "candidate"]
        merged = hd.merge(r.service_hist for r in runs)
        share = hd.fraction_between(merged, *DELAYED_ACK_US)
        around = max(hd.fraction_between(merged, lo, hi) for lo, hi in DELAYED_ACK_NEIGHBOURS_US)
        probe = result.probe or {}
        metrics = {"share_39_45_ms": round(share, 4), "share_neighbour_max": round(around, 4),
                   "responses": hd.count(merged), "limit": s.delayed_ack_share,
                   "probe_gap_ms": probe.get("gap_ms"), "probe_latency_ms": probe.get("latency_ms"),
                   "probes": probe.get("probes")}
        cause = ("the signature of TCP delayed ACK (a server that writes headers and body "
                 "separately without TCP_NODELAY): every latency carries ~40 ms of network "
                 "stack, not model time")
        gap = probe.get("gap_ms")
        if gap is not None and gap >= DELAYED_ACK_GAP_MS:
            return Outcome(status=Status.WARNED, metrics=metrics, details={"probe": probe},
                           reason=f"on a keep-alive connection each response's last byte came "
                                  f"{gap:.1f} ms after its first ({probe['probes']} sequential "
                                  f"probes): {cause}")
        if hd.count(merged) and share >= s.delayed_ack_share and share >= DELAYED_ACK_PEAK * around:
            return Outcome(status=Status.WARNED, metrics=metrics, details={"probe": probe},
                           reason=f"{share:.0%} of latencies lie within 39-45 ms (vs {around:.0%} "
                                  f"in the 6 ms beside it): {cause}")
        if not hd.count(merged) and gap is None:
            return Outcome(status=Status.SKIPPED, reason="no successful response to look at",
                           metrics=metrics, details={"probe": probe})
        probe_text = f"; probe: last byte {gap:.2f} ms after the first" if gap is not None else ""
        return Outcome(status=Status.PASSED, metrics=metrics, details={"probe": probe},
                       reason=f"no delayed-ACK signature ({share:.1%} of latencies within "
                              f"39-45 ms, {around:.1%} beside it{probe_text})")

    # -- report ------------------------------------------------------------------------------
    def report_data(self, ctx: SuiteContext, result: LoadResult) -> dict[str, Any]:
        s: LoadSettings = ctx.settings
        profiles: dict[str, Any] = {}
        baseline: dict[str, Any] = {}
        for (role, profile), run in result.runs.items():
            record = _run_record(run)
            record["thresholds"] = {m: t.model_dump() for m, t in s.thresholds_for(profile).items()}
            (profiles if role == "candidate" else baseline)[profile] = record
        return {"target": result.target, "mode": result.mode, "settings": result.settings,
                "generators": result.generators, "profiles": profiles,
                "baseline": baseline or None, "delayed_ack_probe": result.probe}


def _not_run(profile: str, role: str, mode: str, server_died: str) -> ProfileRun:
    """A profile skipped because the server was already dead."""
    from certify.suites.load import histogram as hd

    empty = hd.new()
    return ProfileRun(
        profile=profile, role=role, mode=mode, workers=[], hist=hd.encode(empty),
        service_hist=hd.encode(empty), latency_ms=hd.summary_ms(empty),
        service_latency_ms=hd.summary_ms(empty), requests=0, successes=0, failures=0, issued=0,
        errors={}, series=[], elapsed_s=0.0, stopped_by="not run",
        merge={"merged_count": 0, "sum_of_workers": 0, "exact": True, "per_worker": []},
        server_died=server_died)


def _run_record(run: ProfileRun) -> dict[str, Any]:
    return {
        "requests": run.requests, "successes": run.successes, "failures": run.failures,
        "error_rate": run.error_rate, "throughput_rps": run.throughput_rps,
        "elapsed_s": run.elapsed_s, "stopped_by": run.stopped_by,
        "latency_ms": run.latency_ms, "service_latency_ms": run.service_latency_ms,
        "errors": run.errors, "series": run.series,
        "generator_cpu": [{"index": w.get("index"), "mean_pct": w.get("mean_pct"),
                           "peak_pct": w.get("peak_pct"),
                           "loop_lag_p99_ms": w.get("loop_lag_p99_ms")} for w in run.workers],
        "generator_saturated": run.saturated, "generator_error": run.generator_error,
        "server_cpu_pct": run.server_cpu_pct, "server_died": run.server_died,
        "merge": {k: run.merge[k] for k in ("merged_count", "sum_of_workers", "exact")},
        "offered": run.offered, "unsent": run.unsent,
    }


def _metrics(run: ProfileRun) -> dict[str, Any]:
    lat = run.latency_ms
    return {
        "p50_ms": lat.get("p50"), "p90_ms": lat.get("p90"), "p95_ms": lat.get("p95"),
        "p99_ms": lat.get("p99"), "p999_ms": lat.get("p999"), "max_ms": lat.get("max"),
        "error_rate": run.error_rate, "throughput_rps": run.throughput_rps,
        "requests": run.requests, "successes": run.successes, "failures": run.failures,
        "elapsed_s": run.elapsed_s, "workers": len(run.workers),
        "merged_count": run.merge["merged_count"], "sum_of_workers": run.merge["sum_of_workers"],
        "generator_peak_cpu_pct": max((w.get("peak_pct") or 0.0 for w in run.workers), default=None),
        "server_cpu_pct": run.server_cpu_pct,
    }


def _details(run: ProfileRun) -> dict[str, Any]:
    return {"errors": run.errors, "workers": run.workers, "mode": run.mode,
            "service_latency_ms": run.service_latency_ms, "stopped_by": run.stopped_by,
            "offered": run.offered, "unsent": run.unsent, "plan": run.plan,
            "generator_error": run.generator_error, "saturated": run.saturated,
            "server_died": run.server_died}
