"""The policy reference in Markdown, generated from the same models that validate it.

The README's "Policy reference" section is this output (a test keeps them equal), so
every key, its type, its default and its meaning are documented in one place.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from certify.policy import (
    ColumnOverride,
    DataSpec,
    IsolationSpec,
    ModelSpec,
    SigningSpec,
    Waiver,
    policy_model,
)


def _type(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "").replace("NoneType", "None")
    for noise in ("<class '", "'>", "datetime."):
        text = text.replace(noise, "")
    text = re.sub(r"\bcertify(?:\.\w+)*\.(?=[A-Z])", "", text)  # our classes by their own name
    if text.startswith("Optional[") and text.endswith("]"):
        text = text[len("Optional["):-1] + " | None"
    return text.replace("|", "\\|")


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        try:
            value = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
        return "(see below)" if value else "`{}`"
    try:
        return "`" + json.dumps(value, default=str) + "`"
    except TypeError:
        return f"`{value}`"


def _table(model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[str]:
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{name}` | {_type(field.annotation)} | {_default(field)} | {desc} |")
    return rows


def policy_reference() -> str:
    policy = policy_model()
    suites = policy.model_fields["suites"].annotation
    assert isinstance(suites, type) and issubclass(suites, BaseModel)
    out = ["#### Top level", "", *_table(policy, skip=("suites",)), ""]
    sections: list[tuple[str, type[BaseModel]]] = [
        ("[candidate] and [baseline]", ModelSpec),
        ("[data]", DataSpec),
        ("[data.columns.<column>]", ColumnOverride),
        ("[isolation]", IsolationSpec),
        ("[signing]", SigningSpec),
        ("[[waivers]]", Waiver),
    ]
    for name, field in suites.model_fields.items():
        settings = field.annotation
        assert isinstance(settings, type) and issubclass(settings, BaseModel)
        sections.append((f"[suites.{name}]", settings))
    for title, model in sections:
        out += [f"#### `{title}`", ""]
        doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        if doc and not doc.startswith(("!!!", "Usage docs")):
            out += [doc, ""]
        out += [*_table(model), ""]
    out.append("A threshold is `{fail = <level>, warn = <level>}`: crossing `fail` fails the check, "
               "crossing `warn` only warns (never blocks).")
    return "\n".join(out) + "\n"
