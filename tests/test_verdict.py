from __future__ import annotations

import datetime as dt

import pytest

from certify.evidence import Evidence, Status, matches, worst
from certify.policy import policy_from_mapping
from certify.verdict import Decision, Planned, decide

TODAY = dt.date(2026, 11, 23)


def policy(**extra):
    data = {
        "candidate": "m.skops",
        "data": {"reference": "r.csv", "evaluation": "e.csv", "target": "y"},
        "suites": {"quality": {}},
        **extra,
    }
    return policy_from_mapping(data, check_files=False)


def ev(cid: str, status: Status, *, required: bool = True) -> Evidence:
    return Evidence(id=cid, suite=cid.split("::")[0], status=status, reason=f"{cid} {status}",
                    required=required)


PLAN = [Planned("quality::accuracy", "quality"), Planned("quality::roc_auc", "quality")]


def test_all_passed_is_certified() -> None:
    verdict, _ = decide(policy(), [ev("quality::accuracy", Status.PASSED),
                                   ev("quality::roc_auc", Status.WARNED)], planned=PLAN, today=TODAY)
    assert verdict.decision is Decision.CERTIFIED
    assert verdict.reasons == []


def test_failed_is_rejected_and_errored_listed() -> None:
    verdict, _ = decide(policy(), [ev("quality::accuracy", Status.FAILED),
                                   ev("quality::roc_auc", Status.ERRORED)], planned=PLAN, today=TODAY)
    assert verdict.decision is Decision.REJECTED
    assert verdict.reasons[0].startswith("quality::accuracy failed")
    assert any(r.startswith("quality::roc_auc errored") for r in verdict.reasons)


@pytest.mark.parametrize("status", [Status.ERRORED, Status.SKIPPED])
def test_errored_or_skipped_required_is_incomplete(status: Status) -> None:
    verdict, _ = decide(policy(), [ev("quality::accuracy", Status.PASSED),
                                   ev("quality::roc_auc", status)], planned=PLAN, today=TODAY)
    assert verdict.decision is Decision.INCOMPLETE


def test_missing_planned_check_is_incomplete() -> None:
    verdict, _ = decide(policy(), [ev("quality::accuracy", Status.PASSED)], planned=PLAN, today=TODAY)
    assert verdict.decision is Decision.INCOMPLETE
    assert verdict.missing == ["quality::roc_auc"]


def test_missing_required_suite_is_incomplete() -> None:
    verdict, _ = decide(policy(), [], planned=[], today=TODAY)
    assert verdict.decision is Decision.INCOMPLETE
    assert "required suite 'quality' did not run" in verdict.reasons


def test_optional_suite_failure_does_not_block() -> None:
    p = policy(required_suites=[])
    verdict, _ = decide(p, [ev("quality::accuracy", Status.FAILED)], planned=PLAN[:1], today=TODAY)
    assert verdict.decision is Decision.CERTIFIED


def test_user_check_not_required_does_not_block() -> None:
    records = [ev("quality::accuracy", Status.PASSED), ev("quality::roc_auc", Status.PASSED),
               ev("project::x", Status.FAILED, required=False), ev("project::y", Status.PASSED)]
    verdict, _ = decide(policy(), records, planned=PLAN, today=TODAY)
    assert verdict.decision is Decision.CERTIFIED
    records[-1] = ev("project::y", Status.FAILED)
    verdict, _ = decide(policy(), records, planned=PLAN, today=TODAY)
    assert verdict.decision is Decision.REJECTED


def waiver(check: str, expires: str) -> dict:
    return {"check": check, "reason": "known issue", "approver": "jane", "expires": expires}


def test_valid_waiver_turns_failed_into_warned() -> None:
    p = policy(waivers=[waiver("quality::roc_*", "2026-12-31")])
    verdict, records = decide(p, [ev("quality::accuracy", Status.PASSED),
                                  ev("quality::roc_auc", Status.FAILED)], planned=PLAN, today=TODAY)
    assert verdict.decision is Decision.CERTIFIED
    waived = next(r for r in records if r.id == "quality::roc_auc")
    assert waived.status is Status.WARNED
    assert waived.waiver is not None and waived.waiver.approver == "jane"
    assert "waived" in waived.reason


def test_waiver_does_not_hide_errors() -> None:
    p = policy(waivers=[waiver("quality::*", "2026-12-31")])
    verdict, _ = decide(p, [ev("quality::accuracy", Status.PASSED),
                            ev("quality::roc_auc", Status.ERRORED)], planned=PLAN, today=TODAY)
    assert verdict.decision is Decision.INCOMPLETE


def test_expired_waiver_is_ignored_and_reported() -> None:
    p = policy(waivers=[waiver("quality::roc_auc", "2026-11-22")])
    verdict, records = decide(p, [ev("quality::accuracy", Status.PASSED),
                                  ev("quality::roc_auc", Status.FAILED)], planned=PLAN, today=TODAY)
    assert verdict.decision is Decision.REJECTED
    assert any("expired on 2026-11-22" in r for r in verdict.reasons)
    # an expired waiver is never a pass, even when its check passes
    verdict, _ = decide(p, [ev("quality::accuracy", Status.PASSED),
                            ev("quality::roc_auc", Status.PASSED)], planned=PLAN, today=TODAY)
    assert verdict.decision is Decision.INCOMPLETE


def test_waiver_on_its_last_day_applies() -> None:
    p = policy(waivers=[waiver("quality::roc_auc", "2026-11-23")])
    verdict, _ = decide(p, [ev("quality::accuracy", Status.PASSED),
                            ev("quality::roc_auc", Status.FAILED)], planned=PLAN, today=TODAY)
    assert verdict.decision is Decision.CERTIFIED


def test_decide_is_pure() -> None:
    records = [ev("quality::accuracy", Status.FAILED), ev("quality::roc_auc", Status.PASSED)]
    p = policy(waivers=[waiver("quality::accuracy", "2026-12-31")])
    first = decide(p, records, planned=PLAN, today=TODAY)
    second = decide(p, records, planned=PLAN, today=TODAY)
    assert first == second
    assert records[0].status is Status.FAILED  # inputs untouched


@pytest.mark.parametrize(("pattern", "ident", "expected"), [
    ("drift::ks[income]", "drift::ks[income]", True),
    ("drift::ks[*]", "drift::ks[income]", True),
    ("drift::*", "drift::chi2[purpose]", True),
    ("drift::ks[i]", "drift::ks[income]", False),
    ("drift::ks[income]", "drift::ksXincomeX", False),
    ("quality::f1", "quality::f1x", False),
])
def test_waiver_matching(pattern: str, ident: str, expected: bool) -> None:
    assert matches(pattern, ident) is expected



def test_info_never_blocks_and_is_never_missing() -> None:
    """A figure measured but not judged: counted apart, never a pass, never blocking."""
    pol = policy(suites={"quality": {}, "adversarial": {}})
    records = [ev("quality::accuracy", Status.PASSED), ev("quality::roc_auc", Status.INFO),
               ev("adversarial::robust_accuracy", Status.INFO)]
    planned = [*PLAN, Planned("adversarial::robust_accuracy", "adversarial")]
    verdict, _ = decide(pol, records, planned=planned, today=TODAY)
    assert verdict.decision is Decision.CERTIFIED and not verdict.missing and not verdict.reasons
    assert verdict.counts["info"] == 2 and verdict.counts["passed"] == 1
    assert worst([Status.INFO, Status.PASSED]) is Status.PASSED
    assert worst([Status.INFO]) is Status.INFO
    # An info record does not stand in for a failure elsewhere.
    verdict, _ = decide(pol, [*records[1:], ev("quality::accuracy", Status.FAILED)],
                        planned=planned, today=TODAY)
    assert verdict.decision is Decision.REJECTED


def test_blockers_found_outside_the_checks_keep_a_run_from_being_certified() -> None:
    records = [ev("quality::accuracy", Status.PASSED), ev("quality::roc_auc", Status.PASSED)]
    verdict, _ = decide(policy(), records, planned=PLAN, today=TODAY,
                        blockers=["privacy final scan: report.json evidence[3].reason; not signed"])
    assert verdict.decision is Decision.INCOMPLETE
    assert verdict.reasons == ["privacy final scan: report.json evidence[3].reason; not signed"]
    verdict, _ = decide(policy(), [*records[:1], ev("quality::roc_auc", Status.FAILED)],
                        planned=PLAN, today=TODAY, blockers=["x; not signed"])
    assert verdict.decision is Decision.REJECTED and verdict.reasons[-1] == "x; not signed"
