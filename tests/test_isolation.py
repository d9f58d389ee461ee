"""An in-process model answers from a worker process: what it does to that process (a segfault,
os._exit, memory, a hang in C code) is one clear error, never the end of the run."""

from __future__ import annotations

import contextlib
import os
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


# --------------------------------------------------------------------------------------
# A whole run against a model that kills, exhausts or stalls its process.
# --------------------------------------------------------------------------------------

EDGE = {"max_examples": 20, "deadline_s": 3.0, "time_budget_s": 20, "on_nan": "predict",
        "checks": ["no_crash", "finite", "deterministic", "deadline"]}


def _run_whole(tmp_path: Path, model: Any, data: Any, edge: dict[str, Any] | None = None,
               **extra: Any) -> Any:
    import json

    from certify.attest.keys import write_key_pair
    from certify.policy import load_policy
    from certify.session import CertifySession
    from tests.projects import make_project

    write_key_pair(tmp_path / "keys" / "release")
    policy = make_project(tmp_path, candidate=model, reference=data, baseline=None,
                          n_evaluation=300,
                          suites={"quality": {"thresholds": {"accuracy": {"fail": 0.5}}},
                                  "edge_cases": {**EDGE, **(edge or {})}},
                          extra={"signing": {"key": "keys/release.key"}, **extra})
    session = CertifySession(load_policy(policy))
    session.setup()
    session.run_all()
    result = session.finish()
    report = json.loads(result.report_path.read_text())
    return result, {e["id"]: e for e in report["evidence"]}


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "expected", "extra"), [
    (crash_models.SegfaultOnNaN, "killed by SIGSEGV", {}),
    (crash_models.ExitOnNegative, "exited with code 3", {}),
    # Filling memory can take seconds on a busy machine: a deadline that does not race it.
    (crash_models.MemoryEater, "over the limit of 700 MiB",
     {"isolation": {"memory_limit_mb": 700}, "edge": {"deadline_s": 60.0}}),
], ids=["segfault", "os-exit", "memory"])
def test_a_model_that_kills_its_process_is_rejected_with_a_full_run(
        tmp_path: Path, data: Any, fitted: Any, kind: Any, expected: str, extra: Any) -> None:
    """no_crash failed with the cause and the input, the other edge-case checks errored with
    that reason, and the run still ends with a REJECTED verdict, report, page and certificate."""
    model = crash_models.wrap(kind, fitted, "age")
    result, evidence = _run_whole(tmp_path, model, data, **extra)
    assert result.verdict.decision.value == "REJECTED"
    no_crash = evidence["edge_cases::no_crash"]
    assert no_crash["status"] == "failed" and expected in no_crash["reason"], no_crash["reason"]
    assert "on input [" in no_crash["reason"] and no_crash["artifacts"]
    others = [e for i, e in evidence.items() if i.startswith("edge_cases::") and i not in (
        "edge_cases::no_crash", "edge_cases::deadline")]
    assert others and all(e["status"] == "errored" and expected in e["reason"] for e in others)
    quality = [e for i, e in evidence.items() if i.startswith("quality::")]
    assert quality and all(e["status"] != "errored" for e in quality)  # ran before, unharmed
    assert result.html_path is not None and result.html_path.is_file()
    assert result.certificate_path is not None and result.certificate_path.is_file()


@pytest.mark.slow
def test_a_model_that_hangs_in_c_code_fails_the_deadline_and_the_run_ends(
        tmp_path: Path, data: Any, fitted: Any) -> None:
    model = crash_models.wrap(crash_models.HangsInC, fitted, "age")
    start = time.monotonic()
    result, evidence = _run_whole(tmp_path, model, data)
    assert time.monotonic() - start < 240  # the 600 s sleep in libc was cut at the deadline
    assert result.verdict.decision.value == "REJECTED"
    deadline = evidence["edge_cases::deadline"]
    assert deadline["status"] == "failed" and "3 s" in deadline["reason"], deadline["reason"]


SCRIPT = """
import sys
from pathlib import Path
import joblib
from certify.demo import FEATURES, SEED, TARGET, candidate_model, make_credit_data
from certify.models import load_model
from certify.models.isolated import Limits, isolate
from certify.policy import ModelSpec

base = Path(sys.argv[1])
data = make_credit_data(300, SEED)
joblib.dump(candidate_model().fit(data[FEATURES], data[TARGET]), base / "m.joblib")
spec = ModelSpec(path="m.joblib", allow_pickle=True)
model = isolate(load_model(spec, base, "candidate"), spec, base, "candidate", Limits(4096, 60))
print(len(model.predict(data[FEATURES].head(5))), flush=True)
# no close(): the exit handler ends the worker, the fork server and the resource tracker
"""


def test_a_run_that_exits_leaves_no_helper_process_behind(tmp_path: Path) -> None:
    """The fork server, its resource tracker and an unclosed worker end with the run, waited
    for: none is left in the run's session once it has exited (they used to outlive it)."""
    import subprocess
    import sys

    import psutil

    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        for p in psutil.process_iter(["pid"]):
            with contextlib.suppress(psutil.Error):
                if os.getsid(p.pid) == proc.pid and p.pid != proc.pid:
                    seen.add(p.pid)
        time.sleep(0.05)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.strip() == "5"
    assert len(seen) >= 2  # the fork server and the worker (and the tracker) did run
    left = []
    for pid in seen:
        with contextlib.suppress(psutil.Error):
            left.append(f"{pid} {psutil.Process(pid).status()}")
    assert left == []
