"""validation: deepchecks' data integrity, train-test validation and model evaluation checks.

Built on deepchecks 0.19.1 (tabular). Three groups of deepchecks checks run on seeded,
stratified samples of the data:

* ``integrity`` (deepchecks' data integrity checks) on the evaluation sample;
* ``train_test`` (train-test validation) between the reference sample ("train") and the
  evaluation sample ("test");
* ``model`` (model evaluation) of the candidate on the same two samples, and the same checks
  of the baseline for comparison (``baseline_checks``), plus ``vs_baseline[<scorer>]``:
  deepchecks' ``SingleDatasetPerformance`` scores of both models on the evaluation sample,
  compared as ``candidate - baseline`` against ``comparison.margin`` (default
  ``{fail = -0.02, warn = -0.005}``; scorers default to accuracy and roc_auc, or neg_rmse and r2)
  on a paired bootstrap interval: failed only when the whole interval is below the margin.

Evidence: one record per configured deepchecks condition. The parts, each documented where it
lives:

* :mod:`.settings`: the policy section ``[suites.validation]``;
* :mod:`.plan`: which checks and conditions run (the defaults, merged with the policy) and the
  record ids;
* :mod:`.engine`: the work (samples, deepchecks' datasets, the checks, candidate vs baseline),
  with :mod:`.prepare` (sampling, sensitive columns, feature importance, the model adapter),
  :mod:`.library` (deepchecks' import) and :mod:`.html` (deepchecks' own HTML, offline);
* :mod:`.results`: the typed result and the ``report_data`` keys;
* :mod:`.deciding` (with :mod:`.noise` and :mod:`.reasons`): the figure each condition was
  decided on, its threshold, sampling noise, and the plain sentences of the records;
* :mod:`.compare`: candidate vs baseline, with a paired bootstrap interval;
* :mod:`.checks`: the records (statuses, comparisons, metrics, details, failures of
  deepchecks itself);
* :mod:`.view`: the suite's panels on the audit page.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from certify.suite import CheckSpec, Suite, SuiteContext, SuiteRecord
from certify.suites.validation import checks, engine, results, view
from certify.suites.validation.plan import comparison_scorers, planned_checks
from certify.suites.validation.results import ValidationResult
from certify.suites.validation.settings import (
    BaselineComparison,
    ValidationCheck,
    ValidationSettings,
)

if TYPE_CHECKING:
    from certify.view import Panel

__all__ = ["BaselineComparison", "ValidationCheck", "ValidationResult", "ValidationSettings",
           "ValidationSuite"]


class ValidationSuite(Suite[ValidationSettings, ValidationResult]):
    name = "validation"
    settings_model = ValidationSettings
    description = ("deepchecks data integrity, train-test validation and model evaluation "
                   "(candidate, compared with the baseline), one record per condition.")

    def checks(self, ctx: SuiteContext[ValidationSettings]) -> list[CheckSpec[ValidationResult]]:
        specs = []
        for planned in planned_checks(ctx):
            for condition in planned.conditions:
                name, param = planned.record_name(condition)
                specs.append(self.check(
                    name, partial(checks.deepchecks_condition, p=planned, condition=condition),
                    param=param, required=planned.required,
                    description=f"deepchecks {planned.cls} ({planned.group}): "
                                f"add_condition_{condition}"))
        for scorer in comparison_scorers(ctx):
            specs.append(self.check(
                "vs_baseline", partial(checks.vs_baseline, settings=ctx.settings, scorer=scorer),
                param=scorer, description=f"deepchecks {scorer}: candidate minus baseline"))
        if ctx.settings.html:
            specs.append(self.check("html_report", checks.html_report, required=False,
                                    description="deepchecks' own HTML, offline"))
        return specs

    def run(self, ctx: SuiteContext[ValidationSettings]) -> ValidationResult:
        return engine.run(ctx)

    def report_data(self, ctx: SuiteContext[ValidationSettings],
                    result: ValidationResult) -> dict[str, Any]:
        return results.report_data(planned_checks(ctx), result)

    def panels(self, record: SuiteRecord[ValidationSettings]) -> list[Panel]:
        return view.panels(record)
