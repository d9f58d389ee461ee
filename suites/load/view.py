"""The load suite's pictures on the audit page, drawn from its recorded data.

Per profile: the latency percentiles against their SLO fail levels, each with its interval and
sample size; requests per second and the load the profile asked for (users or offered rate)
over time; latency percentiles over time with the SLO lines; failures; and, when the baseline
was compared, the two p95s and their difference against the allowance. Every chart has a title,
units and only the series it draws in its legend. Old or edited report data is read
defensively (missing keys leave a panel out, never break the page).
"""

from __future__ import annotations

from typing import Any

from certify.jsonsafe import finite
from certify.suite import SuiteRecord
from certify.view import (
    BarChart,
    BarGroup,
    Chart,
    Interval,
    IntervalChart,
    LineChart,
    Panel,
    RefLine,
    Series,
    Table,
    as_dict,
    clip,
    dicts,
    drawable,
    first,
    fmt,
    get,
    pair,
)

_PCT_KEYS = ("latency_ms", "percentiles_ms", "percentiles", "latency")
_TS_KEYS = ("series", "timeseries", "time_series", "per_second")
_T_KEYS = ("t", "time_s", "second", "seconds")
#: Summary fields of a profile run, in order, with the label people read.
_SUMMARY_KEYS = {"requests": "requests", "failures": "failures", "error_rate": "error rate",
                 "throughput_rps": "throughput (requests/s)", "rps": "requests/s",
                 "elapsed_s": "elapsed (s)", "stopped_by": "stopped by",
                 "offered": "requests offered", "unsent": "requests not sent",
                 "server_cpu_pct": "server CPU (% of one core)", "server_died": "server died",
                 "generator_saturated": "generator saturated",
                 "generator_error": "generator error", "duration_s": "duration (s)",
                 "users": "users", "rate": "rate (requests/s)", "mode": "loop"}
#: SLO lines further than this factor above the highest latency drawn are named, not drawn
#: (they would flatten every curve against the axis).
SLO_REACH = 3.0


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


def _n(run: dict[str, Any]) -> str:
    count = finite(get(run, "latency_ms", "count"))
    if count is None:
        count = finite(run.get("requests"))
    return "" if count is None else f" (n={fmt(count)})"


def _pct_label(key: str) -> str:
    return key.removesuffix("_ms")


def panels(record: SuiteRecord[Any]) -> list[Panel]:
    """The panels of every profile (at most six), after how the model was served."""
    data = dict(record.data)
    settings = record.settings.model_dump(mode="json")
    out: list[Panel] = []
    serving = as_dict(data.get("serving"))
    if serving:
        out.append(Panel("How the model was served", items=[
            (f"{role}: model calls per request",
             f"{fmt(get(info, 'calls_per_request'))}: {clip(get(info, 'reason', default=''), 300)}")
            for role, info in serving.items() if isinstance(info, dict)]))
    profiles = data.get("profiles")
    if profiles is not None:
        profile_list = dicts(profiles)
    elif any(k in data for k in (*_PCT_KEYS, *_TS_KEYS)):
        profile_list = [{"name": "run", **data}]
    else:
        profile_list = []
    baseline = {str(p.get("name")): p for p in dicts(data.get("baseline"))}
    regressions = as_dict(data.get("regressions"))
    policy_slo = as_dict(settings.get("thresholds"))
    for prof in profile_list[:6]:
        name = str(first(prof, "name", "profile", default="run"))
        slo = as_dict(prof.get("thresholds")) or as_dict(prof.get("slo")) or policy_slo
        base = baseline.get(name)
        out += _latency_panels(name, prof, base, slo)
        out += _time_panels(name, prof, base, slo)
        found = regressions.get(name)
        if isinstance(found, dict):
            out += _regression_panels(name, found)
        errors = as_dict(first(prof, "errors", "errors_by", "error_breakdown", default={}))
        if errors:
            out.append(Panel(f"Failures by kind: {name}", table=Table(
                ["kind", "count"], [[clip(k, 200), fmt(v)] for k, v in
                                    sorted(errors.items(), key=lambda kv: -(finite(kv[1]) or 0))[:20]],
                numeric=frozenset({1}))))
    return out


def _summary(prof: dict[str, Any]) -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = [
        (label, clip(prof.get(k), 200)) for k, label in _SUMMARY_KEYS.items()
        if prof.get(k) is not None and not isinstance(prof.get(k), dict | list)]
    rounds, runs = finite(prof.get("rounds")), finite(prof.get("runs"))
    if rounds:
        items.append(("measured in", f"{fmt(rounds)} rounds of {fmt(prof.get('round_s'))} s"
                      + (f" over {fmt(runs)} runs (extended: an interval straddled its level)"
                         if runs and runs > 1 else "")))
    gens = dicts(prof.get("generator_cpu"))
    peaks = [p for p in (finite(g.get("peak_pct")) for g in gens) if p is not None]
    if peaks:
        items.append(("generator peak CPU %", fmt(max(peaks))))
    merge = as_dict(prof.get("merge"))
    if merge:
        items.append(("histograms merged", f"{merge.get('merged_count')} = sum of workers "
                      f"{merge.get('sum_of_workers')}" if merge.get("exact") else
                      f"NOT exact: {merge.get('merged_count')} vs {merge.get('sum_of_workers')}"))
    return items


def _latency_panels(name: str, prof: dict[str, Any], base: dict[str, Any] | None,
                    slo: dict[str, Any]) -> list[Panel]:
    pct = as_dict(first(prof, *_PCT_KEYS, default={}))
    base_pct = as_dict(first(base, *_PCT_KEYS, default={})) if base else {}
    keys = [str(k) for k in pct if _is_percentile_key(str(k)) and finite(pct.get(k)) is not None]
    items = _summary(prof)
    chart: Chart | None = None
    charts: list[Chart] = []
    note = ""
    if keys:
        series = (f"candidate{_n(prof)}", f"baseline{_n(base)}") if base_pct and base else ()
        groups = [BarGroup(_pct_label(k), [finite(pct.get(k)), *([finite(base_pct.get(k))]
                                                                   if base_pct else [])],
                           limit=_fail_level(slo, k)) for k in keys[:12]]
        chart = drawable(BarChart(groups, title=f"Latency percentiles ({name})", series=series,
                                  axis_label="latency (ms)", limit_label="SLO (fail level)"))
        ci = as_dict(prof.get("latency_ci_ms"))
        base_ci = as_dict(base.get("latency_ci_ms")) if base else {}
        rows: list[Interval] = []
        for k in keys[:12]:
            for index, (values, bounds) in enumerate(((pct, ci), (base_pct, base_ci))):
                lo, hi = pair(bounds.get(k))
                value = finite(values.get(k))
                if value is not None and lo is not None:
                    limit = _fail_level(slo, k)
                    flag = "" if limit is None or hi is None or hi <= limit else (
                        "over the SLO" if lo > limit else "straddles the SLO")
                    rows.append(Interval(_pct_label(k), value, lo, hi, series=index, flag=flag))
        if rows:
            spread = [v for r in rows for v in (r.lo, r.hi) if v is not None and v > 0]
            confidence = finite(prof.get("confidence")) or 0.95
            charts.append(IntervalChart(
                rows, title=f"Latency percentiles with their {confidence:.0%} intervals ({name})",
                series=series or (f"candidate{_n(prof)}",), axis_label="latency (ms)",
                log=bool(spread) and max(spread) > 20 * min(spread)))
            how = ("a bootstrap over the rounds of the run, each resample keeping the phases of "
                   "the profile" if prof.get("interval_method") == "rounds" else
                   "a two-level bootstrap: the rounds of the run within their phase, then the "
                   "requests within each round (few rounds)")
            note = (f"Intervals: {confidence:.0%}, {how}. A latency SLO fails only when its "
                    "whole interval is above the fail level and passes only when it is wholly "
                    "at or below it; in between it is inconclusive (warned).")
            items += [(f"{_pct_label(k)} (ms)", f"{fmt(pct.get(k))} [{fmt(pair(ci.get(k))[0])}, "
                       f"{fmt(pair(ci.get(k))[1])}]") for k in keys if k in ci]
    if chart is None and not items and not charts:
        return []
    # The page draws a panel's small multiples before its main chart: the intervals first,
    # then the percentiles against their SLO fail levels.
    return [Panel(f"Latency percentiles: {name}", charts=[*charts, *([chart] if chart else [])],
                  items=items, note=note)]


def _phase_lines(name: str, prof: dict[str, Any]) -> list[RefLine]:
    """Where a spike starts and ends on the run's time axis (every pooled run)."""
    span = finite(prof.get("span_s"))
    if name != "spike" or not span:
        return []
    runs = int(finite(prof.get("runs")) or 1)
    each = span / max(runs, 1)
    lines = []
    for r in range(min(runs, 4)):
        lines += [RefLine(r * each + each / 3, "spike starts"),
                  RefLine(r * each + 2 * each / 3, "spike ends")]
    return lines


def _shape_series(prof: dict[str, Any]) -> tuple[Series | None, str]:
    shape = as_dict(prof.get("shape"))
    t, v = shape.get("t"), shape.get("value")
    if not isinstance(t, list) or not isinstance(v, list) or not t:
        return None, ""
    runs = int(finite(prof.get("runs")) or 1)
    each = (finite(prof.get("span_s")) or 0.0) / max(runs, 1)
    xs: list[float | None] = []
    ys: list[float | None] = []
    for r in range(runs if each else 1):
        xs += [None if finite(x) is None else float(x) + r * each for x in t]
        ys += list(v)
    unit = str(shape.get("unit") or "")
    label = "offered" if unit.startswith("requests") else unit or "load asked for"
    return Series(label, xs, ys), unit


def _time_panels(name: str, prof: dict[str, Any], base: dict[str, Any] | None,
                 slo: dict[str, Any]) -> list[Panel]:
    cols = _columns(first(prof, *_TS_KEYS, default={}))
    t_key = next((k for k in _T_KEYS if k in cols), None)
    if t_key is None:
        return []
    t = cols[t_key]
    base_cols = _columns(first(base, *_TS_KEYS, default={})) if base else {}
    base_t = next((base_cols[k] for k in _T_KEYS if k in base_cols), None)
    roles = [("candidate", cols, t)] + ([("baseline", base_cols, base_t)] if base_t else [])
    vlines = _phase_lines(name, prof)
    out: list[Panel] = []
    # Requests per second, with the offered rate (open loop) or the users (closed loop) asked for.
    rps = [Series(role if len(roles) > 1 else "answered", tt, v)
           for role, cs, tt in roles for k, v in cs.items()
           if k != t_key and ("rps" in k or "throughput" in k)]
    shape, unit = _shape_series(prof)
    charts: list[Chart] = []
    if shape is not None and unit.startswith("requests"):
        rps.append(shape)
    throughput = drawable(LineChart(rps[:4], title=f"Throughput over time ({name})",
                                    x_label="seconds into the run", y_label="requests/s",
                                    vlines=vlines, y_zero=True))
    if shape is not None and not unit.startswith("requests"):
        users = drawable(LineChart([shape], title=f"Load asked for ({name})",
                                   x_label="seconds into the run", y_label=unit, vlines=vlines,
                                   y_zero=True))
        if users is not None:
            charts.append(users)
    if throughput is not None or charts:
        out.append(Panel(f"Throughput over time: {name}",
                         charts=[*([throughput] if throughput else []), *charts],
                         note=_interleaving_note(prof, base)))
    # Latency percentiles per round, with the SLO lines that are within reach.
    lat = [Series(f"{role} {_pct_label(k)}" if len(roles) > 1 else _pct_label(k), tt, v)
           for role, cs, tt in roles for k, v in cs.items()
           if k != t_key and _is_latency_key(k) and (role == "candidate" or "95" in k)]
    top = max((y for s_ in lat for y in (finite(v) for v in s_.y) if y is not None), default=0.0)
    hlines: list[RefLine] = []
    far: list[str] = []
    for s_ in lat:
        key = s_.name.split()[-1]
        limit = _fail_level(slo, key)
        if limit is None or any(abs(h.value - limit) < 1e-9 for h in hlines) or key in far:
            continue
        if top and limit <= SLO_REACH * top:
            hlines.append(RefLine(limit, f"{key} SLO {fmt(limit)} ms", alert=True))
        else:
            far.append(f"{key} ≤ {fmt(limit)} ms")
    chart = drawable(LineChart(lat[:4], title=f"Latency over time ({name})",
                               x_label="seconds into the run", y_label="latency (ms)",
                               vlines=vlines, hlines=hlines, y_zero=True))
    if chart is not None:
        note = ("One point per round (each round's own percentiles, from its requests).")
        if far:
            note += (f" SLO fail levels above the chart, more than {SLO_REACH:g}x the highest "
                     f"latency drawn: {', '.join(dict.fromkeys(far))}.")
        out.append(Panel(f"Latency over time: {name}", chart=chart, note=note))
    errs = [Series(f"{role} {k}" if len(roles) > 1 else k, tt, v) for role, cs, tt in roles
            for k, v in cs.items() if k != t_key and ("error" in k or "fail" in k)]
    if any(finite(v) for s_ in errs for v in s_.y):  # a flat zero line says less than "0"
        chart = drawable(LineChart(errs[:4], title=f"Failures over time ({name})",
                                   x_label="seconds into the run", y_label="failed requests",
                                   vlines=vlines, y_zero=True))
        if chart is not None:
            out.append(Panel(f"Failures over time: {name}", chart=chart))
    return out


def _interleaving_note(prof: dict[str, Any], base: dict[str, Any] | None) -> str:
    round_s = finite(prof.get("round_s"))
    if not round_s:
        return ""
    if base:
        return (f"Candidate and baseline in interleaved rounds of {fmt(round_s)} s (the whole "
                f"load on one of them at a time); one point per round.")
    return f"One point per round of {fmt(round_s)} s."


def _regression_panels(name: str, found: dict[str, Any]) -> list[Panel]:
    cand, base = as_dict(found.get("candidate")), as_dict(found.get("baseline"))
    confidence = finite(found.get("confidence")) or 0.95
    rows = [Interval(f"candidate p95 (n={fmt(cand.get('n'))})", finite(cand.get("point")),
                     finite(cand.get("low")), finite(cand.get("high")), series=0),
            Interval(f"baseline p95 (n={fmt(base.get('n'))})", finite(base.get("point")),
                     finite(base.get("low")), finite(base.get("high")), series=1)]
    allowance = finite(found.get("allowance"))
    decision = str(found.get("decision") or "")
    diff = Interval("difference", finite(found.get("difference")), finite(found.get("low")),
                    finite(found.get("high")),
                    flag={"fail": "slower beyond the allowance",
                          "inconclusive": "inconclusive"}.get(decision, ""))
    refs = [RefLine(0.0, "no change")]
    if allowance is not None:
        refs.append(RefLine(allowance, f"allowed +{fmt(allowance)} ms", alert=True))
    charts: list[Chart] = [
        IntervalChart(rows, title=f"p95 of candidate and baseline ({name}, {confidence:.0%} "
                                  f"intervals)", series=("candidate", "baseline"),
                      axis_label="latency (ms)"),
        IntervalChart([diff], title=f"p95 difference, candidate - baseline ({name})",
                      refs=refs, axis_label="ms")]
    items = [("decision", decision or "n/a"), ("round pairs", fmt(found.get("pairs"))),
             ("margin", f"{fmt(found.get('margin'))} of the baseline + {fmt(found.get('slack'))} ms"),
             ("reason", clip(found.get("reason"), 400))]
    return [Panel(f"p95 regression: {name}", charts=charts, items=items,
                  note="Fails only when the whole interval of the difference lies above the "
                       "allowance; the same model against itself stays below it.")]
