"""Shared by the deploy tests (no tests of its own): a real certification project with a signing
key, certified for real (CERTIFIED, signed), and deploy plans written next to it."""

from __future__ import annotations

import copy
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certify.attest.keys import write_key_pair
from certify.demo import render_policy
from certify.policy import load_policy
from certify.session import CertifySession, RunResult
from tests.projects import make_project

PASSPHRASE_ENV = "TEST_CERTIFY_DEPLOY_PASSPHRASE"
PASSPHRASE = "deploy phrase"

#: A plan for the tests that need no Ray: one cloud target, a dry run unless --apply.
CLOUD_ONLY: dict[str, Any] = {
    "name": "credit-risk", "policy": "certify.toml", "steps": [10, 50, 100],
    "data_classes": {"pii": {"locations": ["on_prem", "eu-west-1"]}},
    "targets": {"cloud": {"kind": "kserve", "location": "eu-west-1", "data_classes": ["pii"],
                          "namespace": "models", "storage_uri": "s3://models-eu/credit-risk",
                          "image": "registry.example.com/certify-predictor:0.1.0"}},
}


@dataclass
class Certified:
    root: Path
    policy: Path
    result: RunResult
    trust: Path

    @property
    def cert(self) -> Path:
        assert self.result.certificate_path is not None
        return self.result.certificate_path

    @property
    def candidate(self) -> Path:
        return self.root / "models" / "candidate.skops"

    @property
    def baseline(self) -> Path:
        return self.root / "models" / "baseline.skops"

    def plan(self, plan: dict[str, Any] | None = None, name: str = "deploy.toml",
             state: str | None = None) -> Path:
        data = copy.deepcopy(plan if plan is not None else CLOUD_ONLY)
        if state is not None:
            data["state_dir"] = state
        path = self.root / name
        path.write_text(render_policy(data))
        return path

    def certify_again(self) -> Path:
        """A second CERTIFIED certificate of the same file and policy (issued later)."""
        return certify(self.policy).certificate_path or Path("missing")

    def clone(self, dest: Path) -> Certified:
        """The same project (files, certificate, trust) in ``dest``, to break on purpose."""
        shutil.copytree(self.root, dest, ignore=shutil.ignore_patterns(
            "registry.db", "mlartifacts", "audit*.jsonl", "manifests", "cache", "locks", "ray",
            "rollout.json"))
        run = dest / self.result.run_dir.relative_to(self.root)
        result = RunResult(**{**vars(self.result), "run_dir": run,
                              "certificate_path": run / self.cert.name})
        return Certified(dest, dest / self.policy.name, result, dest / "trust")


def certify(policy: Path) -> RunResult:
    old = {k: os.environ.get(k) for k in (PASSPHRASE_ENV, "CERTIFY_SIGNING_KEY")}
    os.environ[PASSPHRASE_ENV] = PASSPHRASE
    os.environ.pop("CERTIFY_SIGNING_KEY", None)
    try:
        session = CertifySession(load_policy(policy))
        session.setup()
        try:
            session.run_all()
        except BaseException:
            session.abort()
            raise
        result = session.finish()
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert result.verdict.certified, result.verdict.reasons
    assert result.certificate_path is not None
    return result


def certified_project(root: Path, *, suites: dict[str, Any] | None = None,
                      candidate: Any | None = None) -> Certified:
    """A credit-risk project (income is sensitive), certified and signed for real."""
    _, public, _ = write_key_pair(root / "keys" / "release", passphrase=PASSPHRASE.encode())
    trust = root / "trust"
    trust.mkdir(parents=True)
    shutil.copy(public, trust / "release.pub")
    policy = make_project(
        root, candidate=candidate, n_reference=800, n_evaluation=400,
        suites=suites or {"quality": {"bootstrap": 50, "margin": 0.2}},
        extra={"sensitive_columns": ["income"],
               "signing": {"key": "keys/release.key", "passphrase_env": PASSPHRASE_ENV,
                           "valid_for_days": 7}})
    return Certified(root, policy, certify(policy), trust)
