"""The drift suite's pictures on the audit page, drawn from its recorded data.

Which features moved and by how much (effect size per feature, with the distance at which a
test fails and ``min_effect``), then each drawn feature's reference vs evaluation distribution
(drifted first; a sensitive column only over the coarse ranges or bucket groups its baseline
stores), the prediction and target tests, the new data's schema and the drift baseline. Every
chart has a title, an axis label and a legend for its series, and its numbers in a table.
"""

from __future__ import annotations

from typing import Any

from certify.jsonsafe import finite
from certify.suite import SuiteRecord
from certify.suites.drift.settings import DriftSettings
from certify.view import (
    MAX_TABLE_ROWS,
    BarChart,
    BarGroup,
    LineChart,
    Panel,
    RefLine,
    Series,
    Table,
    as_dict,
    clip,
    dicts,
    drawable,
    first,
    fmt,
    get,
)

TESTS = {"ks": "KS", "chi2": "chi²", "mmd": "MMD"}


def _name(f: dict[str, Any]) -> str:
    return clip(first(f, "name", "feature", default="?"), 60)


def _picture_key(f: dict[str, Any]) -> tuple[bool, float, str]:
    return (not f.get("drifted"), -(finite(f.get("effect")) or 0.0), _name(f))


def picture_order(features: list[dict[str, Any]]) -> list[str]:
    """The order in which features' distributions are drawn: drifted first, then the largest
    effects (the report keeps the distributions of the first few)."""
    return [_name(f) for f in sorted(features, key=_picture_key)]


def _pct(value: Any) -> str:
    v = finite(value)
    return "n/a" if v is None else f"{v:.1%}"


def _in_pct(share: float | None) -> float | None:
    return None if share is None else round(share * 100, 2)


def _count(value: Any) -> str:
    v = finite(value)
    return "n/a" if v is None else f"{int(v):,}"


def _seconds(value: Any) -> str:
    v = finite(value)
    return "n/a" if v is None else f"{v:.2f} s"


def _status(t: dict[str, Any]) -> str:
    text = ("▲ drift " if t.get("drifted") else "") + clip(first(t, "status", default=""), 20)
    why = t.get("problem") or t.get("error")
    return text + (f" ({clip(why, 160)})" if why else "")


def _test_table(tests: list[dict[str, Any]], first_header: str, *, missing: bool = True
                ) -> Table:
    rows = []
    for t in tests[:MAX_TABLE_ROWS]:
        needed = first(t, "effect_needed", "threshold", default=None)
        row = [_name(t), TESTS.get(str(t.get("test")), clip(t.get("test") or "", 20)),
               fmt(t.get("effect"), 3), fmt(needed, 3) if needed is not None else "—",
               fmt(t.get("p_value"), 3), fmt(t.get("p_adjusted"), 3) if missing or
               t.get("p_adjusted") is not None else "—",
               _count(first(t, "tested", "rows", default=None) or t.get("rows"))]
        if missing:
            row.append(f"{_pct(t.get('null_rate'))} (ref {_pct(t.get('reference_null_rate'))})")
        rows.append([*row, _status(t)])
    headers = [first_header, "test", "effect", "fails at effect ≈", "p-value", "p adjusted",
               "values tested", *(["missing now (reference)"] if missing else []), "status"]
    return Table(
        headers, rows, numeric=frozenset(range(2, 7)),
        row_flags=["flag" if t.get("drifted") else "" for t in tests[:MAX_TABLE_ROWS]],
        note=(f"{len(tests) - MAX_TABLE_ROWS} more in report.json"
              if len(tests) > MAX_TABLE_ROWS else ""))


def _notes(f: dict[str, Any]) -> str:
    notes = []
    new = f.get("new_categories")
    if isinstance(new, list) and new:
        total = finite(f.get("new_categories_total")) or len(new)
        notes.append("new: " + ", ".join(
            f"{clip(get(c, 0), 30)} ({_pct(get(c, 1))})" if isinstance(c, list) else clip(c, 30)
            for c in new[:5]) + (f" and {int(total) - 5} more" if total > 5 else ""))
    if f.get("sensitive"):
        notes.append(f"sensitive ({clip(f.get('storage') or 'masked', 40)})")
    if f.get("note"):
        notes.append(clip(f.get("note"), 120))
    return "; ".join(notes)


def _effect_chart(ordered: list[dict[str, Any]], min_effect: float | None) -> BarChart | None:
    refs = [RefLine(min_effect, f"min_effect {fmt(min_effect)}", alert=True)] \
        if min_effect else []
    return drawable(BarChart(
        [BarGroup(_name(f), [finite(f.get("effect"))], flag="drifted" if f.get("drifted") else "",
                  limit=finite(f.get("effect_needed"))) for f in ordered],
        title="How far each feature moved: effect size per feature",
        series=["effect"], refs=refs,
        axis_label="effect: KS distance (numeric) or total-variation distance (categories), 0 to 1",
        limit_label="KS distance at which the test fails", max_groups=40))


def _distribution(name: str, d: dict[str, Any], *, drifted: bool, sensitive: bool,
                  storage: str, feature: bool = True) -> Panel | None:
    """One test's reference vs evaluation picture and its numbers."""
    ref, new = d.get("reference"), d.get("evaluation")
    if not isinstance(ref, list) or not isinstance(new, list):
        return None
    if feature:
        title = (f"Drifted feature: {name}" if drifted else name) + ": reference vs evaluation"
    else:
        title = f"{name}: reference vs evaluation" + (" (drifted)" if drifted else "")
    rows: list[list[Any]] = []
    chart: BarChart | LineChart | None
    if d.get("kind") == "ecdf":
        raw = d.get("probs")
        probs: list[Any] = raw if isinstance(raw, list) else []
        n = min(len(probs), len(ref), len(new), 40)
        ys = [finite(p) for p in probs[:n]]
        chart = drawable(LineChart(
            [Series("reference", [finite(v) for v in ref[:n]], ys),
             Series("evaluation", [finite(v) for v in new[:n]], ys)],
            title=f"{name}: cumulative distribution, reference vs evaluation",
            x_label=f"{name} (value)", y_label="share of values ≤ x", y_zero=True))
        for p, a, b in zip(probs[:n], ref[:n], new[:n], strict=False):
            fa, fb = finite(a), finite(b)
            rows.append([f"{fmt((finite(p) or 0.0) * 100, 3)}%", fmt(a), fmt(b),
                         fmt(fb - fa) if fa is not None and fb is not None else "n/a"])
        headers = ["quantile", "reference", "evaluation", "change"]
        note = ("The two curves are the empirical distribution functions; the KS distance is "
                "their largest vertical gap.")
    else:
        raw = d.get("bins")
        bins: list[Any] = raw if isinstance(raw, list) else []
        n = min(len(bins), len(ref), len(new), 40)
        what = ("coarse range" if d.get("ordered") else
                "bucket group" if storage == "bucketed_counts" else "category")
        groups = []
        for b, a, c in zip(bins[:n], ref[:n], new[:n], strict=False):
            fa, fc = finite(a), finite(c)
            is_new = fa == 0 and (fc or 0) > 0
            groups.append(BarGroup(clip(b, 30), [_in_pct(fa), _in_pct(fc)],
                                   flag="new" if is_new else ""))
            rows.append([clip(b, 60), _pct(a), _pct(c),
                         f"{(fc - fa) * 100:+.1f} pp" if fa is not None and fc is not None
                         else "n/a"])
        chart = drawable(BarChart(groups, title=f"{name}: share of values per {what}",
                                  series=["reference", "evaluation"],
                                  axis_label="share of non-missing values (%)", max_groups=40))
        headers = [what, "reference", "evaluation", "change"]
        note = ""
        if sensitive:
            note = (f"Sensitive column: the {what}s its drift baseline stores "
                    f"({clip(storage, 40)}), never a raw value.")
    if chart is None:
        return None
    return Panel(title, chart=chart, note=note,
                 table=Table(headers, rows, numeric=frozenset({1, 2, 3})))


def _feature_panels(data: dict[str, Any], feats: list[dict[str, Any]]) -> list[Panel]:
    p_fail = finite(get(data, "p_value", "fail"))
    p_warn = finite(get(data, "p_value", "warn"))
    correction = data.get("correction")
    min_effect = finite(data.get("min_effect"))
    ordered = sorted(feats, key=lambda f: (not f.get("drifted"), _name(f)))
    table = _test_table(ordered, "feature")
    table.headers.append("notes")
    for row, f in zip(table.rows, ordered, strict=False):
        row.append(_notes(f))
    n_drift = sum(1 for f in feats if f.get("drifted"))
    note = (f"{n_drift} of {len(feats)} features drifted (highlighted and listed first). "
            + (f"p-values corrected with {correction}; " if correction else "")
            + (f"fail below {fmt(p_fail)}" if p_fail is not None else "")
            + (f", warn below {fmt(p_warn)}" if p_warn is not None else "")
            + (f"; minimum effect {fmt(min_effect)}." if min_effect is not None else ".")
            + " A KS test fails when its distance passes the marked level (the corrected fail "
              "level, for this test alone).")
    panels = [Panel("Per-feature drift", chart=_effect_chart(ordered, min_effect), table=table,
                    note=note)]
    drawn = [f for f in sorted(ordered, key=_picture_key)
             if isinstance(f.get("distribution"), dict)]
    for f in drawn:
        panel = _distribution(_name(f), f["distribution"], drifted=bool(f.get("drifted")),
                              sensitive=bool(f.get("sensitive")),
                              storage=str(f.get("storage") or ""))
        if panel is not None:
            panels.append(panel)
    rest = [_name(f) for f in ordered if not isinstance(f.get("distribution"), dict)]
    if rest and drawn:
        panels[0].note += (f" Distributions are drawn for {len(drawn)} features (drifted first, "
                           f"then the largest effects); not drawn: {clip(', '.join(rest), 400)} "
                           "(their tests are in the table).")
    return panels


def _other_panels(data: dict[str, Any]) -> list[Panel]:
    others: list[dict[str, Any]] = []
    pred = data.get("prediction")
    if isinstance(pred, dict):
        labels = {"scores": "candidate scores", "labels": "candidate predicted labels"}
        others += [dict(v, name=labels.get(k, f"prediction {k}")) for k, v in pred.items()
                   if isinstance(v, dict)]
    if isinstance(data.get("target"), dict):
        others.append(dict(data["target"], name=f"target {clip(data['target'].get('name'), 40)}"))
    if isinstance(data.get("mmd"), dict):
        others.append(dict(data["mmd"], name="MMD (whole table)"))
    cvb = data.get("candidate_vs_baseline")
    if isinstance(cvb, dict):
        others += [dict(v, name=f"candidate vs baseline {k}") for k, v in cvb.items()
                   if isinstance(v, dict)]
    if not others:
        return []
    panels = [Panel("Prediction, target and whole-table drift",
                    table=_test_table(others, "check", missing=False),
                    note="Candidate vs baseline rows compare the two models on the same rows, "
                         "judged on their distance (the effect) against the policy's limit, not "
                         "on the p-value.")]
    for t in others:
        d = t.get("distribution")
        if isinstance(d, dict):
            panel = _distribution(_name(t), d, drifted=bool(t.get("drifted")), sensitive=False,
                                  storage="", feature=False)
            if panel is not None:
                panels.append(panel)
    return panels


def _schema_panel(schema: dict[str, Any]) -> Panel:
    def names(value: Any) -> list[str]:
        return [clip(c, 60) for c in value if isinstance(c, str)] if isinstance(value, list) else []

    missing, extra = names(schema.get("missing")), names(schema.get("extra"))
    changes = dicts(schema.get("dtype_changes"))
    items = [("missing feature columns", ", ".join(missing) or "none"),
             ("columns not in the baseline (ignored)", ", ".join(extra) or "none")]
    rows = []
    for c in changes[:MAX_TABLE_ROWS]:
        was = first(c, "reference_kind", default=None)
        if was is None:  # a report written before kinds were recorded
            rows.append([clip(c.get("column"), 60), clip(c.get("reference"), 60), "",
                         clip(c.get("data"), 60), "" if c.get("testable") else "not testable"])
            continue
        rows.append([clip(c.get("column"), 60),
                     f"{clip(was, 20)} ({clip(c.get('reference_dtype'), 20)})",
                     "yes" if c.get("declared") else "no",
                     f"{clip(c.get('kind'), 20)} ({clip(c.get('dtype'), 20)})",
                     clip(c.get("change"), 300)])
    table = Table(["column", "reference kind (dtype)", "kind declared", "now kind (dtype)",
                   "what changed"], rows,
                  note=f"{len(changes) - MAX_TABLE_ROWS} more in report.json"
                  if len(changes) > MAX_TABLE_ROWS else "") if rows else None
    return Panel("Schema of the new data", items=items, table=table,
                 note="" if rows else "No monitored column changed kind or dtype.")


def _baseline_panel(data: dict[str, Any], baseline: dict[str, Any]) -> Panel:
    items: list[tuple[str, Any]] = []
    if baseline.get("path"):
        items.append(("folder", clip(baseline.get("path"), 200)))
    if baseline.get("digest"):
        items.append(("digest (a subject of the certificate)", clip(baseline.get("digest"), 80)))
    version = finite(baseline.get("format_version"))
    if version is not None:
        items.append(("format version", f"{int(version)}" + (
            " (older format: sensitive categories kept as unkeyed hashes, never shown; refit "
            "to remove them)" if version == 1 else "")))
    files, size = finite(baseline.get("files")), finite(baseline.get("bytes"))
    if files is not None:
        items.append(("files", f"{int(files)} files" + (
            f", {size / 1024:,.1f} KiB" if size is not None else "")))
    handling = baseline.get("sensitive_handling")
    if handling:
        items.append(("sensitive columns", {
            "binned": "binned: coarse ranges or buckets, never a raw value",
            "drop": "dropped: not monitored"}.get(str(handling), clip(handling, 40))))
    not_monitored = as_dict(baseline.get("not_monitored"))
    if not_monitored:
        items.append(("not monitored", "; ".join(
            f"{clip(k, 60)}: {clip(v, 120)}" for k, v in list(not_monitored.items())[:30])))
    rows = as_dict(data.get("rows"))
    if rows:
        items.append(("rows", f"reference {_count(rows.get('reference'))}, "
                              f"evaluation {_count(rows.get('evaluation'))}"))
    if data.get("executor") is not None:
        workers = finite(data.get("workers"))
        items.append(("executor", clip(data.get("executor"), 40) + (
            f" ({int(workers)} worker{'s' if workers != 1 else ''})"
            if workers is not None else "")))
    seconds = as_dict(data.get("seconds"))
    if seconds:
        keys = sorted(seconds, key=lambda k: ({"fit": 0, "check": 1}.get(k, 2), k))[:6]
        items.append(("time", ", ".join(f"{clip(k, 20)} {_seconds(seconds[k])}" for k in keys)))
    return Panel("Drift baseline and execution", items=items)


def panels(record: SuiteRecord[DriftSettings]) -> list[Panel]:
    """The suite's panels, from its recorded data (see :meth:`certify.suite.Suite.panels`)."""
    data = dict(record.data)
    out: list[Panel] = []
    feats = dicts(first(data, "features", default=[]))
    if feats:
        out += _feature_panels(data, feats)
    out += _other_panels(data)
    schema = data.get("schema")
    if isinstance(schema, dict):
        out.append(_schema_panel(schema))
    baseline = as_dict(data.get("baseline"))
    if baseline or any(data.get(k) is not None for k in ("rows", "executor", "seconds")):
        out.append(_baseline_panel(data, baseline))
    stored = baseline.get("stored")
    if isinstance(stored, list) and stored:
        out.append(Panel("What the drift baseline stores (no raw rows)", table=Table(
            ["column: what is kept"], [[clip(line, 400)] for line in stored[:200]]),
            note=f"{len(stored) - 200} more in report.json" if len(stored) > 200 else ""))
    return out
