"""The policy: ``certify.toml`` (or ``[tool.certify]`` in ``pyproject.toml``), parsed and validated.

Every key, its type and its default is declared here (and in each suite's settings
model); ``certify schema`` prints the JSON Schema generated from these models and the
same schema ships as ``certify/schemas/policy.schema.json``.

Paths in the policy are relative to the policy file's directory. They are kept as
written, so that the policy digest does not depend on where the project is checked out.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from certify.errors import ConfigError
from certify.registry import suite_classes

DEFAULT_SEED = 20240611
POLICY_FILENAME = "certify.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Strict):
    """Where a model comes from and how to load it.

    A bare string in the policy is shorthand for ``{path = "..."}``.
    """

    path: str | None = Field(default=None, description="Model file, relative to the policy file.")
    url: str | None = Field(default=None, description="HTTP endpoint (format 'http').")
    format: str | None = Field(
        default=None,
        description="Adapter: 'skops', 'joblib', 'http', 'torch' (an exported program .pt2 or a "
        "TorchScript .pt; the torch extra) or a third-party adapter name (entry-point group "
        "certify.adapters). Inferred from the file suffix or url.",
    )
    name: str | None = Field(default=None, description="Display name (default: file name or url).")
    allow_pickle: bool = Field(
        default=False,
        description="Required for joblib/pickle files: loading them runs arbitrary code. "
        "Prefer skops for files you did not build.",
    )
    trusted_types: list[str] = Field(
        default_factory=list,
        description="skops: extra types to trust when loading (review them first).",
    )
    # HTTP adapter
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="HTTP headers; a value 'env:NAME' is read from the environment and never logged.",
    )
    timeout_s: float = Field(default=10.0, gt=0, description="HTTP request timeout.")
    retries: int = Field(default=2, ge=0, description="HTTP retries on connection errors and 5xx.")
    request_field: str = Field(default="instances", description="HTTP: request field of the rows.")
    predictions_field: str = Field(default="predictions",
                                   description="HTTP: response field of the predictions.")
    probabilities_field: str | None = Field(
        default="probabilities", description="HTTP: response field of the probabilities (none: omit).")
    classes: list[Any] | None = Field(
        default=None, description="HTTP and torch: class labels in the order of the returned "
        "probabilities."
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Adapter options: features (input columns in order), "
        "task; torch: output = logits | probabilities | values; third-party adapters' own.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"url": value} if value.startswith(("http://", "https://")) else {"path": value}
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if not self.path and not self.url:
            raise ValueError("a model needs 'path' or 'url'")
        if self.format is None:
            if self.url:
                self.format = "http"
            else:
                suffix = Path(str(self.path)).suffix.lower()
                self.format = {".skops": "skops", ".joblib": "joblib", ".pkl": "joblib",
                               ".pickle": "joblib", ".pt": "torch",
                               ".pt2": "torch"}.get(suffix)
                if self.format is None:
                    raise ValueError(
                        f"cannot tell the model format from '{self.path}'; set 'format'"
                    )
        if self.format == "joblib" and not self.allow_pickle:
            raise ValueError(
                "joblib/pickle models run code when loaded; set allow_pickle = true to accept "
                "that, or save the model with skops"
            )
        return self

    def display_name(self) -> str:
        if self.name:
            return self.name
        return Path(self.path).name if self.path else str(self.url)


class ColumnOverride(_Strict):
    """Overrides of the schema inferred from the reference data, per column."""

    kind: Literal["numeric", "categorical", "boolean"] | None = Field(
        default=None, description="Column kind (inferred: numeric dtypes are numeric).")
    min: float | None = Field(default=None, description="Smallest valid value (inferred: observed).")
    max: float | None = Field(default=None, description="Largest valid value (inferred: observed).")
    categories: list[Any] | None = Field(default=None, description="Valid categories (inferred: observed).")
    nullable: bool | None = Field(default=None, description="Missing values allowed (inferred: seen).")


class DataSpec(_Strict):
    """The data: CSV or Parquet files, relative to the policy file."""

    reference: str = Field(description="Reference (training) data: CSV or Parquet.")
    evaluation: str = Field(description="Evaluation (holdout) data: CSV or Parquet.")
    target: str = Field(description="Target column name.")
    features: list[str] | None = Field(
        default=None, description="Feature columns in model order (default: all but target)."
    )
    columns: dict[str, ColumnOverride] = Field(
        default_factory=dict, description="Schema overrides per column."
    )


class SigningSpec(_Strict):
    """How the certificate is signed (no key: report and unsigned statement only)."""

    key: str | None = Field(
        default=None,
        description="Private key PEM path (relative to the policy). The environment variable "
        "CERTIFY_SIGNING_KEY (PEM text or a path) takes precedence.",
    )
    passphrase_env: str = Field(
        default="CERTIFY_SIGNING_KEY_PASSPHRASE",
        description="Environment variable holding the key's passphrase.",
    )
    valid_for_days: float = Field(
        default=7.0, gt=0, le=366, description="Certificate lifetime (expiresAt - issuedAt)."
    )


class IsolationSpec(_Strict):
    """Where the candidate and baseline run: in a worker process each, so that a model that
    segfaults, exits, eats memory or hangs in C code fails its checks instead of ending the run."""

    mode: Literal["process", "none"] = Field(
        default="process", description="'process': each in-process model answers from a worker "
        "process; 'none': in the run's own process (only for models you trust not to crash).")
    memory_limit_mb: float | None = Field(
        default=None, gt=0, description="Largest memory (RSS, MiB) a model's process may use "
        "before it is stopped (default: half of the machine's memory).")
    call_timeout_s: float = Field(
        default=300.0, gt=0, description="Longest a single model call may take before the "
        "model's process is stopped (the edge_cases suite uses its own, shorter deadline_s).")
    threads: int = Field(
        default=1, ge=1, description="Threads (OpenMP, BLAS) a model's process may use. One "
        "is fastest for the many small calls of the suites on a machine they share.")


class Waiver(_Strict):
    """A failed check accepted until a date: it counts as warned, citing the waiver."""

    check: str = Field(min_length=1, description="Check id or glob, e.g. 'drift::ks[*]'.")
    reason: str = Field(min_length=1, description="Why the failure is accepted.")
    approver: str = Field(min_length=1, description="Who accepted it (appears in the certificate).")
    expires: dt.date = Field(description="Last day the waiver applies (YYYY-MM-DD).")

    @field_validator("expires", mode="before")
    @classmethod
    def _date_only(cls, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return value.date()
        return value


class PolicyBase(_Strict):
    """Fields common to every policy; ``suites`` is added from the suite registry."""

    candidate: ModelSpec = Field(description="The model to certify.")
    baseline: ModelSpec | None = Field(
        default=None, description="The model in production (absent on a first deployment)."
    )
    task: Literal["classification", "regression"] | None = Field(
        default=None, description="Inferred from the target when omitted."
    )
    data: DataSpec = Field(description="Reference and evaluation data, target, schema overrides.")
    seed: int = Field(default=DEFAULT_SEED, description="Root of every random choice.")
    output_dir: str = Field(default="certify-out", description="Where runs are written.")
    required_suites: list[str] | None = Field(
        default=None, description="Suites that must run (default: every enabled suite)."
    )
    sensitive_columns: list[str] = Field(
        default_factory=list, description="Never written raw into reports or artifacts."
    )
    protected_attributes: list[str] = Field(
        default_factory=list, description="Columns for group-fairness gaps (quality suite)."
    )
    checks: list[str] = Field(
        default_factory=list,
        description="Where 'certify run' collects the project's own @pytest.mark.certify checks "
                    "(default: the policy's folder, as 'pytest --certify' does).",
    )
    isolation: IsolationSpec = Field(default_factory=IsolationSpec,
                                     description="Where the models run (crash containment).")
    signing: SigningSpec = Field(default_factory=SigningSpec,
                                 description="Signing key and certificate lifetime.")
    waivers: list[Waiver] = Field(default_factory=list,
                                  description="Accepted failures, each with reason, approver and expiry.")
    suites: Any = None

    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The file this policy was read from."""
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._source.parent if self._source else Path.cwd()

    def resolve(self, relpath: str) -> Path:
        path = Path(relpath).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    def suite_settings(self, name: str) -> Any:
        return getattr(self.suites, name)

    def enabled_suites(self) -> list[str]:
        """Suites with a ``[suites.<name>]`` section (even empty) and ``enabled`` true."""
        return [name for name in type(self.suites).model_fields
                if name in self.suites.model_fields_set and getattr(self.suites, name).enabled]

    def required(self) -> list[str]:
        return list(self.required_suites) if self.required_suites is not None else self.enabled_suites()

    def canonical(self) -> dict[str, Any]:
        """The validated policy as JSON data, defaults resolved. Of ``suites``, only the sections
        the policy has: switching a suite on changes the digest, and installing another suite
        package (which adds a section with defaults to the model) does not."""
        data = self.model_dump(mode="json")
        data["suites"] = {name: value for name, value in data["suites"].items()
                          if name in self.suites.model_fields_set}
        return data

    def digest(self) -> str:
        """sha256 of the canonical JSON of the validated policy (sorted keys, defaults resolved)."""
        canonical = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


# Kept as an alias so that type hints read naturally.
Policy = PolicyBase


@functools.cache
def policy_model() -> type[PolicyBase]:
    """The policy model with one ``suites.<name>`` section per registered suite."""
    fields: dict[str, Any] = {
        name: (cls.settings_model, Field(default_factory=cls.settings_model,
                                         description=cls.description or None))
        for name, cls in suite_classes().items()
    }
    suites_model = create_model(
        "Suites", __config__=ConfigDict(extra="forbid"), **fields
    )
    return create_model(
        "Policy",
        __base__=PolicyBase,
        suites=(suites_model, Field(default_factory=suites_model,
                                    description="Per-suite settings, [suites.<name>].")),
    )


def policy_json_schema() -> dict[str, Any]:
    schema = policy_model().model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pytest-certify policy"
    return schema


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def format_validation_error(exc: ValidationError, where: str) -> str:
    """One line per problem, each naming the key and the file."""
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p not in ("function-after[_one_source(), ModelSpec]",))
        key = _loc(loc)
        if err["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key '{key}'")
        elif err["type"] == "missing":
            lines.append(f"{where}: missing required key '{key}'")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            got = err.get("input")
            shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
            lines.append(f"{where}: {key}: {msg}{shown}")
    return lines[0] if len(lines) == 1 else "; ".join(lines)


def _check_files(policy: PolicyBase, where: str) -> None:
    def need(key: str, relpath: str | None) -> None:
        if relpath is None:
            return
        path = policy.resolve(relpath)
        if not path.exists():
            raise ConfigError(f"{where}: {key}: file not found: {path}")

    need("candidate.path", policy.candidate.path)
    if policy.baseline is not None:
        need("baseline.path", policy.baseline.path)
    need("data.reference", policy.data.reference)
    need("data.evaluation", policy.data.evaluation)
    for i, path in enumerate(policy.checks):
        need(f"checks[{i}]", path)
    unknown = [s for s in policy.required_suites or [] if s not in type(policy.suites).model_fields]
    if unknown:
        raise ConfigError(f"{where}: required_suites: unknown suite {unknown[0]!r}")
    if not policy.enabled_suites():
        raise ConfigError(f"{where}: suites: no suite enabled; add a [suites.<name>] section "
                          f"(known: {', '.join(type(policy.suites).model_fields)})")


def policy_from_mapping(data: dict[str, Any], source: Path | None = None,
                        *, check_files: bool = True) -> PolicyBase:
    where = str(source) if source else "policy"
    try:
        policy = policy_model().model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, where)) from None
    policy._source = source.resolve() if source else None
    if check_files:
        _check_files(policy, where)
    return policy


def load_policy(path: str | Path, *, check_files: bool = True) -> PolicyBase:
    """Read and validate a policy file (``certify.toml`` or a ``pyproject.toml``).

    ``check_files=False`` skips the existence checks of the files it names (the release
    gate only needs the policy's digest and required suites).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: policy file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if path.name == "pyproject.toml":
        section = raw.get("tool", {}).get("certify")
        if section is None:
            raise ConfigError(f"{path}: no [tool.certify] section")
        raw = section
    return policy_from_mapping(raw, path, check_files=check_files)


def find_policy(rootdir: Path) -> Path | None:
    """``certify.toml`` in ``rootdir``, else a ``pyproject.toml`` with ``[tool.certify]``."""
    candidate = rootdir / POLICY_FILENAME
    if candidate.is_file():
        return candidate
    pyproject = rootdir / "pyproject.toml"
    if pyproject.is_file():
        try:
            raw = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            return None
        if "certify" in raw.get("tool", {}):
            return pyproject
    return None
