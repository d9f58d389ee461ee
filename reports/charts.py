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


def _fit(label: str, flag: str, width: float) -> str:
    """``label`` (and its ``▲ flag``) cut to what fits in ``width`` pixels left of the axis."""
    room = max(int((width - 12) / CHAR_W), 8)
    suffix = f" ▲ {flag}" if flag else ""
    return _clip(label, max(room - len(suffix), 4)) + suffix


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
    def __init__(self, lo: float, hi: float, a: float, b: float) -> None:
        self.lo, self.hi, self.a, self.b = lo, hi, a, b

    def __call__(self, v: float) -> float:
        if self.hi == self.lo:
            return (self.a + self.b) / 2
        return self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a)


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


def _hatch_defs(uid: str) -> str:
    return (f'<defs><pattern id="{uid}-h" patternUnits="userSpaceOnUse" width="6" height="6" '
            f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{ALERT}"/>'
            f'<line x1="0" y1="0" x2="0" y2="6" stroke="#fff" stroke-width="2.5"/></pattern></defs>')


def _legend(names: Sequence[str], x: float, y: float, *, lines: bool = False) -> list[str]:
    out = []
    for i, name in enumerate(names):
        colour, shape, dash = _style(i)
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
        left = i == 0 and len(shown) > 1
        out.append(_text(x - 3 if left else x + 3, y0 - 4, _clip(ref.label, 30), size=10,
                         colour=colour, anchor="end" if left else "start"))
    return out


# --------------------------------------------------------------------------------------
# Interval (forest) plot: point estimates with confidence intervals.
# --------------------------------------------------------------------------------------

def interval_chart(rows: Sequence[Interval], *, uid: str, title: str, series: Sequence[str] = (),
                   refs: Sequence[RefLine] = (), axis_label: str = "", width: float = WIDTH
                   ) -> Markup | None:
    """One row per estimate: a marker at the value and a whisker over [lo, hi]."""
    rows = [r for r in rows if finite(r.value) is not None]
    if not rows:
        return None
    values: list[float] = []
    for r in rows:
        values += [v for v in (finite(r.value), finite(r.lo), finite(r.hi)) if v is not None]
    values += [v for v in (finite(ref.value) for ref in refs) if v is not None]
    lo, hi = _extent(values)
    label_w = min(max(len(_clip(r.label, 34)) + (len(r.flag) + 3 if r.flag else 0) for r in rows)
                  * CHAR_W + 16, 260)
    left, right = label_w, width - 70
    row_h = 24
    top = (30 if series else 12) + (14 if refs else 0)
    height = top + row_h * len(rows) + 44
    scale = _Scale(lo, hi, left, right)
    body = [_hatch_defs(uid)]
    if series:
        body += _legend(series, left, 16)
    y0, y1 = top, top + row_h * len(rows)
    body += _x_axis(scale, y0, y1, nice_ticks(lo, hi), axis_label)
    body += _vrefs(refs, scale, y0, y1)
    for i, r in enumerate(rows):
        y = top + row_h * i + row_h / 2
        colour, shape, _ = _style(r.series)
        if r.flag:
            colour = ALERT
        label = _fit(r.label, r.flag, left)
        body.append(_text(left - 8, y + 4, label, anchor="end",
                          weight="bold" if r.flag else ""))
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
              max_groups: int = 30) -> Markup | None:
    """Horizontal bars, one row per group and one bar per series; flagged groups hatched."""
    groups = [g for g in groups if any(finite(v) is not None for v in g.values)][:max_groups]
    if not groups:
        return None
    n_series = max(len(g.values) for g in groups)
    values = [v for g in groups for v in (finite(x) for x in g.values) if v is not None]
    values += [v for v in (finite(r.value) for r in refs) if v is not None]
    values += [v for v in (finite(g.limit) for g in groups) if v is not None]
    lo, hi = _extent(values, include_zero=True)
    label_w = min(max(len(_clip(g.label, 30) + (" ▲ " + g.flag if g.flag else "")) for g in groups)
                  * CHAR_W + 16, 260)
    left, right = label_w, WIDTH - 80
    bar_h = 12 if n_series > 1 else 16
    group_h = bar_h * n_series + 10
    has_limits = any(finite(g.limit) is not None for g in groups)
    top = (30 if (series and n_series > 1) or has_limits else 12) + (14 if refs else 0)
    height = top + group_h * len(groups) + 44
    scale = _Scale(lo, hi, left, right)
    body = [_hatch_defs(uid)]
    if series and n_series > 1:
        body += _legend(series, left, 16)
    if has_limits:
        lx = left + (sum(len(_clip(s, 30)) * CHAR_W + 32 for s in series) if n_series > 1 else 0)
        body.append(f'<line x1="{_f(lx)}" y1="{_f(6)}" x2="{_f(lx)}" y2="{_f(18)}" stroke="{ALERT}" '
                    f'stroke-width="3"/>')
        body.append(_text(lx + 6, 16, limit_label, colour=ALERT))
    y0, y1 = top, top + group_h * len(groups)
    body += _x_axis(scale, y0, y1, nice_ticks(lo, hi), axis_label)
    zero = scale(max(lo, min(0.0, hi)))
    for gi, g in enumerate(groups):
        gy = top + group_h * gi + 5
        label = _fit(g.label, g.flag, left)
        body.append(_text(left - 8, gy + (bar_h * n_series) / 2 + 4, label, anchor="end",
                          weight="bold" if g.flag else "", colour=ALERT if g.flag else INK))
        for si, raw in enumerate(g.values):
            v = finite(raw)
            if v is None:
                continue
            colour = _style(si)[0]
            fill = f"url(#{uid}-h)" if g.flag else colour
            stroke = ALERT if g.flag else colour
            x = scale(v)
            bx, bw = (zero, x - zero) if x >= zero else (x, zero - x)
            by = gy + si * bar_h
            body.append(f'<rect x="{_f(bx)}" y="{_f(by + 1)}" width="{_f(max(bw, 1))}" '
                        f'height="{_f(bar_h - 2)}" fill="{fill}" stroke="{stroke}" stroke-width="1"/>')
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
    body = [_hatch_defs(uid)]
    body += _legend([n for n, _ in clean], left, 16, lines=True)
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
                              width=spec.width if spec.width is not None else WIDTH)
    if isinstance(spec, BarChart):
        return bar_chart(spec.groups, uid=uid, title=spec.title, series=spec.series,
                         refs=spec.refs, axis_label=spec.axis_label,
                         limit_label=spec.limit_label, max_groups=spec.max_groups)
    return line_chart(spec.series, uid=uid, title=spec.title, x_label=spec.x_label,
                      y_label=spec.y_label, vlines=spec.vlines, hlines=spec.hlines,
                      y_zero=spec.y_zero, max_points=spec.max_points)
