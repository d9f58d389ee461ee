"""drift: has the data moved away from the reference, and does the candidate behave differently?

Detectors are fitted on the reference data and saved as the run's **drift baseline**
(``drift-baseline/`` in the run folder, see :mod:`certify.suites.drift.baseline`; its digest is a
subject of the certificate). The evaluation data is then checked against that saved
baseline with exactly the code ``certify drift`` uses on production data later.

The package: :mod:`~certify.suites.drift.settings` (the policy section),
:mod:`~certify.suites.drift.baseline` (the baseline's on-disk format, loading),
:mod:`~certify.suites.drift.fit` (fitting it), :mod:`~certify.suites.drift.engine` (checking
data against it: the detectors are described there), :mod:`~certify.suites.drift.compare`
(candidate vs baseline model), :mod:`~certify.suites.drift.checks` (one function per check),
:mod:`~certify.suites.drift.view` (the report's panels).

Checks (ids): ``drift::schema``, ``drift::ks[<numeric feature>]``,
``drift::chi2[<categorical, boolean or sensitive feature>]``, ``drift::features`` (all
feature tests together; names the drifted features), ``drift::prediction[scores]``,
``drift::prediction[labels]``, ``drift::target[<target>]``, ``drift::mmd`` (with
``mmd = true``), ``drift::candidate_vs_baseline[scores]`` and ``[labels]`` (with a baseline).

``report_data`` keys (for the HTML report)
    ``rows``: {``reference``, ``evaluation``}; ``correction``; ``p_value``: {``fail``,
    ``warn``}; ``min_effect``; ``features``: one per monitored feature, {``name``, ``test``
    (ks|chi2), ``status``, ``sensitive``, ``storage``, ``statistic``, ``p_value``,
    ``p_adjusted``, ``effect`` (KS distance or total-variation distance), ``drifted``,
    ``rows``, ``null_rate``, ``reference_null_rate``, ``new_categories`` ([[category,
    share]], the 20 largest), ``new_categories_total``, ``changes`` (largest category-share
    changes: [{``category``, ``reference``, ``evaluation``}]), ``summary`` /
    ``reference_summary`` (numeric, non-sensitive only: mean, std, p05..p95; the quantiles of
    large new data come from a systematic sample of 10,000 values), ``effect_needed`` (KS: the
    distance at which the test alone fails), ``problem``, and for the first
    :data:`MAX_DISTRIBUTIONS` features in the order of the pictures (drifted first, then the
    largest effects) ``distribution`` (:mod:`certify.suites.drift.distribution`: bounded,
    binned for sensitive columns)}; ``drifted``: names; ``prediction``, ``target``, ``mmd``:
    the same per-test fields (with ``distribution``), or null; ``candidate_vs_baseline``: per
    test the same fields with the policy's ``threshold`` (fail level of the distance) and
    ``status``, or null; ``schema``: {``missing``,
    ``extra``, ``dtype_changes`` ([{``column``, ``reference_kind``, ``reference_dtype``,
    ``kind``, ``dtype``, ``declared``, ``kind_changed``, ``testable``, ``change``}])};
    ``baseline``: {``path``, ``digest``, ``format_version``, ``files``, ``bytes``, ``stored``
    (what is kept, in words), ``not_monitored``, ``sensitive_handling``}; ``executor``,
    ``workers``, ``seconds`` {``fit``, ``check``}.
"""

from __future__ import annotations

import time
from typing import Any

from certify.evidence import Artifact, Outcome, Status
from certify.outputs import DRIFT_BASELINE
from certify.suite import CheckSpec, Suite, SuiteContext, SuiteRecord
from certify.suites.drift import view
from certify.suites.drift.checks import (
    cvb_outcome,
    cvb_plan,
    judge,
    mmd_outcome,
    plan,
    prediction_outcome,
    prediction_plan,
    schema_outcome,
    target_outcome,
)
from certify.suites.drift.compare import compare_with_baseline
from certify.suites.drift.engine import detect
from certify.suites.drift.fit import feature_plan, fit_baseline
from certify.suites.drift.result import DriftReport, DriftStat
from certify.suites.drift.settings import DriftSettings
from certify.suites.drift.sources import FrameSource
from certify.version import __version__
from certify.view import Panel

NAME = "drift"
#: Most features whose distributions the report keeps (drifted first; the rest are named).
MAX_DISTRIBUTIONS = 8


class DriftSuite(Suite[DriftSettings, DriftReport]):
    name = NAME
    settings_model = DriftSettings
    description = ("Data and prediction drift of the evaluation data against detectors fitted on "
                   "the reference data, saved as the certified drift baseline.")

    def checks(self, ctx: SuiteContext[DriftSettings]) -> list[CheckSpec[DriftReport]]:
        s, schema = ctx.settings, ctx.data.schema
        features, _ = feature_plan(schema, ctx.sensitive_columns, s.fit_options())
        planned = plan(features, prediction=prediction_plan(s, schema.task, ctx.candidate),
                       target=schema.target if s.target else None, mmd=s.mmd,
                       cvb=cvb_plan(s, schema.task, ctx.candidate, ctx.baseline), settings=s)
        return [self.check(p.name, p.fn, param=p.param, description=p.description)
                for p in planned]

    def run(self, ctx: SuiteContext[DriftSettings]) -> DriftReport:
        s = ctx.settings
        start = time.perf_counter()
        ctx.progress("drift: fitting detectors on the reference data")
        baseline = fit_baseline(
            ctx.data.reference, ctx.data.schema, sensitive=ctx.sensitive_columns, seed=ctx.seed,
            options=s.fit_options(), params=s.params(), harness_version=__version__,
            model=ctx.candidate if s.prediction else None,
            trusted_types=list(ctx.policy.candidate.trusted_types),
            reference_digest=ctx.data.reference_digest,
            declared=[name for name, column in ctx.policy.data.columns.items()
                      if column.kind is not None])
        directory = ctx.run_dir / DRIFT_BASELINE
        baseline.save(directory)
        fit_s = time.perf_counter() - start
        ctx.progress("drift: checking the evaluation data")
        report = detect(baseline, FrameSource(ctx.data.evaluation), model=ctx.candidate,
                        executor=s.executor, workers=s.workers, seed=ctx.seed,
                        progress=ctx.progress, masker=ctx.masker)
        report.seconds["fit"] = round(fit_s, 4)
        task = ctx.data.schema.task
        if (cvb_plan(s, task, ctx.candidate, ctx.baseline) and ctx.baseline is not None
                and report.candidate_scores is not None):
            report.cvb = compare_with_baseline(report, baseline, ctx.baseline, ctx.data.X(), task)
        report.baseline = baseline.report_info(DRIFT_BASELINE)
        report.manifest_artifact = Artifact.from_file(ctx.run_dir, directory / "manifest.json",
                                                      "drift baseline manifest")
        return report

    def report_data(self, ctx: SuiteContext[DriftSettings], result: DriftReport
                    ) -> dict[str, Any]:
        params = result.params

        def row(r: DriftStat, outcome: Outcome, *, picture: bool = True) -> dict[str, Any]:
            out = r.to_dict()
            out["status"] = outcome.status.value
            out["drifted"] = outcome.status is Status.FAILED
            if picture and r.distribution is not None:
                out["distribution"] = r.distribution
            return out

        def cvb_row(which: str, r: DriftStat) -> dict[str, Any]:
            s = ctx.settings
            threshold = s.score_distance if which == "scores" else s.label_distance
            return {**r.to_dict(), "threshold": threshold.fail,
                    "status": cvb_outcome(result, which, threshold).status.value}

        outcomes = {n: judge(r, params, what=n) for n, r in result.features.items()}
        pictured = set(view.picture_order(
            [{"name": n, "drifted": o.status is Status.FAILED, "effect": result.features[n].effect}
             for n, o in outcomes.items()])[:MAX_DISTRIBUTIONS])
        features = [row(r, outcomes[n], picture=n in pictured)
                    for n, r in result.features.items()]
        return {
            "rows": {"reference": result.reference_rows, "evaluation": result.rows},
            "correction": params.correction,
            "p_value": {"fail": params.p_value.fail, "warn": params.p_value.warn},
            "min_effect": params.min_effect,
            "features": features,
            "drifted": [f["name"] for f in features if f["drifted"]],
            "prediction": ({k: row(r, prediction_outcome(result, k))
                            for k, r in result.prediction.items()}
                           if result.prediction else None),
            "target": row(result.target, target_outcome(result)) if result.target else None,
            "mmd": row(result.mmd, mmd_outcome(result)) if result.mmd else None,
            "candidate_vs_baseline": ({k: cvb_row(k, r) for k, r in result.cvb.items()}
                                      if result.cvb else None),
            "schema": schema_outcome(result).metrics,
            "baseline": result.baseline,
            "executor": result.executor,
            "workers": result.workers,
            "seconds": result.seconds,
        }

    def panels(self, record: SuiteRecord[DriftSettings]) -> list[Panel]:
        return view.panels(record)
