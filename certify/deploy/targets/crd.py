"""Offline validation of InferenceService manifests against KServe's own CRD schema (vendored:
``certify/deploy/schemas/inferenceservice-v1beta1.json``, KServe v0.20.0; see the README there).

The CRD's OpenAPI v3 schema is checked with ``jsonschema`` (Ray's dependency), plus the rules the
API server adds: an object with declared ``properties`` and no
``x-kubernetes-preserve-unknown-fields`` takes no other keys (the apply asks for
``fieldValidation=Strict``), and ``metadata.name`` is a DNS-1035 label of at most 63 characters.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schemas" / "inferenceservice-v1beta1.json"
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
API_VERSION = "serving.kserve.io/v1beta1"
KIND = "InferenceService"


def _strict(node: Any) -> Any:
    """The schema with ``additionalProperties: false`` where the API server prunes unknowns."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@functools.cache
def crd_source() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return dict(data["source"])


@functools.cache
def _validator() -> Any:
    import jsonschema

    data = json.loads(SCHEMA_FILE.read_text())
    schema = _strict(data["openAPIV3Schema"])
    return jsonschema.Draft7Validator(schema)


def _path(error: Any) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "(top level)"


def manifest_errors(manifest: dict[str, Any], limit: int = 5) -> list[str]:
    """Problems of ``manifest`` as an InferenceService (empty when it is valid)."""
    problems = []
    if manifest.get("apiVersion") != API_VERSION or manifest.get("kind") != KIND:
        problems.append(f"not a {API_VERSION} {KIND}")
    name = str((manifest.get("metadata") or {}).get("name", ""))
    if not DNS_1035.match(name) or len(name) > 63:
        problems.append(f"metadata.name: {name!r} is not a DNS-1035 label")
    errors = sorted(_validator().iter_errors(manifest), key=lambda e: list(e.absolute_path))
    for error in errors[:limit]:
        problems.append(f"{_path(error)}: {error.message}")
    return problems
