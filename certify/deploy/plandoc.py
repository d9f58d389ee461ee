"""The deploy plan reference in Markdown, generated from the models that validate the plan
(``certify schema deploy --markdown``; the README's plan reference is this output)."""

from __future__ import annotations

import re

from pydantic import BaseModel

from certify.deploy.plan import (
    AnalysisSpec,
    DataClassSpec,
    DeployPlan,
    KServeTarget,
    ParitySpec,
    RayServeTarget,
    RegistrySpec,
    TimeoutSpec,
)
from certify.policydoc import _table  # one table format for the policy and the plan


def plan_reference() -> str:
    sections: list[tuple[str, type[BaseModel]]] = [
        ("[registry]", RegistrySpec),
        ("[analysis]", AnalysisSpec),
        ("[parity]", ParitySpec),
        ("[timeouts]", TimeoutSpec),
        ("[data_classes.<class>]", DataClassSpec),
        ('[targets.<name>] kind = "ray_serve"', RayServeTarget),
        ('[targets.<name>] kind = "kserve"', KServeTarget),
    ]
    out = ["#### Top level", "", *_table(DeployPlan, skip=tuple(
        name for name, f in DeployPlan.model_fields.items()
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel))), ""]
    for title, model in sections:
        out += [f"#### `{title}`", ""]
        doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        if doc:
            out += [doc, ""]
        out += [*_table(model), ""]
    # The discriminated union reads as what it is.
    text = re.sub(r"Annotated\[(.*?), FieldInfo\(.*?\)\]", r"\1", "\n".join(out))
    return text + "\n"
