"""The validation suite's work: deepchecks' checks on seeded samples, callable without pytest.

:func:`run` samples the data (:mod:`.prepare`), builds deepchecks' datasets with sensitive
columns pseudonymised, runs every planned check (:mod:`.plan`) on the evaluation sample, the
two samples, or the models, compares candidate and baseline scores, and returns a typed
:class:`~.results.ValidationResult`.

Speed
    ``threads = 1`` (default) limits BLAS/OpenMP to one thread and runs joblib sequentially
    while deepchecks works: its multivariate drift check otherwise starts a pool of worker
    processes (seconds) and its boosting models spin on a loaded machine.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from certify.jsonsafe import finite, one_line
from certify.models import Model
from certify.suite import SuiteContext
from certify.suites.validation.compare import compare_scores
from certify.suites.validation.deciding import Env, deciding
from certify.suites.validation.html import write_html
from certify.suites.validation.library import import_deepchecks, quiet
from certify.suites.validation.plan import PlannedCheck, comparison_scorers, planned_checks
from certify.suites.validation.prepare import (
    ModelForDeepchecks,
    permutation_importance,
    pseudonymise,
    stratified_sample,
)
from certify.suites.validation.results import CheckRun, ConditionResult, ValidationResult
from certify.suites.validation.settings import ValidationSettings

#: deepchecks errors that mean "this check does not apply to this data/model".
NOT_APPLICABLE = ("DeepchecksNotSupportedError", "DatasetValidationError",
                  "ModelValidationError", "NotEnoughSamplesError")

Runs = dict[tuple[str, str | None], CheckRun]


def run(ctx: SuiteContext[ValidationSettings]) -> ValidationResult:
    """deepchecks' checks of this certification, with BLAS/OpenMP and joblib held to
    ``threads``."""
    s = ctx.settings
    started = time.perf_counter()
    ctx.progress("validation: importing deepchecks")
    dct, import_s = import_deepchecks()
    import joblib
    from threadpoolctl import threadpool_limits

    with contextlib.ExitStack() as stack:
        stack.enter_context(quiet())
        if s.threads is not None:
            stack.enter_context(threadpool_limits(limits=s.threads))
        if s.threads == 1:
            # deepchecks asks joblib for every core (n_jobs=-1) in its permutation
            # importance: starting worker processes costs seconds; none are needed here.
            stack.enter_context(joblib.parallel_config(backend="sequential"))
        return _run(ctx, dct, import_s, started)


def _samples(ctx: SuiteContext[ValidationSettings], ref_rng: np.random.Generator,
             ev_rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The reference and evaluation samples (stratified by the target), with indices unique
    across both, and their description for the report."""
    s, schema = ctx.settings, ctx.data.schema
    target, task = schema.target, schema.task
    columns = [*schema.features, target]
    ref = stratified_sample(ctx.data.reference[columns], target, task, s.sample_size, ref_rng)
    ev = stratified_sample(ctx.data.evaluation[columns], target, task, s.sample_size, ev_rng)
    ref = ref.set_axis(pd.RangeIndex(len(ref)))
    ev = ev.set_axis(pd.RangeIndex(len(ref), len(ref) + len(ev)))
    sample = {"reference_rows": len(ref), "evaluation_rows": len(ev),
              "reference_total": len(ctx.data.reference),
              "evaluation_total": len(ctx.data.evaluation),
              "seed": ctx.seed, "stratified_by": target}
    return ref, ev, sample


def _importance(ctx: SuiteContext[ValidationSettings], models: Mapping[str, Model],
                planned: list[PlannedCheck], ev: pd.DataFrame,
                rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """Seeded permutation importance per model role, where deepchecks will use it."""
    s, schema = ctx.settings, ctx.data.schema
    importance: dict[str, dict[str, float]] = {}
    if s.feature_importance != "permutation" or all(p.group == "integrity" for p in planned):
        return importance
    ctx.progress("validation: permutation importance")
    y_ev = ev[schema.target].to_numpy()
    for role, m in models.items():
        if role == "baseline" and not (s.baseline_checks and any(
                p.group == "model" for p in planned)):
            continue
        try:
            fi = permutation_importance(m, ev[schema.features], y_ev, schema.task,
                                        s.importance_repeats, rng)
        except Exception as exc:  # noqa: BLE001 - the model checks say why; the data
            # integrity checks, which need no model, still run and name bad columns.
            ctx.progress(f"validation: no permutation importance for the {role}: {exc}")
            fi = None
        if fi is not None:
            importance[role] = fi
    return importance


def _run(ctx: SuiteContext[ValidationSettings], dct: Any, import_s: float,
         started: float) -> ValidationResult:
    s = ctx.settings
    schema = ctx.data.schema
    features, target, task = schema.features, schema.target, schema.task
    planned = planned_checks(ctx)
    seed = ctx.seed

    root = np.random.SeedSequence([seed & 0xFFFFFFFF, 0x76616C])
    ref_rng, ev_rng, fi_rng = (np.random.default_rng(child) for child in root.spawn(3))
    ref, ev, sample = _samples(ctx, ref_rng, ev_rng)
    raw = pd.concat([ref[features], ev[features]])

    sensitive = [c for c in ctx.sensitive_columns if c in features]
    short = [f"{name} data has {n} rows" for name, n in
             (("reference", len(ref)), ("evaluation", len(ev))) if n < s.min_rows]
    if short:
        why = f"{' and '.join(short)}; validation needs at least {s.min_rows} (min_rows)"
        return ValidationResult(why, {}, sample, sensitive, {}, None, {}, None, None,
                                round(import_s, 3), round(time.perf_counter() - started, 3))
    ref_dc, ev_dc = pseudonymise(ref, ev, sensitive, set(schema.numeric()), ctx.mask)
    categorical = schema.categorical()
    env = Env(ref_dc, ev_dc, target, seed, _reference_levels(ctx, sensitive))
    with quiet():
        ref_ds = dct.Dataset(ref_dc, label=target, cat_features=categorical)
        ev_ds = dct.Dataset(ev_dc, label=target, cat_features=categorical)

    scorers = comparison_scorers(ctx)
    models: dict[str, Model] = {"candidate": ctx.candidate}
    if ctx.baseline is not None and (s.baseline_checks or scorers):
        models["baseline"] = ctx.baseline
    adapters = {role: ModelForDeepchecks(m, raw, sensitive, features, task)
                for role, m in models.items()}
    importance = _importance(ctx, models, planned, ev, fi_rng)

    def fi_for(role: str | None) -> dict[str, Any]:
        if role is None:  # train-test checks weigh features by the candidate's importance
            return ({"feature_importance": pd.Series(importance["candidate"])}
                    if "candidate" in importance else {})
        if role in importance:
            return {"feature_importance": pd.Series(importance[role])}
        return {"feature_importance_timeout": 0}

    displays: list[Any] = []
    runs: Runs = {}
    shown = None
    for p in planned:
        if p.group != shown:
            shown = p.group
            ctx.progress(f"validation: deepchecks {p.group.replace('_', '-')} checks")
        roles: list[str | None] = [None]
        if p.group == "model":
            roles = ["candidate"]
            if "baseline" in adapters and s.baseline_checks:
                roles.append("baseline")
        for who in roles:
            runs[(p.key, who)] = run_check(p, who, ref_ds, ev_ds,
                                           adapters.get(who) if who else None, fi_for(who),
                                           seed, s.html, displays, env)

    comparison: dict[str, dict[str, Any]] = {}
    comparison_error = None
    if scorers:
        ctx.progress("validation: candidate vs baseline")
        try:
            comparison = compare_scores(scorers, ev_ds, adapters, seed, s.html, displays,
                                        s.comparison.confidence, s.comparison.resamples)
        except Exception as exc:  # noqa: BLE001 - becomes errored evidence
            comparison_error = one_line(exc)

    html, html_error = None, None
    if s.html:
        ctx.progress("validation: writing deepchecks' HTML")
        try:
            html = write_html(ctx, displays)
        except Exception as exc:  # noqa: BLE001 - the HTML is optional; its record errors
            html_error = one_line(exc)
    return ValidationResult(None, runs, sample, sensitive, comparison, comparison_error, importance,
                            html, html_error, round(import_s, 3),
                            round(time.perf_counter() - started, 3))


def _reference_levels(ctx: SuiteContext[ValidationSettings],
                      sensitive: list[str]) -> Callable[[str], set[str]]:
    """A column's categories in the whole reference data, spelled as deepchecks' frames spell
    them (sensitive columns by their pseudonyms), cached."""
    cache: dict[str, set[str]] = {}

    def levels(column: str) -> set[str]:
        if column not in cache:
            frame = ctx.data.reference[[column]].dropna().drop_duplicates()
            if column in sensitive:
                frame = ctx.mask(frame)
            cache[column] = set(frame[column].astype(str))
        return cache[column]

    return levels


def run_check(p: PlannedCheck, role: str | None, ref_ds: Any, ev_ds: Any,
              model: ModelForDeepchecks | None, fi: dict[str, Any], seed: int, display: bool,
              displays: list[Any], env: Env | None = None) -> CheckRun:
    """One deepchecks check with its conditions, for ``role`` (a model check) or the data,
    with the figures each condition was decided on (:mod:`.deciding`). Every deepchecks
    failure is kept in the returned run, never raised."""
    from deepchecks.tabular import SingleDatasetCheck, TrainTestCheck
    from deepchecks.tabular import checks as dchecks

    run = CheckRun(p.key, p.cls, p.group, role)
    start = time.perf_counter()
    try:
        cls = getattr(dchecks, p.cls, None)
        if cls is None or not isinstance(cls, type):
            raise ValueError(f"deepchecks has no tabular check {p.cls}")
        params = dict(p.params)
        if "random_state" in inspect.signature(cls).parameters:
            params.setdefault("random_state", seed % (2**32))
        check = cls(**params)
        added: list[str] = []
        for condition, arguments in p.conditions.items():
            method = getattr(check, f"add_condition_{condition}", None)
            if method is None:
                known = sorted(m.removeprefix("add_condition_") for m in dir(check)
                               if m.startswith("add_condition_"))
                run.condition_errors[condition] = (
                    f"deepchecks {p.cls} has no condition '{condition}' "
                    f"(known: {', '.join(known) or 'none'})")
                continue
            try:
                method(**{k: tuple(v) if isinstance(v, list) else v
                          for k, v in arguments.items()})
            except Exception as exc:  # noqa: BLE001 - bad arguments error that record
                run.condition_errors[condition] = f"bad arguments for {condition}: {one_line(exc)}"
                continue
            added.append(condition)
        with quiet():
            if p.group == "integrity":
                result = check.run(ev_ds, with_display=display)
            elif isinstance(check, TrainTestCheck):
                result = check.run(ref_ds, ev_ds, model=model, with_display=display, **fi)
            elif isinstance(check, SingleDatasetCheck):
                result = check.run(ev_ds, model=model, with_display=display, **fi)
            else:
                raise ValueError(f"deepchecks {p.cls} is neither a single-dataset nor a "
                                 "train-test check")
        for condition, cond in zip(added, result.conditions_results, strict=False):
            done = run.conditions[condition] = ConditionResult(
                condition, str(cond.name), str(cond.category.name),
                " ".join(str(cond.details or "").split()))
            if env is not None:
                try:
                    done.deciding = deciding(p.cls, condition, result.value,
                                             p.conditions[condition], env, check)
                except Exception as exc:  # noqa: BLE001 - the record keeps deepchecks' words
                    done.deciding_error = one_line(exc)
        for condition in added[len(result.conditions_results):]:
            run.condition_errors[condition] = "deepchecks returned no result for this condition"
        run.values = check_values(check, result)
        run.summary = summarise(result.value)
        if display:
            if role == "baseline":
                result.header = f"{result.get_header()} (baseline)"
            displays.append(result)
    except Exception as exc:  # noqa: BLE001 - every deepchecks failure becomes a record
        name = type(exc).__name__
        run.state = "not_applicable" if name in NOT_APPLICABLE else "error"
        run.error = one_line(exc)
    run.seconds = round(time.perf_counter() - start, 3)
    return run


def check_values(check: Any, result: Any) -> dict[str, float]:
    """The numbers a deepchecks check computed: its ``reduce_output()``, then the numbers of
    its value one or two levels deep."""
    values: dict[str, float] = {}
    if hasattr(check, "reduce_output"):
        try:
            reduced = result.reduce_output()
        except Exception:  # noqa: BLE001 - the values are extra information
            reduced = {}
        for key, value in list(dict(reduced).items())[:50]:
            number = _number(value)
            if number is not None:
                values[str(key)] = number

    # Numbers in the check's value (one or two levels deep), e.g. per-class AUC, per-column
    # drift scores, ratios.
    def walk(value: Any, prefix: str, depth: int) -> None:
        if len(values) >= 60 or isinstance(value, bool):
            return
        if isinstance(value, pd.Series):
            value = value.to_dict()
        if isinstance(value, dict) and depth < 2:
            for key, item in list(value.items())[:30]:
                walk(item, f"{prefix}.{key}" if prefix else str(key), depth + 1)
            return
        number = _number(value) if isinstance(value, int | float | np.number) else None
        if number is not None:
            values.setdefault(prefix or "value", number)

    walk(result.value, "", 0)
    return values


def _number(value: Any) -> float | None:
    """A number deepchecks computed, as a finite float or ``None``. deepchecks hands numpy
    scalars and sometimes numbers as text: what ``float()`` reads is read, then
    :func:`~certify.jsonsafe.finite` decides."""
    try:
        return finite(float(value))
    except (TypeError, ValueError):
        return None


def summarise(value: Any, depth: int = 0, limit: int = 20) -> Any:
    """A bounded, JSON-able summary of a deepchecks check value."""
    if depth > 4:
        return str(type(value).__name__)
    if value is None or isinstance(value, bool | str):
        return value[:300] if isinstance(value, str) else value
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return int(value) if isinstance(value, int | np.integer) else finite(number)
    if isinstance(value, pd.DataFrame):
        frame = value.head(limit)
        rows = frame.reset_index().to_dict(orient="records") if not isinstance(
            frame.index, pd.RangeIndex) else frame.to_dict(orient="records")
        out: Any = [summarise({str(k): v for k, v in r.items()}, depth + 1, limit) for r in rows]
        if len(value) > limit:
            out.append(f"... {len(value) - limit} more rows")
        return out
    if isinstance(value, pd.Series):
        return summarise(value.to_dict(), depth, limit)
    if isinstance(value, np.ndarray):
        return summarise(value.tolist(), depth, limit)
    if isinstance(value, dict):
        items = list(value.items())
        out = {str(k): summarise(v, depth + 1, limit) for k, v in items[:limit]}
        if len(items) > limit:
            out["..."] = f"{len(items) - limit} more"
        return out
    if isinstance(value, list | tuple | set | frozenset):
        seq = list(value)
        out = [summarise(v, depth + 1, limit) for v in seq[:limit]]
        if len(seq) > limit:
            out.append(f"... {len(seq) - limit} more")
        return out
    return str(value)[:300]
