"""One generated input (:class:`Case`) and how its values are shown.

Generated markers (NaN, None, +/-inf) are nobody's value: they are shown as they are, also in
sensitive columns, and as strings in JSON (strict JSON has no NaN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: The name of the extra column of the ``extra_column`` input kind.
EXTRA_COLUMN = "__certify_extra__"
#: Rows of an input or an output shown in evidence and artifacts.
MAX_SHOWN_ROWS = 20


@dataclass
class Case:
    """One generated input: a frame plus what is unusual about it."""

    frame: pd.DataFrame
    kinds: frozenset[str] = frozenset()
    notes: list[str] = field(default_factory=list)
    distinct_rows: int | None = None  # the large batch repeats its first rows

    def describe(self, limit: int = 4) -> str:
        n = len(self.frame)
        size = f"{n} row{'s' if n != 1 else ''}"
        shown = self.notes[:limit] + ([f"+{len(self.notes) - limit} more"]
                                      if len(self.notes) > limit else [])
        return size + (": " + ", ".join(shown) if shown else " of valid values")


def py_value(value: Any) -> Any:
    """A numpy scalar as the Python value (NaN and infinities kept)."""
    return value.item() if isinstance(value, np.generic) else value


def json_value(value: Any) -> Any:
    """A cell or output as JSON: NaN, +/-inf as strings (strict JSON has none)."""
    value = py_value(value)
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def tile(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """``frame``'s rows repeated in order up to ``rows`` rows."""
    return frame.iloc[np.arange(rows) % len(frame)].reset_index(drop=True)


def is_marker(value: Any) -> bool:
    """NaN, None, +/-inf: generated markers, nobody's value."""
    value = py_value(value)
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def show(value: Any) -> str:
    """A value in a one-line message."""
    value = py_value(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.6g}"
    return repr(value)
