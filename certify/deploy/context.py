"""What every part of one deploy command shares: the plan, the certified policy, the registry,
the audit log (each entry anchored in the registry and, with a key, checkpointed), the seed,
the evaluation rows, and the version being served."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from certify.attest.signer import ENV_PASSPHRASE, EnvSigner, FileSigner, Signer
from certify.data import load_table
from certify.deploy.audit import AUDIT_LOG, AuditLog
from certify.deploy.plan import SLO_METRICS, DeployPlan
from certify.deploy.registry import Registry, VersionRecord
from certify.environment import builder, ci_info
from certify.policy import Policy

#: Environment variable with the audit checkpoint signing key (PEM text or a path).
ENV_AUDIT_KEY = "CERTIFY_AUDIT_SIGNING_KEY"


def actor() -> str:
    """Who acts: the CI run when there is one, else user@host."""
    ci = ci_info()
    if ci.get("system"):
        return f"ci:{ci['system']}:{ci.get('run_id') or '?'}"
    return builder()


def audit_signer(plan: DeployPlan) -> Signer | None:
    phrase = os.environ.get(ENV_PASSPHRASE) or None
    passphrase = phrase.encode() if phrase else None
    value = os.environ.get(ENV_AUDIT_KEY, "").strip()
    if value:
        if "-----BEGIN" in value:
            return EnvSigner(value, passphrase, variable=ENV_AUDIT_KEY)
        return FileSigner(Path(value).expanduser(), passphrase)
    if plan.audit_signing_key:
        return FileSigner(plan.resolve(plan.audit_signing_key), passphrase)
    return None


@dataclass(frozen=True)
class Served:
    """A registered version as the targets serve it: its bytes checked against its digest."""

    record: VersionRecord
    path: Path
    spec: dict[str, Any]

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def digest(self) -> str:
        return self.record.digest

    @property
    def file(self) -> str:
        return self.record.file


@dataclass
class DeployContext:
    plan: DeployPlan
    policy: Policy
    registry: Registry
    audit: AuditLog
    apply: bool = False
    certificate: str | None = None
    progress: Callable[[str], None] = field(default=lambda message: None)
    _frame: pd.DataFrame | None = None

    @classmethod
    def open(cls, plan: DeployPlan, policy: Policy, *, apply: bool = False,
             progress: Callable[[str], None] | None = None, sign: bool = True) -> DeployContext:
        """``sign=False``: read only (no checkpoint signer is loaded)."""
        state = plan.state
        audit = AuditLog(state / AUDIT_LOG, actor=actor(), plan_digest=plan.digest(),
                         signer=audit_signer(plan) if sign else None)
        return cls(plan=plan, policy=policy, registry=Registry(plan), audit=audit, apply=apply,
                   progress=progress or (lambda message: None))

    @property
    def seed(self) -> int:
        return self.plan.seed if self.plan.seed is not None else self.policy.seed

    def record(self, action: str, **fields: Any) -> dict[str, Any]:
        """Append an audit entry, then anchor it in the registry (and checkpoint it)."""
        entry = self.audit.append(action, certificate=fields.pop("certificate", self.certificate),
                                  **fields)
        anchor = self.audit.anchor()
        if anchor is not None:
            self.registry.set_anchor(anchor)
        self.audit.checkpoint()
        return entry

    # -- the evaluation rows ------------------------------------------------------------------
    def frame(self) -> pd.DataFrame:
        """The evaluation rows, model inputs only, in model order."""
        if self._frame is None:
            data = load_table(self.policy.resolve(self.policy.data.evaluation), "data.evaluation")
            features = self.policy.data.features or [c for c in data.columns
                                                     if c != self.policy.data.target]
            self._frame = data[features].reset_index(drop=True)
        return self._frame

    def dtypes(self) -> dict[str, str]:
        frame = self.frame()
        return {c: str(frame[c].dtype) for c in frame.columns}

    def slos(self) -> dict[str, float]:
        """The absolute SLOs of a step: the plan's, else the certified policy's load fail levels."""
        if self.plan.analysis.slos is not None:
            return dict(self.plan.analysis.slos)
        thresholds = self.policy.suite_settings("load").thresholds
        return {m: float(t.fail) for m, t in thresholds.items() if m in SLO_METRICS}

    def served(self, record: VersionRecord) -> Served:
        """Download ``record``'s file from the registry (digest checked) and how to load it."""
        path = self.registry.fetch(record)
        return Served(record=record, path=path, spec=self.registry.fetch_spec(record))
