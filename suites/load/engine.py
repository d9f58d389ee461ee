"""The load run, callable without pytest: serve the candidate (and the baseline), start the
Locust processes on Ray, run each profile, merge what they measured, probe for delayed ACKs,
and write the artifacts. :func:`run` returns a :class:`~certify.suites.load.result.LoadResult`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from typing import Any

from certify.errors import SuiteError
from certify.raycluster import ensure_ray
from certify.suite import SuiteContext
from certify.suites.load.generator import GeneratorPool
from certify.suites.load.merge import merge_profile, not_run
from certify.suites.load.plan import worker_plans
from certify.suites.load.probe import probe as probe_gap
from certify.suites.load.result import LoadResult, ProfileRun
from certify.suites.load.settings import LoadSettings
from certify.suites.load.target import Target, open_target, request_bodies

#: Seconds between telling the generators to start and the start (they start together).
START_LEAD_S = 0.25


def baseline_on(ctx: SuiteContext[LoadSettings]) -> bool:
    """The baseline is served and loaded the same way (``compare_baseline`` and a baseline)."""
    return bool(ctx.settings.compare_baseline and ctx.baseline is not None)


def check_ray_address(address: str | None) -> None:
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


def run(ctx: SuiteContext[LoadSettings]) -> LoadResult:
    """Every profile against the candidate (and the baseline's against the baseline)."""
    s = ctx.settings
    runs: dict[tuple[str, str], ProfileRun] = {}
    with contextlib.ExitStack() as stack:
        target = open_target(ctx, ctx.candidate, "candidate")
        if target.server is not None:
            stack.callback(target.server.stop)
        bodies, example = request_bodies(ctx, target.request_field)
        ctx.progress("load: starting Ray and the load generators")
        check_ray_address(s.ray_address)
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
            profile_run(s, pool, target, "steady", "warmup", duration=s.warmup_s)
        for profile in s.profiles:
            server = target.server
            if server is not None and (dead := server.check()):
                # no point in loading a dead server: its checks fail as they stand
                runs[("candidate", profile)] = not_run(
                    profile, "candidate", s.mode,
                    f"{len(dead)} of {len(server.procs)} server process(es) had "
                    f"already died (exit code {dead[0][1]})")
                continue
            ctx.progress(f"load: {profile} profile ({s.duration_s:g} s, {s.mode} loop)")
            runs[("candidate", profile)] = profile_run(s, pool, target, profile, "candidate")
        probe: dict[str, Any] = {"error": "not probed (server dead)"}
        if target.server is None or not target.server.check():
            probe = probe_gap(target.url, bodies[0], target.headers, count=10,
                              timeout_s=min(10.0, 2 * s.request_timeout_s))
        if baseline_on(ctx):
            assert ctx.baseline is not None
            if target.server is not None:
                target.server.stop()
            base = open_target(ctx, ctx.baseline, "baseline")
            if base.server is not None:
                stack.callback(base.server.stop)
                base.server.wait_ready(s.start_timeout_s)
            base_bodies = bodies
            if base.request_field != target.request_field:
                base_bodies, _ = request_bodies(ctx, base.request_field)
            override = base.setup(base_bodies)
            if base_bodies is bodies:
                override.pop("bodies")
            for profile in s.baseline_profiles:
                ctx.progress(f"load: baseline {profile} profile ({s.duration_s:g} s)")
                if s.warmup_s > 0:
                    profile_run(s, pool, base, "steady", "warmup", duration=s.warmup_s,
                                override=override)
                runs[("baseline", profile)] = profile_run(s, pool, base, profile, "baseline",
                                                          override=override)
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
    write_artifacts(ctx, result, example)
    return result


def profile_run(s: LoadSettings, pool: GeneratorPool, target: Target, profile: str, role: str,
                *, duration: float | None = None,
                override: dict[str, Any] | None = None) -> ProfileRun:
    """One profile on every generator at once, watching the server (if ours) as it runs."""
    n = len(pool.workers)
    duration = s.duration_s if duration is None else duration
    start_at = time.time() + START_LEAD_S + 0.02 * n
    plans = worker_plans(s, profile, n, duration, start_at, override)
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
    server_died = None
    server_cpu_s = None
    if server is not None:
        dead = server.check()[died_before:]
        if dead:
            when = f" {died_at[0]:.1f} s into the profile" if died_at else ""
            server_died = (f"{len(dead)} of {len(server.procs)} server process(es) died{when} "
                           f"(exit code {dead[0][1]})")
        server_cpu_s = server.cpu_seconds() - cpu0
    return merge_profile(results, s, profile=profile, role=role, server_died=server_died,
                         server_cpu_s=server_cpu_s,
                         plan={"duration_s": duration, "workers": n,
                               "stages": [p["stages"] for p in plans]})


def write_artifacts(ctx: SuiteContext[LoadSettings], result: LoadResult,
                    example: dict[str, Any]) -> None:
    """The merged histograms, a summary of every run and the shape of the request bodies."""
    summary: dict[str, Any] = {"target": result.target, "generators": result.generators,
                               "settings": result.settings, "seed": result.seed, "runs": {}}
    for (role, profile), run in result.runs.items():
        run.artifacts.append(ctx.write_artifact(
            f"{role}-{profile}.hdr", run.hist + "\n",
            f"merged HdrHistogram (µs, base64) of {role} latencies under {profile}"))
        summary["runs"][f"{role}/{profile}"] = run.record()
    result.artifacts.append(ctx.write_artifact("summary.json", summary,
                                               "load profiles: percentiles, series, errors"))
    result.artifacts.append(ctx.write_artifact(
        "request-example.json", example, "shape of the request bodies (sensitive values masked)"))
