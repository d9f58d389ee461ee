"""Server-side charts as inline SVG: no script, no font file, no external request.

Every function returns :class:`markupsafe.Markup` holding one ``<svg>`` element (or None
when there is nothing to draw). All text that reaches the SVG (labels, titles, legends)
is escaped here: report values are untrusted. Numbers are rounded to 0.1 px so that the
markup stays small, and every chart carries a ``<title>``/``<desc>`` for screen readers;
the HTML report also shows the numbers in a table next to each chart, so no chart is
the only place a figure appears.

Status is never shown by colour alone: flagged bars carry a hatch pattern and a text
marker, series differ by marker shape and dash pattern as well as colour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from certify.jsonsafe import finite
from certify.view import (
    BarChart,
    BarGroup,
    Chart,
    Interval,
    IntervalChart,
    RefLine,
    Series,
    fmt,
)

#: Series styles: (colour, marker, dash). Colour-blind-safe blue/orange/grey/purple.
SERIES_STYLE: tuple[tuple[str, str, str], ...] = (
    ("#1f5fa8", "circle", ""),
    ("#c05a00", "square", "6 3"),
    ("#5f6368", "triangle", "2 3"),
    ("#6a3d9a", "diamond", "8 3 2 3"),
)
ALERT = "#b3261e"
GRID = "#d9dce1"
INK = "#1d2430"
MUTED = "#5f6368"
CHAR_W = 6.6  # average glyph width of the 12px system font, for layout estimates
WIDTH = 640


def _f(x: float) -> str:
    """A coordinate with one decimal, without a trailing ``.0``."""
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: Widest label column, as a share of the chart's width; longer labels wrap onto two lines.
MAX_LABEL_SHARE = 0.45


def _label_text(label: str, flag: str) -> str:
    return label + (f" ▲ {flag}" if flag else "")


#: Bold text is about 12 % wider than regular text.
BOLD = 1.12


def _label_width(texts: Sequence[str], width: float, bold: Sequence[bool] = ()) -> float:
    """The label column: as wide as the longest label (bold ones wider), at most
    MAX_LABEL_SHARE of the chart."""
    widths = [len(t) * CHAR_W * (BOLD if i < len(bold) and bold[i] else 1.0)
              for i, t in enumerate(texts)]
    return min(max(widths, default=4 * CHAR_W) + 16, width * MAX_LABEL_SHARE)


def _wrap(text: str, width: float, bold: bool = False) -> list[str]:
    """``text`` on one line if it fits in ``width`` pixels, else on two (at a separator when
    there is one); only a label longer than two lines loses its end (the table has it whole)."""
    room = max(int((width - 12) / (CHAR_W * (BOLD if bold else 1.0))), 8)
    if len(text) <= room:
        return [text]
    cut = max((text.rfind(sep, 0, room + 1) for sep in (" ", "[", "_", ".", "-", ":")), default=-1)
    cut = cut if cut > room // 3 else room
    first, rest = text[:cut], text[cut:].lstrip(" ")
    return [first, _clip(rest, room)]


def _label(x: float, y: float, lines: list[str], *, bold: bool = False, colour: str = INK) -> str:
    """A right-aligned label of one or two lines, vertically centred on ``y``."""
    if len(lines) == 1:
        return _text(x, y + 4, lines[0], anchor="end", weight="bold" if bold else "",
                     colour=colour)
    w = ' font-weight="bold"' if bold else ""
    spans = "".join(f'<tspan x="{_f(x)}" dy="{dy}">{escape(line)}</tspan>'
                    for line, dy in zip(lines, ("-2", "13"), strict=False))
    return (f'<text x="{_f(x)}" y="{_f(y - 2)}" text-anchor="end" font-size="12" '
            f'fill="{colour}"{w}>{spans}</text>')


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 2.5, 5 x 10^k steps)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi == lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks: list[float] = []
    t = first
    while t <= hi + step * 1e-9 and len(ticks) < 50:
        ticks.append(round(t, 12))
        t += step
    return ticks


def _extent(values: Sequence[float], *, include_zero: bool = False, pad: float = 0.05
            ) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if include_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        span = abs(hi) * 0.1 or 1.0
        return lo - span, hi + span
    span = hi - lo
    lo2 = lo - span * pad if not (include_zero and lo == 0) else lo
    hi2 = hi + span * pad if not (include_zero and hi == 0) else hi
    return lo2, hi2


class _Scale:
    """Maps values in [lo, hi] to pixels in [a, b]; on a log axis, log10 of the values."""

    def __init__(self, lo: float, hi: float, a: float, b: float, log: bool = False) -> None:
        self.log = log
        if log:
            lo, hi = math.log10(lo), math.log10(hi)
        self.lo, self.hi, self.a, self.b = lo, hi, a, b

    def __call__(self, v: float) -> float:
        if self.log:
            v = math.log10(max(v, 10 ** self.lo))
        if self.hi == self.lo:
            return (self.a + self.b) / 2
        return self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a)

    def ticks(self) -> list[float]:
        if not self.log:
            return nice_ticks(self.lo, self.hi)
        first, last = math.floor(self.lo + 1e-9), math.ceil(self.hi - 1e-9)
        step = max(1, (last - first) // 6 + 1)
        return [10.0 ** k for k in range(first, last + 1, step) if self.lo - 1e-9 <= k <= self.hi + 1e-9]


def _log_extent(values: Sequence[float]) -> tuple[float, float]:
    """A log axis over the positive ``values``, padded to whole decades."""
    positive = [v for v in values if v > 0] or [1.0]
    lo, hi = min(positive), max(positive)
    return 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi) + (1e-9 if lo == hi else 0))


def _marker(shape: str, x: float, y: float, colour: str, r: float = 4.0, filled: bool = True) -> str:
    fill = colour if filled else "#fff"
    common = f'fill="{fill}" stroke="{colour}" stroke-width="1.5"'
    if shape == "square":
        return f'<rect x="{_f(x - r)}" y="{_f(y - r)}" width="{_f(2 * r)}" height="{_f(2 * r)}" {common}/>'
    if shape == "triangle":
        pts = f"{_f(x)},{_f(y - r - 1)} {_f(x - r - 1)},{_f(y + r)} {_f(x + r + 1)},{_f(y + r)}"
        return f'<polygon points="{pts}" {common}/>'
    if shape == "diamond":
        pts = f"{_f(x)},{_f(y - r - 1)} {_f(x + r + 1)},{_f(y)} {_f(x)},{_f(y + r + 1)} {_f(x - r - 1)},{_f(y)}"
        return f'<polygon points="{pts}" {common}/>'
    return f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(r)}" {common}/>'


def _style(i: int) -> tuple[str, str, str]:
    return SERIES_STYLE[i % len(SERIES_STYLE)]


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 12,
          colour: str = INK, weight: str = "", extra: str = "") -> str:
    w = f' font-weight="{weight}"' if weight else ""
    return (f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{colour}"{w}{extra}>{escape(text)}</text>')


def _svg(uid: str, width: float, height: float, title: str, desc: str, body: list[str]) -> Markup:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
            f'viewBox="0 0 {_f(width)} {_f(height)}" width="{_f(width)}" height="{_f(height)}" '
            f'aria-labelledby="{uid}-t {uid}-d" font-family="inherit">'
            f'<title id="{uid}-t">{escape(title)}</title><desc id="{uid}-d">{escape(desc)}</desc>')
    return Markup(head + "".join(body) + "</svg>")


#: Bar fills per series: colour and pattern both differ, so series read apart in grey print.
_PATTERNS = ("solid", "hatch", "dots", "cross")


def _pattern_defs(uid: str, n_series: int) -> str:
    defs = []
    for i in range(n_series):
        colour = _style(i)[0]
        kind = _PATTERNS[i % len(_PATTERNS)]
        if kind == "hatch":
            inner = (f'<rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" '
                     f'stroke="{colour}" stroke-width="3"/>')
            defs.append(f'<pattern id="{uid}-p{i}" patternUnits="userSpaceOnUse" width="6" '
                        f'height="6" patternTransform="rotate(45)">{inner}</pattern>')
        elif kind == "dots":
            inner = f'<rect width="5" height="5" fill="#fff"/><circle cx="2.5" cy="2.5" r="1.6" fill="{colour}"/>'
            defs.append(f'<pattern id="{uid}-p{i}" patternUnits="userSpaceOnUse" width="5" '
                        f'height="5">{inner}</pattern>')
        elif kind == "cross":
            inner = (f'<rect width="6" height="6" fill="#fff"/><path d="M0 0L6 6M6 0L0 6" '
                     f'stroke="{colour}" stroke-width="1.4"/>')
            defs.append(f'<pattern id="{uid}-p{i}" patternUnits="userSpaceOnUse" width="6" '
                        f'height="6">{inner}</pattern>')
    return f"<defs>{''.join(defs)}</defs>" if defs else ""


def _fill(uid: str, i: int) -> str:
    return _style(i)[0] if _PATTERNS[i % len(_PATTERNS)] == "solid" else f"url(#{uid}-p{i})"


def _swatch_legend(uid: str, names: Sequence[str], x: float, y: float) -> tuple[list[str], float]:
    """Legend for bars: a swatch with the series' own fill and pattern."""
    out = []
    for i, name in enumerate(names):
        colour = _style(i)[0]
        out.append(f'<rect x="{_f(x)}" y="{_f(y - 10)}" width="14" height="10" fill="{_fill(uid, i)}" '
                   f'stroke="{colour}" stroke-width="1"/>')
        x += 18
        label = _clip(name, 30)
        out.append(_text(x, y, label))
        x += len(label) * CHAR_W + 18
    return out, x


def _legend(names: Sequence[str], x: float, y: float, *, lines: bool = False,
            styles: Sequence[int] | None = None) -> list[str]:
    """Legend entries; ``styles`` gives each name's series index (default: its position)."""
    out = []
    for k, name in enumerate(names):
        colour, shape, dash = _style(styles[k] if styles is not None else k)
        if lines:
            d = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<line x1="{_f(x)}" y1="{_f(y - 4)}" x2="{_f(x + 22)}" y2="{_f(y - 4)}" '
                       f'stroke="{colour}" stroke-width="2"{d}/>')
            out.append(_marker(shape, x + 11, y - 4, colour, 3.5))
            x += 28
        else:
            out.append(_marker(shape, x + 5, y - 4, colour, 4.5))
            x += 14
        label = _clip(name, 30)
        out.append(_text(x, y, label))
        x += len(label) * CHAR_W + 18
    return out


def _x_axis(scale: _Scale, y_top: float, y_bottom: float, ticks: list[float], label: str = "") -> list[str]:
    out = []
    for t in ticks:
        x = scale(t)
        out.append(f'<line x1="{_f(x)}" y1="{_f(y_top)}" x2="{_f(x)}" y2="{_f(y_bottom)}" '
                   f'stroke="{GRID}" stroke-width="1"/>')
        out.append(_text(x, y_bottom + 14, fmt(t, 3), anchor="middle", size=11, colour=MUTED))
    if label:
        out.append(_text((scale.a + scale.b) / 2, y_bottom + 30, label, anchor="middle", size=11,
                         colour=MUTED))
    return out


def _vrefs(refs: Sequence[RefLine], scale: _Scale, y0: float, y1: float) -> list[str]:
    """Vertical dashed reference lines; the leftmost label sits left of its line, the rest
    right of theirs, so that two close lines (0 and -margin) do not print over each other."""
    out = []
    shown = sorted((r for r in refs if finite(r.value) is not None), key=lambda r: r.value)
    for i, ref in enumerate(shown):
        x = scale(ref.value)
        colour = ALERT if ref.alert else INK
        out.append(f'<line x1="{_f(x)}" y1="{_f(y0 - 12)}" x2="{_f(x)}" y2="{_f(y1)}" '
                   f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="5 3"/>')
        label = _clip(ref.label, 30)
        # Left of the line for the leftmost of several, and for any label that would run past
        # the chart's right edge (the plot ends 60+ px before it).
        past_edge = x + 3 + len(label) * CHAR_W * 10 / 12 > scale.b + 60
        left = (i == 0 and len(shown) > 1) or past_edge
        out.append(_text(x - 3 if left else x + 3, y0 - 4, label, size=10,
                         colour=colour, anchor="end" if left else "start"))
    return out


# --------------------------------------------------------------------------------------
# Interval (forest) plot: point estimates with confidence intervals.
# --------------------------------------------------------------------------------------

def interval_chart(rows: Sequence[Interval], *, uid: str, title: str, series: Sequence[str] = (),
                   refs: Sequence[RefLine] = (), axis_label: str = "", width: float = WIDTH,
                   log: bool = False) -> Markup | None:
    """One row per estimate: a marker at the value and a whisker over [lo, hi]."""
    rows = [r for r in rows if finite(r.value) is not None]
    if not rows:
        return None
    values: list[float] = []
    for r in rows:
        values += [v for v in (finite(r.value), finite(r.lo), finite(r.hi)) if v is not None]
    values += [v for v in (finite(ref.value) for ref in refs) if v is not None]
    lo, hi = _log_extent(values) if log else _extent(values)
    texts = [_label_text(r.label, r.flag) for r in rows]
    bold = [bool(r.flag) for r in rows]
    left = _label_width(texts, width, bold)
    right = width - 70
    labels = [_wrap(t, left, b) for t, b in zip(texts, bold, strict=True)]
    row_h = 32 if any(len(lines) > 1 for lines in labels) else 24
    shown = sorted({r.series for r in rows})
    top = (30 if series else 12) + (14 if refs else 0)
    height = top + row_h * len(rows) + 44
    scale = _Scale(lo, hi, left, right, log=log)
    body: list[str] = []
    if series:  # only the series that have a row here
        named = [i for i in shown if i < len(series)]
        body += _legend([series[i] for i in named], left, 16, styles=named)
    y0, y1 = top, top + row_h * len(rows)
    body += _x_axis(scale, y0, y1, scale.ticks(), axis_label + (" (log scale)" if log else ""))
    body += _vrefs(refs, scale, y0, y1)
    for i, r in enumerate(rows):
        y = top + row_h * i + row_h / 2
        colour, shape, _ = _style(r.series)
        if r.flag:
            colour = ALERT
        body.append(_label(left - 8, y, labels[i], bold=bool(r.flag)))
        a, b = finite(r.lo), finite(r.hi)
        if a is not None and b is not None:
            body.append(f'<line x1="{_f(scale(a))}" y1="{_f(y)}" x2="{_f(scale(b))}" y2="{_f(y)}" '
                        f'stroke="{colour}" stroke-width="2"/>')
            for end in (a, b):
                body.append(f'<line x1="{_f(scale(end))}" y1="{_f(y - 5)}" x2="{_f(scale(end))}" '
                            f'y2="{_f(y + 5)}" stroke="{colour}" stroke-width="2"/>')
        v = finite(r.value)
        assert v is not None
        body.append(_marker(shape, scale(v), y, colour))
        body.append(_text(right + 6, y + 4, fmt(v), size=11, colour=MUTED))
    desc = "; ".join(
        f"{r.label}{' (' + series[r.series] + ')' if series and r.series < len(series) else ''}: "
        f"{fmt(r.value)}" + (f" [{fmt(r.lo)}, {fmt(r.hi)}]" if r.lo is not None else "")
        for r in rows[:40])
    return _svg(uid, width, height, title, desc, body)


# --------------------------------------------------------------------------------------
# Horizontal grouped bars.
# --------------------------------------------------------------------------------------

def bar_chart(groups: Sequence[BarGroup], *, uid: str, title: str, series: Sequence[str] = (),
              refs: Sequence[RefLine] = (), axis_label: str = "", limit_label: str = "limit",
              max_groups: int = 30, log: bool = False) -> Markup | None:
    """Horizontal bars, one row per group and one bar per series (each series its own colour
    and pattern); a flagged group gets a bold label with ``▲ flag`` and an alert outline."""
    groups = [g for g in groups if any(finite(v) is not None for v in g.values)][:max_groups]
    if not groups:
        return None
    n_series = max(len(g.values) for g in groups)
    values = [v for g in groups for v in (finite(x) for x in g.values) if v is not None]
    values += [v for v in (finite(r.value) for r in refs) if v is not None]
    values += [v for v in (finite(g.limit) for g in groups) if v is not None]
    lo, hi = _log_extent(values) if log else _extent(values, include_zero=True)
    texts = [_label_text(g.label, g.flag) for g in groups]
    bold = [bool(g.flag) for g in groups]
    left = _label_width(texts, WIDTH, bold)
    right = WIDTH - 80
    labels = [_wrap(t, left, b) for t, b in zip(texts, bold, strict=True)]
    bar_h = 12 if n_series > 1 else 16
    group_h = max(bar_h * n_series + 10, 34 if any(len(x) > 1 for x in labels) else 0)
    has_limits = any(finite(g.limit) is not None for g in groups)
    # Only the series that have a value somewhere in this chart get a legend entry.
    present = [i for i in range(n_series)
               if any(i < len(g.values) and finite(g.values[i]) is not None for g in groups)]
    legend = bool(series) and len(present) > 1
    top = (30 if legend or has_limits else 12) + (14 if refs else 0)
    height = top + group_h * len(groups) + 44
    scale = _Scale(lo, hi, left, right, log=log)
    body = [_pattern_defs(uid, n_series)]
    lx = left
    if legend:
        swatches, lx = _swatch_legend(uid, [series[i] if i < len(series) else f"series {i + 1}"
                                            for i in present], left, 16)
        body += swatches
    if has_limits:
        body.append(f'<line x1="{_f(lx)}" y1="{_f(6)}" x2="{_f(lx)}" y2="{_f(18)}" stroke="{ALERT}" '
                    f'stroke-width="3"/>')
        body.append(_text(lx + 6, 16, limit_label, colour=ALERT))
    y0, y1 = top, top + group_h * len(groups)
    body += _x_axis(scale, y0, y1, scale.ticks(), axis_label + (" (log scale)" if log else ""))
    zero = scale(lo) if log else scale(max(lo, min(0.0, hi)))
    for gi, g in enumerate(groups):
        gy = top + group_h * gi + 5
        body.append(_label(left - 8, gy + (bar_h * n_series) / 2, labels[gi], bold=bool(g.flag),
                           colour=ALERT if g.flag else INK))
        for si, raw in enumerate(g.values):
            v = finite(raw)
            if v is None or (log and v <= 0):
                continue
            colour = _style(si)[0]
            stroke, stroke_w = (ALERT, 2.5) if g.flag else (colour, 1)
            x = scale(v)
            bx, bw = (zero, x - zero) if x >= zero else (x, zero - x)
            by = gy + si * bar_h
            body.append(f'<rect x="{_f(bx)}" y="{_f(by + 1)}" width="{_f(max(bw, 1))}" '
                        f'height="{_f(bar_h - 2)}" fill="{_fill(uid, si)}" stroke="{stroke}" '
                        f'stroke-width="{stroke_w}"/>')
            body.append(_text(max(x, zero) + 4, by + bar_h - 3, fmt(v), size=10, colour=MUTED))
        lim = finite(g.limit)
        if lim is not None:
            lx = scale(lim)
            body.append(f'<line x1="{_f(lx)}" y1="{_f(gy - 3)}" x2="{_f(lx)}" '
                        f'y2="{_f(gy + bar_h * n_series + 3)}" stroke="{ALERT}" stroke-width="3"/>')
    body += _vrefs(refs, scale, y0, y1)
    desc = "; ".join(
        f"{g.label}{' (' + g.flag + ')' if g.flag else ''}: "
        + ", ".join(f"{series[i] + ' ' if i < len(series) else ''}{fmt(v)}"
                    for i, v in enumerate(g.values))
        for g in groups)
    return _svg(uid, WIDTH, height, title, _clip(desc, 2000), body)


# --------------------------------------------------------------------------------------
# Line chart over a numeric x axis.
# --------------------------------------------------------------------------------------

def line_chart(series: Sequence[Series], *, uid: str, title: str, x_label: str = "",
               y_label: str = "", vlines: Sequence[RefLine] = (), hlines: Sequence[RefLine] = (),
               y_zero: bool = False, max_points: int = 400) -> Markup | None:
    """Lines with markers, one per series; vertical/horizontal reference lines."""
    clean: list[tuple[str, list[tuple[float, float]]]] = []
    for s in series:
        pts = [(fx, fy) for fx, fy in ((finite(a), finite(b)) for a, b in zip(s.x, s.y, strict=False))
               if fx is not None and fy is not None]
        if len(pts) > max_points:  # keep the markup bounded: evenly thinned, ends kept
            step = len(pts) / max_points
            pts = [pts[int(i * step)] for i in range(max_points - 1)] + [pts[-1]]
        clean.append((s.name, pts))
    if not any(pts for _, pts in clean):
        return None
    xs = [p[0] for _, pts in clean for p in pts] + [v for v in (finite(r.value) for r in vlines)
                                                    if v is not None]
    ys = [p[1] for _, pts in clean for p in pts] + [v for v in (finite(r.value) for r in hlines)
                                                    if v is not None]
    xlo, xhi = _extent(xs, pad=0.02)
    ylo, yhi = _extent(ys, include_zero=y_zero)
    left, right, top = 62, WIDTH - 20, 30
    height = 250
    bottom = height - 44
    sx, sy = _Scale(xlo, xhi, left, right), _Scale(ylo, yhi, bottom, top)
    body: list[str] = []
    # The legend names the series drawn here, not one without a point.
    drawn = [i for i, (_, pts) in enumerate(clean) if pts]
    body += _legend([clean[i][0] for i in drawn], left, 16, lines=True, styles=drawn)
    body += _x_axis(sx, top, bottom, nice_ticks(xlo, xhi), x_label)
    for t in nice_ticks(ylo, yhi):
        y = sy(t)
        body.append(f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(right)}" y2="{_f(y)}" '
                    f'stroke="{GRID}" stroke-width="1"/>')
        body.append(_text(left - 6, y + 4, fmt(t, 3), anchor="end", size=11, colour=MUTED))
    if y_label:
        body.append(_text(14, (top + bottom) / 2, y_label, anchor="middle", size=11, colour=MUTED,
                          extra=f' transform="rotate(-90 14 {_f((top + bottom) / 2)})"'))
    for ref in vlines:
        v = finite(ref.value)
        if v is None:
            continue
        colour = ALERT if ref.alert else INK
        body.append(f'<line x1="{_f(sx(v))}" y1="{_f(top)}" x2="{_f(sx(v))}" y2="{_f(bottom)}" '
                    f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="5 3"/>')
        body.append(_text(sx(v) + 3, top + 10, _clip(ref.label, 30), size=10, colour=colour))
    for ref in hlines:
        v = finite(ref.value)
        if v is None:
            continue
        colour = ALERT if ref.alert else INK
        body.append(f'<line x1="{_f(left)}" y1="{_f(sy(v))}" x2="{_f(right)}" y2="{_f(sy(v))}" '
                    f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="5 3"/>')
        body.append(_text(right - 2, sy(v) - 4, _clip(ref.label, 30), anchor="end", size=10,
                          colour=colour))
    for i, (_, pts) in enumerate(clean):
        if not pts:
            continue
        colour, shape, dash = _style(i)
        d = f' stroke-dasharray="{dash}"' if dash else ""
        path = " ".join(f"{_f(sx(x))},{_f(sy(y))}" for x, y in pts)
        body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{d}/>')
        if len(pts) <= 40:
            body += [_marker(shape, sx(x), sy(y), colour, 3.5) for x, y in pts]
    desc = "; ".join(f"{name}: " + ", ".join(f"({fmt(x)}, {fmt(y)})" for x, y in pts[:12])
                     + (" …" if len(pts) > 12 else "") for name, pts in clean)
    return _svg(uid, WIDTH, height, title, _clip(desc, 2000), body)


def draw(spec: Chart, uid: str) -> Markup | None:
    """Draw a suite's chart spec (:mod:`certify.view`) as inline SVG; None when it has no data."""
    if isinstance(spec, IntervalChart):
        return interval_chart(spec.rows, uid=uid, title=spec.title, series=spec.series,
                              refs=spec.refs, axis_label=spec.axis_label,
                              width=spec.width if spec.width is not None else WIDTH, log=spec.log)
    if isinstance(spec, BarChart):
        return bar_chart(spec.groups, uid=uid, title=spec.title, series=spec.series,
                         refs=spec.refs, axis_label=spec.axis_label,
                         limit_label=spec.limit_label, max_groups=spec.max_groups, log=spec.log)
    return line_chart(spec.series, uid=uid, title=spec.title, x_label=spec.x_label,
                      y_label=spec.y_label, vlines=spec.vlines, hlines=spec.hlines,
                      y_zero=spec.y_zero, max_points=spec.max_points)
