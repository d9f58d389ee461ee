"""The validation suite's pictures on the audit page, drawn from its recorded data.

Panels: the sample deepchecks saw (and where deepchecks' own HTML is); one table per group
(data integrity, train-test validation, model evaluation) with each condition's status,
deciding value and threshold (and the baseline's value for model checks); the conditions that
did not pass with their reasons; candidate vs baseline with intervals; the permutation
importance handed to deepchecks. Everything is read defensively (an old or edited report.json
may lack keys); long lists are capped with a note saying how many more report.json holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from certify.evidence import Direction, Evidence, Status
from certify.jsonsafe import finite
from certify.suite import SuiteRecord
from certify.suites.validation.settings import ValidationSettings
from certify.view import (
    MAX_TABLE_ROWS,
    BarChart,
    BarGroup,
    Interval,
    IntervalChart,
    Panel,
    RefLine,
    Table,
    as_dict,
    clip,
    dicts,
    drawable,
    fmt,
    get,
    pair,
)

GROUPS = {
    "integrity": ("Data integrity", "deepchecks' data integrity checks on the evaluation sample"),
    "train_test": ("Train-test validation", "deepchecks' train-test checks between the reference "
                   "sample (deepchecks' train) and the evaluation sample (its test)"),
    "model": ("Model evaluation", "deepchecks' model checks of the candidate on the samples; "
              "the baseline's figure on the same condition for comparison"),
}
#: A status as the page's badges word it (icon and word kept on one line).
STATUS_TEXT = {status: f"{icon}\u00a0{status}" for status, icon in (
    ("passed", "✓"), ("warned", "!"), ("failed", "✗"), ("errored", "⊘"), ("skipped", "–"),
    ("info", "ℹ"))}
_ORDER = {"failed": 0, "errored": 1, "warned": 2, "skipped": 3, "passed": 4, "info": 5}
_RELATION = {("max", False): "≤", ("max", True): "<", ("min", False): "≥", ("min", True): ">"}


def _figure(value: Any, percent: bool) -> str:
    v = finite(value)
    if v is None:
        return "n/a"
    return f"{v * 100:.3g}%" if percent else fmt(v)


def _deciding(record: Evidence, *path: str) -> list[dict[str, Any]]:
    """The deciding figures the record keeps at ``details[*path]["deciding"]``."""
    return dicts(get(record.details, *path, "deciding"))


def _value_and_threshold(record: Evidence) -> tuple[str, str]:
    """The deciding value(s) and threshold(s) of ``record`` as table cells."""
    values, levels = [], []
    warns = {c.metric for c in record.comparisons if c.warn is not None}
    found = _deciding(record)
    for d in found[:3]:
        percent = bool(d.get("percent"))
        where = clip(d.get("where") or "", 60)
        values.append(f"{clip(d.get('metric', '?'), 40)} = {_figure(d.get('value'), percent)}"
                      + (f" ({where})" if where else ""))
        rel = _RELATION.get((str(d.get("direction")), bool(d.get("strict"))), "?")
        level = f"{rel} {_figure(d.get('threshold'), percent)}"
        if len(found) > 1:
            level = f"{clip(d.get('metric', '?'), 40)} {level}"
        levels.append(f"warns unless {level}" if str(d.get("metric")) in warns else level)
    if not found:
        for c in record.comparisons[:3]:
            op = "≤" if c.direction is Direction.MAX else "≥"
            values.append(f"{clip(c.metric, 40)} = {fmt(c.value)}")
            levels.append(f"{op} {fmt(c.fail)}" + (f" (warns past {fmt(c.warn)})"
                                                   if c.warn is not None else ""))
    return "; ".join(values) or "—", "; ".join(levels) or "—"


def _baseline_cell(record: Evidence) -> str:
    found = _deciding(record, "baseline")
    status = get(record.details, "baseline", "status")
    if not found:
        return clip(str(status), 20) if status else "—"
    d = found[0]
    return _figure(d.get("value"), bool(d.get("percent"))) + (f" ({status})" if status else "")


def _group_panel(group: str, records: Sequence[Evidence]) -> Panel | None:
    mine = sorted((r for r in records if get(r.details, "group") == group),
                  key=lambda r: (_ORDER.get(r.status.value, 9), r.id))
    if not mine:
        return None
    title, what = GROUPS[group]
    model = group == "model"
    headers = ["check", "status", "deciding value", "threshold"] + (["baseline"] if model else [])
    rows, flags = [], []
    for r in mine[:MAX_TABLE_ROWS]:
        value, level = _value_and_threshold(r)
        row = [r.id.removeprefix("validation::"), STATUS_TEXT.get(r.status.value, r.status.value),
               value, level]
        if model:
            row.append(_baseline_cell(r))
        rows.append(row)
        flags.append("flag" if r.status in (Status.FAILED, Status.ERRORED) else "")
    counts: dict[str, int] = {}
    for r in mine:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    tally = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: _ORDER.get(
        kv[0], 9)))
    more = (f" {len(mine) - MAX_TABLE_ROWS} more conditions are in report.json."
            if len(mine) > MAX_TABLE_ROWS else "")
    return Panel(f"{title}: {len(mine)} conditions", table=Table(
        headers, rows, caption=f"{what} ({tally}); not passed first",
        note="A threshold that only warns reads \"warns unless …\"." + more, row_flags=flags))


def _not_passed(records: Sequence[Evidence]) -> Panel | None:
    bad = sorted((r for r in records if r.status not in (Status.PASSED, Status.INFO)),
                 key=lambda r: (_ORDER.get(r.status.value, 9), r.id))
    if not bad:
        return None
    rows = [[r.id.removeprefix("validation::"), STATUS_TEXT.get(r.status.value, r.status.value),
             clip(r.reason)] for r in bad[:MAX_TABLE_ROWS]]
    return Panel("Conditions that did not pass", table=Table(
        ["check", "status", "reason"], rows,
        row_flags=["flag" if r.status in (Status.FAILED, Status.ERRORED) else ""
                   for r in bad[:MAX_TABLE_ROWS]],
        note=f"{len(bad) - MAX_TABLE_ROWS} more are in report.json."
        if len(bad) > MAX_TABLE_ROWS else ""))


def _setup(data: dict[str, Any], settings: dict[str, Any]) -> Panel:
    sample = as_dict(data.get("sample"))
    items: list[tuple[str, Any]] = []
    for role in ("reference", "evaluation"):
        rows, total = sample.get(f"{role}_rows"), sample.get(f"{role}_total")
        if rows is not None:
            items.append((f"{role} sample", f"{fmt(rows)} of {fmt(total)} rows"))
    if sample.get("stratified_by") is not None:
        target = clip(sample.get("stratified_by"), 60)
        items.append(("sampling", f"stratified by the target ({target}), seed "
                                  f"{fmt(sample.get('seed'))}"))
    hidden = data.get("pseudonymised")
    if isinstance(hidden, list) and hidden:
        items.append(("pseudonymised for deepchecks",
                      ", ".join(clip(c, 40) for c in hidden[:20])
                      + (f" and {len(hidden) - 20} more" if len(hidden) > 20 else "")))
    timings = as_dict(data.get("timings"))
    if timings:
        items.append(("time", f"{fmt(timings.get('run_s'), 3)} s (deepchecks' import: "
                              f"{fmt(timings.get('import_s'), 3)} s)"))
    html, error = data.get("html"), data.get("html_error")
    if html:
        items.append(("deepchecks' own report", f"{clip(html, 200)} (offline; opened from the "
                                                 "suite's artifact list below)"))
    elif error:
        items.append(("deepchecks' own report", f"not written: {clip(error, 300)}"))
    else:
        items.append(("deepchecks' own report", "not written (html = false)"))
    note = ""
    if data.get("too_few"):
        note = f"Nothing ran: {clip(data.get('too_few'), 300)}."
    elif settings.get("min_rows") is not None:
        note = (f"Fewer than {fmt(settings.get('min_rows'))} rows on either side would make "
                "every record errored.")
    return Panel("Sample deepchecks saw", items=items, note=note)


def _comparison(data: dict[str, Any], settings: dict[str, Any],
                records: Sequence[Evidence]) -> Panel | None:
    rows = [r for r in dicts(data.get("comparison")) if r.get("scorer") is not None]
    if not rows:
        return None
    fail = finite(get(settings, "comparison", "margin", "fail"))
    warn = finite(get(settings, "comparison", "margin", "warn"))
    status = {r.id: r.status.value for r in records}
    intervals = [Interval(clip(r.get("scorer"), 40), finite(r.get("diff")),
                          *pair(r.get("diff_ci")),
                          flag="" if status.get(f"validation::vs_baseline[{r.get('scorer')}]")
                          == "passed" else "not passed") for r in rows]
    refs = [RefLine(0.0, "no change")]
    if fail is not None:
        refs.append(RefLine(fail, f"fail {fmt(fail)}", alert=True))
    chart = drawable(IntervalChart(intervals, title="Candidate minus baseline (with interval)",
                                   refs=refs, axis_label="candidate score − baseline score "
                                   "(higher is better)"))
    table = Table(
        ["scorer", "candidate", "baseline", "difference [interval]", "status"],
        [[clip(r.get("scorer"), 40), fmt(r.get("candidate")), fmt(r.get("baseline")),
          fmt(r.get("diff")) + _interval(r.get("diff_ci")),
          STATUS_TEXT.get(status.get(f"validation::vs_baseline[{r.get('scorer')}]", ""), "—")]
         for r in rows[:MAX_TABLE_ROWS]], numeric=frozenset({1, 2, 3}))
    level = finite(get(rows, 0, "confidence"))
    return Panel("Candidate vs baseline (deepchecks' scores)", chart=chart, table=table,
                 note=(f"Intervals: {fmt(level * 100)}% paired bootstrap of the evaluation "
                       f"sample ({fmt(get(rows, 0, 'resamples'))} resamples). " if level else "")
                 + "Fails only when the whole interval is below the fail level"
                 + (f" ({fmt(fail)})" if fail is not None else "") + "; an interval across it is "
                 "inconclusive (warned)" + (f", as is a difference below {fmt(warn)}"
                                            if warn is not None else "") + ".")


def _interval(value: Any) -> str:
    lo, hi = pair(value)
    return "" if lo is None or hi is None else f" [{fmt(lo)}, {fmt(hi)}]"


def _importance(data: dict[str, Any]) -> Panel | None:
    fi = as_dict(data.get("feature_importance"))
    cand, base = as_dict(fi.get("candidate")), as_dict(fi.get("baseline"))
    if not cand:
        return None
    names = sorted(cand, key=lambda k: -(finite(cand.get(k)) or 0.0))
    series = ["candidate"] + (["baseline"] if base else [])
    groups = [BarGroup(clip(k, 40), [finite(cand.get(k))] + ([finite(base.get(k))] if base
                                                             else [])) for k in names[:20]]
    chart = drawable(BarChart(groups, title="Permutation importance handed to deepchecks",
                              series=series, axis_label="share of the score lost when the "
                              "feature is shuffled (sums to 1)", max_groups=20))
    if chart is None:
        return None
    return Panel("Feature importance", chart=chart,
                 note=f"{len(names) - 20} more features in report.json." if len(names) > 20
                 else "Used by deepchecks' unused-features check and to order features.")


def panels(record: SuiteRecord[ValidationSettings]) -> list[Panel]:
    """The suite's panels, from its recorded data and records (see
    :meth:`certify.suite.Suite.panels`)."""
    data = dict(record.data)
    settings = record.settings.model_dump(mode="json")
    records = [r for r in record.evidence if r.id.startswith("validation::")]
    out: list[Panel | None] = [_setup(data, settings)]
    out += [_group_panel(group, records) for group in GROUPS]
    out += [_not_passed(records), _comparison(data, settings, records), _importance(data)]
    return [p for p in out if p is not None]
