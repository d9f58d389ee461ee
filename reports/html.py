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
import math
import os
import posixpath
import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from certify.reports import charts
from certify.reports.charts import BarGroup, Interval, RefLine, Series, finite, fmt
from certify.reports.report import Report
from markupsafe import Markup

from certify.errors import CertifyError

TEMPLATES = Path(__file__).parent / "templates"

#: Caps that keep the page bounded whatever the size of the data.
MAX_EVIDENCE_ROWS = 200
MAX_TABLE_ROWS = 30
MAX_REASONS = 50
MAX_TEXT = 600
MAX_GENERIC_DEPTH = 4
MAX_GENERIC_ITEMS = 25

STATUS_ORDER = {"failed": 0, "errored": 1, "warned": 2, "skipped": 3, "passed": 4}
STATUS_ICON = {"passed": "✓", "warned": "!", "failed": "✗", "errored": "⊘", "skipped": "–"}
VERDICT_ICON = {"CERTIFIED": "✓", "REJECTED": "✗", "INCOMPLETE": "!"}


# --------------------------------------------------------------------------------------
# View model: plain data the template lays out.
# --------------------------------------------------------------------------------------

@dataclasses.dataclass
class Table:
    headers: list[str]
    rows: list[list[Any]]
    caption: str = ""
    note: str = ""
    numeric: frozenset[int] = frozenset()
    row_flags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Panel:
    title: str
    chart: Markup | None = None
    table: Table | None = None
    note: str = ""
    items: list[tuple[str, Any]] = dataclasses.field(default_factory=list)
    generic: Markup | None = None
    charts: list[Markup] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class EvidenceRow:
    id: str
    description: str
    status: str
    waived: str
    metric_lines: list[str]
    threshold_lines: list[str]
    reason: str
    seed: Any


@dataclasses.dataclass
class ArtifactRow:
    path: str
    href: str | None
    sha256: str
    description: str
    check: str


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
    panels: list[Panel]
    artifacts: list[ArtifactRow]
    data_note: str = ""

    @property
    def counts_text(self) -> str:
        return ", ".join(f"{self.counts[s]} {s}" for s in STATUS_ORDER if self.counts.get(s))


@dataclasses.dataclass
class SignatureView:
    """What the page says about the certificate, decided at render time."""

    state: str  # "verified" | "invalid" | "unverified" | "unsigned"
    headline: str
    detail: str = ""
    keyid: str | None = None
    certificate: str | None = None
    public_key: str | None = None
    expires_at: str | None = None
    issued_at: str | None = None
    expiry_source: str = ""
    expired: bool = False


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

def clip(value: Any, limit: int = MAX_TEXT) -> str:
    text = value if isinstance(value, str) else _short_json(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short_json(value: Any) -> str:
    if isinstance(value, float):
        return fmt(value)
    try:
        return json.dumps(value, default=str, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        return str(value)


def _anchor(name: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)
    return "suite-" + (safe or "x")


def _get(data: Any, *path: Any, default: Any = None) -> Any:
    """``data[path[0]][path[1]]...`` or ``default`` when any step is missing or mistyped."""
    cur = data
    for key in path:
        in_map = isinstance(cur, Mapping) and key in cur
        in_list = isinstance(cur, list | tuple) and isinstance(key, int) and -len(cur) <= key < len(cur)
        if not (in_map or in_list):
            return default
        cur = cur[key]
    return cur


def _pair(value: Any) -> tuple[float | None, float | None]:
    if isinstance(value, list | tuple) and len(value) == 2:
        return finite(value[0]), finite(value[1])
    return None, None


def _ci(value: Any) -> str:
    lo, hi = _pair(value)
    return "" if lo is None or hi is None else f" [{fmt(lo)}, {fmt(hi)}]"


def _dicts(value: Any) -> list[dict[str, Any]]:
    """A list of dicts from a list of dicts or a dict of dicts (key kept as ``name``)."""
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            if isinstance(v, dict):
                out.append({"name": k, **v})
        return out
    return []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _first(d: Mapping[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        if k in d and d[k] is not None:
            return d[k]
    return default


def _safe_href(rel: str, run_dir: Path, out_dir: Path) -> str | None:
    """A relative link from the page to ``run_dir/rel``; None for paths that leave the run."""
    if not rel or rel.startswith(("/", "\\")) or ":" in rel or "\\" in rel:
        return None
    parts = posixpath.normpath(rel).split("/")
    if ".." in parts or parts[0] in ("", "."):
        return None
    target = os.path.relpath(run_dir / Path(*parts), out_dir)
    return quote(Path(target).as_posix(), safe="/")


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
# Generic key/value view (bounded).
# --------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------
# Evidence.
# --------------------------------------------------------------------------------------

def _metric_lines(record: Any) -> tuple[list[str], list[str]]:
    metrics, thresholds = [], []
    for c in record.comparisons[:6]:
        metrics.append(f"{c.metric} = {fmt(c.value)}")
        t = f"{c.op} {fmt(c.fail)}"
        if c.warn is not None:
            t += f" (warn {c.op} {fmt(c.warn)})"
        thresholds.append(t)
    if len(record.comparisons) > 6:
        metrics.append(f"… {len(record.comparisons) - 6} more")
    if not metrics:
        scalars = [(k, v) for k, v in record.metrics.items()
                   if isinstance(v, int | float | str | bool) or v is None]
        metrics = [f"{k} = {fmt(v) if not isinstance(v, str) else clip(v, 80)}" for k, v in scalars[:4]]
        if len(scalars) > 4:
            metrics.append(f"… {len(scalars) - 4} more")
    return metrics, thresholds


def evidence_rows(records: Sequence[Any], limit: int = MAX_EVIDENCE_ROWS) -> tuple[list[EvidenceRow], str]:
    """Failed, errored, warned, skipped, then passed; capped (passed rows are cut first)."""
    ordered = sorted(records, key=lambda r: (STATUS_ORDER.get(r.status.value, 9), r.id))
    shown = ordered[:limit]
    rows = []
    for r in shown:
        metric_lines, threshold_lines = _metric_lines(r)
        waived = ""
        if r.waiver is not None:
            waived = (f"waived ({r.waiver.original_status.value}): {r.waiver.reason} — "
                      f"{r.waiver.approver}, until {r.waiver.expires}")
        rows.append(EvidenceRow(
            id=r.id, description=r.description, status=r.status.value, waived=clip(waived, 300),
            metric_lines=[clip(m, 160) for m in metric_lines],
            threshold_lines=[clip(t, 120) for t in threshold_lines],
            reason=clip(r.reason), seed=r.seed,
        ))
    note = ""
    if len(ordered) > limit:
        hidden: dict[str, int] = {}
        for r in ordered[limit:]:
            hidden[r.status.value] = hidden.get(r.status.value, 0) + 1
        note = (f"{len(ordered) - limit} more checks not shown here ("
                + ", ".join(f"{n} {s}" for s, n in hidden.items()) + "); all are in report.json.")
    return rows, note


def artifact_rows(records: Sequence[Any], run_dir: Path, out_dir: Path, limit: int = 100
                  ) -> list[ArtifactRow]:
    seen: set[str] = set()
    out = []
    for r in records:
        for a in r.artifacts:
            if a.path in seen:
                continue
            seen.add(a.path)
            out.append(ArtifactRow(path=clip(a.path, 200), href=_safe_href(a.path, run_dir, out_dir),
                                   sha256=clip(a.sha256, 80), description=clip(a.description, 200),
                                   check=r.id))
            if len(out) >= limit:
                return out
    return out


# --------------------------------------------------------------------------------------
# Suite pictures. Each builder: (data, records, ids, report) -> list[Panel].
# --------------------------------------------------------------------------------------

Builder = Callable[[dict[str, Any], list[Any], _Ids, Report], list[Panel]]


def _quality(data: dict[str, Any], records: list[Any], ids: _Ids, report: Report) -> list[Panel]:
    panels: list[Panel] = []
    metrics = [m for m in _dicts(data.get("metrics")) if finite(m.get("candidate")) is not None]
    settings = _get(report.policy, "suites", "quality", default={}) or {}
    margin = finite(settings.get("margin")) if isinstance(settings, dict) else None
    margins = settings.get("margins", {}) if isinstance(settings, dict) else {}
    if metrics:
        has_base = any(finite(m.get("baseline")) is not None for m in metrics)
        small = []
        for m in metrics:
            name = str(m.get("name", "?"))
            better = "lower is better" if m.get("direction") == "max" else "higher is better"
            rows = [Interval("candidate", finite(m.get("candidate")), *_pair(m.get("candidate_ci")),
                             series=0)]
            if finite(m.get("baseline")) is not None:
                rows.append(Interval("baseline", finite(m.get("baseline")),
                                     *_pair(m.get("baseline_ci")), series=1))
            chart = charts.interval_chart(rows, uid=ids(), title=f"{name} ({better})",
                                          axis_label=f"{name} ({better})", width=420)
            if chart is not None:
                small.append(chart)
        table = Table(
            ["metric", "candidate [CI]", "baseline [CI]", "candidate − baseline [CI]"],
            [[str(m.get("name", "?")) + (" ↓" if m.get("direction") == "max" else " ↑"),
              fmt(m.get("candidate")) + _ci(m.get("candidate_ci")),
              (fmt(m.get("baseline")) + _ci(m.get("baseline_ci"))) if m.get("baseline") is not None
              else "—",
              (fmt(m.get("diff")) + _ci(m.get("diff_ci"))) if m.get("diff") is not None else "—"]
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
                lo, hi = _pair(m.get("diff_ci"))
                name = str(m.get("name", "?"))
                flip = m.get("direction") == "max"
                if flip:  # "improvement": right is always better
                    diff = -diff
                    lo, hi = (None if hi is None else -hi), (None if lo is None else -lo)
                mm = finite(margins.get(name)) if isinstance(margins, dict) else None
                mm = margin if mm is None else mm
                flag = "below margin" if (mm is not None and lo is not None and lo < -mm) else ""
                rows.append(Interval(name + (" (sign flipped)" if flip else ""), diff, lo, hi,
                                     flag=flag))
            refs = [RefLine(0.0, "no change")]
            if margin is not None:
                refs.append(RefLine(-margin, f"−margin {fmt(margin)}", alert=True))
            chart = charts.interval_chart(rows, uid=ids(), title="Improvement over the baseline",
                                          refs=refs, axis_label="candidate improvement over baseline")
            if chart is not None:
                panels.append(Panel(
                    "Non-inferiority: improvement over the baseline", chart=chart,
                    note="Each bar is the confidence interval of the candidate's improvement "
                         "(for lower-is-better metrics the sign is flipped so that right is always "
                         "better). The lower end must stay right of the −margin line.",
                ))
    slices = data.get("slices")
    if isinstance(slices, dict):
        primary = str(data.get("primary_metric") or "primary metric")
        for column, sl in list(slices.items())[:10]:
            srows = _dicts(_get(sl, "rows", default=[]))
            worst = _get(sl, "worst", "slice")
            groups = [BarGroup(str(r.get("slice", "?")),
                               [finite(r.get("candidate")), finite(r.get("baseline"))],
                               flag="worst" if worst is not None and r.get("slice") == worst else "")
                      for r in srows]
            chart = charts.bar_chart(groups, uid=ids(), title=f"{primary} by {column}",
                                     series=["candidate", "baseline"], axis_label=primary)
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
            groups_raw = _dict(f.get("groups"))
            rate_keys: list[str] = []
            for g in groups_raw.values():
                if isinstance(g, dict):
                    rate_keys += [k for k, v in g.items() if k != "rows" and k not in rate_keys
                                  and finite(v) is not None]
            groups = [BarGroup(str(name), [finite(_get(g, k)) for k in rate_keys])
                      for name, g in list(groups_raw.items())[:MAX_TABLE_ROWS]]
            chart = charts.bar_chart(groups, uid=ids(), title=f"Rates by {attr}",
                                     series=rate_keys, axis_label="rate")
            gaps = []
            for k, v in f.items():
                if k == "groups" or isinstance(v, dict):
                    continue
                lim = _get(limits, k, "fail")
                gaps.append((k, fmt(v) + (f" (must be ≤ {fmt(lim)})" if lim is not None else "")))
            table = Table(["group", "rows", *rate_keys],
                          [[str(name), fmt(_get(g, "rows")), *[fmt(_get(g, k)) for k in rate_keys]]
                           for name, g in list(groups_raw.items())[:MAX_TABLE_ROWS]],
                          numeric=frozenset(range(1, 2 + len(rate_keys))))
            panels.append(Panel(f"Fairness by {attr}", chart=chart, table=table, items=gaps))
    return panels


def _adversarial(data: dict[str, Any], records: list[Any], ids: _Ids, report: Report) -> list[Panel]:
    panels: list[Panel] = []
    eps = finite(data.get("epsilon"))
    norm = data.get("norm")
    curve = _dict(data.get("curve"))
    grid = curve.get("epsilons") if isinstance(curve.get("epsilons"), list) else []
    series = []
    for role in ("candidate", "baseline"):
        ys = curve.get(role)
        if isinstance(ys, list) and grid:
            series.append(Series(role, list(grid), list(ys)))
    chart = charts.line_chart(
        series, uid=ids(), title="Robust accuracy vs epsilon", x_label=f"epsilon (std units, L{norm})"
        if norm else "epsilon", y_label="robust accuracy",
        vlines=[RefLine(eps, f"policy ε = {fmt(eps)}", alert=True)] if eps is not None else [],
        y_zero=True) if series else None
    metrics = _dict(data.get("metrics"))
    attacks = _dict(data.get("attacks"))
    mrows = []
    for role, m in metrics.items():
        if not isinstance(m, dict):
            continue
        a = _dict(attacks.get(role))
        mrows.append([str(role), f"{a.get('attack', '?')} ({a.get('kind', '?')})",
                      fmt(m.get("clean_accuracy")), fmt(m.get("robust_accuracy")),
                      fmt(m.get("attack_success_rate")),
                      f"{fmt(m.get('completed'))} / {fmt(m.get('attacked'))}"])
    items = [("epsilon", f"{fmt(eps)} (standard deviations per feature, norm {norm})"),
             ("sample", f"{fmt(data.get('sample_size'))} rows, seed {fmt(data.get('seed'))}")]
    feats = data.get("features")
    if isinstance(feats, list):
        items.append(("perturbed features", clip(", ".join(str(f) for f in feats), 400)))
    for role, a in attacks.items():
        if isinstance(a, dict) and a.get("reason"):
            items.append((f"{role} attack", clip(a.get("reason"), 300)))
    budget = _dict(data.get("budget"))
    for role, b in budget.items():
        if isinstance(b, dict):
            items.append((f"{role} budget", f"{b.get('status', '?')}: {fmt(b.get('queries_total'))} "
                          f"queries in {fmt(b.get('elapsed_s'))} s"
                          + (f" — {clip(b.get('reason'), 200)}" if b.get("reason") else "")))
    panels.append(Panel(
        "Robust accuracy", chart=chart,
        table=Table(["model", "attack", "clean accuracy", "robust accuracy", "attack success rate",
                     "rows completed / attacked"], mrows, numeric=frozenset({2, 3, 4})) if mrows else None,
        items=items))
    pert = _dict(data.get("perturbation"))
    qnames = ["p10", "p25", "p50", "p75", "p90"]
    roles = [r for r, p in pert.items() if isinstance(p, dict) and isinstance(p.get("quantiles"), dict)]
    if roles:
        groups = [BarGroup(q, [finite(_get(pert, r, "quantiles", q)) for r in roles]) for q in qnames]
        pchart = charts.bar_chart(groups, uid=ids(), title="Minimal adversarial perturbation",
                                  series=roles, axis_label="perturbation (std units)",
                                  refs=[RefLine(eps, "policy ε", alert=True)] if eps is not None else [])
        not_found = ", ".join(f"{r}: {fmt(_get(pert, r, 'not_found'))}" for r in roles)
        panels.append(Panel("Minimal perturbation (black-box attacks)", chart=pchart,
                            note=f"Quantiles of the smallest perturbation that flips a correctly "
                                 f"classified row; rows where none was found: {not_found}."))
    examples = _dicts(data.get("examples"))
    if examples:
        rows = []
        for e in examples[:10]:
            changed = _dict(e.get("changed"))
            moves = "; ".join(
                f"{c}: {clip(_get(v, 'from'), 40)} → {clip(_get(v, 'to'), 40)}"
                + (f" ({fmt(_get(v, 'std_units'), 3)} σ)" if finite(_get(v, 'std_units')) is not None
                   else "")
                for c, v in list(changed.items())[:8])
            rows.append([clip(e.get("row"), 40), clip(e.get("true_label"), 40),
                         f"{clip(e.get('original_prediction'), 40)} → "
                         f"{clip(e.get('adversarial_prediction'), 40)}",
                         fmt(e.get("perturbation")), clip(moves, 500)])
        panels.append(Panel("Example adversarial rows (candidate)", table=Table(
            ["row", "true label", "prediction: original → adversarial", "perturbation",
             "changed features"], rows, numeric=frozenset({3}),
            note=f"{len(examples) - 10} more in the artifacts" if len(examples) > 10 else "")))
    return panels


def _input_table(value: Any, caption: str) -> Table | None:
    """A counterexample's input as a small table (columns x rows, capped)."""
    if not isinstance(value, dict):
        return None
    rows = _dicts(value.get("rows"))
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


def _edge_cases(data: dict[str, Any], records: list[Any], ids: _Ids, report: Report) -> list[Panel]:
    panels: list[Panel] = []
    found = _dicts(_first(data, "counterexamples", default=[]))
    if not found:  # counterexamples are also in the failing checks' evidence details
        for r in records:
            ce = r.details.get("counterexample") if isinstance(r.details, dict) else None
            if isinstance(ce, dict):
                found.append({"check": r.id, **ce})
    for c in found[:10]:
        check = clip(_first(c, "check", default="?"), 120)
        items = [("invariant", clip(_first(c, "invariant", default="—"), 300)),
                 ("violation", clip(_first(c, "violation", default="—"), 600)),
                 ("observed output", clip(_first(c, "observed", "output", default="—"), 600))]
        kinds = _get(c, "input", "kinds")
        if isinstance(kinds, list) and kinds:
            items.append(("input kinds", clip(", ".join(str(k) for k in kinds), 200)))
        items.append(("seed", f"{clip(_first(c, 'seed', default='—'), 40)}"
                      + (f" (hypothesis seed {clip(c['hypothesis_seed'], 40)})"
                         if c.get("hypothesis_seed") is not None else "")
                      + ("" if c.get("shrunk", True) else ", not shrunk")))
        if c.get("reproduce"):
            items.append(("reproduce", clip(c.get("reproduce"), 400)))
        if c.get("artifact"):
            items.append(("saved as", clip(c.get("artifact"), 200)))
        table = _input_table(c.get("input"), "Minimal input (sensitive columns masked)")
        panels.append(Panel(f"Counterexample: {check}", items=items, table=table,
                            generic=None if table is not None or c.get("input") is None
                            else generic_view(c.get("input"))))
    if len(found) > 10:
        panels.append(Panel("More counterexamples", note=f"{len(found) - 10} more in the artifacts."))
    checks = data.get("checks")
    stats = _dicts(checks)
    if stats:
        def name(s: dict[str, Any]) -> str:
            return str(_first(s, "name", "check", default="?"))

        groups = [BarGroup(name(s).split("::", 1)[-1], [finite(s.get("examples"))],
                           flag=str(s.get("outcome")) if s.get("outcome") not in (None, "passed")
                           else "")
                  for s in stats]
        settings = _dict(_get(report.policy, "suites", "edge_cases"))
        min_ex = finite(settings.get("min_examples"))
        chart = charts.bar_chart(groups, uid=ids(), title="Examples judged per check",
                                 axis_label="examples judged",
                                 refs=[RefLine(min_ex, f"min_examples {fmt(min_ex)}", alert=True)]
                                 if min_ex is not None else [])
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
    acceptance = _dict(data.get("acceptance"))
    if acceptance:
        cols = ["predicted", "rejected", "crashed", "bad_output"]
        kinds = [(str(k), _dict(v)) for k, v in list(acceptance.items())[:MAX_TABLE_ROWS]]
        groups = [BarGroup(k, [finite(v.get(c)) for c in cols],
                           flag="crashed" if (finite(v.get("crashed")) or 0) > 0
                           or (finite(v.get("bad_output")) or 0) > 0 else "")
                  for k, v in kinds]
        chart = charts.bar_chart(groups, uid=ids(), title="Outcome by input kind", series=cols,
                                 axis_label="inputs")
        panels.append(Panel("What the model did with each kind of input", chart=chart, table=Table(
            ["input kind", *cols], [[k, *[fmt(v.get(c)) for c in cols]] for k, v in kinds],
            numeric=frozenset(range(1, 5)))))
    latency = _dict(data.get("latency_ms"))
    if latency:
        panels.append(Panel("Model call latency during the search", items=[
            (k, fmt(v) + ("" if k == "calls" else " ms")) for k, v in latency.items()]))
    return panels


def _test_rows(tests: list[dict[str, Any]]) -> Table:
    keys = ["test", "statistic", "p_value", "p_adjusted", "effect", "rows"]
    return Table(
        ["name", *keys, "status"],
        [[clip(_first(t, "name", default="?"), 60),
          *[clip(t.get(k), 20) if isinstance(t.get(k), str) else fmt(t.get(k)) for k in keys],
          ("▲ drift " if t.get("drifted") else "") + clip(_first(t, "status", default=""), 20)
          + (f" ({clip(t.get('problem') or t.get('error'), 120)})"
             if t.get("problem") or t.get("error") else "")]
         for t in tests[:MAX_TABLE_ROWS]],
        numeric=frozenset(range(2, 7)),
        row_flags=["flag" if t.get("drifted") else "" for t in tests[:MAX_TABLE_ROWS]])


def _quantile_chart(test: dict[str, Any], ids: _Ids, title: str) -> Markup | None:
    now, ref = _dict(test.get("summary")), _dict(test.get("reference_summary"))
    keys = [k for k in ("p05", "p25", "p50", "p75", "p95") if k in now or k in ref]
    if not keys:
        return None
    return charts.bar_chart([BarGroup(k, [finite(ref.get(k)), finite(now.get(k))]) for k in keys],
                            uid=ids(), title=title, series=["reference", "evaluation"],
                            axis_label="value")


def _drift(data: dict[str, Any], records: list[Any], ids: _Ids, report: Report) -> list[Panel]:
    panels: list[Panel] = []
    feats = _dicts(_first(data, "features", default=[]))
    p_fail = finite(_get(data, "p_value", "fail"))
    p_warn = finite(_get(data, "p_value", "warn"))
    correction = data.get("correction")
    if feats:
        def name(f: dict[str, Any]) -> str:
            return str(_first(f, "name", "feature", default="?"))

        ordered = sorted(feats, key=lambda f: (not f.get("drifted"), name(f)))
        effect = charts.bar_chart(
            [BarGroup(name(f), [finite(f.get("effect"))], flag="drifted" if f.get("drifted") else "")
             for f in ordered], uid=ids(), title="Drift effect size per feature",
            axis_label="effect (KS distance, or total-variation distance for categories)",
            max_groups=40)

        def logp(f: dict[str, Any]) -> float | None:
            p = finite(f.get("p_adjusted"))
            if p is None:
                p = finite(f.get("p_value"))
            return None if p is None else min(-math.log10(max(p, 1e-300)), 10.0)

        refs = []
        if p_fail is not None and p_fail > 0:
            refs.append(RefLine(-math.log10(p_fail), f"fail p < {fmt(p_fail)}", alert=True))
        if p_warn is not None and p_warn > 0:
            refs.append(RefLine(-math.log10(p_warn), f"warn p < {fmt(p_warn)}"))
        signif = charts.bar_chart(
            [BarGroup(name(f), [logp(f)], flag="drifted" if f.get("drifted") else "")
             for f in ordered], uid=ids(), title="Significance per feature",
            axis_label=f"−log10 p ({correction or 'adjusted'}; capped at 10)", refs=refs,
            max_groups=40)
        n_drift = sum(1 for f in feats if f.get("drifted"))
        table = _test_rows(ordered)
        table.headers[0] = "feature"
        extra = []
        for f in ordered[:MAX_TABLE_ROWS]:
            notes = []
            new = f.get("new_categories")
            if isinstance(new, list) and new:
                notes.append("new: " + ", ".join(
                    f"{clip(_get(c, 0), 30)} ({fmt(_get(c, 1), 3)})" if isinstance(c, list)
                    else clip(c, 30) for c in new[:5]))
            if f.get("sensitive"):
                notes.append(f"sensitive ({clip(f.get('storage') or 'masked', 40)})")
            if f.get("note"):
                notes.append(clip(f.get("note"), 120))
            extra.append("; ".join(notes))
        table.headers.append("notes")
        for row, note in zip(table.rows, extra, strict=False):
            row.append(note)
        panels.append(Panel(
            "Per-feature drift", charts=[c for c in (effect, signif) if c is not None], table=table,
            note=f"{n_drift} of {len(feats)} features drifted (highlighted and listed first). "
                 + (f"p-values corrected with {correction}; " if correction else "")
                 + (f"fail below {fmt(p_fail)}" if p_fail is not None else "")
                 + (f", warn below {fmt(p_warn)}" if p_warn is not None else "")
                 + (f"; minimum effect {fmt(data.get('min_effect'))}."
                    if data.get("min_effect") is not None else ".")))
        for f in [f for f in ordered if f.get("drifted")][:4]:
            changes = _dicts(f.get("changes"))
            if changes:
                chart = charts.bar_chart(
                    [BarGroup(clip(_first(c, "category", default="?"), 30),
                              [finite(c.get("reference")), finite(c.get("evaluation"))])
                     for c in changes[:12]], uid=ids(), title=f"{name(f)}: largest share changes",
                    series=["reference", "evaluation"], axis_label="share of rows")
            else:
                chart = _quantile_chart(f, ids, f"{name(f)}: quantiles")
            if chart is not None:
                panels.append(Panel(f"Drifted feature: {name(f)}", chart=chart))
    others: list[dict[str, Any]] = []
    pred = data.get("prediction")
    if isinstance(pred, dict):
        others += [dict(v, name=f"prediction {k}") for k, v in pred.items() if isinstance(v, dict)]
    for key, label in (("target", "target"), ("mmd", "MMD (whole table)")):
        if isinstance(data.get(key), dict):
            others.append(dict(data[key], name=label))
    cvb = data.get("candidate_vs_baseline")
    if isinstance(cvb, dict):
        others += [dict(v, name=f"candidate vs baseline {k}") for k, v in cvb.items()
                   if isinstance(v, dict)]
    if others:
        chart = None
        scores = _dict(_get(data, "prediction", "scores"))
        if scores:
            chart = _quantile_chart(scores, ids, "Candidate score quantiles: reference vs evaluation")
        panels.append(Panel("Prediction, target and whole-table drift", chart=chart,
                            table=_test_rows(others)))
    schema = _dict(data.get("schema"))
    baseline = _dict(data.get("baseline"))
    items = [(f"schema: {k}", clip(v, 300)) for k, v in schema.items() if v not in (None, [], {})]
    items += [(f"baseline: {k}", clip(v, 400)) for k, v in baseline.items()
              if k not in ("files", "stored") and v not in (None, [], {})]
    for k in ("executor", "workers", "seconds", "rows"):
        if data.get(k) is not None:
            items.append((k, clip(data.get(k), 200)))
    if items:
        panels.append(Panel("Schema, drift baseline and execution", items=items))
    stored = baseline.get("stored")
    if isinstance(stored, list) and stored:
        panels.append(Panel("What the drift baseline stores (no raw rows)", table=Table(
            ["column: what is kept"], [[clip(line, 400)] for line in stored[:200]]),
            note=f"{len(stored) - 200} more in report.json" if len(stored) > 200 else ""))
    return panels


_PCT_KEYS = ("latency_ms", "percentiles_ms", "percentiles", "latency")
_TS_KEYS = ("series", "timeseries", "time_series", "per_second")
_T_KEYS = ("t", "time_s", "second", "seconds")
_SUMMARY_KEYS = ("requests", "failures", "error_rate", "throughput_rps", "rps", "elapsed_s",
                 "stopped_by", "offered", "unsent", "server_cpu_pct", "server_died",
                 "generator_saturated", "generator_error", "duration_s", "users", "rate", "mode")


def _columns(ts: Any) -> dict[str, list[Any]]:
    """A time series as columns, from {col: [...]} or [{col: value}, ...]."""
    if isinstance(ts, dict):
        return {str(k): v for k, v in ts.items() if isinstance(v, list)}
    rows = _dicts(ts)
    cols: dict[str, list[Any]] = {}
    for i, row in enumerate(rows[:5000]):
        for k, v in row.items():
            cols.setdefault(str(k), [None] * i).append(v)
        for col in cols.values():
            if len(col) < i + 1:
                col.append(None)
    return cols


def _is_percentile_key(k: str) -> bool:
    """``p50``, ``p99``, ``p999`` (and ``p95_ms``): a latency percentile, not a count or a mean."""
    body = k[1:].removesuffix("_ms")
    return len(k) > 1 and k[0] == "p" and body.isdigit()


def _is_latency_key(k: str) -> bool:
    return _is_percentile_key(k) or "latency" in k or k.endswith("_ms")


def _fail_level(thresholds: dict[str, Any], key: str) -> float | None:
    """The fail level for percentile ``key`` (``p95`` matches ``p95_ms``) in a thresholds map."""
    for name in (key, f"{key}_ms"):
        v = thresholds.get(name)
        lim = finite(_get(v, "fail")) if isinstance(v, dict) else finite(v)
        if lim is not None:
            return lim
    return None


def _load(data: dict[str, Any], records: list[Any], ids: _Ids, report: Report) -> list[Panel]:
    """Per profile: latency percentiles against the SLO fail levels (and the baseline's, when it
    was served the same way), the run's figures, throughput/latency/failures per second, and the
    failures by kind."""
    panels: list[Panel] = []
    profiles = data.get("profiles")
    if profiles is not None:
        profile_list = _dicts(profiles)
    elif any(k in data for k in (*_PCT_KEYS, *_TS_KEYS)):
        profile_list = [{"name": "run", **data}]
    else:
        profile_list = []
    baseline = {str(p.get("name")): p for p in _dicts(data.get("baseline"))}
    policy_slo = _dict(_get(report.policy, "suites", "load", "thresholds"))
    for prof in profile_list[:6]:
        pname = str(_first(prof, "name", "profile", default="run"))
        pct = _dict(_first(prof, *_PCT_KEYS, default={}))
        slo = _dict(prof.get("thresholds")) or _dict(prof.get("slo")) or policy_slo
        base = baseline.get(pname)
        base_pct = _dict(_first(base, *_PCT_KEYS, default={})) if base else {}
        items: list[tuple[str, Any]] = [
            (k, clip(prof.get(k), 200)) for k in _SUMMARY_KEYS
            if prof.get(k) is not None and not isinstance(prof.get(k), dict | list)]
        gens = _dicts(prof.get("generator_cpu"))
        peaks = [finite(g.get("peak_pct")) for g in gens]
        if any(p is not None for p in peaks):
            items.append(("generator peak CPU %", fmt(max(p for p in peaks if p is not None))))
        merge = _dict(prof.get("merge"))
        if merge:
            items.append(("histograms merged", f"{merge.get('merged_count')} = sum of workers "
                          f"{merge.get('sum_of_workers')}" if merge.get("exact") else
                          f"NOT exact: {merge.get('merged_count')} vs {merge.get('sum_of_workers')}"))
        chart = None
        keys = [k for k in pct if _is_percentile_key(str(k)) and finite(pct.get(k)) is not None]
        if keys:
            series = ("candidate", "baseline") if base_pct else ()
            groups = [BarGroup(str(k), [finite(pct.get(k)), *([finite(base_pct.get(k))]
                                                              if base_pct else [])],
                               limit=_fail_level(slo, str(k))) for k in keys[:12]]
            chart = charts.bar_chart(groups, uid=ids(), title=f"Latency percentiles ({pname})",
                                     series=series, axis_label="latency (ms)",
                                     limit_label="SLO (fail level)")
        if chart is not None or items:
            panels.append(Panel(f"Latency percentiles: {pname}", chart=chart, items=items))
        cols = _columns(_first(prof, *_TS_KEYS, default={}))
        t_key = next((k for k in _T_KEYS if k in cols), None)
        if t_key is not None:
            t = cols[t_key]
            rps = [Series(k, t, v) for k, v in cols.items()
                   if k != t_key and ("rps" in k or "throughput" in k)]
            lat = [Series(k, t, v) for k, v in cols.items() if k != t_key and _is_latency_key(k)]
            errs = [Series(k, t, v) for k, v in cols.items()
                    if k != t_key and ("error" in k or "fail" in k)]
            for title, ser, yl in (("Throughput over time", rps, "requests/s"),
                                   ("Latency over time", lat, "ms"),
                                   ("Failures over time", errs, "failed requests")):
                if title.startswith("Failures") and not any(
                        finite(v) for s_ in ser for v in s_.y):
                    continue  # a flat zero line says less than the "failures 0" figure above
                chart = charts.line_chart(ser[:4], uid=ids(), title=f"{title} ({pname})",
                                          x_label="seconds", y_label=yl, y_zero=True)
                if chart is not None:
                    panels.append(Panel(f"{title}: {pname}", chart=chart))
        errors = _dict(_first(prof, "errors", "errors_by", "error_breakdown", default={}))
        if errors:
            panels.append(Panel(f"Failures by kind: {pname}", table=Table(
                ["kind", "count"], [[clip(k, 200), fmt(v)] for k, v in
                                    sorted(errors.items(), key=lambda kv: -(finite(kv[1]) or 0))[:20]],
                numeric=frozenset({1}))))
    return panels


#: Suite name -> picture builder. Unknown suites are rendered generically.
SUITE_VIEWS: dict[str, Builder] = {
    "quality": _quality,
    "adversarial": _adversarial,
    "edge_cases": _edge_cases,
    "drift": _drift,
    "load": _load,
}


def suite_view(name: str, summary: Any, records: list[Any], report: Report, ids: _Ids,
               run_dir: Path, out_dir: Path) -> SuiteView:
    rows, note = evidence_rows(records)
    statuses = [r.status.value for r in records]
    status = min(statuses, key=lambda s: STATUS_ORDER.get(s, 9)) if statuses else "skipped"
    if summary is not None and summary.error:
        status = "errored"
    data = summary.data if summary is not None and isinstance(summary.data, dict) else {}
    panels: list[Panel] = []
    data_note = ""
    builder = SUITE_VIEWS.get(name)
    if builder is not None and data:
        try:
            panels = builder(data, records, ids, report)
        except Exception as exc:  # noqa: BLE001 - a picture must never break the page
            data_note = f"The pictures of this suite could not be drawn ({type(exc).__name__}: " \
                        f"{clip(str(exc), 200)}); its data is shown as recorded."
            panels = []
    if data and (builder is None or not panels):
        panels.append(Panel("Suite data", generic=generic_view(data)))
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
# Signature.
# --------------------------------------------------------------------------------------

def _statement_times(statement: Any) -> tuple[str | None, str | None]:
    pred = _get(statement, "predicate", default={})
    if not isinstance(pred, dict):
        return None, None
    issued = _first(pred, "issuedAt", "issued_at")
    expires = _first(pred, "expiresAt", "expires_at")
    return (str(issued) if issued else None), (str(expires) if expires else None)


def signature_view(run_dir: Path, now: dt.datetime | None = None) -> SignatureView:
    """Verify the certificate next to the report with the public key next to it, if present."""
    from certify.outputs import CERTIFICATE, PUBLIC_KEY, STATEMENT_JSON

    now = now or dt.datetime.now(dt.UTC)
    cert, pub, stmt = run_dir / CERTIFICATE, run_dir / PUBLIC_KEY, run_dir / STATEMENT_JSON
    if not cert.is_file():
        view = SignatureView("unsigned", "Not signed",
                             f"There is no {CERTIFICATE} next to this report: the run was not signed "
                             "(no signing key configured), so nothing vouches for it.")
        if stmt.is_file():
            try:
                issued, expires = _statement_times(json.loads(stmt.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                issued, expires = None, None
            view.issued_at, view.expires_at = issued, expires
            view.expiry_source = f"unsigned {STATEMENT_JSON}"
        return view
    keyid = None
    try:
        envelope = json.loads(cert.read_text(encoding="utf-8"))
        keyid = _get(envelope, "signatures", 0, "keyid")
        keyid = str(keyid) if keyid else None
    except (OSError, ValueError):
        return SignatureView("invalid", "Certificate unreadable",
                             f"{CERTIFICATE} is not valid JSON.", certificate=CERTIFICATE)
    if not pub.is_file():
        return SignatureView("unverified", "Signed, but not verified here",
                             f"No {PUBLIC_KEY} next to the certificate, so this page did not check "
                             f"the signature. Verify it with `certify verify {CERTIFICATE} --key "
                             "<trusted public key>`.", keyid=keyid, certificate=CERTIFICATE)
    try:
        return _verify(cert, pub, now)
    except _VerifierMissing as exc:
        return SignatureView("unverified", "Signed, but not verified here", str(exc), keyid=keyid,
                             certificate=CERTIFICATE, public_key=PUBLIC_KEY)
    except Exception as exc:  # noqa: BLE001 - any failure to verify is "invalid", with its reason
        reason = exc.diagnostics() if isinstance(exc, CertifyError) else f"{type(exc).__name__}: {exc}"
        code = getattr(exc, "reason", None)
        return SignatureView("invalid", "Signature does NOT verify",
                             clip(f"{code}: {reason}" if isinstance(code, str) else reason, 400),
                             keyid=keyid, certificate=CERTIFICATE, public_key=PUBLIC_KEY)


class _VerifierMissing(Exception):
    pass


def _verify(cert: Path, pub: Path, now: dt.datetime) -> SignatureView:
    """Verify with ``certify.attest`` against ``pub`` (and the report.json next to ``cert``).

    Raises on any failure except time: the verifier checks the time window last, so a
    certificate that is only expired (or not yet valid) has a verified signature and an
    untouched report, and is shown as verified *and* expired.
    """
    from certify.outputs import CERTIFICATE, PUBLIC_KEY

    try:
        from certify.attest.dsse import parse_envelope
        from certify.attest.verify import Keyring, Reason, parse_statement, verify
    except ImportError:
        raise _VerifierMissing("The certificate verifier (certify.attest) is not available in "
                               "this installation, so this page did not check the signature.") from None
    from certify.errors import VerificationError

    keyring = Keyring.from_files([pub])
    note = ""
    try:
        verified = verify(cert, keyring, now=now)
        keyid, issued, expires = verified.keyid, verified.issued_at, verified.expires_at
    except VerificationError as exc:
        if exc.reason not in (Reason.EXPIRED, Reason.NOT_YET_VALID):
            raise
        _, predicate = parse_statement(parse_envelope(cert.read_bytes()).payload)
        keyid = next(iter(keyring.keys))
        issued, expires = predicate.issued_at, predicate.expires_at
        note = f" But it is outside its validity window: {exc.diagnostics()}."
    return SignatureView(
        "verified", "Signature verified" + (" (certificate expired)" if expires <= now else ""),
        f"The DSSE signature of {CERTIFICATE} verifies with the {PUBLIC_KEY} next to it, and "
        f"report.json is the one it certifies; checked when this page was rendered, "
        f"{now.isoformat(timespec='seconds')}.{note} Whether that key is one you trust is for "
        "`certify verify --trust` or `certify gate` to decide.",
        keyid=keyid, certificate=CERTIFICATE, public_key=PUBLIC_KEY,
        issued_at=issued.isoformat(timespec="seconds"),
        expires_at=expires.isoformat(timespec="seconds"), expiry_source="signed certificate",
        expired=expires <= now,
    )


# --------------------------------------------------------------------------------------
# Page.
# --------------------------------------------------------------------------------------

def _environment(report: Report) -> dict[str, Any]:
    env = report.environment if isinstance(report.environment, dict) else {}
    packages = _dict(env.get("packages"))
    platform_items = [(k, clip(env.get(k), 200)) for k in
                      ("python", "implementation", "platform", "machine", "cpu_count", "digest")
                      if k in env]
    prov = report.provenance if isinstance(report.provenance, dict) else {}
    git = _dict(prov.get("git"))
    ci = _dict(prov.get("ci"))
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
        seed = _get(s.data, "seed") if isinstance(s.data, dict) else None
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


def build_context(report: Report, run_dir: Path, out_path: Path,
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
    waivers = [{"check": w.check, "reason": clip(w.reason, 300), "approver": clip(w.approver, 120),
                "expires": w.expires, "expired": w.expired,
                "applied_to": ", ".join(w.applied_to[:20]) + (" …" if len(w.applied_to) > 20 else "")}
               for w in report.waivers[:50]]
    signature = signature_view(run_dir, now)
    drift = report.drift_baseline if isinstance(report.drift_baseline, dict) else None
    drift_view = None
    if drift:
        files = _dicts(drift.get("files"))
        drift_view = {
            "path": clip(drift.get("path"), 200), "digest": clip(drift.get("digest"), 100),
            "href": _safe_href(str(drift.get("path", "")), run_dir, out_dir),
            "files": [(clip(f.get("path"), 200), _safe_href(str(f.get("path", "")),
                                                            run_dir / str(drift.get("path", "")),
                                                            out_dir),
                       clip(f.get("sha256"), 80)) for f in files[:40]],
            "more": max(len(files) - 40, 0),
        }
    return {
        "r": report,
        "decision": decision,
        "verdict_icon": VERDICT_ICON.get(decision, "?"),
        "reasons": [clip(x) for x in verdict.reasons[:MAX_REASONS]],
        "more_reasons": max(len(verdict.reasons) - MAX_REASONS, 0),
        "counts": {k: v for k, v in verdict.counts.items()},
        "duration": _duration(report.started_at, report.finished_at),
        "signature": signature,
        "links": {"certificate": _safe_href(signature.certificate or "", run_dir, out_dir),
                  "public_key": _safe_href(signature.public_key or "", run_dir, out_dir)},
        "waivers": waivers,
        "suites": suites,
        "env": _environment(report),
        "schema_rows": _schema_rows(report),
        "drift": drift_view,
        "policy_json": clip(json.dumps(report.policy, indent=2, default=str), 20000),
        "rendered_at": now.isoformat(timespec="seconds"),
        "status_icon": STATUS_ICON,
        "statuses": list(STATUS_ORDER),
        "report_href": _safe_href("report.json", run_dir, out_dir),
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
    return env


def render_html(report: Report, run_dir: Path, out_path: Path | None = None,
                now: dt.datetime | None = None) -> str:
    """The page's HTML for ``report``, whose run folder (certificate, artifacts) is ``run_dir``.

    ``out_path`` is where the page will be written: artifact links are relative to it.
    """
    out_path = out_path or run_dir / "report.html"
    context = build_context(report, run_dir, out_path, now)
    return str(_env().get_template("report.html.j2").render(**context))


def write_report_html(report: Report, run_dir: Path, out_path: Path) -> Path:
    from certify.outputs import atomic_write

    # Readable by others (a page meant to be shared), unlike mkstemp's default 0600.
    atomic_write(out_path, render_html(report, run_dir, out_path), mode=0o644)
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


def write_html(session: Any, report: Report, run_dir: Path) -> dict[str, Path]:
    """Built-in reporter: ``report.html`` next to report.json (and the certificate).

    A rendering bug must not throw away a finished certification: the page then says
    so (with the verdict), a warning is printed, and report.json stays authoritative.
    """
    import sys

    from certify.outputs import REPORT_HTML, atomic_write

    path = run_dir / REPORT_HTML
    try:
        write_report_html(report, run_dir, path)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        error = f"{type(exc).__name__}: {clip(str(exc), 300)}"
        print(f"certify: warning: the HTML report could not be rendered ({error})", file=sys.stderr)
        atomic_write(path, fallback_html(report, error), mode=0o644)
    return {"html": path}


__all__ = ["SUITE_VIEWS", "generic_view", "render_html", "signature_view", "write_html",
           "write_report_html"]
