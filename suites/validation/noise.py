"""What sampling noise alone gives at this sample size: when a breach is inconclusive.

deepchecks judges drift scores and single-valued columns against fixed limits whatever the
number of rows. On small samples noise alone crosses them: two samples of 100 rows from the
same data give a Kolmogorov-Smirnov distance above 0.2 for about one numeric feature in
thirty, a bias-corrected Cramér's V above 0.2 for about one five-level feature in sixty, a
domain-classifier drift value above 0.25 about one run in twenty; and a column whose rare
value has a 1% share is constant in a 100-row sample a third of the time. A breach that the
noise explains is **inconclusive**: the record is warned (with the noise level), not failed.

* Drift scores (``FeatureDrift``, ``LabelDrift``; Kolmogorov-Smirnov and Cramér's V, the
  defaults): the 99th percentile of deepchecks' own statistic over :data:`PERMUTATIONS`
  seeded permutations of the pooled reference and evaluation values (computed only for the
  items past the limit). Other methods (PSI, Earth Mover's) are not assessed.
* Multivariate drift (the domain classifier's held-out AUC, as ``2 AUC - 1``): the 99th
  percentile of the AUC of an uninformative classifier on deepchecks' held-out split (the
  Mann-Whitney null variance ``(n1 + n2 + 1) / (12 n1 n2)``).
* A single-valued column that varies in the reference sample: the probability that the
  evaluation rows miss every other value by chance, ``share ** rows`` with ``share`` the
  value's share of the reference sample; at least :data:`ALPHA` is inconclusive.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

#: Seeded permutations for a drift score's noise level.
PERMUTATIONS = 200
#: Tail probability of the noise level (the 99th percentile).
ALPHA = 0.01
#: One-sided normal quantile for ALPHA.
Z_ALPHA = 2.3263478740408408


def permutation_level(statistic: Any, a: pd.Series, b: pd.Series, seed: int,
                      permutations: int = PERMUTATIONS) -> float | None:
    """The ``1 - ALPHA`` quantile of ``statistic(a', b')`` over seeded permutations of the
    pooled values (missing values dropped); None when either side is empty."""
    a, b = a.dropna(), b.dropna()
    if len(a) == 0 or len(b) == 0:
        return None
    pooled = pd.concat([a, b], ignore_index=True)
    values = pooled.to_numpy()
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(permutations):
        order = rng.permutation(len(values))
        left = pd.Series(values[order[: len(a)]], dtype=pooled.dtype)
        right = pd.Series(values[order[len(a):]], dtype=pooled.dtype)
        scores.append(float(statistic(left, right)))
    return float(np.quantile(scores, 1 - ALPHA))


def drift_statistic(method: str, check: Any) -> Any | None:
    """deepchecks' own statistic for ``method`` with the check's parameters, or None for a
    method this module does not assess."""
    from deepchecks.utils.distribution.drift import cramers_v, kolmogorov_smirnov

    if method == "Kolmogorov-Smirnov":
        return kolmogorov_smirnov
    if method == "Cramer's V":
        ratio = getattr(check, "min_category_size_ratio", 0.01)
        most = getattr(check, "max_num_categories_for_drift", None)
        balance = bool(getattr(check, "balance_classes", False))

        def statistic(a: pd.Series, b: pd.Series) -> float:
            return float(cramers_v(a, b, balance_classes=balance,
                                   min_category_size_ratio=ratio, max_num_categories=most))

        return statistic
    return None


def domain_auc_level(rows_reference: int, rows_evaluation: int, test_size: float,
                     n_samples: int) -> float | None:
    """The ``1 - ALPHA`` level of ``2 AUC - 1`` of an uninformative domain classifier on
    deepchecks' held-out split (``test_size`` of ``min(n_samples, rows)`` rows per side)."""
    rows = min(n_samples, rows_reference, rows_evaluation)
    n = max(int(round(rows * test_size)), 0)
    if n < 2:
        return None
    se = math.sqrt((2 * n + 1) / (12 * n * n))
    return min(1.0, 2 * Z_ALPHA * se)


def chance_of_single_value(value: Any, reference: pd.Series, rows: int) -> float | None:
    """The probability that ``rows`` draws from ``reference`` all equal ``value``: None when the
    reference holds that value alone (then nothing is left to chance)."""
    ref = reference.dropna()
    if ref.nunique() <= 1 or rows <= 0:
        return None
    share = float((ref.astype(str) == str(value)).mean())
    return share ** rows
