"""The suite contract: how a built-in or third-party suite plugs into a certification.

A suite is generic over its settings ``S`` (a :class:`SuiteSettings` subclass, its policy
section ``[suites.<name>]``) and its result ``R`` (what its expensive work returns). It declares

* ``name``: its policy section and check-id prefix;
* ``settings_model``: the settings class, registered so that the policy's unknown-key errors
  and JSON Schema cover it;
* ``checks(ctx)``: the checks it will produce (cheap; used for planning, for pytest collection
  and for "missing check" detection), each a small function ``R -> Outcome``;
* ``run(ctx)``: the expensive work, done once per certification (a Locust run, a deepchecks
  suite, an attack); its result is handed to every check function;
* ``report_data(ctx, result)``: JSON-able data for report.json (what its pictures are drawn from);
* ``panels(record)``: its pictures on the audit page (:mod:`certify.view`), built from that
  recorded data, so that ``certify report`` can draw them again from report.json alone.

Suites import their heavy libraries inside ``run``, never at module import time, so that
``pytest`` without ``--certify`` costs nothing.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from certify.evidence import Artifact, Evidence, Outcome, check_id
from certify.masking import Masker

if TYPE_CHECKING:
    from certify.data import Dataset
    from certify.models import Model
    from certify.policy import Policy
    from certify.view import Panel


class SuiteSettings(BaseModel):
    """Base of every suite's policy section. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Run this suite.")


S = TypeVar("S", bound=SuiteSettings)
R = TypeVar("R")


@dataclass(frozen=True)
class CheckSpec(Generic[R]):
    """One planned check: a small function of the suite's result."""

    suite: str
    name: str
    fn: Callable[[R], Outcome]
    param: str | None = None
    description: str = ""
    required: bool = True

    @property
    def id(self) -> str:
        return check_id(self.suite, self.name, self.param)


@dataclass
class SuiteContext(Generic[S]):
    """Everything a suite may use. Built once per suite per certification."""

    name: str
    policy: Policy
    settings: S
    candidate: Model
    baseline: Model | None
    data: Dataset
    seed: int
    run_dir: Path
    output_root: Path
    progress: Callable[[str], None] = field(default=lambda message: None)
    #: The run's keyed pseudonyms for sensitive values (see :mod:`certify.masking`).
    masker: Masker = field(default_factory=Masker)
    #: The evidence recorded so far in this run (for a suite that audits the run itself).
    recorded_evidence: Callable[[], Sequence[Evidence]] = field(default=lambda: ())

    @property
    def artifact_dir(self) -> Path:
        path = self.run_dir / "artifacts" / self.name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def sensitive_columns(self) -> list[str]:
        return list(self.policy.sensitive_columns)

    def mask(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``frame`` with sensitive columns replaced by the run's keyed pseudonyms."""
        return self.masker.frame(frame, self.sensitive_columns)

    def mask_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``record`` with the values of sensitive columns replaced by pseudonyms."""
        return self.masker.record(record, self.sensitive_columns)

    def write_artifact(self, relname: str, content: bytes | str | Any, description: str = "") -> Artifact:
        """Write ``content`` (bytes, text, or a JSON-able value) under artifacts/<suite>/."""
        path = self.artifact_dir / relname
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            data = content
        elif isinstance(content, str):
            data = content.encode()
        else:
            data = json.dumps(content, indent=2, sort_keys=True, default=str).encode()
        path.write_bytes(data)
        return Artifact.from_file(self.run_dir, path, description)


@dataclass(frozen=True)
class SuiteRecord(Generic[S]):
    """A suite's part of a finished report: what its panels are drawn from.

    ``settings`` are the suite's settings as the report's policy recorded them, ``data`` is what
    its ``report_data`` returned (JSON, as stored in report.json: read it defensively, an old or
    edited report may lack keys), ``evidence`` its checks' records.
    """

    name: str
    settings: S
    data: Mapping[str, Any]
    evidence: Sequence[Evidence]


class Suite(abc.ABC, Generic[S, R]):
    """Base class of certification suites (built-in and entry-point group ``certify.suites``)."""

    name: ClassVar[str]
    settings_model: ClassVar[type[SuiteSettings]] = SuiteSettings
    description: ClassVar[str] = ""
    #: It audits what the other suites recorded and wrote (``ctx.recorded_evidence``, the run
    #: folder): it runs after every other suite.
    audits_run: ClassVar[bool] = False

    @abc.abstractmethod
    def checks(self, ctx: SuiteContext[S]) -> list[CheckSpec[R]]:
        """The checks this suite will produce for this context (cheap, no heavy work)."""

    @abc.abstractmethod
    def run(self, ctx: SuiteContext[S]) -> R:
        """Do the expensive work once; the result is passed to every check function."""

    def warm_up(self, ctx: SuiteContext[S]) -> bool | None:
        """Begin, in the background, slow preparations that change no result (optional):
        called once for every planned suite at the end of the session's set-up, before any
        suite runs, so that they overlap with the suites that run first (the load suite starts
        the local Ray here). Return True when something was started: such suites run after the
        ones that started nothing (each group in the policy's order), so the preparation has
        their time to finish. Must return at once; an exception is ignored (the suite meets
        the same problem in :meth:`run`, where it is reported)."""
        return None

    def report_data(self, ctx: SuiteContext[S], result: R) -> dict[str, Any]:
        """JSON-able data for the report's pictures (charts, tables). Optional."""
        return {}

    def scan_outputs(self, ctx: SuiteContext[S], result: R | None,
                     paths: Sequence[Path]) -> Sequence[object]:
        """The final scan of the run's outputs (``paths``: the unpublished run folder), after
        report.json, the statement and the page are written. Each item found is a reason not
        to sign the run; ``str(item)`` is one line naming the file and field, never a value.
        ``result`` is this suite's result when it ran, else None. Optional (nothing found)."""
        return []

    def panels(self, record: SuiteRecord[S]) -> list[Panel]:
        """This suite's pictures on the audit page, from its recorded data. Optional: a suite
        without panels is shown with its evidence and its data as recorded."""
        return []

    @classmethod
    def recorded_settings(cls, policy: Mapping[str, Any]) -> SuiteSettings:
        """The suite's settings as a report's canonical policy recorded them (defaults when the
        section is missing or no longer valid)."""
        suites = policy.get("suites") if isinstance(policy, Mapping) else None
        section = suites.get(cls.name) if isinstance(suites, Mapping) else None
        try:
            return cls.settings_model.model_validate(section or {})
        except ValidationError:
            return cls.settings_model()

    def check(self, name: str, fn: Callable[[R], Outcome], *, param: str | None = None,
              description: str = "", required: bool = True) -> CheckSpec[R]:
        return CheckSpec(self.name, name, fn, param=param, description=description, required=required)
