"""The HTML audit report: one self-contained, offline page built from report.json.

``render_html(report, base_dir, out_path)`` builds the page; the built-in reporter
``write_html`` writes ``report.html`` next to report.json in every run, and
``certify report REPORT.json [-o OUT]`` re-renders it later.

What the page promises:

* one file, no request to any other host or file: CSS inline, the system font stack,
  charts as inline SVG drawn here (``certify.reports.charts``), no script at all; a
  Content-Security-Policy ``default-src 'none'`` forbids loads even if something slipped in;
* every value from the report is escaped (Jinja2 autoescape; the charts escape their own
  text): report contents are untrusted text;
* bounded size: tables and lists are capped, so the page does not grow with data rows;
* the signature line is what was verified *when the page was rendered*, with the
  public key next to the certificate; it never says "verified" without verifying.

Suites get a picture builder by name (:data:`SUITE_VIEWS`); a suite without one, or
whose data does not have the expected keys, is shown generically (evidence table plus a
bounded key/value view of its data). A builder that raises never breaks the page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import re
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from markupsafe import Markup

from certify.outputs import REPORT_HTML, atomic_write
from certify.registry import suite_classes
from certify.report import Report, RunRecord, SignatureStatus
from certify.reports import charts
from certify.reports.evidence import (
    STATUS_ORDER,
    ArtifactRow,
    EvidenceRow,
    artifact_rows,
    evidence_rows,
    reason_views,
    safe_href,
)
from certify.reports.generic import generic_view
from certify.suite import SuiteRecord
from certify.view import Panel, Table, as_dict, clip, dicts, fmt, get

TEMPLATES = Path(__file__).parent / "templates"

#: Caps that keep the page bounded whatever the size of the data.
MAX_REASONS = 50

STATUS_ICON = {"passed": "✓", "warned": "!", "failed": "✗", "errored": "⊘", "skipped": "–",
               "info": "ℹ"}
VERDICT_ICON = {"CERTIFIED": "✓", "REJECTED": "✗", "INCOMPLETE": "!"}


# --------------------------------------------------------------------------------------
# View model: plain data the template lays out.
# --------------------------------------------------------------------------------------

@dataclasses.dataclass
class SuiteView:
    name: str
    anchor: str
    required: bool
    description: str
    status: str
    counts: dict[str, int]
    total: int
    duration_s: float
    error: str | None
    evidence: list[EvidenceRow]
    evidence_note: str
    panels: list[PanelView]
    artifacts: list[ArtifactRow]
    data_note: str = ""

    @property
    def counts_text(self) -> str:
        return ", ".join(f"{self.counts[s]} {s}" for s in STATUS_ORDER if self.counts.get(s))


class _Ids:
    """Unique, deterministic ids for charts and anchors within one page."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"c{self.n}"


# --------------------------------------------------------------------------------------
# Small helpers.
# --------------------------------------------------------------------------------------

def _anchor(name: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)
    return "suite-" + (safe or "x")


def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _duration(a: str, b: str) -> str:
    start, end = _parse_time(a), _parse_time(b)
    if start is None or end is None:
        return ""
    seconds = (end - start).total_seconds()
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


# --------------------------------------------------------------------------------------
# Suite pictures: each suite draws its own panels (certify.view); this module lays them out.
# --------------------------------------------------------------------------------------

@dataclasses.dataclass
class PanelView:
    """A suite's :class:`certify.view.Panel` with its charts drawn as SVG."""

    title: str
    chart: Markup | None
    charts: list[Markup]
    table: Table | None
    note: str
    items: list[tuple[str, Any]]
    generic: Markup | None


def _draw(panel: Panel, ids: _Ids) -> PanelView:
    drawn = [charts.draw(spec, ids()) for spec in panel.charts]
    return PanelView(
        title=panel.title,
        chart=charts.draw(panel.chart, ids()) if panel.chart is not None else None,
        charts=[c for c in drawn if c is not None], table=panel.table, note=panel.note,
        items=panel.items, generic=generic_view(panel.data) if panel.data is not None else None)


def suite_panels(name: str, data: dict[str, Any], records: list[Any],
                 policy: Mapping[str, Any]) -> list[Panel]:
    """The panels of suite ``name`` (a suite this installation does not know has none)."""
    suite_class = suite_classes().get(name)
    if suite_class is None:
        return []
    record = SuiteRecord(name=name, settings=suite_class.recorded_settings(policy), data=data,
                         evidence=records)
    return suite_class().panels(record)


def suite_view(name: str, summary: Any, records: list[Any], report: Report, ids: _Ids,
               run_dir: Path, out_dir: Path) -> SuiteView:
    """One suite's section: its evidence, its own panels (drawn here), its artifacts."""
    rows, note = evidence_rows(records, run_dir, out_dir)
    statuses = [r.status.value for r in records]
    status = min(statuses, key=lambda s: STATUS_ORDER.get(s, 9)) if statuses else "skipped"
    if summary is not None and summary.error:
        status = "errored"
    data = summary.data if summary is not None and isinstance(summary.data, dict) else {}
    panels: list[PanelView] = []
    data_note = ""
    if data:
        try:
            panels = [_draw(p, ids) for p in suite_panels(name, data, records, report.policy)]
        except Exception as exc:  # noqa: BLE001 - a picture must never break the page
            data_note = f"The pictures of this suite could not be drawn ({type(exc).__name__}: " \
                        f"{clip(str(exc), 200)}); its data is shown as recorded."
            panels = []
    if data and not panels:
        panels.append(_draw(Panel("Suite data", data=data), ids))
    counts = dict(summary.counts) if summary is not None else {}
    if not counts:
        for s in statuses:
            counts[s] = counts.get(s, 0) + 1
    return SuiteView(
        name=name, anchor=_anchor(name), required=summary.required if summary is not None else True,
        description=summary.description if summary is not None else "",
        status=status, counts={k: v for k, v in counts.items() if v}, total=len(records),
        duration_s=summary.duration_s if summary is not None else 0.0,
        error=summary.error if summary is not None else None,
        evidence=rows, evidence_note=note, panels=panels,
        artifacts=artifact_rows(records, run_dir, out_dir), data_note=data_note,
    )


# --------------------------------------------------------------------------------------
# Page.
# --------------------------------------------------------------------------------------

def _environment(report: Report) -> dict[str, Any]:
    env = report.environment if isinstance(report.environment, dict) else {}
    packages = as_dict(env.get("packages"))
    platform_items = [(k, clip(env.get(k), 200)) for k in
                      ("python", "implementation", "platform", "machine", "cpu_count", "digest")
                      if k in env]
    prov = report.provenance if isinstance(report.provenance, dict) else {}
    git = as_dict(prov.get("git"))
    ci = as_dict(prov.get("ci"))
    prov_items = []
    if git:
        prov_items.append(("git commit", clip(git.get("commit"), 80)
                           + (" (work tree had uncommitted changes)" if git.get("dirty") else "")
                           + (f" on {clip(git.get('branch'), 80)}" if git.get("branch") else "")))
    else:
        prov_items.append(("git", "not a git work tree"))
    prov_items.append(("CI", f"{clip(ci.get('system'), 60)} run {clip(ci.get('run_id'), 80)}"
                       if ci else "none detected"))
    if prov.get("builder"):
        prov_items.append(("builder", clip(prov.get("builder"), 120)))
    seeds: dict[str, Any] = {"policy seed": report.seed}
    for name, s in report.suites.items():
        seed = get(s.data, "seed") if isinstance(s.data, dict) else None
        if seed is not None:
            seeds[f"{name} seed"] = seed
    other = sorted({r.seed for r in report.evidence if r.seed is not None and r.seed != report.seed})
    if other:
        seeds["other check seeds"] = ", ".join(str(s) for s in other[:20])
    return {
        "packages": sorted((str(k), clip(v, 60)) for k, v in list(packages.items())[:80]),
        "platform": platform_items,
        "provenance": prov_items,
        "seeds": [(k, clip(v, 200)) for k, v in seeds.items()],
        "command": clip(shlex.join(str(a) for a in report.command), 4000),
        "invoked": clip(shlex.join(str(a) for a in prov["argv"]), 4000)
        if isinstance(prov.get("argv"), list) and prov["argv"] != report.command else "",
        "data": [(d.role, clip(d.path, 200), d.digest, d.rows, d.columns) for d in report.data],
    }


def _schema_rows(report: Report) -> list[list[str]]:
    rows = []
    for c in report.schema_.columns[:60]:
        d = c.model_dump() if hasattr(c, "model_dump") else dict(c)
        rng = ""
        if d.get("min") is not None or d.get("max") is not None:
            rng = f"{fmt(d.get('min'))} … {fmt(d.get('max'))}"
        cats = d.get("categories")
        if isinstance(cats, list) and cats:
            rng = clip(", ".join(str(x) for x in cats[:12]) + (" …" if len(cats) > 12 else ""), 200)
        rows.append([str(d.get("name", "?")), str(d.get("kind", "")), str(d.get("dtype", "")), rng])
    return rows


def build_context(report: Report, run_dir: Path, out_path: Path, signature: SignatureStatus,
                  now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the template shows, as plain, already-capped values."""
    now = now or dt.datetime.now(dt.UTC)
    ids = _Ids()
    out_dir = out_path.parent
    by_suite: dict[str, list[Any]] = {}
    for r in report.evidence:
        by_suite.setdefault(r.suite, []).append(r)
    names = list(report.suites) + [s for s in by_suite if s not in report.suites]
    suites = [suite_view(n, report.suites.get(n), by_suite.get(n, []), report, ids, run_dir, out_dir)
              for n in names]
    taken: set[str] = {"suite-environment"}
    for view in suites:  # anchors are sanitised names: keep them unique
        while view.anchor in taken:
            view.anchor += "-x"
        taken.add(view.anchor)
    verdict = report.verdict
    decision = verdict.decision.value
    reasons = reason_views(verdict.reasons, report.evidence, run_dir, out_dir)
    waivers = [{"check": w.check, "reason": clip(w.reason, 300), "approver": clip(w.approver, 120),
                "expires": w.expires, "expired": w.expired,
                "applied_to": ", ".join(w.applied_to[:20]) + (" …" if len(w.applied_to) > 20 else "")}
               for w in report.waivers[:50]]
    drift = report.drift_baseline if isinstance(report.drift_baseline, dict) else None
    drift_view = None
    if drift:
        files = dicts(drift.get("files"))
        drift_view = {
            "path": clip(drift.get("path"), 200), "digest": clip(drift.get("digest"), 100),
            "href": safe_href(str(drift.get("path", "")), run_dir, out_dir),
            "files": [(clip(f.get("path"), 200), safe_href(str(f.get("path", "")),
                                                            run_dir / str(drift.get("path", "")),
                                                            out_dir),
                       clip(f.get("sha256"), 80)) for f in files[:40]],
            "more": max(len(files) - 40, 0),
        }
    return {
        "r": report,
        "decision": decision,
        "verdict_icon": VERDICT_ICON.get(decision, "?"),
        "reasons": reasons[:MAX_REASONS],
        "more_reasons": reasons[MAX_REASONS:],
        "counts": {k: v for k, v in verdict.counts.items()},
        "duration": _duration(report.started_at, report.finished_at),
        "signature": signature,
        "links": {"certificate": safe_href(signature.certificate or "", run_dir, out_dir),
                  "public_key": safe_href(signature.public_key or "", run_dir, out_dir)},
        "waivers": waivers,
        "suites": suites,
        "env": _environment(report),
        "schema_rows": _schema_rows(report),
        "drift": drift_view,
        "policy_json": clip(json.dumps(report.policy, indent=2, default=str), 20000),
        "rendered_at": now.isoformat(timespec="seconds"),
        "status_icon": STATUS_ICON,
        "statuses": list(STATUS_ORDER),
        "report_href": safe_href("report.json", run_dir, out_dir),
    }


@functools.cache
def _env() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = fmt
    env.filters["code_spans"] = code_spans
    env.filters["wrap_points"] = wrap_points
    return env


#: Where an identifier, a path or a ``key=value`` may break across lines: after ``/``, ``_``,
#: ``:``/``::``, ``=``, ``[`` and a ``.`` before a letter, and between a lower-case letter and an
#: upper-case one (``artifacts/adversarial/|examples.json``, ``adversarial::|robust_|accuracy``,
#: ``Hist|Gradient|Boosting|Classifier``, ``income=|masked:|636d53970992``).
_WRAP_AT = re.compile(r"(?<=[^\s/_:=\[.])(?:/|_|::|:|=|\[|\.(?=[A-Za-z]))(?=[^\s\]])"
                      r"|(?<=[a-z])(?=[A-Z][a-z])")
#: A run of this many characters with no break at all (a digest) gets one every this often.
_WRAP_RUN = 16
_LONG_RUN = re.compile(r"[^\s/_:=\[.]{" + str(_WRAP_RUN + 1) + ",}")


def wrap_points(text: Any) -> Markup:
    """``text`` escaped, with a line-break opportunity (``<wbr>``) at each separator of an
    identifier, a path or a ``key=value`` (:data:`_WRAP_AT`), and every :data:`_WRAP_RUN`
    characters of a longer unbroken run. Table cells keep their words whole
    (``overflow-wrap: break-word``) and still fit the page: no cell needs more than about
    :data:`_WRAP_RUN` characters of width, and a narrow cell breaks ``employment_|years``, not
    ``employment_ye|ars``."""
    out = Markup("")
    last = 0
    text = str(text)
    for m in _WRAP_AT.finditer(text):
        out += _chunked(text[last:m.end()]) + Markup("<wbr>")
        last = m.end()
    return out + _chunked(text[last:])


def _chunked(text: str) -> Markup:
    from markupsafe import escape

    out = Markup("")
    last = 0
    for m in _LONG_RUN.finditer(text):
        run = m.group()
        out += escape(text[last:m.start()])
        out += Markup("<wbr>").join(escape(run[i:i + _WRAP_RUN])
                                    for i in range(0, len(run), _WRAP_RUN))
        last = m.end()
    return out + escape(text[last:])


def code_spans(text: str) -> Markup:
    """``text`` escaped, with its `backticked` parts shown as code (no literal backticks)."""
    from markupsafe import escape

    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: show the text as it is
        return Markup(escape(text))
    return Markup("").join(Markup("<code>{}</code>").format(p) if i % 2 else escape(p)
                           for i, p in enumerate(parts))


def render_html(report: Report, run_dir: Path, signature: SignatureStatus,
                out_path: Path | None = None, now: dt.datetime | None = None) -> str:
    """The page's HTML for ``report``, whose run folder (certificate, artifacts) is ``run_dir``.

    ``signature`` is what is known about the certificate (the page shows it, it verifies
    nothing); ``out_path`` is where the page will be written: artifact links are relative to it.
    """
    out_path = out_path or run_dir / "report.html"
    context = build_context(report, run_dir, out_path, signature, now)
    return str(_env().get_template("report.html.j2").render(**context))


def write_report_html(report: Report, run_dir: Path, out_path: Path,
                      signature: SignatureStatus) -> Path:
    # Readable by others (a page meant to be shared), unlike mkstemp's default 0600.
    atomic_write(out_path, render_html(report, run_dir, signature, out_path), mode=0o644)
    return out_path


def fallback_html(report: Report, error: str) -> str:
    """A minimal page for when the full page cannot be built: the verdict and the error."""
    from markupsafe import escape

    decision = escape(report.verdict.decision.value)
    reasons = "".join(f"<li>{escape(r)}</li>" for r in report.verdict.reasons[:MAX_REASONS])
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
            f'<title>{decision}: {escape(report.candidate.name)}</title></head><body>'
            f"<h1>{decision}</h1><p>Candidate {escape(report.candidate.name)} "
            f"<code>{escape(report.candidate.digest)}</code>, run {escape(report.run_id)}.</p>"
            f"<ol>{reasons}</ol><p>The full audit report could not be rendered ({escape(error)}); "
            f"report.json holds everything. Re-render it with <code>certify report</code>.</p>"
            f"</body></html>\n")


def write_html(record: RunRecord) -> dict[str, Path]:
    """Built-in reporter: ``report.html`` next to report.json (and the certificate).

    A rendering bug must not throw away a finished certification: the page then says
    so (with the verdict), a warning is printed, and report.json stays authoritative.
    """
    report, path = record.report, record.run_dir / REPORT_HTML
    try:
        write_report_html(report, record.run_dir, path, record.signature)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        error = f"{type(exc).__name__}: {clip(str(exc), 300)}"
        print(f"certify: warning: the HTML report could not be rendered ({error})", file=sys.stderr)
        atomic_write(path, fallback_html(report, error), mode=0o644)
    return {"html": path}


__all__ = ["generic_view", "render_html", "suite_panels", "write_html",
           "write_report_html"]
