"""The privacy suite's pictures on the audit page, drawn from its recorded data and evidence."""

from __future__ import annotations

from typing import Any

from certify.jsonsafe import finite
from certify.suite import SuiteRecord
from certify.suites.privacy.settings import PrivacySettings
from certify.view import (
    MAX_TABLE_ROWS,
    Interval,
    IntervalChart,
    LineChart,
    Panel,
    RefLine,
    Series,
    Table,
    as_dict,
    ci,
    clip,
    dicts,
    drawable,
    fmt,
    get,
    pair,
)

ROLES = ("candidate", "baseline")


def panels(record: SuiteRecord[PrivacySettings]) -> list[Panel]:
    """The suite's panels (see :meth:`certify.suite.Suite.panels`)."""
    data = dict(record.data)
    settings = record.settings.model_dump(mode="json")
    out: list[Panel] = []
    membership = as_dict(data.get("membership"))
    if membership:
        out += _membership(membership, as_dict(settings.get("membership")))
    elif data.get("membership_error"):
        out.append(Panel("Membership inference", note=f"Failed: {clip(data['membership_error'])}"))
    scan = _scan(record)
    if scan is not None:
        out.append(scan)
    pii = as_dict(data.get("pii"))
    if pii:
        out.append(_pii(pii))
    return out


def _membership(m: dict[str, Any], s: dict[str, Any]) -> list[Panel]:
    warn, fail = finite(s.get("advantage_warn")), finite(s.get("advantage_fail"))
    low_fpr = finite(m.get("low_fpr"))
    rows: list[Interval] = []
    table: list[list[Any]] = []
    for series, role in enumerate(ROLES):
        model = as_dict(m.get(role))
        for name, a in as_dict(model.get("attacks")).items():
            if not isinstance(a, dict):
                continue
            strongest = name == model.get("strongest")
            label = name if role == "candidate" else f"{name} (baseline)"
            rows.append(Interval(label, finite(a.get("advantage")),
                                 *pair(a.get("advantage_ci")), series=series,
                                 flag="strongest" if strongest and fail is not None
                                 and (pair(a.get("advantage_ci"))[0] or 0) > fail else ""))
            table.append([role, name + (" (strongest)" if strongest else ""),
                          fmt(a.get("auc")) + ci(a.get("auc_ci")),
                          fmt(a.get("advantage")) + ci(a.get("advantage_ci")),
                          fmt(a.get("tpr")) + ci(a.get("tpr_ci")), fmt(model.get("rows"))])
    refs = [RefLine(0.0, "chance")]
    if warn is not None:
        refs.append(RefLine(warn, f"warn {fmt(warn)}"))
    if fail is not None:
        refs.append(RefLine(fail, f"fail {fmt(fail)}", alert=True))
    chart = drawable(IntervalChart(rows, title="Membership advantage (ROC AUC − 0.5)",
                                   series=list(ROLES), refs=refs,
                                   axis_label="advantage (0: the attacker guesses)"))
    cand = as_dict(m.get("candidate"))
    members = str(cand.get("members", "?"))
    note = (f"Members: {fmt(cand.get('rows'))} rows of {members}"
            + (" (assumed to be the candidate's training data: the policy names no "
               "training_data)" if cand.get("assumed") else "")
            + "; non-members: as many rows of data.evaluation, balanced per class. "
            "Intervals: bootstrap over members and non-members.")
    diff = finite(m.get("diff"))
    items: list[tuple[str, Any]] = []
    if diff is not None:
        items.append(("candidate − baseline advantage", fmt(diff) + ci(m.get("diff_ci"))))
    elif m.get("baseline_note"):
        items.append(("baseline", str(m["baseline_note"])))
    items.append(("executor", str(m.get("executor", "?"))))
    panels = [Panel(
        "Membership inference", chart=chart,
        table=Table(["model", "attack", "ROC AUC [CI]", "advantage [CI]",
                     f"TPR at FPR {fmt(low_fpr)} [CI]", "rows per side"], table,
                    caption="ART's membership-inference attacks"),
        note=note, items=items)]
    curves = []
    for role in ROLES:
        roc = get(m, role, "attacks", "black_box", "roc", default=None)
        if isinstance(roc, list) and roc:
            pts = [p for p in roc if isinstance(p, list | tuple) and len(p) == 2]
            curves.append(Series(f"{role} (black_box)", [finite(p[0]) for p in pts],
                                 [finite(p[1]) for p in pts]))
    if curves:
        curves.append(Series("chance", [0.0, 1.0], [0.0, 1.0]))
        roc_chart = drawable(LineChart(
            curves, title="Black-box attack ROC", x_label="false-positive rate (non-members)",
            y_label="true-positive rate (members)",
            vlines=[RefLine(low_fpr, f"FPR {fmt(low_fpr)}")] if low_fpr is not None else [],
            y_zero=True))
        if roc_chart is not None:
            panels.append(Panel("Membership attack ROC", chart=roc_chart,
                                note="A curve on the diagonal is an attacker who guesses; the "
                                     "left end (low false-positive rate) is where an attack "
                                     "singles people out."))
    return panels


def _scan(record: SuiteRecord[PrivacySettings]) -> Panel | None:
    ev = next((e for e in record.evidence if e.id == "privacy::no_raw_sensitive_values"), None)
    if ev is None:
        return None
    details = ev.details
    scan = as_dict(details.get("scan"))
    findings = dicts(scan.get("findings"))
    searched = as_dict(details.get("searched"))
    items: list[tuple[str, Any]] = [
        ("status", f"{ev.status.value}: {clip(ev.reason, 300)}"),
        ("files scanned", f"{fmt(scan.get('files'))} ({fmt(scan.get('bytes'))} bytes)"),
        ("evidence", str(details.get("evidence", "—"))),
    ]
    for col, info in searched.items():
        if isinstance(info, dict):
            items.append((f"column {col}", f"{fmt(info.get('searched'))} values searched "
                          f"({info.get('why', '?')}; {fmt(info.get('left_out_coarse'))} coarse "
                          f"and {fmt(info.get('left_out_short'))} short left out)"))
    exempt = details.get("exempt")
    note = ("Exempt (coarse by construction): " + "; ".join(map(str, exempt))
            if isinstance(exempt, list) else "")
    table = Table(["file", "field", "column", "kind"],
                  [[str(f.get("file", "?")), str(f.get("field", "?")), str(f.get("column", "?")),
                    str(f.get("kind", "?"))] for f in findings[:MAX_TABLE_ROWS]],
                  caption="Findings (never the value)") if findings else None
    return Panel("Raw sensitive values in the run's outputs", table=table, items=items, note=note)


def _pii(pii: dict[str, Any]) -> Panel:
    flagged = dicts(pii.get("flagged"))
    checked = _names(pii.get("checked"))
    table = Table(["column", "looks like", "recogniser", "share of sampled values", "sampled"],
                  [[str(c.get("column", "?")), str(c.get("kind", "?")), str(c.get("detail", "?")),
                    fmt(c.get("share")), fmt(c.get("sampled"))] for c in flagged[:MAX_TABLE_ROWS]],
                  numeric=frozenset({3, 4})) if flagged else None
    declared = _names(pii.get("declared"))
    return Panel("Undeclared personal data", table=table,
                 items=[("columns checked", clip(", ".join(map(str, checked)), 400) or "—"),
                        ("declared sensitive", clip(", ".join(map(str, declared)), 400) or "—")],
                 note="No column looks like personal data." if not flagged else
                 "Declare these columns in sensitive_columns (their values are then masked in "
                 "every output), or list them in suites.privacy.pii.ignore.")


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []
