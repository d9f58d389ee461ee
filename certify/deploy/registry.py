"""The MLflow Model Registry: certified versions, their tags and aliases, and the audit anchor.

By default an embedded SQLite store in the state folder (``registry.db``, artifacts under
``mlartifacts/``); the plan's ``registry.tracking_uri`` or ``MLFLOW_TRACKING_URI`` names a team's
server instead. The certified file is registered *unchanged*: logged as a plain artifact of a
registration run (``model/<file>``; not re-serialised by ``log_model``, which would change its
digest), with the drift baseline beside it (``model/drift-baseline/``), the certificate
(``certificate/``) and how to load it (``spec/model-spec.json``). The version is tagged with
the certificate digest, subject digest, policy digest, verdict, run id, signer keyid, issue and
expiry times. Aliases: ``candidate`` during a rollout, ``champion`` after promotion,
``previous`` for the one it replaced. :meth:`Registry.fetch` downloads a version's file and
checks its digest again. The registered model's tag ``certify.audit.anchor`` holds the audit anchor.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certify.deploy.audit import Anchor
from certify.deploy.errors import Reason, Refused
from certify.deploy.plan import DeployPlan

EMBEDDED_DB = "registry.db"
EMBEDDED_ARTIFACTS = "mlartifacts"
CACHE = "cache"
TAG = "certify."
CANDIDATE, CHAMPION, PREVIOUS = "candidate", "champion", "previous"
ALIASES = (CANDIDATE, CHAMPION, PREVIOUS)


@dataclass(frozen=True)
class VersionRecord:
    """One registered version as the deploy step reads it."""

    version: int
    source: str
    tags: dict[str, str]

    def tag(self, name: str) -> str | None:
        return self.tags.get(TAG + name)

    @property
    def digest(self) -> str:
        return self.tags.get(TAG + "subject_digest", "")

    @property
    def file(self) -> str:
        return self.tags.get(TAG + "file", "")

    @property
    def certificate_digest(self) -> str | None:
        return self.tag("certificate_digest")

    @property
    def uncertified(self) -> bool:
        return self.tag("uncertified") == "true"

    @property
    def issued_at(self) -> dt.datetime | None:
        value = self.tag("issued_at")
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None

    def brief(self) -> dict[str, Any]:
        return {"version": self.version, "digest": self.digest,
                "certificate": self.certificate_digest, "uncertified": self.uncertified}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def _quiet() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


class Registry:
    """The plan's registered model (named after the plan) in its MLflow registry."""

    def __init__(self, plan: DeployPlan) -> None:
        self.plan = plan
        self.name = plan.name
        self.state = plan.state
        configured = plan.registry.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        self.embedded = not configured
        self.uri = configured or f"sqlite:///{self.state / EMBEDDED_DB}"
        self._client: Any = None

    # -- plumbing ----------------------------------------------------------------------------
    def exists(self) -> bool:
        """False for an embedded registry not created yet (reading must not create it)."""
        return not self.embedded or (self.state / EMBEDDED_DB).is_file()

    @property
    def client(self) -> Any:
        if self._client is None:
            _quiet()
            from mlflow import MlflowClient

            self.state.mkdir(parents=True, exist_ok=True)
            self._client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        return self._client

    def public_uri(self) -> str:
        return "embedded: " + str(self.state / EMBEDDED_DB) if self.embedded else self.uri

    def _model(self) -> Any | None:
        if not self.exists():
            return None
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_registered_model(self.name)
        except MlflowException as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")):
                return None
            raise

    def _ensure_model(self) -> Any:
        model = self._model()
        if model is None:
            self.client.create_registered_model(
                self.name, tags={TAG + "managed_by": "pytest-certify deploy"},
                description="Certified model versions (pytest-certify deploy).")
            model = self.client.get_registered_model(self.name)
        return model

    # -- reading -----------------------------------------------------------------------------
    def aliases(self) -> dict[str, int]:
        model = self._model()
        if model is None:
            return {}
        return {alias: int(v) for alias, v in dict(model.aliases or {}).items()}

    def version(self, version: int) -> VersionRecord:
        mv = self.client.get_model_version(self.name, str(version))
        return VersionRecord(int(mv.version), str(mv.source), dict(mv.tags or {}))

    def versions(self) -> list[VersionRecord]:
        if self._model() is None:
            return []
        found = self.client.search_model_versions(f"name='{self.name}'")
        return sorted((VersionRecord(int(mv.version), str(mv.source), dict(mv.tags or {}))
                       for mv in found), key=lambda v: v.version)

    def by_alias(self, alias: str) -> VersionRecord | None:
        version = self.aliases().get(alias)
        return None if version is None else self.version(version)

    def snapshot(self) -> dict[str, Any]:
        """What a test compares before and after: aliases and every version's digest."""
        return {"aliases": self.aliases(),
                "versions": {v.version: v.digest for v in self.versions()}}

    # -- writing -----------------------------------------------------------------------------
    def register(self, file: Path, *, spec: dict[str, Any], tags: dict[str, str],
                 drift_baseline: Path | None = None, certificate: Path | None = None,
                 run_tags: dict[str, str] | None = None) -> VersionRecord:
        """A new version holding ``file`` byte for byte (and its baseline and certificate)."""
        client = self.client
        self._ensure_model()
        experiment = client.get_experiment_by_name(self.plan.registry.experiment)
        if experiment is None:
            location = ((self.state / EMBEDDED_ARTIFACTS).as_uri() if self.embedded else None)
            experiment_id = client.create_experiment(self.plan.registry.experiment,
                                                     artifact_location=location)
        else:
            experiment_id = experiment.experiment_id
        run = client.create_run(experiment_id, run_name=f"register-{file.name}",
                                tags={TAG + "kind": "registration", **(run_tags or {})})
        run_id = run.info.run_id
        with tempfile.TemporaryDirectory(prefix="certify-register-") as tmp:
            spec_file = Path(tmp) / "model-spec.json"
            spec_file.write_text(json.dumps(spec, indent=2, sort_keys=True))
            client.log_artifact(run_id, str(file), "model")
            if drift_baseline is not None:
                client.log_artifacts(run_id, str(drift_baseline), "model/drift-baseline")
            if certificate is not None:
                client.log_artifact(run_id, str(certificate), "certificate")
            client.log_artifact(run_id, str(spec_file), "spec")
        client.set_terminated(run_id)
        digest = sha256_file(file)
        all_tags = {**tags, TAG + "file": file.name, TAG + "subject_digest": digest}
        mv = client.create_model_version(self.name, source=f"{run.info.artifact_uri}/model",
                                         run_id=run_id, tags=all_tags)
        return self.version(int(mv.version))

    def set_alias(self, alias: str, version: int) -> None:
        self.client.set_registered_model_alias(self.name, alias, str(version))

    def delete_alias(self, alias: str) -> None:
        if alias in self.aliases():
            self.client.delete_registered_model_alias(self.name, alias)

    def restore_aliases(self, aliases: dict[str, int]) -> None:
        """Make the deploy aliases exactly ``aliases`` (others are left alone)."""
        current = self.aliases()
        for alias in ALIASES:
            want = aliases.get(alias)
            if want is None:
                if alias in current:
                    self.delete_alias(alias)
            elif current.get(alias) != want:
                self.set_alias(alias, want)

    def set_version_tag(self, version: int, key: str, value: str) -> None:
        self.client.set_model_version_tag(self.name, str(version), TAG + key, value)

    # -- artifacts ----------------------------------------------------------------------------
    def _download(self, version: VersionRecord, relpath: str, dest: Path) -> Path:
        _quiet()
        import mlflow.artifacts

        run_root = version.source.rsplit("/model", 1)[0]
        dest.mkdir(parents=True, exist_ok=True)
        out = mlflow.artifacts.download_artifacts(artifact_uri=f"{run_root}/{relpath}",
                                                  dst_path=str(dest), tracking_uri=self.uri)
        return Path(out)

    def fetch(self, version: VersionRecord) -> Path:
        """The version's file, downloaded into the state folder's cache, its digest checked
        against the version's certified subject digest (a mismatch is refused)."""
        folder = self.state / CACHE / f"v{version.version}"
        shutil.rmtree(folder, ignore_errors=True)
        path = self._download(version, f"model/{version.file}", folder)
        actual = sha256_file(path)
        if actual != version.digest:
            raise Refused(Reason.REGISTRY_DIGEST,
                          f"registry version {version.version}: the stored {version.file} has "
                          f"digest {actual[:23]}…, not the certified {version.digest[:23]}…")
        return path

    def fetch_spec(self, version: VersionRecord) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="certify-spec-") as tmp:
            path = self._download(version, "spec/model-spec.json", Path(tmp))
            data: dict[str, Any] = json.loads(path.read_text())
        return data

    def fetch_certificate(self, version: VersionRecord, dest: Path) -> Path | None:
        if version.uncertified:
            return None
        return self._download(version, "certificate", dest) / "certificate.intoto.json"

    def fetch_drift_baseline(self, version: VersionRecord, dest: Path) -> Path | None:
        from mlflow.exceptions import MlflowException

        try:
            return self._download(version, "model/drift-baseline", dest)
        except (MlflowException, OSError):
            return None

    # -- the audit anchor ----------------------------------------------------------------------
    def anchor(self) -> Anchor | None:
        model = self._model()
        value = dict(model.tags or {}).get(TAG + "audit.anchor") if model is not None else None
        if value is None:
            return None
        data = json.loads(value)
        return Anchor(log=str(data["log"]), seq=int(data["seq"]), hash=str(data["hash"]))

    def set_anchor(self, anchor: Anchor) -> None:
        """One tag, written in one call: an anchor is never half updated."""
        self._ensure_model()
        self.client.set_registered_model_tag(
            self.name, TAG + "audit.anchor",
            json.dumps({"log": anchor.log, "seq": anchor.seq, "hash": anchor.hash}))


def find_anchor(tracking_uri: str, log_id: str) -> tuple[str, Anchor] | None:
    """The registered model (name, anchor) whose audit anchor is for the log ``log_id`` (the
    hash of its first entry), in the registry at ``tracking_uri``."""
    _quiet()
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    for model in client.search_registered_models():
        value = dict(model.tags or {}).get(TAG + "audit.anchor")
        if value is None:
            continue
        data = json.loads(value)
        if data.get("log") == log_id:
            return str(model.name), Anchor(log=str(data["log"]), seq=int(data["seq"]),
                                           hash=str(data["hash"]))
    return None
