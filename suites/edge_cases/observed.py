"""A counterexample's observed output as fields, for the audit page.

What the model answered is recorded as JSON (``observed`` in the counterexample: the outputs of
one call, or of two calls to compare, and the figures the invariant judged). The page shows it
as **facts** (the model's answer, its error, the largest difference) and a small **table of the
rows that matter**: the row, what came out, what was expected, the difference, the rows that
break the invariant first and highlighted. Numbers get as many digits as make the difference
they are shown for visible. Read defensively: an old or edited report may lack keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from certify.jsonsafe import finite
from certify.suites.edge_cases.bands import precise, signed
from certify.suites.edge_cases.settings import EdgeCasesSettings
from certify.view import Table, as_dict, clip, fmt

#: Rows of the observed-output table (the rest are in the counterexample file).
MAX_ROWS = 8

_ANSWERS = {"predicted": "predicted", "rejected": "rejected (a clean refusal)",
            "crashed": "crashed", "bad_output": "returned a malformed output"}
_FACTS = {"outcome": "the model's answer", "error": "error", "method": "call",
          "died": "cause", "found_by": "found by", "deadline_s": "deadline",
          "max_abs_diff": "largest difference", "change": "the step that breaks it"}
#: Keys shown in the table, not as facts.
_TABLED = {"predictions", "probabilities", "scores", "step", "values", "row", "first",
           "second", "alone", "in_batch", "batch", "large", "original", "moved", "expected"}


@dataclass
class Shown:
    """The observed output of one counterexample as the page shows it."""

    facts: list[tuple[str, str]] = field(default_factory=list)
    table: Table | None = None


def cell(value: Any, diff: float | None = None) -> str:
    """One recorded value as text: numbers with enough digits for ``diff`` to show, a row of
    probabilities as a list, text (labels, ``NaN``) as it is."""
    if isinstance(value, list):
        return ", ".join(cell(v, diff) for v in value[:12]) + (" …" if len(value) > 12 else "")
    if value is None:
        return "None"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return precise(value, diff)
    if isinstance(value, dict):
        return f"{len(value)} fields (in the counterexample file)"
    return clip(str(value), 80)


def plain(value: Any, limit: int = 300) -> str:
    """A recorded scalar as text, cut to ``limit``; a structure only by its size (never JSON)."""
    if isinstance(value, dict | list):
        return f"{len(value)} values (in report.json)"
    return clip("—" if value is None else str(value), limit)


def difference(a: Any, b: Any) -> float | None:
    """Largest absolute difference of two recorded outputs (a row of probabilities or one
    prediction): ``inf`` when labels differ or one side is not a finite number, ``None`` when
    either is missing."""
    if a is None or b is None:
        return None
    xs, ys = (a if isinstance(a, list) else [a]), (b if isinstance(b, list) else [b])
    if len(xs) != len(ys):
        return math.inf
    worst = 0.0
    for x, y in zip(xs, ys, strict=True):
        fx, fy = finite(x), finite(y)
        if fx is not None and fy is not None:
            worst = max(worst, abs(fx - fy))
        elif x != y:
            return math.inf
    return worst


def _diff_text(d: float | None) -> str:
    if d is None:
        return "—"
    if math.isinf(d):
        return "differs (label or not finite)"
    return fmt(d, 3)


def outputs(call: Any) -> list[Any]:
    """The per-row outputs of a recorded call: rows of probabilities, else the predictions."""
    c = as_dict(call)
    for key in ("probabilities", "predictions"):
        if isinstance(c.get(key), list) and c[key]:
            return list(c[key])
    return []


def _answer(call: Any) -> str:
    c = as_dict(call)
    text = _ANSWERS.get(str(c.get("outcome")), plain(c.get("outcome", "?"), 60))
    return text + (f": {plain(c['error'])}" if c.get("error") else "")


def _facts(obs: dict[str, Any]) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []
    for key, value in obs.items():
        if key in _TABLED:
            continue
        label = _FACTS.get(key, key.replace("_", " "))
        if key == "outcome":
            facts.append((label, _answer(obs)))
        elif key == "error" and "outcome" in obs:
            continue  # shown with the answer
        elif key == "deadline_s":
            facts.append((label, f"{fmt(value)} s" if finite(value) is not None else plain(value)))
        elif key == "found_by":
            facts.append((label, plain(value, 120).split("::", 1)[-1]))
        elif key == "max_abs_diff":
            facts.append((label, _diff_text(finite(value) if value != "Infinity" else math.inf)))
        elif isinstance(value, dict | list):
            facts.append((label, f"{len(value)} values (in the counterexample file)"))
        else:
            facts.append((label, cell(value)))
    for key, name in (("first", "first call"), ("second", "second call"), ("alone", "row alone"),
                      ("in_batch", "in its batch"), ("batch", "the batch"),
                      ("large", "the large batch"), ("original", "original order"),
                      ("moved", "after the move")):
        if key in obs and as_dict(obs[key]).get("outcome") != "predicted":
            facts.append((name, _answer(obs[key])))
    return facts


def _rows_that_matter(diffs: list[float | None]) -> tuple[list[int], str]:
    """Indices to show (the largest differences, at most MAX_ROWS, in row order) and a note."""
    order = sorted(range(len(diffs)), key=lambda i: -(diffs[i] or 0.0))
    keep = sorted(order[:MAX_ROWS])
    note = ""
    if len(diffs) > MAX_ROWS:
        note = (f"{len(diffs)} rows compared; the {MAX_ROWS} with the largest differences shown "
                "(all are in the counterexample file).")
    return keep, note


def _bad(d: float | None, tolerance: float | None) -> bool:
    return d is not None and (math.isinf(d) or (tolerance is not None and d > tolerance))


def paired(got: list[Any], want: list[Any], *, labels: list[str], caption: str,
           heads: tuple[str, str], tolerance: float | None) -> Table | None:
    """Row by row: what came out against what was expected, and their difference."""
    n = min(len(got), len(want), len(labels))
    if n == 0:
        return None
    if any(isinstance(v, list) for v in got[:n]):
        caption += " (class probabilities, in the model's order of classes)"
    diffs = [difference(got[i], want[i]) for i in range(n)]
    keep, note = _rows_that_matter(diffs)
    rows = []
    for i in keep:
        d = diffs[i] if diffs[i] is not None and not math.isinf(diffs[i] or 0.0) else None
        rows.append([labels[i], cell(got[i], d), cell(want[i], d), _diff_text(diffs[i])])
    return Table(["row", *heads, "difference"], rows, caption=caption, note=note,
                 numeric=frozenset({3}),
                 row_flags=["flag" if _bad(diffs[i], tolerance) else "" for i in keep])


def _single(obs: dict[str, Any], name: str, s: EdgeCasesSettings, n_rows: Any) -> Table | None:
    """The outputs of one call, with what is wrong with each row (probabilities out of [0, 1]
    or not summing to 1, values that are not finite)."""
    outs = outputs(obs)
    if not outs:
        return None
    proba = isinstance(obs.get("probabilities"), list) and bool(obs.get("probabilities"))
    rows: list[tuple[bool, int, list[str]]] = []
    for i, out in enumerate(outs):
        values = out if isinstance(out, list) else [out]
        numbers = [finite(v) for v in values]
        if proba and name in ("proba_valid", "finite"):
            if any(v is None for v in numbers):
                rows.append((True, i, [str(i), cell(out), "finite, in [0, 1], sum 1",
                                       "not finite"]))
                continue
            total = sum(v for v in numbers if v is not None)
            off = total - 1.0
            outside = any(v is not None and not -s.prob_tolerance <= v <= 1 + s.prob_tolerance
                          for v in numbers)
            bad = outside or abs(off) > s.prob_tolerance
            shown = cell(out, abs(off) or None)
            rows.append((bad, i, [str(i), shown, "each in [0, 1], sum 1",
                                  ("outside [0, 1]; " if outside else "")
                                  + f"sum − 1 = {signed(off) if off else '0'}"]))
        elif name == "finite":
            bad = any(v is None for v in numbers)
            rows.append((bad, i, [str(i), cell(out), "finite", "not finite" if bad else "—"]))
        else:
            rows.append((False, i, [str(i), cell(out)]))
    rows.sort(key=lambda r: (not r[0], r[1]))
    shown_rows = sorted(rows[:MAX_ROWS], key=lambda r: r[1])
    notes = []
    if isinstance(n_rows, int) and n_rows != len(outs):
        notes.append(f"{len(outs)} outputs recorded for an input of {n_rows} rows"
                     + (" (at most 20 are recorded)" if len(outs) >= 20 else ""))
    if len(outs) > MAX_ROWS:
        notes.append(f"{MAX_ROWS} of {len(outs)} rows shown, those that break the invariant "
                     "first (all are in the counterexample file)")
    heads = (["row", "probabilities" if proba else "prediction"]
             + (["expected", "what is wrong"] if name in ("proba_valid", "finite") else []))
    return Table(heads, [r[2] for r in shown_rows], caption="What the model returned",
                 note="; ".join(notes), row_flags=["flag" if r[0] else "" for r in shown_rows])


def _scan_values(obs: dict[str, Any], cx_input: dict[str, Any], param: str | None,
                 n: int) -> list[str]:
    """The scanned feature's value per row, as recorded for people (a sensitive number as its
    band), else from the input rows."""
    values = obs.get("values")
    if isinstance(values, list) and len(values) >= n:
        return [cell(v) for v in values[:n]]
    bands = as_dict(cx_input.get("bands")).get(param or "")
    if isinstance(bands, list) and len(bands) >= n:
        return [str(b) for b in bands[:n]]
    recorded = cx_input.get("rows")
    rows: list[Any] = recorded if isinstance(recorded, list) else []
    return [cell(as_dict(rows[i]).get(param or "")) if i < len(rows) else "—" for i in range(n)]


def _monotonic(obs: dict[str, Any], cx_input: dict[str, Any], param: str | None,
               s: EdgeCasesSettings) -> Table | None:
    scores = obs.get("scores")
    if not isinstance(scores, list) or not scores:
        return None
    direction = s.monotonic.get(param or "")
    recorded = obs.get("step")
    step: list[Any] = recorded if isinstance(recorded, list) else []
    values = _scan_values(obs, cx_input, param, len(scores))
    rows, flags = [], []
    for j, score in enumerate(scores):
        if j == 0:
            rows.append([str(j), values[j], cell(score), "—", "—"])
            flags.append("")
            continue
        prev = scores[j - 1]
        d = difference(score, prev)
        a, b = finite(prev), finite(score)
        delta = None if a is None or b is None else b - a
        want = {"increasing": "≥", "decreasing": "≤"}.get(str(direction), "")
        expected = f"{want} {cell(prev, d)}" if want else "—"
        rows.append([str(j), values[j], cell(score, d), expected,
                     "—" if delta is None else (signed(delta) if delta else "0")])
        flags.append("flag" if step[1:2] == [j] else "")
    sensitive = any("σ" in v for v in values) or param in as_dict(cx_input.get("bands"))
    caption = f"The score along the values of {param}" + (
        " (a sensitive value: its decile band and its change in σ of the reference data, "
        "never the value)" if sensitive else "")
    return Table(["row", str(param), "score", f"expected ({direction or 'monotonic'})", "step"],
                 rows, caption=caption, numeric=frozenset({4}),
                 row_flags=flags)


def observed_view(check: str, observed: Any, cx_input: Any, settings: EdgeCasesSettings) -> Shown:
    """The facts and the table of rows that matter of one recorded counterexample."""
    obs = as_dict(observed)
    inp = as_dict(cx_input)
    name = check.split("::", 1)[-1].split("[", 1)[0]
    param = check.split("[", 1)[1].rstrip("]") if "[" in check else None
    shown = Shown(_facts(obs))
    n_in = len(inp["rows"]) if isinstance(inp.get("rows"), list) else 0
    tol = settings.determinism_tolerance if name == "deterministic" else \
        settings.noise.max_change if name == "noise_stability" and settings.noise else \
        settings.batch_tolerance
    if "first" in obs and "second" in obs:
        got, want = outputs(obs["second"]), outputs(obs["first"])
        shown.table = paired(got, want, labels=[str(i) for i in range(len(got))], tolerance=tol,
                             heads=("second call", "first call"),
                             caption="Two calls on the same input")
    elif "alone" in obs and "in_batch" in obs:
        row = obs.get("row")
        shown.table = paired(outputs(obs["alone"]), outputs(obs["in_batch"]), tolerance=tol,
                             labels=[cell(row)], heads=("scored alone", "in its batch"),
                             caption=f"Row {cell(row)} scored alone and in its batch")
    elif "batch" in obs and "large" in obs:
        batch, large = outputs(obs["batch"]), outputs(obs["large"])
        want = [batch[i % len(batch)] for i in range(len(large))] if batch else []
        shown.table = paired(large, want, labels=[str(i) for i in range(len(large))],
                             tolerance=tol, heads=("in the large batch", "in the batch"),
                             caption="The batch repeated into a large batch")
    elif "moved" in obs and "expected" not in obs and name == "row_order":
        # an old report: the permutation is not recorded, so the rows cannot be paired
        shown.table = _single(as_dict(obs["moved"]), name, settings, inp.get("n_rows"))
    elif "moved" in obs:
        got = outputs(obs["moved"])
        want = outputs(obs.get("expected", obs.get("original")))
        shown.table = paired(got, want, labels=[str(i) for i in range(len(got))], tolerance=tol,
                             heads=("after the move", "expected (the same row before)"),
                             caption="Outputs after the move, row by row")
    elif "scores" in obs:
        shown.table = _monotonic(obs, inp, param, settings)
    elif name == "invariant" and outputs(obs):
        got = outputs(obs)
        values = _scan_values(obs, inp, param, min(len(got), n_in) or len(got))
        shown.table = paired(got, [got[0]] * len(got), tolerance=tol,
                             labels=[f"{i} ({param} {v})" for i, v in enumerate(values)],
                             heads=("output", "row 0's output"),
                             caption=f"Outputs as {param} changes (all else equal)")
    elif name == "noise_stability" and outputs(obs):
        got = outputs(obs)
        n = len(got) // 2
        shown.table = paired(got[n:2 * n], got[:n], tolerance=tol,
                             labels=[f"{n + i} (row {i} with noise)" for i in range(n)],
                             heads=("with noise", "clean"),
                             caption="Each row with and without the noise")
    else:
        shown.table = _single(obs, name, settings, inp.get("n_rows"))
    return shown
