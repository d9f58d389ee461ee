"""What a suite shows on the audit page, as plain data: panels, tables and chart specs.

A suite's ``panels()`` returns :class:`Panel` values built from its recorded data; the HTML
renderer (``certify.reports.html``) lays them out and draws the charts as inline SVG. The
renderer does not know any suite, and a suite does not know HTML: it says *what* to show
(a table, an interval chart of these estimates, bars of these groups), never how.

Text in panels is untrusted (it comes from report.json) and is escaped by the renderer.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from certify.jsonsafe import finite

#: Caps that keep a page bounded whatever the size of the data.
MAX_TABLE_ROWS = 30
MAX_TEXT = 600


# --------------------------------------------------------------------------------------
# Chart specs (drawn by certify.reports.charts).
# --------------------------------------------------------------------------------------

@dataclasses.dataclass
class Interval:
    """One estimate with its confidence interval (a row of an interval chart)."""

    label: str
    value: float | None
    lo: float | None = None
    hi: float | None = None
    series: int = 0
    flag: str = ""


@dataclasses.dataclass
class RefLine:
    """A reference line (a threshold, zero, a margin); ``alert`` draws it in the alert colour."""

    value: float
    label: str
    alert: bool = False


@dataclasses.dataclass
class BarGroup:
    """One row of a bar chart: a bar per series; ``flag`` hatches it, ``limit`` marks a level."""

    label: str
    values: list[float | None]
    flag: str = ""
    limit: float | None = None


@dataclasses.dataclass
class Series:
    """One line of a line chart."""

    name: str
    x: list[float | None]
    y: list[float | None]


@dataclasses.dataclass
class IntervalChart:
    """Point estimates with whiskers over their intervals, one row each."""

    rows: Sequence[Interval]
    title: str
    series: Sequence[str] = ()
    refs: Sequence[RefLine] = ()
    axis_label: str = ""
    width: float | None = None
    #: A log axis (for figures spanning decades, e.g. perturbation sizes); non-positive values
    #: are not drawn.
    log: bool = False


@dataclasses.dataclass
class BarChart:
    """Horizontal bars, one row per group and one bar per series; flagged groups hatched."""

    groups: Sequence[BarGroup]
    title: str
    series: Sequence[str] = ()
    refs: Sequence[RefLine] = ()
    axis_label: str = ""
    limit_label: str = "limit"
    max_groups: int = 30
    #: A log axis; bars start at the axis' lower end, non-positive values are not drawn.
    log: bool = False


@dataclasses.dataclass
class LineChart:
    """Lines with markers, one per series, with vertical and horizontal reference lines."""

    series: Sequence[Series]
    title: str
    x_label: str = ""
    y_label: str = ""
    vlines: Sequence[RefLine] = ()
    hlines: Sequence[RefLine] = ()
    y_zero: bool = False
    max_points: int = 400


Chart = IntervalChart | BarChart | LineChart
C = TypeVar("C", IntervalChart, BarChart, LineChart)


def has_data(spec: Chart) -> bool:
    """Whether the renderer would draw anything for ``spec`` (a finite value to show)."""
    if isinstance(spec, IntervalChart):
        return any(finite(r.value) is not None for r in spec.rows)
    if isinstance(spec, BarChart):
        return any(finite(v) is not None for g in spec.groups for v in g.values)
    return any(finite(x) is not None and finite(y) is not None
               for s in spec.series for x, y in zip(s.x, s.y, strict=False))


def drawable(spec: C) -> C | None:
    """``spec``, or None when it has nothing to draw (so a panel can be left out)."""
    return spec if has_data(spec) else None


# --------------------------------------------------------------------------------------
# Panels.
# --------------------------------------------------------------------------------------

@dataclasses.dataclass
class Table:
    headers: list[str]
    rows: list[list[Any]]
    caption: str = ""
    note: str = ""
    #: Columns whose cells are numbers (right-aligned).
    numeric: frozenset[int] = frozenset()
    #: Per-row flag text ("" for none), shown with the row.
    row_flags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Panel:
    """One picture of a suite: a title, charts, a table, key/value items, a note.

    ``chart`` is drawn full width; ``charts`` side by side (small multiples); ``data`` is any
    JSON value shown as a bounded key/value view.
    """

    title: str
    chart: Chart | None = None
    charts: Sequence[Chart] = ()
    table: Table | None = None
    note: str = ""
    items: list[tuple[str, Any]] = dataclasses.field(default_factory=list)
    data: Any = None


# --------------------------------------------------------------------------------------
# Formatting and reading recorded data (report.json is untrusted, loosely shaped JSON).
# --------------------------------------------------------------------------------------

def fmt(value: object, digits: int = 4) -> str:
    """A compact human number (``0.8826``, ``1.2e-05``, ``12345``); text for the rest."""
    v = finite(value)
    if v is None:
        return "n/a" if value is None or isinstance(value, float) else str(value)
    if v == 0:
        return "0"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        return f"{v:.{max(digits - 2, 1)}e}"
    return f"{v:.{digits}g}"


def clip(value: Any, limit: int = MAX_TEXT) -> str:
    """``value`` as text (JSON for structures), cut to ``limit`` characters."""
    text = value if isinstance(value, str) else short_json(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_json(value: Any) -> str:
    if isinstance(value, float):
        return fmt(value)
    try:
        return json.dumps(value, default=str, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        return str(value)


def get(data: Any, *path: Any, default: Any = None) -> Any:
    """``data[path[0]][path[1]]...`` or ``default`` when any step is missing or mistyped."""
    cur = data
    for key in path:
        in_map = isinstance(cur, Mapping) and key in cur
        in_list = isinstance(cur, list | tuple) and isinstance(key, int) and -len(cur) <= key < len(cur)
        if not (in_map or in_list):
            return default
        cur = cur[key]
    return cur


def pair(value: Any) -> tuple[float | None, float | None]:
    """A recorded ``[lo, hi]`` interval, or ``(None, None)``."""
    if isinstance(value, list | tuple) and len(value) == 2:
        return finite(value[0]), finite(value[1])
    return None, None


def ci(value: Any) -> str:
    """`` [lo, hi]`` for a recorded interval, or ``""``."""
    lo, hi = pair(value)
    return "" if lo is None or hi is None else f" [{fmt(lo)}, {fmt(hi)}]"


def dicts(value: Any) -> list[dict[str, Any]]:
    """A list of dicts from a list of dicts or a dict of dicts (key kept as ``name``)."""
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    if isinstance(value, dict):
        return [{"name": k, **v} for k, v in value.items() if isinstance(v, dict)]
    return []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def first(d: Mapping[str, Any], *keys: str, default: Any = None) -> Any:
    """The first of ``keys`` present in ``d`` with a value that is not None."""
    for k in keys:
        if k in d and d[k] is not None:
            return d[k]
    return default
