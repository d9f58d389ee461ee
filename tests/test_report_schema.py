"""report.json: versioned schema shipped with the package, golden files of each version."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from certify.errors import CertifyError
from certify.policy import load_policy
from certify.report import SCHEMA_DIR, load_report, report_json_schema
from certify.session import CertifySession
from tests.projects import make_project

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    policy = make_project(tmp_path_factory.mktemp("report"), n_reference=600, n_evaluation=400,
                          extra={"sensitive_columns": ["income"], "protected_attributes": ["sex"]})
    session = CertifySession(load_policy(policy))
    session.setup()
    session.run_all()
    return session.finish()


def test_shipped_schema_is_current() -> None:
    shipped = json.loads((SCHEMA_DIR / "report.schema.json").read_text())
    assert shipped == report_json_schema(), (
        "regenerate: certify schema report > certify/schemas/report.schema.json "
        "(and bump SCHEMA_VERSION for a change a reader could notice)")


def test_report_validates_against_shipped_schema(run) -> None:
    raw = json.loads(run.report_path.read_text())
    jsonschema.validate(raw, json.loads((SCHEMA_DIR / "report.schema.json").read_text()))
    assert raw["schema_version"] == "1.1"
    assert raw["candidate"]["digest"].startswith("sha256:")
    assert raw["policy_digest"] == load_policy(raw["policy_path"]).digest()
    assert raw["environment"]["packages"]["scikit-learn"].startswith("1.7")
    assert {d["role"] for d in raw["data"]} == {"reference", "evaluation"}
    assert raw["schema"]["target"] == "default"
    for record in raw["evidence"]:
        assert record["seed"] == 1234
        assert record["reason"]


def test_golden_reports_of_every_version_still_load() -> None:
    goldens = sorted(DATA.glob("report-v*.json"))
    assert goldens, "no golden report files"
    for golden in goldens:
        report = load_report(golden)
        assert report.verdict.decision.value in {"CERTIFIED", "REJECTED", "INCOMPLETE"}


def test_certify_report_renders_golden_reports_of_every_version(tmp_path: Path) -> None:
    from certify.cli import main as cli_main

    for golden in sorted(DATA.glob("report-v*.json")):
        out = tmp_path / f"{golden.stem}.html"
        assert cli_main(["report", str(golden), "-o", str(out)]) == 0
        page = out.read_text()
        assert load_report(golden).candidate.digest in page
        if golden.stem == "report-v1.1":  # an info record is shown as such, never as a pass
            assert "measured, not judged" in page and "st-info" in page


def test_unreadable_reports_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "report.json"
    bad.write_text("{not json")
    with pytest.raises(CertifyError, match="not valid JSON"):
        load_report(bad)
    bad.write_text(json.dumps({"kind": "pytest-certify/report", "schema_version": "9.9"}))
    with pytest.raises(CertifyError, match="schema version '9.9' is not supported"):
        load_report(bad)
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(CertifyError, match="not a pytest-certify report.json"):
        load_report(bad)
