"""Reference vs new data, bounded, for the report's pictures: what each drift test compared.

Two shapes, both of a fixed size whatever the data:

* ``{"kind": "ecdf", "probs": [...], "reference": [...], "evaluation": [...]}``: the values at
  the quantiles :data:`PROBS` of each side (a numeric column tested with KS, the candidate's
  scores, a regression target); drawn as two empirical distribution functions, whose
  largest vertical gap is the KS distance.
* ``{"kind": "shares", "bins": [...], "reference": [...], "evaluation": [...],
  "ordered": bool}``: each side's share of its non-missing values per category, range or
  bucket group; at most :data:`MAX_BINS` bins (the categories that matter most, the rest
  together; adjacent ranges merged).

For a sensitive column only what the baseline stores is used: its coarse ranges (merged,
never split) or its bucket groups, never a raw value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from certify.jsonsafe import scalar

#: Quantiles drawn for a numeric distribution.
PROBS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95,
                            0.99)
#: Most bins of a categorical distribution.
MAX_BINS = 12


def ecdf(reference: np.ndarray, values: np.ndarray, sample: int = 10_000
          ) -> dict[str, Any] | None:
    """Both sides' values at :data:`PROBS` (finite values only; of a systematic sample of about
    ``sample`` values of a larger side), or None when a side is empty."""
    ref = reference[np.isfinite(reference)]
    new = values[np.isfinite(values)]
    ref = ref[::max(1, len(ref) // sample)]
    new = new[::max(1, len(new) // sample)]
    if not len(ref) or not len(new):
        return None
    return {"kind": "ecdf", "probs": list(PROBS),
            "reference": [scalar(float(v)) for v in np.quantile(ref, PROBS)],
            "evaluation": [scalar(float(v)) for v in np.quantile(new, PROBS)]}


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [round(c / total, 6) if total else 0.0 for c in counts]


def category_shares(ref_counts: dict[str, int], new_counts: dict[str, int]
                    ) -> dict[str, Any] | None:
    """Shares per category: those with the largest share on either side (at most
    ``MAX_BINS - 1``), and the rest as one bin."""
    keys = set(ref_counts) | set(new_counts)
    if not keys:
        return None
    rt, nt = sum(ref_counts.values()) or 1, sum(new_counts.values()) or 1

    def weight(k: str) -> float:
        return max(ref_counts.get(k, 0) / rt, new_counts.get(k, 0) / nt)

    ranked = sorted(keys, key=lambda k: (-weight(k), k))
    shown = ranked if len(ranked) <= MAX_BINS else ranked[:MAX_BINS - 1]
    rest = ranked[len(shown):]
    bins = list(shown)
    ref = [ref_counts.get(k, 0) for k in shown]
    new = [new_counts.get(k, 0) for k in shown]
    if rest:
        bins.append(f"{len(rest)} other categories")
        ref.append(sum(ref_counts.get(k, 0) for k in rest))
        new.append(sum(new_counts.get(k, 0) for k in rest))
    return {"kind": "shares", "bins": bins, "reference": [round(c / rt, 6) for c in ref],
            "evaluation": [round(c / nt, 6) for c in new], "ordered": False}


def range_shares(edges: list[float], ref_counts: list[int], new_counts: list[int]
                 ) -> dict[str, Any]:
    """Shares over the ranges ``(-inf, e0), [e0, e1), ..., [e_last, inf)``, adjacent ranges
    merged into at most :data:`MAX_BINS` (coarser, never finer, than what is stored)."""
    bounds = [-np.inf, *edges, np.inf]
    n = len(bounds) - 1
    chunks = np.array_split(np.arange(n), min(n, MAX_BINS))
    bins, ref, new = [], [], []
    for chunk in chunks:
        lo, hi = bounds[int(chunk[0])], bounds[int(chunk[-1]) + 1]
        bins.append(f"[{_edge(lo)}, {_edge(hi)})")
        ref.append(int(sum(ref_counts[i] for i in chunk)))
        new.append(int(sum(new_counts[i] for i in chunk)))
    return {"kind": "shares", "bins": bins, "reference": _shares(ref),
            "evaluation": _shares(new), "ordered": True}


def _edge(value: float) -> str:
    return "-inf" if value == -np.inf else "inf" if value == np.inf else f"{value:.2g}"
