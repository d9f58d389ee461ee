"""Which explainer explains which model, decided from the model itself and verified on rows.

* **tree**: the last step of the estimator (a scikit-learn ``Pipeline``'s final estimator, or the
  bare estimator) is a tree ensemble SHAP's ``TreeExplainer`` takes, explained exactly
  (interventional, against the background) in the output space, on the columns the
  preprocessing makes;
* **linear**: the last step is a linear model (``coef_``/``intercept_``) whose output is verified
  on the probe rows to be ``link(intercept + columns @ coef)`` (identity for regression, the
  logistic function for a binary classifier's probability): explained exactly from its terms;
* **permutation** / **kernel** (model-agnostic, on the original columns): everything else: HTTP
  endpoints, torch models, wrappers, preprocessing that mixes columns.

For the first two, the preprocessing must be *separable*: every column it makes depends on one
original column only (scaled features, one-hot groups, imputed values). This is checked on the
probe rows (each original column rolled in turn: which made columns move), and gives the groups
whose attributions are summed back to the original column.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import warnings
from typing import Any

import numpy as np
import pandas as pd

from certify.models import Model
from certify.suites.explain.sample import OutputSpace, class_index
from certify.suites.explain.settings import ExplainSettings

#: Module prefixes of tree-ensemble libraries whose models SHAP's TreeExplainer reads.
TREE_MODULES = ("sklearn.ensemble", "sklearn.tree", "xgboost", "lightgbm", "catboost")
#: Largest relative gap between a linear model's output and link(terms) on the probe rows.
LINEAR_TOLERANCE = 1e-8


#: Tree explainers built in this process: (estimator, background) -> explainer. Building one
#: converts every tree (~0.2 s for 150 boosted trees); each process builds it once per model.
_TREE_EXPLAINERS: dict[tuple[int, int, str], tuple[Any, Any, Any]] = {}
_IMPORT_LOCK = threading.Lock()


def import_shap() -> Any:
    """SHAP, imported without its plotting modules. ``import shap`` imports matplotlib's pyplot
    for plots when matplotlib is importable (about half of its import time); the suite draws no
    SHAP plot, so unless matplotlib is already loaded it is hidden during that import."""
    if "shap" in sys.modules:
        return sys.modules["shap"]
    with _IMPORT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "matplotlib" in sys.modules:
            import shap
        else:
            sys.modules["matplotlib"] = None  # type: ignore[assignment]
            try:
                import shap
            finally:
                del sys.modules["matplotlib"]
    return shap


def tree_explainer(final: Any, background: np.ndarray, output: str) -> Any:
    """SHAP's exact interventional TreeExplainer of ``final`` against ``background`` (made once
    per process for the same estimator object and background)."""
    key = (id(final), hash(background.tobytes()), output)
    cached = _TREE_EXPLAINERS.get(key)
    if cached is not None and cached[0] is final and np.array_equal(cached[1], background, equal_nan=True):
        return cached[2]
    shap = import_shap()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer = shap.TreeExplainer(final, data=background,
                                       feature_perturbation="interventional", model_output=output)
    float32_thresholds(explainer)
    if len(_TREE_EXPLAINERS) >= 4:
        _TREE_EXPLAINERS.pop(next(iter(_TREE_EXPLAINERS)))
    _TREE_EXPLAINERS[key] = (final, background.copy(), explainer)
    return explainer


def float32_thresholds(explainer: Any) -> None:
    """For a model that compares float32 inputs with float64 thresholds (scikit-learn's trees:
    ``float32(x) <= t``), every threshold replaced by the largest float32 at or below it: the
    same branch for every float32 input, and a value SHAP's float32 comparison keeps as it is.

    Without this, two trees of a forest whose thresholds fall in the same float32 gap cannot
    both be honoured by moving the input (see :func:`snapped`): measured on a 60-tree random
    forest, a row's values missed its output by 1/60 of a leaf's difference (additivity error
    0.009). A model whose thresholds are float32 already (XGBoost) is left as it is."""
    model = explainer.model
    if np.dtype(getattr(model, "input_dtype", np.float64)) != np.float32:
        return
    t64 = np.asarray(model.thresholds, dtype=np.float64)
    t32 = t64.astype(np.float32)
    below = np.where(t32.astype(np.float64) > t64, np.nextafter(t32, np.float32(-np.inf)), t32)
    internal = np.asarray(model.children_left) >= 0
    model.thresholds = np.where(internal, below.astype(np.float64), t64).astype(
        model.thresholds.dtype)


def snapped(explainer: Any, cols: np.ndarray) -> np.ndarray:
    """``cols`` moved (by float32 rounding at most) so that SHAP's interventional tree code, which
    holds split thresholds as float32, sends every value down the branch the model itself takes.

    SHAP 0.49's interventional algorithm compares a value with ``float32(threshold)``; a value
    between the two (measured here: a scaled ``debt_ratio`` 1.4e-16 above a boosted tree's
    midpoint threshold) goes the other way than in the model and the values stop adding up to
    its output. A value is moved only across such a rounding gap, to the nearest number on the
    model's side of every threshold of its column."""
    model = explainer.model
    dtype = np.dtype(getattr(model, "input_dtype", np.float64))
    out = np.asarray(cols, dtype=dtype).copy()
    internal = np.asarray(model.children_left) >= 0
    features = np.asarray(model.features)[internal]
    thresholds = np.asarray(model.thresholds, dtype=float)[internal]
    for f in np.unique(features):
        t64 = np.unique(thresholds[features == f])
        t32 = t64.astype(np.float32).astype(float)
        x = out[:, f].astype(float)
        k = np.searchsorted(t64, x, side="left")  # thresholds the model passes to the right
        low = np.where(k > 0, t32[np.maximum(k - 1, 0)], -np.inf)
        high = np.where(k < len(t64), t32[np.minimum(k, len(t64) - 1)], np.inf)
        fixable = ~np.isnan(x) & (low < high)
        up = fixable & (x <= low)
        down = fixable & (x > high)
        out[up, f] = np.nextafter(low[up].astype(dtype), np.array(np.inf, dtype=dtype))
        out[down, f] = high[down].astype(dtype)
    return out


#: (column groups, made columns of the probe rows)
Made = tuple[list[list[int]], np.ndarray]


class NotSeparable(Exception):  # noqa: N818 - an answer, not a failure
    """The preprocessing mixes original columns: its parts cannot be summed back."""


@dataclasses.dataclass
class RolePlan:
    """How one model is explained (picklable: it travels to Ray workers)."""

    role: str
    kind: str  # tree | linear | permutation | kernel
    reason: str
    library: str
    estimator: str
    #: Columns the preprocessing makes, per original column (tree, linear); [] = not used.
    groups: list[list[int]] | None = None
    made_columns: int | None = None
    #: Index of the explained class among the final estimator's classes (tree, linear).
    class_index: int | None = None
    #: linear: "identity" or "logistic"
    link: str | None = None
    #: linear: the original columns whose terms vary (the others get exactly zero), and whether
    #: every coalition of them is evaluated (else seeded permutations); decided once for all
    #: shards, so that the shards do not change a number
    active: list[int] | None = None
    exact: bool = True

    @property
    def agnostic(self) -> bool:
        return self.kind in ("permutation", "kernel")

    def record(self) -> dict[str, Any]:
        groups = ({} if self.groups is None else
                  {"made_columns": self.made_columns,
                   "columns_per_feature": [len(g) for g in self.groups]})
        return {"explainer": self.kind, "library": self.library, "estimator": self.estimator,
                "reason": self.reason, **groups}


def split(estimator: Any) -> tuple[Any | None, Any]:
    """(preprocessing, final estimator) of a scikit-learn Pipeline, else (None, estimator)."""
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and len(steps) >= 1 and hasattr(estimator, "__getitem__"):
        prefix = estimator[:-1] if len(steps) > 1 else None
        return prefix, steps[-1][1]
    return None, estimator


def made(prefix: Any | None, frame: pd.DataFrame) -> np.ndarray:
    """The columns the preprocessing makes of ``frame`` as a dense float matrix."""
    if prefix is None:
        out: Any = frame
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = prefix.transform(frame)
    if hasattr(out, "toarray"):
        out = out.toarray()
    return np.asarray(out, dtype=float)


#: Made columns of a frame by a preprocessing, kept while the same two objects are in use (every
#: shard of a run explains against the same background).
_MADE: dict[tuple[int, int], tuple[Any, pd.DataFrame, np.ndarray]] = {}


def made_cached(prefix: Any | None, frame: pd.DataFrame) -> np.ndarray:
    """:func:`made`, once per (preprocessing, frame) object pair in this process."""
    hit = _MADE.get((id(prefix), id(frame)))
    if hit is not None and hit[0] is prefix and hit[1] is frame:
        return hit[2]
    return keep(prefix, frame, made(prefix, frame))


def keep(prefix: Any | None, frame: pd.DataFrame, cols: np.ndarray) -> np.ndarray:
    """Remember ``cols`` as the made columns of ``frame`` (row-wise preprocessing: the rows of a
    larger batch are the rows of the frame alone)."""
    if len(_MADE) >= 8:
        _MADE.pop(next(iter(_MADE)))
    _MADE[(id(prefix), id(frame))] = (prefix, frame, cols)
    return cols


def column_groups(prefix: Any | None, probe: pd.DataFrame
                  ) -> tuple[list[list[int]], np.ndarray]:
    """The made columns of every original column (see the module documentation), and the made
    columns of ``probe``. One call of the preprocessing: the probe, then the probe with each
    original column rolled by one row in turn."""
    n, m = probe.shape
    batch = [probe]
    for col in probe.columns:
        rolled = probe.copy()
        rolled[col] = np.roll(probe[col].to_numpy(), 1)
        batch.append(rolled)
    every = made(prefix, pd.concat(batch, ignore_index=True))
    if every.shape[0] != n * (m + 1):
        raise NotSeparable(f"the preprocessing makes {every.shape[0]} rows of {n * (m + 1)}")
    base = every[:n]
    owner = np.full(base.shape[1], -1)
    for j, col in enumerate(probe.columns):
        moved = every[(j + 1) * n:(j + 2) * n]
        changed = np.flatnonzero(((moved != base) & ~(np.isnan(moved) & np.isnan(base))).any(axis=0))
        mixed = [k for k in changed if owner[k] not in (-1, j)]
        if mixed:
            other = probe.columns[owner[mixed[0]]]
            raise NotSeparable(f"made column {mixed[0]} depends on both '{other}' and '{col}'")
        owner[changed] = j
    unowned = np.flatnonzero(owner < 0)
    varying = [k for k in unowned if np.nanmax(base[:, k]) != np.nanmin(base[:, k])]
    if varying:
        raise NotSeparable(f"made column {varying[0]} varies but follows no single column")
    return [np.flatnonzero(owner == j).tolist() for j in range(m)], base


def _is_tree(final: Any) -> bool:
    return type(final).__module__.startswith(TREE_MODULES)


def _is_linear(final: Any) -> bool:
    return getattr(final, "coef_", None) is not None and getattr(final, "intercept_", None) is not None


def _tree_plan(role: str, final: Any, prefix: Any | None, made_probe: Made,
               background: pd.DataFrame, space: OutputSpace) -> RolePlan | None:
    if not _is_tree(final):
        return None
    groups, cols = made_probe
    output = "probability" if space.kind == "probability" else "raw"
    try:
        tree_explainer(final, made_cached(prefix, background), output)
    except Exception as exc:  # noqa: BLE001 - SHAP does not take this model: model-agnostic
        raise NotSeparable(f"SHAP's TreeExplainer does not take {type(final).__name__}: "
                           f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}") from None
    index = (class_index(final.classes_, space.positive) if space.kind == "probability" else None)
    where = "the final step of a scikit-learn Pipeline" if prefix is not None else "the model"
    return RolePlan(
        role, "tree", f"{type(final).__name__} ({where}) is a tree ensemble: exact SHAP values",
        f"shap.TreeExplainer(feature_perturbation='interventional', model_output='{output}')",
        type(final).__name__, groups, cols.shape[1], index)


def _linear_plan(role: str, final: Any, prefix: Any | None, made_probe: Made,
                 space: OutputSpace, exact_max: int) -> RolePlan | None:
    if not _is_linear(final):
        return None
    w = np.asarray(final.coef_, dtype=float)
    if w.ndim == 2 and w.shape[0] != 1:
        return None  # multi-class or multi-output: not one margin
    w = w.reshape(-1)
    b = float(np.asarray(final.intercept_, dtype=float).reshape(-1)[0])
    groups, cols = made_probe
    if cols.shape[1] != len(w):
        return None
    margin = cols @ w + b
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if space.kind == "probability":
            classes = list(getattr(final, "classes_", []))
            if len(classes) != 2 or not hasattr(final, "predict_proba"):
                return None
            index = class_index(classes, space.positive)
            try:
                got = np.asarray(final.predict_proba(cols), dtype=float)[:, 1]
            except Exception:  # noqa: BLE001 - no usable probabilities: model-agnostic
                return None
            want, link = 1 / (1 + np.exp(-margin)), "logistic"
        else:
            index, link = None, "identity"
            got, want = np.asarray(final.predict(cols), dtype=float), margin
    if not np.allclose(got, want, rtol=LINEAR_TOLERANCE, atol=LINEAR_TOLERANCE):
        return None
    where = "the final step of a scikit-learn Pipeline" if prefix is not None else "the model"
    active = [j for j, g in enumerate(groups) if g and np.ptp(cols[:, g] @ w[g]) > 0]
    in_use = len(active)
    exact = in_use <= exact_max
    how = "every coalition" if exact else "seeded antithetic permutations"
    what = (f"Shapley values of the probability ({how} of its {in_use} columns' terms through "
            "the logistic link)" if link == "logistic" else "exact SHAP values of its linear terms")
    library = (f"interventional Shapley values of sigmoid(linear terms), {how} (SHAP's "
               "LinearExplainer explains only the log-odds)" if link == "logistic" else
               "the linear terms: SHAP LinearExplainer's interventional values")
    return RolePlan(role, "linear", f"{type(final).__name__} ({where}) is linear, verified on "
                    f"{len(cols)} rows: {what}", library, type(final).__name__, groups,
                    cols.shape[1], index, link, active, exact)


def plan_role(role: str, model: Model, rows: pd.DataFrame, background: pd.DataFrame,
              space: OutputSpace, settings: ExplainSettings) -> RolePlan:
    """How ``model`` is explained (see the module documentation). ``rows`` and ``background``
    are the frames the shards of this process will explain with (their made columns are kept)."""
    agnostic = settings.agnostic
    library = ("shap.PermutationExplainer (antithetic permutations)" if agnostic == "permutation"
               else "shap.KernelExplainer")
    estimator = model.estimator

    def fallback(reason: str) -> RolePlan:
        name = type(estimator).__name__ if estimator is not None else model.format
        return RolePlan(role, agnostic, reason, library, name)

    if settings.explainer == "agnostic":
        return fallback("the policy asks for the model-agnostic explainer")
    if estimator is None:
        return fallback(f"a {model.format} model has no estimator here to read: explained "
                        "through its predictions")
    if space.kind == "indicator":
        return fallback("the models have no probabilities: their predicted-class indicator is "
                        "explained through their predictions")
    prefix, final = split(estimator)
    if not (_is_tree(final) or _is_linear(final)):
        return fallback(f"{type(final).__name__} is neither a tree ensemble SHAP reads nor a "
                        "linear model: explained through its predictions")
    try:
        groups, cols = column_groups(prefix, pd.concat([rows, background], ignore_index=True))
        keep(prefix, rows, cols[:len(rows)])
        keep(prefix, background, cols[len(rows):])
        plan = (_tree_plan(role, final, prefix, (groups, cols), background, space)
                or _linear_plan(role, final, prefix, (groups, cols), space,
                                settings.exact_max_features))
    except NotSeparable as exc:
        return fallback(f"{exc}: explained on the original columns")
    except Exception as exc:  # noqa: BLE001 - a model we cannot read is explained through calls
        return fallback(f"{type(estimator).__name__} could not be read "
                        f"({type(exc).__name__}): explained through its predictions")
    if plan is None:
        return fallback(f"{type(final).__name__} is not a linear model whose output is the "
                        "identity or logistic function of its margin: explained through its "
                        "predictions")
    return plan
