"""``kserve`` (cloud): one InferenceService per model, canaried with ``canaryTrafficPercent``.

Rendered from the plan for each phase of a rollout (``prepare`` at 0 %, one manifest per step,
``promote``, ``rollback``), validated offline against KServe's CRD schema (:mod:`.crd`) and
written to ``manifests/<target>/v<N>/`` in the state folder. Without ``--apply`` that is all (a
dry run; every audit entry says ``dry_run``). With ``--apply`` and the target's kube context, the
certified file is uploaded unchanged to ``<storage_uri>/v<N>/<file>`` (MLflow's artifact stores
do the upload; the copy's digest is checked) and each manifest is applied with the Kubernetes
client (server-side apply, field manager ``certify-deploy``, strict field validation), then the
deploy waits for the InferenceService's ``Ready`` condition (and the canary's traffic share)
within ``timeouts.apply_s``.

Serving runtime: a joblib/pickle file runs in KServe's scikit-learn runtime (``modelFormat:
sklearn``, which loads ``*.joblib``/``*.pkl`` from ``storageUri``); any other format (skops) runs
in the project's own predictor (``python -m certify.deploy.predictor``) in the plan's ``image``,
built from the ``Dockerfile`` rendered next to the manifests; KServe's storage initializer puts
the file under ``/mnt/models`` and the predictor checks its digest before serving.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

from certify.deploy.analysis import StepAnalysis
from certify.deploy.context import DeployContext, Served
from certify.deploy.errors import Reason, StepFailed
from certify.deploy.plan import KServeTarget
from certify.deploy.predictor import INPUTS_ENV, SPEC_ENV
from certify.deploy.registry import sha256_file
from certify.deploy.targets.base import DeployTarget
from certify.deploy.targets.crd import API_VERSION, crd_source, manifest_errors
from certify.errors import ConfigError
from certify.jsonsafe import one_line
from certify.outputs import atomic_write
from certify.version import __version__

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
FIELD_MANAGER = "certify-deploy"
MANIFESTS = "manifests"
PICKLE_FORMATS = ("joblib",)


def runtime_of(spec: KServeTarget, served: Served) -> str:
    if spec.runtime != "auto":
        return spec.runtime
    return "sklearn" if served.spec.get("format") in PICKLE_FORMATS else "custom"


def storage_dir(spec: KServeTarget, version: int) -> str:
    return f"{spec.storage_uri.rstrip('/')}/v{version}"


def render(plan_name: str, target: str, spec: KServeTarget, served: Served, *,
           canary: float | None, certificate: str | None,
           inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The InferenceService serving ``served``; ``canary``: its canaryTrafficPercent;
    ``inputs``: the input columns and dtypes the custom predictor builds its frames with."""
    name = spec.service or plan_name
    runtime = runtime_of(spec, served)
    storage = storage_dir(spec, served.version)
    predictor: dict[str, Any] = {}
    if canary is not None:
        predictor["canaryTrafficPercent"] = int(round(canary))
    if spec.service_account:
        predictor["serviceAccountName"] = spec.service_account
    if runtime == "sklearn":
        predictor["model"] = {"modelFormat": {"name": "sklearn"}, "storageUri": storage + "/"}
    else:
        if not spec.image:
            raise ConfigError(f"targets.{target}: a {served.spec.get('format')} file needs the "
                              f"custom predictor: set targets.{target}.image (runtime 'custom')")
        predictor["containers"] = [{
            "name": "kserve-container", "image": spec.image,
            "args": ["--model-name", name, "--model-file", f"/mnt/models/{served.file}",
                     "--digest", served.digest, "--port", "8080"],
            "env": [{"name": "STORAGE_URI", "value": storage + "/"},
                    {"name": SPEC_ENV, "value": json.dumps(served.spec, sort_keys=True)},
                    {"name": INPUTS_ENV, "value": json.dumps(inputs or {}, sort_keys=True)}],
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        }]
    return {
        "apiVersion": API_VERSION, "kind": "InferenceService",
        "metadata": {
            "name": name, "namespace": spec.namespace,
            "labels": {"app.kubernetes.io/managed-by": "pytest-certify",
                       "certify.dev/model": plan_name},
            "annotations": {"serving.kserve.io/deploymentMode": "Serverless",
                            "certify.dev/version": str(served.version),
                            "certify.dev/digest": served.digest,
                            "certify.dev/certificate": certificate or "uncertified"},
        },
        "spec": {"predictor": predictor},
    }


DOCKERFILE = """\
# The custom predictor for certified skops models (KServe runs it; see the README).
# Build: docker build -t {image} .   (pytest-certify {version} from PyPI or your own index)
FROM python:3.11-slim
RUN pip install --no-cache-dir "pytest-certify=={version}"
ENV OMP_NUM_THREADS=1
EXPOSE 8080
ENTRYPOINT ["python", "-m", "certify.deploy.predictor"]
"""


class KServeDeploy(DeployTarget):
    kind = "kserve"

    def __init__(self, name: str, ctx: DeployContext) -> None:
        super().__init__(name, ctx)
        spec = ctx.plan.targets[name]
        assert isinstance(spec, KServeTarget)
        self.spec = spec
        self.service = spec.service or ctx.plan.name
        self.folder = ctx.plan.state / MANIFESTS / name
        self._api: Any = None
        self.champion: Served | None = None
        if ctx.apply and not spec.context:
            raise ConfigError(f"targets.{name}.context: a kube context is required with --apply")

    @property
    def live(self) -> bool:
        return self.ctx.apply

    # -- manifests ----------------------------------------------------------------------------
    def _write(self, served: Served, phase: str, manifest: dict[str, Any]) -> Path:
        import yaml

        problems = manifest_errors(manifest)
        if problems:
            raise ConfigError(f"targets.{self.name}: the {phase} manifest is not a valid "
                              f"InferenceService (KServe {crd_source()['release']}): "
                              + "; ".join(problems))
        path = self.folder / f"v{served.version}" / f"{phase}.yaml"
        atomic_write(path, yaml.safe_dump(manifest, sort_keys=False))
        atomic_write(self.folder / "last.json", json.dumps(
            {"phase": phase, "file": str(path), "manifest": manifest,
             "applied": self.live}, indent=2) + "\n")
        if runtime_of(self.spec, served) == "custom":
            atomic_write(self.folder / "Dockerfile", DOCKERFILE.format(
                image=self.spec.image, version=__version__))
        return path

    def _phase(self, served: Served, phase: str, canary: float | None) -> dict[str, Any]:
        before = self._current()
        frame = self.ctx.frame()
        manifest = render(self.ctx.plan.name, self.name, self.spec, served, canary=canary,
                          certificate=served.record.certificate_digest,
                          inputs={"features": list(frame.columns), "dtypes": self.ctx.dtypes()})
        path = self._write(served, phase, manifest)
        after: dict[str, Any] = {"manifest": str(path), "version": served.version,
                                 "canaryTrafficPercent": canary, "applied": self.live}
        if self.live:
            self._apply(manifest)
            after["status"] = self._wait(manifest, canary)
        return {"before": before, "after": after, "dry_run": not self.live}

    def _current(self) -> dict[str, Any]:
        path = self.folder / "last.json"
        if not path.is_file():
            return {}
        last = json.loads(path.read_text())
        annotations = last["manifest"]["metadata"]["annotations"]
        return {"phase": last["phase"], "version": int(annotations["certify.dev/version"]),
                "canaryTrafficPercent": last["manifest"]["spec"]["predictor"].get(
                    "canaryTrafficPercent"), "applied": last.get("applied", False)}

    # -- the cluster ----------------------------------------------------------------------------
    @property
    def api(self) -> Any:
        if self._api is None:
            from kubernetes import client, config

            api_client = config.new_client_from_config(
                config_file=str(Path(self.spec.kubeconfig).expanduser())
                if self.spec.kubeconfig else None, context=self.spec.context)
            self._api = client.CustomObjectsApi(api_client)
        return self._api

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn(*args, _request_timeout=(5, 30), **kwargs)
        except ApiException as exc:
            raise StepFailed(Reason.TARGET_DOWN, f"target '{self.name}': {what}: HTTP "
                                                 f"{exc.status} {exc.reason}") from None
        except (HTTPError, OSError) as exc:
            raise StepFailed(Reason.TARGET_DOWN, f"target '{self.name}': {what}: "
                                                 f"{one_line(exc)}") from None

    def _apply(self, manifest: dict[str, Any]) -> None:
        self._call("server-side apply", self.api.patch_namespaced_custom_object, GROUP, VERSION,
                   self.spec.namespace, PLURAL, self.service, manifest,
                   field_manager=FIELD_MANAGER, force=True, field_validation="Strict",
                   _content_type="application/apply-patch+yaml")

    def _get(self) -> dict[str, Any]:
        found: dict[str, Any] = self._call("read", self.api.get_namespaced_custom_object, GROUP,
                                           VERSION, self.spec.namespace, PLURAL, self.service)
        return found

    def _wait(self, manifest: dict[str, Any], canary: float | None) -> dict[str, Any]:
        """Until Ready=True for this generation (and the canary's share), or a failure."""
        deadline = time.monotonic() + self.ctx.plan.timeouts.apply_s
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            obj = self._get()
            status = obj.get("status") or {}
            last = status
            current = status.get("observedGeneration", 0) >= obj["metadata"].get("generation", 0)
            ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"),
                         None)
            if current and ready is not None and ready.get("status") == "False":
                raise StepFailed(Reason.TARGET_DOWN,
                                 f"target '{self.name}': InferenceService {self.service} not "
                                 f"ready: {ready.get('reason')}: {ready.get('message')}")
            if current and ready is not None and ready.get("status") == "True" \
                    and self._traffic_ok(status, canary):
                return {"ready": True, "url": status.get("url"),
                        "observedGeneration": status.get("observedGeneration")}
            time.sleep(0.5)
        raise StepFailed(Reason.TARGET_DOWN,
                         f"target '{self.name}': InferenceService {self.service} not Ready within "
                         f"{self.ctx.plan.timeouts.apply_s:g} s (last status: "
                         f"{json.dumps(last)[:300]})")

    @staticmethod
    def _traffic_ok(status: dict[str, Any], canary: float | None) -> bool:
        traffic = ((status.get("components") or {}).get("predictor") or {}).get("traffic")
        if not traffic or canary is None:
            return True
        latest = [t for t in traffic if t.get("latestRevision")]
        return not latest or int(latest[0].get("percent", -1)) == int(round(canary))

    def _upload(self, served: Served) -> dict[str, Any]:
        """The certified file, unchanged, at <storage_uri>/v<N>/<file>; the copy's digest checked."""
        import tempfile

        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        uri = storage_dir(self.spec, served.version)
        try:
            repo = get_artifact_repository(uri)
            repo.log_artifact(str(served.path))
            with tempfile.TemporaryDirectory(prefix="certify-upload-") as tmp:
                copy = Path(repo.download_artifacts(served.file, dst_path=tmp))
                digest = sha256_file(copy)
        except Exception as exc:  # noqa: BLE001 - any store's failure is this step's failure
            raise StepFailed(Reason.TARGET_DOWN,
                             f"target '{self.name}': upload to {uri} failed: {one_line(exc)}") from None
        if digest != served.digest:
            raise StepFailed(Reason.REGISTRY_DIGEST, f"target '{self.name}': the copy at {uri} has "
                                                     f"digest {digest}, not {served.digest}")
        return {"uri": f"{uri}/{served.file}", "digest": digest}

    # -- the interface ----------------------------------------------------------------------------
    def prepare(self, candidate: Served, champion: Served | None) -> dict[str, Any]:
        self.champion = champion
        upload = self._upload(candidate) if self.live else {
            "planned": f"{storage_dir(self.spec, candidate.version)}/{candidate.file}",
            "digest": candidate.digest}
        out = self._phase(candidate, "00-prepare", 0.0 if champion is not None else None)
        out["after"]["upload"] = upload
        return out

    def parity_url(self, candidate: Served) -> str | None:
        if not self.live:
            return None
        url = (self._get().get("status") or {}).get("url")
        return f"{url.rstrip('/')}/v1/models/{self.service}:predict" if url else None

    def set_weight(self, percent: float, candidate: Served,
                   champion: Served | None) -> dict[str, Any]:
        if champion is None:
            return {"before": self._current(), "after": self._current(), "dry_run": not self.live}
        steps = self.ctx.plan.steps
        index = steps.index(percent) + 1 if percent in steps else 0
        return self._phase(candidate, f"{index:02d}-step-{percent:g}", percent)

    def analyse(self, percent: float, *, compare: bool) -> StepAnalysis | None:
        return None  # the step's Ready condition and traffic share were checked by set_weight

    def promote(self, candidate: Served, champion: Served | None) -> dict[str, Any]:
        return self._phase(candidate, "promote", None)

    def rollback(self, champion: Served | None, candidate_version: int | None) -> dict[str, Any]:
        if champion is None:
            before = self._current()
            if self.live:
                with contextlib.suppress(StepFailed):
                    self._call("delete", self.api.delete_namespaced_custom_object, GROUP,
                               VERSION, self.spec.namespace, PLURAL, self.service)
            return {"before": before, "after": {"deleted": self.service}, "dry_run": not self.live}
        return self._phase(champion, "rollback", None)

    def switch(self, champion: Served) -> dict[str, Any]:
        upload = self._upload(champion) if self.live else None
        out = self._phase(champion, "champion", None)
        out["after"]["upload"] = upload
        return out

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "location": self.spec.location,
                               "service": f"{self.spec.namespace}/{self.service}",
                               "last_manifest": self._current()}
        if self.live:
            try:
                status = self._get().get("status") or {}
                out["live"] = {"url": status.get("url"), "conditions": status.get("conditions"),
                               "traffic": ((status.get("components") or {}).get("predictor")
                                           or {}).get("traffic")}
            except StepFailed as exc:
                out["live"] = {"error": exc.message}
        return out
