"""Small helpers every layer shares: JSON-safe values and one-line error text.

* :func:`scalar` turns one value into plain JSON (numpy scalars to Python, NaN, infinities,
  ``pd.NA`` and ``pd.NaT`` to ``None``); :func:`json_safe` does it recursively. Strict JSON
  has no NaN, and a report must never carry one.
* :func:`finite` reads a number for display or comparison: a finite float, else ``None``.
* :func:`one_line` is the one line a user sees for an exception: a :class:`CertifyError`'s
  own diagnostics, else ``Type: first line of the message`` (bounded).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from certify.errors import CertifyError

#: Longest one-line error text kept in evidence (the full text is in the debug traceback).
ONE_LINE_LIMIT = 300


def _missing(value: Any) -> bool:
    """``pd.NA`` / ``pd.NaT`` without importing pandas when it is not loaded."""
    import sys

    pd = sys.modules.get("pandas")
    return pd is not None and (value is pd.NA or value is pd.NaT)


def scalar(value: Any) -> Any:
    """One value as plain JSON: numpy scalars unwrapped, non-finite floats and NA as ``None``."""
    if value is None or isinstance(value, str | bool | int):
        return value
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "shape", None) == ():
        value = item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if _missing(value):
        return None
    return value


def json_safe(value: Any) -> Any:
    """``value`` with every nested scalar made JSON-safe (see :func:`scalar`).

    Mappings keep their keys (as ``str``), lists, tuples and numpy arrays become lists.
    """
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    tolist = getattr(value, "tolist", None)
    if tolist is not None and getattr(value, "ndim", 0) > 0:
        return json_safe(tolist())
    return scalar(value)


def finite(value: Any) -> float | None:
    """``value`` as a finite float, or ``None``: bools, text, ``None``, NaN and infinities are
    not finite numbers (numpy numbers are)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def one_line(exc: BaseException, limit: int = ONE_LINE_LIMIT) -> str:
    """The one line a user sees for ``exc``."""
    if isinstance(exc, CertifyError):
        return exc.diagnostics()
    lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
    text = f"{type(exc).__name__}: {lines[0].strip()}" if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
