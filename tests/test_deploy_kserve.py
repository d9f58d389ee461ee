"""The kserve target: manifests rendered from the plan and validated offline against KServe's CRD
schema; a dry run by default; with --apply, server-side apply through the real Kubernetes client
against a FAKE Kubernetes API (a small HTTP server on 127.0.0.1, in a thread: no cluster can run
here), waiting on the status conditions with a timeout, and a rollback when a step fails. The
candidate's parity is checked against the project's own predictor process over HTTP."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from certify.attest.verify import Keyring
from certify.deploy import operations, rollout
from certify.deploy.audit import read_entries
from certify.deploy.context import DeployContext
from certify.deploy.errors import RolledBack
from certify.deploy.plan import load_plan
from certify.deploy.registry import Registry
from certify.deploy.targets.crd import crd_source, manifest_errors
from certify.errors import ConfigError
from certify.policy import load_policy
from tests.http_model_server import JsonHandler, in_thread
from tests.test_deploy_project import CLOUD_ONLY, Certified, certified_project

PREFIX = "/apis/serving.kserve.io/v1beta1/namespaces/"


@dataclass
class FakeKube:
    """What the fake API server does and saw. ``behaviour``: 'ready', or 'fail-at-<percent>'
    (Ready=False when that canary share is applied), or 'never' (Ready stays Unknown)."""

    behaviour: str = "ready"
    url: str | None = None  # status.url (where the predictor answers)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self, obj: dict[str, Any]) -> dict[str, Any]:
        gen = obj["metadata"]["generation"]
        canary = obj["spec"]["predictor"].get("canaryTrafficPercent")
        if self.behaviour == "never":
            ready = {"type": "Ready", "status": "Unknown", "reason": "Reconciling"}
        elif self.behaviour.startswith("fail-at-") and canary == int(self.behaviour[8:]):
            ready = {"type": "Ready", "status": "False", "reason": "RevisionFailed",
                     "message": "container exited (fake)"}
        else:
            ready = {"type": "Ready", "status": "True"}
        traffic = [{"latestRevision": True, "percent": 100 if canary is None else canary}]
        return {"observedGeneration": gen, "conditions": [ready], "url": self.url,
                "components": {"predictor": {"traffic": traffic}}}


class _Handler(JsonHandler):
    server: _FakeServer

    def _object(self) -> tuple[str, str] | None:
        path = urllib.parse.urlsplit(self.path).path
        if not path.startswith(PREFIX):
            return None
        ns, _, rest = path[len(PREFIX):].partition("/inferenceservices/")
        return (ns, rest) if rest else None

    def _record(self, body: Any = None) -> None:
        parts = urllib.parse.urlsplit(self.path)
        self.server.fake.requests.append({
            "method": self.command, "path": parts.path, "query": urllib.parse.parse_qs(parts.query),
            "content_type": self.headers.get("content-type"),
            "auth": self.headers.get("authorization"), "body": body})

    def do_PATCH(self) -> None:  # noqa: N802 - stdlib naming
        key = self._object()
        body = yaml.safe_load(self.rfile.read(int(self.headers.get("content-length") or 0)))
        self._record(body)
        if key is None or self.headers.get("content-type") != "application/apply-patch+yaml":
            self._send(415, {"kind": "Status", "status": "Failure", "reason": "UnsupportedMediaType"})
            return
        fake = self.server.fake
        with fake.lock:
            old = fake.objects.get(f"{key[0]}/{key[1]}")
            gen = (old["metadata"]["generation"] + (old["spec"] != body["spec"])) if old else 1
            obj = copy.deepcopy(body)
            obj["metadata"]["generation"] = gen
            obj["status"] = fake.status(obj)
            fake.objects[f"{key[0]}/{key[1]}"] = obj
        self._send(200, obj)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        key = self._object()
        self._record()
        obj = self.server.fake.objects.get(f"{key[0]}/{key[1]}") if key else None
        if obj is None:
            self._send(404, {"kind": "Status", "status": "Failure", "reason": "NotFound"})
        else:
            self._send(200, obj)

    def do_DELETE(self) -> None:  # noqa: N802 - stdlib naming
        key = self._object()
        self._record()
        self.server.fake.objects.pop(f"{key[0]}/{key[1]}" if key else "", None)
        self._send(200, {"kind": "Status", "status": "Success"})


class _FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeKube) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


@pytest.fixture
def fake_kube(tmp_path: Path) -> Iterator[tuple[FakeKube, Path]]:
    """A fake Kubernetes API on 127.0.0.1 and a kubeconfig whose context 'fake-kserve' uses it."""
    fake = FakeKube()
    with in_thread(_FakeServer(fake)) as server:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake-kserve",
            "clusters": [{"name": "fake", "cluster": {
                "server": f"http://127.0.0.1:{server.server_address[1]}"}}],
            "users": [{"name": "deployer", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake-kserve", "context": {"cluster": "fake",
                                                             "user": "deployer"}}]}))
        yield fake, kubeconfig


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Certified:
    return certified_project(tmp_path_factory.mktemp("kserve"))


def live_plan(project: Certified, kubeconfig: Path, state: str, **target: Any) -> Path:
    data = copy.deepcopy(CLOUD_ONLY)
    cloud = data["targets"]["cloud"]
    cloud.update({"context": "fake-kserve", "kubeconfig": str(kubeconfig),
                  "storage_uri": (project.root / state / "bucket").as_uri(), **target})
    data["timeouts"] = {"apply_s": 4.0}
    return project.plan(data, name=f"{state}.toml", state=state)


def deploy(plan_path: Path, project: Certified, *, apply: bool) -> rollout.RunResult:
    plan = load_plan(plan_path)
    return rollout.deploy(plan, load_policy(plan.policy_path, check_files=False), project.cert,
                          Keyring.from_dir(project.trust), apply=apply)


def test_the_vendored_crd_names_its_kserve_release() -> None:
    source = crd_source()
    assert source["release"] == "v0.20.0" and source["repository"].endswith("kserve/kserve")
    assert source["path"].endswith("serving.kserve.io_inferenceservices.yaml")
    good = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "credit-risk"},
            "spec": {"predictor": {"canaryTrafficPercent": 10, "model": {
                "modelFormat": {"name": "sklearn"}, "storageUri": "s3://b/m/v2/"}}}}
    assert manifest_errors(good) == []
    bad = copy.deepcopy(good)
    bad["spec"]["predictor"]["canaryTrafficPercnt"] = 10
    bad["spec"]["predictor"]["model"]["storageUri"] = 5
    bad["metadata"]["name"] = "Credit_Risk"
    errors = manifest_errors(bad)
    assert any("'canaryTrafficPercnt' was unexpected" in e for e in errors)
    assert any(e.startswith("spec.predictor.model.storageUri: 5 is not of type 'string'")
               for e in errors)
    assert any(e.startswith("metadata.name") for e in errors)


def test_a_dry_run_renders_valid_manifests_and_applies_nothing(project: Certified) -> None:
    path = project.plan(name="dry.toml", state="dry")
    result = deploy(path, project, apply=False)
    assert result.promoted
    folder = project.root / "dry" / "manifests" / "cloud"
    manifests = sorted((folder / "v1").glob("*.yaml"))
    # a first deploy (no champion) has no canary: the service is created, then promoted
    assert [m.name for m in manifests] == ["00-prepare.yaml", "promote.yaml"]
    for file in manifests:
        manifest = yaml.safe_load(file.read_text())
        assert manifest_errors(manifest) == [], file
    promote = yaml.safe_load((folder / "v1" / "promote.yaml").read_text())
    container = promote["spec"]["predictor"]["containers"][0]  # skops: the custom predictor
    digest = Registry(load_plan(path)).version(1).digest
    assert container["image"] == CLOUD_ONLY["targets"]["cloud"]["image"]
    assert digest in container["args"] and "/mnt/models/candidate.skops" in container["args"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["STORAGE_URI"] == "s3://models-eu/credit-risk/v1/"
    assert json.loads(env["CERTIFY_MODEL_INPUTS"])["features"][0] == "age"
    assert "canaryTrafficPercent" not in promote["spec"]["predictor"]
    assert "pytest-certify==" in (folder / "Dockerfile").read_text()
    entries = [e for e in read_entries(project.root / "dry" / "audit.jsonl")
               if e["target"] == "cloud"]
    assert entries and all(e["dry_run"] for e in entries)


def test_apply_rolls_out_through_the_fake_api_with_server_side_apply(
        project: Certified, fake_kube: tuple[FakeKube, Path]) -> None:
    fake, kubeconfig = fake_kube
    path = live_plan(project, kubeconfig, "live")
    plan = load_plan(path)
    policy = load_policy(plan.policy_path, check_files=False)
    with predictor(project, "credit-risk") as url:
        fake.url = url
        operations.adopt(plan, policy, project.baseline, apply=True)
        result = deploy(path, project, apply=True)
    assert result.promoted and result.version == 2
    patches = [r for r in fake.requests if r["method"] == "PATCH"]
    assert len(patches) == 1 + 1 + 3 + 1  # adopt, prepare, 3 steps, promote
    for request in patches:
        assert request["content_type"] == "application/apply-patch+yaml"
        assert request["query"]["fieldManager"] == ["certify-deploy"]
        assert request["query"]["force"] == ["true"]
        assert request["query"]["fieldValidation"] == ["Strict"]
        assert request["auth"] == "Bearer fake-token"
    shares = [r["body"]["spec"]["predictor"].get("canaryTrafficPercent") for r in patches]
    assert shares == [None, 0, 10, 50, 100, None]
    final = fake.objects["models/credit-risk"]
    assert final["metadata"]["annotations"]["certify.dev/version"] == "2"
    uploaded = project.root / "live" / "bucket" / "v2" / "candidate.skops"
    assert uploaded.read_bytes() == project.candidate.read_bytes()  # uploaded unchanged
    entries = read_entries(project.root / "live" / "audit.jsonl")
    parity = [e for e in entries if e["action"] == "parity"]
    assert parity and parity[0]["result"] == "passed"
    assert parity[0]["details"]["max_abs_diff"] <= 1e-9
    assert not any(e["dry_run"] for e in entries if e["target"] == "cloud")


@pytest.mark.parametrize("behaviour", ["fail-at-50", "never"])
def test_a_failing_or_hanging_step_rolls_back(project: Certified,
                                              fake_kube: tuple[FakeKube, Path],
                                              behaviour: str) -> None:
    fake, kubeconfig = fake_kube
    path = live_plan(project, kubeconfig, f"rb-{behaviour}")
    plan = load_plan(path)
    policy = load_policy(plan.policy_path, check_files=False)
    operations.adopt(plan, policy, project.baseline, apply=True)
    registry = Registry(plan)
    aliases = registry.aliases()
    fake.behaviour = behaviour
    started = time.monotonic()
    with pytest.raises(RolledBack) as info:
        deploy(path, project, apply=True)
    assert time.monotonic() - started < 60  # bounded by timeouts.apply_s, nothing hangs
    assert info.value.reason == "target-down"
    assert registry.aliases() == aliases
    last_patch = [r for r in fake.requests if r["method"] == "PATCH"][-1]
    assert last_patch["body"]["metadata"]["annotations"]["certify.dev/version"] == "1"
    assert "canaryTrafficPercent" not in last_patch["body"]["spec"]["predictor"]
    actions = [(e["action"], e["result"]) for e in read_entries(plan.state / "audit.jsonl")]
    assert ("rollback", "rolled-back" if behaviour != "never" else "failed") in actions


def test_apply_needs_a_kube_context(project: Certified) -> None:
    data = copy.deepcopy(CLOUD_ONLY)
    path = project.plan(data, name="nocontext.toml", state="nocontext")
    with pytest.raises(ConfigError, match="context: a kube context is required"):
        deploy(path, project, apply=True)


class predictor:  # noqa: N801 - used as a context manager, reads like a function
    """The project's own predictor (python -m certify.deploy.predictor) on 127.0.0.1, serving the
    certified candidate file: where the fake API's status.url points."""

    def __init__(self, project: Certified, name: str) -> None:
        self.project, self.name = project, name
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        plan = load_plan(self.project.plan(name="pred.toml", state="pred"))
        ctx = DeployContext.open(plan, load_policy(plan.policy_path, check_files=False))
        spec = {"format": "skops",
                "trusted_types": load_policy(self.project.policy).candidate.trusted_types}
        env = {**os.environ, "CERTIFY_MODEL_SPEC": json.dumps(spec),
               "CERTIFY_MODEL_INPUTS": json.dumps({"features": list(ctx.frame().columns),
                                                   "dtypes": ctx.dtypes()})}
        digest = "sha256:" + hashlib.sha256(self.project.candidate.read_bytes()).hexdigest()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "certify.deploy.predictor", "--model-name", self.name,
             "--model-file", str(self.project.candidate), "--digest", digest,
             "--host", "127.0.0.1", "--port", str(port)], env=env)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/v1/models/{self.name}", timeout=2) as answer:
                    assert json.loads(answer.read())["digest"] == digest
                return url
            except OSError:
                assert self.proc.poll() is None, "the predictor exited"
                time.sleep(0.3)
        raise AssertionError("the predictor did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
