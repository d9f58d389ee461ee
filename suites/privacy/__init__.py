"""privacy: does the candidate leak the people it was trained on, and does the run leak them?

* ``privacy::membership_advantage``: membership inference with ART (the rule-based attack and a
  trained black-box attack, :mod:`~certify.suites.privacy.membership`): members are the rows the
  candidate was trained on (``membership.training_data``, else the reference data, assumed),
  non-members the evaluation rows. The advantage (ROC AUC - 0.5) and the true-positive rate at
  a low false-positive rate, with bootstrap intervals; candidate vs baseline only when the
  baseline's own training data is declared.
* ``privacy::undeclared_pii``: columns that look like personal data (emails, phone numbers,
  IBANs, card numbers, national identity numbers, dates of birth) but are not declared
  sensitive (:mod:`~certify.suites.privacy.pii`).
* ``privacy::no_raw_sensitive_values``: planned last, in the suite that runs last
  (``audits_run``), it searches everything the run has written when it is judged (the run
  folder, and the evidence recorded so far where the session offers it as
  ``SuiteContext.recorded_evidence``) for identifying values of the sensitive columns and
  unkeyed hashes of them (:mod:`~certify.suites.privacy.scan`). The same search over the final
  report, page and statement is :meth:`PrivacySuite.scan_outputs` (the session's seam).

``report_data`` keys: ``membership`` {``executor``, ``low_fpr``, ``candidate`` and ``baseline``
(or null): {``members``, ``assumed``, ``rows``, ``per_class``, ``strongest``, ``advantage``,
``advantage_ci``, ``tpr``, ``tpr_ci``, ``skipped``, ``seconds``, ``attacks``: {name: {``auc``,
``auc_ci``, ``advantage``, ``advantage_ci``, ``tpr``, ``tpr_ci``, ``roc`` ([[fpr, tpr]]),
``seconds``}}}, ``diff``, ``diff_ci``, ``baseline_note``} or null; ``membership_error``;
``pii`` {``flagged`` [{``column``, ``kind``, ``detail``, ``share``, ``sampled``}], ``checked``,
``declared``, ``ignored``} or null; ``pii_error``; ``sensitive`` {column: {``kind``, ``rows``,
``distinct``, ``why``, ``searched``, ``left_out_coarse``, ``left_out_short``, ``decimals``}};
``seconds``. No value of any column is in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from certify.jsonsafe import json_safe
from certify.suite import CheckSpec, Suite, SuiteContext, SuiteRecord
from certify.suites.privacy import checks, engine, view
from certify.suites.privacy.engine import PrivacyResult
from certify.suites.privacy.membership import ModelMembership
from certify.suites.privacy.scan import Finding, scan_outputs
from certify.suites.privacy.settings import PrivacySettings
from certify.view import Panel

__all__ = ["Finding", "PrivacyResult", "PrivacySettings", "PrivacySuite", "scan_outputs"]


def _model_data(m: ModelMembership) -> dict[str, Any]:
    return {
        "members": m.members, "assumed": m.assumed, "rows": m.rows, "per_class": m.per_class,
        "strongest": m.strongest, "advantage": m.advantage, "advantage_ci": m.advantage_ci,
        "tpr": m.tpr, "tpr_ci": m.tpr_ci, "skipped": m.skipped, "seconds": m.seconds,
        "attacks": {n: {"auc": a.auc, "auc_ci": a.auc_ci, "advantage": a.advantage,
                        "advantage_ci": a.advantage_ci, "tpr": a.tpr, "tpr_ci": a.tpr_ci,
                        "roc": a.roc, "seconds": a.seconds}
                    for n, a in m.attacks.items()},
    }


class PrivacySuite(Suite[PrivacySettings, PrivacyResult]):
    name = "privacy"
    settings_model = PrivacySettings
    description = ("Membership-inference risk (ART), undeclared personal data, and a scan "
                   "proving that no raw sensitive value reached the run's outputs.")
    audits_run = True  # no_raw_sensitive_values searches what the other suites wrote

    def checks(self, ctx: SuiteContext[PrivacySettings]) -> list[CheckSpec[PrivacyResult]]:
        s = ctx.settings
        engine.check_files(ctx)
        specs: list[CheckSpec[PrivacyResult]] = []
        if s.membership.enabled:
            specs.append(self.check(
                "membership_advantage",
                partial(checks.membership_advantage, settings=s.membership),
                description="membership-inference advantage (ROC AUC - 0.5) of ART's attacks"))
        if s.pii.enabled:
            specs.append(self.check(
                "undeclared_pii", partial(checks.undeclared_pii, settings=s.pii),
                description="columns that look like personal data but are not declared"))
        if s.scan.enabled:
            # Last, so that it is judged after everything planned before it has written.
            specs.append(self.check(
                "no_raw_sensitive_values",
                partial(checks.no_raw_sensitive_values, settings=s.scan, run_dir=ctx.run_dir,
                        recorded=lambda: getattr(ctx, "recorded_evidence", None)),
                description="no identifying sensitive value, nor an unkeyed hash of one, in "
                            "the run's outputs so far"))
        return specs

    def run(self, ctx: SuiteContext[PrivacySettings]) -> PrivacyResult:
        return engine.run(ctx)

    def report_data(self, ctx: SuiteContext[PrivacySettings],
                    result: PrivacyResult) -> dict[str, Any]:
        mr = result.membership
        data = {
            "membership": None if mr is None else {
                "executor": mr.executor, "low_fpr": mr.low_fpr,
                "candidate": _model_data(mr.candidate),
                "baseline": _model_data(mr.baseline) if mr.baseline else None,
                "diff": mr.diff, "diff_ci": mr.diff_ci, "baseline_note": mr.baseline_note},
            "membership_error": result.membership_error,
            "pii": None if result.pii is None else {
                "flagged": [c.to_dict() for c in result.pii.flagged],
                "checked": result.pii.checked, "declared": result.pii.declared,
                "ignored": result.pii.ignored},
            "pii_error": result.pii_error,
            "sensitive": {c: info.to_dict() for c, info in result.index.columns.items()},
            "seconds": result.seconds,
        }
        safe: dict[str, Any] = json_safe(data)
        return safe

    def panels(self, record: SuiteRecord[PrivacySettings]) -> list[Panel]:
        return view.panels(record)

    def scan_outputs(self, ctx: SuiteContext[PrivacySettings], result: PrivacyResult | None,
                     paths: Sequence[Path]) -> list[Finding]:
        """The final scan (the session's seam): identifying sensitive values, or unkeyed hashes
        of them, in ``paths`` (report.json, report.html, the statement, or whole folders).
        ``result``: this suite's result when it ran (its index is reused), else None."""
        if result is not None:
            index = result.index
        else:
            cand, base = engine.training_data(ctx)
            index = engine.sensitive_index(
                ctx, [t.frame for t in (cand, base) if t is not None and not t.assumed])
        # The final outputs are read whole, whatever their size.
        return scan_outputs(paths, index, root=ctx.run_dir, max_bytes=1 << 40)
