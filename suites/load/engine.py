"""The load run, callable without pytest: serve the candidate (and the baseline, at the same
time), start the Locust processes on Ray, warm up, run each profile (the compared ones in
interleaved rounds of candidate and baseline), merge what they measured, compute the intervals,
run a profile again while a latency SLO or the regression is inconclusive (``extend_runs``),
probe for delayed ACKs, and write the artifacts. :func:`run` returns a
:class:`~certify.suites.load.result.LoadResult`.
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
from certify.suites.load.intervals import regression, run_intervals, undecided
from certify.suites.load.merge import merge_profile, not_run
from certify.suites.load.merge import pool as pool_runs
from certify.suites.load.plan import DRAIN_S, LEAD_S, phase, shape, worker_plans
from certify.suites.load.plan import rounds as plan_rounds
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
    """Every profile against the candidate; ``baseline_profiles`` against both, interleaved."""
    s = ctx.settings
    runs: dict[tuple[str, str], ProfileRun] = {}
    serving: dict[str, dict[str, Any]] = {}
    regressions: dict[str, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        target = open_target(ctx, ctx.candidate, "candidate")
        if target.server is not None:
            stack.callback(target.server.stop)
            serving["candidate"] = target.labels
        base: Target | None = None
        if baseline_on(ctx):
            assert ctx.baseline is not None
            base = open_target(ctx, ctx.baseline, "baseline")
            if base.server is not None:
                stack.callback(base.server.stop)
                serving["baseline"] = base.labels
        bodies, example = request_bodies(ctx, target.request_field)
        members: list[Member] = [("candidate", target, {})]
        if base is not None:
            override = base.setup(bodies)
            if base.request_field != target.request_field:
                override["bodies"] = request_bodies(ctx, base.request_field)[0]
            else:
                override.pop("bodies")
            members.append(("baseline", base, override))
        ctx.progress("load: starting Ray and the load generators")
        check_ray_address(s.ray_address)
        ray = ensure_ray(s.ray_address)
        setup = {**target.setup(bodies), "timeout_s": s.request_timeout_s, "seed": ctx.seed,
                 "open_users": s.open_users, "think_time_s": s.think_time_s,
                 "grace_s": s.request_timeout_s + 10}
        pool = GeneratorPool(ray, s.workers, setup, num_cpus=s.worker_num_cpus,
                             affinity=s.generator_cpus)
        stack.callback(pool.close)
        for _, member, _ in members:
            if member.server is not None:
                member.server.wait_ready(s.start_timeout_s)
        pool.start(s.start_timeout_s)
        generators = [{"index": w.index, **{k: w.info.get(k) for k in
                                            ("node_id", "hostname", "actor_pid", "locust_pid")}}
                      for w in pool.workers]
        if s.warmup_s > 0:
            ctx.progress(f"load: warm-up ({s.warmup_s:g} s, not measured)")
            profile_run(s, pool, members, "steady", duration=s.warmup_s * len(members))

        def measure(profile: str) -> dict[str, ProfileRun]:
            these = members if base is not None and profile in s.baseline_profiles else members[:1]
            dead = target.server.check() if target.server is not None else []
            if dead:  # no point in loading a dead server: its checks fail as they stand
                assert target.server is not None
                return {"candidate": not_run(
                    profile, "candidate", s.mode,
                    f"{len(dead)} of {len(target.server.procs)} server process(es) had "
                    f"already died (exit code {dead[0][1]})")}
            what = " and ".join(role for role, _, _ in these)
            ctx.progress(f"load: {profile} profile ({s.duration_s:g} s each, {what}, {s.mode} loop)")
            return profile_run(s, pool, these, profile, duration=s.duration_s * len(these))

        for profile in s.profiles:
            for role, one in measure(profile).items():
                runs[(role, profile)] = one
            judge_profile(runs, regressions, s, ctx.seed, profile)
        for attempt in range(s.extend_runs):
            todo = {p: what for p in s.profiles
                    if (what := undecided(runs, regressions, s, p))}
            for profile, what in todo.items():
                ctx.progress(f"load: {profile} again ({', '.join(what)} inconclusive, "
                             f"extension {attempt + 1} of {s.extend_runs})")
                for role, more in measure(profile).items():
                    if (role, profile) in runs:
                        runs[(role, profile)] = pool_runs(runs[(role, profile)], more)
                judge_profile(runs, regressions, s, ctx.seed, profile)
        probe: dict[str, Any] = {"error": "not probed (server dead)"}
        if target.server is None or not target.server.check():
            probe = probe_gap(target.url, bodies[0], target.headers, count=10,
                              timeout_s=min(10.0, 2 * s.request_timeout_s))
    result = LoadResult(
        target={"kind": target.kind, "url": target.public_url(),
                "server_workers": s.server_workers if target.server is not None else None},
        mode=s.mode, generators=generators, runs=runs,
        settings={"workers": s.workers, "users": s.users, "rate": s.rate,
                  "duration_s": s.duration_s, "max_requests": s.max_requests,
                  "spike_factor": s.spike_factor, "ramp_to": s.ramp_to, "mode": s.mode,
                  "rows_per_request": s.rows_per_request, "confidence": s.confidence,
                  "extend_runs": s.extend_runs},
        seed=ctx.seed, body_pool=len(bodies), probe=probe, serving=serving,
        regressions=regressions,
    )
    write_artifacts(ctx, result, example)
    return result


#: A target of a run: its role, where it is, and its override of the set-up's target.
Member = tuple[str, Target, dict[str, Any]]


def judge_profile(runs: dict[tuple[str, str], ProfileRun], regressions: dict[str, dict[str, Any]],
                  s: LoadSettings, seed: int, profile: str) -> None:
    """The intervals of ``profile``'s runs and, when compared, its regression (in place)."""
    for (_, name), one in runs.items():
        if name == profile:
            one.intervals = run_intervals(one, s, seed)
    cand, base = runs.get(("candidate", profile)), runs.get(("baseline", profile))
    if cand is not None and base is not None and cand.rounds and base.rounds:
        regressions[profile] = regression(cand, base, s, seed)


def profile_run(s: LoadSettings, pool: GeneratorPool, members: list[Member], profile: str, *,
                duration: float) -> dict[str, ProfileRun]:
    """One run of ``profile`` on every generator at once, the ``members`` served in interleaved
    rounds, watching our servers as it runs."""
    n = len(pool.workers)
    start_at = time.time() + START_LEAD_S + 0.02 * n
    round_s, count = plan_rounds(s, duration, len(members))
    targets = [override for _, _, override in members] if len(members) > 1 else None
    plans = worker_plans(s, profile, n, duration, start_at, targets, round_s, LEAD_S)
    servers = {role: member.server for role, member, _ in members if member.server is not None}
    died_before = {role: len(server.check()) for role, server in servers.items()}
    died_at: dict[str, float] = {}
    cpu0 = {role: server.cpu_seconds() for role, server in servers.items()}

    def poll() -> None:
        for role, server in servers.items():
            if len(server.check()) > died_before[role] and role not in died_at:
                died_at[role] = time.time() - start_at - LEAD_S

    timeout = START_LEAD_S + 0.02 * n + LEAD_S + duration + s.request_timeout_s + DRAIN_S + 10
    results = pool.run(plans, timeout, poll=poll)
    poll()
    server_died: dict[str, str | None] = {}
    server_cpu_s: dict[str, float | None] = {}
    for role, server in servers.items():
        dead = server.check()[died_before[role]:]
        if dead:
            when = f" {died_at[role]:.1f} s into the profile" if role in died_at else ""
            server_died[role] = (f"{len(dead)} of {len(server.procs)} server process(es) "
                                 f"died{when} (exit code {dead[0][1]})")
        server_cpu_s[role] = server.cpu_seconds() - cpu0[role]
    out = merge_profile(results, s, profile=profile, roles=[role for role, _, _ in members],
                        plan={"duration_s": duration, "workers": n, "round_s": round_s,
                              "rounds": count, "lead_s": LEAD_S,
                              "stages": [p["stages"] for p in plans]},
                        round_s=round_s, count=count, server_died=server_died,
                        server_cpu_s=server_cpu_s)
    targets_n = len(members)
    load_shape = shape(s, plans, duration)
    for one in out.values():
        one.strata = [phase(profile, (i * targets_n + targets_n / 2) * round_s, duration)
                      for i in range(len(one.rounds))]
        one.shape = load_shape
    return out


def write_artifacts(ctx: SuiteContext[LoadSettings], result: LoadResult,
                    example: dict[str, Any]) -> None:
    """The merged histograms (the whole run, and each round: what the intervals are computed
    from), a summary of every run and the shape of the request bodies."""
    summary: dict[str, Any] = {"target": result.target, "generators": result.generators,
                               "settings": result.settings, "seed": result.seed, "runs": {},
                               "serving": result.serving, "regressions": result.regressions}
    for (role, profile), run in result.runs.items():
        run.artifacts.append(ctx.write_artifact(
            f"{role}-{profile}.hdr", run.hist + "\n",
            f"merged HdrHistogram (µs, base64) of {role} latencies under {profile}"))
        if run.rounds:
            run.artifacts.append(ctx.write_artifact(
                f"{role}-{profile}.rounds.json",
                {"round_s": run.round_s, "strata": run.strata, "runs": run.runs,
                 "rounds": run.rounds},
                f"HdrHistograms (µs, base64) of each measured round of {role} under {profile}, "
                f"in order (the intervals are computed from these)"))
        summary["runs"][f"{role}/{profile}"] = run.record()
    result.artifacts.append(ctx.write_artifact("summary.json", summary,
                                               "load profiles: percentiles, series, errors"))
    result.artifacts.append(ctx.write_artifact(
        "request-example.json", example, "shape of the request bodies (sensitive values masked)"))
