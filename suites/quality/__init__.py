"""quality: candidate vs baseline on the evaluation data.

Metrics of the task with paired, seeded bootstrap confidence intervals; a
non-inferiority rule against the baseline (the lower confidence bound of
``candidate - baseline`` must not fall below ``-margin`` for a higher-is-better metric);
absolute thresholds (the only rule without a baseline); per-slice metrics with the
worst slice named; group-fairness gaps on protected attributes.

The parts: :mod:`.settings` (the policy section), :mod:`.engine` (the work, a typed
:class:`QualityResult`), :mod:`.checks` (one function per check), :mod:`.view` (the panels).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from certify.jsonsafe import json_safe
from certify.suite import CheckSpec, Suite, SuiteContext, SuiteRecord
from certify.suites.quality import checks, engine, view
from certify.suites.quality.engine import METRICS, QualityResult, check_slice_columns, metric_names
from certify.suites.quality.settings import QualitySettings
from certify.view import Panel

__all__ = ["QualityResult", "QualitySettings", "QualitySuite"]


class QualitySuite(Suite[QualitySettings, QualityResult]):
    name = "quality"
    settings_model = QualitySettings
    description = "Candidate vs baseline metrics with bootstrap CIs, slices and fairness gaps."

    def checks(self, ctx: SuiteContext[QualitySettings]) -> list[CheckSpec[QualityResult]]:
        s = ctx.settings
        check_slice_columns(ctx)
        names = metric_names(ctx)
        judged = names if ctx.baseline is not None else [n for n in names if n in s.thresholds]
        specs = [self.check(n, partial(checks.metric, settings=s, name=n),
                            description=f"{n}: non-inferiority vs baseline and absolute threshold")
                 for n in judged]
        if not judged:
            specs.append(self.check("thresholds", checks.nothing_to_judge))
        for col in s.slices:
            specs.append(self.check("worst_slice", partial(checks.worst_slice, settings=s, col=col),
                                    param=col,
                                    description=f"worst slice of {col} on the primary metric"))
        if ctx.data.schema.task == "classification":
            for attr in ctx.policy.protected_attributes:
                for gap in s.fairness:
                    specs.append(self.check(
                        gap.removesuffix("_difference"),
                        partial(checks.fairness, settings=s, gap=gap, attr=attr), param=attr,
                        description=f"{gap} across groups of {attr}"))
        return specs

    def run(self, ctx: SuiteContext[QualitySettings]) -> QualityResult:
        return engine.run(ctx)

    def report_data(self, ctx: SuiteContext[QualitySettings],
                    result: QualityResult) -> dict[str, Any]:
        data = {
            "rows": result.n_rows,
            "primary_metric": result.primary,
            "metrics": [
                {"name": r.name, "direction": METRICS[r.name][0].value,
                 "candidate": r.candidate, "candidate_ci": r.candidate_ci,
                 "baseline": r.baseline, "baseline_ci": r.baseline_ci,
                 "diff": r.diff, "diff_ci": r.diff_ci}
                for r in result.metrics.values()
            ],
            "slices": {col: {"rows": sr.rows, "worst": sr.worst}
                       for col, sr in result.slices.items()},
            "fairness": result.fairness,
        }
        safe: dict[str, Any] = json_safe(data)
        return safe

    def panels(self, record: SuiteRecord[QualitySettings]) -> list[Panel]:
        return view.panels(record)
