"""`certify drift`: a certified baseline re-checks new data, with the suite's own records.

One signed certification run (drift suite, real key) is made per module; the command is run
in-process against it with clean data, drifted data, Parquet, a tampered baseline, another
baseline, the wrong key and the wrong model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from certify.cli import main
from certify.demo import FEATURES, SEED, TARGET, baseline_model, candidate_model, make_credit_data
from certify.outputs import CERTIFICATE, DRIFT_BASELINE
from certify.policy import load_policy
from certify.session import CertifySession
from tests.projects import make_project, save_model


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from certify.attest.keys import write_key_pair

    root = tmp_path_factory.mktemp("drift-cli")
    write_key_pair(root / "keys" / "signer")
    ref = make_credit_data(1500, SEED)
    evaluation = make_credit_data(1000, SEED + 100)
    candidate = candidate_model().fit(ref[FEATURES], ref[TARGET])
    policy = make_project(root, candidate=candidate,
                          baseline=baseline_model().fit(ref[FEATURES], ref[TARGET]),
                          reference=ref, evaluation=evaluation, suites={"drift": {}},
                          extra={"sensitive_columns": ["income"],
                                 "signing": {"key": "keys/signer.key"}})
    session = CertifySession(load_policy(policy))
    session.setup()
    session.run_all()
    result = session.finish()
    assert result.verdict.decision.value == "CERTIFIED", result.verdict.reasons
    data = root / "new"
    data.mkdir()
    make_credit_data(1200, 4242).drop(columns=[TARGET]).to_csv(data / "ok.csv", index=False)
    drifted = make_credit_data(1200, 4242, shift={"new_purpose": "crypto"})
    drifted.to_csv(data / "drifted.csv", index=False)
    drifted.to_parquet(data / "drifted.parquet")
    other = candidate_model().fit(ref[FEATURES].head(500), ref[TARGET].head(500))
    save_model(other, root / "models" / "other.skops")
    return {"root": root, "run": result.run_dir, "baseline": result.run_dir / DRIFT_BASELINE,
            "certificate": result.run_dir / CERTIFICATE, "key": root / "keys" / "signer.pub",
            "model": root / "models" / "candidate.skops", "other": root / "models" / "other.skops",
            "ok": data / "ok.csv", "drifted": data / "drifted.csv",
            "parquet": data / "drifted.parquet", "evaluation": root / "data" / "evaluation.csv",
            "report": result.report_path}


def drift(capsys: pytest.CaptureFixture[str], *args: Any) -> tuple[int, str, str]:
    code = main(["drift", *[str(a) for a in args]])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_clean_data_with_certificate_and_model_exits_0(run, capsys) -> None:
    code, out, err = drift(capsys, "--baseline", run["baseline"], "--data", run["ok"],
                           "--certificate", run["certificate"], "--key", run["key"],
                           "--model", run["model"])
    assert code == 0, out + err
    assert ", certified)" in out and "verdict: NO DRIFT" in out
    assert "drift::prediction[scores]" in out and "drift::ks[age]" in out
    assert "skipped  drift::target[default]" in out  # production data has no labels


def test_drifted_data_exits_1_naming_the_feature(run, capsys) -> None:
    code, out, _ = drift(capsys, "--baseline", run["baseline"], "--data", run["drifted"])
    assert code == 1
    line = next(x for x in out.splitlines() if "drift::chi2[purpose]" in x)
    assert line.startswith("failed") and "'crypto'" in line
    assert "integrity checked, not certified" in out and "verdict: DRIFT" in out


def test_json_records_are_the_suites_records(run, capsys) -> None:
    """On the run's own evaluation data the command reproduces the suite's evidence."""
    code, out, _ = drift(capsys, "--baseline", run["baseline"], "--data", run["evaluation"],
                         "--model", run["model"], "--json")
    doc = json.loads(out)
    assert code == 0 and doc["verdict"] == "no drift"
    report = json.loads(run["report"].read_text())
    suite = {e["id"]: e for e in report["evidence"] if e["suite"] == "drift"
             and "candidate_vs_baseline" not in e["id"]}
    ours = {e["id"]: e for e in doc["evidence"]}
    assert set(ours) == set(suite)
    for ident, record in ours.items():
        assert record["status"] == suite[ident]["status"], ident
        if "p_value" in record["metrics"]:
            assert record["metrics"]["p_value"] == pytest.approx(suite[ident]["metrics"]["p_value"])


def test_parquet_is_read_by_column_with_the_same_answer(run, capsys) -> None:
    _, csv_out, _ = drift(capsys, "--baseline", run["baseline"], "--data", run["drifted"], "--json")
    code, pq_out, _ = drift(capsys, "--baseline", run["baseline"], "--data", run["parquet"],
                            "--json")
    assert code == 1
    a = {e["id"]: e for e in json.loads(csv_out)["evidence"]}
    b = {e["id"]: e for e in json.loads(pq_out)["evidence"]}
    assert set(a) == set(b)
    for ident in a:
        assert a[ident]["status"] == b[ident]["status"]
        assert a[ident]["metrics"].get("p_value") == pytest.approx(b[ident]["metrics"].get("p_value"))


def test_usage_errors_exit_2(run, capsys, tmp_path: Path) -> None:
    code, _, err = drift(capsys, "--baseline", run["baseline"], "--data", run["ok"],
                         "--certificate", run["certificate"])
    assert code == 2 and "--certificate and --key go together" in err
    code, _, err = drift(capsys, "--baseline", run["baseline"], "--data", tmp_path / "nope.csv")
    assert code == 2 and "file not found" in err
    (tmp_path / "empty.csv").write_text("")
    code, _, err = drift(capsys, "--baseline", run["baseline"], "--data", tmp_path / "empty.csv")
    assert code == 2 and "empty" in err
    code, _, _ = drift(capsys, "--data", run["ok"])
    assert code == 2


def test_tampered_baseline_is_refused_even_without_a_certificate(run, capsys, tmp_path) -> None:
    copy = tmp_path / "baseline"
    shutil.copytree(run["baseline"], copy)
    target = copy / "features" / "000.npy"
    values = np.load(target)
    values[0] -= 1.0
    np.save(target, values)
    code, out, err = drift(capsys, "--baseline", copy, "--data", run["ok"])
    assert code == 1 and out == ""
    assert "features/000.npy does not match its digest" in err


def test_a_baseline_the_certificate_does_not_name_is_refused(run, capsys, tmp_path) -> None:
    from certify.data import infer_schema
    from certify.evidence import Threshold
    from certify.suites.drift.baseline import DetectorParams
    from certify.suites.drift.fit import FitOptions, fit_baseline

    ref = make_credit_data(500, 99)
    other = fit_baseline(ref, infer_schema(ref, target=TARGET), sensitive=["income"], seed=1,
                         options=FitOptions(), params=DetectorParams(p_value=Threshold(fail=0.5)),
                         harness_version="x")
    other.save(tmp_path / "other")
    code, _, err = drift(capsys, "--baseline", tmp_path / "other", "--data", run["ok"],
                         "--certificate", run["certificate"], "--key", run["key"])
    assert code == 1 and "is not the certified drift baseline" in err


def test_wrong_key_and_wrong_model_are_refused(run, capsys, tmp_path) -> None:
    from certify.attest.keys import write_key_pair

    _, stranger, _ = write_key_pair(tmp_path / "stranger")
    code, _, err = drift(capsys, "--baseline", run["baseline"], "--data", run["ok"],
                         "--certificate", run["certificate"], "--key", stranger)
    assert code == 1 and err
    code, _, err = drift(capsys, "--baseline", run["baseline"], "--data", run["ok"],
                         "--model", run["other"])
    assert code == 1 and "is not the certified candidate" in err


def test_sensitive_values_are_shown_as_keyed_pseudonyms(run, capsys, monkeypatch, tmp_path
                                                        ) -> None:
    """A sensitive value a reason names is a keyed pseudonym (CERTIFY_MASK_KEY when set)."""
    from certify.masking import ENV, Masker
    from tests.test_drift import leaked_hashes, recomputable

    key = "a team secret of some length"
    monkeypatch.setenv(ENV, key)
    frame = make_credit_data(600, 77).drop(columns=[TARGET])
    frame["income"] = frame["income"].astype(object)
    frame.loc[frame.index[:3], "income"] = "12345.67 (typo)"
    frame.to_csv(tmp_path / "typo.csv", index=False)
    code, out, _ = drift(capsys, "--baseline", run["baseline"], "--data", tmp_path / "typo.csv",
                         "--json")
    assert code == 1
    record = next(e for e in json.loads(out)["evidence"] if e["id"] == "drift::chi2[income]")
    token = Masker.from_env({ENV: key}).token("12345.67 (typo)")
    assert record["status"] == "failed" and f"(e.g. {token})" in record["reason"]
    assert "12345.67" not in out and not leaked_hashes(out, recomputable(["12345.67 (typo)"]))


def test_a_version_1_baseline_is_checked_and_its_hashes_never_printed(run, capsys, tmp_path
                                                                      ) -> None:
    """Old baselines keep working (their certificates name their digests); the unkeyed hashes
    that version 1 kept of sensitive categories never reach the output."""
    from certify.data import infer_schema
    from certify.evidence import Threshold
    from certify.suites.drift.baseline import DetectorParams
    from certify.suites.drift.fit import FitOptions
    from tests.test_drift import leaked_hashes, recomputable, write_v1_baseline

    ref = make_credit_data(1500, SEED)
    directory = tmp_path / "v1"
    write_v1_baseline(directory, ref, schema=infer_schema(ref, target=TARGET),
                      sensitive=["income", "sex"], seed=1, options=FitOptions(),
                      params=DetectorParams(p_value=Threshold(fail=0.01, warn=0.05)),
                      harness_version="0.old")
    hashes = recomputable([*ref["sex"].unique(), "unknown"])
    assert leaked_hashes((directory / "manifest.json").read_text(), hashes)
    new = make_credit_data(1200, 4242).drop(columns=[TARGET])
    new.loc[new.index[:300], "sex"] = "unknown"
    new.to_csv(tmp_path / "new.csv", index=False)
    code, out, err = drift(capsys, "--baseline", directory, "--data", tmp_path / "new.csv",
                           "--json")
    assert code == 1, err
    doc = json.loads(out)
    assert doc["baseline"]["format_version"] == 1 and doc["verdict"] == "drift"
    assert any("unkeyed hashes" in note for note in doc["notes"])
    sex = next(e for e in doc["evidence"] if e["id"] == "drift::chi2[sex]")
    assert sex["status"] == "failed" and "new category 'masked:" in sex["reason"]
    assert not leaked_hashes(out, hashes) and "unknown" not in out
    code, text, _ = drift(capsys, "--baseline", directory, "--data", tmp_path / "new.csv")
    assert code == 1 and not leaked_hashes(text, hashes)
