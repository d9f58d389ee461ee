"""The quality suite on real models: non-inferiority, absolute thresholds, slices, fairness."""

from __future__ import annotations

import numpy as np
import pytest

from certify.demo import FEATURES, SEED, TARGET, make_credit_data, preprocessor
from certify.evidence import Status
from certify.policy import load_policy
from certify.session import CertifySession
from certify.verdict import Decision
from tests.projects import make_project


def certify(policy) -> CertifySession:
    session = CertifySession(load_policy(policy))
    session.setup()
    session.run_all()
    return session


@pytest.fixture(scope="module")
def ref():
    return make_credit_data(1500, SEED)


def test_same_inputs_same_verdict(tmp_path, ref) -> None:
    policy = make_project(tmp_path, reference=ref)
    first, second = certify(policy), certify(policy)
    strip = [{k: v for k, v in e.model_dump().items() if k != "duration_s"}
             for e in first.evidence.values()]
    assert strip == [{k: v for k, v in e.model_dump().items() if k != "duration_s"}
                     for e in second.evidence.values()]
    assert first.decide()[0] == second.decide()[0]
    first.abort()
    second.abort()


def test_no_baseline_uses_absolute_thresholds(tmp_path, ref) -> None:
    policy = make_project(tmp_path, reference=ref, baseline=None, suites={"quality": {
        "thresholds": {"roc_auc": {"fail": 0.99}, "accuracy": {"fail": 0.5, "warn": 0.99}}}})
    session = certify(policy)
    ev = session.evidence
    assert set(ev) == {"quality::roc_auc", "quality::accuracy"}
    assert ev["quality::roc_auc"].status is Status.FAILED
    assert "roc_auc" in ev["quality::roc_auc"].reason and "0.99" in ev["quality::roc_auc"].reason
    assert ev["quality::accuracy"].status is Status.WARNED
    assert ev["quality::accuracy"].metrics["baseline"] is None
    assert session.decide()[0].decision is Decision.REJECTED
    session.abort()


def test_no_baseline_and_no_threshold_is_errored(tmp_path, ref) -> None:
    session = certify(make_project(tmp_path, reference=ref, baseline=None))
    (record,) = session.evidence.values()
    assert record.id == "quality::thresholds" and record.status is Status.ERRORED
    assert session.decide()[0].decision is Decision.INCOMPLETE
    session.abort()


def test_confidence_intervals_bracket_the_estimate(tmp_path, ref) -> None:
    session = certify(make_project(tmp_path, reference=ref))
    auc = session.evidence["quality::roc_auc"].metrics
    lo, hi = auc["candidate_ci"]
    assert lo <= auc["candidate"] <= hi and hi - lo < 0.1
    dlo, dhi = auc["diff_ci"]
    assert dlo <= auc["diff"] <= dhi
    session.abort()


def test_unfair_candidate_fails_demographic_parity(tmp_path, ref) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    biased = ref.copy()
    rng = np.random.default_rng(0)
    male = biased["sex"] == "male"
    biased.loc[male, TARGET] = (rng.random(male.sum()) < 0.85).astype(int)
    model = Pipeline([
        ("prep", ColumnTransformer([("base", preprocessor(), FEATURES),
                                    ("sex", OneHotEncoder(), ["sex"])])),
        ("clf", LogisticRegression(max_iter=500)),
    ]).fit(biased[FEATURES], biased[TARGET])
    policy = make_project(tmp_path, reference=ref, candidate=model,
                          extra={"protected_attributes": ["sex"]})
    session = certify(policy)
    parity = session.evidence["quality::demographic_parity[sex]"]
    assert parity.status is Status.FAILED
    assert parity.comparisons[0].value > 0.2
    assert set(parity.details["groups"]) == {"female", "male"}
    session.abort()


def test_worst_slice_is_named_and_sensitive_slices_are_masked(tmp_path, ref) -> None:
    policy = make_project(tmp_path, reference=ref, suites={"quality": {"slices": ["purpose", "income"]}},
                          extra={"sensitive_columns": ["income"]})
    session = certify(policy)
    purpose = session.evidence["quality::worst_slice[purpose]"]
    assert purpose.metrics["worst_slice"] in {"car", "home", "education", "business", "other"}
    assert "worst slice purpose=" in purpose.reason
    income = session.evidence["quality::worst_slice[income]"]
    labels = [row["slice"] for row in income.details["slices"]]
    assert labels and all(label.startswith("masked:") for label in labels)
    session.abort()


def test_regression_task(tmp_path) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline

    data = make_credit_data(1200, SEED)
    data["risk"] = data["debt_ratio"] * 10 + data["late_payments"] + np.random.default_rng(1).normal(0, 0.3, len(data))
    data = data.drop(columns=[TARGET])
    ev = make_credit_data(800, SEED + 5)
    ev["risk"] = ev["debt_ratio"] * 10 + ev["late_payments"] + np.random.default_rng(2).normal(0, 0.3, len(ev))
    ev = ev.drop(columns=[TARGET])
    good = Pipeline([("prep", preprocessor()), ("m", Ridge())]).fit(data[FEATURES], data["risk"])
    poor = Pipeline([("prep", preprocessor()), ("m", Ridge(alpha=1e5))]).fit(data[FEATURES], data["risk"])
    policy = make_project(tmp_path, reference=data, evaluation=ev, candidate=poor, baseline=good)
    policy.write_text(policy.read_text().replace('target = "default"', 'target = "risk"'))
    session = certify(policy)
    assert set(session.evidence) == {"quality::rmse", "quality::mae", "quality::r2"}
    assert session.evidence["quality::rmse"].status is Status.FAILED
    assert session.decide()[0].decision is Decision.REJECTED
    session.abort()


def test_candidate_for_another_task_is_a_clear_error(tmp_path, ref) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline

    from certify.errors import CertifyError

    reg = Pipeline([("prep", preprocessor()), ("m", Ridge())]).fit(ref[FEATURES], ref[TARGET])
    session = CertifySession(load_policy(make_project(tmp_path, reference=ref, candidate=reg)))
    with pytest.raises(CertifyError, match="candidate: model .* is a regression model but the data's task is classification"):
        session.setup()



def test_non_inferiority_is_decided_on_the_interval_not_a_coin_flip() -> None:
    """Whole interval within the margin: passed; whole interval beyond it: failed; across it:
    warned as inconclusive (a better model on few rows is never rejected for its noise)."""
    from certify.evidence import Direction, Status
    from certify.suites.quality.checks import non_inferiority

    higher = Direction.MIN  # higher is better: the difference must stay above -margin
    assert non_inferiority("auc", (-0.005, 0.04), 0.01, higher)[0].status is Status.PASSED
    assert non_inferiority("auc", (-0.08, -0.03), 0.01, higher)[0].status is Status.FAILED
    across, note = non_inferiority("auc", (-0.03, 0.05), 0.01, higher)
    assert across.status is Status.WARNED and "inconclusive" in note and "-0.01" in note
    lower = Direction.MAX  # log loss: the difference must stay below +margin
    assert non_inferiority("log_loss", (-0.08, 0.005), 0.01, lower)[0].status is Status.PASSED
    assert non_inferiority("log_loss", (0.02, 0.09), 0.01, lower)[0].status is Status.FAILED
    assert non_inferiority("log_loss", (-0.08, 0.047), 0.01, lower)[0].status is Status.WARNED


def test_error_metric_margins_are_a_fraction_of_the_baseline() -> None:
    """rmse and mae are in the target's units: the default margin (0.01) is 1% of the
    baseline's value there, so a target in hundreds is not judged against 0.01 of a unit."""
    from certify.evidence import Direction, Status
    from certify.suites.quality.checks import absolute_margin, non_inferiority
    from certify.suites.quality.settings import QualitySettings

    s = QualitySettings()
    assert absolute_margin("rmse", s, 150.0) == pytest.approx(1.5)
    assert absolute_margin("mae", QualitySettings(margins={"mae": 0.1}), -20.0) == pytest.approx(2)
    assert absolute_margin("roc_auc", s, 0.8) == pytest.approx(0.01)
    assert absolute_margin("rmse", s, None) == pytest.approx(0.01)
    # 0.6 worse in rmse on a baseline of 150: within 1%; 3 worse for certain: beyond it
    within, _ = non_inferiority("rmse", (0.2, 0.6), absolute_margin("rmse", s, 150.0),
                                Direction.MAX)
    beyond, _ = non_inferiority("rmse", (2.0, 3.0), absolute_margin("rmse", s, 150.0),
                                Direction.MAX)
    assert (within.status, beyond.status) == (Status.PASSED, Status.FAILED)
