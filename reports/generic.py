"""A bounded HTML view of any JSON value (a suite without panels, a panel's raw data).

Nested definition lists and small tables, capped in depth and items so that a page never
grows with the data; every text is escaped.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from certify.view import clip, fmt

MAX_GENERIC_DEPTH = 4
MAX_GENERIC_ITEMS = 25


def generic_view(value: Any, depth: int = 0) -> Markup:
    """A bounded HTML view of any JSON value: nested definition lists and small tables."""
    if depth >= MAX_GENERIC_DEPTH:
        return Markup('<code class="gen">{}</code>').format(clip(value, 200))
    if isinstance(value, dict):
        if not value:
            return Markup('<span class="muted">(empty)</span>')
        items = list(value.items())
        parts = [Markup("<dt>{}</dt><dd>{}</dd>").format(clip(str(k), 120), generic_view(v, depth + 1))
                 for k, v in items[:MAX_GENERIC_ITEMS]]
        more = (Markup('<dt class="muted">…</dt><dd class="muted">{} more keys not shown</dd>')
                .format(len(items) - MAX_GENERIC_ITEMS) if len(items) > MAX_GENERIC_ITEMS else "")
        return Markup('<dl class="gen">{}{}</dl>').format(Markup("").join(parts), more)
    if isinstance(value, list):
        if not value:
            return Markup('<span class="muted">(empty list)</span>')
        if all(isinstance(v, dict) for v in value):
            keys: list[str] = []
            for row in value[:MAX_GENERIC_ITEMS]:
                keys += [k for k in row if k not in keys]
            if len(keys) <= 10:
                head = Markup("").join(Markup("<th scope=\"col\">{}</th>").format(clip(k, 60))
                                       for k in keys)
                body = Markup("").join(
                    Markup("<tr>{}</tr>").format(Markup("").join(
                        Markup("<td>{}</td>").format(clip(row.get(k, ""), 160)) for k in keys))
                    for row in value[:MAX_GENERIC_ITEMS])
                more = (Markup('<p class="muted">{} more rows not shown</p>')
                        .format(len(value) - MAX_GENERIC_ITEMS)
                        if len(value) > MAX_GENERIC_ITEMS else "")
                return Markup('<div class="scroll"><table class="gen"><thead><tr>{}</tr></thead>'
                              '<tbody>{}</tbody></table></div>{}').format(head, body, more)
        if all(not isinstance(v, dict | list) for v in value):
            shown = ", ".join(clip(v, 60) for v in value[:60])
            more = f" … ({len(value)} items)" if len(value) > 60 else ""
            return Markup('<code class="gen">[{}{}]</code>').format(shown, more)
        items_html = Markup("").join(Markup("<li>{}</li>").format(generic_view(v, depth + 1))
                                     for v in value[:MAX_GENERIC_ITEMS])
        more = (Markup('<li class="muted">{} more items not shown</li>').format(
            len(value) - MAX_GENERIC_ITEMS) if len(value) > MAX_GENERIC_ITEMS else "")
        return Markup('<ol class="gen">{}{}</ol>').format(items_html, more)
    if isinstance(value, float):
        return Markup("{}").format(fmt(value))
    return Markup("{}").format(clip(value, 300))
