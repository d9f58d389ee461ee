"""Data residency: a model goes only where every class of its input data may be processed.

The policy's ``sensitive_columns`` that the model takes as inputs make class ``pii``; the plan
may declare more classes (``[data_classes.<name>] columns``) and says, per class, where it may
be processed (``locations``: ``on_prem`` and/or cloud regions) and, per target, which classes
it may receive (``data_classes``). A plan that would send a class anywhere it may not go is
refused before anything changes, naming the target, the class and the columns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from certify.deploy.errors import Reason, Refused

if TYPE_CHECKING:
    from certify.deploy.plan import DeployPlan
    from certify.policy import Policy

PII = "pii"


def model_inputs(policy: Policy) -> list[str] | None:
    """The model's input columns: the policy's ``data.features``, else the evaluation data's
    columns but the target (its header only); None when neither can be read."""
    if policy.data.features is not None:
        return list(policy.data.features)
    path = policy.resolve(policy.data.evaluation)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            columns = list(pq.read_schema(path).names)
        else:
            columns = list(pd.read_csv(path, nrows=0).columns)
    except (OSError, ValueError, ImportError):
        return None
    return [c for c in columns if c != policy.data.target]


def input_classes(plan: DeployPlan, policy: Policy) -> dict[str, list[str]]:
    """Data class -> the model's input columns in it (classes with no input column left out).
    When the inputs cannot be read, every declared column counts (fail closed)."""
    features = model_inputs(policy)

    def inputs(columns: list[str]) -> list[str]:
        if features is not None:
            return [c for c in columns if c in features]
        return [c for c in columns if c != policy.data.target]

    classes: dict[str, list[str]] = {}
    declared = {name: list(spec.columns) for name, spec in plan.data_classes.items()}
    pii = list(dict.fromkeys([*policy.sensitive_columns, *declared.pop(PII, [])]))
    for name, columns in [(PII, pii), *sorted(declared.items())]:
        found = inputs(columns)
        if found:
            classes[name] = found
    return classes


def check_residency(plan: DeployPlan, policy: Policy) -> None:
    """Raise :class:`Refused` (reason ``residency``) for the first target a class may not reach."""
    where = str(plan.source) if plan.source else "deploy plan"
    for cls, columns in input_classes(plan, policy).items():
        cols = ", ".join(columns)
        spec = plan.data_classes.get(cls)
        if spec is None:
            raise Refused(Reason.RESIDENCY,
                          f"{where}: the model's inputs include data class '{cls}' (columns: "
                          f"{cols}) but the plan has no [data_classes.{cls}] saying where it may "
                          f"be processed")
        for name, target in plan.targets.items():
            if target.location not in spec.locations:
                raise Refused(Reason.RESIDENCY,
                              f"{where}: target '{name}' ({target.location}) may not receive "
                              f"data class '{cls}' (columns: {cols}): it may be processed only "
                              f"in {', '.join(spec.locations) or '(nowhere)'}")
            if cls not in target.data_classes:
                raise Refused(Reason.RESIDENCY,
                              f"{where}: target '{name}' ({target.location}) does not accept "
                              f"data class '{cls}' (columns: {cols}); list it in "
                              f"targets.{name}.data_classes if it may")
