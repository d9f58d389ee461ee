"""The adversarial suite's pictures on the audit page, drawn from its recorded data."""

from __future__ import annotations

from typing import Any

from certify.jsonsafe import finite
from certify.suite import SuiteRecord
from certify.view import (
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
    fmt,
    get,
)


def panels(record: SuiteRecord[Any]) -> list[Panel]:
    """The suite's panels, from its recorded data (see :meth:`certify.suite.Suite.panels`)."""
    data = dict(record.data)
    panels: list[Panel] = []
    eps = finite(data.get("epsilon"))
    norm = data.get("norm")
    curve = as_dict(data.get("curve"))
    grid = curve.get("epsilons") if isinstance(curve.get("epsilons"), list) else []
    series = []
    for role in ("candidate", "baseline"):
        ys = curve.get(role)
        if isinstance(ys, list) and grid:
            series.append(Series(role, list(grid), list(ys)))
    chart = drawable(LineChart(
        series, title="Robust accuracy vs epsilon", x_label=f"epsilon (std units, L{norm})"
        if norm else "epsilon", y_label="robust accuracy",
        vlines=[RefLine(eps, f"policy ε = {fmt(eps)}", alert=True)] if eps is not None else [],
        y_zero=True)) if series else None
    metrics = as_dict(data.get("metrics"))
    attacks = as_dict(data.get("attacks"))
    mrows = []
    for role, m in metrics.items():
        if not isinstance(m, dict):
            continue
        a = as_dict(attacks.get(role))
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
    budget = as_dict(data.get("budget"))
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
    pert = as_dict(data.get("perturbation"))
    qnames = ["p10", "p25", "p50", "p75", "p90"]
    roles = [r for r, p in pert.items() if isinstance(p, dict) and isinstance(p.get("quantiles"), dict)]
    if roles:
        groups = [BarGroup(q, [finite(get(pert, r, "quantiles", q)) for r in roles]) for q in qnames]
        pchart = drawable(BarChart(groups, title="Minimal adversarial perturbation",
                                  series=roles, axis_label="perturbation (std units)",
                                  refs=[RefLine(eps, "policy ε", alert=True)] if eps is not None else []))
        not_found = ", ".join(f"{r}: {fmt(get(pert, r, 'not_found'))}" for r in roles)
        panels.append(Panel("Minimal perturbation (black-box attacks)", chart=pchart,
                            note=f"Quantiles of the smallest perturbation that flips a correctly "
                                 f"classified row; rows where none was found: {not_found}."))
    examples = dicts(data.get("examples"))
    if examples:
        rows = []
        for e in examples[:10]:
            changed = as_dict(e.get("changed"))
            moves = "; ".join(
                f"{c}: {clip(get(v, 'from'), 40)} → {clip(get(v, 'to'), 40)}"
                + (f" ({fmt(get(v, 'std_units'), 3)} σ)" if finite(get(v, 'std_units')) is not None
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
