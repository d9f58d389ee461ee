"""What a sensitive number did, without the number: decile bands and changes in σ.

A sensitive column's values are written as keyed pseudonyms (:mod:`certify.masking`), which
hide *what changed* too: a monotonicity counterexample would read ``income <masked> ->
<masked>``. For a sensitive numeric column the suite shows, from the reference data:

* the **decile band** a value lies in (``p40–p50``; ``p0`` or ``p100`` at the reference's
  minimum or maximum; ``below the reference range``), and
* a **change** between two values as its direction and size in standard deviations of the
  reference (``+0.412 σ``), with as many digits as make a small perturbation visible.

Never the value, never a percentage change: a relative change together with the change in σ
would give the value back (a = Δ / (r - 1)), and never a hash of the value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from certify.suites.edge_cases.cases import is_marker, py_value, show
from certify.view import fmt

#: Deciles: the band a sensitive value is shown in.
QUANTILES = 10


def _number(value: Any) -> float | None:
    value = py_value(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class Bands:
    """Decile edges and spread of one sensitive numeric column of the reference data."""

    def __init__(self, reference: pd.Series) -> None:
        values = pd.to_numeric(reference, errors="coerce").astype(float)
        values = values[np.isfinite(values)]
        self.sigma = float(values.std(ddof=0)) if len(values) > 1 else 0.0
        self.edges = (np.quantile(values.to_numpy(), np.linspace(0, 1, QUANTILES + 1))
                      if len(values) else np.zeros(0))

    def band(self, value: Any) -> str:
        """The decile band of ``value`` (markers such as NaN are shown as they are)."""
        if is_marker(value):
            return show(value)
        v = _number(value)
        if v is None:
            return "not a number"
        e = self.edges
        if not len(e):
            return "no reference values"
        if v < e[0]:
            return "below the reference range"
        if v > e[-1]:
            return "above the reference range"
        step = 100 // QUANTILES
        lo, hi = int(np.searchsorted(e, v, "left")), int(np.searchsorted(e, v, "right"))
        if hi > lo:  # on one or more edges (ties in the data)
            return f"p{step * lo}" if hi - 1 == lo else f"p{step * lo}–p{step * (hi - 1)}"
        return f"p{step * (lo - 1)}–p{step * lo}"

    def sigmas(self, a: Any, b: Any) -> float | None:
        """``b - a`` in standard deviations of the reference (None: not two finite numbers or
        no spread)."""
        x, y = _number(a), _number(b)
        if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
            return None
        if self.sigma <= 0:
            return None
        return (y - x) / self.sigma

    def shift(self, a: Any, b: Any) -> str:
        """``+0.412 σ``: the direction and size of the change from ``a`` to ``b``."""
        z = self.sigmas(a, b)
        if z is None:
            return "unchanged" if _same(a, b) else "changed"
        return "unchanged" if z == 0 else f"{signed(z)} σ"

    def change(self, a: Any, b: Any) -> str:
        """``+0.412 σ (p40–p50 → p50–p60)``: the change and the bands it moved between."""
        ba, bb = self.band(a), self.band(b)
        where = f"both {ba}" if ba == bb else f"{ba} → {bb}"
        return f"{self.shift(a, b)} ({where})"


def _same(a: Any, b: Any) -> bool:
    a, b = py_value(a), py_value(b)
    return a == b or (a != a and b != b)


def signed(value: float, digits: int = 3) -> str:
    """``+0.412``, ``-1.23e-06``: a signed number with ``digits`` significant digits."""
    return ("+" if value > 0 else "-" if value < 0 else "") + fmt(abs(value), digits)


def column_bands(reference: pd.DataFrame, columns: Iterable[str]) -> dict[str, Bands]:
    """Bands of the numeric ``columns`` of ``reference`` (others have none: a category is
    shown by its pseudonym, which still tells equal from different)."""
    out: dict[str, Bands] = {}
    for column in columns:
        if column in reference.columns and pd.api.types.is_numeric_dtype(reference[column]) \
                and not pd.api.types.is_bool_dtype(reference[column]):
            out[column] = Bands(reference[column])
    return out


def precise(value: Any, diff: float | None, minimum: int = 4) -> str:
    """``value`` with enough significant digits that a difference of ``diff`` shows (at least
    ``minimum``, at most 17); anything else as :func:`~certify.suites.edge_cases.cases.show`
    shows it."""
    v = _number(value)
    if v is None:
        return show(value)
    if not math.isfinite(v):
        return show(v)
    if diff is None or not math.isfinite(diff) or diff <= 0:
        return fmt(v, minimum)
    magnitude = max(abs(v), diff)
    digits = min(max(math.ceil(math.log10(magnitude) - math.log10(diff)) + 2, minimum), 17)
    if digits <= minimum:
        return fmt(v, minimum)
    return f"{v:.{digits}g}"


def pair(a: Any, b: Any, minimum: int = 4) -> tuple[str, str]:
    """Two values as texts that differ when the values do (``60 → 60.0004``, not ``60 → 60``)."""
    x, y = _number(a), _number(b)
    if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
        return show(a), show(b)
    diff = abs(x - y)
    return precise(x, diff, minimum), precise(y, diff, minimum)


def distinct(values: list[Any], minimum: int = 6) -> list[str]:
    """``values`` as texts (at least ``minimum`` significant digits, as in a reason), with
    enough digits that neighbouring numbers read apart."""
    numbers = sorted({v for v in (_number(x) for x in values) if v is not None and math.isfinite(v)})
    gaps = [b - a for a, b in zip(numbers, numbers[1:], strict=False) if b > a]
    gap = min(gaps) if gaps else None
    return [precise(v, gap, minimum) for v in values]
