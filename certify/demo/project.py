"""The embedded demo: a small credit-risk project made from scratch, offline.

``certify demo`` writes, inside one folder of the current directory: generated data
(deterministic), a baseline and a candidate model (skops files), a signing key pair, a
policy, and the certification outputs. ``--sabotage KIND`` swaps in a candidate (or
data) that must come out REJECTED for the stated reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from certify.demo.data import (
    FEATURES,
    N_EVALUATION,
    N_REFERENCE,
    SEED,
    TARGET,
    baseline_model,
    candidate_model,
    make_credit_data,
    preprocessor,
)


@dataclasses.dataclass
class DemoProject:
    """What a sabotage may change before the project is written."""

    root: Path
    reference: pd.DataFrame
    evaluation: pd.DataFrame
    baseline: Any
    candidate: Any
    policy_extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    expect: str = "CERTIFIED"


@dataclasses.dataclass(frozen=True)
class Sabotage:
    """A way to break the demo, and what must come of it: ``outcome`` REJECTED (by the check
    ``expect_reason``), or, for a certified candidate, "rolled back" or "refused" by the deploy
    step (``expect_reason`` then names the deploy's reason code)."""

    description: str
    apply: Callable[[DemoProject], None]
    expect_reason: str
    outcome: str = "REJECTED"
    #: The deploy plan's cloud region (another than eu-west-1 breaks residency).
    cloud_region: str = "eu-west-1"
    #: Change the candidate file after certification (the registered file differs).
    tamper: bool = False


def _worse(project: DemoProject) -> None:
    """A candidate trained on a tenth of the data, with half its labels scrambled."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    rng = np.random.default_rng(SEED + 1)
    ref = project.reference.sample(frac=0.1, random_state=SEED)
    y = ref[TARGET].to_numpy().copy()
    scramble = rng.random(len(y)) < 0.5
    y[scramble] = rng.integers(0, 2, scramble.sum())
    model = Pipeline([("prep", preprocessor()), ("clf", LogisticRegression(C=0.01, max_iter=500))])
    model.fit(ref[FEATURES], y)
    project.candidate = model
    project.expect = "REJECTED"


def _brittle(project: DemoProject) -> None:
    """The real candidate plus a high-frequency ripple: identical on clean rows, flips between them."""
    from sklearn.pipeline import Pipeline

    from certify.demo.models import RippleClassifier  # scikit-learn: only a sabotage needs it

    fitted = project.candidate
    scaler = fitted.named_steps["prep"].named_transformers_["num"]
    numeric = list(scaler.feature_names_in_)
    # The data's own precision: cents, 1e-4 of a ratio, tenths of a year.
    steps = {"income": 0.01, "debt_ratio": 1e-4, "employment_years": 0.1}
    idx = [numeric.index(c) for c in steps]
    ripple = RippleClassifier(base=fitted.named_steps["clf"], columns=idx,
                              means=[float(scaler.mean_[i]) for i in idx],
                              scales=[float(scaler.scale_[i]) for i in idx],
                              steps=list(steps.values()), amplitude=4.0)
    ripple.classes_ = fitted.named_steps["clf"].classes_
    project.candidate = Pipeline([("prep", fitted.named_steps["prep"]), ("clf", ripple)])
    project.expect = "REJECTED"


def _drift(project: DemoProject) -> None:
    """Production-like data that moved: a third of the loans are for a purpose never seen."""
    project.evaluation = make_credit_data(N_EVALUATION, SEED + 100,
                                          shift={"new_purpose": "crypto"})
    project.expect = "REJECTED"


#: The demo's [suites.load] section: three short profiles, one Locust process, the model
#: served by two uvicorn workers (about 25 s with Ray's start on the shared 2-core machine).
LOAD_DEMO: dict[str, Any] = {
    "profiles": ["steady", "ramp", "spike"], "duration_s": 2.0, "warmup_s": 0.5, "workers": 1,
    "users": 4, "spike_factor": 3.0, "server_workers": 2,
    "thresholds": {"p50_ms": {"fail": 250.0, "warn": 100.0}, "p95_ms": {"fail": 1000.0, "warn": 500.0},
                   "p99_ms": {"fail": 2000.0, "warn": 1000.0},
                   "error_rate": {"fail": 0.01, "warn": 0.001},
                   "throughput_rps": {"fail": 5.0, "warn": 20.0}},
}


#: The demo's [suites.edge_cases] section (5-13 s measured on the shared 2-core machine).
EDGE_CASES_DEMO: dict[str, Any] = {"max_examples": 30, "deadline_s": 5.0, "on_nan": "predict",
                                   "invariant": ["sex"]}


#: The demo's [suites.explain] section: exact tree and linear explainers, 100 rows.
EXPLAIN_DEMO: dict[str, Any] = {"sample_size": 100, "background_size": 40}


def _edge_case(kind: str) -> Callable[[DemoProject], None]:
    """A candidate broken in one edge-case way (certify/demo/models.py)."""

    def apply(project: DemoProject) -> None:
        # scikit-learn (under certify.demo.models) is heavy: only a sabotage needs it.
        from certify.demo.models import MONOTONIC_DEMO, edge_case_sabotage

        project.candidate = edge_case_sabotage(kind, project.candidate, project.reference)
        if kind == "monotonic":
            project.policy_extra["suites"] = {
                "edge_cases": {**EDGE_CASES_DEMO, "monotonic": MONOTONIC_DEMO}}
        project.expect = "REJECTED"

    return apply


def _slow(project: DemoProject) -> None:
    """The real candidate, slowed down: it certifies (its SLOs have room), but serves each request
    tens of milliseconds after the champion does, one at a time: the canary analysis rolls it
    back."""
    from certify.demo.models import load_sabotage  # scikit-learn: only a sabotage needs it

    project.candidate = load_sabotage("slow", project.candidate, delay_s=0.03)


def _leaky(project: DemoProject) -> None:
    """A candidate that memorises its training rows: an unpruned random forest."""
    from certify.demo.models import leaky_model  # scikit-learn: only a sabotage needs it

    project.candidate = leaky_model().fit(project.reference[FEATURES],
                                          project.reference[TARGET])
    project.expect = "REJECTED"


def _shortcut(project: DemoProject) -> None:
    """A candidate trained on labels biased by sex, that leans on sex."""
    from certify.demo.models import shortcut_model  # scikit-learn: only a sabotage needs it

    project.candidate = shortcut_model(project.reference)
    project.expect = "REJECTED"


def _certified_as_is(project: DemoProject) -> None:
    """Nothing wrong with the model: what breaks is the deploy (the file, or the plan)."""


#: KIND -> sabotage. Suites add theirs here.
SABOTAGES: dict[str, Sabotage] = {
    "canary": Sabotage("a certified candidate that answers each request tens of milliseconds "
                       "late, one at a time: the canary analysis rolls it back", _slow,
                       "analysis", outcome="rolled back"),
    "tampered": Sabotage("the candidate file changed after certification: the deploy refuses "
                         "to register it, before any change", _certified_as_is,
                         "artifact-mismatch", outcome="refused", tamper=True),
    "residency": Sabotage("a deploy plan that sends the model (which takes the sensitive "
                          "income column) to a cloud region where pii may not go",
                          _certified_as_is, "residency", outcome="refused",
                          cloud_region="us-east-1"),
    "worse": Sabotage("a candidate clearly worse than the baseline", _worse, "quality::roc_auc"),
    "brittle": Sabotage("a candidate as accurate as the real one on clean rows that flips under "
                        "tiny input changes", _brittle, "adversarial::regression"),
    "drift": Sabotage("evaluation data where a third of the loans have a purpose ('crypto') "
                      "the reference data never had", _drift, "drift::chi2[purpose]"),
    "nan-crash": Sabotage("a candidate that crashes (IndexError) on a missing numeric value",
                          _edge_case("nan-crash"), "edge_cases::no_crash"),
    "nondeterministic": Sabotage("a candidate whose scores carry fresh random noise on every call",
                                 _edge_case("nondeterministic"), "edge_cases::deterministic"),
    "proba-sum": Sabotage("a candidate whose class probabilities do not sum to one",
                          _edge_case("proba-sum"), "edge_cases::proba_valid"),
    "batch": Sabotage("a candidate that re-standardises features per request batch",
                      _edge_case("batch"), "edge_cases::batch_invariant"),
    "hang": Sabotage("a candidate that stalls for 30 s on impossible values (negative, or ten "
                     "times the largest seen)",
                     _edge_case("hang"), "edge_cases::deadline"),
    "leaky": Sabotage("a candidate that memorises its training rows (an unpruned random forest): "
                      "as accurate on new rows, but a membership attack tells the rows it was "
                      "trained on apart", _leaky, "privacy::membership_advantage"),
    "shortcut": Sabotage("a candidate trained on historical labels biased by sex, that leans on "
                         "sex (the demo also declares the output invariant to sex)", _shortcut,
                         "explain::protected_use[sex]"),
    "monotonic": Sabotage("a candidate whose risk drops at 3+ late payments, against a declared "
                          "monotonic constraint", _edge_case("monotonic"),
                          "edge_cases::monotonic[late_payments]"),
}


def _save(model: Any, path: Path) -> list[str]:
    import skops.io as sio

    data = sio.dumps(model)
    path.write_bytes(data)
    return sorted(sio.get_untrusted_types(data=data))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def render_policy(sections: dict[str, Any]) -> str:
    """Write a nested dict as TOML (enough for our own policies)."""
    top = [f"{k} = {_toml_value(v)}" for k, v in sections.items() if not isinstance(v, dict)]
    out = ["# Written by `certify demo`. Every key is documented in the README.", *top, ""]

    def table(prefix: str, value: dict[str, Any]) -> None:
        scalars = {k: v for k, v in value.items() if not isinstance(v, dict) or not v
                   or not all(isinstance(x, dict) for x in v.values())}
        nested = {k: v for k, v in value.items() if k not in scalars}
        out.append(f"[{prefix}]")
        out.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
        out.append("")
        for k, v in nested.items():
            table(f"{prefix}.{k}", v)

    for key, value in sections.items():
        if isinstance(value, dict):
            table(key, value)
    return "\n".join(out)


def demo_key_pair(root: Path) -> str:
    """The demo's own signing key pair under ``keys/`` (made once, then reused).

    Returns the private key's path relative to ``root``, for the policy's signing.key.
    """
    from certify.attest.keys import key_pair_paths, write_key_pair

    prefix = root / "keys" / "certify"
    private, public = key_pair_paths(prefix)
    if not (private.is_file() and public.is_file()):
        write_key_pair(prefix, force=True)
    return private.relative_to(root).as_posix()


#: Every suite the demo's policy enables.
DEMO_SUITES = ("quality", "adversarial", "drift", "edge_cases", "validation", "load", "explain",
               "privacy")


def build_project(root: Path, sabotage: str | None = None, *, suites: dict[str, Any] | None = None,
                  fast: bool = False, only: list[str] | None = None) -> tuple[Path, DemoProject]:
    """Write the demo project into ``root``; returns the policy path. ``only``: keep just
    these suites in the policy (every suite by default)."""
    unknown = sorted(set(only or ()) - set(DEMO_SUITES))
    if unknown:
        from certify.errors import ConfigError

        raise ConfigError(f"--only: the demo has no suite '{unknown[0]}' "
                          f"(it has: {', '.join(DEMO_SUITES)})")
    root.mkdir(parents=True, exist_ok=True)
    reference = make_credit_data(N_REFERENCE, SEED)
    evaluation = make_credit_data(N_EVALUATION, SEED + 100)
    baseline, candidate = baseline_model(), candidate_model()
    from threadpoolctl import threadpool_limits

    # One OpenMP thread: on a small shared machine the default oversubscribes the cores
    # (a boosted-trees fit took 8 s instead of 0.2 s); the fitted models are identical.
    with threadpool_limits(1):
        baseline.fit(reference[FEATURES], reference[TARGET])
        candidate.fit(reference[FEATURES], reference[TARGET])
        project = DemoProject(root, reference, evaluation, baseline, candidate)
        if sabotage is not None:
            SABOTAGES[sabotage].apply(project)
    tag = f"-{sabotage}" if sabotage else ""
    data_dir, model_dir = root / "data", root / "models"
    data_dir.mkdir(exist_ok=True)
    model_dir.mkdir(exist_ok=True)
    project.reference.to_csv(data_dir / "reference.csv", index=False)
    project.evaluation.to_csv(data_dir / f"evaluation{tag}.csv", index=False)
    base_trusted = _save(project.baseline, model_dir / "baseline.skops")
    cand_trusted = _save(project.candidate, model_dir / f"candidate{tag}.skops")
    signing_key = demo_key_pair(root)
    policy: dict[str, Any] = {
        "task": "classification",
        "seed": 20240611,
        "output_dir": "certify-out",
        "sensitive_columns": ["income"],
        "protected_attributes": ["sex"],
        "candidate": {"path": f"models/candidate{tag}.skops", "name": f"credit-gbm{tag or ''}",
                      "trusted_types": cand_trusted},
        "baseline": {"path": "models/baseline.skops", "name": "credit-logreg",
                     "trusted_types": base_trusted},
        "data": {"reference": "data/reference.csv", "evaluation": f"data/evaluation{tag}.csv",
                 "target": TARGET},
        "signing": {"key": signing_key, "valid_for_days": 7},
        "suites": {
            "quality": {"slices": ["home_ownership"], "margin": 0.01,
                        "thresholds": {"accuracy": {"fail": 0.6, "warn": 0.65}}},
            "adversarial": {"epsilon": 0.1, "norm": "inf", "immutable": ["age"],
                            "sample_size": 100, "bb_iterations": 3, "executor": "auto",
                            "max_seconds": 120},
            "drift": {"correction": "bonferroni", "reference_sample": 5000},
            "edge_cases": dict(EDGE_CASES_DEMO),
            "validation": {"sample_size": 1000},
            "load": dict(LOAD_DEMO),
            "explain": dict(EXPLAIN_DEMO),
            "privacy": {"membership": {"advantage_fail": 0.15}},
            **(suites or {}),
        },
    }
    for key, value in project.policy_extra.items():
        if isinstance(value, dict) and isinstance(policy.get(key), dict):
            policy[key].update(value)
        else:
            policy[key] = value
    if only:
        policy["suites"] = {k: v for k, v in policy["suites"].items() if k in only}
    path = root / f"certify{tag}.toml"
    path.write_text(render_policy(policy))
    return path, project
