"""The adversarial suite's pictures on the audit page, drawn from its recorded data.

* Robust accuracy vs epsilon: one row per epsilon and model, a marker at the robust accuracy and
  a whisker over its Wilson 95% interval over the completed rows (the number of rows is in the
  label), candidate and baseline in their own colour and marker.
* Minimal perturbation (black-box attacks): the median per model with a whisker from the 10th to
  the 90th percentile, on a log axis (perturbations span decades); the policy's epsilon is a
  dashed line whose label sits above the rows, so it never prints over them.
* Example rows: each changed feature with its values at the data's precision (more digits when
  needed to show the move), the change and its size in standard deviations; a sensitive column
  shows only pseudonyms, the change in standard deviations and the reference decile band.
"""

from __future__ import annotations

from typing import Any

from certify.jsonsafe import finite
from certify.suite import SuiteRecord
from certify.suites.adversarial.settings import AdversarialSettings
from certify.view import (
    Interval,
    IntervalChart,
    Panel,
    RefLine,
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
QUANTILES = ("p10", "p25", "p50", "p75", "p90")
#: Most epsilons of the curve drawn (two rows each).
MAX_EPSILONS = 12


def panels(record: SuiteRecord[Any]) -> list[Panel]:
    """The suite's panels, from its recorded data (see :meth:`certify.suite.Suite.panels`)."""
    data = dict(record.data)
    eps = finite(data.get("epsilon"))
    out = [_robust_panel(record, data, eps)]
    perturbation = _perturbation_panel(data, eps)
    if perturbation is not None:
        out.append(perturbation)
    examples = _examples_panel(data)
    if examples is not None:
        out.append(examples)
    return out


def _robust_panel(record: SuiteRecord[Any], data: dict[str, Any], eps: float | None) -> Panel:
    norm = data.get("norm")
    curve = as_dict(data.get("curve"))
    epsilons = curve.get("epsilons")
    grid: list[Any] = epsilons if isinstance(epsilons, list) else []
    rows: list[Interval] = []
    for k in _shown(grid, eps):
        e = grid[k]
        for s, role in enumerate(ROLES):
            value = finite(get(curve, role, k))
            if value is None:
                continue
            lo, hi = pair(get(curve, f"{role}_ci", k))
            n = get(curve, "rows", role)
            policy = eps is not None and finite(e) is not None and abs(float(e) - eps) <= 1e-12
            rows.append(Interval(f"ε = {fmt(e)}{' (policy)' if policy else ''}, {role}, "
                                 f"n = {fmt(n)}", value, lo, hi, series=s))
    limits = record.settings.limits() if isinstance(record.settings, AdversarialSettings) else {}
    limit = finite(limits["robust_accuracy"].fail) if "robust_accuracy" in limits else None
    interval = curve.get("interval") if isinstance(curve.get("interval"), str) else "95% interval"
    chart = drawable(IntervalChart(
        rows, title="Robust accuracy vs epsilon", series=ROLES,
        refs=[RefLine(limit, f"fail below {fmt(limit)}", alert=True)] if limit is not None else [],
        axis_label=f"robust accuracy ({interval})"))
    metrics, attacks = as_dict(data.get("metrics")), as_dict(data.get("attacks"))
    table_rows = []
    for role, m in metrics.items():
        if not isinstance(m, dict):
            continue
        a = as_dict(attacks.get(role))
        lo, hi = pair(m.get("robust_accuracy_ci"))
        ci = f" [{fmt(lo, 3)}, {fmt(hi, 3)}]" if lo is not None and hi is not None else ""
        table_rows.append([str(role), f"{a.get('attack', '?')} ({a.get('kind', '?')})",
                           fmt(m.get("clean_accuracy")), fmt(m.get("robust_accuracy")) + ci,
                           fmt(m.get("attack_success_rate")),
                           fmt(m.get("completed")), fmt(m.get("attacked"))])
    items = [("epsilon", f"{fmt(eps)} (standard deviations per feature, norm {norm})"),
             ("sample", f"{fmt(data.get('sample_size'))} rows, seed {fmt(data.get('seed'))}")]
    feats = data.get("features")
    if isinstance(feats, list):
        items.append(("perturbed features", clip(", ".join(str(f) for f in feats), 400)))
    for role, a in attacks.items():
        if isinstance(a, dict) and a.get("reason"):
            items.append((f"{role} attack", clip(a.get("reason"), 300)))
    items += _time_items(data)
    return Panel(
        "Robust accuracy", chart=chart,
        table=Table(["model", "attack", "clean accuracy", f"robust accuracy [{interval}]",
                     "attack success rate", "rows completed",
                     "of them attacked (correct before the attack)"], table_rows,
                    numeric=frozenset({2, 3, 4, 5, 6})) if table_rows else None,
        items=items,
        note="Robust accuracy: share of the completed rows still classified correctly under "
             "attack. The interval is over those rows; candidate and baseline are attacked on "
             "the same rows, so their intervals overlap more than their difference varies.")


def _shown(grid: list[Any], eps: float | None) -> list[int]:
    """The epsilons drawn: all of a usual curve; of a long one, ``MAX_EPSILONS`` evenly spread,
    the policy's among them."""
    if len(grid) <= MAX_EPSILONS:
        return list(range(len(grid)))
    picked = {round(i * (len(grid) - 1) / (MAX_EPSILONS - 1)) for i in range(MAX_EPSILONS)}
    near = [k for k, e in enumerate(grid) if eps is not None and finite(e) is not None
            and abs(float(e) - eps) <= 1e-12]
    return sorted(picked | set(near[:1]))


def _time_items(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Wall time, budget and summed worker time, each said for what it is."""
    items: list[tuple[str, str]] = []
    timing = as_dict(data.get("timing"))
    wall, budget = finite(timing.get("wall_s")), finite(timing.get("max_seconds"))
    if wall is not None:
        ray = timing.get("executor") == "ray"
        items.append(("wall time", f"{fmt(wall)} s from the first probe to the last re-scored row "
                       f"(both models). The budget max_seconds = {fmt(budget)} s is one deadline for "
                       "both attacks, checked between model calls: a call already running "
                       "finishes first" + (", and Ray tasks get up to 60 s to stop" if ray else "")
                       + "; an attack that hits it is errored."))
    worker = as_dict(timing.get("worker_s"))
    spent = {r: finite(v) for r, v in worker.items() if finite(v) is not None}
    if spent:
        parts = " + ".join(f"{r} {fmt(v)} s" for r, v in spent.items())
        items.append(("worker time", f"{fmt(sum(v for v in spent.values() if v is not None))} s "
                       f"({parts}): time spent inside the attack tasks, summed over shards; with "
                       f"{fmt(timing.get('workers'))} worker(s) at once it can exceed the wall time."))
    for role, b in as_dict(data.get("budget")).items():
        if isinstance(b, dict):
            items.append((f"{role} queries", f"{fmt(b.get('queries_total'))} model queries (rows "
                          f"scored), budget {b.get('status', '?')}"
                          + (f": {clip(b.get('reason'), 300)}" if b.get("reason") else "")))
    return items


def _perturbation_panel(data: dict[str, Any], eps: float | None) -> Panel | None:
    pert = as_dict(data.get("perturbation"))
    roles = [r for r in ROLES if isinstance(get(pert, r, "quantiles"), dict)]
    if not roles:
        return None
    rows, table = [], []
    for role in roles:
        q = as_dict(get(pert, role, "quantiles"))
        n, missing = get(pert, role, "rows"), get(pert, role, "not_found")
        rows.append(Interval(f"{role}, n = {fmt(n)}",
                             finite(q.get("p50")), finite(q.get("p10")), finite(q.get("p90")),
                             series=ROLES.index(role)))
        table.append([role, *(fmt(q.get(k), 3) if finite(q.get(k)) is not None else "none found"
                              for k in QUANTILES), fmt(missing), fmt(n)])
    norm = data.get("norm")
    chart = drawable(IntervalChart(
        rows, title="Minimal adversarial perturbation", series=ROLES, log=True,
        refs=[RefLine(eps, f"policy ε = {fmt(eps)}", alert=True)] if eps is not None else [],
        axis_label=f"perturbation (std units, L{norm}); marker: median, whisker: p10 to p90"))
    return Panel(
        "Minimal perturbation (black-box attacks)", chart=chart,
        table=Table(["model", *QUANTILES, "none found", "rows"], table, numeric=frozenset(range(1, 8))),
        note="Quantiles of the smallest perturbation found that flips a correctly classified row "
             "(rows where none was found count above every quantile). A row flips at the policy's "
             "epsilon when its perturbation is below the dashed line.")


def _change(col: str, v: Any) -> str:
    """One changed feature, in words (see the module docstring)."""
    sigma = finite(get(v, "std_units"))
    size = f"{sigma:+.2g} σ" if sigma is not None else ""
    band = as_dict(get(v, "band"))
    if band:
        moved = (f"within {band.get('from')}" if band.get("from") == band.get("to")
                 else f"{band.get('from')} → {band.get('to')}")
        return (f"{col}: {clip(get(v, 'from'), 40)} → {clip(get(v, 'to'), 40)} "
                f"({', '.join(x for x in (size, 'reference decile ' + clip(moved, 40)) if x)})")
    a, b = finite(get(v, "from")), finite(get(v, "to"))
    if a is None or b is None:
        return f"{col}: {clip(get(v, 'from'), 40)} → {clip(get(v, 'to'), 40)}" + \
            (f" ({size})" if size else "")
    places = finite(get(v, "decimals"))
    k = int(min(max(places, 0), 12)) if places is not None else 0
    while k < 12 and f"{a:.{k}f}" == f"{b:.{k}f}":
        k += 1  # the data's precision hides this move: show the digits that reveal it
    return f"{col}: {a:.{k}f} → {b:.{k}f} ({b - a:+.{k}f}" + (f", {size})" if size else ")")


def _examples_panel(data: dict[str, Any]) -> Panel | None:
    examples = dicts(data.get("examples"))
    if not examples:
        return None
    rows = []
    for e in examples[:10]:
        changed = as_dict(e.get("changed"))
        moves = "; ".join(_change(str(c), v) for c, v in list(changed.items())[:8])
        rows.append([clip(e.get("row"), 40), clip(e.get("true_label"), 40),
                     f"{clip(e.get('original_prediction'), 40)} → "
                     f"{clip(e.get('adversarial_prediction'), 40)}",
                     fmt(e.get("perturbation")), clip(moves, 700)])
    return Panel("Example adversarial rows (candidate)", table=Table(
        ["row", "true label", "prediction: original → adversarial", "perturbation (std units)",
         "changed features"], rows, numeric=frozenset({3}),
        note=(f"{len(examples) - 10} more in the artifacts. " if len(examples) > 10 else "")
        + "Sensitive columns show pseudonyms, the change in standard deviations and the "
          "reference decile band, never a value."))
