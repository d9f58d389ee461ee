"""The in-toto Statement v1 of a certification run and our predicate (type and version below).

Statement::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "<candidate file name>", "digest": {"sha256": "..."}},   # always first
                 {"name": "drift-baseline", "digest": {"sha256": "..."}}],          # when present
     "predicateType": "https://pytest-certify.dev/certification/v0.2",
     "predicate": {...}}

The drift-baseline digest is :func:`certify.outputs.directory_digest`: the sha256 of the
sorted manifest of its files (``"<sha256>  <relative path>\\n"`` per file).

The predicate (:class:`CertificationPredicate`, camelCase keys) holds: ``verdict``,
``reasons``, ``counts``, per-suite ``suites`` summary (passed/warned/failed/errored/skipped),
``requiredSuites``, the key ``metrics`` with their thresholds, ``policyDigest``,
``reportDigest`` (sha256 of the report.json bytes), ``candidate`` and ``baseline`` model
digests, ``data`` digests, ``driftBaseline``, ``seed`` and ``seeds``, ``harnessVersion``,
``environment`` fingerprint, ``waivers`` (with expiry and the checks they were applied to),
``provenance`` (git commit and dirtiness, CI system and run id, builder), ``runId``,
``issuedAt`` and ``expiresAt`` (RFC 3339, UTC; expiry = issuedAt + signing.valid_for_days).
Any change a reader could notice bumps the version in :data:`PREDICATE_TYPE`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from certify.jsonsafe import json_safe

STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
PREDICATE_PREFIX = "https://pytest-certify.dev/certification/"
PREDICATE_VERSION = "v0.2"
#: Predicate versions the verifier reads: v0.2 added the per-suite ``info`` count.
READABLE_PREDICATE_VERSIONS = ("v0.1", "v0.2")
PREDICATE_TYPE = PREDICATE_PREFIX + PREDICATE_VERSION


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Subject(_Strict):
    """An in-toto ResourceDescriptor: the artifact's name and its digests."""

    name: str = Field(min_length=1)
    digest: dict[str, str] = Field(min_length=1)


class Statement(BaseModel):
    """in-toto Statement v1; ``predicate`` is validated separately by its type."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type_: Literal["https://in-toto.io/Statement/v1"] = Field(default=STATEMENT_TYPE, alias="_type")
    subject: list[Subject] = Field(min_length=1)
    predicate_type: str = Field(alias="predicateType")
    predicate: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def to_payload(self) -> bytes:
        """The bytes that are signed (and written as statement.json)."""
        return (json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n").encode()


class SuiteCounts(_Strict):
    required: bool
    passed: int = 0
    warned: int = 0
    failed: int = 0
    errored: int = 0
    skipped: int = 0
    info: int = 0
    error: str | None = None


class MetricRecord(_Strict):
    """One metric compared with its policy threshold."""

    check: str
    metric: str
    value: float | None
    direction: str
    fail: float | None
    warn: float | None = None
    status: str


class ModelRef(_Strict):
    name: str
    digest: str
    format: str


class DataRef(_Strict):
    role: str
    digest: str
    rows: int
    columns: int


class DriftBaselineRef(_Strict):
    path: str
    digest: str
    files: int


class WaiverRecord(_Strict):
    check: str
    reason: str
    approver: str
    expires: dt.date
    expired: bool
    applied_to: list[str] = Field(default_factory=list)


class Provenance(_Strict):
    git_commit: str | None = None
    git_dirty: bool | None = None
    git_branch: str | None = None
    ci_system: str | None = None
    ci_run_id: str | None = None
    builder: str | None = None


class CertificationPredicate(_Strict):
    """The predicate of ``https://pytest-certify.dev/certification/v0.2``."""

    verdict: Literal["CERTIFIED", "REJECTED", "INCOMPLETE"]
    reasons: list[str] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    suites: dict[str, SuiteCounts]
    required_suites: list[str]
    metrics: list[MetricRecord] = Field(default_factory=list)
    policy_digest: str
    report_digest: str
    candidate: ModelRef
    baseline: ModelRef | None = None
    data: list[DataRef]
    drift_baseline: DriftBaselineRef | None = None
    seed: int
    seeds: dict[str, int] = Field(default_factory=dict)
    harness_version: str
    environment: dict[str, Any]
    waivers: list[WaiverRecord] = Field(default_factory=list)
    provenance: Provenance
    run_id: str
    issued_at: AwareDatetime
    expires_at: AwareDatetime

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex(digest: str, what: str) -> str:
    algo, _, value = digest.partition(":")
    if algo != "sha256" or len(value) != 64:
        raise ValueError(f"{what}: expected a sha256: digest, got {digest!r}")
    return value


def subject_name(source: str) -> str:
    """The candidate's subject name: its file name (an endpoint keeps its URL)."""
    if source.startswith(("http://", "https://")):
        return source
    return Path(source).name or source


def build_statement(report: Any, *, report_digest: str, required_suites: list[str],
                    issued_at: dt.datetime, valid_for: dt.timedelta) -> Statement:
    """The statement of ``report`` (a :class:`certify.report.Report`)."""
    issued_at = issued_at.astimezone(dt.UTC).replace(microsecond=0)
    candidate = report.candidate
    subjects = [Subject(name=subject_name(candidate.source),
                        digest={"sha256": _hex(candidate.digest, "candidate digest")})]
    drift = None
    if report.drift_baseline:
        baseline_dir = report.drift_baseline
        subjects.append(Subject(name=str(baseline_dir["path"]),
                                digest={"sha256": _hex(baseline_dir["digest"], "drift baseline")}))
        drift = DriftBaselineRef(path=str(baseline_dir["path"]), digest=baseline_dir["digest"],
                                 files=len(baseline_dir.get("files", [])))
    suites = {
        name: SuiteCounts(required=summary.required, error=summary.error,
                          **{k: int(summary.counts.get(k, 0))
                             for k in ("passed", "warned", "failed", "errored", "skipped",
                                       "info")})
        for name, summary in report.suites.items()
    }
    metrics = [
        MetricRecord(check=ev.id, metric=c.metric, value=c.value, direction=c.direction.value,
                     fail=c.fail, warn=c.warn, status=c.status.value)
        for ev in report.evidence for c in ev.comparisons
    ]
    seeds = {"root": int(report.seed)}
    seeds.update({ev.id: int(ev.seed) for ev in report.evidence
                  if ev.seed is not None and ev.seed != report.seed})
    git = report.provenance.get("git") or {}
    ci = report.provenance.get("ci") or {}

    def model_ref(info: Any) -> ModelRef:
        return ModelRef(name=info.name, digest=info.digest, format=info.format)

    predicate = CertificationPredicate(
        verdict=report.verdict.decision.value,
        reasons=list(report.verdict.reasons),
        counts=dict(report.verdict.counts),
        suites=suites,
        required_suites=list(required_suites),
        metrics=metrics,
        policy_digest=report.policy_digest,
        report_digest=report_digest,
        candidate=model_ref(candidate),
        baseline=model_ref(report.baseline) if report.baseline else None,
        data=[DataRef(role=d.role, digest=d.digest, rows=d.rows, columns=d.columns)
              for d in report.data],
        drift_baseline=drift,
        seed=int(report.seed),
        seeds=seeds,
        harness_version=report.harness_version,
        environment=dict(report.environment),
        waivers=[WaiverRecord(check=w.check, reason=w.reason, approver=w.approver,
                              expires=dt.date.fromisoformat(w.expires), expired=w.expired,
                              applied_to=list(w.applied_to)) for w in report.waivers],
        provenance=Provenance(git_commit=git.get("commit"), git_dirty=git.get("dirty"),
                              git_branch=git.get("branch"), ci_system=ci.get("system"),
                              ci_run_id=ci.get("run_id"), builder=report.provenance.get("builder")),
        run_id=report.run_id,
        issued_at=issued_at,
        expires_at=issued_at + valid_for,
    )
    payload = json_safe(predicate.to_dict())  # strict JSON: NaN and infinities become null
    payload["issuedAt"] = rfc3339(predicate.issued_at)
    payload["expiresAt"] = rfc3339(predicate.expires_at)
    return Statement(subject=subjects, predicate_type=PREDICATE_TYPE, predicate=payload)
