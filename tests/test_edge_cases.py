"""The edge_cases suite on real models: hypothesis against honest and broken candidates.

Every broken candidate (certify/demo/models.py) must be REJECTED by its own check
with a readable counterexample; the honest demo model must be CERTIFIED whatever the
seed. Models are real scikit-learn pipelines, served in-process (skops) or over real HTTP.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from certify.demo import FEATURES, SEED, TARGET, baseline_model, candidate_model, make_credit_data
from certify.demo.models import MONOTONIC_DEMO, edge_case_sabotage, monotone_candidate
from certify.errors import ConfigError
from certify.evidence import Status
from certify.policy import load_policy
from certify.session import CertifySession
from certify.verdict import Decision
from tests.http_model_server import serving
from tests.projects import make_project

NUMERIC = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "employment_years"]
BASE = {"max_examples": 20, "deadline_s": 10.0, "time_budget_s": 20, "on_nan": "predict",
        "invariant": ["sex"]}


@pytest.fixture(scope="module", autouse=True)
def _one_openmp_thread():
    # Boosted trees fit 40x faster single-threaded on a busy 2-core machine (OpenMP threads
    # spin against each other); the suite itself calls the model with one thread.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        yield


@pytest.fixture(scope="module")
def ref():
    return make_credit_data(1500, SEED)


@pytest.fixture(scope="module")
def fitted(ref):
    return candidate_model().fit(ref[FEATURES], ref[TARGET])


def certify(root: Path, model: Any, ref: Any, *, seed: int | None = None,
            extra: dict[str, Any] | None = None, **settings: Any) -> CertifySession:
    policy = make_project(root, candidate=model, reference=ref, baseline=None, n_evaluation=300,
                          suites={"edge_cases": {**BASE, **settings}}, extra=extra)
    session = CertifySession(load_policy(policy), seed=seed)
    session.setup()
    session.run_all()
    return session


def statuses(session: CertifySession) -> dict[str, Status]:
    return {e.id: e.status for e in session.evidence.values()}


def report_data(session: CertifySession) -> dict[str, Any]:
    state = session.suites["edge_cases"]
    return state.suite.report_data(state.ctx, state.result)


def counterexample(session: CertifySession, check: str) -> dict[str, Any]:
    record = session.evidence[check]
    (artifact,) = record.artifacts
    assert session.run_dir is not None
    on_disk = json.loads((session.run_dir.path / artifact.path).read_text())
    assert on_disk == {k: v for k, v in record.details["counterexample"].items() if k != "artifact"}
    return on_disk


@pytest.mark.slow
@pytest.mark.parametrize("seed", [101, 202])
def test_honest_model_is_certified(tmp_path, ref, fitted, seed) -> None:
    session = certify(tmp_path, fitted, ref, seed=seed)
    ids = set(session.evidence)
    assert ids == {"edge_cases::deadline", "edge_cases::no_crash", "edge_cases::output_shape",
                   "edge_cases::finite", "edge_cases::proba_valid", "edge_cases::deterministic",
                   "edge_cases::batch_invariant", "edge_cases::row_order",
                   "edge_cases::column_order", "edge_cases::invariant[sex]"}
    bad = {e.id: e.reason for e in session.evidence.values() if e.status is not Status.PASSED}
    assert not bad, bad
    assert session.decide()[0].decision is Decision.CERTIFIED
    no_crash = session.evidence["edge_cases::no_crash"].metrics
    assert no_crash["examples"] >= BASE["max_examples"] - 2
    assert no_crash["seed"] == seed and no_crash["hypothesis_seed"] > 0
    # every input kind was generated, and the model's answers are tallied per kind
    assert set(no_crash["examples_by_kind"]) >= {"valid", "large_batch", "nan", "inf",
                                                  "out_of_range", "unseen_category",
                                                  "wrong_dtype", "missing_column",
                                                  "extra_column", "reordered_columns",
                                                  "empty_batch"}
    data = report_data(session)
    assert data["acceptance"]["nan"]["predicted"] > 0  # on_nan = "predict", and it does
    assert data["acceptance"]["wrong_dtype"]["rejected"] > 0  # ValueError: clean rejection
    assert data["acceptance"]["inf"]["crashed"] == 0
    assert data["counterexamples"] == []
    assert data["checks"]["edge_cases::batch_invariant"]["examples"] > 0
    assert data["latency_ms"]["calls"] > 100
    session.abort()


SABOTAGED = [
    # kind, the check that must fail, words its reason must contain, seed
    ("nan-crash", "edge_cases::no_crash", ["crashed", "IndexError", "NaN"], 11),
    ("nondeterministic", "edge_cases::deterministic", ["two calls on the same input differ"], 12),
    ("proba-sum", "edge_cases::proba_valid", ["sum to", "not 1"], 13),
    ("batch", "edge_cases::batch_invariant", ["scored alone differs", "batch"], 14),
    ("hang", "edge_cases::deadline", ["did not return within 1.5 s", "out of range"], 15),
    ("monotonic", "edge_cases::monotonic[late_payments]",
     ["increasing in late_payments required", "late_payments"], 16),
]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "check", "words", "seed"), SABOTAGED,
                         ids=[s[0] for s in SABOTAGED])
def test_broken_model_is_rejected_by_its_check(tmp_path, ref, fitted, kind, check, words,
                                               seed) -> None:
    model = edge_case_sabotage(kind, fitted, ref)
    settings: dict[str, Any] = {}
    if kind == "monotonic":
        settings["monotonic"] = MONOTONIC_DEMO
    if kind == "hang":
        settings["deadline_s"] = 1.5
    start = time.perf_counter()
    session = certify(tmp_path, model, ref, seed=seed, **settings)
    elapsed = time.perf_counter() - start
    found = statuses(session)
    failed = {cid for cid, status in found.items() if status is Status.FAILED}
    assert failed == {check}, {e.id: e.reason for e in session.evidence.values()}
    assert session.decide()[0].decision is Decision.REJECTED
    reason = session.evidence[check].reason
    for word in words:
        assert word in reason, reason
    cx = counterexample(session, check)
    assert cx["check"] == check and cx["seed"] == seed and cx["hypothesis_seed"] > 0
    assert cx["input"]["rows"] and cx["input"]["columns"]
    assert cx["observed"]
    assert f"--certify-seed={seed}" in cx["reproduce"]
    if kind == "nondeterministic":
        # the comparison checks cannot judge a nondeterministic model: errored, not blamed
        for other in ("edge_cases::batch_invariant", "edge_cases::row_order"):
            assert found[other] is Status.ERRORED
            assert "edge_cases::deterministic" in session.evidence[other].reason
    if kind == "hang":
        # the model sleeps 30 s; the watchdog gave up after 1.5 s and stopped calling it
        assert elapsed < 25
        assert cx["shrunk"] is False
        others = [cid for cid in found if cid != check]
        assert all(found[cid] is Status.ERRORED for cid in others)
        assert "no longer called" in session.evidence["edge_cases::no_crash"].reason
        # the page marks them not judged, apart from passed ones and from the failed deadline
        search = next(p for p in page_panels(session) if p.title.startswith("Search per check"))
        results = {row[0]: row[1] for row in search.table.rows}
        assert results.pop("deadline") == "✗ failed: a call past the deadline"
        assert all(r.startswith("– not judged") and "hung" in r for r in results.values()), results
    else:
        assert cx["shrunk"] is True
    panel = next(p for p in page_panels(session) if p.title == f"Counterexample: {check}")
    assert '{"' not in panel_text([panel]), panel_text([panel])  # fields, not JSON
    if kind == "nan-crash":
        answer = dict(panel.items)["the model's answer"]
        assert answer.startswith("crashed: ") and "IndexError" in answer, answer
        assert cx["input"]["n_rows"] == 1  # shrunk to one row with one NaN
        assert sum(v == "NaN" or v is None for v in cx["input"]["rows"][0].values()) == 1
    if kind == "monotonic":
        assert found["edge_cases::monotonic[debt_ratio]"] is Status.PASSED
    session.abort()


@pytest.mark.slow
def test_monotone_model_passes_its_declared_constraints(tmp_path, ref) -> None:
    honest = monotone_candidate(ref)
    session = certify(tmp_path, honest, ref, seed=3, monotonic=MONOTONIC_DEMO,
                      checks=["monotonic"], max_examples=30)
    assert statuses(session) == {"edge_cases::monotonic[late_payments]": Status.PASSED,
                                 "edge_cases::monotonic[debt_ratio]": Status.PASSED}
    assert session.evidence["edge_cases::monotonic[late_payments]"].metrics["examples"] >= 20
    session.abort()


def test_same_seed_same_counterexample_and_the_database_replays_it(tmp_path, ref, fitted) -> None:
    from hypothesis.database import DirectoryBasedExampleDatabase

    from certify.suites.edge_cases.runner import database_key

    broken = edge_case_sabotage("nan-crash", fitted, ref)
    first = certify(tmp_path / "a", broken, ref, seed=7, checks=["no_crash"])
    second = certify(tmp_path / "b", broken, ref, seed=7, checks=["no_crash"])
    a = counterexample(first, "edge_cases::no_crash")
    b = counterexample(second, "edge_cases::no_crash")
    assert a["input"] == b["input"] and a["violation"] == b["violation"]
    assert first.evidence["edge_cases::no_crash"].reason == \
        second.evidence["edge_cases::no_crash"].reason
    # the failing example is saved under the project's output root ...
    db = DirectoryBasedExampleDatabase(str(tmp_path / "a" / "certify-out" / "hypothesis-db"))
    key = database_key("edge_cases::no_crash", "nan", FEATURES)
    assert list(db.fetch(key))
    first.abort()
    second.abort()
    # ... replayed first by the next run of the project (a fixed candidate, another seed),
    # which then forgets it because it no longer fails
    fixed = certify(tmp_path / "a", fitted, ref, seed=8, checks=["no_crash"])
    assert statuses(fixed) == {"edge_cases::no_crash": Status.PASSED}
    assert not list(db.fetch(key))
    fixed.abort()


def test_sensitive_columns_are_masked_in_counterexamples(tmp_path, ref, fitted) -> None:
    broken = edge_case_sabotage("nan-crash", fitted, ref)
    session = certify(tmp_path, broken, ref, seed=5, checks=["no_crash"],
                      extra={"sensitive_columns": ["income", "debt_ratio"]})
    cx = counterexample(session, "edge_cases::no_crash")
    assert cx["input"]["rows"]
    for row in cx["input"]["rows"]:
        for column in ("income", "debt_ratio"):
            assert row[column] in ("NaN", None, "Infinity", "-Infinity") or \
                str(row[column]).startswith("masked:"), row
        assert isinstance(row["age"], int | float | str)
    shown = json.dumps(report_data(session)["counterexamples"])
    raw_incomes = {repr(float(v)) for v in ref["income"]}
    assert not [v for v in raw_incomes if v in shown]
    session.abort()


def test_policy_decides_which_inputs_must_be_predicted(tmp_path, ref) -> None:
    # A logistic regression rejects NaN with a ValueError: clean, unless NaN must be predicted.
    logreg = baseline_model().fit(ref[FEATURES], ref[TARGET])
    may = certify(tmp_path / "may", logreg, ref, seed=1, checks=["no_crash"], on_nan="reject")
    assert statuses(may) == {"edge_cases::no_crash": Status.PASSED}
    assert report_data(may)["acceptance"]["nan"]["rejected"] > 0
    may.abort()
    must = certify(tmp_path / "must", logreg, ref, seed=1, checks=["no_crash"], on_nan="predict")
    record = must.evidence["edge_cases::no_crash"]
    assert record.status is Status.FAILED
    assert "must be predicted (on_nan='predict')" in record.reason and "ValueError" in record.reason
    must.abort()
    # It predicts unseen categories (handle_unknown="ignore"): a failure if they must be rejected.
    strict = certify(tmp_path / "strict", logreg, ref, seed=1, checks=["no_crash"],
                     on_nan="reject", on_unseen_category="must_reject")
    record = strict.evidence["edge_cases::no_crash"]
    assert record.status is Status.FAILED
    assert "must be rejected (on_unseen_category='must_reject')" in record.reason
    strict.abort()


@pytest.mark.slow
def test_http_endpoint_over_real_http(tmp_path, ref, fitted) -> None:
    url_policy = {"format": "http", "classes": [0, 1], "retries": 0,
                  "options": {"features": FEATURES, "task": "classification"}}
    with serving(fitted, FEATURES, NUMERIC) as server:
        session = certify(tmp_path / "honest", fitted, ref, seed=21, max_examples=12,
                          extra={"candidate": {**url_policy, "url": server.url}})
        bad = {e.id: e.reason for e in session.evidence.values() if e.status is not Status.PASSED}
        assert not bad, bad
        data = report_data(session)
        # text in a numeric column: the server's 400 is a clean rejection
        assert data["acceptance"]["wrong_dtype"]["rejected"] > 0
        assert data["acceptance"]["nan"]["predicted"] > 0
        assert server.requests > 50
        session.abort()
    broken = edge_case_sabotage("nan-crash", fitted, ref)
    with serving(broken, FEATURES, NUMERIC) as server:
        session = certify(tmp_path / "broken", broken, ref, seed=22, checks=["no_crash"],
                          extra={"candidate": {**url_policy, "url": server.url}})
        record = session.evidence["edge_cases::no_crash"]
        assert record.status is Status.FAILED
        assert "HTTP 500" in record.reason, record.reason  # a 5xx is a crash, not a rejection
        session.abort()


def test_regression_model(tmp_path) -> None:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline

    from certify.demo import preprocessor

    ref = make_credit_data(800, SEED)
    ref[TARGET] = np.round(ref["debt_ratio"] * 3 + ref["late_payments"] + 0.37, 3)
    model = Pipeline([("prep", preprocessor()),
                      ("reg", HistGradientBoostingRegressor(max_iter=30))]).fit(
        ref[FEATURES], ref[TARGET])
    session = certify(tmp_path, model, ref, seed=4,
                      checks=["no_crash", "finite", "output_shape", "batch_invariant"],
                      extra={"task": "regression"})
    assert statuses(session) == {f"edge_cases::{c}": Status.PASSED
                                 for c in ("no_crash", "finite", "output_shape", "batch_invariant")}
    session.abort()


def test_bad_settings_are_clear_errors(tmp_path, ref, fitted) -> None:
    with pytest.raises(ConfigError, match=r"suites\.edge_cases\.monotonic: 'sex' is not a numeric"):
        certify(tmp_path / "a", fitted, ref, monotonic={"sex": "increasing"})
    with pytest.raises(ConfigError, match=r"suites\.edge_cases\.invariant: 'zip' is not a feature"):
        certify(tmp_path / "b", fitted, ref, invariant=["zip"])
    with pytest.raises(ConfigError, match=r"suites\.edge_cases\.checks: unknown check 'crash'"):
        certify(tmp_path / "c", fitted, ref, checks=["crash"])
    policy = make_project(tmp_path / "d", candidate=fitted, reference=ref, baseline=None,
                          suites={"edge_cases": {"on_nan": "maybe"}})
    with pytest.raises(ConfigError, match=r"suites\.edge_cases\.on_nan"):
        load_policy(policy)


@pytest.mark.slow
def test_under_pytest_certify(tmp_path, ref, fitted) -> None:
    """certify.run drives pytest: hypothesis runs inside a pytest item, writes no .hypothesis."""
    import certify

    policy = make_project(tmp_path, candidate=fitted, reference=ref, baseline=None,
                          suites={"edge_cases": {**BASE, "checks": ["no_crash", "deterministic"]}})
    result = certify.run(policy, quiet=True, seed=9)
    assert result.verdict.decision is Decision.CERTIFIED
    report = json.loads(result.report_path.read_text())
    ids = {e["id"]: e for e in report["evidence"]}
    assert set(ids) == {"edge_cases::no_crash", "edge_cases::deterministic"}
    assert ids["edge_cases::no_crash"]["metrics"]["examples"] > 0
    assert report["suites"]["edge_cases"]["data"]["checks"]
    assert (tmp_path / "certify-out" / "hypothesis-db").is_dir()
    assert not (tmp_path / ".hypothesis").exists()


def test_importing_the_suite_imports_no_hypothesis() -> None:
    code = ("import sys, certify.suites.edge_cases as m; m.EdgeCasesSuite; "
            "assert 'hypothesis' not in sys.modules, 'hypothesis imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_declared_invariance_and_noise_stability(tmp_path, ref, fitted) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from certify.demo import SABOTAGES, DemoProject

    declared = {"noise": {"scale": 0.001, "max_change": 0.3},
                "checks": ["invariant", "noise_stability"]}
    honest = certify(tmp_path / "honest", fitted, ref, seed=31, **declared)
    assert statuses(honest) == {"edge_cases::invariant[sex]": Status.PASSED,
                                "edge_cases::noise_stability": Status.PASSED}
    honest.abort()
    # A model that reads the protected attribute breaks the declared invariance.
    uses_sex = Pipeline([
        ("prep", ColumnTransformer([("num", StandardScaler(), NUMERIC),
                                    ("cat", OneHotEncoder(handle_unknown="ignore"), ["sex"])])),
        ("clf", LogisticRegression(max_iter=300))]).fit(ref[FEATURES], ref[TARGET])
    session = certify(tmp_path / "sex", uses_sex, ref, seed=32, **declared)
    record = session.evidence["edge_cases::invariant[sex]"]
    assert record.status is Status.FAILED
    assert "changing sex changes the output" in record.reason
    assert counterexample(session, "edge_cases::invariant[sex]")["input"]["n_rows"] == 2
    session.abort()
    # The adversarial suite's brittle candidate flips under noise far below the data's noise.
    project = DemoProject(tmp_path, ref, ref, None, fitted)
    SABOTAGES["brittle"].apply(project)
    session = certify(tmp_path / "brittle", project.candidate, ref, seed=33, **declared)
    record = session.evidence["edge_cases::noise_stability"]
    assert record.status is Status.FAILED
    assert "max_change 0.3" in record.reason
    assert session.evidence["edge_cases::invariant[sex]"].status is Status.PASSED
    session.abort()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hang", "monotonic"])
def test_demo_sabotage_is_rejected_by_its_check(tmp_path, kind) -> None:
    """`certify demo --sabotage KIND`: the demo project's edge_cases checks alone."""
    from certify.demo import SABOTAGES, build_project, render_policy

    policy, project = build_project(tmp_path / "demo", kind)
    assert project.expect == "REJECTED"
    # Fewer checks, to keep this test short (the full demo runs them all); a hang is found
    # by whichever check first sends an impossible value.
    raw = tomllib.loads(policy.read_text())
    raw["suites"]["edge_cases"]["checks"] = (
        ["deadline", "no_crash", "output_shape", "finite"] if kind == "hang" else ["monotonic"])
    policy.write_text(render_policy(raw))
    session = CertifySession(load_policy(policy))
    session.setup()
    start = time.perf_counter()
    for spec in session.planned:
        if spec.suite == "edge_cases":
            session.run_check(spec)
    assert time.perf_counter() - start < 25  # the hang costs deadline_s (5 s), not 30 s
    expected = SABOTAGES[kind].expect_reason
    failed = {e.id for e in session.evidence.values() if e.status is Status.FAILED}
    assert failed == {expected}, {e.id: e.reason for e in session.evidence.values()}
    session.abort()


# -- more broken models, each caught by its own invariant ----------------------------------------
from certify.demo.models import _EdgeCaseWrapper  # noqa: E402 - test-only subclasses below


class NaNScoreClassifier(_EdgeCaseWrapper):
    """Probabilities NaN when a numeric value lies outside what training saw (an unguarded
    extrapolation), labels unchanged: ``finite``."""

    def __init__(self, base: Any = None) -> None:
        self.base = base

    def fit(self, X: Any, y: Any) -> Any:  # noqa: N803
        super().fit(X, y)
        numeric = X.select_dtypes("number")
        self.columns_ = list(numeric.columns)
        self.low_ = [float(v) for v in numeric.min()]
        self.high_ = [float(v) for v in numeric.max()]
        return self

    def _proba(self, X: Any) -> Any:  # noqa: N803
        import numpy as np

        p = np.asarray(self.base.predict_proba(X), dtype=float)
        for col, lo, hi in zip(self.columns_, self.low_, self.high_, strict=True):
            values = np.asarray(X[col], dtype=float)
            p[(values < lo) | (values > hi)] = np.nan
        return p

    def predict(self, X: Any) -> Any:  # noqa: N803 - labels stay those of the base model
        return self.base.predict(X)


class DropsARowClassifier(_EdgeCaseWrapper):
    """Loses the last row of batches over 100 rows (a paging bug): ``output_shape``."""

    def __init__(self, base: Any = None) -> None:
        self.base = base

    def _proba(self, X: Any) -> Any:  # noqa: N803
        p = self.base.predict_proba(X)
        return p[:-1] if len(p) > 100 else p


@pytest.mark.slow
@pytest.mark.parametrize(("wrapper", "check", "word"), [
    (NaNScoreClassifier, "edge_cases::finite", "finite"),
    (DropsARowClassifier, "edge_cases::output_shape", "rows"),
], ids=["nan-scores", "drops-a-row"])
def test_more_broken_models_are_rejected_by_their_check(tmp_path, ref, fitted, wrapper, check,
                                                        word) -> None:
    model = wrapper(fitted).fit(ref[FEATURES], ref[TARGET])
    session = certify(tmp_path, model, ref, seed=31)
    failed = {e.id for e in session.evidence.values() if e.status is Status.FAILED}
    assert check in failed, {e.id: e.reason for e in session.evidence.values()}
    assert word in session.evidence[check].reason, session.evidence[check].reason
    assert session.decide()[0].decision is Decision.REJECTED
    assert counterexample(session, check)["observed"]
    session.abort()


class ByNameClassifier(_EdgeCaseWrapper):
    """The usual wrapper: selects its columns by name, so pandas refuses a frame without one
    with ``KeyError: "['income'] not in index"``. It does not declare ``feature_names_in_``, so
    the adapter hands it every frame as it is (the model does its own column handling)."""

    def __init__(self, base: Any = None) -> None:
        self.base = base

    def fit(self, X: Any, y: Any) -> Any:  # noqa: N803
        super().fit(X, y)
        self.columns_ = list(self.feature_names_in_)
        del self.feature_names_in_
        return self

    def _proba(self, X: Any) -> Any:  # noqa: N803
        return self.base.predict_proba(X[self.columns_])


class UnrelatedKeyErrorClassifier(ByNameClassifier):
    """Fails a frame without a column with a KeyError about something else (a bug)."""

    def _proba(self, X: Any) -> Any:  # noqa: N803
        if not set(self.columns_) <= set(X.columns):
            raise KeyError("cache entry v2")
        return super()._proba(X)


@pytest.mark.slow
def test_a_missing_column_refused_by_name_is_a_clean_rejection(tmp_path, ref, fitted) -> None:
    """A LookupError naming the missing column is the idiomatic refusal (issue 14, item 1);
    one about something else is still a crash."""
    by_name = ByNameClassifier(fitted).fit(ref[FEATURES], ref[TARGET])
    session = certify(tmp_path / "a", by_name, ref, seed=5, checks=["no_crash"])
    record = session.evidence["edge_cases::no_crash"]
    assert record.status is Status.PASSED, record.reason
    acceptance = session.suites["edge_cases"].result.acceptance
    assert acceptance["missing_column"]["rejected"] > 0 and not acceptance["missing_column"]["crashed"]
    session.abort()
    other = UnrelatedKeyErrorClassifier(fitted).fit(ref[FEATURES], ref[TARGET])
    session = certify(tmp_path / "b", other, ref, seed=5, checks=["no_crash"])
    record = session.evidence["edge_cases::no_crash"]
    assert record.status is Status.FAILED and "cache entry v2" in record.reason, record.reason
    session.abort()


# -- the audit page (issue 16): fields not dumps, masked but meaningful, what decided a check ---

def page_panels(session: CertifySession) -> list[Any]:
    """The suite's panels as `certify report` draws them: from report.json's data (JSON)."""
    from certify.suite import SuiteRecord

    state = session.suites["edge_cases"]
    data = json.loads(json.dumps(report_data(session)))
    record = SuiteRecord("edge_cases", state.ctx.settings, data, list(session.evidence.values()))
    return state.suite.panels(record)


def panel_text(panels: list[Any]) -> str:
    """Every text a panel shows (titles, items, tables, notes, chart labels)."""
    parts: list[str] = []
    for p in panels:
        parts += [p.title, p.note, *[f"{k}: {v}" for k, v in p.items]]
        if p.table is not None:
            parts += [p.table.caption, p.table.note, *p.table.headers,
                      *[str(c) for row in p.table.rows for c in row]]
        for chart in [p.chart, *p.charts]:
            if chart is not None:
                parts += [chart.title, getattr(chart, "axis_label", ""), *chart.series]
    return "\n".join(parts)


def edge_record(data: dict[str, Any], evidence: list[Any] | None = None, **settings: Any) -> Any:
    from certify.suite import SuiteRecord
    from certify.suites.edge_cases import EdgeCasesSettings

    return SuiteRecord("edge_cases", EdgeCasesSettings(**settings), data, evidence or [])


def edge_panels(record: Any) -> list[Any]:
    from certify.suites.edge_cases import EdgeCasesSuite

    return EdgeCasesSuite().panels(record)


def proba_call(rows: list[list[float]], outcome: str = "predicted") -> dict[str, Any]:
    return {"outcome": outcome, "probabilities": rows, "predictions": [int(r[1] > 0.5) for r in rows]}


def test_observed_output_is_a_table_of_the_rows_that_matter_not_json() -> None:
    """Issue 16: the observed output was raw JSON. It is fields and a table: the row, what came
    out, what was expected, the difference, with digits enough to see the difference."""
    same = [[0.25, 0.75], [0.5, 0.5], [0.125, 0.875]]
    moved = [[0.25, 0.75], [0.5 - 3e-9, 0.5 + 3e-9], [0.125, 0.875]]
    cases = [
        {"check": "edge_cases::deterministic", "invariant": "same input, same output",
         "violation": "two calls differ", "input": {"columns": ["age"], "rows": [{"age": 1}] * 3,
                                                    "n_rows": 3},
         "observed": {"first": proba_call(same), "second": proba_call(moved),
                      "max_abs_diff": 3e-9}},
        {"check": "edge_cases::proba_valid", "invariant": "sum to 1", "violation": "row 1 sums",
         "input": {"columns": ["age"], "rows": [{"age": 1}, {"age": 2}], "n_rows": 2},
         "observed": proba_call([[0.2, 0.8], [0.3, 0.9]])},
        {"check": "edge_cases::batch_invariant", "invariant": "batch", "violation": "row 1",
         "input": {"columns": ["age"], "rows": [{"age": 1}, {"age": 2}], "n_rows": 2},
         "observed": {"row": 1, "alone": proba_call([[0.4, 0.6]]),
                      "in_batch": proba_call([[0.41, 0.59]]), "max_abs_diff": 0.01}},
        {"check": "edge_cases::no_crash", "invariant": "no crash", "violation": "crashed",
         "input": {"columns": ["age"], "rows": [{"age": "NaN"}], "n_rows": 1},
         "observed": {"outcome": "crashed", "error": "IndexError: index 64 is out of bounds"}},
    ]
    panels = edge_panels(edge_record({"counterexamples": cases}, determinism_tolerance=1e-12))
    by_title = {p.title: p for p in panels}
    text = panel_text(panels)
    assert '{"' not in text and "[[" not in text and "{'" not in text, text
    det = by_title["Counterexample: edge_cases::deterministic"].table
    assert det.headers == ["row", "second call", "first call", "difference"]
    assert [r[0] for r in det.rows] == ["0", "1", "2"]
    assert det.row_flags == ["", "flag", ""]  # the row that breaks it, marked
    changed = det.rows[1]
    assert changed[1] != changed[2], changed  # enough digits to see a 3e-9 difference
    assert changed[3] == "3e-09" or changed[3].startswith("3"), changed
    proba = by_title["Counterexample: edge_cases::proba_valid"].table
    assert proba.row_flags == ["", "flag"] and "sum − 1 = +0.2" in proba.rows[1][3]
    batch = by_title["Counterexample: edge_cases::batch_invariant"].table
    assert batch.rows == [["1", "0.4, 0.6", "0.41, 0.59", "0.01"]]
    crash = dict(by_title["Counterexample: edge_cases::no_crash"].items)
    assert crash["the model's answer"] == "crashed: IndexError: index 64 is out of bounds"


def test_input_table_shows_a_small_perturbation_and_bands_not_values() -> None:
    from certify.suites.edge_cases.bands import Bands, pair
    from certify.suites.edge_cases.view import input_table

    assert pair(60, 60.0004) == ("60", "60.0004")  # not "60 -> 60"
    assert pair(0.99260000, 0.99260001) == ("0.9926", "0.99260001")
    extreme = input_table({"columns": ["x"], "rows": [{"x": 1.7976931348623157e308}, {"x": 5e-324},
                                                      {"x": 0.5}, {"x": "Infinity"}]})
    assert extreme is not None and extreme.rows[0][3:] == ["0.5", "Infinity"]
    table = input_table({"columns": ["age", "income"], "n_rows": 2,
                         "rows": [{"age": 60, "income": "masked:0123456789ab"},
                                  {"age": 60.0004, "income": "masked:ba9876543210"}],
                         "bands": {"income": ["p40–p50", "p90–p100"]}})
    assert table is not None
    assert table.headers == ["column", "row 0", "row 1"]
    assert table.rows == [["age", "60", "60.0004"],
                          ["income", "masked:0123456789ab (p40–p50)",
                           "masked:ba9876543210 (p90–p100)"]]
    assert table.row_flags == ["", ""]  # both lines differ: nothing stands out to mark
    one = input_table({"columns": ["age", "late_payments", "purpose"],
                       "rows": [{"age": 46, "late_payments": 0, "purpose": "car"},
                                {"age": 46, "late_payments": 3, "purpose": "car"}]})
    assert one is not None and one.row_flags == ["", "flag", ""]
    assert "the rows differ in late_payments (marked)" in one.note
    import pandas as pd

    bands = Bands(pd.Series(range(1, 101)))
    assert bands.band(1) == "p0" and bands.band(100) == "p100" and bands.band(55.5) == "p50–p60"
    assert bands.band(-5) == "below the reference range"
    assert bands.change(40, 60).startswith("+0.69") and "(p30–p40 → p50–p60)" in \
        bands.change(40, 60)
    assert bands.change(50, 50 + 1e-6).startswith("+3.5e-08 σ")  # a tiny step stays visible


def test_search_panel_marks_checks_not_judged_apart_from_passed_ones() -> None:
    """Issue 16: sample sizes that decide (judged vs min_examples), checks that were not judged
    (too few examples, hung, died) marked apart from passed ones, labels without the prefix,
    a legend of the series drawn, a title and an axis label."""
    from certify.evidence import Evidence
    from certify.reports.charts import draw
    from certify.view import IntervalChart

    def stat(examples: int, outcome: str) -> dict[str, Any]:
        return {"examples": examples, "generated": examples + 2, "shrink_examples": 0,
                "calls": examples * 2, "seconds": 1.5, "hypothesis_seed": 7,
                "budget_exhausted": outcome == "passed", "outcome": outcome}

    checks = {"edge_cases::deadline": stat(12, "passed"),
              "edge_cases::no_crash": stat(3, "passed"),  # too few: errored, not passed
              "edge_cases::finite": stat(0, "not_run"),
              "edge_cases::batch_invariant": stat(2, "died"),
              "edge_cases::monotonic[late_payments]": stat(1, "counterexample")}
    status = {"edge_cases::deadline": Status.PASSED, "edge_cases::no_crash": Status.ERRORED,
              "edge_cases::finite": Status.ERRORED, "edge_cases::batch_invariant": Status.ERRORED,
              "edge_cases::monotonic[late_payments]": Status.FAILED}
    evidence = [Evidence(id=cid, suite="edge_cases", status=st, reason="r")
                for cid, st in status.items()]
    panels = edge_panels(edge_record({"checks": checks,
                                      "acceptance": {"valid": {"predicted": 4, "rejected": 0,
                                                               "crashed": 0, "bad_output": 0},
                                                     "nan": {"predicted": 0, "rejected": 2,
                                                             "crashed": 0, "bad_output": 0}}},
                                     evidence, min_examples=5, max_examples=12))
    search = next(p for p in panels if p.title.startswith("Search per check"))
    chart = search.chart
    assert isinstance(chart, IntervalChart) and chart.title and chart.axis_label
    assert [r.label for r in chart.rows] == ["deadline", "no_crash", "finite", "batch_invariant",
                                             "monotonic[late_payments]"]
    assert not any(r.flag for r in chart.rows)  # no bold flag text to clip
    assert [chart.series[r.series] for r in chart.rows] == [
        "passed", "not judged (errored)", "not judged (errored)", "not judged (errored)",
        "failed"]
    assert [ref.value for ref in chart.refs] == [5]
    svg = str(draw(chart, "t"))
    for label in ("monotonic[late_payments]", "batch_invariant", "passed", "failed",
                  "not judged (errored)", "min_examples 5"):
        assert label in svg, label
    assert ">warned (waived)</text>" not in svg  # the legend names only the series drawn
    table = search.table
    results = {row[0]: row[1] for row in table.rows}
    assert results["deadline"] == "✓ passed"
    assert results["no_crash"] == "– not judged: too few examples (3 < 5)"
    assert results["finite"] == "– not judged: not run, the model hung"
    assert results["batch_invariant"] == "– not judged: the model died"
    assert results["monotonic[late_payments]"] == "✗ failed: counterexample"
    assert table.headers[2:4] == ["judged", "needed"]
    assert [row[2:4] for row in table.rows][1] == ["3", "5"]
    assert table.row_flags == ["", "flag", "flag", "flag", "flag"]
    inputs = next(p for p in panels if p.title.startswith("What the model did"))
    assert list(inputs.chart.series) == ["predicted", "rejected", "crashed", "malformed output"]
    drawn = str(draw(inputs.chart, "u"))
    legend = [name for name in inputs.chart.series if f">{name}</text>" in drawn]
    assert legend == ["predicted", "rejected"]  # the legend names only the series drawn
    assert [row[1] for row in inputs.table.rows] == ["must be predicted", "on_nan = reject"]


def test_sample_size_decides_in_the_evidence(tmp_path, ref, fitted) -> None:
    """The sample size that decided a check is a comparison (examples >= min_examples), so the
    page shows it as the deciding value; too few examples is errored, never passed."""
    # every input kind gets at least one example, so a check judges more than max_examples
    session = certify(tmp_path, fitted, ref, seed=6, checks=["no_crash", "finite"],
                      max_examples=1, min_examples=100)
    for cid in ("edge_cases::no_crash", "edge_cases::finite"):
        record = session.evidence[cid]
        assert record.status is Status.ERRORED, record.reason
        (c,) = record.comparisons
        assert (c.metric, c.fail, c.status) == ("examples", 100, Status.ERRORED)
        assert c.value is not None and c.value < 100
    session.abort()
    session = certify(tmp_path / "b", fitted, ref, seed=6, checks=["no_crash"], max_examples=6,
                      min_examples=2)
    record = session.evidence["edge_cases::no_crash"]
    assert record.status is Status.PASSED
    assert [(c.metric, c.status) for c in record.comparisons] == [
        ("counterexamples", Status.PASSED), ("examples", Status.PASSED)]
    session.abort()


def test_a_monotonic_counterexample_on_a_sensitive_column_shows_what_changed(tmp_path, ref,
                                                                             fitted) -> None:
    """Issue 16: 'income <masked> -> <masked>' hid what changed. The reason, the counterexample
    file and the panel show the direction and size of the change in σ of the reference data and
    the decile bands it moved between; never the value, never an unkeyed hash of it."""
    import re

    from certify.demo.models import NonMonotonicClassifier
    from certify.masking import unkeyed_hashes
    from certify.suites.edge_cases.cases import show

    model = NonMonotonicClassifier(fitted, column="income",
                                   threshold=float(ref["income"].median()), penalty=3.0)
    model.classes_ = fitted.classes_
    model.feature_names_in_ = [str(c) for c in fitted.feature_names_in_]
    session = certify(tmp_path, model, ref, seed=41, checks=["monotonic"],
                      monotonic={"income": "increasing"},
                      extra={"sensitive_columns": ["income"]})
    cid = "edge_cases::monotonic[income]"
    record = session.evidence[cid]
    assert record.status is Status.FAILED, record.reason
    change = r"[+-]\d[\d.e+-]* σ \((both )?(p\d+(–p\d+)?|below the reference range|above the " \
             r"reference range)( → \S+)?"
    assert re.search(rf"income {change}", record.reason), record.reason
    assert "<masked>" not in record.reason
    cx = counterexample(session, cid)
    assert re.match(change, cx["observed"]["change"]), cx["observed"]
    assert len(cx["observed"]["values"]) == cx["input"]["n_rows"]
    assert all(re.match(r"p\d+|below|above", band) for band in cx["input"]["bands"]["income"])
    assert all(str(row["income"]).startswith("masked:") for row in cx["input"]["rows"])
    panels = page_panels(session)
    text = panel_text(panels)
    assert re.search(change, text) and "p" in text
    scores = next(p for p in panels if p.title == f"Counterexample: {cid}").table
    assert scores.headers[:3] == ["row", "income", "score"] and "flag" in scores.row_flags
    # the values the scan used (and the reference's) are nowhere: not raw, not hashed
    prop = session.suites["edge_cases"].result.properties[cid]
    used = [float(v) for v in prop.failure.case.frame["income"]] + [float(v) for v in ref["income"]]
    shown_all = "\n".join([record.reason, json.dumps(cx), text])
    for value in used:
        for form in {repr(value), show(value), f"{value:.4g}", *unkeyed_hashes(value)}:
            if len(form) >= 6:
                assert form not in shown_all, form
    session.abort()


def test_panels_never_raise_on_arbitrary_recorded_data() -> None:
    """report.json is untrusted and loosely shaped: an old, edited or odd report draws panels
    (or none), never raises, and shows no Python or JSON structure as text."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    values = st.recursive(leaves, lambda c: st.lists(c, max_size=4)
                          | st.dictionaries(st.text(max_size=6), c, max_size=4), max_leaves=20)
    keys = st.sampled_from(["check", "invariant", "violation", "input", "observed", "seed",
                            "hypothesis_seed", "shrunk", "artifact", "reproduce", "columns",
                            "rows", "n_rows", "notes", "kinds", "bands", "first", "second",
                            "alone", "in_batch", "batch", "large", "moved", "original",
                            "expected", "scores", "step", "values", "probabilities",
                            "predictions", "outcome", "error", "row", "examples", "name"])
    shaped = st.recursive(leaves, lambda c: st.lists(c, max_size=4)
                          | st.dictionaries(keys, c, max_size=6), max_leaves=30)
    counterexample = st.fixed_dictionaries(
        {"check": st.sampled_from(["edge_cases::deterministic", "edge_cases::monotonic[age]",
                                   "edge_cases::invariant[sex]", "edge_cases::noise_stability",
                                   "edge_cases::row_order", "edge_cases::finite", "x"])},
        optional={"observed": shaped, "input": shaped, "seed": values, "shrunk": values})
    data = st.fixed_dictionaries({}, optional={
        "counterexamples": st.lists(counterexample, max_size=3) | values,
        "checks": st.dictionaries(st.text(max_size=10), shaped, max_size=3) | values,
        "acceptance": st.dictionaries(st.text(max_size=10), shaped, max_size=3) | values,
        "latency_ms": st.dictionaries(st.text(max_size=6), values, max_size=3) | values,
        "seed": values})

    @settings(max_examples=200, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=data)
    def draw(data: dict[str, Any]) -> None:
        panels = edge_panels(edge_record(data, monotonic={"age": "increasing"}))
        text = panel_text(panels)
        assert "{'" not in text and '{"' not in text

    draw()
