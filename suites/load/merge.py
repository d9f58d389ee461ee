"""One profile's figures from its generators' results: histograms merged exactly, per-second
series, errors by kind, generator CPU and saturation, and what went wrong on the way."""

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


def _series(ok: list[dict[str, Any]], elapsed: float) -> list[dict[str, Any]]:
    """Per-second series; a sliver (< 0.2 s) of a last second joins the second before it."""
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
    return series


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
        workers.append({"index": r["index"], "requests": r["requests"],
                        "successes": r["successes"], "failures": r["failures"],
                        "mean_pct": mean, "peak_pct": peak,
                        "loop_lag_p99_ms": (r.get("loop_lag_ms") or {}).get("p99"),
                        "stopped_by": r.get("stopped_by")})
        if peak is not None and peak > s.generator_cpu_limit:
            saturated.append(f"generator {r['index']} used {peak:.0f}% of a core "
                             f"(limit {s.generator_cpu_limit:g}%)")
    return workers, saturated


def merge_profile(results: list[dict[str, Any]], s: LoadSettings, *, profile: str, role: str,
                  plan: dict[str, Any], server_died: str | None = None,
                  server_cpu_s: float | None = None) -> ProfileRun:
    """The generators' ``results`` of one profile as one :class:`ProfileRun`.

    ``server_cpu_s``: CPU seconds the server used during the profile (None: not our server).
    """
    ok = [r for r in results if "error" not in r]
    problems = _problems(results)
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
    errors: dict[str, int] = {}
    for r in ok:
        for name, count in r["errors"].items():
            errors[name] = errors.get(name, 0) + int(count)
    workers, saturated = _workers(s, results)
    server_cpu = (round(100.0 * server_cpu_s / elapsed, 1)
                  if server_cpu_s is not None and elapsed > 0 else None)
    stopped = {str(r.get("stopped_by")) for r in ok}
    offered = sum(int(r["offered"]) for r in ok) if open_loop and ok else None
    unsent = sum(int(r["unsent"]) for r in ok) if open_loop and ok else None
    return ProfileRun(
        profile=profile, role=role, mode=s.mode, workers=workers,
        hist=hd.encode(measured), service_hist=hd.encode(service),
        latency_ms=hd.summary_ms(measured), service_latency_ms=hd.summary_ms(service),
        requests=sum(int(r["requests"]) for r in ok), successes=successes,
        failures=sum(int(r["failures"]) for r in ok),
        issued=sum(int(r["issued"]) for r in ok), errors=errors, series=_series(ok, elapsed),
        elapsed_s=round(elapsed, 4),
        stopped_by="max_requests" if "max_requests" in stopped else "duration",
        merge=merge, generator_error="; ".join(problems) or None,
        saturated="; ".join(saturated) or None, server_died=server_died,
        server_cpu_pct=server_cpu, offered=offered, unsent=unsent, plan=plan,
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
