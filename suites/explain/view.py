"""The explain suite's pictures on the audit page, drawn from its recorded data: the ranked
attribution shares of candidate and baseline (shifted and protected columns marked), the rows
whose two explanations disagree most (sensitive values masked), and how each model was explained
(explainer, additivity, stability, budgets)."""

from __future__ import annotations

from typing import Any

from certify.jsonsafe import finite
from certify.suite import SuiteRecord
from certify.suites.explain.settings import ExplainSettings
from certify.view import (
    MAX_TABLE_ROWS,
    BarChart,
    BarGroup,
    Panel,
    Table,
    as_dict,
    clip,
    dicts,
    drawable,
    fmt,
    get,
    pair,
)

ROLES = ("candidate", "baseline")


def _pct(value: Any) -> str:
    v = finite(value)
    return "n/a" if v is None else f"{v:.1%}"


def _in_pct(value: Any) -> float | None:
    v = finite(value)
    return None if v is None else v * 100


def _pct_ci(value: Any, ci: Any) -> str:
    lo, hi = pair(ci)
    return _pct(value) + (f" [{_pct(lo)}, {_pct(hi)}]" if lo is not None and hi is not None else "")


def _signed_ci(value: Any, ci: Any) -> str:
    v = finite(value)
    if v is None:
        return "—"
    lo, hi = pair(ci)
    text = f"{v * 100:+.1f} pp"
    return text + (f" [{lo * 100:+.1f}, {hi * 100:+.1f}]" if lo is not None and hi is not None
                   else "")


def _flags(f: dict[str, Any]) -> str:
    return ", ".join(t for t, on in (("shifted", f.get("shifted")),
                                     ("protected", f.get("protected"))) if on)


def _order(feats: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ranked by the larger of the two shares, largest first."""
    def key(f: dict[str, Any]) -> tuple[float, str]:
        shares = [finite(get(f, role, "share")) or 0.0 for role in ROLES]
        return (-max(shares), str(f.get("name", "")))
    return sorted(feats, key=key)


def _attribution_panel(data: dict[str, Any]) -> Panel | None:
    feats = _order(dicts(data.get("features")))
    if not feats:
        return None
    roles = [r for r in ROLES if any(isinstance(f.get(r), dict) for f in feats)]
    protected_fail = finite(get(data, "levels", "protected_use", "fail"))
    groups = [BarGroup(clip(f.get("name", "?"), 40),
                       [_in_pct(get(f, role, "share")) for role in roles], flag=_flags(f),
                       limit=(protected_fail * 100 if f.get("protected")
                              and protected_fail is not None else None))
              for f in feats]
    chart = drawable(BarChart(
        groups, title="Share of the total attribution per feature (mean |SHAP|)",
        series=roles, axis_label="share of the model's total attribution (%)",
        limit_label="protected_use fail level", max_groups=40))
    headers = ["feature", *[f"{r} share [CI]" for r in roles]]
    has_shift = any(f.get("shift") is not None for f in feats)
    if has_shift:
        headers.append("shift, candidate − baseline [CI]")
    headers += [*[f"{r} mean |SHAP|" for r in roles], "flags"]
    rows = []
    for f in feats[:MAX_TABLE_ROWS]:
        row = [clip(f.get("name", "?"), 60),
               *[_pct_ci(get(f, r, "share"), get(f, r, "share_ci")) for r in roles]]
        if has_shift:
            row.append(_signed_ci(f.get("shift"), f.get("shift_ci")))
        rows.append([*row, *[fmt(get(f, r, "importance")) for r in roles], _flags(f)])
    shift_warn = finite(get(data, "levels", "attribution_shift", "warn"))
    items: list[tuple[str, Any]] = [
        ("output explained", clip(data.get("output", "?"), 200)),
        ("sample", f"{fmt(data.get('sample_size'))} evaluation rows (stratified by the target), "
                   f"background {fmt(data.get('background_rows'))} reference rows, seed "
                   f"{fmt(data.get('seed'))}")]
    for role, m in as_dict(data.get("models")).items():
        if isinstance(m, dict):
            items.append((f"{role} explainer", clip(f"{m.get('explainer', '?')}: "
                                                    f"{m.get('reason', '')}", 400)))
    rank = as_dict(data.get("rank"))
    if rank:
        items.append(("ranking agreement",
                      f"Kendall's tau-b {fmt(rank.get('kendall'), 3)}; top "
                      f"{fmt(rank.get('k'))} overlap {_pct(rank.get('top_k'))} (judged: "
                      f"{clip(data.get('rank_metric', 'kendall'), 20)})"))
    return Panel(
        "Attribution: candidate vs baseline" if len(roles) > 1 else "Attribution: candidate",
        chart=chart, items=items,
        table=Table(headers, rows, numeric=frozenset(range(1, len(headers) - 1)),
                    row_flags=[_flags(f) for f in feats[:MAX_TABLE_ROWS]],
                    caption=f"Intervals: {_pct(data.get('confidence'))} bootstrap over the "
                            "explained rows"),
        note=("Marked ▲ shifted: a feature whose share moved more than the attribution_shift "
              "warn level" + (f" ({_pct(shift_warn)})" if shift_warn is not None else "")
              + "; ▲ protected: a protected attribute (the red tick is the protected_use fail "
              "level)."))


def _top(entry: Any) -> str:
    top = get(entry, "top", default=[])
    parts = [f"{clip(get(t, 0, default='?'), 30)} {fmt(get(t, 1), 3)}" for t in top
             if isinstance(t, list)] if isinstance(top, list) else []
    return "; ".join(parts)


def _disagreeing_panel(data: dict[str, Any]) -> Panel | None:
    rows = dicts(data.get("disagreeing"))
    if not rows:
        return None
    table_rows = []
    for r in rows[:MAX_TABLE_ROWS]:
        values = as_dict(r.get("values"))
        shown = ", ".join(f"{clip(k, 30)}={clip(v, 30)}" for k, v in values.items())
        table_rows.append([fmt(r.get("row")), clip(shown, 500),
                           f"{fmt(get(r, 'candidate', 'output'), 3)} "
                           f"(from {fmt(get(r, 'candidate', 'expected'), 3)})",
                           _top(r.get("candidate")),
                           f"{fmt(get(r, 'baseline', 'output'), 3)} "
                           f"(from {fmt(get(r, 'baseline', 'expected'), 3)})",
                           _top(r.get("baseline")), fmt(r.get("gap"), 3)])
    return Panel(
        "Rows where the two explanations disagree most",
        table=Table(["evaluation row", "values", "candidate output", "candidate's largest "
                     "contributions", "baseline output", "baseline's largest contributions",
                     "Σ |difference|"], table_rows, numeric=frozenset({0, 6})),
        note="Each model's output is its expected value (over the background) plus the "
             "contributions of the row's features; shown are the largest of each. Values of "
             "sensitive columns are the run's keyed pseudonyms, never the raw values.")


def _models_panel(data: dict[str, Any]) -> Panel | None:
    models = as_dict(data.get("models"))
    rows, items = [], []
    for role, m in models.items():
        if not isinstance(m, dict):
            continue
        add = as_dict(m.get("additivity"))
        rows.append([str(role), clip(m.get("explainer", "?"), 20),
                     clip(m.get("estimator", "?"), 60),
                     f"{fmt(m.get('explained'))} / {fmt(m.get('rows'))}",
                     fmt(add.get("error"), 3), fmt(m.get("stability"), 3),
                     fmt(m.get("queries")), f"{fmt(m.get('elapsed_s'), 3)} s"])
        items.append((f"{role}: SHAP", clip(m.get("library", "?"), 200)))
        errors = m.get("errors")
        if isinstance(errors, list) and errors:
            items.append((f"{role}: problem", clip(errors[0], 300)))
    if not rows:
        return None
    items.append(("executor", f"{clip(data.get('executor', '?'), 20)}, "
                              f"{fmt(data.get('workers'))} worker(s), "
                              f"{fmt(data.get('shards'))} shard(s) per model"))
    notes = data.get("notes")
    if isinstance(notes, list):
        items += [("note", clip(n, 300)) for n in notes[:5]]
    return Panel(
        "How each model was explained",
        table=Table(["model", "explainer", "estimator", "rows explained", "additivity error",
                     "stability", "model queries", "time"], rows,
                    numeric=frozenset({4, 5, 6})),
        items=items,
        note="Additivity error: the largest gap between a row's SHAP values plus the expected "
             "value and the model's own output (probability units; regression: standard "
             "deviations of the output). Stability: median cosine similarity of a row's "
             "attributions with and without the declared noise (when enabled).")


def panels(record: SuiteRecord[ExplainSettings]) -> list[Panel]:
    """The suite's panels, from its recorded data (see :meth:`certify.suite.Suite.panels`)."""
    data = dict(record.data)
    out = [_attribution_panel(data), _disagreeing_panel(data), _models_panel(data)]
    return [p for p in out if p is not None]

