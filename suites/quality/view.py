"""The quality suite's pictures on the audit page, drawn from its recorded data."""

from __future__ import annotations

from certify.jsonsafe import finite
from certify.suite import SuiteRecord
from certify.suites.quality.engine import RELATIVE_MARGIN
from certify.suites.quality.settings import QualitySettings
from certify.view import (
    MAX_TABLE_ROWS,
    BarChart,
    BarGroup,
    Chart,
    Interval,
    IntervalChart,
    Panel,
    RefLine,
    Table,
    as_dict,
    ci,
    dicts,
    drawable,
    fmt,
    get,
    pair,
)


def panels(record: SuiteRecord[QualitySettings]) -> list[Panel]:
    """The suite's panels, from its recorded data (see :meth:`certify.suite.Suite.panels`)."""
    data = dict(record.data)
    settings = record.settings.model_dump(mode="json")
    panels: list[Panel] = []
    metrics = [m for m in dicts(data.get("metrics")) if finite(m.get("candidate")) is not None]
    margin = finite(settings.get("margin")) if isinstance(settings, dict) else None
    margins = settings.get("margins", {}) if isinstance(settings, dict) else {}
    if metrics:
        has_base = any(finite(m.get("baseline")) is not None for m in metrics)
        small = []
        for m in metrics:
            name = str(m.get("name", "?"))
            better = "lower is better" if m.get("direction") == "max" else "higher is better"
            rows = [Interval("candidate", finite(m.get("candidate")), *pair(m.get("candidate_ci")),
                             series=0)]
            if finite(m.get("baseline")) is not None:
                rows.append(Interval("baseline", finite(m.get("baseline")),
                                     *pair(m.get("baseline_ci")), series=1))
            chart: Chart | None = drawable(IntervalChart(rows, title=f"{name} ({better})",
                                          axis_label=f"{name} ({better})", width=420))
            if chart is not None:
                small.append(chart)
        table = Table(
            ["metric", "candidate [CI]", "baseline [CI]", "candidate − baseline [CI]"],
            [[str(m.get("name", "?")) + (" ↓" if m.get("direction") == "max" else " ↑"),
              fmt(m.get("candidate")) + ci(m.get("candidate_ci")),
              (fmt(m.get("baseline")) + ci(m.get("baseline_ci"))) if m.get("baseline") is not None
              else "—",
              (fmt(m.get("diff")) + ci(m.get("diff_ci"))) if m.get("diff") is not None else "—"]
             for m in metrics[:MAX_TABLE_ROWS]],
            caption="Metrics on the evaluation data with bootstrap confidence intervals "
                    "(↑ higher is better, ↓ lower is better)",
        )
        conf = settings.get("confidence") if isinstance(settings, dict) else None
        panels.append(Panel(
            "Candidate vs baseline" if has_base else "Candidate metrics",
            charts=small, table=table,
            note=(f"Rows: {fmt(data.get('rows'))}. Intervals: {fmt(conf)} bootstrap confidence "
                  "intervals." if conf is not None else f"Rows: {fmt(data.get('rows'))}."),
        ))
        if has_base:
            rows = []
            for m in metrics:
                diff = finite(m.get("diff"))
                if diff is None:
                    continue
                lo, hi = pair(m.get("diff_ci"))
                name = str(m.get("name", "?"))
                flip = m.get("direction") == "max"
                if flip:  # "improvement": right is always better
                    diff = -diff
                    lo, hi = (None if hi is None else -hi), (None if lo is None else -lo)
                mm = finite(margins.get(name)) if isinstance(margins, dict) else None
                mm = margin if mm is None else mm
                if mm is not None and name in RELATIVE_MARGIN and finite(m.get("baseline")):
                    mm = mm * abs(finite(m.get("baseline")) or 0.0)
                flag = "below margin" if (mm is not None and lo is not None and lo < -mm) else ""
                rows.append(Interval(name + (" (sign flipped)" if flip else ""), diff, lo, hi,
                                     flag=flag))
            refs = [RefLine(0.0, "no change")]
            relative = any(str(m.get("name")) in RELATIVE_MARGIN for m in metrics)
            if margin is not None and not relative:
                refs.append(RefLine(-margin, f"−margin {fmt(margin)}", alert=True))
            chart = drawable(IntervalChart(rows, title="Improvement over the baseline",
                                          refs=refs, axis_label="candidate improvement over baseline"))
            if chart is not None:
                panels.append(Panel(
                    "Non-inferiority: improvement over the baseline", chart=chart,
                    note="Each bar is the confidence interval of the candidate's improvement "
                         "(for lower-is-better metrics the sign is flipped so that right is always "
                         "better). The lower end must stay right of the −margin line"
                         + (" (for rmse and mae the margin is a fraction of the baseline's value; "
                            "a bar past its margin is flagged)." if relative else "."),
                ))
    slices = data.get("slices")
    if isinstance(slices, dict):
        primary = str(data.get("primary_metric") or "primary metric")
        for column, sl in list(slices.items())[:10]:
            srows = dicts(get(sl, "rows", default=[]))
            worst = get(sl, "worst", "slice")
            groups = [BarGroup(str(r.get("slice", "?")),
                               [finite(r.get("candidate")), finite(r.get("baseline"))],
                               flag="worst" if worst is not None and r.get("slice") == worst else "")
                      for r in srows]
            chart = drawable(BarChart(groups, title=f"{primary} by {column}",
                                     series=["candidate", "baseline"], axis_label=primary))
            table = Table(["slice", "rows", "candidate", "baseline"],
                          [[str(r.get("slice", "?")) + (" (worst)" if r.get("slice") == worst else ""),
                            fmt(r.get("rows")), fmt(r.get("candidate")), fmt(r.get("baseline"))]
                           for r in srows[:MAX_TABLE_ROWS]],
                          numeric=frozenset({1, 2, 3}),
                          note=f"{len(srows) - MAX_TABLE_ROWS} more slices in report.json"
                          if len(srows) > MAX_TABLE_ROWS else "")
            panels.append(Panel(f"Slices by {column}", chart=chart, table=table,
                                note=f"Worst slice: {worst}" if worst is not None else ""))
    fairness = data.get("fairness")
    if isinstance(fairness, dict):
        limits = settings.get("fairness", {}) if isinstance(settings, dict) else {}
        for attr, f in list(fairness.items())[:10]:
            if not isinstance(f, dict):
                continue
            groups_raw = as_dict(f.get("groups"))
            rate_keys: list[str] = []
            for g in groups_raw.values():
                if isinstance(g, dict):
                    rate_keys += [k for k, v in g.items() if k != "rows" and k not in rate_keys
                                  and finite(v) is not None]
            groups = [BarGroup(str(name), [finite(get(g, k)) for k in rate_keys])
                      for name, g in list(groups_raw.items())[:MAX_TABLE_ROWS]]
            chart = drawable(BarChart(groups, title=f"Rates by {attr}",
                                     series=rate_keys, axis_label="rate"))
            gaps = []
            for k, v in f.items():
                if k == "groups" or isinstance(v, dict):
                    continue
                lim = get(limits, k, "fail")
                gaps.append((k, fmt(v) + (f" (must be ≤ {fmt(lim)})" if lim is not None else "")))
            table = Table(["group", "rows", *rate_keys],
                          [[str(name), fmt(get(g, "rows")), *[fmt(get(g, k)) for k in rate_keys]]
                           for name, g in list(groups_raw.items())[:MAX_TABLE_ROWS]],
                          numeric=frozenset(range(1, 2 + len(rate_keys))))
            panels.append(Panel(f"Fairness by {attr}", chart=chart, table=table, items=gaps))
    return panels
