"""The deploy plan: ``deploy.toml``, parsed and validated like the policy.

The plan says *how* a certified model reaches production: the certification policy it deploys
under (whose candidate is the file to register), the registry, the targets, the canary steps,
the analysis of each step, timeouts, the state folder and the data classes each target may
receive. It is not part of the policy: changing a rollout does not force recertification. Its
digest (sha256 of its canonical JSON, defaults resolved) goes into every audit entry.

Paths are relative to the plan's folder. Every key, type and default is declared here;
``certify schema deploy`` prints the JSON Schema (shipped as
``certify/schemas/deploy.schema.json``) and ``certify schema deploy --markdown`` the reference.
Errors name the key and the file on one line. A plan that would route the model's inputs to a
target where one of their data classes may not go is refused here, before anything changes
(:mod:`certify.deploy.residency`).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from certify.deploy.residency import check_residency
from certify.errors import ConfigError
from certify.policy import format_validation_error, load_policy

PLAN_FILENAME = "deploy.toml"
#: DNS-1035 label: Serve application names, InferenceService names, registry model names.
NAME_RE = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
ON_PREM = "on_prem"
#: Metrics an SLO may name (the load suite's, less throughput: a canary slice has no rate).
SLO_METRICS = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "error_rate")
LATENCY_METRICS = ("p50_ms", "p90_ms", "p95_ms", "p99_ms")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegistrySpec(_Strict):
    """The MLflow Model Registry the certified versions go into."""

    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking/registry URI of a team's server. Default: the "
                    "MLFLOW_TRACKING_URI environment variable, else an embedded SQLite registry "
                    "in the state folder (registry.db, artifacts under mlartifacts/).")
    experiment: str = Field(default="certify-deploy",
                            description="MLflow experiment that holds the registration runs.")


class AnalysisSpec(_Strict):
    """How each canary step is judged: traffic through the ingress, then candidate vs champion."""

    duration_s: float = Field(default=5.0, gt=0, le=3600,
                              description="Analysis traffic per step (upper bound).")
    max_requests: int = Field(default=400, ge=1, le=1_000_000,
                              description="Most requests per step (all rounds together).")
    rounds: int = Field(default=4, ge=1, le=1000,
                        description="Interleaved rounds per step; the comparison resamples "
                                    "within each round.")
    concurrency: int = Field(default=4, ge=1, le=256, description="Requests in flight.")
    request_timeout_s: float = Field(default=5.0, gt=0, le=600,
                                     description="A request unanswered this long is an error.")
    rows_per_request: int = Field(default=1, ge=1, le=10_000,
                                  description="Evaluation rows in each request body.")
    latency_metric: Literal["p50_ms", "p90_ms", "p95_ms", "p99_ms"] = Field(
        default="p95_ms", description="Latency percentile compared, candidate vs champion.")
    latency_margin: float = Field(
        default=0.2, ge=0,
        description="The candidate's percentile may exceed the champion's by this fraction...")
    latency_slack_ms: float = Field(default=2.0, ge=0,
                                    description="...plus this many milliseconds (noise floor).")
    error_margin: float = Field(
        default=0.01, ge=0, le=1,
        description="The candidate's error rate may exceed the champion's by this much.")
    confidence: float = Field(default=0.95, gt=0.5, lt=1,
                              description="Confidence of the bootstrap interval on a difference.")
    bootstrap: int = Field(default=1000, ge=100, le=100_000,
                           description="Bootstrap resamples per comparison.")
    slos: dict[str, float] | None = Field(
        default=None,
        description="Absolute SLOs on the candidate's slice (fail levels: p50_ms, p90_ms, "
                    "p95_ms, p99_ms, error_rate). Default: the fail levels of the certified "
                    "policy's [suites.load] thresholds.")

    @field_validator("slos")
    @classmethod
    def _known(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for metric in value or {}:
            if metric not in SLO_METRICS:
                raise ValueError(f"unknown SLO '{metric}' (known: {', '.join(SLO_METRICS)})")
        return value


class ParitySpec(_Strict):
    """Before the first traffic step, the served candidate must score like the certified file."""

    sample: int = Field(default=64, ge=1, le=100_000,
                        description="Evaluation rows scored (a fixed sample drawn with the seed).")
    tolerance: float = Field(default=1e-9, ge=0, le=1,
                             description="Largest absolute difference allowed on a probability "
                                         "(or a regression output).")


class TimeoutSpec(_Strict):
    """Limits: nothing a deploy waits on can hang it."""

    start_s: float = Field(default=300.0, gt=0, le=3600,
                           description="Start of the embedded Ray and a Serve deployment.")
    step_s: float = Field(default=300.0, gt=0, le=86_400,
                          description="One canary step: weight change, analysis, judgement.")
    apply_s: float = Field(default=600.0, gt=0, le=86_400,
                           description="kserve: an applied manifest's status conditions to be Ready.")
    lock_stale_s: float = Field(default=3600.0, gt=0,
                                description="A lock older than this is stale (taken over, audited).")


class DataClassSpec(_Strict):
    """A class of input data and where it may be processed."""

    locations: list[str] = Field(
        description="Where this class may be processed: 'on_prem' and/or cloud region names.")
    columns: list[str] = Field(
        default_factory=list,
        description="Input columns of this class (class 'pii' always includes the policy's "
                    "sensitive_columns).")


class _TargetBase(_Strict):
    location: str = Field(description="'on_prem' or a cloud region name (e.g. 'eu-west-1').")
    data_classes: list[str] = Field(
        default_factory=list, description="Data classes this target may receive (e.g. ['pii']).")

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        if value != ON_PREM and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", value):
            raise ValueError("location is 'on_prem' or a region name (lower case, digits, '-')")
        return value


class RayServeTarget(_TargetBase):
    """On-prem: champion and candidate as two Ray Serve deployments behind a weighted ingress."""

    kind: Literal["ray_serve"]
    address: str | None = Field(
        default=None,
        description="Ray cluster to join (its GCS address). Default: an embedded detached Ray on "
                    "127.0.0.1 that outlives the command (`certify deploy stop` ends it).")
    num_cpus: int = Field(default=2, ge=1, le=1024, description="CPUs of the embedded Ray.")
    http_port: int = Field(default=0, ge=0, le=65535,
                           description="Port of Ray Serve's HTTP proxy (0: a free port).")
    ingress_port: int = Field(default=0, ge=0, le=65535,
                              description="Port of the weighted ingress (0: a free port).")
    host: str = Field(default="127.0.0.1",
                      description="Address the Serve proxy and the ingress bind.")
    sticky_header: str | None = Field(
        default=None,
        description="Request header whose value pins a client to one deployment (hash of the "
                    "value and the seed); without it each request is split at random (seeded).")
    replicas: int = Field(default=1, ge=1, le=64, description="Replicas per model deployment.")


class KServeTarget(_TargetBase):
    """Cloud: one KServe InferenceService, canaried with canaryTrafficPercent."""

    kind: Literal["kserve"]
    namespace: str = Field(default="default", pattern=NAME_RE,
                           description="Kubernetes namespace of the InferenceService.")
    service: str | None = Field(default=None, pattern=NAME_RE, max_length=45,
                                description="InferenceService name (default: the plan's name).")
    storage_uri: str = Field(
        description="Bucket URI the certified file is uploaded to, unchanged, as "
                    "<storage_uri>/v<version>/<file> (s3://, gs://, file:// ...; MLflow's "
                    "artifact stores do the upload).")
    runtime: Literal["auto", "sklearn", "custom"] = Field(
        default="auto",
        description="'sklearn': KServe's scikit-learn runtime (joblib/pickle files); 'custom': "
                    "the project's own predictor (python -m certify.deploy.predictor) in "
                    "'image' (skops files); 'auto': by the model's format.")
    image: str | None = Field(default=None,
                              description="Image of the custom predictor (runtime 'custom').")
    context: str | None = Field(default=None,
                                description="Kube context used with --apply (required then).")
    kubeconfig: str | None = Field(default=None,
                                   description="Kubeconfig file (default: KUBECONFIG or "
                                               "~/.kube/config).")
    service_account: str | None = Field(
        default=None, description="Service account with read access to the bucket.")


Target = Annotated[RayServeTarget | KServeTarget, Field(discriminator="kind")]


class DeployPlan(_Strict):
    """``deploy.toml``: how a certified model is promoted and rolled out."""

    name: str = Field(pattern=NAME_RE, max_length=45,
                      description="The deployed model's name: registered model, Serve "
                                  "applications and InferenceService are named after it.")
    policy: str = Field(description="Certification policy it deploys under (path). The gate "
                                    "checks the certificate against it; its candidate is the "
                                    "file registered.")
    state_dir: str = Field(
        default=".", description="Holds the embedded registry, the audit log, locks and the "
                                 "rendered manifests (relative to the plan).")
    steps: list[float] = Field(
        default_factory=lambda: [10.0, 50.0, 100.0],
        description="Canary traffic percentages, strictly increasing, ending at 100.")
    seed: int | None = Field(default=None,
                             description="Seed of the traffic split, the analysis and the parity "
                                         "sample (default: the policy's seed).")
    registry: RegistrySpec = Field(default_factory=RegistrySpec,
                                   description="The MLflow Model Registry.")
    analysis: AnalysisSpec = Field(default_factory=AnalysisSpec,
                                   description="Per-step analysis.")
    parity: ParitySpec = Field(default_factory=ParitySpec, description="Prediction parity.")
    timeouts: TimeoutSpec = Field(default_factory=TimeoutSpec, description="Limits.")
    data_classes: dict[str, DataClassSpec] = Field(
        default_factory=dict, description="Data classes and where each may be processed.")
    targets: dict[str, Target] = Field(
        min_length=1, description="Where the model is served, by target name.")
    audit_signing_key: str | None = Field(
        default=None,
        description="Private key (PEM path) that signs audit checkpoints as DSSE envelopes; "
                    "CERTIFY_AUDIT_SIGNING_KEY (PEM text or a path) takes precedence.")

    _source: Path | None = PrivateAttr(default=None)

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("at least one step is needed")
        if any(not 0 < s <= 100 for s in value):
            raise ValueError("each step is a percentage in (0, 100]")
        if any(b <= a for a, b in zip(value, value[1:], strict=False)):
            raise ValueError("steps must be strictly increasing")
        if value[-1] != 100:
            raise ValueError("the last step must be 100")
        return value

    @field_validator("targets")
    @classmethod
    def _target_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.fullmatch(NAME_RE, name) or len(name) > 30:
                raise ValueError(f"target name '{name}' must be a DNS label (a-z, 0-9, '-'; "
                                 "at most 30 characters)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DeployPlan:
        for name, target in self.targets.items():
            for cls in target.data_classes:
                if cls not in self.data_classes:
                    raise ValueError(f"targets.{name}.data_classes: unknown data class '{cls}' "
                                     f"(declare [data_classes.{cls}])")
            if isinstance(target, KServeTarget) and target.runtime == "custom" and not target.image:
                raise ValueError(f"targets.{name}: runtime 'custom' needs 'image'")
        return self

    # -- where things are ---------------------------------------------------------------
    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._source.parent if self._source else Path.cwd()

    def resolve(self, relpath: str) -> Path:
        path = Path(relpath).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    @property
    def state(self) -> Path:
        return self.resolve(self.state_dir).resolve()

    @property
    def policy_path(self) -> Path:
        return self.resolve(self.policy)

    def canonical(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def digest(self) -> str:
        """sha256 of the canonical JSON of the validated plan (sorted keys, defaults resolved)."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def ray_targets(self) -> dict[str, RayServeTarget]:
        return {n: t for n, t in self.targets.items() if isinstance(t, RayServeTarget)}

    def kserve_targets(self) -> dict[str, KServeTarget]:
        return {n: t for n, t in self.targets.items() if isinstance(t, KServeTarget)}


def plan_json_schema() -> dict[str, Any]:
    schema = DeployPlan.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pytest-certify deploy plan"
    return schema


def plan_from_mapping(data: dict[str, Any], source: Path | None = None) -> DeployPlan:
    """Validate ``data`` as a plan (no residency check: :func:`load_plan` does it)."""
    where = str(source) if source else "deploy plan"
    try:
        plan = DeployPlan.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, where)) from None
    plan._source = source.resolve() if source else None
    return plan


def load_plan(path: str | Path, *, residency: bool = True) -> DeployPlan:
    """Read and validate ``deploy.toml``: keys, the policy it names, and data residency."""
    path = Path(path)
    if path.is_dir():
        path = path / PLAN_FILENAME
    if not path.is_file():
        raise ConfigError(f"{path}: deploy plan not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    plan = plan_from_mapping(raw, path)
    if not plan.policy_path.is_file():
        raise ConfigError(f"{path}: policy: file not found: {plan.policy_path}")
    if residency:
        check_residency(plan, load_policy(plan.policy_path, check_files=False))
    return plan
