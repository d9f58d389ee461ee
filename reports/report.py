"""report.json: the complete, versioned record of one certification run.

The JSON Schema of every version ships in ``certify/reports/schemas/`` and golden
files of each version live in ``tests/data/``. Bump ``SCHEMA_VERSION`` (and add a new
schema file) for any change that a reader could notice.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from certify.data import Schema
from certify.errors import CertifyError
from certify.evidence import Evidence
from certify.verdict import Verdict

SCHEMA_VERSION = "1.0"
SCHEMA_DIR = Path(__file__).parent / "schemas"


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str
    name: str
    format: str
    source: str
    digest: str
    task: str
    classes: list[Any] | None = None


class DataInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str
    path: str
    digest: str
    rows: int
    columns: int


class SuiteSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    required: bool
    description: str = ""
    counts: dict[str, int] = Field(default_factory=dict)
    duration_s: float = 0.0
    error: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class WaiverInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: str
    reason: str
    approver: str
    expires: str
    expired: bool
    applied_to: list[str] = Field(default_factory=list)


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: str = SCHEMA_VERSION
    kind: str = "pytest-certify/report"
    run_id: str
    harness_version: str
    started_at: str
    finished_at: str
    command: list[str] = Field(description="The command that reproduces this run.")
    policy_path: str | None
    policy_digest: str
    policy: dict[str, Any]
    seed: int
    candidate: ModelInfo
    baseline: ModelInfo | None = None
    data: list[DataInfo]
    schema_: Schema = Field(alias="schema")
    sensitive_columns: list[str] = Field(default_factory=list)
    environment: dict[str, Any]
    provenance: dict[str, Any]
    verdict: Verdict
    suites: dict[str, SuiteSummary]
    evidence: list[Evidence]
    waivers: list[WaiverInfo] = Field(default_factory=list)
    drift_baseline: dict[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(finite(self.model_dump(mode="json", by_alias=True)), indent=2,
                          allow_nan=False) + "\n"


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None (strict JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def report_json_schema() -> dict[str, Any]:
    schema = Report.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"pytest-certify report v{SCHEMA_VERSION}"
    return schema


def load_report(path: Path) -> Report:
    """Read a report.json; a wrong or unreadable file is one clear error."""
    if not path.is_file():
        raise CertifyError(f"{path}: report not found")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CertifyError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("kind") != "pytest-certify/report":
        raise CertifyError(f"{path}: not a pytest-certify report.json")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise CertifyError(f"{path}: report schema version {version!r} is not supported "
                           f"(this harness reads {SCHEMA_VERSION})")
    try:
        return Report.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise CertifyError(f"{path}: invalid report at {loc}: {first['msg']}") from None
