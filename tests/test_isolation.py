"""An in-process model answers from a worker process: what it does to that process (a segfault,
os._exit, memory, a hang in C code) is one clear error, never the end of the run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from certify.demo import FEATURES, SEED, TARGET, candidate_model, make_credit_data
from certify.models import load_model
from certify.models.isolated import (
    IsolatedModel,
    Limits,
    ModelDied,
    ModelHung,
    ModelOutOfMemory,
    RemoteError,
    isolate,
)
from certify.policy import ModelSpec
from tests import crash_models


@pytest.fixture(scope="module")
def data() -> Any:
    return make_credit_data(600, SEED)


@pytest.fixture(scope="module")
def fitted(data: Any) -> Any:
    return candidate_model().fit(data[FEATURES], data[TARGET])


def _isolated(tmp_path: Path, model: Any, limits: Limits | None = None) -> IsolatedModel:
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    spec = ModelSpec(path=str(path), allow_pickle=True)
    inner = load_model(spec, tmp_path, "candidate")
    out = isolate(inner, spec, tmp_path, "candidate", limits or Limits(4096, 60))
    assert isinstance(out, IsolatedModel)
    return out


def test_answers_like_the_model_itself(tmp_path: Path, data: Any, fitted: Any) -> None:
    model = _isolated(tmp_path, fitted)
    X = data[FEATURES].head(50)
    assert np.array_equal(model.predict(X), fitted.predict(X))
    assert np.array_equal(model.predict_proba(X), fitted.predict_proba(X))  # exact: same bytes
    model.close()


@pytest.mark.parametrize(("kind", "column", "bad", "expected"), [
    (crash_models.SegfaultOnNaN, "age", float("nan"), "killed by SIGSEGV"),
    (crash_models.ExitOnNegative, "age", -5, "exited with code 3"),
])
def test_a_model_that_kills_its_process(tmp_path: Path, data: Any, fitted: Any, kind: Any,
                                        column: str, bad: Any, expected: str) -> None:
    model = _isolated(tmp_path, crash_models.wrap(kind, fitted, column))
    X = data[FEATURES].head(5)
    assert len(model.predict(X)) == 5  # ordinary rows: fine
    broken = X.copy()
    broken.loc[broken.index[2], column] = bad
    with pytest.raises(ModelDied) as died:
        model.predict_proba(broken)
    assert expected in str(died.value) and "during predict_proba on 5 row(s)" in str(died.value)
    assert not died.value.earlier
    # Dead for the rest of the run, naming the first cause.
    with pytest.raises(ModelDied) as again:
        model.predict(X)
    assert again.value.earlier and expected in str(again.value)


def test_a_model_that_eats_memory_is_stopped_at_the_limit(tmp_path: Path, data: Any,
                                                          fitted: Any) -> None:
    model = _isolated(tmp_path, crash_models.wrap(crash_models.MemoryEater, fitted, "age"),
                      Limits(memory_mb=700, call_timeout_s=60))
    X = data[FEATURES].head(3).copy()
    assert len(model.predict(X)) == 3
    X.loc[X.index[0], "age"] = 5000
    with pytest.raises(ModelOutOfMemory, match=r"over the limit of 700 MiB"):
        model.predict(X)


def test_a_model_that_hangs_in_c_code_is_killed_at_the_time_limit(tmp_path: Path, data: Any,
                                                                  fitted: Any) -> None:
    model = _isolated(tmp_path, crash_models.wrap(crash_models.HangsInC, fitted, "age"))
    X = data[FEATURES].head(3).copy()
    X.loc[X.index[0], "age"] = float("nan")
    start = time.monotonic()
    with model.time_limit(2.0), pytest.raises(ModelHung, match=r"no answer within 2 s"):
        model.predict(X)
    assert time.monotonic() - start < 15
    proc = model.inner  # the worker is gone; the model object stays usable for metadata
    assert proc.digest == model.digest


def test_the_models_own_exceptions_keep_their_type_and_names(tmp_path: Path, data: Any,
                                                             fitted: Any) -> None:
    model = _isolated(tmp_path, crash_models.wrap(crash_models.RaisesOwnError, fitted, "age"))
    X = data[FEATURES].head(3).copy()
    with pytest.raises(KeyError) as missing:  # pandas' idiomatic refusal of a missing column
        model._predict(X.drop(columns=["income"]))
    assert isinstance(missing.value, LookupError) and "income" in str(missing.value)
    X.loc[X.index[0], "age"] = -1
    with pytest.raises(ValueError) as refused:
        model.predict(X)
    names = [f"{c.__module__}.{c.__qualname__}" for c in type(refused.value).__mro__]
    assert "tests.crash_models.RaisesOwnError.Refused" in names
    assert isinstance(refused.value, RemoteError)
    assert "negative values are refused" in str(refused.value)
    X.loc[X.index[0], "age"] = 30
    assert len(model.predict(X)) == 3  # an exception is not a death
