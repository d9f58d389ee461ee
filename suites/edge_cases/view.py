"""The edge cases suite's pictures on the audit page, drawn from its recorded data."""

from __future__ import annotations

from typing import Any

from certify.jsonsafe import finite
from certify.suite import SuiteRecord
from certify.suites.edge_cases.settings import EdgeCasesSettings
from certify.view import (
    MAX_TABLE_ROWS,
    BarChart,
    BarGroup,
    Panel,
    RefLine,
    Table,
    as_dict,
    clip,
    dicts,
    drawable,
    first,
    fmt,
    get,
)


def _input_table(value: Any, caption: str) -> Table | None:
    """A counterexample's input as a small table (columns x rows, capped)."""
    if not isinstance(value, dict):
        return None
    rows = dicts(value.get("rows"))
    columns = [str(c) for c in value.get("columns", [])] if isinstance(value.get("columns"), list) \
        else (list(rows[0]) if rows else [])
    if not rows or not columns:
        return None
    shown_cols = columns[:14]
    n_rows = value.get("n_rows")
    note = []
    if isinstance(n_rows, int) and n_rows > len(rows[:8]):
        note.append(f"{n_rows} rows in the input, {len(rows[:8])} shown")
    if len(columns) > len(shown_cols):
        note.append(f"{len(columns) - len(shown_cols)} more columns")
    return Table(shown_cols, [[clip(r.get(c, "—"), 60) for c in shown_cols] for r in rows[:8]],
                 caption=caption, note="; ".join(note))


def panels(record: SuiteRecord[EdgeCasesSettings]) -> list[Panel]:
    """The suite's panels, from its recorded data (see :meth:`certify.suite.Suite.panels`)."""
    data = dict(record.data)
    records = list(record.evidence)
    settings = record.settings.model_dump(mode="json")
    panels: list[Panel] = []
    found = dicts(first(data, "counterexamples", default=[]))
    if not found:  # counterexamples are also in the failing checks' evidence details
        for r in records:
            ce = r.details.get("counterexample") if isinstance(r.details, dict) else None
            if isinstance(ce, dict):
                found.append({"check": r.id, **ce})
    for c in found[:10]:
        check = clip(first(c, "check", default="?"), 120)
        items = [("invariant", clip(first(c, "invariant", default="—"), 300)),
                 ("violation", clip(first(c, "violation", default="—"), 600)),
                 ("observed output", clip(first(c, "observed", "output", default="—"), 600))]
        kinds = get(c, "input", "kinds")
        if isinstance(kinds, list) and kinds:
            items.append(("input kinds", clip(", ".join(str(k) for k in kinds), 200)))
        items.append(("seed", f"{clip(first(c, 'seed', default='—'), 40)}"
                      + (f" (hypothesis seed {clip(c['hypothesis_seed'], 40)})"
                         if c.get("hypothesis_seed") is not None else "")
                      + ("" if c.get("shrunk", True) else ", not shrunk")))
        if c.get("reproduce"):
            items.append(("reproduce", clip(c.get("reproduce"), 400)))
        if c.get("artifact"):
            items.append(("saved as", clip(c.get("artifact"), 200)))
        table = _input_table(c.get("input"), "Minimal input (sensitive columns masked)")
        panels.append(Panel(f"Counterexample: {check}", items=items, table=table,
                            data=None if table is not None or c.get("input") is None
                            else c.get("input")))
    if len(found) > 10:
        panels.append(Panel("More counterexamples", note=f"{len(found) - 10} more in the artifacts."))
    checks = data.get("checks")
    stats = dicts(checks)
    if stats:
        def name(s: dict[str, Any]) -> str:
            return str(first(s, "name", "check", default="?"))

        groups = [BarGroup(name(s).split("::", 1)[-1], [finite(s.get("examples"))],
                           flag=str(s.get("outcome")) if s.get("outcome") not in (None, "passed")
                           else "")
                  for s in stats]
        min_ex = finite(settings.get("min_examples"))
        chart = drawable(BarChart(groups, title="Examples judged per check",
                                 axis_label="examples judged",
                                 refs=[RefLine(min_ex, f"min_examples {fmt(min_ex)}", alert=True)]
                                 if min_ex is not None else []))
        keys = ["outcome", "examples", "generated", "shrink_examples", "calls", "seconds",
                "budget_exhausted", "hypothesis_seed"]
        table = Table(["check", *keys],
                      [[name(s), *[clip(fmt(s.get(k)) if not isinstance(s.get(k), str) else s.get(k),
                                        40) for k in keys]] for s in stats[:MAX_TABLE_ROWS]],
                      numeric=frozenset(range(2, 7)),
                      row_flags=["flag" if s.get("outcome") not in (None, "passed") else ""
                                 for s in stats[:MAX_TABLE_ROWS]])
        panels.append(Panel("Search per check", chart=chart, table=table,
                            items=[("root seed", clip(data.get("seed"), 40)),
                                   ("example database", clip(data.get("database"), 300))]
                            if data.get("seed") is not None else []))
    acceptance = as_dict(data.get("acceptance"))
    if acceptance:
        cols = ["predicted", "rejected", "crashed", "bad_output"]
        kinds = [(str(k), as_dict(v)) for k, v in list(acceptance.items())[:MAX_TABLE_ROWS]]
        groups = [BarGroup(k, [finite(v.get(c)) for c in cols],
                           flag="crashed" if (finite(v.get("crashed")) or 0) > 0
                           or (finite(v.get("bad_output")) or 0) > 0 else "")
                  for k, v in kinds]
        chart = drawable(BarChart(groups, title="Outcome by input kind", series=cols,
                                 axis_label="inputs"))
        panels.append(Panel("What the model did with each kind of input", chart=chart, table=Table(
            ["input kind", *cols], [[k, *[fmt(v.get(c)) for c in cols]] for k, v in kinds],
            numeric=frozenset(range(1, 5)))))
    latency = as_dict(data.get("latency_ms"))
    if latency:
        panels.append(Panel("Model call latency during the search", items=[
            (k, fmt(v) + ("" if k == "calls" else " ms")) for k, v in latency.items()]))
    return panels
