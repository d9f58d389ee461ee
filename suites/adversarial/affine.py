"""What a model supports: whether its input transform is affine in the attacked features
(verified on the sample), and so whether the attack can take gradients or use the fast path."""

from __future__ import annotations

import warnings
from typing import Any, Literal

import numpy as np
import pandas as pd

from certify.models import Model
from certify.suites.adversarial.space import AffineView, AttackSpace, Block, final_estimator

#: Sample rows on which a model's affine input transform is verified.
VERIFY_ROWS = 64
#: scikit-learn estimators ART takes loss gradients of.
GRADIENT_ESTIMATORS = ("LogisticRegression", "SVC", "LinearSVC")


def _is_torch_module(obj: Any) -> bool:
    if not type(obj).__module__.startswith("torch") and "torch" not in {
            c.__module__.split(".")[0] for c in type(obj).__mro__}:
        return False
    try:
        import torch

        return isinstance(obj, torch.nn.Module)
    except ImportError:  # pragma: no cover
        return False


def affine_view(model: Model, space: AttackSpace, block: Block, features: list[str],
                numeric_only: bool) -> tuple[AffineView | None, str]:
    """Whether the model's input transform is affine in the attacked features (verified)."""
    est = model.estimator
    if est is None:
        return None, "no in-process estimator (e.g. an HTTP endpoint)"
    kind: Literal["pipeline", "bare", "torch"]
    if _is_torch_module(est):
        if not numeric_only:
            return None, "a torch module needs all features numeric"
        kind = "torch"
    else:
        from sklearn.pipeline import Pipeline

        if isinstance(est, Pipeline) and len(est.steps) > 1:
            kind = "pipeline"
        elif hasattr(est, "predict") and numeric_only:
            kind = "bare"
        else:
            return None, f"{type(est).__name__} has no affine input transform we can verify"
    frame = block.frame[features]

    def transform(f: pd.DataFrame) -> np.ndarray:
        out = est[:-1].transform(f) if kind == "pipeline" else f.to_numpy(dtype=float)
        if hasattr(out, "toarray"):
            out = out.toarray()
        if not isinstance(out, np.ndarray) or out.ndim != 2:
            raise TypeError(f"transform returned {type(out).__name__}")
        return np.asarray(out, dtype=float)

    # Verified on a fixed subset of the sample (probes of -1, +1 and +2 standard deviations per
    # attacked column); the map itself is then applied to every row. The fast path only steers
    # the search: every reported number is re-scored on the real model.
    check = slice(0, VERIFY_ROWS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = transform(frame)
            sub, t_sub = frame.iloc[check], t0[check]
            jac = np.zeros((space.d, t0.shape[1]))
            for j, col in enumerate(space.columns):
                valid = ~block.frozen[check, j]
                if not valid.any() or col not in frame.columns:
                    continue
                deltas = []
                for step in (1.0, 2.0, -1.0):
                    probe = sub.copy()
                    probe[col] = sub[col].astype(float) + step * space.std[j]
                    deltas.append(transform(probe)[valid] - t_sub[valid])
                d1, d2, dm = deltas
                scale = max(1.0, float(np.max(np.abs(d1))))
                atol = 1e-9 * scale
                if not (np.allclose(d2, 2 * d1, rtol=1e-7, atol=atol)
                        and np.allclose(dm, -d1, rtol=1e-7, atol=atol)
                        and np.allclose(d1, d1[0], rtol=1e-7, atol=atol)):
                    return None, f"preprocessing is not affine in '{col}'"
                jac[j] = d1[0]
            final = final_estimator(est, kind)
            if kind != "torch":
                agree = np.asarray(final.predict(t_sub)) == np.asarray(model.predict(block.frame.iloc[check]))
                if not agree.all():
                    return None, "final estimator on the transformed rows disagrees with the model"
    except Exception as exc:  # noqa: BLE001 - any failure means: no verified affine view
        return None, f"cannot verify the input transform ({type(exc).__name__}: {exc})"[:200]
    gradient = kind == "torch" or type(final).__name__ in GRADIENT_ESTIMATORS and \
        type(final).__module__.startswith("sklearn.")
    return AffineView(kind, t0, jac, gradient), (
        f"{kind} with affine input transform; final estimator {type(final).__name__}")
