"""Planning: the threat model from the policy and the data, the seeded sample, and what each model
supports (which attack, white- or black-box, fast path or not). Cheap next to the attack; done
once per context, before the checks are planned."""

from __future__ import annotations

import dataclasses

import numpy as np

from certify.data import Schema
from certify.errors import ConfigError
from certify.models import Model
from certify.suite import SuiteContext
from certify.suites.adversarial.affine import affine_view
from certify.suites.adversarial.settings import BLACK_BOX, WHITE_BOX, AdversarialSettings
from certify.suites.adversarial.space import (
    AffineView,
    AttackSpace,
    Block,
    attack_space,
    standardised,
)

WHERE = "suites.adversarial"


@dataclasses.dataclass
class ModelPlan:
    role: str
    attack: str
    kind: str  # white-box | black-box
    reason: str
    view: AffineView | None
    fast: bool


@dataclasses.dataclass
class Prepared:
    space: AttackSpace
    positions: np.ndarray  # evaluation-frame positions of the sampled rows
    block: Block
    y: np.ndarray
    donors: np.ndarray
    plans: dict[str, ModelPlan]
    notes: list[str]


def attack_kind(attack: str) -> str:
    return "white-box" if attack in WHITE_BOX else "black-box"


def prepare(ctx: SuiteContext[AdversarialSettings]) -> Prepared:
    """The threat model, the sample and the models' plans (configuration errors raise here)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # small batches: OpenMP threads only contend
        return _prepare(ctx)


def _prepare(ctx: SuiteContext[AdversarialSettings]) -> Prepared:
    s, schema = ctx.settings, ctx.data.schema
    wanted = _wanted(s, schema)
    ref = ctx.data.reference
    columns, mean, std, notes = standardised(wanted, ref)
    if not columns:
        raise ConfigError(f"{WHERE}: no column can be perturbed (numeric features minus "
                          f"immutable: {', '.join(wanted) or 'none'})")
    ev = ctx.data.evaluation
    rng = np.random.default_rng(ctx.seed)
    n = min(s.sample_size, len(ev))
    positions = np.sort(rng.choice(len(ev), size=n, replace=False))
    space, block, ref_z = attack_space(schema, columns, mean, std, s.norm, ref, ev, positions)
    finite = np.all(np.isfinite(ref_z), axis=1)
    pool = ref_z[finite]
    donors = pool[np.sort(rng.choice(len(pool), size=min(512, len(pool)), replace=False))] \
        if len(pool) else np.zeros((0, space.d))
    y = ev.iloc[positions][schema.target].to_numpy()
    return Prepared(space, positions, block, y, donors, _plans(ctx, space, block), notes)


def _wanted(s: AdversarialSettings, schema: Schema) -> list[str]:
    """The columns the policy lets the attacker change (checked against the schema)."""
    if schema.task != "classification":
        raise ConfigError(f"{WHERE}: the data's task is {schema.task}; the adversarial suite "
                          "certifies classifiers only (remove [suites.adversarial])")
    if s.attack == "boundary" and s.norm == "inf" or s.baseline_attack == "boundary" and s.norm == "inf":
        raise ConfigError(f"{WHERE}.attack: the boundary attack is L2 only; set norm = \"2\"")
    for key, names in (("immutable", s.immutable), ("features", s.features or [])):
        for col in names:
            if col not in schema.features:
                raise ConfigError(f"{WHERE}.{key}: '{col}' is not a feature column")
    numeric = schema.numeric()
    if s.features is not None:
        bad = [c for c in s.features if c not in numeric]
        if bad:
            raise ConfigError(f"{WHERE}.features: '{bad[0]}' is {schema.column(bad[0]).kind}; "
                              "only numeric columns can be perturbed")
    return [c for c in (s.features if s.features is not None else numeric)
            if c not in set(s.immutable)]


def _plans(ctx: SuiteContext[AdversarialSettings], space: AttackSpace,
           block: Block) -> dict[str, ModelPlan]:
    s = ctx.settings
    numeric_only = all(c.kind == "numeric" for c in ctx.data.schema.columns)

    def view_of(model: Model) -> tuple[AffineView | None, str]:
        features = list(model.features) if model.features else ctx.data.schema.features
        return affine_view(model, space, block, features, numeric_only)

    plans: dict[str, ModelPlan] = {}
    cand_view, cand_why = view_of(ctx.candidate)
    attack, reason = _choose(s.attack, cand_view, cand_why, "candidate", "attack")
    plans["candidate"] = ModelPlan("candidate", attack, attack_kind(attack), reason, cand_view,
                                   s.fast_path and cand_view is not None)
    if ctx.baseline is not None:
        view, why = view_of(ctx.baseline)
        if s.baseline_attack == "same":
            if attack in BLACK_BOX or (view is not None and view.gradient):
                b_attack, b_reason = attack, "same attack as the candidate"
            else:
                b_attack, b_reason = _choose("auto", view, why, "baseline", "baseline_attack")
                b_reason = f"candidate's {attack} impossible here: {b_reason}"
        else:
            b_attack, b_reason = _choose(s.baseline_attack, view, why, "baseline", "baseline_attack")
        plans["baseline"] = ModelPlan("baseline", b_attack, attack_kind(b_attack), b_reason, view,
                                      s.fast_path and view is not None)
    return plans


def _choose(requested: str, view: AffineView | None, why: str, role: str,
            key: str) -> tuple[str, str]:
    gradient = view is not None and view.gradient
    if requested == "auto":
        if gradient:
            return "pgd", f"gradients available ({why})"
        return "hopskipjump", f"no gradients ({why})"
    if requested in WHITE_BOX and not gradient:
        raise ConfigError(f"{WHERE}.{key}: {requested} needs model gradients, but the "
                          f"{role} has none ({why}); use hopskipjump, boundary or auto")
    return requested, "named in the policy"
