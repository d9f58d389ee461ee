"""The adversarial suite: real ART attacks on real models, judged through the whole session.

Projects are the credit-risk demo data plus three "leak" columns that let a model be
accurate on clean rows while depending on differences far smaller than the columns' spread:
``bal_close - bal_open`` (about 0.02 standard deviations, usable by a linear model) and the
fractional offset of ``ref_code`` (usable by trees). The brittle models use them; the robust
ones ignore them. Fixed seeds throughout; small samples keep the file under half a minute
outside its two slow tests (Ray start-up; the demo's sabotage).
"""

from __future__ import annotations

import dataclasses
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from certify.demo import FEATURES, SEED, TARGET, baseline_model, candidate_model, make_credit_data
from certify.errors import ConfigError
from certify.evidence import Status
from certify.policy import load_policy
from certify.session import CertifySession
from tests.projects import make_project

NUMERIC = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "employment_years"]
CATEGORICAL = ["home_ownership", "purpose"]
LEAKS = ["bal_open", "bal_close", "ref_code"]


def leaky_data(n: int, seed: int) -> pd.DataFrame:
    frame = make_credit_data(n, seed)
    rng = np.random.default_rng(seed + 5)
    sign = 2 * frame[TARGET].to_numpy() - 1
    opening = np.round(rng.normal(5000, 1500, n), 2)
    frame["bal_open"] = opening
    frame["bal_close"] = np.round(opening + 30 * sign, 2)  # 30 is 0.02 standard deviations
    frame["ref_code"] = 10.0 * rng.integers(0, 10, n) + 0.1 * sign
    return frame


def pipeline(numeric: list[str], clf: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer([("num", StandardScaler(), numeric),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])
    return Pipeline([("prep", prep), ("clf", clf)])


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return leaky_data(1500, SEED), leaky_data(600, SEED + 100)


@pytest.fixture(scope="module")
def models(data: tuple[pd.DataFrame, pd.DataFrame]) -> dict[str, Any]:
    import sklearn.ensemble  # noqa: F401 - load OpenMP before limiting its threads
    from threadpoolctl import threadpool_limits

    ref = data[0]
    X, y = ref[FEATURES + LEAKS], ref[TARGET]  # noqa: N806
    with threadpool_limits(1):  # OpenMP threads on a busy 2-core box cost 10-20x
        return _fit_models(X, y)


def _fit_models(X: pd.DataFrame, y: pd.Series) -> dict[str, Any]:  # noqa: N803
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    return {
        "baseline": baseline_model().fit(X, y),
        "robust_lr": pipeline(NUMERIC, LogisticRegression(C=0.5, max_iter=1000)).fit(X, y),
        "brittle_lr": pipeline(NUMERIC + ["bal_open", "bal_close"],
                               LogisticRegression(C=1e4, max_iter=5000)).fit(X, y),
        "robust_gbm": candidate_model().fit(X, y),
        "brittle_gbm": pipeline(NUMERIC + ["ref_code"],
                                HistGradientBoostingClassifier(max_iter=60, random_state=SEED)).fit(X, y),
    }


def settings(**extra: Any) -> dict[str, Any]:
    base = {"epsilon": 0.1, "immutable": ["age"], "sample_size": 48, "executor": "inprocess",
            "bb_iterations": 2, "margin": 0.1, "shard_size": 12}
    return {**base, **extra}


def certify(tmp_path: Path, data: Any, candidate: Any, baseline: Any = "default",
            extra: dict[str, Any] | None = None, **adv: Any) -> CertifySession:
    path = make_project(tmp_path, candidate=candidate, baseline=baseline, reference=data[0],
                        evaluation=data[1], suites={"adversarial": settings(**adv)}, extra=extra)
    session = CertifySession(load_policy(path), out_dir=tmp_path / "out")
    session.setup()
    session.run_all()
    return session


def evidence(session: CertifySession) -> dict[str, Any]:
    return {e.id.removeprefix("adversarial::"): e for e in session.evidence.values()}


# -- the threat model's plausibility rules (no ART needed) -------------------------------------
def test_plausible_rows_clip_round_toward_original_and_keep_frozen() -> None:
    from certify.suites.adversarial.space import AttackSpace

    space = AttackSpace(columns=["a", "n"], mean=np.array([0.0, 10.0]), std=np.array([2.0, 4.0]),
                        raw_lo=np.array([-1.0, 0.0]), raw_hi=np.array([3.0, 20.0]),
                        integer=np.array([False, True]), norm="inf")
    raw0 = np.array([[1.0, 10.0], [5.0, 12.0]])  # row 2's 'a' already lies above the schema max
    z0 = space.to_z(raw0)
    frozen = np.array([[False, False], [False, True]])
    z, raw = space.plausible(z0 + np.array([[5.0, 0.2], [1.0, 3.0]]), z0, raw0, frozen)
    assert raw[0, 0] == 3.0  # clipped to the schema max
    assert raw[0, 1] == 10.0  # +0.8 of an integer column truncates to no move
    assert raw[1, 0] == 5.0  # clipped to the row's own out-of-range value, never beyond
    assert raw[1, 1] == 12.0  # frozen (e.g. missing) stays as it was
    z, raw = space.plausible(z0 + np.array([[0.0, -0.6], [0.0, 0.0]]), z0, raw0, frozen)
    assert raw[0, 1] == 8.0  # -2.4 truncates toward the original: -2, never -3
    assert np.all(space.distance(z, z0) <= 0.6 + 1e-12)
    # float32 noise of an attack is no perturbation
    z, raw = space.plausible(z0.astype(np.float32), z0, raw0, frozen)
    assert np.array_equal(raw, raw0)


# -- white-box (gradient) path ------------------------------------------------------------------
def test_brittle_logistic_is_rejected_by_pgd(tmp_path: Path, data: Any, models: dict[str, Any]) -> None:
    session = certify(tmp_path, data, models["brittle_lr"], models["baseline"])
    ev = evidence(session)
    assert ev["clean_accuracy"].metrics["candidate"] > 0.95  # accurate on clean rows ...
    assert ev["robust_accuracy"].metrics["attack"] == "pgd"
    assert ev["robust_accuracy"].metrics["candidate"] < 0.1  # ... and flips under 0.1 std
    assert ev["regression"].status is Status.FAILED
    assert ev["attack_success_rate"].status is Status.FAILED
    assert "min_perturbation" not in ev  # white-box attacks have no minimal-perturbation record
    assert session.decide()[0].decision.value == "REJECTED"


def test_robust_logistic_is_certified(tmp_path: Path, data: Any, models: dict[str, Any]) -> None:
    session = certify(tmp_path, data, models["robust_lr"], models["baseline"])
    ev = evidence(session)
    # Judged checks pass; figures without a threshold are measured, not judged (info).
    assert {k: e.status for k, e in ev.items()} == {
        "clean_accuracy": Status.INFO, "robust_accuracy": Status.INFO,
        "attack_success_rate": Status.PASSED, "regression": Status.PASSED}, \
        {k: e.reason for k, e in ev.items()}
    assert "judged against the baseline by adversarial::regression" in ev["robust_accuracy"].reason
    curve = ev["robust_accuracy"].metrics["curve"]
    assert curve["candidate"] == sorted(curve["candidate"], reverse=True)  # more budget, less robust
    assert curve["candidate"][-1] < ev["clean_accuracy"].metrics["candidate"]  # the attack bites
    assert ev["regression"].metrics["baseline_attack"] == "pgd"
    assert session.decide()[0].decision.value == "CERTIFIED"


# -- black-box path (tree ensembles) ------------------------------------------------------------
@pytest.fixture(scope="module")
def brittle(tmp_path_factory: pytest.TempPathFactory, data: Any,
            models: dict[str, Any]) -> CertifySession:
    """The brittle tree ensemble against the logistic baseline, income sensitive."""
    return certify(tmp_path_factory.mktemp("brittle"), data, models["brittle_gbm"],
                   models["baseline"], extra={"sensitive_columns": ["income"]})


def test_brittle_tree_ensemble_is_rejected_by_hopskipjump(brittle: CertifySession, data: Any) -> None:
    session = brittle
    ev = evidence(session)
    assert ev["clean_accuracy"].metrics["candidate"] > 0.95
    assert ev["robust_accuracy"].metrics["attack"] == "hopskipjump"
    assert ev["regression"].metrics["same_attack"] is True
    assert ev["robust_accuracy"].metrics["candidate"] < 0.1
    assert ev["min_perturbation"].metrics["median"] < 0.1
    assert ev["regression"].status is Status.FAILED
    assert session.decide()[0].decision.value == "REJECTED"
    # Example rows: original vs adversarial predictions, sensitive values masked.
    art = next(a for a in ev["robust_accuracy"].artifacts if a.path.endswith("examples.json"))
    examples = json.loads((session.run_dir.path / art.path).read_text())["models"]["candidate"]
    assert examples and all(e["original_prediction"] != e["adversarial_prediction"] for e in examples)
    raw_incomes = {str(v) for v in data[1]["income"]}
    for e in examples:
        assert str(e["original"]["income"]).startswith("masked:")
        assert str(e["original"]["income"]) not in raw_incomes
        assert e["adversarial"]["age"] == e["original"]["age"]  # immutable
        assert e["adversarial"]["home_ownership"] == e["original"]["home_ownership"]  # categorical


def test_pictures_answer_the_question(brittle: CertifySession, data: Any) -> None:
    """Robust accuracy vs epsilon with intervals and sample sizes, candidate and baseline apart;
    minimal perturbations on a log axis with the epsilon line off the labels; wall time, budget
    and worker time each explained; example changes visible, sensitive ones without values."""
    from certify.suite import SuiteRecord
    from certify.view import IntervalChart

    state = brittle.suites["adversarial"]
    ev = [e for e in brittle.evidence.values() if e.suite == "adversarial"]
    report = json.loads(json.dumps(state.suite.report_data(state.ctx, state.result)))
    robust, pert, examples = state.suite.panels(SuiteRecord("adversarial", state.ctx.settings,
                                                            report, ev))
    chart = robust.chart
    assert isinstance(chart, IntervalChart) and chart.title == "Robust accuracy vs epsilon"
    assert list(chart.series) == ["candidate", "baseline"] and {r.series for r in chart.rows} == {0, 1}
    assert len(chart.rows) == 2 * len(report["curve"]["epsilons"])
    for r in chart.rows:  # 0 robust of n rows still has an upper limit above 0 (Wilson)
        assert r.lo is not None and r.hi is not None and r.lo <= r.value <= r.hi and r.hi > 0
    assert all("n = " in r.label for r in chart.rows) and any("(policy)" in r.label for r in chart.rows)
    items = dict(robust.items)
    assert "max_seconds = 300 s is one deadline" in items["wall time"] and items["worker time"]
    assert "summed over shards" in items["worker time"] and "exceed the wall time" in items["worker time"]
    pchart = pert.chart
    assert isinstance(pchart, IntervalChart) and pchart.log and pchart.title == "Minimal adversarial perturbation"
    assert [ref.value for ref in pchart.refs] == [0.1] and all("n = " in r.label for r in pchart.rows)
    # Example rows: a move is visible at the data's precision; income (sensitive) has no value.
    raw_incomes = {f"{v:.2f}" for v in data[1]["income"]} | {str(v) for v in data[1]["income"]}
    text = " ".join(str(cell) for row in examples.table.rows for cell in row)
    assert "income: masked:" in text and "reference decile" in text and " σ" in text
    assert not any(v in text for v in raw_incomes)
    moves = [m for row in examples.table.rows for m in row[4].split("; ") if "masked:" not in m]
    for move in moves:
        before, after = move.split(": ", 1)[1].split(" (")[0].split(" → ")
        assert before != after, move


def test_a_change_is_shown_with_the_digits_that_reveal_it() -> None:
    from certify.suites.adversarial.artifacts import decimals
    from certify.suites.adversarial.view import _change

    assert _change("age", {"from": 60.0, "to": 60.0004, "std_units": 3e-5, "decimals": 0}) == \
        "age: 60.0000 → 60.0004 (+0.0004, +3e-05 σ)"
    assert _change("income", {"from": 41230.55, "to": 41500.25, "std_units": 0.02, "decimals": 2}) \
        == "income: 41230.55 → 41500.25 (+269.70, +0.02 σ)"
    assert _change("income", {"from": "masked:0123456789ab", "to": "masked:ba9876543210",
                              "std_units": 0.37, "band": {"from": "p40-p50", "to": "p50-p60"}}) == \
        "income: masked:0123456789ab → masked:ba9876543210 (+0.37 σ, reference decile p40-p50 → p50-p60)"
    assert decimals(np.array([1.25, 3.5, 2.0])) == 2 and decimals(np.array([3.0, 4.0])) == 0


def test_robust_tree_ensemble_is_certified(tmp_path: Path, data: Any, models: dict[str, Any]) -> None:
    session = certify(tmp_path, data, models["robust_gbm"], models["baseline"])
    ev = evidence(session)
    assert {k: e.status for k, e in ev.items()} == {
        "clean_accuracy": Status.INFO, "robust_accuracy": Status.INFO,
        "attack_success_rate": Status.PASSED, "min_perturbation": Status.INFO,
        "regression": Status.PASSED}, {k: e.reason for k, e in ev.items()}
    assert "measured, not judged" in ev["min_perturbation"].reason
    assert ev["robust_accuracy"].metrics["attack"] == "hopskipjump"
    assert ev["min_perturbation"].metrics["median"] > 0.1
    assert session.decide()[0].decision.value == "CERTIFIED"


# -- budgets: errored, never passed -------------------------------------------------------------
def test_query_budget_exhaustion_errors_the_attack_checks(tmp_path: Path, data: Any,
                                                          models: dict[str, Any]) -> None:
    session = certify(tmp_path, data, models["robust_gbm"], models["baseline"], max_queries=200,
                      sample_size=12)
    ev = evidence(session)
    assert ev["clean_accuracy"].status is Status.INFO  # needs no attack; no threshold
    for name in ("robust_accuracy", "attack_success_rate", "min_perturbation", "regression"):
        assert ev[name].status is Status.ERRORED, name
        assert "query budget (max_queries=200 per row) exhausted" in ev[name].reason
    assert "completed" in ev["robust_accuracy"].reason
    assert session.decide()[0].decision.value == "INCOMPLETE"


def test_wall_time_budget_exhaustion_errors(tmp_path: Path, data: Any, models: dict[str, Any]) -> None:
    session = certify(tmp_path, data, models["robust_lr"], models["baseline"], max_seconds=1e-6)
    ev = evidence(session)
    assert ev["robust_accuracy"].status is Status.ERRORED
    assert "wall-time budget (max_seconds=1e-06) exhausted" in ev["robust_accuracy"].reason
    # Nothing was measured, so nothing passes: clean accuracy errors too (never a NaN "pass").
    assert all(e.status is not Status.PASSED for e in ev.values()), {
        k: (e.status, e.reason) for k, e in ev.items() if e.status is Status.PASSED}
    assert session.decide()[0].decision.value == "INCOMPLETE"


# -- unfit models: found by a probe in the first seconds, not after the whole budget -----------
def _wrapped(kind: str, base: Any, **options: Any) -> Any:
    """A demo wrapper around ``base``; ``sleeping``: every call sleeps (incomes under "lows")."""
    from certify.demo.models import HangingClassifier, NondeterministicClassifier

    model = (NondeterministicClassifier(base, **options) if kind == "noisy" else HangingClassifier(
        base, columns=["income"], lows=[1e12], highs=[2e12], **options))
    model.classes_, model.feature_names_in_ = base.classes_, list(map(str, base.feature_names_in_))
    return model


def _not_attacked(session: CertifySession, why: str) -> None:
    """Every check errored naming ``why``; no row of either model attacked, no query made."""
    ev = evidence(session)
    assert all(e.status is Status.ERRORED for e in ev.values()), {k: e.status for k, e in ev.items()}
    for name in ("robust_accuracy", "attack_success_rate", "regression", "clean_accuracy"):
        assert why in ev[name].reason, (name, ev[name].reason)
    result = session.suites["adversarial"].result
    for m in result.models.values():
        assert set(m.status) == {"halted"} and int(m.queries.sum()) == 0
    assert "the suite stopped at the candidate" in result.models["baseline"].halt
    assert session.decide()[0].decision.value == "INCOMPLETE"


def test_noisy_candidate_stops_the_suite_before_any_attack(tmp_path: Path, data: Any,
                                                           models: dict[str, Any]) -> None:
    session = certify(tmp_path, data, _wrapped("noisy", models["robust_gbm"], noise=0.3), models["baseline"])
    _not_attacked(session, "the candidate scored the same 48 rows twice and")
    assert "noisy answers" in evidence(session)["robust_accuracy"].reason


def test_slow_candidate_stops_the_suite_before_any_attack(tmp_path: Path, data: Any,
                                                          models: dict[str, Any]) -> None:
    slow = _wrapped("sleeping", models["robust_gbm"], sleep_s=0.6)  # over the per-call budget
    session = certify(tmp_path, data, slow, models["baseline"], max_call_seconds=0.3)
    _not_attacked(session, "over the per-call budget max_call_seconds=0.3")


def test_attack_projected_past_its_deadline_stops_after_one_iteration(
        tmp_path: Path, data: Any, models: dict[str, Any]) -> None:
    slowish = _wrapped("sleeping", models["robust_gbm"], sleep_s=0.1)  # within max_call_seconds
    session = certify(tmp_path, data, slowish, None, sample_size=12, bb_iterations=500,
                      max_seconds=60, thresholds={"robust_accuracy": {"fail": 0.5}})
    robust = evidence(session)["robust_accuracy"]
    assert robust.status is Status.ERRORED and "wall-time budget (max_seconds=60)" in robust.reason
    assert "stopped after iteration 1 of 500" in robust.reason and "projected" in robust.reason


def test_black_box_queries_are_batched_over_rows(tmp_path: Path, data: Any,
                                                 models: dict[str, Any]) -> None:
    """Each step of the lock-step attack asks about all rows in one call: the number of calls
    does not grow with the rows (ART's HopSkipJump made dozens of calls per row)."""
    path = make_project(tmp_path, candidate=models["robust_gbm"], baseline=None,
                        reference=data[0], evaluation=data[1], suites={"adversarial": settings(
                            fast_path=False, thresholds={"robust_accuracy": {"fail": 0.0}})})
    session = CertifySession(load_policy(path), out_dir=tmp_path / "out")
    session.setup()
    calls: list[int] = []
    real = session.candidate.predict
    session.candidate.predict = lambda frame: calls.append(len(frame)) or real(frame)  # type: ignore[method-assign]
    session.run_all()
    cand = session.suites["adversarial"].result.candidate
    assert cand.attacked >= 30 and cand.budget_reason is None
    assert len(calls) < 80  # ART: several thousand calls for these rows
    assert sum(calls) / len(calls) > 50  # many points per call


def test_a_rows_attack_does_not_depend_on_the_rows_beside_it(tmp_path: Path, data: Any,
                                                              models: dict[str, Any],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """In process, a model's shards are attacked as one lock-step bundle; on Ray, shard by
    shard. Every row draws from its own generator, so both give the same numbers."""
    from certify.suites.adversarial import engine
    from certify.suites.adversarial.shard import attack_shard

    def shard_by_shard(ctx: Any, jobs: list[Any], models: dict[str, Any], *_: Any) -> list[Any]:
        return [attack_shard(dataclasses.replace(job, deadline=np.inf), models[job.role])
                for job in jobs]

    runs = []
    for split in (False, True):
        if split:
            monkeypatch.setattr(engine, "_in_process", shard_by_shard)
        session = certify(tmp_path / str(split), data, models["robust_gbm"], models["baseline"],
                          sample_size=24, shard_size=5)
        state = session.suites["adversarial"]
        report = {k: v for k, v in state.suite.report_data(state.ctx, state.result).items()
                  if k not in ("budget", "timing")}
        rows = (session.run_dir.path / "artifacts" / "adversarial" / "results.json").read_text()
        runs.append((report, rows))
    assert runs[0] == runs[1]


# -- configuration errors are one clear line ----------------------------------------------------
def test_white_box_attack_on_a_tree_ensemble_is_a_config_error(tmp_path: Path, data: Any,
                                                                models: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"suites\.adversarial\.attack: pgd needs model gradients"):
        certify(tmp_path, data, models["robust_gbm"], models["baseline"], attack="pgd")


def test_categorical_feature_cannot_be_perturbed(tmp_path: Path, data: Any, models: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"suites\.adversarial\.features: 'purpose' is categorical"):
        certify(tmp_path, data, models["robust_lr"], models["baseline"], features=["income", "purpose"])


# -- the fast path only steers the search: the real model decides ------------------------------
def test_fast_path_and_dataframe_path_agree(tmp_path: Path, data: Any, models: dict[str, Any]) -> None:
    runs = []
    for fast in (True, False):
        session = certify(tmp_path / str(fast), data, models["brittle_gbm"], None, sample_size=8,
                          fast_path=fast, thresholds={"robust_accuracy": {"fail": 0.0}})
        state = session.suites["adversarial"]
        runs.append(state.suite.report_data(state.ctx, state.result))
    assert runs[0]["attacks"]["candidate"]["fast_path"] is True
    assert runs[1]["attacks"]["candidate"]["fast_path"] is False
    for key in ("curve", "metrics", "perturbation"):
        assert runs[0][key] == runs[1][key], key


# -- an HTTP endpoint: black-box through the adapter ----------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    model: Any = None

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        frame = pd.DataFrame(body["instances"], columns=FEATURES + LEAKS)
        out = json.dumps({"predictions": self.model.predict(frame).tolist(),
                          "probabilities": self.model.predict_proba(frame).tolist()}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    def server_bind(self) -> None:
        import socket

        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()


def test_http_endpoint_is_attacked_black_box(tmp_path: Path, data: Any, models: dict[str, Any]) -> None:
    handler = type("H", (_Handler,), {"model": models["brittle_gbm"]})
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        path = make_project(tmp_path, candidate=models["robust_gbm"], baseline=None,
                            reference=data[0], evaluation=data[1],
                            suites={"adversarial": settings(sample_size=6,
                                                            thresholds={"robust_accuracy": {"fail": 0.5}})})
        text = path.read_text().replace(
            'path = "models/candidate.skops"',
            f'url = "http://127.0.0.1:{server.server_address[1]}/predict"\n'
            f'classes = [0, 1]\noptions = {{features = {json.dumps(FEATURES + LEAKS)}, task = "classification"}}')
        text = "\n".join(ln for ln in text.splitlines() if not ln.startswith("trusted_types"))
        path.write_text(text)
        session = CertifySession(load_policy(path), out_dir=tmp_path / "out")
        session.setup()
        session.run_all()
    finally:
        server.shutdown()
    ev = evidence(session)
    assert ev["robust_accuracy"].metrics["attack"] == "hopskipjump"
    report = session.suites["adversarial"].suite.report_data(session.suites["adversarial"].ctx,
                                                             session.suites["adversarial"].result)
    assert report["attacks"]["candidate"]["fast_path"] is False
    assert ev["robust_accuracy"].status is Status.FAILED  # the served model is the brittle one
    assert ev["robust_accuracy"].metrics["candidate"] < 0.2


# -- Ray: fixed shards, same numbers whatever the number of workers ----------------------------
@pytest.mark.slow
def test_same_seed_same_numbers_with_one_or_two_ray_workers(tmp_path: Path, data: Any,
                                                            models: dict[str, Any]) -> None:
    outs = []
    for executor, workers in (("ray", 1), ("ray", 2), ("inprocess", None)):
        more = {"workers": workers} if workers else {}
        session = certify(tmp_path / f"{executor}{workers}", data, models["robust_gbm"], models["baseline"],
                          sample_size=24, shard_size=6, executor=executor, **more)
        state = session.suites["adversarial"]
        assert state.result.executor == executor
        data_out = state.suite.report_data(state.ctx, state.result)
        data_out.pop("budget")  # timings differ
        data_out.pop("timing")
        metrics = {k: {m: v for m, v in e.metrics.items() if m not in ("executor", "workers")}
                   for k, e in evidence(session).items()}
        rows = json.loads((session.run_dir.path / "artifacts" / "adversarial" / "results.json").read_text())
        outs.append((data_out, metrics, rows))
    assert outs[0] == outs[1] == outs[2]


# -- torch (extra): white-box through ART's PyTorchClassifier ----------------------------------
def _torch_project(tmp_path: Path, torch: Any, form: str = "export") -> tuple[Path, Any]:
    """A small MLP (standardisation as its first, affine layer) saved as an exported program
    (``.pt2``) or TorchScript (``.pt``), and a project whose candidate is that file (format
    inferred) and baseline a logistic."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    cols = ["x0", "x1", "x2", "x3"]

    def numeric(n: int) -> pd.DataFrame:
        X = rng.normal(size=(n, 4)) * [1, 2, 5, 0.5] + [0, 10, 50, 1]  # noqa: N806
        z = (X - [0, 10, 50, 1]) / [1, 2, 5, 0.5]
        y = (z[:, 0] - z[:, 1] + 0.5 * z[:, 2] * z[:, 3] + 0.3 * rng.normal(size=n) > 0).astype(int)
        return pd.DataFrame(X, columns=cols).assign(**{TARGET: y})

    ref, ev = numeric(1500), numeric(400)
    torch.manual_seed(0)
    mean, std = ref[cols].mean().to_numpy(), ref[cols].std(ddof=0).to_numpy()
    net = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    scale = torch.nn.Linear(4, 4)
    with torch.no_grad():  # standardisation as the module's first (affine) layer
        scale.weight.copy_(torch.diag(torch.tensor(1 / std, dtype=torch.float32)))
        scale.bias.copy_(torch.tensor(-mean / std, dtype=torch.float32))
    module = torch.nn.Sequential(scale, net)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    xs = torch.tensor(ref[cols].to_numpy(np.float32))
    ys = torch.tensor(ref[TARGET].to_numpy())
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(module(xs), ys).backward()
        opt.step()
    module.eval()
    (tmp_path / "models").mkdir(parents=True, exist_ok=True)
    if form == "export":
        program = torch.export.export(module, (xs[:4],),  # any batch size
                                      dynamic_shapes=({0: torch.export.Dim.DYNAMIC},))
        torch.export.save(program, str(tmp_path / "models" / "mlp.pt2"))
    else:
        torch.jit.script(module).save(str(tmp_path / "models" / "mlp.pt"))
    baseline = make_pipeline(StandardScaler(), LogisticRegression()).fit(ref[cols], ref[TARGET])
    path = make_project(tmp_path, candidate=baseline, baseline=baseline, reference=ref, evaluation=ev,
                        suites={"adversarial": settings(immutable=[], sample_size=60),
                                "quality": {}},
                        extra={"candidate": {"path": "models/mlp.pt2" if form == "export"
                                             else "models/mlp.pt", "classes": [0, 1],
                                             "name": "mlp"}})
    return path, module


@pytest.mark.parametrize("form", ["export", "torchscript"])
def test_torch_module_is_attacked_white_box(tmp_path: Path, form: str) -> None:
    """A PyTorch candidate (the torch adapter, format inferred from .pt2 / .pt) is certified
    like any other model, and attacked white-box with PGD through ART's PyTorchClassifier."""
    torch = pytest.importorskip("torch")
    path, _ = _torch_project(tmp_path, torch, form)
    session = CertifySession(load_policy(path), out_dir=tmp_path / "out")
    session.setup()
    assert session.candidate.format == "torch" and session.candidate.classes == [0, 1]
    session.run_all()
    state = session.suites["adversarial"]
    result = state.result
    cand = result.models["candidate"]
    assert (cand.attack, cand.kind, cand.fast) == ("pgd", "white-box", True)
    assert result.models["baseline"].attack == "pgd"
    ev = evidence(session)
    assert ev["clean_accuracy"].metrics["candidate"] > 0.8
    curve = ev["robust_accuracy"].metrics["curve"]["candidate"]
    assert curve == sorted(curve, reverse=True) and curve[-1] < curve[0] - 0.1  # gradients bite
    quality = session.evidence["quality::roc_auc"]
    assert quality.status is not Status.ERRORED and quality.metrics["candidate"] > 0.85
    session.abort()


def test_torch_adapter_refuses_what_it_cannot_load_safely(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from certify.errors import ModelError

    path, module = _torch_project(tmp_path, torch, "torchscript")
    # A torch.save checkpoint (pickle) is not TorchScript: refused with the way out.
    torch.save(module, str(tmp_path / "models" / "mlp.pt"))
    with pytest.raises(ModelError, match=r"is not a TorchScript file .*torch\.export\.save"):
        CertifySession(load_policy(path), out_dir=tmp_path / "out").setup()
    # A classifier without its class labels is a configuration error naming the key.
    torch.jit.script(module).save(str(tmp_path / "models" / "mlp.pt"))
    no_classes = path.read_text().replace("classes = [0, 1]", "options = {task = \"classification\"}")
    path.write_text(no_classes)
    with pytest.raises(ConfigError, match=r"candidate\.classes: a torch classifier needs"):
        CertifySession(load_policy(path), out_dir=tmp_path / "out").setup()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# -- the demo's sabotage --------------------------------------------------------------------------
@pytest.mark.slow
def test_demo_sabotage_brittle_is_rejected_by_the_adversarial_suite(tmp_path: Path) -> None:
    import tomllib

    import sklearn.ensemble  # noqa: F401 - load OpenMP before limiting its threads
    from threadpoolctl import threadpool_limits

    from certify.demo import SABOTAGES, build_project
    from certify.policy import policy_from_mapping

    with threadpool_limits(1):
        path, project = build_project(tmp_path / "demo", "brittle")
    raw = tomllib.loads(path.read_text())
    raw["suites"] = {"adversarial": {**raw["suites"]["adversarial"], "sample_size": 24}}  # alone
    session = CertifySession(policy_from_mapping(raw, path), out_dir=tmp_path / "out")
    session.setup()
    session.run_all()
    verdict = session.decide()[0]
    assert project.expect == verdict.decision.value == "REJECTED"
    expected = SABOTAGES["brittle"].expect_reason
    assert any(r.startswith(expected + " failed") for r in verdict.reasons), verdict.reasons
    ev = evidence(session)
    # As accurate as the real candidate on clean rows (the ripple vanishes there) ...
    real = project.candidate.named_steps["clf"].base
    prep = project.candidate.named_steps["prep"]
    ev_frame = project.evaluation[FEATURES]
    assert np.array_equal(project.candidate.predict(ev_frame), real.predict(prep.transform(ev_frame)))
    # ... and flipped by perturbations far below the policy's epsilon.
    assert ev["robust_accuracy"].metrics["candidate"] < 0.05
    assert ev["min_perturbation"].metrics["quantiles"]["p90"] < 0.1


@pytest.mark.slow
def test_suites_that_start_ray_ahead_run_after_the_others(tmp_path: Path, data: Any,
                                                          models: dict[str, Any]) -> None:
    """The adversarial suite on Ray starts the local Ray at set-up (Suite.warm_up returns True),
    so it runs after the in-process suites, whatever the policy's order: Ray's start-up overlaps
    with their work instead of the suite waiting for it. The report still groups by suite."""
    path = make_project(tmp_path, candidate=models["robust_gbm"], baseline=models["baseline"],
                        reference=data[0], evaluation=data[1],
                        suites={"adversarial": settings(sample_size=12, shard_size=6,
                                                        executor="ray", workers=1),
                                "drift": {}, "quality": {"bootstrap": 20}})
    session = CertifySession(load_policy(path), out_dir=tmp_path / "out")
    session.setup()
    assert list(session.suites) == ["quality", "adversarial", "drift"]  # the policy's order
    assert [s.warming for s in session.suites.values()] == [False, True, False]
    ran: list[str] = []
    for spec in session.planned:
        if spec.suite not in ran:
            ran.append(spec.suite)
    assert ran == ["quality", "drift", "adversarial"]
    session.run_all()
    suites_in_order = list(dict.fromkeys(e.suite for e in session.evidence.values()))
    assert suites_in_order == ["quality", "drift", "adversarial"]
    assert session.suites["adversarial"].result.executor == "ray"
    report = session.build_report()
    assert list(report.suites) == ["quality", "adversarial", "drift"]


def _attack(role: str, robust: list[bool]) -> Any:
    """A completed attack on len(robust) rows, all classified correctly, robust where True."""
    from certify.suites.adversarial.results import ModelAttack

    n = len(robust)
    attack = ModelAttack.blank(n, 1, 2, "ok", role=role, attack="hopskipjump", kind="black-box",
                               reason="", fast=False, classes=[0, 1],
                               true_idx=np.zeros(n, dtype=int), grid=[0.1], epsilon=0.1,
                               max_queries=100, max_seconds=10.0)
    attack.clean_idx[:] = 0
    attack.flipped[:, 0] = ~np.asarray(robust)
    return attack


@pytest.mark.parametrize(("cand_robust", "base_robust", "status"), [
    (73, 78, Status.PASSED),   # -0.05 exactly: within the margin (no float artefact)
    (70, 78, Status.WARNED),   # -0.08, but the interval reaches back across -0.05
    (40, 78, Status.FAILED),   # -0.38: the whole interval is beyond the margin
    (78, 78, Status.PASSED),
])
def test_regression_fails_only_on_a_regression_beyond_doubt(cand_robust: int, base_robust: int,
                                                            status: Status) -> None:
    """adversarial::regression on the paired interval of the difference (100 rows)."""
    from certify.suites.adversarial import checks
    from certify.suites.adversarial.results import AdversarialResult
    from certify.suites.adversarial.settings import AdversarialSettings

    rng = np.random.default_rng(5)
    base = np.arange(100) < base_robust
    cand = base.copy()
    if cand_robust < base_robust:  # rows the baseline resists and the candidate does not
        cand[rng.choice(np.flatnonzero(base), base_robust - cand_robust, replace=False)] = False
    models = {"candidate": _attack("candidate", list(cand)),
              "baseline": _attack("baseline", list(base))}
    result = AdversarialResult.__new__(AdversarialResult)
    result.__dict__.update(epsilon=0.1, norm="inf", grid=[0.1], seed=3, sample_size=100,
                           models=models, columns=["a", "b"], executor="inprocess", workers=1,
                           shards=1)
    out = checks.regression(result, AdversarialSettings())
    assert out.status is status, out.reason
    assert out.metrics["paired_rows"] == 100
    assert out.metrics["diff"] == round((cand_robust - base_robust) / 100, 12)
    lo, hi = out.metrics["diff_ci"]
    assert lo <= out.metrics["diff"] <= hi
    if status is Status.WARNED:
        assert "inconclusive" in out.reason and "sample_size" in out.reason


@pytest.mark.parametrize("form", ["export", "torchscript"])
def test_a_torch_model_pickles_as_its_bytes(tmp_path: Path, form: str) -> None:
    """The load suite hands the certified model to its server processes as a pickle: a torch
    model travels as its file's bytes and answers the same on the other side."""
    import pickle

    torch = pytest.importorskip("torch")
    from certify.models import load_model

    path, _ = _torch_project(tmp_path, torch, form)
    spec = load_policy(path).candidate
    model = load_model(spec, path.parent, "candidate")
    again = pickle.loads(pickle.dumps(model))
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 4)), columns=["x0", "x1", "x2", "x3"])
    assert again.digest == model.digest
    assert model.predict_proba is not None and again.predict_proba is not None
    assert np.array_equal(again.predict_proba(X), model.predict_proba(X))
