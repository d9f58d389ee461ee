"""deepchecks' own HTML report (``html = true``), made offline and safe to open.

deepchecks' own HTML (``html = true``; default off: with displays on, the run takes longer)
    Saved as ``artifacts/validation/deepchecks.html`` with the record
    ``validation::html_report`` (not required). It is deepchecks' plain HTML export
    (``as_widget=False``: no ipywidgets/anywidget; a favicon link, which the widget export
    has, would be removed), offline (``connected=False``: require.js and plotly.js inlined).
    deepchecks inlines plotly.js (4.8 MB) in every figure and once more as a require.js module:
    every copy is removed and one is put at the start of the page. The file is then checked to
    load no script, stylesheet, frame or image from the network; if it would, it is not written
    and the record errors.
"""

from __future__ import annotations

import re
from typing import Any

from certify.evidence import Artifact
from certify.suite import SuiteContext
from certify.suites.validation.library import quiet
from certify.suites.validation.settings import ValidationSettings

_REMOTE = re.compile(
    r"<(?:script|link|iframe|img|embed|source|object)\b[^>]*\b(?:src|href|data)\s*=\s*[\"']?\s*"
    r"(?:https?:)?//", re.IGNORECASE)
_ICON = re.compile(r"<link\b[^>]*\brel\s*=\s*[\"']?(?:shortcut\s+)?icon\b[^>]*>", re.IGNORECASE)
_PLOTLY_HEADER = re.compile(r"\*\s*plotly\.js v\d")


def offline_html(html: str, plotlyjs: str) -> str:
    """deepchecks' offline HTML with plotly.js inlined once instead of once per figure.

    deepchecks inlines the whole plotly.js bundle (about 4.8 MB) in every figure and once more
    as a require.js module. Every such script is dropped and one plain copy (which sets
    ``window.Plotly`` before any figure script runs) is put at the start of the body.
    Raises ValueError when the page would load a script, style, frame or image from the web.
    """
    parts: list[str] = []
    pos = 0
    while True:
        start = html.find("<script", pos)
        if start < 0:
            break
        end = html.find("</script>", start)
        if end < 0:
            break
        end += len("</script>")
        body_start = html.find(">", start) + 1
        if _PLOTLY_HEADER.search(html, body_start, min(end, body_start + 2000)):
            parts.append(html[pos:start])
        else:
            parts.append(html[pos:end])
        pos = end
    parts.append(html[pos:])
    out = "".join(parts)
    bundle = f'<script type="text/javascript">{plotlyjs}</script>'
    body = re.search(r"<body\b[^>]*>", out)
    out = (out[: body.end()] + bundle + out[body.end():]) if body else bundle + out
    # deepchecks' widget export links a favicon on the web: an icon is not worth a request.
    out = _ICON.sub("", out)
    # Links a reader may click (<a href>) are fine; anything the page itself would fetch is not.
    remote = _REMOTE.search(out)
    if remote:
        raise ValueError(f"deepchecks' HTML would load from the web: {remote.group(0)[:120]}")
    return out


def write_html(ctx: SuiteContext[ValidationSettings], displays: list[Any]) -> Artifact:
    """deepchecks' results ``displays`` as one offline HTML artifact."""
    from deepchecks.core.serialization.suite_result.html import SuiteResultSerializer
    from deepchecks.core.suite import SuiteResult

    with quiet():
        suite_result = SuiteResult("certify validation", displays)
        html = SuiteResultSerializer(suite_result).serialize(full_html=True, connected=False)
    from plotly.offline.offline import get_plotlyjs

    return ctx.write_artifact("deepchecks.html", offline_html(html, get_plotlyjs()),
                              "deepchecks' own HTML report (offline; sensitive columns "
                              "pseudonymised)")
