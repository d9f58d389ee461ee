"""The quality suite's vectorised bootstrap gives scikit-learn's value on every resample."""

from __future__ import annotations

import numpy as np
import pytest

from certify.suites.quality.bootstrap import counts, resampled
from certify.suites.quality.engine import metric_value


def _binary(rng: np.random.Generator, n: int, labels: list) -> tuple:
    y = rng.choice(labels, size=n, p=[0.8, 0.2])
    score = np.round(rng.random(n) * 0.6 + 0.4 * (y == labels[1]), 2)  # rounded: many ties
    proba = np.column_stack([1 - score, score])
    pred = np.where(score > 0.5, labels[1], labels[0])
    return y, pred, proba, labels


def _multiclass(rng: np.random.Generator, n: int = 400) -> tuple:
    labels = ["a", "b", "c"]
    y = rng.choice(labels, size=n, p=[0.6, 0.3, 0.1])
    raw = rng.random((n, 3)) + np.eye(3)[[labels.index(v) for v in y]]
    proba = raw / raw.sum(axis=1, keepdims=True)
    pred = np.array(labels)[proba.argmax(axis=1)]
    pred[:5] = "d"  # a label the truth never has: macro F1 counts it (scikit-learn does)
    return y, pred, proba, labels


CASES = {
    "binary-int": lambda rng: _binary(rng, 400, [0, 1]),
    "binary-str": lambda rng: _binary(rng, 400, ["current", "defaulted"]),
    "tiny": lambda rng: _binary(rng, 12, [0, 1]),  # resamples with a single class: AUC nan
    "multiclass": _multiclass,
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("name", ["accuracy", "f1", "roc_auc", "log_loss"])
def test_classification_metrics_equal_sklearn_on_each_resample(case: str, name: str) -> None:
    rng = np.random.default_rng(5)
    y, pred, proba, classes = CASES[case](rng)
    positive = classes[-1]
    idx = rng.integers(0, len(y), size=(60, len(y)))
    full = metric_value(name, y, pred, proba, classes, positive)
    fast = resampled(name, counts(idx, len(y)), y, pred, proba, classes, positive, full)
    if case == "multiclass" and name == "roc_auc":
        assert fast is None  # one-vs-rest AUC stays on scikit-learn's path
        return
    assert fast is not None
    slow = np.array([metric_value(name, y[r], pred[r], proba[r], classes, positive) for r in idx])
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12, equal_nan=True)
    if case == "tiny" and name == "roc_auc":
        assert np.isnan(fast).any()  # the single-class resamples


@pytest.mark.parametrize("name", ["rmse", "mae", "r2"])
def test_regression_metrics_equal_sklearn_on_each_resample(name: str) -> None:
    rng = np.random.default_rng(7)
    y = rng.normal(size=300)
    pred = y + rng.normal(scale=0.5, size=300)
    y[:3] = pred[:3]  # exact hits
    idx = rng.integers(0, 300, size=(50, 300))
    idx[0] = 0  # one resample of a single row: constant target, predicted exactly -> r2 1.0
    idx[1] = 5  # one of a single row predicted wrongly -> r2 0.0
    full = metric_value(name, y, pred, None, None, None)
    fast = resampled(name, counts(idx, 300), y, pred, None, None, None, full)
    assert fast is not None
    slow = np.array([metric_value(name, y[r], pred[r], None, None, None) for r in idx])
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)


def test_a_disagreeing_full_value_falls_back_to_sklearn() -> None:
    rng = np.random.default_rng(1)
    y, pred, proba, classes = _binary(rng, 100, [0, 1])
    idx = rng.integers(0, 100, size=(5, 100))
    full = metric_value("accuracy", y, pred, proba, classes, 1)
    assert resampled("accuracy", counts(idx, 100), y, pred, proba, classes, 1, full) is not None
    assert resampled("accuracy", counts(idx, 100), y, pred, proba, classes, 1, full + 0.01) is None


def test_counts_are_how_often_each_row_was_drawn() -> None:
    idx = np.array([[0, 0, 2], [1, 2, 2]])
    np.testing.assert_array_equal(counts(idx, 3), [[2, 0, 1], [0, 1, 2]])
