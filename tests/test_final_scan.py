"""The final scan of a run's outputs (issue 18): a raw sensitive value that reaches report.json
or the page, after every check has been judged, keeps the run from being signed and makes it
INCOMPLETE, naming the file and field, never the value."""

from __future__ import annotations

import json
from pathlib import Path

from certify.attest.keys import write_key_pair
from certify.demo import SEED, make_credit_data
from certify.policy import load_policy
from certify.session import CertifySession, UserCheckOutcome
from certify.verdict import Decision
from tests.projects import make_project


def _session(tmp_path: Path) -> CertifySession:
    write_key_pair(tmp_path / "keys" / "release")
    ref = make_credit_data(800, SEED)
    policy = make_project(tmp_path, reference=ref, n_evaluation=300,
                          suites={"quality": {}, "privacy": {}},
                          extra={"sensitive_columns": ["income"],
                                 "signing": {"key": "keys/release.key"}})
    session = CertifySession(load_policy(policy))
    session.setup()
    session.run_all()
    return session


def test_a_clean_run_is_signed(tmp_path: Path) -> None:
    result = _session(tmp_path).finish()
    assert result.verdict.decision is Decision.CERTIFIED, result.verdict.reasons
    assert result.certificate_path is not None and result.certificate_path.is_file()


def test_a_raw_value_in_the_report_is_never_signed(tmp_path: Path) -> None:
    session = _session(tmp_path)
    income = session.data.reference["income"]
    rare = next(v for v, n in income.value_counts().items() if n == 1)  # identifies one person
    # A project's own check that writes a raw income into its reason, judged after the privacy
    # suite's own scan: only the final scan of report.json and the page can catch it.
    session.record_user_check(UserCheckOutcome(
        id="project::approval", suite="project", required=True, outcome="passed",
        message=f"highest approved income {rare}"))
    result = session.finish()
    assert result.verdict.decision is Decision.INCOMPLETE
    assert result.certificate_path is None and not (result.run_dir / "certificate.intoto.json").exists()
    reasons = [r for r in result.verdict.reasons if "final scan" in r]
    assert reasons and all("not signed" in r for r in reasons)
    assert any("report.json" in r for r in reasons), reasons
    assert not any(str(rare) in r for r in reasons)  # the reason names where, never the value
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["verdict"]["decision"] == "INCOMPLETE"
    statement = json.loads((result.run_dir / "statement.json").read_text())
    assert statement["predicate"]["verdict"] == "INCOMPLETE"
