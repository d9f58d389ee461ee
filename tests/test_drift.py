"""The drift suite: real alibi-detect / scipy tests on data with known shifts, fixed seeds.

Each shift must be flagged by the right detector on the right feature, and nothing else
among the feature tests; unshifted data passes; the saved baseline is checked for
tampering and holds no raw sensitive value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from certify.demo import FEATURES, SEED, TARGET, baseline_model, candidate_model, make_credit_data
from certify.evidence import Status, Threshold
from certify.outputs import DRIFT_BASELINE, directory_digest
from certify.policy import load_policy
from certify.session import CertifySession
from certify.suites.drift.baseline import (
    MANIFEST,
    DetectorParams,
    DriftBaselineError,
    load_baseline,
)
from certify.suites.drift.fit import FitOptions, fit_baseline
from tests.projects import make_project

N_REF, N_EVAL = 1500, 1000
NUMERIC = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "employment_years"]
CATEGORICAL = ["home_ownership", "purpose", "sex"]


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return make_credit_data(N_REF, SEED)


@pytest.fixture(scope="module")
def models(reference: pd.DataFrame) -> tuple[Any, Any]:
    X, y = reference[FEATURES], reference[TARGET]  # noqa: N806
    return candidate_model().fit(X, y), baseline_model().fit(X, y)


def certify_drift(root: Path, reference: pd.DataFrame, models: tuple[Any, Any],
                  evaluation: pd.DataFrame, *, sensitive: list[str] | None = None,
                  settings: dict[str, Any] | None = None) -> CertifySession:
    policy = make_project(root, candidate=models[0], baseline=models[1], reference=reference,
                          evaluation=evaluation, suites={"drift": settings or {}},
                          extra={"sensitive_columns": sensitive or []})
    session = CertifySession(load_policy(policy))
    session.setup()
    session.run_all()
    return session


def statuses(session: CertifySession) -> dict[str, Status]:
    return {e.id: e.status for e in session.evidence.values()}


def feature_ids() -> list[str]:
    return [f"drift::ks[{c}]" for c in NUMERIC] + [f"drift::chi2[{c}]" for c in CATEGORICAL]


def only_flagged(session: CertifySession, flagged: set[str]) -> None:
    got = statuses(session)
    tested = [i for i in got if i.startswith(("drift::ks[", "drift::chi2["))]
    assert len(tested) == len(feature_ids()) and flagged <= set(tested)
    for ident in tested:
        if ident in flagged:
            assert got[ident] is Status.FAILED, (ident, session.evidence[ident].reason)
        else:
            assert got[ident] in (Status.PASSED, Status.WARNED), (ident,
                                                                  session.evidence[ident].reason)


def test_unshifted_data_passes_and_the_baseline_is_written(tmp_path: Path, reference, models
                                                           ) -> None:
    session = certify_drift(tmp_path, reference, models, make_credit_data(N_EVAL, SEED + 100))
    got = statuses(session)
    assert set(feature_ids()) <= set(got)
    blocking = {k: session.evidence[k].reason for k, s in got.items()
                if s in (Status.FAILED, Status.ERRORED, Status.SKIPPED)}
    assert not blocking
    assert {"drift::schema", "drift::features", "drift::prediction[scores]",
            "drift::prediction[labels]", "drift::target[default]",
            "drift::candidate_vs_baseline[scores]", "drift::candidate_vs_baseline[labels]"} <= set(got)
    summary = session.evidence["drift::features"]
    assert summary.metrics["drifted"] == [] and summary.metrics["features"] == 9
    assert summary.artifacts and summary.artifacts[0].path == f"{DRIFT_BASELINE}/{MANIFEST}"
    result = session.finish()
    assert result.verdict.decision.value == "CERTIFIED", result.verdict.reasons
    report = json.loads(result.report_path.read_text())
    baseline_dir = result.run_dir / DRIFT_BASELINE
    assert report["drift_baseline"]["digest"] == directory_digest(baseline_dir)
    data = report["suites"]["drift"]["data"]
    assert [f["name"] for f in data["features"]] == NUMERIC + CATEGORICAL
    assert data["drifted"] == [] and data["baseline"]["stored"]
    assert data["baseline"]["digest"] == directory_digest(baseline_dir)
    statement = json.loads((result.run_dir / "statement.json").read_text())
    subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    assert "sha256:" + subjects["drift-baseline"] == directory_digest(baseline_dir)
    loaded = load_baseline(baseline_dir, expected_digest=directory_digest(baseline_dir))
    assert loaded.manifest.seed == 1234 and loaded.manifest.reference_rows == N_REF


def test_mean_shift_in_one_numeric_feature_flags_only_that_feature(tmp_path: Path, reference,
                                                                   models) -> None:
    shifted = make_credit_data(N_EVAL, SEED + 100)
    shifted["employment_years"] = shifted["employment_years"] + 2.0
    session = certify_drift(tmp_path, reference, models, shifted)
    only_flagged(session, {"drift::ks[employment_years]"})
    record = session.evidence["drift::ks[employment_years]"]
    assert record.metrics["p_adjusted"] < 1e-6 and record.metrics["test"] == "ks"
    assert record.metrics["effect"] > 0.1
    summary = session.evidence["drift::features"]
    assert summary.status is Status.FAILED and summary.metrics["drifted"] == ["employment_years"]
    assert "employment_years" in summary.reason


def test_new_category_flags_chi2_of_that_feature(tmp_path: Path, reference, models) -> None:
    shifted = make_credit_data(N_EVAL, SEED + 100, shift={"new_purpose": "crypto"})
    session = certify_drift(tmp_path, reference, models, shifted)
    only_flagged(session, {"drift::chi2[purpose]"})
    record = session.evidence["drift::chi2[purpose]"]
    assert record.metrics["new_categories"] == ["crypto"]
    assert "'crypto'" in record.reason


def test_label_prior_change_flags_the_target_only(tmp_path: Path, reference, models) -> None:
    shifted = make_credit_data(N_EVAL, SEED + 100, shift={"label_flip": 0.3})
    session = certify_drift(tmp_path, reference, models, shifted)
    only_flagged(session, set())
    got = statuses(session)
    assert got["drift::target[default]"] is Status.FAILED
    assert got["drift::prediction[labels]"] is not Status.FAILED  # same features, same predictions


def test_candidate_behaviour_shift_flags_prediction_drift(tmp_path: Path, reference, models
                                                          ) -> None:
    # debt_ratio drives the label rule: shifting it moves the candidate's scores and labels.
    shifted = make_credit_data(N_EVAL, SEED + 100)
    shifted["debt_ratio"] = np.round(shifted["debt_ratio"] * 1.6, 4)
    session = certify_drift(tmp_path, reference, models, shifted)
    got = statuses(session)
    assert got["drift::ks[debt_ratio]"] is Status.FAILED
    assert got["drift::prediction[scores]"] is Status.FAILED
    assert got["drift::prediction[labels]"] is Status.FAILED


def test_sensitive_column_is_binned_flagged_and_never_stored_raw(tmp_path: Path, reference,
                                                                 models) -> None:
    shifted = make_credit_data(N_EVAL, SEED + 100, shift={"income_factor": 1.3})
    session = certify_drift(tmp_path, reference, models, shifted, sensitive=["income", "sex"])
    only_flagged(session, {"drift::chi2[income]"})
    assert "drift::ks[income]" not in statuses(session)
    run_dir = session.run_dir.path
    manifest = json.loads((run_dir / DRIFT_BASELINE / MANIFEST).read_text())
    income = next(f for f in manifest["features"] if f["name"] == "income")
    assert income["storage"] == "binned_counts" and income["file"] is None
    assert income["summary"] == {}
    sex = next(f for f in manifest["features"] if f["name"] == "sex")
    assert sex["storage"] == "hashed_counts"
    assert all(k.startswith("sha256:") for k in sex["counts"])
    assert any("income (sensitive)" in line for line in manifest["stored"])
    # No raw income value (as text, or as a float64 in an array) anywhere in the baseline.
    raw = set(reference["income"].astype(str)) | set(shifted["income"].astype(str))
    raw_floats = set(reference["income"].to_numpy()) | set(shifted["income"].to_numpy())
    for path in (run_dir / DRIFT_BASELINE).rglob("*"):
        if path.suffix == ".npy":
            assert not (set(np.load(path, allow_pickle=False).ravel()) & raw_floats), path
        elif path.is_file():
            text = path.read_text()
            assert not [v for v in raw if f"{v}" in text and len(v) > 6], path
            assert "female" not in text and '"male"' not in text
    # Nor in the evidence (the report).
    for record in session.evidence.values():
        dumped = record.model_dump_json()
        assert not [v for v in list(raw)[:300] if v in dumped and len(v) > 6], record.id


def test_sensitive_drop_leaves_the_column_unmonitored(tmp_path: Path, reference, models) -> None:
    session = certify_drift(tmp_path, reference, models, make_credit_data(N_EVAL, SEED + 100),
                            sensitive=["income"], settings={"sensitive": "drop"})
    got = statuses(session)
    assert "drift::chi2[income]" not in got and "drift::ks[income]" not in got
    manifest = json.loads((session.run_dir.path / DRIFT_BASELINE / MANIFEST).read_text())
    assert "income" in manifest["not_monitored"]
    assert "income" not in {f["name"] for f in manifest["features"]}


# -- the engine without a session: bad input, tampering, equivalence with alibi-detect -----------

def _baseline(reference: pd.DataFrame, tmp_path: Path, **options: Any):
    from certify.data import infer_schema

    schema = infer_schema(reference, target=TARGET)
    params = DetectorParams(p_value=Threshold(fail=0.01, warn=0.05),
                            correction=options.pop("correction", "bonferroni"))
    baseline = fit_baseline(reference, schema, sensitive=options.pop("sensitive", []), seed=3,
                            options=FitOptions(**options), params=params,
                            harness_version="test")
    baseline.save(tmp_path / "bl")
    return load_baseline(tmp_path / "bl")


def _check(baseline: Any, frame: pd.DataFrame) -> tuple[Any, dict[str, Any]]:
    from certify.suites.drift.checks import plan_from_baseline
    from certify.suites.drift.engine import detect
    from certify.suites.drift.sources import FrameSource

    report = detect(baseline, FrameSource(frame))
    outcomes = {}
    for p in plan_from_baseline(baseline):
        outcomes[p.name + (f"[{p.param}]" if p.param else "")] = p.fn(report)
    return report, outcomes


def test_bad_input_is_reported_clearly_never_a_crash_or_a_pass(tmp_path: Path, reference) -> None:
    baseline = _baseline(reference, tmp_path)
    frame = make_credit_data(400, SEED + 100)
    frame = frame.drop(columns=["late_payments"])
    frame["age"] = frame["age"].astype(object)
    frame.loc[frame.index[:5], "age"] = "unknown"
    frame["employment_years"] = np.nan
    frame["debt_ratio"] = 0.3  # constant
    frame["extra_col"] = 1
    _, out = _check(baseline, frame)
    assert out["schema"].status is Status.FAILED
    assert "late_payments" in out["schema"].reason and "extra_col" in out["schema"].reason
    assert "'age' was numeric" in out["schema"].reason
    assert out["ks[late_payments]"].status is Status.FAILED
    assert "missing from the data" in out["ks[late_payments]"].reason
    assert out["ks[age]"].status is Status.FAILED
    assert "not numbers" in out["ks[age]"].reason and "'unknown'" in out["ks[age]"].reason
    assert out["ks[employment_years]"].status is Status.FAILED
    assert "all 400 values are missing" in out["ks[employment_years]"].reason
    assert out["ks[debt_ratio]"].status is Status.FAILED  # a constant where there was spread
    assert out["features"].status is Status.FAILED
    for name in ("late_payments", "age", "employment_years", "debt_ratio"):
        assert name in out["features"].reason
    # Extra columns alone only warn.
    ok = make_credit_data(400, SEED + 100)
    ok["extra_col"] = 1
    _, out = _check(baseline, ok)
    assert out["schema"].status is Status.WARNED and "extra_col" in out["schema"].reason


def test_too_few_rows_errors_and_constant_columns_on_both_sides_pass(tmp_path: Path) -> None:
    ref = make_credit_data(600, SEED)
    ref["flag"] = 1.0  # constant in the reference
    ref["kind"] = "a"  # one category
    baseline = _baseline(ref, tmp_path)
    small = make_credit_data(12, SEED + 1)
    small["flag"], small["kind"] = 1.0, "a"
    _, out = _check(baseline, small)
    assert out["ks[age]"].status is Status.ERRORED
    assert "needs at least 30" in out["ks[age]"].reason
    assert out["features"].status is Status.ERRORED
    same = make_credit_data(500, SEED + 1)
    same["flag"], same["kind"] = 1.0, "a"
    _, out = _check(baseline, same)
    assert out["ks[flag]"].status is Status.PASSED
    assert out["chi2[kind]"].status is Status.PASSED
    moved = same.copy()
    moved["flag"] = 2.0
    _, out = _check(baseline, moved)
    assert out["ks[flag]"].status is Status.FAILED


def test_missing_values_rising_are_judged_separately(tmp_path: Path, reference) -> None:
    baseline = _baseline(reference, tmp_path)
    frame = make_credit_data(1000, SEED + 100)
    frame.loc[frame.index[:300], "purpose"] = None  # 30% missing, the rest unchanged
    _, out = _check(baseline, frame)
    record = out["chi2[purpose]"]
    assert record.status is Status.FAILED
    assert "null_rate_increase" in record.reason
    assert record.metrics["null_rate"] == pytest.approx(0.3)


def test_tampered_baselines_are_refused(tmp_path: Path, reference) -> None:
    baseline = _baseline(reference, tmp_path)
    directory = baseline.path
    digest = directory_digest(directory)
    load_baseline(directory, expected_digest=digest)  # intact

    def refused(reason: str) -> DriftBaselineError:
        with pytest.raises(DriftBaselineError) as info:
            load_baseline(directory)
        assert info.value.reason == reason, info.value.message
        return info.value

    array_file = directory / "features" / "000.npy"
    original = array_file.read_bytes()
    values = np.load(array_file)
    np.save(array_file, values + 1.0)
    assert "features/000.npy" in refused("tampered").message
    array_file.write_bytes(original)
    load_baseline(directory)

    manifest_path = directory / MANIFEST
    text = manifest_path.read_text()
    manifest_path.write_text(text.replace('"fail": 0.01', '"fail": 1e-300', 1))
    assert "manifest was edited" in refused("tampered").message
    manifest_path.write_text(text)

    (directory / "features" / "999.npy").write_bytes(original)
    refused("tampered")
    (directory / "features" / "999.npy").unlink()

    array_file.unlink()
    refused("tampered")
    array_file.write_bytes(original)

    with pytest.raises(DriftBaselineError) as info:
        load_baseline(directory, expected_digest="sha256:" + "0" * 64)
    assert info.value.reason == "digest-mismatch"

    manifest_path.write_text(text.replace('"format_version": 1', '"format_version": 99'))
    assert "format version 99" in refused("version").message
    manifest_path.write_text("{not json")
    refused("unreadable")
    manifest_path.unlink()
    refused("missing")


def test_feature_tests_match_alibi_detect_tabular_drift(tmp_path: Path) -> None:
    """Our per-feature p-values and batch decision equal alibi-detect's TabularDrift."""
    from alibi_detect.cd import ChiSquareDrift, TabularDrift

    rng = np.random.default_rng(11)
    ref = pd.DataFrame({"a": rng.normal(0, 1, 800), "b": rng.normal(5, 2, 800),
                        "c": rng.choice(["x", "y", "z"], 800), TARGET: rng.integers(0, 2, 800)})
    new = pd.DataFrame({"a": rng.normal(0.25, 1, 500), "b": rng.normal(5, 2, 500),
                        "c": rng.choice(["x", "y", "z"], 500, p=[0.2, 0.4, 0.4]),
                        TARGET: rng.integers(0, 2, 500)})
    codes = {"x": 0, "y": 1, "z": 2}

    def matrix(frame: pd.DataFrame) -> np.ndarray:
        return np.column_stack([frame["a"], frame["b"], frame["c"].map(codes)]).astype(float)

    for correction in ("bonferroni", "fdr"):
        baseline = _baseline(ref, tmp_path / correction, reference_sample=10_000,
                             correction=correction)
        report, out = _check(baseline, new)
        ours = [report.features[c].p_value for c in ("a", "b", "c")]
        alibi = TabularDrift(matrix(ref), p_val=0.01, categories_per_feature={2: None},
                             correction=correction).predict(matrix(new))
        np.testing.assert_allclose(ours, alibi["data"]["p_val"], rtol=1e-5, atol=1e-30)
        np.testing.assert_allclose([report.features[c].statistic for c in ("a", "b", "c")],
                                   alibi["data"]["distance"], rtol=1e-5)
        assert (out["features"].status is Status.FAILED) == bool(alibi["data"]["is_drift"])
    chi = ChiSquareDrift(matrix(ref)[:, 2:], p_val=0.05).predict(matrix(new)[:, 2:])
    assert report.features["c"].p_value == pytest.approx(float(chi["data"]["p_val"][0]), rel=1e-5)


def test_mmd_detects_a_joint_shift_the_marginals_miss(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    n = 1200
    a = rng.normal(0, 1, n)
    ref = pd.DataFrame({"a": a, "b": a + rng.normal(0, 0.3, n), TARGET: rng.integers(0, 2, n)})
    a2 = rng.normal(0, 1, 600)
    same = pd.DataFrame({"a": a2, "b": a2 + rng.normal(0, 0.3, 600), TARGET: rng.integers(0, 2, 600)})
    a3 = rng.normal(0, 1, 600)
    flipped = pd.DataFrame({"a": a3, "b": -a3 + rng.normal(0, 0.3, 600),
                            TARGET: rng.integers(0, 2, 600)})  # same marginals, new joint
    baseline = _baseline(ref, tmp_path, mmd=True, mmd_sample=300)
    assert baseline.arrays["mmd/x_ref.npy"].shape == (300, 2)
    _, out = _check(baseline, same)
    assert out["mmd"].status is Status.PASSED, out["mmd"].reason
    _, out = _check(baseline, flipped)
    assert out["mmd"].status is Status.FAILED, out["mmd"].reason
    assert out["features"].status is not Status.FAILED  # each column alone looks the same


def test_fdr_correction_is_benjamini_hochberg() -> None:
    from certify.suites.drift.stats import adjust

    p = [0.01, 0.04, 0.03, 0.2, None]
    assert adjust(p, "bonferroni") == [0.05, 0.2, pytest.approx(0.15), 1.0, None]
    # BH with m = 5: sorted 0.01, 0.03, 0.04, 0.2 -> 0.05, 0.0667, 0.0667, 0.25
    got = adjust(p, "fdr")
    assert got[0] == pytest.approx(0.05) and got[2] == pytest.approx(0.2 / 3)
    assert got[1] == pytest.approx(0.2 / 3) and got[3] == pytest.approx(0.25) and got[4] is None


def _wrap(estimator: Any, task: str, features: list[str]) -> Any:
    from certify.models.sklearn import SklearnModel

    classes = [c.item() for c in estimator.classes_] if task == "classification" else None
    return SklearnModel(estimator, name="m", digest="sha256:" + "1" * 64, source="memory",
                        format="skops", task=task, classes=classes, features=features)


def test_regression_and_multiclass_models_get_prediction_detectors(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    from certify.data import infer_schema
    from certify.suites.drift.checks import plan_from_baseline
    from certify.suites.drift.engine import detect
    from certify.suites.drift.sources import FrameSource

    rng = np.random.default_rng(21)

    def frame(n: int, shift: float) -> pd.DataFrame:
        x = rng.normal(shift, 1, (n, 2))
        z = x[:, 0] + 0.5 * x[:, 1]
        return pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "amount": 3 * z + rng.normal(0, 1, n),
                             "tier": np.digitize(z + rng.normal(0, 0.3, n), [-0.5, 0.5])})

    ref, same, moved = frame(1500, 0), frame(800, 0), frame(800, 0.6)
    params = DetectorParams(p_value=Threshold(fail=0.01, warn=0.05))
    for target, task, est in (("amount", "regression", LinearRegression()),
                              ("tier", "classification", LogisticRegression(max_iter=500))):
        feats = ["x0", "x1"]
        data = ref.drop(columns=[c for c in ("amount", "tier") if c != target])
        model = _wrap(est.fit(data[feats], data[target]), task, feats)
        schema = infer_schema(data, target=target, task=task)
        baseline = fit_baseline(data, schema, sensitive=[], seed=1, options=FitOptions(),
                                params=params, harness_version="t", model=model)
        baseline.save(tmp_path / target)
        baseline = load_baseline(tmp_path / target)
        pred = baseline.manifest.prediction
        assert pred is not None
        if task == "regression":
            assert pred.score_labels == ["prediction"] and pred.label_counts is None
            assert baseline.manifest.target.kind == "numeric"
        else:
            assert pred.score_labels == ["0", "1", "2"] and len(pred.files) == 3
        checks = [p.name + (f"[{p.param}]" if p.param else "") for p in plan_from_baseline(baseline)]
        assert "prediction[scores]" in checks
        assert ("prediction[labels]" in checks) == (task == "classification")
        for new, drifted in ((same, False), (moved, True)):
            report = detect(baseline, FrameSource(new), model=model)
            outcomes = {p.name + (f"[{p.param}]" if p.param else ""): p.fn(report)
                        for p in plan_from_baseline(baseline)}
            want = Status.FAILED if drifted else Status.PASSED
            assert (outcomes["prediction[scores]"].status is Status.FAILED) == drifted, target
            assert outcomes[f"target[{target}]"].status in ((want,) if drifted
                                                            else (Status.PASSED, Status.WARNED))
            if task == "classification":
                per_class = outcomes["prediction[scores]"].details["details"]["per_class"]
                assert [c["class"] for c in per_class] == ["0", "1", "2"]


def test_high_cardinality_columns_keep_only_frequent_categories(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    n = 3000
    ref = pd.DataFrame({"code": [f"id{i}" for i in range(n)],  # unique: identifying
                        "city": rng.choice(["a", "b", "c"], n), TARGET: rng.integers(0, 2, n)})
    baseline = _baseline(ref, tmp_path, max_categories=50)
    code = next(f for f in baseline.manifest.features if f.name == "code")
    assert code.lumped and len(code.counts) == 51 and code.counts["<other>"] == n - 50
    assert "50 most frequent of 3000" in " ".join(baseline.manifest.stored)
    new = pd.DataFrame({"code": [f"new{i}" for i in range(500)], "city": rng.choice(["a", "b", "c"], 500),
                        TARGET: rng.integers(0, 2, 500)})
    report, out = _check(baseline, new)
    assert out["chi2[city]"].status is Status.PASSED
    assert report.features["code"].new_categories == []  # unseen and rare look alike here
    assert out["chi2[code]"].status is Status.PASSED  # still all "<other>", as in the reference


@pytest.mark.slow
def test_ray_executor_gives_the_same_results(tmp_path: Path, reference) -> None:
    from certify.suites.drift.engine import detect
    from certify.suites.drift.sources import FrameSource, ParquetSource

    baseline = _baseline(reference, tmp_path)
    frame = make_credit_data(2000, SEED + 100, shift={"new_purpose": "crypto"})
    local = detect(baseline, FrameSource(frame))
    remote = detect(baseline, FrameSource(frame), executor="ray", workers=2)
    assert remote.executor == "ray" and remote.workers == 2
    path = tmp_path / "new.parquet"
    frame.to_parquet(path)
    by_column = detect(baseline, ParquetSource(path), executor="ray")
    for name, r in local.features.items():
        for other in (remote, by_column):
            assert other.features[name].p_value == pytest.approx(r.p_value, rel=1e-9), name
            assert other.features[name].p_adjusted == pytest.approx(r.p_adjusted, rel=1e-9)


@pytest.mark.slow
def test_demo_drift_sabotage_is_rejected_naming_the_feature(tmp_path: Path) -> None:
    from certify.demo import SABOTAGES, build_project
    from certify.registry import suite_classes

    others = {n: {"enabled": False} for n in suite_classes() if n not in ("quality", "drift")}
    policy, project = build_project(tmp_path, "drift", suites=others)
    assert project.expect == "REJECTED"
    session = CertifySession(load_policy(policy))
    try:
        session.setup()
        session.run_all()
        verdict, _ = session.decide()
    finally:
        session.abort()
    assert verdict.decision.value == "REJECTED"
    expected = SABOTAGES["drift"].expect_reason
    reason = next(r for r in verdict.reasons if r.startswith(expected + " failed"))
    assert "new category 'crypto'" in reason and reason.startswith("drift::chi2[purpose]")
