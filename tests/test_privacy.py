"""The privacy suite on real models and real ART attacks: membership inference, the search for raw
sensitive values in what a run writes (before and after the report), undeclared personal data.

Also the demo's ``leaky`` sabotage model (:func:`leaky_model`) and the policy section the demo
uses for it (:data:`LEAKY_DEMO_POLICY`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from certify.demo import FEATURES, SEED, TARGET, make_credit_data, preprocessor
from certify.demo.models import leaky_model
from certify.errors import ConfigError
from certify.evidence import Evidence, Status
from certify.policy import load_policy
from certify.session import CertifySession
from certify.verdict import Decision
from tests.projects import make_project

PRIVACY = "privacy::membership_advantage"
SCAN = "privacy::no_raw_sensitive_values"
PII = "privacy::undeclared_pii"
#: Scanning tests do not need the (slower) attacks.
NO_MEMBERSHIP: dict[str, Any] = {"membership": {"enabled": False}}
#: The demo's [suites.privacy] section: a membership fail level, so that the ``leaky`` sabotage
#: is REJECTED (the honest candidate's advantage is about 0.05, the leaky forest's about 0.26).
LEAKY_DEMO_POLICY: dict[str, Any] = {"membership": {"advantage_fail": 0.15}}


def regularised_forest() -> Any:
    """The same forest with leaves of at least 20 rows: it cannot single out a training row."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    return Pipeline([("prep", preprocessor()),
                     ("clf", RandomForestClassifier(n_estimators=100, min_samples_leaf=20,
                                                    random_state=SEED, n_jobs=1))])


def certify(policy: Path, *, recorded: bool = False) -> CertifySession:
    session = CertifySession(load_policy(policy))
    session.setup()
    if recorded and "privacy" in session.suites:
        # The seam core offers the scan (SuiteContext.recorded_evidence): the evidence so far.
        session.suites["privacy"].ctx.recorded_evidence = (  # type: ignore[attr-defined]
            lambda: list(session.evidence.values()))
    session.run_all()
    return session


@pytest.fixture(scope="module")
def ref() -> pd.DataFrame:
    return make_credit_data(1500, SEED)


@pytest.fixture(scope="module")
def leaky(ref: pd.DataFrame) -> Any:
    return leaky_model().fit(ref[FEATURES], ref[TARGET])


def _project(tmp_path: Path, ref: pd.DataFrame, privacy: dict[str, Any], **kw: Any) -> Path:
    extra = {"sensitive_columns": ["income"], **kw.pop("extra", {})}
    return make_project(tmp_path, reference=ref, suites=kw.pop("suites", {"privacy": privacy}),
                        extra=extra, **kw)


# -- membership inference ------------------------------------------------------------------------

def test_honest_models_pass_with_defaults(tmp_path: Path, ref: pd.DataFrame) -> None:
    session = certify(_project(tmp_path, ref, {}))
    ev = session.evidence
    assert {e.id: e.status for e in ev.values()} == {
        PRIVACY: Status.PASSED, PII: Status.PASSED, SCAN: Status.PASSED}
    m = ev[PRIVACY]
    lo, hi = m.metrics["advantage_ci"]
    assert lo <= m.metrics["advantage"] <= hi < 0.15
    assert set(m.metrics["attacks"]) == {"rule_based", "black_box"}
    # The assumption is on record, and no comparison without the baseline's training data.
    assert "assumed" in m.reason and "data.reference" in m.details["assumption"]
    # the TPR quoted is the highest over the attacks (not necessarily the strongest one's)
    assert "highest TPR at 0.01 FPR over the attacks" in m.reason
    assert m.metrics["baseline_advantage"] is None
    assert "not declared" in m.details["baseline"]
    assert session.decide()[0].decision is Decision.CERTIFIED
    session.abort()


def test_memorising_forest_fails_only_under_a_fail_level(tmp_path: Path, ref: pd.DataFrame,
                                                        leaky: Any) -> None:
    strict = certify(_project(tmp_path / "strict", ref, LEAKY_DEMO_POLICY, candidate=leaky))
    m = strict.evidence[PRIVACY]
    assert m.status is Status.FAILED
    assert m.metrics["strongest_attack"] == "black_box"
    assert m.metrics["advantage_ci"][0] > 0.15
    failed = [c.metric for c in m.comparisons if c.status is Status.FAILED]
    assert failed == ["advantage_ci_lower"]
    assert strict.decide()[0].decision is Decision.REJECTED
    strict.abort()
    # Default policy: warned above the absolute level, never failed.
    lenient = certify(_project(tmp_path / "default", ref, {}, candidate=leaky))
    assert lenient.evidence[PRIVACY].status is Status.WARNED
    assert "no fail level set" in lenient.evidence[PRIVACY].reason
    assert lenient.decide()[0].decision is Decision.CERTIFIED
    lenient.abort()


def test_regularised_forest_passes_the_same_policy(tmp_path: Path, ref: pd.DataFrame) -> None:
    model = regularised_forest().fit(ref[FEATURES], ref[TARGET])
    session = certify(_project(tmp_path, ref, {"membership": {"advantage_fail": 0.15}},
                               candidate=model))
    m = session.evidence[PRIVACY]
    assert m.status is Status.PASSED, m.reason
    assert m.metrics["advantage_ci"][1] < 0.15
    session.abort()


def test_members_are_the_declared_training_rows(tmp_path: Path, ref: pd.DataFrame) -> None:
    """A forest memorising its own training file looks harmless when attacked with rows it never
    saw (the reference data, assumed), and leaks once the policy names its training data."""
    train = make_credit_data(1500, SEED + 7)
    model = leaky_model().fit(train[FEATURES], train[TARGET])
    policy = _project(tmp_path, ref, {"membership": {"advantage_fail": 0.15,
                                                     "training_data": "data/train.csv"}},
                      candidate=model)
    train.to_csv(tmp_path / "data" / "train.csv", index=False)
    declared = certify(policy)
    m = declared.evidence[PRIVACY]
    assert m.status is Status.FAILED
    assert m.details["members"] == "data/train.csv" and "declared" in m.details["assumption"]
    declared.abort()
    assumed = certify(_project(tmp_path / "assumed", ref, {"membership": {"advantage_fail": 0.15}},
                               candidate=model))
    assert assumed.evidence[PRIVACY].status is Status.PASSED
    assert assumed.evidence[PRIVACY].details["members"] == "data.reference"
    assumed.abort()


def test_baseline_compared_only_with_its_training_data(tmp_path: Path, ref: pd.DataFrame,
                                                       leaky: Any) -> None:
    privacy = {"membership": {"baseline_training_data": "data/reference.csv",
                              "attacks": ["black_box"], "baseline_fail": True}}
    session = certify(_project(tmp_path, ref, privacy, candidate=leaky))
    m = session.evidence[PRIVACY]
    base, diff, (lo, hi) = (m.metrics["baseline_advantage"], m.metrics["advantage_diff"],
                            m.metrics["advantage_diff_ci"])
    assert base is not None and base < 0.1
    assert lo <= diff <= hi and lo > 0.05
    assert [c.metric for c in m.comparisons if c.status is Status.FAILED] == [
        "advantage_diff_ci_lower"]
    assert "vs baseline" in m.reason
    session.abort()


@pytest.mark.slow
def test_same_seed_same_numbers_and_any_executor(ref: pd.DataFrame, leaky: Any) -> None:
    from certify.models.sklearn import SklearnModel
    from certify.suites.privacy.membership import attack_model
    from certify.suites.privacy.settings import MembershipSettings

    ev = make_credit_data(800, SEED + 100)
    model = SklearnModel(leaky, name="leaky", digest="sha256:0", source="test", format="skops",
                         task="classification", classes=list(leaky.classes_), features=FEATURES)

    def attack(executor: str) -> Any:
        settings = MembershipSettings(sample_size=400, attacks=["black_box"], folds=3,
                                      executor=executor, workers=2)  # type: ignore[arg-type]
        return attack_model(model, "candidate", ref, ev, features=FEATURES, target=TARGET,
                            regression=False, settings=settings, seed=11, source="data.reference",
                            assumed=True, executor=executor)

    first, second = attack("inprocess"), attack("inprocess")
    assert first.advantage == second.advantage and first.advantage_ci == second.advantage_ci
    ray = attack("ray")
    assert ray.advantage == first.advantage and ray.tpr_ci == first.tpr_ci


def test_model_without_probabilities_is_attacked_on_its_labels(ref: pd.DataFrame) -> None:
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeClassifier

    from certify.models.sklearn import SklearnModel
    from certify.suites.privacy.membership import attack_model
    from certify.suites.privacy.settings import MembershipSettings

    class LabelsOnly:
        """A fully grown tree that only says its label (no predict_proba)."""

        def __init__(self) -> None:
            self.model = Pipeline([("prep", preprocessor()),
                                   ("m", DecisionTreeClassifier(random_state=0))])
            self.model.fit(ref[FEATURES], ref[TARGET])
            self.classes_ = self.model.classes_

        def predict(self, X: pd.DataFrame) -> Any:  # noqa: N803
            return self.model.predict(X)

    model = SklearnModel(LabelsOnly(), name="tree", digest="sha256:0", source="test",
                         format="skops", task="classification", classes=[0, 1],
                         features=FEATURES)
    assert model.predict_proba is None
    ev = make_credit_data(800, SEED + 100)
    result = attack_model(model, "candidate", ref, ev, features=FEATURES, target=TARGET,
                          regression=False, settings=MembershipSettings(sample_size=600),
                          seed=3, source="data.reference", assumed=True, executor="inprocess")
    # Always right on its training rows, wrong on a third of new ones: both attacks see it.
    assert result.attacks["rule_based"].advantage > 0.1
    assert result.attacks["black_box"].advantage > 0.1


def test_regressor_is_attacked_on_its_loss(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.pipeline import Pipeline

    def data(n: int, seed: int) -> pd.DataFrame:
        frame = make_credit_data(n, seed)
        noise = np.random.default_rng(seed).normal(0, 1.0, n)
        frame["risk"] = frame["debt_ratio"] * 10 + frame["late_payments"] + noise
        return frame.drop(columns=[TARGET])

    ref, ev = data(1000, SEED), data(800, SEED + 5)
    model = Pipeline([("prep", preprocessor()),
                      ("m", RandomForestRegressor(n_estimators=40, random_state=0, n_jobs=1))])
    model.fit(ref[FEATURES], ref["risk"])
    policy = make_project(tmp_path, reference=ref, evaluation=ev, candidate=model, baseline=None,
                          suites={"privacy": {"membership": {"advantage_fail": 0.1}}})
    policy.write_text(policy.read_text().replace('target = "default"', 'target = "risk"'))
    session = certify(policy)
    m = session.evidence[PRIVACY]
    assert m.details["skipped"] == {"rule_based": "the rule-based attack needs a classifier"}
    assert m.metrics["strongest_attack"] == "black_box" and m.status is Status.FAILED
    session.abort()


@pytest.mark.parametrize(("point", "ci", "fail", "status", "says"), [
    (0.05, (0.03, 0.07), None, Status.PASSED, ""),
    (0.12, (0.09, 0.15), None, Status.WARNED, "no fail level set"),
    (0.20, (0.10, 0.30), 0.15, Status.WARNED, "inconclusive"),
    (0.20, (0.16, 0.24), 0.15, Status.FAILED, "advantage_ci_lower=0.16 above the fail level"),
])
def test_the_interval_decides_a_failure(point: float, ci: tuple[float, float],
                                        fail: float | None, status: Status, says: str) -> None:
    from certify.suites.privacy.checks import membership_advantage
    from certify.suites.privacy.engine import PrivacyResult
    from certify.suites.privacy.membership import AttackResult, MembershipResult, ModelMembership
    from certify.suites.privacy.scan import SensitiveIndex
    from certify.suites.privacy.settings import MembershipSettings

    attack = AttackResult("black_box", 0.5 + point, (0.5 + ci[0], 0.5 + ci[1]), point, ci,
                          0.02, (0.01, 0.03))
    model = ModelMembership("candidate", "data.reference", True, 500, None,
                            {"black_box": attack}, "black_box", point, ci, 0.02, (0.01, 0.03))
    result = PrivacyResult(SensitiveIndex(), MembershipResult(model, None))
    outcome = membership_advantage(result, MembershipSettings(advantage_fail=fail))
    assert outcome.status is status
    assert says in outcome.reason


def test_bad_membership_settings_are_configuration_errors(tmp_path: Path,
                                                          ref: pd.DataFrame) -> None:
    policy = _project(tmp_path, ref, {"membership": {"advantage_warn": 0.3,
                                                     "advantage_fail": 0.2}})
    with pytest.raises(ConfigError, match="advantage_warn must not exceed advantage_fail"):
        load_policy(policy)
    policy = _project(tmp_path, ref, {"membership": {"training_data": "data/nope.csv"}})
    session = CertifySession(load_policy(policy))
    with pytest.raises(ConfigError, match="training_data: file not found"):
        session.setup()


# -- raw sensitive values in the run's outputs ---------------------------------------------------

def _income(ref: pd.DataFrame, i: int = 17) -> float:
    return float(ref["income"].iloc[i])


def _leak_then_scan(tmp_path: Path, ref: pd.DataFrame, write: Any,
                    privacy: dict[str, Any] | None = None) -> Evidence:
    """Plan privacy, write something into the run folder (as a suite before it would), then
    judge the scan."""
    session = CertifySession(load_policy(_project(tmp_path, ref, privacy or NO_MEMBERSHIP)))
    session.setup()
    assert session.run_dir is not None
    write(session.run_dir.path)
    session.run_all()
    evidence = session.evidence[SCAN]
    session.abort()
    return evidence


def _assert_no_value(evidence: Evidence, *texts: str) -> None:
    dumped = json.dumps(evidence.model_dump(mode="json"))
    for text in texts:
        assert text not in dumped


def test_raw_value_in_an_artifact_fails_naming_file_and_field(tmp_path: Path,
                                                             ref: pd.DataFrame) -> None:
    value = f"{_income(ref):.2f}"

    def write(run: Path) -> None:
        folder = run / "artifacts" / "other"
        folder.mkdir(parents=True)
        (folder / "counterexample.json").write_text(json.dumps(
            {"rows": [{"age": 40, "income": float(value), "purpose": "car"}]}))

    ev = _leak_then_scan(tmp_path, ref, write)
    assert ev.status is Status.FAILED
    assert "artifacts/other/counterexample.json: rows[0].income: raw value of sensitive column "\
           "'income'" in ev.reason
    _assert_no_value(ev, value)


def test_unkeyed_hash_is_a_leak_and_a_keyed_pseudonym_is_not(tmp_path: Path,
                                                            ref: pd.DataFrame) -> None:
    from certify.masking import Masker

    value = f"{_income(ref):.2f}"
    digest = hashlib.sha256(value.encode()).hexdigest()

    def write(run: Path) -> None:
        (run / "notes.txt").write_text(f"row key sha256:{digest[:16]}\n"
                                       f"pseudonym {Masker().token(value)}\n")

    ev = _leak_then_scan(tmp_path / "hash", ref, write)
    assert ev.status is Status.FAILED and "notes.txt: line 1: unkeyed hash" in ev.reason
    _assert_no_value(ev, value, digest[:12])

    def keyed(run: Path) -> None:
        (run / "notes.txt").write_text(f"pseudonym {Masker().token(value)}\n")

    assert _leak_then_scan(tmp_path / "keyed", ref, keyed).status is Status.PASSED


def test_values_are_matched_at_the_data_precision_as_whole_tokens(tmp_path: Path,
                                                                  ref: pd.DataFrame) -> None:
    v = _income(ref)

    def write(run: Path) -> None:
        (run / "ok.md").write_text(
            f"rounded {v:.1f} and {round(v, -3):.0f}; longer {v:.2f}37; in a word x{v:.2f}\n"
            f"a mean of {v + 0.004:.4f}\n")

    assert _leak_then_scan(tmp_path / "ok", ref, write).status is Status.PASSED

    def padded(run: Path) -> None:
        (run / "bad.md").write_text(f"ok\nvalue: {v:.4f}.\n")

    ev = _leak_then_scan(tmp_path / "bad", ref, padded)
    assert ev.status is Status.FAILED and "bad.md: line 2" in ev.reason


def test_rare_values_of_a_low_cardinality_column_and_whole_words(tmp_path: Path,
                                                                ref: pd.DataFrame) -> None:
    data = ref.copy()
    rng = np.random.default_rng(3)
    data["employer"] = rng.choice(["Acme Corp", "Globex", "Initech"], len(data))
    data.loc[[5, 9], "employer"] = ["Wayne Enterprises", "Tyrell Corporation"]  # rare: 1 row each
    ev_data = make_credit_data(1000, SEED + 100)
    ev_data["employer"] = rng.choice(["Acme Corp", "Globex", "Initech"], len(ev_data))
    model_cols = ref[FEATURES]

    def write(text: str) -> Any:
        def w(run: Path) -> None:
            (run / "report-notes.txt").write_text(text)
        return w

    def scan(sub: str, text: str) -> Evidence:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline

        model = Pipeline([("prep", preprocessor()), ("m", LogisticRegression(max_iter=300))])
        model.fit(model_cols, ref[TARGET])
        policy = make_project(tmp_path / sub, reference=data, evaluation=ev_data,
                              candidate=model, baseline=None,
                              suites={"privacy": NO_MEMBERSHIP},
                              extra={"sensitive_columns": ["employer"],
                                     "data": {"reference": "data/reference.csv",
                                              "evaluation": "data/evaluation.csv",
                                              "target": TARGET, "features": FEATURES}})
        session = CertifySession(load_policy(policy))
        session.setup()
        assert session.run_dir is not None
        write(text)(session.run_dir.path)
        session.run_all()
        evidence = session.evidence[SCAN]
        session.abort()
        return evidence

    common = scan("common", "most work at Acme Corp or globex; wayne enterprisesque\n")
    assert common.status is Status.PASSED
    assert common.details["searched"]["employer"]["searched"] == 2
    rare = scan("rare", "applicant of WAYNE ENTERPRISES, 41\n")
    assert rare.status is Status.FAILED and "'employer'" in rare.reason
    _assert_no_value(rare, "Wayne", "WAYNE")


def test_evidence_so_far_is_scanned_through_the_session_seam(tmp_path: Path,
                                                            ref: pd.DataFrame) -> None:
    value = _income(ref, 3)
    session = CertifySession(load_policy(_project(tmp_path, ref, NO_MEMBERSHIP)))
    session.setup()
    session.suites["privacy"].ctx.recorded_evidence = (  # type: ignore[attr-defined]
        lambda: list(session.evidence.values()))
    session.record(Evidence(id="project::debug", suite="project", status=Status.PASSED,
                            reason="ok", details={"row": {"income": value}}))
    session.run_all()
    ev = session.evidence[SCAN]
    assert ev.status is Status.FAILED
    assert "evidence project::debug: details.row.income" in ev.reason
    assert ev.metrics["evidence_records"] == 2  # the debug record and undeclared_pii
    session.abort()


def test_honest_suites_write_no_raw_value_and_the_final_outputs_are_clean(
        tmp_path: Path, ref: pd.DataFrame) -> None:
    """quality (a sensitive slice), drift (its binned baseline) and privacy: nothing leaks, in
    the run folder before the report nor in report.json, report.html and the statement."""
    suites = {"quality": {"slices": ["income"]}, "drift": {}, "privacy": NO_MEMBERSHIP}
    session = certify(_project(tmp_path, ref, {}, suites=suites), recorded=True)
    ev = session.evidence[SCAN]
    assert ev.status is Status.PASSED, ev.reason
    assert any(name.startswith("drift-baseline/") for name in ev.details["scan"]["file_names"])
    assert ev.metrics["evidence_records"] > 5
    suite = session.suites["privacy"]
    result = suite.result
    run = session.run_dir.path if session.run_dir else None
    out = session.finish()
    assert out.verdict.decision is Decision.CERTIFIED
    final = [out.run_dir / "report.json", out.run_dir / "report.html",
             out.run_dir / "statement.json"]
    assert suite.suite.scan_outputs(suite.ctx, result, final) == []
    assert run is not None and not run.exists()  # published


def test_final_scan_finds_a_leak_in_the_report(tmp_path: Path, ref: pd.DataFrame) -> None:
    value = _income(ref, 8)
    session = CertifySession(load_policy(_project(tmp_path, ref, NO_MEMBERSHIP)))
    session.setup()
    session.run_all()
    session.record(Evidence(id="project::late", suite="project", status=Status.PASSED,
                            reason=f"saw income {value:.2f} once"))
    out = session.finish()
    suite = session.suites["privacy"]
    findings = suite.suite.scan_outputs(suite.ctx, suite.result,
                                        [out.run_dir / "report.json", out.run_dir / "report.html",
                                         out.run_dir / "statement.json"])
    files = {f.file for f in findings}
    assert "report.json" in files and "report.html" in files
    assert any(f.field.startswith("evidence[") and f.field.endswith(".reason") for f in findings)
    assert all(f"{value:.2f}" not in f.describe() for f in findings)
    # Without the suite's result (it did not run): the index is built from the data again.
    again = suite.suite.scan_outputs(suite.ctx, None, [out.run_dir / "report.json"])
    assert {f.field for f in again} == {f.field for f in findings if f.file == "report.json"}
    # What a session that must still write the report can do: withhold the fields found.
    from certify.suites.privacy.scan import WITHHELD, redact

    report = json.loads((out.run_dir / "report.json").read_text())
    clean = redact(report, findings, "report.json")
    assert WITHHELD in json.dumps(clean) and f"{value:.2f}" not in json.dumps(clean)
    (out.run_dir / "redacted.json").write_text(json.dumps(clean))
    assert suite.suite.scan_outputs(suite.ctx, None, [out.run_dir / "redacted.json"]) == []


def test_arrays_and_coarse_drift_edges(tmp_path: Path, ref: pd.DataFrame) -> None:
    from certify.suites.privacy.scan import SensitiveIndex, scan_outputs

    index = SensitiveIndex.build([ref], ["income"])
    np.save(tmp_path / "sample.npy", np.sort(ref["income"].to_numpy()[:200]))
    np.save(tmp_path / "other.npy", np.r_[ref["debt_ratio"].to_numpy(), _income(ref)])
    manifest = tmp_path / "drift-baseline" / "manifest.json"
    manifest.parent.mkdir()
    edges = [float(v) for v in np.sort(ref["income"].to_numpy())[[375, 750, 1125]]]
    entry = {"name": "income", "storage": "binned_counts", "edges": edges,
             "bin_counts": [375, 375, 375, 375]}
    manifest.write_text(json.dumps({"features": [entry]}))
    found = {(f.file, f.field.split(" ")[0]) for f in scan_outputs([tmp_path], index,
                                                                  root=tmp_path)}
    # Raw values as edges (drift rounds its edges) are exempt only because every bin is large.
    assert found == {("sample.npy", "array")}
    entry["bin_counts"] = [375, 375, 375, 3]
    manifest.write_text(json.dumps({"features": [entry]}))
    found = {(f.file, f.field) for f in scan_outputs([tmp_path], index, root=tmp_path)}
    assert ("drift-baseline/manifest.json", "features[0].edges[0]") in found


def test_bookkeeping_numbers_that_equal_a_value_are_not_leaks(tmp_path: Path) -> None:
    """A process id, a port or a count that happens to equal a sensitive value is not a leak
    (an honest demo run was once rejected for a Locust pid equal to a whole-number income); the
    value written as data still is."""
    from certify.suites.privacy.scan import SensitiveIndex, scan_outputs

    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"income": np.round(rng.lognormal(10.6, 0.45, 2000), 2),
                          "salary": rng.integers(20_000, 90_000, 2000)})
    frame.loc[0, "income"] = 39875.0  # a whole number in a column of cents
    salary = int(frame.loc[1, "salary"])
    index = SensitiveIndex.build([frame], ["income", "salary"])
    assert index.columns["income"].decimals == 2 and index.columns["salary"].decimals == 0

    def scan(name: str, text: str) -> set[tuple[str, str]]:
        folder = tmp_path / name
        folder.mkdir()
        (folder / ("out.json" if text.startswith("{") else "out.md")).write_text(text)
        return {(f.field, f.column) for f in scan_outputs([folder], index, root=folder)}

    # The whole-number income as an integer (pid, count, port in a URL, a line of text) is not
    # income at its precision; the salary's value under a bookkeeping key is not data either.
    ok = {"generators": [{"locust_pid": salary, "requests": 39875,
                          "url": f"http://127.0.0.1:{salary}/"}],
          "actor_pids": [salary], "hypothesis_seed": salary, "port": salary}
    assert scan("ok", json.dumps(ok)) == set()
    assert scan("ok-text", f"served on http://localhost:{salary}/predict; 39875 requests\n") \
        == set()
    # The same numbers written as data are found: the income as a float, the salary as an
    # integer under any other key, or in a line of text.
    bad = {"rows": [{"income": 39875.0, "salary": salary}], "requests": salary}
    assert scan("bad", json.dumps(bad)) == {("rows[0].income", "income"),
                                            ("rows[0].salary", "salary"),
                                            ("requests", "salary")}
    assert scan("bad-text", f"income 39875.00, salary {salary}\n") == {
        ("line 1", "income"), ("line 1", "salary")}
    # Integer arrays cannot be the column of cents; float arrays can.
    (tmp_path / "arrays").mkdir()
    np.save(tmp_path / "arrays" / "ints.npy", np.full(50, 39875, dtype=np.int64))
    np.save(tmp_path / "arrays" / "floats.npy", np.full(50, 39875.0))
    found = {f.file for f in scan_outputs([tmp_path / "arrays"], index, root=tmp_path / "arrays")}
    assert found == {"floats.npy"}


# -- undeclared personal data --------------------------------------------------------------------

def _personal(n: int, seed: int) -> pd.DataFrame:
    from stdnum import luhn

    rng = np.random.default_rng(seed)
    frame = make_credit_data(n, seed)
    frame["email"] = [f"user{i}.{rng.integers(1000)}@example.org" for i in range(n)]
    frame["phone"] = [f"+44 20 7946 {rng.integers(0, 10000):04d}" for _ in range(n)]
    frame["iban"] = ["DE89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 32"] * (n // 2)
    cards = []
    for _ in range(n):
        body = "4" + "".join(str(d) for d in rng.integers(0, 10, 14))
        cards.append(body + luhn.calc_check_digit(body))
    frame["card"] = cards
    frame["ssn"] = [f"{rng.integers(100, 666)}-{rng.integers(10, 99)}-{rng.integers(1000, 9999)}"
                    for _ in range(n)]
    frame["born"] = [f"{rng.integers(1950, 2000)}-{rng.integers(1, 13):02d}-"
                     f"{rng.integers(1, 29):02d}" for _ in range(n)]
    frame["customer_id"] = rng.integers(10**8, 10**9, n)
    return frame


def test_recognisers_name_each_kind_and_spare_ordinary_columns() -> None:
    from certify.suites.privacy.pii import find_pii

    frame = _personal(400, 1)
    result = find_pii([frame], declared=["income"], ignore=[], kinds=["email", "phone", "iban",
                      "card", "national_id", "date_of_birth"], min_share=0.5, sample=300,
                      regions=["US", "GB"], seed=1)
    kinds = {c.column: c.kind for c in result.flagged}
    assert kinds == {"email": "email", "phone": "phone", "iban": "iban", "card": "card",
                     "ssn": "national_id", "born": "date_of_birth"}
    assert "income" not in result.checked and "customer_id" in result.checked


def test_undeclared_pii_warns_fails_by_policy_and_passes_once_declared(tmp_path: Path) -> None:
    ref, ev = _personal(600, SEED), _personal(400, SEED + 100)

    def run(sub: str, privacy: dict[str, Any], sensitive: list[str]) -> Evidence:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline

        model = Pipeline([("prep", preprocessor()), ("m", LogisticRegression(max_iter=300))])
        model.fit(ref[FEATURES], ref[TARGET])
        policy = make_project(tmp_path / sub, reference=ref, evaluation=ev, candidate=model,
                              baseline=None, suites={"privacy": privacy},
                              extra={"sensitive_columns": sensitive,
                                     "data": {"reference": "data/reference.csv",
                                              "evaluation": "data/evaluation.csv",
                                              "target": TARGET, "features": FEATURES}})
        session = certify(policy)
        evidence = session.evidence[PII]
        session.abort()
        return evidence

    warned = run("warn", NO_MEMBERSHIP, [])
    assert warned.status is Status.WARNED and warned.metrics["flagged"] == 6
    assert "email (email" in warned.reason
    _assert_no_value(warned, "@example.org", "DE89")
    failed = run("fail", {**NO_MEMBERSHIP, "pii": {"fail": True}}, [])
    assert failed.status is Status.FAILED
    declared = run("declared", NO_MEMBERSHIP,
                   ["email", "phone", "iban", "card", "ssn", "born"])
    assert declared.status is Status.PASSED


# -- panels ----------------------------------------------------------------------------------------

def test_panels_from_the_recorded_report(tmp_path: Path, ref: pd.DataFrame, leaky: Any) -> None:
    from certify.suite import SuiteRecord
    from certify.suites.privacy import PrivacySuite
    from certify.suites.privacy.settings import PrivacySettings

    session = certify(_project(tmp_path, ref, {"membership": {
        "baseline_training_data": "data/reference.csv", "advantage_fail": 0.15}},
        candidate=leaky))
    out = session.finish()
    report = json.loads(out.report_path.read_text())
    data = report["suites"]["privacy"]["data"]
    assert "roc" in data["membership"]["candidate"]["attacks"]["black_box"]
    evidence = [Evidence.model_validate(e) for e in report["evidence"]]
    record = SuiteRecord("privacy", PrivacySettings.model_validate(
        report["policy"]["suites"]["privacy"]), data, evidence)
    titles = [p.title for p in PrivacySuite().panels(record)]
    assert titles == ["Membership inference", "Membership attack ROC",
                      "Raw sensitive values in the run's outputs", "Undeclared personal data"]
    html = out.html_path.read_text() if out.html_path else ""
    assert "Membership attack ROC" in html
