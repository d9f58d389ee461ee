"""The drift suite's checks: one small function per check, of the engine's
:class:`~certify.suites.drift.result.DriftReport`, each returning one evidence record's
:class:`~certify.evidence.Outcome`; and the plan of which checks there are (shared by the
suite and ``certify drift``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from certify.evidence import Comparison, Direction, Outcome, Status, Threshold, compare, worst
from certify.jsonsafe import scalar
from certify.models import Model
from certify.suites.drift.baseline import DetectorParams, DriftBaseline
from certify.suites.drift.result import DriftReport, DriftStat
from certify.suites.drift.settings import DriftSettings


def _fmt_p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.3g}"


def judge(r: DriftStat, params: DetectorParams, *, what: str, null_check: bool = True
          ) -> Outcome:
    """Judge one test: corrected p-value (and effect floor) plus the missing-value rate."""
    metrics: dict[str, Any] = {
        "test": r.test, "statistic": scalar(r.statistic), "p_value": scalar(r.p_value),
        "p_adjusted": scalar(r.p_adjusted), "effect": scalar(r.effect), "rows": r.rows,
        "tested": r.tested, "reference_rows": r.ref_rows, "null_rate": scalar(r.null_rate),
        "reference_null_rate": scalar(r.ref_null_rate), "correction": params.correction,
    }
    if r.new_categories:
        metrics["new_categories"] = [k for k, _ in r.new_categories]
    details = r.to_dict()
    if r.problem:
        return Outcome(status=Status.FAILED, reason=f"{what}: {r.problem}", metrics=metrics,
                       details=details)
    comparisons: list[Comparison] = []
    if null_check:
        increase = max(0.0, r.null_rate - r.ref_null_rate)
        comparisons.append(compare("null_rate_increase", increase, params.null_rate_increase,
                                   Direction.MAX))
    if r.tested == 0 and r.rows > 0 and null_check:
        reason = (f"{what}: all {r.rows} values are missing (reference: "
                  f"{r.ref_null_rate:.1%} missing)")
        return Outcome(status=Status.FAILED, reason=reason, metrics=metrics,
                       comparisons=comparisons, details=details)
    if r.error:
        return Outcome(status=Status.ERRORED, reason=f"{what}: cannot test: {r.error}",
                       metrics=metrics, comparisons=comparisons, details=details)
    p_cmp = compare("p_adjusted", r.p_adjusted, params.p_value, Direction.MIN)
    note = ""
    if (p_cmp.status in (Status.FAILED, Status.WARNED) and r.effect is not None
            and r.effect < params.min_effect):
        note = (f" (significant but effect {r.effect:.3g} < min_effect {params.min_effect:g}: "
                "not counted)")
        p_cmp = p_cmp.model_copy(update={"status": Status.PASSED})
    comparisons.insert(0, p_cmp)
    effect = "" if r.effect is None or r.test == "ks" else f", effect {r.effect:.3g}"
    stat = "" if r.statistic is None else f"={r.statistic:.4g}"
    subject = f"{what}: {r.test}{stat}, p={_fmt_p(r.p_value)}{effect}"
    if r.new_categories:
        shown = ", ".join(f"'{k}' ({share:.1%})" for k, share in r.new_categories[:3])
        total = max(r.new_category_total, len(r.new_categories))
        more = f" and {total - 3} more" if total > 3 else ""
        subject += f"; new categor{'y' if total == 1 else 'ies'} {shown}{more}"
    return Outcome.from_comparisons(comparisons, subject=subject + note, metrics=metrics,
                                    details=details)


def features_outcome(report: DriftReport) -> Outcome:
    params = report.params
    if not report.features:
        return Outcome(status=Status.SKIPPED, reason="no feature column is monitored")
    outcomes = {n: judge(r, params, what=n) for n, r in report.features.items()}
    status = worst([o.status for o in outcomes.values()])
    failed = [n for n, o in outcomes.items() if o.status is Status.FAILED]
    warned = [n for n, o in outcomes.items() if o.status is Status.WARNED]
    errored = [n for n, o in outcomes.items() if o.status is Status.ERRORED]
    p_adj = [r.p_adjusted for r in report.features.values() if r.p_adjusted is not None]
    metrics: dict[str, Any] = {
        "features": len(outcomes), "drifted": failed, "warned": warned, "errored": errored,
        "min_p_adjusted": min(p_adj) if p_adj else None, "correction": params.correction,
        "rows": report.rows, "reference_rows": report.reference_rows}

    def describe(name: str) -> str:
        r = report.features[name]
        if r.problem:
            return f"{name} ({r.problem})"
        if r.tested == 0:
            return f"{name} (all values missing)"
        extra = f", new {', '.join(repr(k) for k, _ in r.new_categories[:2])}" \
            if r.new_categories else ""
        return f"{name} ({r.test} p_adj={_fmt_p(r.p_adjusted)}{extra})"

    if failed:
        reason = f"{len(failed)} of {len(outcomes)} features drifted: " + \
                 "; ".join(describe(n) for n in failed)
    elif errored:
        reason = f"{len(errored)} of {len(outcomes)} features could not be tested: " + \
                 "; ".join(f"{n} ({outcomes[n].reason})" for n in errored)
    elif warned:
        reason = f"no drift at {params.p_value.fail:g}; {len(warned)} of {len(outcomes)} " \
                 "features warn: " + ", ".join(warned)
    else:
        reason = f"no drift in {len(outcomes)} features ({params.correction}-corrected " \
                 f"p >= {params.p_value.fail:g} on each, min p_adj " \
                 f"{_fmt_p(metrics['min_p_adjusted'])}); this check takes the worst status " \
                 "of the per-feature checks"
    artifacts = [report.manifest_artifact] if report.manifest_artifact else []
    return Outcome(status=status, reason=reason, metrics=metrics, artifacts=artifacts,
                   details={"features": {n: o.status.value for n, o in outcomes.items()},
                            "baseline": report.baseline})


def schema_outcome(report: DriftReport) -> Outcome:
    """Missing columns and values a test cannot read fail; a changed kind (numeric vs
    categorical, compared declared with declared) and extra columns warn; a dtype change
    within the same kind is only noted."""
    s = report.schema
    metrics = {"missing": s.missing, "extra": s.extra,
               "dtype_changes": [c.to_dict() for c in s.dtype_changes]}
    broken = [c.change for c in s.dtype_changes if not c.testable]
    changed = [c.change for c in s.dtype_changes if c.testable and c.kind_changed]
    noted = [c.change for c in s.dtype_changes if c.testable and not c.kind_changed]
    missing = ["missing feature column(s): " + ", ".join(s.missing)] if s.missing else []
    extra = ["columns not in the baseline (ignored): " + ", ".join(s.extra)] if s.extra else []
    notes = ["dtype changed: " + "; ".join(noted)] if noted else []
    if missing or broken:
        parts = [*missing, *(["values a test cannot read: " + "; ".join(broken)] if broken
                             else []),
                 *(["kind changed: " + "; ".join(changed)] if changed else []), *extra, *notes]
        return Outcome(status=Status.FAILED, reason="; ".join(parts), metrics=metrics)
    if extra or changed:
        parts = [*(["kind changed: " + "; ".join(changed)] if changed else []), *extra, *notes]
        return Outcome(status=Status.WARNED, reason="; ".join(parts), metrics=metrics)
    reason = "the data has the baseline's feature columns and kinds"
    return Outcome(status=Status.PASSED, reason="; ".join([reason, *notes]), metrics=metrics)


def prediction_outcome(report: DriftReport, which: str) -> Outcome:
    if report.prediction is None or which not in report.prediction:
        reason = report.prediction_skipped or f"no {which} to compare"
        return Outcome(status=Status.SKIPPED, reason=f"prediction {which}: {reason}")
    r = report.prediction[which]
    what = "candidate " + ("scores" if which == "scores" else "predicted labels")
    if which == "scores" and r.name.startswith("scores:"):
        label = r.name.split(":", 1)[1]
        what += f" (P({report.target_name}={label}))" if label != "prediction" else ""
    params = report.params
    floor = max(params.min_effect, params.prediction_min_effect)
    return judge(r, params.model_copy(update={"min_effect": floor}), what=what, null_check=False)


def target_outcome(report: DriftReport) -> Outcome:
    if report.target is None:
        return Outcome(status=Status.SKIPPED, reason=report.target_skipped or "no target test")
    return judge(report.target, report.params, what=f"target {report.target.name}",
                 null_check=False)


def mmd_outcome(report: DriftReport) -> Outcome:
    if report.mmd is None:
        return Outcome(status=Status.SKIPPED, reason="no MMD detector in the baseline")
    return judge(report.mmd, report.params, what="whole table (MMD)", null_check=False)


def cvb_outcome(report: DriftReport, which: str, threshold: Threshold) -> Outcome:
    if report.cvb is None or which not in report.cvb:
        return Outcome(status=Status.SKIPPED, reason=f"no {which} of both models to compare")
    r = report.cvb[which]
    metric = "ks_distance" if which == "scores" else "label_distance"
    cmp = compare(metric, r.effect, threshold, Direction.MAX)
    metrics = {metric: scalar(r.effect), "p_value": scalar(r.p_value),
               "statistic": scalar(r.statistic), "rows": r.rows, **r.details}
    subject = ("candidate vs baseline score distributions on the same rows"
               if which == "scores" else
               "candidate vs baseline predicted-label shares on the same rows"
               + (f" (agreement {r.details['agreement']:.1%})" if "agreement" in r.details else ""))
    return Outcome.from_comparisons([cmp], subject=subject, metrics=metrics, details=r.to_dict())


# -- planning -------------------------------------------------------------------------------

def prediction_plan(settings: DriftSettings, task: str, candidate: Model) -> list[str]:
    """The candidate's prediction checks (``scores``, ``labels``) a certification has."""
    if not settings.prediction:
        return []
    if task == "regression":
        return ["scores"]
    return (["scores"] if candidate.predict_proba is not None else []) + ["labels"]


def cvb_plan(settings: DriftSettings, task: str, candidate: Model, baseline: Model | None
             ) -> list[str]:
    """The candidate-vs-baseline checks (``scores``, ``labels``) a certification has."""
    if baseline is None or not settings.candidate_vs_baseline:
        return []
    if task == "regression":
        return ["scores"]
    both = candidate.predict_proba is not None and baseline.predict_proba is not None
    return (["scores"] if both else []) + ["labels"]


@dataclass(frozen=True)
class Planned:
    name: str
    param: str | None
    fn: Callable[[DriftReport], Outcome]
    description: str


def plan(features: list[tuple[str, str]], *, prediction: list[str], target: str | None,
         mmd: bool, cvb: list[str], settings: DriftSettings | None = None) -> list[Planned]:
    """The checks, in order: shared by the suite and ``certify drift``."""
    out = [Planned("schema", None, schema_outcome, "the data's columns and types vs the baseline")]
    for name, test in features:
        def fn(report: DriftReport, name: str = name) -> Outcome:
            return judge(report.features[name], report.params, what=name)

        label = "Kolmogorov-Smirnov" if test == "ks" else "chi-squared"
        out.append(Planned(test, name, fn, f"{label} drift test of {name} vs the reference"))
    out.append(Planned("features", None, features_outcome,
                       "all feature tests, corrected for multiple testing"))
    for which in prediction:
        def pfn(report: DriftReport, which: str = which) -> Outcome:
            return prediction_outcome(report, which)

        out.append(Planned("prediction", which, pfn,
                           f"candidate's {which} on the data vs on the reference rows"))
    if target is not None:
        out.append(Planned("target", target, target_outcome,
                           f"distribution of the target {target} vs the reference"))
    if mmd:
        out.append(Planned("mmd", None, mmd_outcome, "MMD permutation test on the whole table"))
    s = settings or DriftSettings()
    for which in cvb:
        threshold = s.score_distance if which == "scores" else s.label_distance

        def cfn(report: DriftReport, which: str = which, threshold: Threshold = threshold
                ) -> Outcome:
            return cvb_outcome(report, which, threshold)

        out.append(Planned("candidate_vs_baseline", which, cfn,
                           f"candidate vs baseline {which} on the same evaluation rows"))
    return out


def plan_from_baseline(baseline: DriftBaseline) -> list[Planned]:
    m = baseline.manifest
    prediction = []
    if m.prediction is not None:
        if m.prediction.files:
            prediction.append("scores")
        if m.prediction.label_counts is not None:
            prediction.append("labels")
    return plan([(f.name, f.test) for f in m.features], prediction=prediction,
                target=m.target.name if m.target else None, mmd=m.mmd is not None, cvb=[])
