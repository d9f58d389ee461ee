"""One run's figures from its generators' results, per target: histograms merged exactly (the
whole run and each round), a series of one point per round, errors by kind, generator CPU and
saturation, and what went wrong on the way; :func:`pool` adds an extension run to a profile."""

from __future__ import annotations

from typing import Any

from certify.suites.load import histogram as hd
from certify.suites.load.result import ProfileRun
from certify.suites.load.settings import LoadSettings


def _problems(results: list[dict[str, Any]]) -> list[str]:
    """A worker that failed, or whose listener or load task raised: its figures are not trusted."""
    problems = [f"generator {r.get('index')}: {r['error']}" for r in results if "error" in r]
    for r in results:
        if "error" in r:
            continue
        if r.get("listener_errors"):
            problems.append(f"generator {r['index']}: the request listener raised "
                            f"{r['listener_errors']} time(s) ({r.get('first_listener_error')})")
        if r.get("task_errors"):
            problems.append(f"generator {r['index']}: the load task raised "
                            f"{r['task_errors']} time(s) ({r.get('first_task_error')})")
    return problems


def _workers(s: LoadSettings, results: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Per worker: its counts and CPU; and the workers busier than ``generator_cpu_limit``."""
    workers = []
    saturated = []
    for r in sorted(results, key=lambda r: int(r.get("index") or 0)):
        if "error" in r:
            workers.append({"index": r.get("index"), "error": r["error"]})
            continue
        samples = [float(x) for x in r.get("cpu_samples_pct") or []]
        mean = r.get("cpu_mean_pct")
        peak = max(samples) if samples else (float(mean) if mean is not None else None)
        parts = r.get("targets") or [r]
        workers.append({"index": r["index"],
                        **{k: sum(int(p.get(k) or 0) for p in parts)
                           for k in ("requests", "successes", "failures")},
                        "mean_pct": mean, "peak_pct": peak,
                        "loop_lag_p99_ms": (r.get("loop_lag_ms") or {}).get("p99"),
                        "stopped_by": r.get("stopped_by")})
        if peak is not None and peak > s.generator_cpu_limit:
            saturated.append(f"generator {r['index']} used {peak:.0f}% of a core "
                             f"(limit {s.generator_cpu_limit:g}%)")
    return workers, saturated


def _rounds(ok: list[dict[str, Any]], ti: int, targets: int, count: int, round_s: float,
            elapsed: float) -> tuple[list[str], list[dict[str, Any]], float]:
    """Target ``ti``'s rounds merged over the workers (encoded, in order), its series (one
    point per round, at the round's middle) and its measured time."""
    encoded: list[str] = []
    series: list[dict[str, Any]] = []
    active = 0.0
    per_k: dict[int, list[dict[str, Any]]] = {}
    for r in ok:
        for item in r["targets"][ti]["rounds"]:
            per_k.setdefault(int(item["k"]), []).append(item)
    for k in range(ti, count, targets):
        start = k * round_s
        width = min(round_s, max(elapsed - start, 0.0))
        items = per_k.get(k, [])
        h = hd.merge(item["hist"] for item in items)
        encoded.append(hd.encode(h))
        if width <= 0:
            continue
        active += width
        good = sum(int(item["ok"]) for item in items)
        bad = sum(int(item["fail"]) for item in items)
        series.append({"t": round(start + width / 2, 4), "requests": good + bad, "failures": bad,
                       "rps": round(good / width, 2), "p50_ms": hd.percentile_ms(h, 50),
                       "p95_ms": hd.percentile_ms(h, 95), "p99_ms": hd.percentile_ms(h, 99)})
    return encoded, series, active


def merge_profile(results: list[dict[str, Any]], s: LoadSettings, *, profile: str,
                  roles: list[str], plan: dict[str, Any], round_s: float, count: int,
                  server_died: dict[str, str | None] | None = None,
                  server_cpu_s: dict[str, float | None] | None = None) -> dict[str, ProfileRun]:
    """The generators' ``results`` of one run as one :class:`ProfileRun` per target (``roles``
    in the order of the run's targets, served in interleaved rounds).

    ``server_cpu_s``: CPU seconds each role's server used during the run (None: not ours).
    """
    ok = [r for r in results if "error" not in r]
    problems = _problems(results)
    workers, saturated = _workers(s, results)
    elapsed = max((float(r["elapsed_s"]) for r in ok), default=0.0)
    stopped = {str(r.get("stopped_by")) for r in ok}
    open_loop = s.mode == "open"
    out: dict[str, ProfileRun] = {}
    for ti, role in enumerate(roles):
        parts = [r["targets"][ti] for r in ok]
        service = hd.merge(p["hist"] for p in parts)
        measured = hd.merge(p["corrected"] for p in parts) if open_loop else service
        successes = sum(int(p["successes"]) for p in parts)
        merged_count = hd.count(service)
        merge = {"merged_count": merged_count, "sum_of_workers": successes,
                 "exact": merged_count == successes,
                 "per_worker": [int(p["successes"]) for p in parts]}
        mine = list(problems)
        if not merge["exact"]:
            mine.append(f"merged histogram holds {merged_count} latencies, workers reported "
                        f"{successes}")
        errors: dict[str, int] = {}
        for p in parts:
            for name, n in p["errors"].items():
                errors[name] = errors.get(name, 0) + int(n)
        encoded, series, active = _rounds(ok, ti, len(roles), count, round_s, elapsed)
        cpu_s = (server_cpu_s or {}).get(role)
        server_cpu = (round(100.0 * cpu_s / active, 1)
                      if cpu_s is not None and active > 0 else None)
        out[role] = ProfileRun(
            profile=profile, role=role, mode=s.mode, workers=workers,
            hist=hd.encode(measured), service_hist=hd.encode(service),
            latency_ms=hd.summary_ms(measured), service_latency_ms=hd.summary_ms(service),
            requests=sum(int(p["requests"]) for p in parts), successes=successes,
            failures=sum(int(p["failures"]) for p in parts),
            issued=sum(int(p["issued"]) for p in parts), errors=errors, series=series,
            elapsed_s=round(active, 4),
            stopped_by="max_requests" if "max_requests" in stopped else "duration",
            merge=merge, generator_error="; ".join(mine) or None,
            saturated="; ".join(saturated) or None,
            server_died=(server_died or {}).get(role), server_cpu_pct=server_cpu,
            offered=sum(int(p["offered"]) for p in parts) if open_loop and parts else None,
            unsent=sum(int(p["unsent"]) for p in parts) if open_loop and parts else None,
            plan=plan, rounds=encoded, round_s=round_s, span_s=round(elapsed, 4),
        )
    return out


def pool(first: ProfileRun, more: ProfileRun) -> ProfileRun:
    """Two runs of one profile and one target as one: histograms and counts added, rounds and
    series one after the other (``more``'s on the time axis after ``first``'s)."""
    hist = hd.merge([first.hist, more.hist])
    service = hd.merge([first.service_hist, more.service_hist])
    errors = dict(first.errors)
    for name, n in more.errors.items():
        errors[name] = errors.get(name, 0) + n
    shifted = [{**point, "t": round(float(point["t"]) + first.span_s, 4)} for point in more.series]
    n = first.merge["merged_count"] + more.merge["merged_count"]
    total = first.merge["sum_of_workers"] + more.merge["sum_of_workers"]
    peak = max([first, more], key=lambda r: max((w.get("peak_pct") or 0.0 for w in r.workers),
                                                default=0.0))

    def joined(a: str | None, b: str | None) -> str | None:
        return "; ".join(x for x in (a, b) if x) or None

    def added(a: int | None, b: int | None) -> int | None:
        return None if a is None and b is None else (a or 0) + (b or 0)

    cpu = [(r.server_cpu_pct, r.elapsed_s) for r in (first, more) if r.server_cpu_pct is not None]
    return ProfileRun(
        profile=first.profile, role=first.role, mode=first.mode, workers=peak.workers,
        hist=hd.encode(hist), service_hist=hd.encode(service),
        latency_ms=hd.summary_ms(hist), service_latency_ms=hd.summary_ms(service),
        requests=first.requests + more.requests, successes=first.successes + more.successes,
        failures=first.failures + more.failures, issued=first.issued + more.issued,
        errors=errors, series=first.series + shifted,
        elapsed_s=round(first.elapsed_s + more.elapsed_s, 4),
        stopped_by="max_requests" if "max_requests" in (first.stopped_by, more.stopped_by)
        else "duration",
        merge={"merged_count": n, "sum_of_workers": total, "exact": n == total,
               "per_worker": [a + b for a, b in zip(first.merge.get("per_worker", []),
                                                    more.merge.get("per_worker", []),
                                                    strict=False)]},
        generator_error=joined(first.generator_error, more.generator_error),
        saturated=joined(first.saturated, more.saturated),
        server_died=first.server_died or more.server_died,
        server_cpu_pct=(round(sum(c * e for c, e in cpu) / sum(e for _, e in cpu), 1)
                        if cpu and sum(e for _, e in cpu) > 0 else None),
        offered=added(first.offered, more.offered), unsent=added(first.unsent, more.unsent),
        plan=first.plan, rounds=first.rounds + more.rounds, strata=first.strata + more.strata,
        round_s=first.round_s, span_s=round(first.span_s + more.span_s, 4),
        runs=first.runs + more.runs, shape=first.shape,
    )


def not_run(profile: str, role: str, mode: str, server_died: str) -> ProfileRun:
    """A profile skipped because the server was already dead."""
    empty = hd.new()
    return ProfileRun(
        profile=profile, role=role, mode=mode, workers=[], hist=hd.encode(empty),
        service_hist=hd.encode(empty), latency_ms=hd.summary_ms(empty),
        service_latency_ms=hd.summary_ms(empty), requests=0, successes=0, failures=0, issued=0,
        errors={}, series=[], elapsed_s=0.0, stopped_by="not run",
        merge={"merged_count": 0, "sum_of_workers": 0, "exact": True, "per_worker": []},
        server_died=server_died)
