from __future__ import annotations

import hashlib
from pathlib import Path

import joblib
import numpy as np
import pytest

from certify.demo import FEATURES, SEED, TARGET, baseline_model, make_credit_data
from certify.errors import ModelError
from certify.models import load_model
from certify.policy import ModelSpec
from tests.projects import save_model


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("models")
    data = make_credit_data(400, SEED)
    model = baseline_model().fit(data[FEATURES], data[TARGET])
    trusted = save_model(model, root / "m.skops")
    joblib.dump(model, root / "m.joblib")
    return root, data, model, trusted


def test_skops_digest_is_of_loaded_bytes(fitted) -> None:
    root, data, model, trusted = fitted
    loaded = load_model(ModelSpec(path="m.skops", trusted_types=trusted), root, "candidate")
    assert loaded.digest == "sha256:" + hashlib.sha256((root / "m.skops").read_bytes()).hexdigest()
    assert loaded.task == "classification"
    assert loaded.classes == [0, 1]
    X = data[FEATURES].head(20)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.predict_proba is not None
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.estimator is not None


def test_joblib_with_opt_in(fitted) -> None:
    root, data, model, _ = fitted
    loaded = load_model(ModelSpec(path="m.joblib", allow_pickle=True), root, "baseline")
    assert loaded.format == "joblib"
    assert loaded.predict(data[FEATURES].head(3)).shape == (3,)


def test_missing_model_file(fitted) -> None:
    root, *_ = fitted
    with pytest.raises(ModelError, match=r"candidate.path: model file not found: .*nope.skops"):
        load_model(ModelSpec(path="nope.skops"), root, "candidate")


@pytest.mark.parametrize("content", [b"", b"this is not a zip file", b"PK\x03\x04broken"])
def test_corrupt_skops_file(fitted, tmp_path: Path, content: bytes) -> None:
    (tmp_path / "bad.skops").write_bytes(content)
    with pytest.raises(ModelError, match=r"candidate.path: .*bad.skops"):
        load_model(ModelSpec(path="bad.skops"), tmp_path, "candidate")


def test_corrupt_joblib_file(tmp_path: Path) -> None:
    (tmp_path / "bad.joblib").write_bytes(b"\x80\x04garbage")
    with pytest.raises(ModelError, match=r"baseline.path: .*not a loadable joblib"):
        load_model(ModelSpec(path="bad.joblib", allow_pickle=True), tmp_path, "baseline")


def test_untrusted_types_are_refused(fitted) -> None:
    root, *_ = fitted
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier

    data = make_credit_data(200, SEED)
    hgb = HistGradientBoostingClassifier(max_iter=5).fit(data[["age", "income"]], data[TARGET])
    (root / "hgb.skops").write_bytes(sio.dumps(hgb))
    with pytest.raises(ModelError, match=r"types skops does not trust: .*TreePredictor.*trusted_types"):
        load_model(ModelSpec(path="hgb.skops"), root, "candidate")


class _WrongRows:
    """A model that drops a row: a shape error must be caught at the interface."""

    classes_ = np.array([0, 1])

    def predict(self, X):
        return np.zeros(len(X) - 1, dtype=int)


def test_wrong_number_of_rows_is_an_error(tmp_path: Path) -> None:
    from certify.models.sklearn import SklearnModel

    model = SklearnModel(_WrongRows(), name="wrong", digest="sha256:0", source="x", format="skops",
                         task="classification", classes=[0, 1])
    data = make_credit_data(10, SEED)
    with pytest.raises(ModelError, match=r"model wrong: predict returned shape \(9,\) for 10 rows"):
        model.predict(data[FEATURES])


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"unknown model format 'onnx'"):
        load_model(ModelSpec(path="m.onnx", format="onnx"), tmp_path, "candidate")
