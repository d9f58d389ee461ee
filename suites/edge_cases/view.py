"""The edge cases suite's pictures on the audit page, drawn from its recorded data.

* one panel per counterexample: the invariant, the violation, what the model answered as fields
  and a table of the rows that matter (:mod:`~certify.suites.edge_cases.observed`), and the
  minimal input (sensitive numbers as their decile band next to their pseudonym);
* the search per check: examples judged against ``min_examples``, each check marked passed,
  failed or not judged (errored: too few examples, the model hung or died), from its evidence;
* what the model did with each kind of input, against what the policy asks of it;
* model call latency during the search.

Labels are check names without the ``edge_cases::`` prefix; every chart has a title, an axis
label and a legend of the series it draws. Read defensively: an old report may lack keys.
"""

from __future__ import annotations

from typing import Any

from certify.evidence import Evidence
from certify.jsonsafe import finite
from certify.suite import SuiteRecord
from certify.suites.edge_cases.bands import precise
from certify.suites.edge_cases.observed import cell, observed_view, plain
from certify.suites.edge_cases.settings import POLICY_KEYS, EdgeCasesSettings
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
    first,
    fmt,
)

#: Counterexamples shown (the rest are in the artifacts).
MAX_COUNTEREXAMPLES = 10
#: Rows and columns of a counterexample's input shown.
MAX_INPUT_ROWS, MAX_INPUT_COLUMNS = 8, 14
#: Series of the "examples judged" chart, by how the check was decided.
JUDGED = ("passed", "failed", "not judged (errored)", "warned (waived)")
PASSED, FAILED, NOT_JUDGED, WAIVED = range(4)
_ACCEPTANCE = (("predicted", "predicted"), ("rejected", "rejected"), ("crashed", "crashed"),
               ("bad_output", "malformed output"))


def num(value: Any) -> str:
    """A recorded number for people (a structure where a number belongs only by its size)."""
    return plain(value, 40) if isinstance(value, dict | list) else fmt(value)


def short(check: Any) -> str:
    """A check id without the suite prefix: ``monotonic[income]``."""
    return plain(check, 120).split("::", 1)[-1]


# -- counterexamples ---------------------------------------------------------------------------

_MISSING = object()


def _column_cells(values: list[Any], bands: list[Any] | None) -> list[str]:
    """One input column as texts: numbers with enough digits that the rows read apart, a
    sensitive number as its pseudonym and its decile band."""
    numbers = sorted({v for v in (finite(x) for x in values) if v is not None})
    gaps = [b - a for a, b in zip(numbers, numbers[1:], strict=False) if b > a]
    gap = min(gaps) if gaps else None
    out = []
    for i, v in enumerate(values):
        text = "—" if v is _MISSING else cell(v, gap) if isinstance(v, int | float) else cell(v)
        band = bands[i] if bands is not None and i < len(bands) else None
        if band is not None and isinstance(v, str) and v.startswith("masked:"):
            text = f"{v} ({band})"
        out.append(text)
    return out


def input_table(value: Any) -> Table | None:
    """A counterexample's input as a small table (a line per column, a table column per row;
    both capped, with a note)."""
    if not isinstance(value, dict):
        return None
    rows = dicts(value.get("rows"))
    columns = [plain(c, 60) for c in value["columns"]] if isinstance(value.get("columns"), list) \
        else (list(rows[0]) if rows else [])
    if not rows or not columns:
        return None
    shown_cols = columns[:MAX_INPUT_COLUMNS]
    shown_rows = rows[:MAX_INPUT_ROWS]
    bands = as_dict(value.get("bands"))
    cells = {c: _column_cells([r.get(c, _MISSING) for r in shown_rows],
                              bands.get(c) if isinstance(bands.get(c), list) else None)
             for c in shown_cols}
    note = []
    n_rows = value.get("n_rows")
    if isinstance(n_rows, int) and n_rows > len(shown_rows):
        distinct = value.get("distinct_rows")
        note.append(f"{n_rows} rows in the input"
                    + (f" ({distinct} distinct, repeated)" if isinstance(distinct, int) else "")
                    + f", the first {len(shown_rows)} shown")
    if len(columns) > len(shown_cols):
        note.append(f"{len(columns) - len(shown_cols)} more columns: "
                    + clip(", ".join(columns[len(shown_cols):]), 200))
    differ = [c for c in shown_cols if len(shown_rows) > 1 and len(set(cells[c])) > 1]
    few = bool(differ) and len(differ) <= len(shown_cols) // 2
    if few:
        note.append("the rows differ in " + clip(", ".join(differ), 200)
                    + " (marked)")
    if bands:
        note.append("a sensitive number is shown as its decile band in the reference data and "
                    "its keyed pseudonym, never as the value")
    text = "; ".join(note) + ("; the whole input is in the counterexample file" if note else "")
    caption = "Minimal input (sensitive columns masked)"
    # One line per column, one table column per row: an input has many columns and few rows,
    # and a row of ten columns side by side had to break short words ("fema|le") to fit.
    return Table(["column", *(f"row {i}" for i in range(len(shown_rows)))],
                 [[c, *cells[c]] for c in shown_cols], caption=caption, note=text,
                 row_flags=["flag" if few and c in differ else "" for c in shown_cols])


def _seed(c: dict[str, Any]) -> str:
    text = plain(first(c, "seed", default="—"), 40)
    if c.get("hypothesis_seed") is not None:
        text += f" (hypothesis seed {plain(c['hypothesis_seed'], 40)})"
    return text + ("" if c.get("shrunk", True) else "; not fully shrunk")


def counterexample_panels(c: dict[str, Any], settings: EdgeCasesSettings) -> list[Panel]:
    """The panels of one counterexample: what happened, and the input it happened on."""
    check = plain(first(c, "check", default="?"), 120)
    inp = as_dict(c.get("input"))
    shown = observed_view(check, first(c, "observed", "output", default={}), inp, settings)
    items: list[tuple[str, Any]] = [
        ("invariant", plain(first(c, "invariant", default="—"), 300)),
        ("violation", plain(first(c, "violation", default="—"), 600)), *shown.facts]
    notes = [plain(n) for n in inp["notes"]] if isinstance(inp.get("notes"), list) else []
    if notes:
        items.append(("what is unusual", clip("; ".join(notes[:6]) + (
            f"; and {len(notes) - 6} more" if len(notes) > 6 else ""), 600)))
    kinds = inp.get("kinds")
    if isinstance(kinds, list) and kinds:
        items.append(("input kinds", clip(", ".join(plain(k, 40) for k in kinds), 200)))
    items.append(("seed", _seed(c)))
    if c.get("reproduce"):
        items.append(("reproduce", plain(c.get("reproduce"), 400)))
    if c.get("artifact"):
        items.append(("saved as", plain(c.get("artifact"), 200)))
    table = input_table(inp)
    if shown.table is None:
        return [Panel(f"Counterexample: {check}", items=items, table=table)]
    out = [Panel(f"Counterexample: {check}", items=items, table=shown.table)]
    if table is not None:
        out.append(Panel(f"Counterexample input: {check}", table=table))
    return out


# -- the search per check ------------------------------------------------------------------------

def judged(stat: dict[str, Any], record: Evidence | None, min_examples: float) -> tuple[int, str]:
    """How a check was decided (a series of :data:`JUDGED`) and that in words: its evidence
    status when recorded, else its search's outcome and sample size."""
    status = record.status.value if record is not None else None
    outcome = str(stat.get("outcome", ""))
    examples = finite(stat.get("examples"))
    enough = examples is not None and examples >= min_examples
    if status == "failed" or (status is None and outcome == "counterexample"):
        what = {"counterexample": "counterexample", "died": "the model died on an input",
                "hung": "a call past the deadline"}.get(outcome, "")
        if short(stat.get("name")) == "deadline":
            what = "a call past the deadline"
        return FAILED, "✗ failed" + (f": {what}" if what else "")
    if status == "warned":
        return WAIVED, "⚠ warned" + (" (waived)" if record is not None and record.waiver else "")
    if status == "passed" or (status is None and outcome == "passed" and enough):
        return PASSED, "✓ passed"
    why = {"hung": "stopped, the model hung", "not_run": "not run, the model hung",
           "died": "the model died", "untrustworthy": "nondeterministic model",
           "errored": "the search failed"}.get(outcome)
    if why is None and status == "skipped":
        why = "skipped"
    if why is None and not enough:
        why = f"too few examples ({fmt(examples)} < {fmt(min_examples)})"
    return NOT_JUDGED, "– not judged" + (f": {why}" if why else "")


def _stats(data: dict[str, Any], records: list[Evidence]) -> list[dict[str, Any]]:
    stats = [{"name": s.get("name", s.get("check")), **s} for s in dicts(data.get("checks"))]
    if stats:
        return stats
    return [{"name": r.id, **r.metrics} for r in records if "examples" in r.metrics]


def search_panel(data: dict[str, Any], records: list[Evidence],
                 settings: EdgeCasesSettings) -> Panel | None:
    stats = _stats(data, records)
    if not stats:
        return None
    by_id = {r.id: r for r in records}
    lo, hi = float(settings.min_examples), float(settings.max_examples)
    decided = [judged(s, by_id.get(str(s["name"])), lo) for s in stats]
    rows = [Interval(short(s["name"]), finite(s.get("examples")), series=series)
            for s, (series, _) in zip(stats, decided, strict=True)]
    chart = drawable(IntervalChart(
        rows, title="Examples judged per check, against min_examples", series=JUDGED,
        refs=[RefLine(lo, f"min_examples {fmt(lo)}", alert=True)],
        axis_label=f"examples judged (min_examples {fmt(lo)} to pass; max_examples {fmt(hi)})"))
    table_rows = []
    for s, (_, text) in zip(stats[:MAX_TABLE_ROWS], decided, strict=False):
        seed, shrunk = s.get("hypothesis_seed"), finite(s.get("shrink_examples"))
        table_rows.append([short(s["name"]), text + (f" ({fmt(shrunk)} shrink steps)"
                                                     if shrunk else ""),
                           num(s.get("examples")), fmt(lo), num(s.get("generated")),
                           num(s.get("calls")), num(s.get("seconds")),
                           "reached" if s.get("budget_exhausted") is True else "—",
                           plain(seed, 24)])
    note = (f"{len(stats) - MAX_TABLE_ROWS} more checks in report.json"
            if len(stats) > MAX_TABLE_ROWS else "")
    table = Table(
        ["check", "result", "judged", "needed", "tried", "model calls", "time (s)",
         "time budget", "hypothesis seed"], table_rows,
        caption=("Examples per check: a check passes only with no counterexample in at least "
                 "min_examples judged examples; with fewer, or when the model hung or died, "
                 "it is errored (not judged), never passed"),
        note=note, numeric=frozenset(range(2, 7)),
        row_flags=["" if series == PASSED else "flag" for series, _ in decided[:MAX_TABLE_ROWS]])
    items: list[tuple[str, Any]] = []
    if data.get("seed") is not None:
        items = [("root seed", plain(data.get("seed"), 40)),
                 ("example database", plain(data.get("database"), 300))]
    return Panel("Search per check: examples judged against min_examples", chart=chart,
                 table=table, items=items)


# -- inputs and latency ----------------------------------------------------------------------------

def acceptance_panel(data: dict[str, Any], settings: EdgeCasesSettings) -> Panel | None:
    acceptance = as_dict(data.get("acceptance"))
    if not acceptance:
        return None
    kinds = [(str(k), as_dict(v)) for k, v in list(acceptance.items())[:MAX_TABLE_ROWS]]

    def count(v: dict[str, Any], key: str) -> float | None:
        n = finite(v.get(key))
        return n if n else None  # no bar (and no legend entry) for nothing

    groups = [BarGroup(k, [count(v, key) for key, _ in _ACCEPTANCE]) for k, v in kinds]
    chart = drawable(BarChart(groups, title="Outcome by input kind: what the model did with "
                              "no_crash's examples", series=[n for _, n in _ACCEPTANCE],
                              axis_label="inputs (examples of no_crash)"))

    def asked(kind: str) -> str:
        key = POLICY_KEYS.get(kind)
        return f"{key} = {getattr(settings, key)}" if key else "must be predicted"

    table = Table(["input kind", "policy", *[n for _, n in _ACCEPTANCE]],
                  [[k, asked(k), *[num(v.get(key, 0)) for key, _ in _ACCEPTANCE]]
                   for k, v in kinds],
                  numeric=frozenset(range(2, 6)),
                  row_flags=["flag" if (finite(v.get("crashed")) or 0) > 0
                             or (finite(v.get("bad_output")) or 0) > 0 else "" for _, v in kinds])
    return Panel("What the model did with each kind of input", chart=chart, table=table)


def latency_panel(data: dict[str, Any]) -> Panel | None:
    latency = as_dict(data.get("latency_ms"))
    if not latency:
        return None

    def ms(value: Any) -> str:
        v = finite(value)
        if v is None:
            return "n/a"
        return f"{precise(v / 1e3, None)} s" if v >= 1000 else f"{fmt(v)} ms"

    names = {"calls": "model calls", "p50": "median", "p95": "95th percentile",
             "max": "slowest", "deadline": "deadline per call"}
    return Panel("Model call latency during the search", items=[
        (names.get(k, k), num(v) if k == "calls" else ms(v)) for k, v in latency.items()])


def panels(record: SuiteRecord[EdgeCasesSettings]) -> list[Panel]:
    """The suite's panels, from its recorded data (see :meth:`certify.suite.Suite.panels`)."""
    data = dict(record.data)
    records = list(record.evidence)
    settings = record.settings if isinstance(record.settings, EdgeCasesSettings) \
        else EdgeCasesSettings()
    out: list[Panel] = []
    found = dicts(first(data, "counterexamples", default=[]))
    if not found:  # counterexamples are also in the failing checks' evidence details
        for r in records:
            ce = r.details.get("counterexample") if isinstance(r.details, dict) else None
            if isinstance(ce, dict):
                found.append({"check": r.id, **ce})
    for c in found[:MAX_COUNTEREXAMPLES]:
        out += counterexample_panels(c, settings)
    if len(found) > MAX_COUNTEREXAMPLES:
        out.append(Panel("More counterexamples", note=(
            f"{len(found) - MAX_COUNTEREXAMPLES} more in artifacts/edge_cases/counterexamples/.")))
    for panel in (search_panel(data, records, settings), acceptance_panel(data, settings),
                  latency_panel(data)):
        if panel is not None:
            out.append(panel)
    return out

