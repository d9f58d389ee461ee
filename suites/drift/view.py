"""The drift suite's pictures on the audit page, drawn from its recorded data."""

from __future__ import annotations

import math
from typing import Any

from certify.jsonsafe import finite
from certify.suite import SuiteRecord
from certify.suites.drift.settings import DriftSettings
from certify.view import (
    MAX_TABLE_ROWS,
    BarChart,
    BarGroup,
    Panel,
    RefLine,
    Table,
    as_dict,
    clip,
    dicts,
    drawable,
    first,
    fmt,
    get,
)


def _test_rows(tests: list[dict[str, Any]]) -> Table:
    keys = ["test", "statistic", "p_value", "p_adjusted", "effect", "rows"]
    return Table(
        ["name", *keys, "status"],
        [[clip(first(t, "name", default="?"), 60),
          *[clip(t.get(k), 20) if isinstance(t.get(k), str) else fmt(t.get(k)) for k in keys],
          ("▲ drift " if t.get("drifted") else "") + clip(first(t, "status", default=""), 20)
          + (f" ({clip(t.get('problem') or t.get('error'), 120)})"
             if t.get("problem") or t.get("error") else "")]
         for t in tests[:MAX_TABLE_ROWS]],
        numeric=frozenset(range(2, 7)),
        row_flags=["flag" if t.get("drifted") else "" for t in tests[:MAX_TABLE_ROWS]])


def _quantile_chart(test: dict[str, Any], title: str) -> BarChart | None:
    now, ref = as_dict(test.get("summary")), as_dict(test.get("reference_summary"))
    keys = [k for k in ("p05", "p25", "p50", "p75", "p95") if k in now or k in ref]
    if not keys:
        return None
    return drawable(BarChart([BarGroup(k, [finite(ref.get(k)), finite(now.get(k))]) for k in keys],
                            title=title, series=["reference", "evaluation"],
                            axis_label="value"))


def panels(record: SuiteRecord[DriftSettings]) -> list[Panel]:
    """The suite's panels, from its recorded data (see :meth:`certify.suite.Suite.panels`)."""
    data = dict(record.data)
    panels: list[Panel] = []
    feats = dicts(first(data, "features", default=[]))
    p_fail = finite(get(data, "p_value", "fail"))
    p_warn = finite(get(data, "p_value", "warn"))
    correction = data.get("correction")
    if feats:
        def name(f: dict[str, Any]) -> str:
            return str(first(f, "name", "feature", default="?"))

        ordered = sorted(feats, key=lambda f: (not f.get("drifted"), name(f)))
        effect = drawable(BarChart(
            [BarGroup(name(f), [finite(f.get("effect"))], flag="drifted" if f.get("drifted") else "")
             for f in ordered], title="Drift effect size per feature",
            axis_label="effect (KS distance, or total-variation distance for categories)",
            max_groups=40))

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
        signif = drawable(BarChart(
            [BarGroup(name(f), [logp(f)], flag="drifted" if f.get("drifted") else "")
             for f in ordered], title="Significance per feature",
            axis_label=f"−log10 p ({correction or 'adjusted'}; capped at 10)", refs=refs,
            max_groups=40))
        n_drift = sum(1 for f in feats if f.get("drifted"))
        table = _test_rows(ordered)
        table.headers[0] = "feature"
        extra = []
        for f in ordered[:MAX_TABLE_ROWS]:
            notes = []
            new = f.get("new_categories")
            if isinstance(new, list) and new:
                notes.append("new: " + ", ".join(
                    f"{clip(get(c, 0), 30)} ({fmt(get(c, 1), 3)})" if isinstance(c, list)
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
            changes = dicts(f.get("changes"))
            if changes:
                chart = drawable(BarChart(
                    [BarGroup(clip(first(c, "category", default="?"), 30),
                              [finite(c.get("reference")), finite(c.get("evaluation"))])
                     for c in changes[:12]], title=f"{name(f)}: largest share changes",
                    series=["reference", "evaluation"], axis_label="share of rows"))
            else:
                chart = _quantile_chart(f, f"{name(f)}: quantiles")
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
        scores = as_dict(get(data, "prediction", "scores"))
        if scores:
            chart = _quantile_chart(scores, "Candidate score quantiles: reference vs evaluation")
        panels.append(Panel("Prediction, target and whole-table drift", chart=chart,
                            table=_test_rows(others)))
    schema = as_dict(data.get("schema"))
    baseline = as_dict(data.get("baseline"))
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

