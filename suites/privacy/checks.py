"""The privacy suite's checks: each judges the :class:`~.engine.PrivacyResult` with the settings.

* ``privacy::membership_advantage``: the strongest membership attack's advantage (ROC AUC - 0.5)
  and true-positive rate at ``low_fpr``, with intervals; warns above ``advantage_warn``; fails
  only when the policy sets ``advantage_fail`` and the lower end of the interval exceeds it (a
  point estimate above it whose interval reaches below warns as inconclusive); with the
  baseline's training data declared, the candidate - baseline difference too.
* ``privacy::undeclared_pii``: undeclared columns that look like personal data (warned, or
  failed with ``pii.fail``).
* ``privacy::no_raw_sensitive_values``: the run folder (and the evidence recorded so far, where
  the session offers it) searched for identifying sensitive values and unkeyed hashes of them,
  when the check is judged: findings name the file and the field, never the value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from certify.evidence import (
    Comparison,
    Direction,
    Evidence,
    Outcome,
    Status,
    Threshold,
    compare,
    worst,
)
from certify.suites.privacy.engine import PrivacyResult
from certify.suites.privacy.membership import ModelMembership
from certify.suites.privacy.scan import ScanReport, scan_outputs, scan_records
from certify.suites.privacy.settings import MembershipSettings, PiiSettings, ScanSettings

#: The largest possible advantage (a perfect attack): the "fail" level of a warn-only limit.
CEILING = 0.5


def _ci(pair: tuple[float, float] | None) -> list[float] | None:
    return None if pair is None else [round(pair[0], 6), round(pair[1], 6)]


def _f(value: float) -> str:
    return f"{value:.3g}"


def _model_metrics(m: ModelMembership) -> dict[str, Any]:
    return {
        "advantage": m.advantage, "advantage_ci": _ci(m.advantage_ci),
        "tpr_at_low_fpr": m.tpr, "tpr_ci": _ci(m.tpr_ci), "strongest_attack": m.strongest,
        "rows": m.rows,
        "attacks": {name: {"auc": a.auc, "auc_ci": _ci(a.auc_ci), "advantage": a.advantage,
                           "advantage_ci": _ci(a.advantage_ci), "tpr_at_low_fpr": a.tpr,
                           "tpr_ci": _ci(a.tpr_ci)}
                    for name, a in m.attacks.items()},
    }


def _describe(c: Comparison, then: str) -> str:
    """A comparison that did not pass; ``then``: what happens past its warn level."""
    value = "n/a" if c.value is None else _f(c.value)
    if c.status is Status.WARNED and c.warn is not None:
        return f"{c.metric}={value} above the warn level {_f(c.warn)} ({then})"
    if c.status is Status.FAILED:
        return f"{c.metric}={value} above the fail level {_f(c.fail)}"
    return f"{c.metric}={value} ({c.status.value})"


def _then(fail: float | None) -> str:
    return ("no fail level set" if fail is None
            else f"fails when its interval's lower end passes {_f(fail)}")


def membership_advantage(result: PrivacyResult, settings: MembershipSettings) -> Outcome:
    """``privacy::membership_advantage`` (see the module documentation)."""
    if result.membership_error is not None or result.membership is None:
        return Outcome(status=Status.ERRORED,
                       reason=f"membership inference failed: {result.membership_error}")
    s, mr = settings, result.membership
    c = mr.candidate
    warn = s.advantage_warn if s.advantage_fail is None else min(s.advantage_warn, s.advantage_fail)
    # (comparison, what happens past its warn level): a point estimate only ever warns; a
    # failure needs the interval's lower end past the fail level.
    judged = [(compare("advantage", c.advantage, Threshold(fail=CEILING, warn=warn),
                       Direction.MAX), _then(s.advantage_fail))]
    if s.advantage_fail is not None:
        judged.append((compare("advantage_ci_lower", c.advantage_ci[0],
                               Threshold(fail=s.advantage_fail), Direction.MAX), ""))
    tpr_warn = s.tpr_warn if s.tpr_warn is not None else s.tpr_fail
    if tpr_warn is not None:
        judged.append((compare("tpr_at_low_fpr", c.tpr, Threshold(fail=1.0, warn=tpr_warn),
                               Direction.MAX), _then(s.tpr_fail)))
    if s.tpr_fail is not None:
        judged.append((compare("tpr_at_low_fpr_ci_lower", c.tpr_ci[0],
                               Threshold(fail=s.tpr_fail), Direction.MAX), ""))
    if mr.baseline is not None and mr.diff_ci is not None:
        level = (Threshold(fail=s.baseline_margin) if s.baseline_fail
                 else Threshold(fail=1.0, warn=s.baseline_margin))
        judged.append((compare("advantage_diff_ci_lower", mr.diff_ci[0], level, Direction.MAX),
                       "warns only: baseline_fail is off"))
    comparisons = [x for x, _ in judged]
    status = worst([x.status for x in comparisons])
    subject = (f"strongest attack {c.strongest}: advantage {_f(c.advantage)} "
               f"[{_f(c.advantage_ci[0])}, {_f(c.advantage_ci[1])}] "
               f"(AUC {_f(c.attacks[c.strongest].auc)}); highest TPR at {_f(mr.low_fpr)} FPR "
               f"over the attacks {_f(c.tpr)} [{_f(c.tpr_ci[0])}, {_f(c.tpr_ci[1])}]")
    if mr.baseline is not None and mr.diff is not None and mr.diff_ci is not None:
        subject += (f"; vs baseline {_f(mr.baseline.advantage)}: difference {_f(mr.diff)} "
                    f"[{_f(mr.diff_ci[0])}, {_f(mr.diff_ci[1])}]")
    notes = [_describe(x, then) for x, then in judged if x.status is not Status.PASSED]
    if (s.advantage_fail is not None and c.advantage > s.advantage_fail
            and c.advantage_ci[0] <= s.advantage_fail):
        notes.append("inconclusive: the estimate is above the fail level, its interval reaches "
                     "below it")
    members = (f"members: {c.members}" + (" (assumed to be the training data)"
                                           if c.assumed else ""))
    reason = f"{subject}; {members}" + (f"; {'; '.join(notes)}" if notes else "")
    metrics = {**_model_metrics(c), "low_fpr": mr.low_fpr,
               "baseline_advantage": mr.baseline.advantage if mr.baseline else None,
               "baseline_advantage_ci": _ci(mr.baseline.advantage_ci) if mr.baseline else None,
               "advantage_diff": mr.diff, "advantage_diff_ci": _ci(mr.diff_ci)}
    details = {
        "members": c.members, "non_members": "data.evaluation",
        "assumption": (
            f"members are rows of {c.members}, "
            + ("assumed to be the rows the candidate was trained on (the policy names no "
               "training_data)" if c.assumed else "declared as the candidate's training data")
            + "; non-members are rows of data.evaluation, assumed unseen in training"),
        "rows_per_side": c.rows, "per_class": c.per_class, "attack_model": s.attack_model,
        "folds": s.folds, "bootstrap": s.bootstrap, "confidence": s.confidence,
        "executor": mr.executor, "skipped": c.skipped, "baseline": mr.baseline_note or None,
        "baseline_metrics": _model_metrics(mr.baseline) if mr.baseline else None,
    }
    return Outcome(status=status, reason=reason, metrics=metrics, comparisons=comparisons,
                   details=details)


def undeclared_pii(result: PrivacyResult, settings: PiiSettings) -> Outcome:
    """``privacy::undeclared_pii``: undeclared columns that look like personal data."""
    if result.pii_error is not None or result.pii is None:
        return Outcome(status=Status.ERRORED,
                       reason=f"personal-data recognisers failed: {result.pii_error}")
    p = result.pii
    details = {"flagged": [c.to_dict() for c in p.flagged], "checked": p.checked,
               "declared": p.declared, "ignored": p.ignored, "kinds": p.kinds,
               "min_share": settings.min_share}
    metrics = {"flagged": len(p.flagged), "checked": len(p.checked)}
    if not p.flagged:
        return Outcome(status=Status.PASSED,
                       reason=f"no undeclared column of {len(p.checked)} looks like personal data "
                              f"({', '.join(p.kinds)})", metrics=metrics, details=details)
    named = ", ".join(f"{c.column} ({c.kind}, {c.share:.0%} of {c.sampled} values)"
                      for c in p.flagged)
    return Outcome(status=Status.FAILED if settings.fail else Status.WARNED,
                   reason=f"{len(p.flagged)} column(s) look like personal data but are not in "
                          f"sensitive_columns: {named}; declare them (their values are then "
                          "masked) or list them in suites.privacy.pii.ignore",
                   metrics=metrics, details=details)


Recorded = Callable[[], Sequence[Evidence]]


def no_raw_sensitive_values(result: PrivacyResult, settings: ScanSettings, run_dir: Path,
                            recorded: Callable[[], Recorded | None]) -> Outcome:
    """``privacy::no_raw_sensitive_values``: the run's outputs so far, searched when judged."""
    index = result.index
    searched = {col: info.to_dict() for col, info in index.columns.items()}
    if not index.columns:
        return Outcome(status=Status.INFO,
                       reason="no sensitive_columns in the policy: no value to search for "
                              "(privacy::undeclared_pii says whether a column should be one)")
    report = ScanReport()
    scan_outputs([run_dir], index, root=run_dir, max_bytes=int(settings.max_file_mb * (1 << 20)),
                 report=report)
    source = recorded()
    if source is not None:
        scan_records(((f"evidence {e.id}", e.model_dump(mode="json")) for e in source()),
                     index, report)
        evidence_note = f"{report.records} evidence record(s) recorded so far"
    else:
        evidence_note = ("evidence texts not offered to this check (the run's final scan of "
                         "report.json covers them)")
    details = {"searched": searched, "scan": report.to_dict(), "evidence": evidence_note,
               "exempt": ["numbers of at most 2 significant digits",
                          "drift-baseline/manifest.json features[].edges of binned sensitive "
                          f"columns whose every bin counts at least {settings.rare_rows} rows"]}
    metrics = {"findings": report.total, "files": len(report.files), "bytes": report.bytes,
               "evidence_records": report.records, "values_searched": index.searched}
    what = (f"{index.searched} identifying value(s) of {', '.join(index.columns)} and their "
            f"unkeyed hashes, in {len(report.files)} file(s) and {evidence_note}")
    if report.total:
        shown = "; ".join(f.describe() for f in report.findings[:3])
        more = f" (+{report.total - 3} more)" if report.total > 3 else ""
        return Outcome(status=Status.FAILED,
                       reason=f"{report.total} raw sensitive value(s) written: {shown}{more}",
                       metrics=metrics, details=details)
    if report.truncated or report.unreadable:
        return Outcome(status=Status.ERRORED,
                       reason=f"could not read all outputs (truncated: {report.truncated}, "
                              f"unreadable: {report.unreadable}); searched {what}",
                       metrics=metrics, details=details)
    return Outcome(status=Status.PASSED, reason=f"no raw sensitive value: searched {what}",
                   metrics=metrics, details=details)
