"""The statistical tests of the drift detectors, on arrays and counts.

Two-sample Kolmogorov-Smirnov through alibi-detect's ``KSDrift``; the chi-squared contingency
test of alibi-detect's ``ChiSquareDrift``, from counts (``ChiSquareDrift`` needs the raw
reference rows, which the baseline never keeps); the multiple-testing corrections alibi-detect
offers (Bonferroni, Benjamini-Hochberg); and an unbiased MMD² permutation test with a Gaussian
kernel, in numpy (alibi-detect's ``MMDDrift`` needs TensorFlow, PyTorch or KeOps).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def ks_test(ref_sorted: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """``(KS distance, p-value)`` from alibi-detect's KSDrift (asymptotic two-sided test)."""
    from alibi_detect.cd import KSDrift

    detector = KSDrift(ref_sorted.reshape(-1, 1), p_val=0.05, x_ref_preprocessed=True)
    p_val, dist = detector.score(np.asarray(values, dtype=np.float64).reshape(-1, 1))
    return float(dist[0]), float(p_val[0])


def chi2_test(ref_counts: dict[str, int], new_counts: dict[str, int]) -> tuple[float, float, float]:
    """``(chi2, p-value, total-variation distance)``: the contingency test of ChiSquareDrift
    over the union of the categories, from counts."""
    from scipy.stats import chi2_contingency

    keys = sorted(set(ref_counts) | set(new_counts))
    table = np.array([[ref_counts.get(k, 0) for k in keys], [new_counts.get(k, 0) for k in keys]],
                     dtype=float)
    shares = table / table.sum(axis=1, keepdims=True)
    tvd = float(0.5 * np.abs(shares[0] - shares[1]).sum())
    if len(keys) < 2:  # one category on both sides: identical distributions
        return 0.0, 1.0, tvd
    stat, p_val, _, _ = chi2_contingency(table)
    return float(stat), float(p_val), tvd


def share_changes(ref_counts: dict[str, int], new_counts: dict[str, int], top: int = 5
                  ) -> list[dict[str, Any]]:
    """The ``top`` largest changes of a category's share of the rows."""
    rt, nt = sum(ref_counts.values()) or 1, sum(new_counts.values()) or 1
    rows: list[dict[str, Any]] = [{"category": k, "reference": ref_counts.get(k, 0) / rt,
                                   "evaluation": new_counts.get(k, 0) / nt}
                                  for k in set(ref_counts) | set(new_counts)]
    rows.sort(key=lambda r: (-abs(r["evaluation"] - r["reference"]), r["category"]))
    return rows[:top]


def new_shares(ref_counts: dict[str, int], new_counts: dict[str, int], total: int
               ) -> list[tuple[str, float]]:
    """Categories of the new data that the reference lacks, with their share of ``total``."""
    return [(k, n / total) for k, n in new_counts.items() if k not in ref_counts]


def adjust(p_values: list[float | None], method: str) -> list[float | None]:
    """Corrected p-values over one family (``m`` = all planned tests, conservatively)."""
    m = len(p_values)
    present = [(i, p) for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = [None] * m
    if method == "bonferroni":
        for i, p in present:
            out[i] = min(1.0, p * m)
        return out
    # Benjamini-Hochberg: q_(k) = min_{j >= k} p_(j) m / j
    ranked = sorted(present, key=lambda ip: ip[1])
    running = 1.0
    for rank in range(len(ranked), 0, -1):
        i, p = ranked[rank - 1]
        running = min(running, p * m / rank)
        out[i] = min(1.0, running)
    return out


def squared_distances(x: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances between the rows of ``x``."""
    sq = np.sum(x * x, axis=1)
    return np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)


def mmd_test(x_ref: np.ndarray, x_new: np.ndarray, sigma: float, permutations: int,
             rng: np.random.Generator) -> tuple[float, float, float]:
    """``(MMD², p-value, 95% permutation quantile)``: unbiased MMD² with a Gaussian kernel."""
    z = np.vstack([x_ref, x_new])
    n, m = len(x_ref), len(x_new)
    k = np.exp(-squared_distances(z) / (2 * sigma * sigma))
    labels = np.zeros((n + m, permutations + 1))
    labels[:n, 0] = 1
    for j in range(1, permutations + 1):
        labels[rng.permutation(n + m)[:n], j] = 1
    ka = k @ labels
    kb = k.sum(axis=1, keepdims=True) - ka
    s_aa = np.sum(labels * ka, axis=0) - n
    s_bb = np.sum((1 - labels) * kb, axis=0) - m
    s_ab = np.sum(labels * kb, axis=0)
    mmd2 = s_aa / (n * (n - 1)) + s_bb / (m * (m - 1)) - 2 * s_ab / (n * m)
    observed, null = float(mmd2[0]), mmd2[1:]
    p_val = float((1 + np.sum(null >= observed)) / (1 + permutations))
    return observed, p_val, float(np.quantile(null, 0.95))
