"""report.json: the complete, versioned record of one certification run.

The JSON Schema of every version ships in ``certify/schemas/`` and golden
files of each version live in ``tests/data/``. Bump ``SCHEMA_VERSION`` (and add a new
schema file) for any change that a reader could notice.
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from certify.data import Schema
from certify.errors import CertifyError
from certify.evidence import Evidence
from certify.jsonsafe import json_safe
from certify.verdict import Verdict

SCHEMA_VERSION = "1.1"
#: Versions this harness reads: 1.1 added the ``info`` status (a figure measured, not judged).
READABLE_VERSIONS = ("1.0", "1.1")
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
        return json.dumps(json_safe(self.model_dump(mode="json", by_alias=True)), indent=2,
                          allow_nan=False) + "\n"


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
    if version not in READABLE_VERSIONS:
        raise CertifyError(f"{path}: report schema version {version!r} is not supported "
                           f"(this harness reads {', '.join(READABLE_VERSIONS)})")
    try:
        return Report.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise CertifyError(f"{path}: invalid report at {loc}: {first['msg']}") from None


@dataclasses.dataclass(frozen=True)
class SignatureStatus:
    """What is known about a run's certificate, for people (the HTML page, the summary).

    Produced by signing (:func:`certify.attest.issue.issue`, which checks its own envelope once)
    or by re-verification (:func:`certify.attest.status.signature_status`, used by
    ``certify report``). A renderer shows it; it never verifies anything itself.
    """

    state: Literal["verified", "invalid", "unverified", "unsigned"]
    headline: str
    detail: str = ""
    keyid: str | None = None
    certificate: str | None = None
    public_key: str | None = None
    expires_at: str | None = None
    issued_at: str | None = None
    expiry_source: str = ""
    expired: bool = False


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """What a reporter receives: the finished record of one run, read-only.

    ``run_dir`` is the run's (not yet published) folder: a reporter writes its files there
    and returns ``{output name: path}``. ``outputs`` holds what was written before it
    (report.json, the statement, the certificate, earlier reporters' files).
    """

    report: Report
    report_digest: str
    run_dir: Path
    signature: SignatureStatus
    outputs: Mapping[str, Path] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({}))


#: A reporter (built-in or entry-point group ``certify.reporters``).
Reporter = Callable[[RunRecord], Mapping[str, Path]]
