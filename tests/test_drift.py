"""The drift suite: real alibi-detect / scipy tests on data with known shifts, fixed seeds.

Each shift must be flagged by the right detector on the right feature, and nothing else
among the feature tests; unshifted data passes; the saved baseline is checked for
tampering and holds no raw sensitive value.
"""

from __future__ import annotations

import json
import re
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
    assert summary.status is Status.PASSED  # and the rule it was decided by, in its reason
    assert "-corrected p >= 0.01 on each" in summary.reason
    assert "worst status of the per-feature checks" in summary.reason
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
    # Nothing moved: the effect chart still answers how far each feature moved (bars, not
    # "nine bars at 0"), and every KS distance is short of the distance at which it fails.
    effect = drift_panels(report)[0].chart
    assert effect is not None and effect.title.startswith("How far each feature moved")
    assert all(g.values[0] is not None for g in effect.groups)
    ks = [g for g in effect.groups if g.limit is not None]
    assert len(ks) == len(NUMERIC) and all(g.values[0] < g.limit for g in ks)


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


def recomputable(values: Any) -> set[str]:
    """Every unkeyed hash (sha256/sha1/md5, whole or as a 12/16-digit prefix) of the text of
    ``values``, in the forms a value is written in (its text, its category key, its repr)."""
    from certify.masking import unkeyed_hashes
    from certify.suites.drift.columns import category_key

    texts: set[str] = set()
    for v in values:
        texts |= {str(v), category_key(v), repr(v)}
    return set().union(*(unkeyed_hashes(t) for t in texts))


def leaked_hashes(text: str, hashes: set[str]) -> set[str]:
    """The hashes of ``hashes`` that ``text`` holds, anywhere in a run of hex digits."""
    found = set()
    for run in re.findall(r"[0-9a-f]{12,}", text):
        for width in (12, 16, 32, 40, 64):
            found |= {run[i:i + width] for i in range(len(run) - width + 1)} & hashes
    return found


def test_sensitive_column_is_binned_flagged_and_never_stored_raw(tmp_path: Path, reference,
                                                                 models) -> None:
    shifted = make_credit_data(N_EVAL, SEED + 100, shift={"income_factor": 1.3})
    session = certify_drift(tmp_path, reference, models, shifted, sensitive=["income", "sex"])
    only_flagged(session, {"drift::chi2[income]"})
    assert "drift::ks[income]" not in statuses(session)
    result = session.finish()
    run_dir = result.run_dir
    manifest = json.loads((run_dir / DRIFT_BASELINE / MANIFEST).read_text())
    assert manifest["format_version"] == 2
    income = next(f for f in manifest["features"] if f["name"] == "income")
    assert income["storage"] == "binned_counts" and income["file"] is None
    assert income["summary"] == {}
    sex = next(f for f in manifest["features"] if f["name"] == "sex")
    assert sex["storage"] == "bucketed_counts" and sex["buckets"] == 10
    assert all(re.fullmatch(r"buckets? [0-9+]+", k) for k in sex["counts"])
    assert min(sex["counts"].values()) >= 10 and sum(sex["counts"].values()) == N_REF
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
    # Its picture uses only the ranges the baseline stores (merged, never split).
    report = json.loads(result.report_path.read_text())
    drawn = next(f for f in report["suites"]["drift"]["data"]["features"]
                 if f["name"] == "income")["distribution"]
    stored = {"-inf", "inf", *(f"{e:.2g}" for e in income["edges"])}
    assert drawn["kind"] == "shares" and drawn["ordered"]
    assert len(drawn["bins"]) <= len(income["edges"]) + 1
    for label in drawn["bins"]:
        lo, hi = label.strip("[)").split(", ")
        assert lo in stored and hi in stored, label
    assert sum(drawn["reference"]) == pytest.approx(1.0, abs=1e-4)
    # No output of the run (baseline, report.json, the page, the statement) holds a hash of a
    # sensitive value that anybody could recompute.
    hashes = recomputable([*reference["income"], *shifted["income"], *reference["sex"].unique()])
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.name == "report.html" for p in files)
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="ignore")
        assert not leaked_hashes(text, hashes), path.relative_to(run_dir)


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
    assert ("'age': kind numeric (int64) → categorical (object): 5 of 400 values are not numbers"
            in out["schema"].reason)
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

    manifest_path.write_text(text.replace('"format_version": 2', '"format_version": 99'))
    assert "format version 99" in refused("version").message
    manifest_path.write_text(text.replace('"format_version": 2', '"format_version": 1'))
    assert "manifest was edited" in refused("tampered").message  # no downgrade either
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


# -- the report's pictures (issue 16) ---------------------------------------------------------

def drift_panels(report: dict[str, Any]) -> list[Any]:
    from certify.suite import SuiteRecord
    from certify.suites.drift import DriftSuite
    from certify.suites.drift.settings import DriftSettings

    data = report["suites"]["drift"]["data"]
    return DriftSuite().panels(SuiteRecord("drift", DriftSettings(), data, []))


def test_report_data_is_bounded_and_the_pictures_answer_the_question(tmp_path: Path, models
                                                                     ) -> None:
    from certify.reports import charts
    from certify.suites.drift import MAX_DISTRIBUTIONS
    from certify.suites.drift.distribution import MAX_BINS, PROBS
    from certify.view import BarChart, LineChart

    rng = np.random.default_rng(4)
    ref = make_credit_data(N_REF, SEED)
    new = make_credit_data(N_EVAL, SEED + 100, shift={"new_purpose": "crypto"})
    new["employment_years"] = new["employment_years"] + 2.0
    noise = [f"noise{i:02d}" for i in range(30)]  # the model ignores them; drift tests them all
    for frame in (ref, new):
        for name in noise:
            frame[name] = rng.normal(0, 1, len(frame))
    session = certify_drift(tmp_path, ref, models, new, sensitive=["income", "sex"])
    report = json.loads(session.finish().report_path.read_text())
    data = report["suites"]["drift"]["data"]
    assert len(data["features"]) == 39
    assert set(data["drifted"]) == {"employment_years", "purpose"}
    drawn = {f["name"]: f["distribution"] for f in data["features"] if "distribution" in f}
    assert len(drawn) == MAX_DISTRIBUTIONS and set(data["drifted"]) <= set(drawn)
    for d in drawn.values():
        if d["kind"] == "ecdf":
            assert d["probs"] == list(PROBS) and len(d["reference"]) == len(PROBS)
        else:
            assert len(d["bins"]) == len(d["reference"]) == len(d["evaluation"]) <= MAX_BINS
    assert len(json.dumps(data)) < 80_000  # 39 features, bounded pictures
    purpose = drawn["purpose"]
    crypto = purpose["bins"].index("crypto")
    assert purpose["reference"][crypto] == 0 and purpose["evaluation"][crypto] > 0.05

    panels = drift_panels(report)
    main = panels[0]
    assert main.title == "Per-feature drift" and isinstance(main.chart, BarChart)
    assert "effect" in main.chart.axis_label and main.chart.limit_label
    assert [g.label for g in main.chart.groups[:2]] == ["employment_years", "purpose"]
    assert "not drawn: " in main.note and "noise" in main.note
    assert not any("Significance" in (c.title or "") for p in panels for c in
                   ([p.chart] if p.chart else []) + list(p.charts))
    pictures = [p for p in panels if p.title.endswith(": reference vs evaluation")]
    assert {p.title for p in pictures[:2]} == {  # drifted first (then the largest effects)
        "Drifted feature: employment_years: reference vs evaluation",
        "Drifted feature: purpose: reference vs evaluation"}
    for panel in pictures:
        chart = panel.chart
        assert chart is not None and chart.title and panel.table is not None
        if isinstance(chart, LineChart):  # ECDFs: one line per side, its points in the table
            assert [s.name for s in chart.series] == ["reference", "evaluation"]
            assert chart.x_label and chart.y_label
            assert len(panel.table.rows) == len(chart.series[0].x)
        else:  # shares per category/range: two series, their numbers in the table
            assert isinstance(chart, BarChart) and list(chart.series) == ["reference", "evaluation"]
            assert chart.axis_label and len(panel.table.rows) == len(chart.groups)
        svg = charts.draw(chart, "t")
        assert svg is not None and "<title" in svg
    crypto_bar = next(g for p in pictures if p.title.startswith("Drifted feature: purpose")
                      for g in p.chart.groups if g.label == "crypto")
    assert crypto_bar.flag == "new"
    # Sensitive columns are drawn only over what their baseline stores.
    for name in ("income", "sex"):
        d = next(f for f in data["features"] if f["name"] == name).get("distribution")
        if d is None:
            continue
        assert d["kind"] == "shares"
        labels = " ".join(d["bins"])
        assert not re.search(r"\d{4,}\.\d", labels)  # no raw income (values have cents)
        if name == "sex":
            assert all(re.fullmatch(r"buckets? [0-9+]+", b) for b in d["bins"])
    # Fields, not dumps.
    items = [v for p in panels for _, v in p.items]
    assert items and all(isinstance(v, str) and not v.startswith(("{", "[")) for v in items)
    execution = dict(next(p for p in panels if p.title == "Drift baseline and execution").items)
    assert re.fullmatch(r"fit \d+\.\d\d s, check \d+\.\d\d s", execution["time"])
    assert execution["rows"] == "reference 1,500, evaluation 1,000"


# -- drift::schema: declared kind against declared kind (issue 14, item 3) ----------------------

def test_a_declared_categorical_column_keeps_its_kind_in_new_data(tmp_path: Path) -> None:
    from certify.data import infer_schema
    from certify.policy import ColumnOverride

    rng = np.random.default_rng(3)
    n = 1200

    def frame(rows: int, codes: Any) -> pd.DataFrame:
        return pd.DataFrame({"x": rng.normal(0, 1, rows), "region": codes,
                             TARGET: rng.integers(0, 2, rows)})

    coded = frame(n, rng.choice([1.0, 2.0, 3.0, np.nan], n))  # float64: codes with gaps
    declared = {"region": ColumnOverride(kind="categorical")}
    params = DetectorParams(p_value=Threshold(fail=0.01, warn=0.05))

    def fitted(ref: pd.DataFrame, name: str, overrides: Any, declare: bool) -> Any:
        schema = infer_schema(ref, target=TARGET, overrides=overrides)
        baseline = fit_baseline(ref, schema, sensitive=[], seed=1, options=FitOptions(),
                                params=params, harness_version="t",
                                declared=["region"] if declare else None)
        baseline.save(tmp_path / name)
        return load_baseline(tmp_path / name)

    baseline = fitted(coded, "declared", declared, True)
    region = next(f for f in baseline.manifest.features if f.name == "region")
    assert region.kind == "categorical" and region.declared and region.test == "chi2"
    # The case: values unchanged, same dtype. Nothing to report.
    _, out = _check(baseline, frame(800, rng.choice([1.0, 2.0, 3.0, np.nan], 800)))
    assert out["schema"].status is Status.PASSED, out["schema"].reason
    assert "region" not in out["schema"].reason and out["chi2[region]"].status is Status.PASSED
    # Same codes without gaps: read as int64. The dtype changed, the declared kind did not.
    _, out = _check(baseline, frame(800, rng.choice([1, 2, 3], 800)))
    assert out["schema"].status is Status.PASSED, out["schema"].reason
    assert ("'region' (declared categorical): dtype float64 → int64, kind categorical unchanged"
            in out["schema"].reason)
    change = out["schema"].metrics["dtype_changes"][0]
    assert change["declared"] and not change["kind_changed"] and change["testable"]
    # Text where codes were: still categories (the chi-squared test names the new one).
    texts = frame(800, rng.choice(["1", "2", "unknown"], 800))
    _, out = _check(baseline, texts)
    assert out["schema"].status is Status.PASSED
    assert out["chi2[region]"].status is Status.FAILED and "'unknown'" in out["chi2[region]"].reason
    # A version-1 baseline does not record the declaration; a categorical kind that its
    # float64 dtype would not give can only have been declared.
    legacy = fitted(coded, "legacy", declared, False)
    _, out = _check(legacy, frame(800, rng.choice([1, 2, 3], 800)))
    assert out["schema"].status is Status.PASSED, out["schema"].reason
    # Undeclared, the same codes are numbers: text in them is a kind change a test cannot read.
    plain = fitted(frame(n, rng.choice([1, 2, 3], n)), "plain", None, False)
    _, out = _check(plain, texts)
    assert out["schema"].status is Status.FAILED
    assert re.search(r"'region': kind numeric \(int64\) → categorical \(object\): \d+ of 800 "
                     r"values are not numbers", out["schema"].reason)
    # Text categories declared categorical stay categorical when they arrive as codes; the
    # declaration recorded in the baseline decides, not the dtype.
    named = frame(n, rng.choice(["north", "south"], n))
    as_codes = frame(800, rng.choice([1.0, 2.0], 800))
    _, out = _check(fitted(named, "named", declared, True), as_codes)
    assert out["schema"].status is Status.PASSED
    assert "dtype object → float64, kind categorical unchanged" in out["schema"].reason
    _, out = _check(fitted(named, "named-undeclared", None, False), as_codes)
    assert out["schema"].status is Status.WARNED
    assert "'region': kind categorical (object) → numeric (float64)" in out["schema"].reason


def test_the_policy_declaration_reaches_the_baseline(tmp_path: Path, models) -> None:
    """A numeric-coded column declared categorical in [data.columns]: no schema warning."""
    rng = np.random.default_rng(9)
    ref = make_credit_data(N_REF, SEED)
    ref["region"] = rng.choice([1.0, 2.0, 3.0, np.nan], N_REF)
    new = make_credit_data(N_EVAL, SEED + 100)
    new["region"] = rng.choice([1.0, 2.0, 3.0, np.nan], N_EVAL)
    policy = make_project(tmp_path, candidate=models[0], baseline=models[1], reference=ref,
                          evaluation=new, suites={"drift": {}},
                          extra={"data": {"reference": "data/reference.csv",
                                          "evaluation": "data/evaluation.csv", "target": TARGET,
                                          "columns": {"region": {"kind": "categorical"}}}})
    session = CertifySession(load_policy(policy))
    session.setup()
    session.run_all()
    schema = session.evidence["drift::schema"]
    assert schema.status is Status.PASSED, schema.reason
    assert "region" not in schema.reason and schema.metrics["dtype_changes"] == []
    assert session.evidence["drift::chi2[region]"].status is Status.PASSED
    manifest = json.loads((session.run_dir.path / DRIFT_BASELINE / MANIFEST).read_text())
    region = next(f for f in manifest["features"] if f["name"] == "region")
    assert region["declared"] and region["kind"] == "categorical"
    session.abort()


# -- sensitive categories: coarse buckets, keyed pseudonyms (issue 14, item 7) ------------------

def test_bucket_groups_never_leave_a_rare_category_alone() -> None:
    from certify.suites.drift.columns import MIN_BUCKET_ROWS, bucket_groups, group_labels

    rng = np.random.default_rng(0)
    for _ in range(200):
        per_bucket = [int(v) for v in rng.choice([0, 1, 3, 9, 10, 40, 500], 10)]
        groups = bucket_groups(per_bucket)
        totals: dict[int, int] = {}
        for bucket, group in enumerate(groups):
            totals[group] = totals.get(group, 0) + per_bucket[bucket]
        assert sorted(set(groups)) == list(range(len(totals)))
        if len(totals) > 1:
            assert min(totals.values()) >= MIN_BUCKET_ROWS, (per_bucket, groups)
        assert bucket_groups(per_bucket) == groups  # deterministic
        assert len(group_labels(groups)) == len(totals)
    # Empty buckets do not stand alone either (that would say which categories are absent).
    assert bucket_groups([100, 100, 0, 0]) == [0, 1, 0, 0]
    assert group_labels([0, 1, 0, 0]) == ["buckets 0+2+3", "bucket 1"]
    assert bucket_groups([5, 3]) == [0, 0] and bucket_groups([0, 0, 0]) == [0, 0, 0]


def test_sensitive_categories_are_counted_over_coarse_buckets(tmp_path: Path) -> None:
    from certify.masking import Masker
    from certify.suites.drift.columns import MIN_BUCKET_ROWS, bucket_of
    from certify.suites.drift.engine import detect
    from certify.suites.drift.sources import FrameSource

    rng = np.random.default_rng(12)
    common = [f"clinic-{i}" for i in range(30)]
    rare = ["rare-a", "rare-b", "rare-c"]  # 1 to 3 people each: never a count of their own

    def frame(rows: int, p_female: float) -> pd.DataFrame:
        return pd.DataFrame({
            "x": rng.normal(0, 1, rows), "amount": np.round(rng.lognormal(8, 1, rows), 2),
            "sex": rng.choice(["female", "male"], rows, p=[p_female, 1 - p_female]),
            "clinic": rng.choice(common, rows), TARGET: rng.integers(0, 2, rows)})

    ref = frame(1500, 0.5)
    ref.loc[ref.index[:6], "clinic"] = ["rare-a", "rare-b", "rare-b", "rare-c", "rare-c", "rare-c"]
    sensitive = ["sex", "clinic", "amount"]
    baseline = _baseline(ref, tmp_path, sensitive=sensitive)
    clinic = next(f for f in baseline.manifest.features if f.name == "clinic")
    assert clinic.storage == "bucketed_counts" and clinic.buckets == 10
    assert min(clinic.counts.values()) >= MIN_BUCKET_ROWS
    members: dict[int, set[str]] = {}
    for category in [*common, *rare]:
        members.setdefault(clinic.groups[bucket_of(category, 10)], set()).add(category)
    for group, cats in members.items():
        assert not (len(cats) == 1 and cats <= set(rare)), (group, cats)
    text = (baseline.path / MANIFEST).read_text()
    assert not [c for c in [*common, *rare, "female"] if c in text]
    assert not leaked_hashes(text, recomputable([*common, *rare, "female", "male"]))
    # The same shares pass; a changed sex ratio is flagged, over the buckets.
    _, out = _check(baseline, frame(1000, 0.5))
    assert out["chi2[sex]"].status is Status.PASSED and out["chi2[clinic]"].status is Status.PASSED
    _, out = _check(baseline, frame(1000, 0.3))
    assert out["chi2[sex]"].status is Status.FAILED
    assert "new categor" not in out["chi2[sex]"].reason  # buckets hold categories, new or not
    report, _ = _check(baseline, frame(1000, 0.3))
    pictured = report.features["sex"].distribution
    assert pictured is not None and set(pictured["bins"]) == set(
        next(f for f in baseline.manifest.features if f.name == "sex").counts)
    # A sensitive value a reason must name is the run's keyed pseudonym, never its hash.
    bad = frame(1000, 0.5)
    bad["amount"] = bad["amount"].astype(object)
    bad.loc[bad.index[:4], "amount"] = "n/a-9371.55"
    masker = Masker()
    report = detect(baseline, FrameSource(bad), masker=masker)
    problem = report.features["amount"].problem or ""
    assert f"(e.g. {masker.token('n/a-9371.55')})" in problem and "9371" not in problem
    assert report.features["amount"].sensitive_example is None
    assert not leaked_hashes(problem, recomputable(["n/a-9371.55"]))


def write_v1_baseline(directory: Path, reference: pd.DataFrame, **fit: Any) -> None:
    """A drift baseline as version 1 of the format wrote it: sensitive categories counted per
    unkeyed ``sha256:`` hash of their text (byte-identical to what that code wrote)."""
    from certify.suites.drift.baseline import integrity_of
    from certify.suites.drift.columns import count_categories

    fit_baseline(reference, **fit).save(directory)
    body = json.loads((directory / MANIFEST).read_text())
    body["format_version"] = 1
    for feature in body["features"]:
        for key in ("declared", "buckets", "groups"):
            feature.pop(key)
        if feature["storage"] == "bucketed_counts":
            counts = count_categories(reference[feature["name"]], hashed=True)
            feature["storage"], feature["counts"] = "hashed_counts", counts
            name = feature["name"]
            body["stored"] = [f"{name} (sensitive): counts of {len(counts)} hashed categories"
                              if line.startswith(f"{name} (sensitive)") else line
                              for line in body["stored"]]
    body["integrity"] = integrity_of(body)
    (directory / MANIFEST).write_text(json.dumps(body, indent=2, allow_nan=False) + "\n")


def test_a_version_1_baseline_is_still_read_and_its_hashes_never_shown(tmp_path: Path,
                                                                        reference) -> None:
    from certify.data import infer_schema
    from certify.masking import Masker
    from certify.suites.drift.checks import plan_from_baseline
    from certify.suites.drift.engine import detect
    from certify.suites.drift.sources import FrameSource
    from certify.suites.drift.stats import chi2_test

    directory = tmp_path / "v1"
    sensitive = ["income", "sex"]
    write_v1_baseline(directory, reference, schema=infer_schema(reference, target=TARGET),
                      sensitive=sensitive, seed=3, options=FitOptions(),
                      params=DetectorParams(p_value=Threshold(fail=0.01, warn=0.05)),
                      harness_version="0.old")
    hashes = recomputable([*reference["sex"].unique(), "nonbinary", "oops-1"])
    assert leaked_hashes((directory / MANIFEST).read_text(), hashes)  # the old format's flaw
    digest = directory_digest(directory)
    baseline = load_baseline(directory, expected_digest=digest)  # the certified digest holds
    assert baseline.manifest.format_version == 1 and baseline.digest == digest
    sex = next(f for f in baseline.manifest.features if f.name == "sex")
    assert sex.storage == "hashed_counts"
    new = make_credit_data(N_EVAL, SEED + 100)
    new.loc[new.index[:150], "sex"] = "nonbinary"
    new["income"] = new["income"].astype(object)
    new.loc[new.index[:2], "income"] = "oops-1"
    masker = Masker()
    report = detect(baseline, FrameSource(new), masker=masker)
    outcomes = {p.name + (f"[{p.param}]" if p.param else ""): p.fn(report)
                for p in plan_from_baseline(baseline)}
    assert outcomes["chi2[sex]"].status is Status.FAILED
    # The same test as before (a hash per category: the categories' own counts).
    raw = chi2_test({k: int(v) for k, v in reference["sex"].value_counts().items()},
                    {k: int(v) for k, v in new["sex"].value_counts().items()})
    assert report.features["sex"].p_value == pytest.approx(raw[1])
    from certify.suites.drift.columns import legacy_hash_key

    shown = masker.token(legacy_hash_key("nonbinary"))  # keyed: nobody can recompute it
    assert f"new category '{shown}'" in outcomes["chi2[sex]"].reason
    assert outcomes["chi2[income]"].status is Status.FAILED
    assert f"(e.g. {masker.token('oops-1')})" in outcomes["chi2[income]"].reason
    dumped = json.dumps([o.model_dump(mode="json") for o in outcomes.values()]
                        + [r.distribution for r in report.features.values()])
    assert not leaked_hashes(dumped, hashes)
    assert "nonbinary" not in dumped and "oops-1" not in dumped


def test_a_chance_difference_between_two_samples_does_not_fail_by_default(tmp_path: Path) -> None:
    """Two samples of one population (the zoo's imbalanced member, seed 13) whose home_ownership
    shares differ by chance by a few points (total variation 0.043, chi-squared p 0.0005, below
    the Bonferroni fail level): significant, but under the default min_effect of 0.05 it passes
    with a note saying so. The same column shifted for real (the demo's drift sabotage moves
    shares by 0.37) still fails."""
    from certify.data import infer_schema
    from certify.suites.drift.settings import DriftSettings
    from tests.zoo import _imbalanced

    ref, ev = _imbalanced(13, False)
    settings_ = DriftSettings()
    assert settings_.min_effect == 0.05
    baseline = fit_baseline(ref, infer_schema(ref, target=TARGET), sensitive=[], seed=3,
                            options=settings_.fit_options(), params=settings_.params(),
                            harness_version="test")
    baseline.save(tmp_path / "bl")
    loaded = load_baseline(tmp_path / "bl")
    report, outcomes = _check(loaded, ev)
    chance = outcomes["chi2[home_ownership]"]
    assert report.features["home_ownership"].p_adjusted < 0.01  # significant ...
    assert report.features["home_ownership"].effect < 0.05  # ... and small
    assert chance.status is Status.PASSED and "not counted" in chance.reason
    shifted = ev.copy()
    flip = shifted.index[: int(0.4 * len(shifted))]
    shifted.loc[flip, "home_ownership"] = "rent"
    _, outcomes = _check(loaded, shifted)
    assert outcomes["chi2[home_ownership]"].status is Status.FAILED
