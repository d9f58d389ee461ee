"""The explain suite on real models and real SHAP: the explainer each model gets, values that
match SHAP called directly, the honest demo pair passing, a shortcut candidate failing
``explain::protected_use[sex]``, budgets, Ray determinism, the page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from certify.demo import (
    FEATURES,
    N_EVALUATION,
    N_REFERENCE,
    SEED,
    TARGET,
    baseline_model,
    candidate_model,
    make_credit_data,
    preprocessor,
)
from certify.demo.models import shortcut_model
from certify.evidence import Status
from certify.policy import load_policy
from certify.session import CertifySession
from certify.verdict import Decision
from tests.projects import make_project

NUMERIC = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "employment_years"]


# -- the sabotage the demo uses ------------------------------------------------------------------
shortcut_candidate = shortcut_model


# -- helpers ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo's own data (same sizes and seeds as ``certify demo``)."""
    return make_credit_data(N_REFERENCE, SEED), make_credit_data(N_EVALUATION, SEED + 100)


@pytest.fixture(scope="module")
def demo_models(demo_data: tuple[pd.DataFrame, pd.DataFrame]) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    ref = demo_data[0]
    with threadpool_limits(1):
        return {"baseline": baseline_model().fit(ref[FEATURES], ref[TARGET]),
                "candidate": candidate_model().fit(ref[FEATURES], ref[TARGET])}


@pytest.fixture(scope="module")
def small_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_credit_data(1500, SEED), make_credit_data(600, SEED + 100)


@pytest.fixture(scope="module")
def small_models(small_data: tuple[pd.DataFrame, pd.DataFrame]) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    ref = small_data[0]
    with threadpool_limits(1):
        return {"baseline": baseline_model().fit(ref[FEATURES], ref[TARGET]),
                "candidate": candidate_model().fit(ref[FEATURES], ref[TARGET])}


def certify(root: Path, data: tuple[pd.DataFrame, pd.DataFrame], candidate: Any,
            baseline: Any = None, suites: dict[str, Any] | None = None,
            extra: dict[str, Any] | None = None) -> CertifySession:
    policy = make_project(root, reference=data[0], evaluation=data[1], candidate=candidate,
                          baseline=baseline, suites=suites or {"explain": {}},
                          extra={"protected_attributes": ["sex"],
                                 "sensitive_columns": ["income"], **(extra or {})})
    session = CertifySession(load_policy(policy), out_dir=root / "out")
    session.setup()
    session.run_all()
    return session


def explained(session: CertifySession) -> tuple[Any, dict[str, Any]]:
    state = session.suites["explain"]
    return state.result, state.suite.report_data(state.ctx, state.result)


def statuses(session: CertifySession) -> dict[str, Status]:
    return {k: e.status for k, e in session.evidence.items()}


# -- the demo pair and the shortcut ------------------------------------------------------------------
def test_honest_demo_models_pass_with_the_defaults(tmp_path: Path, demo_data: Any,
                                                   demo_models: dict[str, Any]) -> None:
    session = certify(tmp_path, demo_data, demo_models["candidate"], demo_models["baseline"])
    result, data = explained(session)
    assert data["models"]["candidate"]["explainer"] == "tree"
    assert data["models"]["baseline"]["explainer"] == "linear"
    assert data["output"] == "probability of class 1"
    # every check passed (not merely "not failed"): the defaults hold for the honest pair
    assert set(statuses(session).values()) == {Status.PASSED}, {
        k: e.reason for k, e in session.evidence.items() if e.status is not Status.PASSED}
    ids = set(session.evidence)
    assert {"explain::rank_agreement", "explain::protected_use[sex]", "explain::additivity"} <= ids
    assert {f"explain::attribution_shift[{f}]" for f in FEATURES} <= ids
    # neither model reads sex (the preprocessing drops it): exactly zero, not merely small
    assert result.figures["candidate"].share[FEATURES.index("sex")] == 0.0
    assert session.evidence["explain::additivity"].metrics["candidate"] < 1e-6
    assert session.evidence["explain::additivity"].metrics["baseline"] < 1e-12
    # the linear baseline's gaps are float rounding on every row: no "worst" row is named
    errors = session.evidence["explain::additivity"].metrics["errors"]
    assert errors["baseline"]["worst_row"] is None
    assert isinstance(errors["candidate"]["worst_row"], int)  # float32 thresholds: ~1e-8
    assert session.evidence["explain::rank_agreement"].metrics["explainers"] == {
        "candidate": "tree", "baseline": "linear"}
    assert session.decide()[0].decision is Decision.CERTIFIED
    session.abort()


def test_shortcut_candidate_fails_protected_use_and_only_that(tmp_path: Path, demo_data: Any,
                                                              demo_models: dict[str, Any]) -> None:
    """As accurate as the real candidate, leaning on sex: the explain suite rejects it; the
    quality suite (non-inferiority and the default fairness gaps) does not see it."""
    shortcut = shortcut_candidate(demo_data[0])
    session = certify(tmp_path, demo_data, shortcut, demo_models["baseline"],
                      suites={"quality": {}, "explain": {}})
    failed = {k for k, s in statuses(session).items() if s is Status.FAILED}
    assert failed == {"explain::protected_use[sex]"}
    use = session.evidence["explain::protected_use[sex]"]
    lo, hi = use.metrics["candidate_share_ci"]
    assert 0.05 < lo <= use.metrics["candidate_share"] <= hi
    assert use.metrics["baseline_share"] == 0.0
    assert "sex carries" in use.reason and "whole interval is above" in use.reason
    # the quality suite's fairness gaps do not fail it: demographic parity passes (0.062),
    # equal opportunity only warns (0.111 against warn 0.1, fail 0.2)
    parity = session.evidence["quality::demographic_parity[sex]"]
    opportunity = session.evidence["quality::equal_opportunity[sex]"]
    assert parity.status is Status.PASSED and parity.comparisons[0].value < 0.1
    assert opportunity.status in (Status.PASSED, Status.WARNED)
    assert opportunity.comparisons[0].value < 0.15
    # "same accuracy": within a point and a half of the real candidate (0.788 vs 0.802), and
    # non-inferior to the baseline
    real = demo_models["candidate"].predict(demo_data[1][FEATURES])
    acc_real = float(np.mean(real == demo_data[1][TARGET]))
    assert abs(session.evidence["quality::accuracy"].metrics["candidate"] - acc_real) < 0.02
    assert session.evidence["quality::accuracy"].status is Status.PASSED
    assert session.decide()[0].decision is Decision.REJECTED
    session.abort()


# -- values: the same as SHAP called directly ------------------------------------------------------
def test_tree_values_are_shaps_summed_over_the_one_hot_groups(tmp_path: Path, small_data: Any,
                                                              small_models: dict[str, Any]) -> None:
    import shap

    session = certify(tmp_path, small_data, small_models["candidate"], None,
                      suites={"explain": {"sample_size": 30, "background_size": 20}})
    result, data = explained(session)
    cand = result.roles["candidate"]
    assert data["models"]["candidate"]["columns_per_feature"] == [1, 1, 1, 1, 1, 1, 3, 5, 0]
    rows = small_data[1].iloc[result.positions][FEATURES]
    from certify.suites.explain.engine import draw

    _, _, background = draw(session.suites["explain"].ctx)
    model = small_models["candidate"]
    prep, clf = model[:-1], model[-1]
    direct = shap.TreeExplainer(clf, data=prep.transform(background),
                                feature_perturbation="interventional",
                                model_output="probability").shap_values(prep.transform(rows))
    summed = np.column_stack([direct[:, :6], direct[:, 6:9].sum(1), direct[:, 9:14].sum(1),
                              np.zeros(len(rows))])
    np.testing.assert_allclose(cand.values, summed, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cand.values.sum(1) + cand.base,
                               model.predict_proba(rows)[:, 1], atol=1e-7)
    assert set(session.evidence) == {"explain::protected_use[sex]", "explain::additivity"}
    session.abort()


def test_linear_classifier_values_are_exact_shapley_values_of_the_probability(
        tmp_path: Path, small_data: Any, small_models: dict[str, Any]) -> None:
    """SHAP's ExactExplainer over the original columns (every coalition, through the real
    pipeline) gives the same numbers as the suite's linear path."""
    import shap

    from certify.suites.explain.engine import draw
    from certify.suites.explain.sample import Codec

    session = certify(tmp_path, small_data, small_models["baseline"], None,
                      suites={"explain": {"sample_size": 10, "background_size": 8}})
    result, data = explained(session)
    assert data["models"]["candidate"]["explainer"] == "linear"
    _, rows, background = draw(session.suites["explain"].ctx)
    codec = Codec.fit(pd.concat([rows, background]))
    model = small_models["baseline"]
    exact = shap.explainers.Exact(lambda z: model.predict_proba(codec.decode(z))[:, 1],
                                  shap.maskers.Independent(codec.encode(background),
                                                           max_samples=len(background)))
    direct = exact(codec.encode(rows.head(4)), silent=True)
    np.testing.assert_allclose(result.roles["candidate"].values[:4], direct.values, atol=1e-12)
    np.testing.assert_allclose(result.roles["candidate"].base[:4], direct.base_values, atol=1e-12)
    session.abort()


def test_linear_classifier_with_many_columns_uses_seeded_permutations(
        tmp_path: Path, small_data: Any, small_models: dict[str, Any]) -> None:
    """Past exact_max_features the linear path samples antithetic permutations: close to the
    exact values, and still adding up exactly."""
    suites = {"sample_size": 20, "background_size": 10}
    exact = certify(tmp_path / "exact", small_data, small_models["baseline"], None,
                    {"explain": suites})
    sampled = certify(tmp_path / "sampled", small_data, small_models["baseline"], None,
                      {"explain": {**suites, "exact_max_features": 4,
                                   "linear_permutations": 200}})
    e, s = explained(exact)[0].roles["candidate"], explained(sampled)[0].roles["candidate"]
    np.testing.assert_allclose(s.values, e.values, atol=0.01)
    assert not np.array_equal(s.values, e.values)
    assert sampled.evidence["explain::additivity"].metrics["candidate"] < 1e-12
    exact.abort()
    sampled.abort()


def test_regression_linear_values_are_linear_explainers(tmp_path: Path) -> None:
    import shap
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline

    from certify.suites.explain.engine import draw

    def risk(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
        frame = frame.drop(columns=[TARGET])
        frame["risk"] = (frame["debt_ratio"] * 10 + frame["late_payments"]
                         + np.random.default_rng(seed).normal(0, 0.3, len(frame)))
        return frame

    ref, ev = risk(make_credit_data(1000, SEED), 1), risk(make_credit_data(400, SEED + 5), 2)
    ridge = Pipeline([("prep", preprocessor()), ("m", Ridge())]).fit(ref[FEATURES], ref["risk"])
    gbm = Pipeline([("prep", preprocessor()), ("m", HistGradientBoostingRegressor(
        max_iter=50, random_state=SEED))]).fit(ref[FEATURES], ref["risk"])
    policy = make_project(tmp_path, reference=ref, evaluation=ev, candidate=gbm, baseline=ridge,
                          suites={"explain": {"sample_size": 40, "background_size": 20}})
    policy.write_text(policy.read_text().replace('target = "default"', 'target = "risk"'))
    session = CertifySession(load_policy(policy), out_dir=tmp_path / "out")
    session.setup()
    session.run_all()
    result, data = explained(session)
    assert data["output_kind"] == "regression"
    assert (data["models"]["candidate"]["explainer"], data["models"]["baseline"]["explainer"]) \
        == ("tree", "linear")
    _, rows, background = draw(session.suites["explain"].ctx)
    prep, lin = ridge[:-1], ridge[-1]
    direct = shap.LinearExplainer(lin, shap.maskers.Independent(prep.transform(background),
                                                                max_samples=len(background))
                                  ).shap_values(prep.transform(rows))
    summed = np.column_stack([direct[:, :6], direct[:, 6:9].sum(1), direct[:, 9:14].sum(1),
                              np.zeros(len(rows))])
    np.testing.assert_allclose(result.roles["baseline"].values, summed, atol=1e-10)
    assert statuses(session)["explain::additivity"] is Status.PASSED
    # the two models agree on what matters: debt_ratio, then late_payments
    assert session.evidence["explain::rank_agreement"].metrics["candidate_top"][:2] == [
        "debt_ratio", "late_payments"]
    session.abort()


# -- model-agnostic: wrappers, HTTP endpoints, mixing preprocessing, budgets -------------------------
def test_a_wrapper_is_explained_model_agnostically_and_agrees_with_the_exact_values(
        tmp_path: Path, small_data: Any, small_models: dict[str, Any]) -> None:
    from certify.demo.models import load_sabotage

    wrapped = load_sabotage("slow", small_models["candidate"], delay_s=0.0)  # scores as the base
    suites = {"explain": {"sample_size": 40, "background_size": 20}}
    agnostic = certify(tmp_path / "wrapped", small_data, wrapped, small_models["baseline"], suites)
    exact = certify(tmp_path / "exact", small_data, small_models["candidate"],
                    small_models["baseline"], suites)
    (a, data), (e, _) = explained(agnostic), explained(exact)
    model = data["models"]["candidate"]
    assert model["explainer"] == "permutation" and model["estimator"] == "SlowClassifier"
    assert "neither a tree ensemble" in model["reason"]
    assert model["queries"] > 0 and model["queries"] <= 2_000_000
    assert agnostic.evidence["explain::additivity"].metrics["candidate"] < 1e-9
    # the same model: the global shares of the estimate are close to the exact ones
    np.testing.assert_allclose(a.figures["candidate"].share, e.figures["candidate"].share,
                               atol=0.05)
    assert a.figures["candidate"].share[FEATURES.index("sex")] == 0.0  # unused: exactly zero
    assert agnostic.evidence["explain::rank_agreement"].metrics["explainers"] == {
        "candidate": "permutation", "baseline": "linear"}
    agnostic.abort()
    exact.abort()


@pytest.mark.slow
def test_an_http_endpoint_is_explained_through_its_predictions(tmp_path: Path, small_data: Any,
                                                               small_models: dict[str, Any]) -> None:
    from tests.http_model_server import serving

    url = {"format": "http", "classes": [0, 1], "retries": 0,
           "options": {"features": FEATURES, "task": "classification"}}
    with serving(small_models["candidate"], FEATURES, NUMERIC) as server:
        session = certify(tmp_path, small_data, small_models["candidate"], None,
                          {"explain": {"sample_size": 12, "background_size": 8}},
                          extra={"candidate": {**url, "url": server.url}})
        assert server.requests > 12
    result, data = explained(session)
    assert data["models"]["candidate"]["explainer"] == "permutation"
    assert "http model has no estimator" in data["models"]["candidate"]["reason"]
    assert statuses(session) == {"explain::protected_use[sex]": Status.PASSED,
                                 "explain::additivity": Status.PASSED}
    assert 0 < result.roles["candidate"].queries <= 12 * 2 * (2 * len(FEATURES) + 1) * 8 + 8
    session.abort()


def test_preprocessing_that_mixes_columns_is_explained_on_the_original_columns(
        tmp_path: Path, small_data: Any) -> None:
    from sklearn.decomposition import PCA
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    ref = small_data[0]
    mixed = Pipeline([("prep", preprocessor()), ("pca", PCA(n_components=5, random_state=0)),
                      ("clf", RandomForestClassifier(n_estimators=20, max_depth=5,
                                                     random_state=0))]
                     ).fit(ref[FEATURES], ref[TARGET])
    session = certify(tmp_path, small_data, mixed, None,
                      {"explain": {"sample_size": 20, "background_size": 10}})
    _, data = explained(session)
    model = data["models"]["candidate"]
    assert model["explainer"] == "permutation"
    assert "depends on both" in model["reason"] and "original columns" in model["reason"]
    assert statuses(session)["explain::additivity"] is Status.PASSED
    session.abort()


def test_query_budget_exhaustion_errors_every_check(tmp_path: Path, small_data: Any,
                                                    small_models: dict[str, Any]) -> None:
    session = certify(tmp_path, small_data, small_models["candidate"], small_models["baseline"],
                      {"explain": {"explainer": "agnostic", "sample_size": 20,
                                   "background_size": 10, "max_queries": 3000}})
    assert set(statuses(session).values()) == {Status.ERRORED}
    reason = session.evidence["explain::additivity"].reason
    assert "rows not explained" in reason and "query budget (max_queries) spent" in reason
    assert session.decide()[0].decision is Decision.INCOMPLETE
    _, data = explained(session)
    assert data["models"]["candidate"]["queries"] <= 3000
    session.abort()


def test_a_model_whose_scores_carry_noise_fails_additivity(tmp_path: Path, small_data: Any,
                                                           small_models: dict[str, Any]) -> None:
    """The explanation is of this model: a candidate with fresh noise on every call cannot be
    explained, and additivity says so."""
    from certify.demo.models import edge_case_sabotage

    noisy = edge_case_sabotage("nondeterministic", small_models["candidate"], small_data[0])
    session = certify(tmp_path, small_data, noisy, None,
                      {"explain": {"sample_size": 20, "background_size": 10}})
    record = session.evidence["explain::additivity"]
    assert record.status is Status.FAILED and record.metrics["candidate"] > 0.01
    session.abort()


def test_kernel_explainer_and_stability(tmp_path: Path, small_data: Any,
                                        small_models: dict[str, Any]) -> None:
    session = certify(tmp_path, small_data, small_models["candidate"], small_models["baseline"],
                      {"explain": {"explainer": "agnostic", "agnostic": "kernel",
                                   "sample_size": 12, "background_size": 8,
                                   "stability_noise": 0.02, "stability_rows": 6}})
    _, data = explained(session)
    assert {m["explainer"] for m in data["models"].values()} == {"kernel"}
    assert data["models"]["candidate"]["library"] == "shap.KernelExplainer"
    stability = session.evidence["explain::stability"]
    assert stability.status is Status.PASSED and stability.metrics["candidate"] > 0.9
    assert session.evidence["explain::additivity"].metrics["candidate"] < 1e-6
    session.abort()


# -- determinism and scale-out ---------------------------------------------------------------------
def _comparable(session: CertifySession) -> tuple[dict[str, Any], dict[str, Any]]:
    _, data = explained(session)
    for m in data["models"].values():
        m.pop("elapsed_s")
        m.pop("executor")
    for key in ("executor", "workers", "shards"):
        data.pop(key)
    for row in data["disagreeing"]:  # pseudonyms are keyed per run (no CERTIFY_MASK_KEY here)
        assert row["values"]["income"].startswith("masked:")
        row["values"]["income"] = "masked"
    metrics = {k: e.metrics for k, e in session.evidence.items()}
    return data, metrics


def test_same_seed_same_numbers(tmp_path: Path, small_data: Any,
                                small_models: dict[str, Any]) -> None:
    suites = {"explain": {"explainer": "agnostic", "sample_size": 16, "background_size": 8,
                          "shard_size": 5}}
    first = certify(tmp_path / "a", small_data, small_models["candidate"],
                    small_models["baseline"], suites)
    second = certify(tmp_path / "b", small_data, small_models["candidate"],
                     small_models["baseline"],
                     {"explain": {**suites["explain"], "shard_size": 3}})
    assert _comparable(first) == _comparable(second)  # shards do not change a number
    other = certify(tmp_path / "c", small_data, small_models["candidate"],
                    small_models["baseline"], suites, extra={"seed": 99})
    assert _comparable(other) != _comparable(first)
    for s in (first, second, other):
        s.abort()


@pytest.mark.slow
def test_same_numbers_with_one_or_two_ray_workers(tmp_path: Path, small_data: Any,
                                                  small_models: dict[str, Any]) -> None:
    """Per-shard Ray tasks (the models shipped to the workers) give the numbers of the
    in-process run, for the model-agnostic explainer and the exact ones."""
    runs = (("agnostic", "ray", 1), ("agnostic", "ray", 2), ("agnostic", "inprocess", None),
            ("auto", "ray", 2), ("auto", "inprocess", None))
    outs: dict[str, list[Any]] = {"agnostic": [], "auto": []}
    for explainer, executor, workers in runs:
        more = {"workers": workers} if workers else {}
        session = certify(tmp_path / f"{explainer}-{executor}{workers}", small_data,
                          small_models["candidate"], small_models["baseline"],
                          {"explain": {"explainer": explainer, "sample_size": 16,
                                       "background_size": 8, "shard_size": 4,
                                       "executor": executor, **more}})
        state = session.suites["explain"]
        assert state.error is None, state.error
        assert state.result.executor == executor
        outs[explainer].append(_comparable(session))
        session.abort()
    assert outs["agnostic"][0] == outs["agnostic"][1] == outs["agnostic"][2]
    assert outs["auto"][0] == outs["auto"][1]
    assert outs["auto"][0][0]["models"]["candidate"]["explainer"] == "tree"


# -- the report ------------------------------------------------------------------------------------
def test_report_panels_and_masking(tmp_path: Path, small_data: Any,
                                   small_models: dict[str, Any]) -> None:
    from certify.report import load_report
    from certify.suite import SuiteRecord
    from certify.suites.explain import ExplainSettings, ExplainSuite

    session = certify(tmp_path, small_data, small_models["candidate"], small_models["baseline"],
                      {"explain": {"sample_size": 30, "background_size": 10}})
    result = session.finish()
    assert result.html_path is not None
    html = result.html_path.read_text()
    for title in ("Attribution: candidate vs baseline",
                  "Rows where the two explanations disagree most", "How each model was explained"):
        assert title in html
    data = load_report(result.report_path).suites["explain"].data
    assert [f["name"] for f in data["features"]] == FEATURES
    assert data["models"]["candidate"]["explainer"] == "tree"
    rows = data["disagreeing"]
    assert len(rows) == 3 and rows[0]["gap"] >= rows[1]["gap"] >= rows[2]["gap"]
    assert all(r["values"]["income"].startswith("masked:") for r in rows)
    assert all(r["values"]["purpose"] in {"car", "home", "education", "business", "other"}
               for r in rows)
    artifact = json.loads((result.run_dir / "artifacts" / "explain" / "attributions.json")
                          .read_text())
    assert set(artifact["models"]) == {"candidate", "baseline"}
    assert len(artifact["rows"]) == 30 and len(artifact["models"]["candidate"]["values"]) == 30
    # no raw income (a sensitive column) anywhere: pseudonyms only
    incomes = {f"{v:.2f}" for v in small_data[1]["income"]}
    for page in (result.report_path.read_text(), html, json.dumps(artifact)):
        assert not any(v in page for v in incomes)
    # the panels are drawn again from the recorded data; an empty record draws nothing
    record = SuiteRecord("explain", ExplainSettings(), data, [])
    assert [p.title for p in ExplainSuite().panels(record)][:1] == [
        "Attribution: candidate vs baseline"]
    assert ExplainSuite().panels(SuiteRecord("explain", ExplainSettings(), {}, [])) == []


def test_a_positive_label_no_model_has_is_a_configuration_error(tmp_path: Path, small_data: Any,
                                                               small_models: dict[str, Any]) -> None:
    from certify.errors import ConfigError

    policy = make_project(tmp_path, reference=small_data[0], evaluation=small_data[1],
                          candidate=small_models["candidate"], baseline=None,
                          suites={"explain": {"positive_label": 7}})
    with pytest.raises(ConfigError, match="suites.explain.positive_label: 7 is not a class"):
        CertifySession(load_policy(policy), out_dir=tmp_path / "out").setup()
