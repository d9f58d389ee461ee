"""The privacy suite's work, callable without pytest: :func:`run` returns a :class:`PrivacyResult`.

Three independent parts (one failing does not take the others down; its check errors):

* membership inference on the candidate (and on the baseline when its training data is
  declared), :mod:`certify.suites.privacy.membership`;
* the index of identifying sensitive values that ``privacy::no_raw_sensitive_values`` searches
  the run's outputs for when it is judged, :mod:`certify.suites.privacy.scan`;
* undeclared personal data in the data files, :mod:`certify.suites.privacy.pii`.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from certify.data import file_digest, load_table, validate_frame
from certify.errors import ConfigError
from certify.jsonsafe import one_line
from certify.suite import SuiteContext
from certify.suites.privacy.membership import (
    MembershipResult,
    attack_model,
    difference,
    use_ray,
)
from certify.suites.privacy.pii import PiiResult, find_pii
from certify.suites.privacy.scan import SensitiveIndex
from certify.suites.privacy.settings import PrivacySettings

TRAINING_KEY = "suites.privacy.membership.training_data"
BASELINE_KEY = "suites.privacy.membership.baseline_training_data"


@dataclass
class TrainingData:
    """Rows a model was trained on: declared in the policy, or the reference data (assumed)."""

    frame: pd.DataFrame
    source: str
    assumed: bool
    digest: str


@dataclass
class PrivacyResult:
    index: SensitiveIndex
    membership: MembershipResult | None = None
    membership_error: str | None = None
    pii: PiiResult | None = None
    pii_error: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def check_files(ctx: SuiteContext[PrivacySettings]) -> None:
    """The declared training data files exist (planning: a typo is a configuration error)."""
    m = ctx.settings.membership
    for key, rel in ((TRAINING_KEY, m.training_data), (BASELINE_KEY, m.baseline_training_data)):
        if rel is not None and not ctx.policy.resolve(rel).is_file():
            raise ConfigError(f"{key}: file not found: {ctx.policy.resolve(rel)}")


def _load(ctx: SuiteContext[PrivacySettings], key: str, rel: str) -> TrainingData:
    path = ctx.policy.resolve(rel)
    frame = load_table(path, key)
    validate_frame(frame, ctx.data.schema, f"{key} ({path})")
    return TrainingData(frame, rel, False, file_digest(path))


def training_data(ctx: SuiteContext[PrivacySettings]) -> tuple[TrainingData, TrainingData | None]:
    """The candidate's training rows (declared, else the reference data) and the baseline's
    (only when declared)."""
    m = ctx.settings.membership
    if m.training_data is not None:
        cand = _load(ctx, TRAINING_KEY, m.training_data)
    else:
        cand = TrainingData(ctx.data.reference, "data.reference", True,
                            ctx.data.reference_digest)
    base = (_load(ctx, BASELINE_KEY, m.baseline_training_data)
            if m.baseline_training_data is not None and ctx.baseline is not None else None)
    return cand, base


def sensitive_index(ctx: SuiteContext[PrivacySettings],
                    extra: list[pd.DataFrame] | None = None) -> SensitiveIndex:
    """The identifying values of the policy's sensitive columns in every data file of the run."""
    s = ctx.settings.scan
    frames = [ctx.data.reference, ctx.data.evaluation, *(extra or [])]
    return SensitiveIndex.build(frames, ctx.sensitive_columns, rare_rows=s.rare_rows,
                                high_cardinality=s.high_cardinality,
                                min_text_length=s.min_text_length)


def membership(ctx: SuiteContext[PrivacySettings], cand: TrainingData,
               base: TrainingData | None) -> MembershipResult:
    """The attacks on the candidate, and on the baseline when its training data is declared."""
    m = ctx.settings.membership
    schema = ctx.data.schema
    regression = schema.task == "regression"
    executor = "ray" if use_ray(m.executor) else "inprocess"
    common: dict[str, Any] = {"features": schema.features, "target": schema.target,
                              "regression": regression, "settings": m, "seed": ctx.seed,
                              "executor": executor}
    ctx.progress("privacy: membership inference on the candidate")
    result = MembershipResult(
        candidate=attack_model(ctx.candidate, "candidate", cand.frame, ctx.data.evaluation,
                               source=cand.source, assumed=cand.assumed, **common),
        baseline=None, executor=executor, low_fpr=m.low_fpr)
    if ctx.baseline is None:
        result.baseline_note = "no baseline model"
    elif base is None:
        result.baseline_note = ("the baseline's training data is not declared "
                                "(baseline_training_data): no comparison")
    else:
        ctx.progress("privacy: membership inference on the baseline")
        result.baseline = attack_model(ctx.baseline, "baseline", base.frame, ctx.data.evaluation,
                                       source=base.source, assumed=False, **common)
        result.diff, result.diff_ci = difference(result.candidate, result.baseline, m.confidence)
    return result


def _data_parts(ctx: SuiteContext[PrivacySettings], extra: list[pd.DataFrame]
                ) -> tuple[SensitiveIndex, PiiResult | None, str | None, dict[str, float]]:
    """The index of identifying values and the personal-data recognisers (no model calls)."""
    s, seconds = ctx.settings, {}
    t0 = time.perf_counter()
    index = sensitive_index(ctx, extra)
    seconds["index"] = time.perf_counter() - t0
    pii, error = None, None
    if s.pii.enabled:
        t0 = time.perf_counter()
        p = s.pii
        try:
            pii = find_pii([ctx.data.reference, ctx.data.evaluation, *extra],
                           declared=ctx.sensitive_columns, ignore=p.ignore, kinds=p.kinds,
                           min_share=p.min_share, sample=p.sample, regions=p.phone_regions,
                           seed=ctx.seed)
        except Exception as exc:  # noqa: BLE001 - one part failing errors its check only
            error = one_line(exc)
        seconds["pii"] = time.perf_counter() - t0
    return index, pii, error, seconds


def run(ctx: SuiteContext[PrivacySettings]) -> PrivacyResult:
    """The three parts; the data parts (pure Python) run in a thread beside the attacks, whose
    model calls and attack training mostly leave the interpreter free. Nothing they compute
    depends on the other, so the results are the same as one after the other."""
    cand, base = training_data(ctx)
    extra = [t.frame for t in (cand, base) if t is not None and not t.assumed]
    membership_result, membership_error, seconds = None, None, {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="privacy-data") as pool:
        data_parts = pool.submit(_data_parts, ctx, extra)
        if ctx.settings.membership.enabled:
            t0 = time.perf_counter()
            try:
                membership_result = membership(ctx, cand, base)
            except Exception as exc:  # noqa: BLE001 - one part failing errors its check only
                membership_error = one_line(exc)
            seconds["membership"] = time.perf_counter() - t0
        index, pii, pii_error, data_seconds = data_parts.result()
    seconds.update(data_seconds)
    return PrivacyResult(index=index, membership=membership_result,
                         membership_error=membership_error, pii=pii, pii_error=pii_error,
                         seconds={k: round(v, 4) for k, v in seconds.items()})
