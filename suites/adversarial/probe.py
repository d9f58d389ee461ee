"""Before any attack: is the model fit to be attacked at all? Two questions, asked in a few calls.

* **Noisy answers.** The same rows scored twice must get the same answers (scores within
  ``SCORE_TOLERANCE``, else labels equal). A minimal-perturbation attack walks to the decision
  boundary, exactly where noise flips answers: on a noisy model it would measure the noise,
  and spend its whole budget doing so.
* **Slow calls.** A black-box attack that queries the model itself (no fast path) makes dozens
  of calls in sequence per shard; a model whose single call on one row takes longer than
  ``max_call_seconds`` cannot finish within any reasonable ``max_seconds``.

Either finding stops the model's attack before it starts (its attack checks error with the
reason), within seconds instead of after the whole budget.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd

from certify.models import Model

#: Largest difference between two scores of the same row on two calls (float noise of an
#: honest model is ~1e-16; float32 models with threaded kernels ~1e-7).
SCORE_TOLERANCE = 1e-6


def sequential_calls(iterations: int, d: int, norm: str) -> int:
    """About how many model calls a lock-step HopSkipJump makes one after the other per shard:
    the start point (two), then per iteration a binary search to the relative threshold
    ``theta``, one gradient estimate and a few step-size trials, then the re-scoring."""
    theta = 0.01 / d if norm == "inf" else 0.01 / math.sqrt(max(d, 1))
    return 3 + iterations * (math.ceil(math.log2(1 / theta)) + 4)


def noisy(model: Model, frame: pd.DataFrame, role: str) -> str | None:
    """Why ``model`` is unfit to attack because it answers the same rows differently, or None.
    Two calls: ``predict_proba`` where the model has it, else ``predict``."""
    if model.predict_proba is not None:
        first, second = model.predict_proba(frame), model.predict_proba(frame)
        gap = np.abs(np.asarray(first, dtype=float) - np.asarray(second, dtype=float))
        gap = np.where(np.isnan(gap), np.inf, gap)
        rows = int(np.sum(np.any(gap > SCORE_TOLERANCE, axis=1)))
        if rows:
            worst = float(np.max(gap))
            return (f"the {role} scored the same {len(frame)} rows twice and {rows} of them "
                    f"differently (scores moved by up to {worst:.3g}, tolerance "
                    f"{SCORE_TOLERANCE:g}): an attack on a model with noisy answers measures the "
                    "noise, so it was not attacked")
        return None
    a, b = np.asarray(model.predict(frame)), np.asarray(model.predict(frame))
    rows = int(np.sum(a != b))
    if rows:
        return (f"the {role} labelled the same {len(frame)} rows twice and {rows} of them "
                "differently: an attack on a model with noisy answers measures the noise, so it "
                "was not attacked")
    return None


def slow(model: Model, frame: pd.DataFrame, role: str, budget_s: float, calls: int) -> str | None:
    """Why ``model`` is unfit to attack black-box because one call on one row takes longer than
    ``budget_s``, or None. Timed once, and again only when over (the least time counts, so a
    loaded machine's hiccup is not a verdict on the model). Call after a warm-up call."""
    one = frame.iloc[:1]
    best = math.inf
    for _ in range(2):
        start = time.perf_counter()
        model.predict(one)
        best = min(best, time.perf_counter() - start)
        if best <= budget_s:
            return None
    return (f"a single call of the {role} on one row took {best:.2f} s, over the per-call budget "
            f"max_call_seconds={budget_s:g}: its black-box attack makes about {calls} calls one "
            "after the other per shard, so it was not attacked")
