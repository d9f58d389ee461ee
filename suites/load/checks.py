"""The load suite's checks, one small function each: ``(result, settings, ...) -> Outcome``.

* :func:`slo`: one SLO metric of the candidate under one profile (``load::<metric>[<profile>]``);
  a latency percentile on its bootstrap interval (failed only when the whole interval is past
  the fail level; *inconclusive*, warned, when it straddles it);
* :func:`p95_regression`: candidate p95 against the baseline's, served the same way in
  interleaved rounds, on the interval of the difference (:mod:`.compare`);
* :func:`delayed_ack`: latencies clustered around 40 ms, or a probe that saw responses held back.

A generator that failed or saturated makes a profile's figures untrustworthy (errored, or
warned under ``on_saturated = "warn"``); a server that died or hung fails them.
"""

from __future__ import annotations

from typing import Any

from certify.evidence import Comparison, Direction, Outcome, Status, Threshold, compare, worst
from certify.suites.load import histogram as hd
from certify.suites.load.compare import Interval
from certify.suites.load.compare import judge as judge_interval
from certify.suites.load.intervals import interval
from certify.suites.load.result import LoadResult, ProfileRun
from certify.suites.load.settings import METRICS, LoadSettings

#: The delayed-ACK window: a keep-alive request that waits for a delayed ACK takes ~40 ms
#: more than it should; the neighbouring windows of the same width tell a sharp cluster
#: there from a broad latency distribution that merely has its middle near 40 ms.
DELAYED_ACK_US = (39_000, 45_000)
DELAYED_ACK_NEIGHBOURS_US = ((33_000, 38_999), (45_001, 51_000))
#: The cluster must be this many times denser than either neighbouring window.
DELAYED_ACK_PEAK = 3.0
#: A small response whose last byte trails its first by this much was held back (probe).
DELAYED_ACK_GAP_MS = 30.0


def slo(result: LoadResult, s: LoadSettings, *, profile: str, metric: str,
        threshold: Threshold) -> Outcome:
    """``metric`` of the candidate under ``profile`` against its threshold."""
    run = result.runs.get(("candidate", profile))
    if run is None:
        return Outcome(status=Status.ERRORED, reason=f"profile {profile} did not run")
    out = judge(result, run, s, metric, threshold)
    serving = result.serving.get("candidate")
    if serving:
        out.details["serving"] = serving
        out.metrics["model_calls_per_request"] = serving.get("calls_per_request")
        if serving.get("calls_per_request") == 2 and out.status is not Status.ERRORED:
            out.reason += f"; server: {serving.get('reason')}"
    return out


def judge(result: LoadResult, run: ProfileRun, s: LoadSettings, metric: str,
          threshold: Threshold) -> Outcome:
    """One run's ``metric``: the generator's health first, then the server's, then the SLO
    (a latency on its interval: decided only when the interval is wholly on one side)."""
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
    found = interval(run, metric)
    if found is not None and value is not None:
        out = _on_interval(run, s, metric, threshold, found, value, where)
        out.metrics = {**metrics, **out.metrics}
        out.details, out.artifacts = details, artifacts
    else:
        out = Outcome.from_comparisons([comparison], subject=where, metrics=metrics,
                                       details=details, artifacts=artifacts)
    if metric == "error_rate" and run.errors:
        out.reason += f"; errors: {run.errors_text()}"
    if run.saturated:  # on_saturated = "warn"
        out.status = worst([out.status, Status.WARNED])
        out.reason += f"; generator saturated: {run.saturated}"
    return out


def _on_interval(run: ProfileRun, s: LoadSettings, metric: str, threshold: Threshold,
                 found: Interval, value: float, where: str) -> Outcome:
    """A latency SLO decided on its interval: failed only when the whole interval is above the
    fail level, passed (or warned past the warn level) only when it is wholly at or below it,
    and otherwise inconclusive: warned, with the interval and what to do."""
    decision = judge_interval(found, threshold.fail, upper=True)
    lo, hi = found.low, found.high
    span = f"{found.confidence:.0%} interval [{_ms(lo)}, {_ms(hi)}] ms"
    size = (f"{found.n} responses in {found.rounds} rounds"
            + (f" of {run.runs} runs" if run.runs > 1 else ""))
    if decision == "fail":
        status, verdict = Status.FAILED, f"above the fail level {threshold.fail:g} ms"
    elif decision == "inconclusive":
        status = Status.WARNED
        verdict = (f"straddles the fail level {threshold.fail:g} ms: inconclusive, not a "
                   f"failure and not a pass (measured {run.runs} run(s); measure longer with "
                   f"duration_s or extend_runs, or on quieter cores with server_cpus and "
                   f"generator_cpus, to decide)")
    elif threshold.warn is not None and value > threshold.warn:
        status, verdict = Status.WARNED, (f"below the fail level {threshold.fail:g} ms, above "
                                          f"the warn level {threshold.warn:g} ms")
    else:
        status, verdict = Status.PASSED, f"wholly at or below the fail level {threshold.fail:g} ms"
    comparison = Comparison(metric=metric, value=value, direction=Direction.MAX,
                            fail=threshold.fail, warn=threshold.warn, status=status)
    return Outcome(status=status, comparisons=[comparison],
                   reason=f"{where}: {metric} {_ms(value)} ms, {span} ({size}), {verdict}",
                   metrics={f"{metric}_ci": [lo, hi], "confidence": found.confidence,
                            "decision": decision, "rounds": found.rounds, "runs": run.runs})


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def p95_regression(result: LoadResult, s: LoadSettings, *, profile: str) -> Outcome:
    """Candidate p95 under ``profile`` against the baseline's, served the same way in
    interleaved rounds: failed only when the interval of the difference clears the allowance
    (``regression_margin`` of the baseline + ``regression_slack_ms``), inconclusive (warned)
    when it straddles it."""
    cand = result.runs.get(("candidate", profile))
    base = result.runs.get(("baseline", profile))
    if cand is None or base is None:
        return Outcome(status=Status.ERRORED,
                       reason=f"profile {profile} did not run for both models")
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
    found = result.regressions.get(profile)
    if not found:
        return Outcome(status=Status.ERRORED, reason=f"{profile}: no interleaved rounds to compare")
    decision = found["decision"]
    status = {"fail": Status.FAILED, "pass": Status.PASSED}.get(decision, Status.WARNED)
    excess = found.get("excess_high") if decision != "fail" else found.get("excess_low")
    comparison = Comparison(metric="p95_excess_ms", value=excess, direction=Direction.MAX,
                            fail=0.0, status=status)
    reason = f"{profile}: {found['reason']}"
    if cand.saturated or base.saturated:  # on_saturated = "warn"
        status = worst([status, Status.WARNED])
        reason += f"; generator saturated: {cand.saturated or base.saturated}"
    return Outcome(
        status=status, reason=reason, comparisons=[comparison],
        metrics={"candidate_p95_ms": c95, "baseline_p95_ms": b95,
                 "difference_ms": found.get("difference"),
                 "difference_ci_ms": [found.get("low"), found.get("high")],
                 "allowance_ms": found.get("allowance"),
                 "excess_ci_ms": [found.get("excess_low"), found.get("excess_high")],
                 "candidate_p95_ci_ms": [found["candidate"].get("low"),
                                         found["candidate"].get("high")],
                 "baseline_p95_ci_ms": [found["baseline"].get("low"),
                                        found["baseline"].get("high")],
                 "margin": s.regression_margin, "slack_ms": s.regression_slack_ms,
                 "confidence": found.get("confidence"), "pairs": found.get("pairs"),
                 "decision": decision, "candidate_responses": found["candidate"].get("n"),
                 "baseline_responses": found["baseline"].get("n"), "runs": cand.runs},
        details={"regression": found, "serving": result.serving},
        artifacts=cand.artifacts + base.artifacts)


def delayed_ack(result: LoadResult, s: LoadSettings) -> Outcome:
    """Warn on the TCP delayed-ACK signature: the probe's held-back bodies, or a sharp cluster
    of the candidate's service latencies at 39-45 ms."""
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
                          f"39-45 ms, {around:.1%} beside it{probe_text}; it warns at "
                          f"{s.delayed_ack_share:.0%} or more within 39-45 ms and "
                          f"{DELAYED_ACK_PEAK:g}x the share beside it, or a probe gap of "
                          f"{DELAYED_ACK_GAP_MS:g} ms or more)")


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
            "latency_ci_ms": {k: [v.get("low"), v.get("high")] for k, v in run.intervals.items()},
            "rounds": len(run.rounds), "round_s": run.round_s, "runs": run.runs,
            "service_latency_ms": run.service_latency_ms, "stopped_by": run.stopped_by,
            "offered": run.offered, "unsent": run.unsent, "plan": run.plan,
            "generator_error": run.generator_error, "saturated": run.saturated,
            "server_died": run.server_died}
