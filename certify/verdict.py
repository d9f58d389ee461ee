"""The verdict: a pure function of the policy, the evidence and the plan.

Rules (DESIGN.md, "Verdict rules"):

1. Any unwaived ``failed`` required check -> REJECTED (errored and missing ones are listed too).
2. Else any ``errored`` required check, required suite that did not run, planned required
   check without evidence, skipped required check, or expired waiver -> INCOMPLETE.
3. Else CERTIFIED. ``warned`` never blocks. A valid waiver turns ``failed`` into
   ``warned`` with the waiver cited; an expired waiver is ignored and reported.

Checks of suites that are not required are reported but never block. An ``info`` record (a figure
measured, not judged) never blocks and is never missing or skipped: it is counted on its own.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from certify.evidence import Evidence, Status, WaiverApplied, matches
from certify.policy import Policy, Waiver


class Decision(enum.StrEnum):
    CERTIFIED = "CERTIFIED"
    REJECTED = "REJECTED"
    INCOMPLETE = "INCOMPLETE"


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Decision
    reasons: list[str] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list)
    expired_waivers: list[str] = Field(default_factory=list)

    @property
    def certified(self) -> bool:
        return self.decision is Decision.CERTIFIED


class Planned(NamedTuple):
    """A check that was planned for this run (before any ``-k``/``-x`` narrowing)."""

    id: str
    suite: str
    required: bool = True


def apply_waivers(waivers: Sequence[Waiver], evidence: Iterable[Evidence],
                  today: dt.date) -> tuple[list[Evidence], list[str]]:
    """Turn waived ``failed`` records into ``warned`` ones; report expired waivers."""
    expired = [w for w in waivers if w.expires < today]
    valid = [w for w in waivers if w.expires >= today]
    notes = [f"waiver for '{w.check}' (approved by {w.approver}) expired on {w.expires.isoformat()}"
             for w in expired]
    out = []
    for record in evidence:
        waiver = next((w for w in valid if matches(w.check, record.id)), None)
        if waiver is not None and record.status is Status.FAILED:
            record = record.model_copy(update={
                "status": Status.WARNED,
                "reason": f"{record.reason} [waived: {waiver.reason} — {waiver.approver}, "
                          f"until {waiver.expires.isoformat()}]",
                "waiver": WaiverApplied(pattern=waiver.check, reason=waiver.reason,
                                        approver=waiver.approver,
                                        expires=waiver.expires.isoformat(),
                                        original_status=Status.FAILED),
            })
        out.append(record)
    return out, notes


def decide(policy: Policy, evidence: Sequence[Evidence], *, planned: Sequence[Planned] = (),
           today: dt.date | None = None, blockers: Sequence[str] = ()
           ) -> tuple[Verdict, list[Evidence]]:
    """Decide the verdict. Returns it with the evidence after waivers were applied.

    ``planned`` is every check id that was planned for this run (built-in suites'
    checks and the user's certification checks); planned required checks without
    evidence are "missing". ``today`` is the date waivers are checked against. ``blockers``
    are reasons found outside the checks that keep the run from being certified (a final scan
    of its outputs): they make an otherwise certified run INCOMPLETE.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    records, expired_notes = apply_waivers(policy.waivers, evidence, today)
    required_suites = set(policy.required())
    by_id = {r.id: r for r in records}

    builtin_suites = set(type(policy.suites).model_fields)

    def is_required(suite: str, required: bool) -> bool:
        # A user's own certification check counts unless marked required=False;
        # a built-in suite's check counts when its suite is required.
        return required and (suite in required_suites or suite not in builtin_suites)

    def blocking(record: Evidence) -> bool:
        return is_required(record.suite, record.required)

    failed = [r for r in records if r.status is Status.FAILED and blocking(r)]
    errored = [r for r in records if r.status is Status.ERRORED and blocking(r)]
    skipped = [r for r in records if r.status is Status.SKIPPED and blocking(r)]
    ran_suites = {r.suite for r in records}
    missing_suites = sorted(required_suites - ran_suites)
    missing_checks = [p.id for p in planned if p.id not in by_id and is_required(p.suite, p.required)]
    reasons = [f"{r.id} failed: {r.reason}" for r in failed]
    incomplete = (
        [f"{r.id} errored: {r.reason}" for r in errored]
        + [f"required suite '{s}' did not run" for s in missing_suites]
        + [f"required check {c} did not run" for c in missing_checks]
        + [f"required check {r.id} was skipped: {r.reason}" for r in skipped]
        + expired_notes
        + list(blockers)
    )
    if failed:
        decision = Decision.REJECTED
    elif incomplete:
        decision = Decision.INCOMPLETE
    else:
        decision = Decision.CERTIFIED
    counts = {s.value: sum(1 for r in records if r.status is s) for s in Status}
    verdict = Verdict(
        decision=decision,
        reasons=reasons + incomplete,
        counts=counts,
        missing=[*missing_suites, *missing_checks],
        expired_waivers=expired_notes,
    )
    return verdict, records
