"""The load suite's pictures on the audit page, drawn from its recorded data."""

from __future__ import annotations

from typing import Any

from certify.jsonsafe import finite
from certify.suite import SuiteRecord
from certify.view import (
    BarChart,
    BarGroup,
    Chart,
    LineChart,
    Panel,
    Series,
    Table,
    as_dict,
    clip,
    dicts,
    drawable,
    first,
    fmt,
    get,
)

_PCT_KEYS = ("latency_ms", "percentiles_ms", "percentiles", "latency")
_TS_KEYS = ("series", "timeseries", "time_series", "per_second")
_T_KEYS = ("t", "time_s", "second", "seconds")
_SUMMARY_KEYS = ("requests", "failures", "error_rate", "throughput_rps", "rps", "elapsed_s",
                 "stopped_by", "offered", "unsent", "server_cpu_pct", "server_died",
                 "generator_saturated", "generator_error", "duration_s", "users", "rate", "mode")


def _columns(ts: Any) -> dict[str, list[Any]]:
    """A time series as columns, from {col: [...]} or [{col: value}, ...]."""
    if isinstance(ts, dict):
        return {str(k): v for k, v in ts.items() if isinstance(v, list)}
    rows = dicts(ts)
    cols: dict[str, list[Any]] = {}
    for i, row in enumerate(rows[:5000]):
        for k, v in row.items():
            cols.setdefault(str(k), [None] * i).append(v)
        for col in cols.values():
            if len(col) < i + 1:
                col.append(None)
    return cols


def _is_percentile_key(k: str) -> bool:
    """``p50``, ``p99``, ``p999`` (and ``p95_ms``): a latency percentile, not a count or a mean."""
    body = k[1:].removesuffix("_ms")
    return len(k) > 1 and k[0] == "p" and body.isdigit()


def _is_latency_key(k: str) -> bool:
    return _is_percentile_key(k) or "latency" in k or k.endswith("_ms")


def _fail_level(thresholds: dict[str, Any], key: str) -> float | None:
    """The fail level for percentile ``key`` (``p95`` matches ``p95_ms``) in a thresholds map."""
    for name in (key, f"{key}_ms"):
        v = thresholds.get(name)
        lim = finite(get(v, "fail")) if isinstance(v, dict) else finite(v)
        if lim is not None:
            return lim
    return None


def panels(record: SuiteRecord[Any]) -> list[Panel]:
    """Per profile: latency percentiles against the SLO fail levels (and the baseline's, when it
    was served the same way), the run's figures, throughput/latency/failures per second, and the
    failures by kind."""
    data = dict(record.data)
    settings = record.settings.model_dump(mode="json")
    panels: list[Panel] = []
    profiles = data.get("profiles")
    if profiles is not None:
        profile_list = dicts(profiles)
    elif any(k in data for k in (*_PCT_KEYS, *_TS_KEYS)):
        profile_list = [{"name": "run", **data}]
    else:
        profile_list = []
    baseline = {str(p.get("name")): p for p in dicts(data.get("baseline"))}
    policy_slo = as_dict(settings.get("thresholds"))
    for prof in profile_list[:6]:
        pname = str(first(prof, "name", "profile", default="run"))
        pct = as_dict(first(prof, *_PCT_KEYS, default={}))
        slo = as_dict(prof.get("thresholds")) or as_dict(prof.get("slo")) or policy_slo
        base = baseline.get(pname)
        base_pct = as_dict(first(base, *_PCT_KEYS, default={})) if base else {}
        items: list[tuple[str, Any]] = [
            (k, clip(prof.get(k), 200)) for k in _SUMMARY_KEYS
            if prof.get(k) is not None and not isinstance(prof.get(k), dict | list)]
        gens = dicts(prof.get("generator_cpu"))
        peaks = [finite(g.get("peak_pct")) for g in gens]
        if any(p is not None for p in peaks):
            items.append(("generator peak CPU %", fmt(max(p for p in peaks if p is not None))))
        merge = as_dict(prof.get("merge"))
        if merge:
            items.append(("histograms merged", f"{merge.get('merged_count')} = sum of workers "
                          f"{merge.get('sum_of_workers')}" if merge.get("exact") else
                          f"NOT exact: {merge.get('merged_count')} vs {merge.get('sum_of_workers')}"))
        chart: Chart | None = None
        keys = [k for k in pct if _is_percentile_key(str(k)) and finite(pct.get(k)) is not None]
        if keys:
            series = ("candidate", "baseline") if base_pct else ()
            groups = [BarGroup(str(k), [finite(pct.get(k)), *([finite(base_pct.get(k))]
                                                              if base_pct else [])],
                               limit=_fail_level(slo, str(k))) for k in keys[:12]]
            chart = drawable(BarChart(groups, title=f"Latency percentiles ({pname})",
                                     series=series, axis_label="latency (ms)",
                                     limit_label="SLO (fail level)"))
        if chart is not None or items:
            panels.append(Panel(f"Latency percentiles: {pname}", chart=chart, items=items))
        cols = _columns(first(prof, *_TS_KEYS, default={}))
        t_key = next((k for k in _T_KEYS if k in cols), None)
        if t_key is not None:
            t = cols[t_key]
            rps = [Series(k, t, v) for k, v in cols.items()
                   if k != t_key and ("rps" in k or "throughput" in k)]
            lat = [Series(k, t, v) for k, v in cols.items() if k != t_key and _is_latency_key(k)]
            errs = [Series(k, t, v) for k, v in cols.items()
                    if k != t_key and ("error" in k or "fail" in k)]
            for title, ser, yl in (("Throughput over time", rps, "requests/s"),
                                   ("Latency over time", lat, "ms"),
                                   ("Failures over time", errs, "failed requests")):
                if title.startswith("Failures") and not any(
                        finite(v) for s_ in ser for v in s_.y):
                    continue  # a flat zero line says less than the "failures 0" figure above
                chart = drawable(LineChart(ser[:4], title=f"{title} ({pname})",
                                          x_label="seconds", y_label=yl, y_zero=True))
                if chart is not None:
                    panels.append(Panel(f"{title}: {pname}", chart=chart))
        errors = as_dict(first(prof, "errors", "errors_by", "error_breakdown", default={}))
        if errors:
            panels.append(Panel(f"Failures by kind: {pname}", table=Table(
                ["kind", "count"], [[clip(k, 200), fmt(v)] for k, v in
                                    sorted(errors.items(), key=lambda kv: -(finite(kv[1]) or 0))[:20]],
                numeric=frozenset({1}))))
    return panels
