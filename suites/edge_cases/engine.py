"""The edge_cases work, callable without pytest: plan the checks, then run each invariant as
hypothesis properties against the candidate (:func:`run`, a typed :class:`EdgeCasesResult`)."""

from __future__ import annotations

import warnings

from certify.errors import ConfigError
from certify.evidence import check_id
from certify.models import Model
from certify.suite import SuiteContext
from certify.suites.edge_cases.caller import Caller
from certify.suites.edge_cases.generator import InputGenerator
from certify.suites.edge_cases.invariants import INVARIANTS
from certify.suites.edge_cases.probe import Probe
from certify.suites.edge_cases.results import EdgeCasesResult, PropertyResult
from certify.suites.edge_cases.runner import Runner
from certify.suites.edge_cases.settings import EdgeCasesSettings

SUITE = "edge_cases"


def validate(ctx: SuiteContext[EdgeCasesSettings]) -> None:
    """The settings against the data and the candidate: a :class:`ConfigError` naming the key."""
    s = ctx.settings
    schema = ctx.data.schema
    scored = ctx.candidate.predict_proba is not None or schema.task == "regression"
    for feature in s.monotonic:
        if feature not in schema.features or schema.column(feature).kind != "numeric":
            raise ConfigError(f"suites.edge_cases.monotonic: '{feature}' is not a numeric "
                              "feature column")
        if not scored:
            raise ConfigError("suites.edge_cases.monotonic: the candidate has no "
                              "probabilities to score monotonicity on")
    for feature in s.invariant:
        if feature not in schema.features:
            raise ConfigError(f"suites.edge_cases.invariant: '{feature}' is not a feature column")
    if s.noise is not None:
        for feature in s.noise.columns or []:
            if feature not in schema.features or schema.column(feature).kind != "numeric":
                raise ConfigError(f"suites.edge_cases.noise.columns: '{feature}' is not a "
                                  "numeric feature column")
    classes = ctx.candidate.classes or []
    if s.positive_label is not None and classes and s.positive_label not in classes:
        raise ConfigError(f"suites.edge_cases.positive_label: {s.positive_label!r} is not a "
                          f"class of the candidate ({classes})")
    unknown = [c for c in s.checks or [] if c not in INVARIANTS]
    if unknown:
        raise ConfigError(f"suites.edge_cases.checks: unknown check '{unknown[0]}' "
                          f"(known: {', '.join(sorted(INVARIANTS))})")
    bad = [k for k in s.reject_exceptions if not k.replace(".", "").replace("_", "").isalnum()]
    if bad:
        raise ConfigError(f"suites.edge_cases.reject_exceptions: {bad[0]!r} is not a class name")


def planned(settings: EdgeCasesSettings, model: Model) -> list[tuple[str, str | None]]:
    """The checks (name, parameter) these settings ask of this model, in order."""
    names = [(name, param) for name, invariant in INVARIANTS.items()
             for param in invariant.params(settings, model)]
    if settings.checks is not None:
        names = [(n, p) for n, p in names if n in settings.checks]
    return names


def describe(settings: EdgeCasesSettings, name: str, param: str | None) -> str:
    """The invariant of one check, in one line."""
    return INVARIANTS[name].describe(settings, param)


def run(ctx: SuiteContext[EdgeCasesSettings]) -> EdgeCasesResult:
    """Run every planned check against the candidate, one after the other."""
    s = ctx.settings
    gen = InputGenerator(ctx.data, s, ctx.sensitive_columns)
    caller = Caller(ctx.candidate, s, list(ctx.data.schema.features))
    acceptance: dict[str, dict[str, int]] = {}
    probe = Probe(s, ctx.candidate, gen, caller, acceptance)
    runner = Runner(s, caller, ctx.seed, ctx.output_root / "hypothesis-db", gen.features)
    props: dict[str, PropertyResult] = {}
    from hypothesis.configuration import set_hypothesis_home_dir

    # Hypothesis keeps caches under its home (default ./.hypothesis in the working
    # directory): ours live in the output folder, so a run writes nowhere else.
    set_hypothesis_home_dir(ctx.output_root / "hypothesis-home")
    try:
        with warnings.catch_warnings():
            # Edge inputs make honest models warn (overflow, unknown categories): noise here.
            warnings.simplefilter("ignore")
            for name, param in planned(s, ctx.candidate):
                cid = check_id(SUITE, name, param)
                ctx.progress(f"edge_cases: {cid}")
                prop = INVARIANTS[name].build(probe, param)
                props[cid] = runner.run(cid, describe(s, name, param), prop)
    finally:
        set_hypothesis_home_dir(None)
        caller.close()
    timeouts = [caller.hung] if caller.hung is not None else []
    return EdgeCasesResult(props, timeouts, caller.seconds, acceptance, gen.features,
                           death=caller.death)
