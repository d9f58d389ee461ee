"""``ray_serve`` (on-prem): each registered version is a Ray Serve application of its own,
behind one weighted ingress.

* Cluster: the embedded detached Ray of :mod:`.raylocal` (default) or the plan's ``address``.
* Versions: application ``<plan>-<target>-v<N>`` at route ``/<plan>-<target>/v<N>`` on Serve's
  HTTP proxy (bound to the plan's host, 127.0.0.1 by default), each replica loading the
  registry's bytes and reporting the digest it loaded (``GET`` on its route); a digest that is
  not the certified one fails the step.
* Ingress: a detached Ray actor (:class:`.serve_app.IngressActor`) serving the weighted proxy on
  its own port; its split (routes, weight, seed, sticky header) is set atomically and read back
  over HTTP (``/-/certify/state``), so ``status`` needs no Ray connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
import urllib.request
from typing import Any

from certify.deploy.analysis import StepAnalysis, judge_step
from certify.deploy.context import DeployContext, Served
from certify.deploy.errors import Reason, StepFailed
from certify.deploy.plan import RayServeTarget
from certify.deploy.targets.base import DeployTarget
from certify.deploy.targets.proxy import STATE_PATH
from certify.deploy.targets.raylocal import (
    ClusterInfo,
    connect,
    ensure_cluster,
    free_port,
    load_info,
    running,
    stop_embedded,
)
from certify.deploy.targets.serve_app import IngressActor, ModelReplica
from certify.deploy.traffic import drive, request_bodies
from certify.jsonsafe import one_line

NAMESPACE = "certify-deploy"


def _get_json(url: str, timeout: float = 5.0) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            data: dict[str, Any] = json.loads(response.read())
            return data
    except (OSError, ValueError):
        return None


class RayServeDeploy(DeployTarget):
    kind = "ray_serve"

    def __init__(self, name: str, ctx: DeployContext) -> None:
        super().__init__(name, ctx)
        spec = ctx.plan.targets[name]
        assert isinstance(spec, RayServeTarget)
        self.spec = spec
        self.prefix = f"{ctx.plan.name}-{name}"
        self.info: ClusterInfo | None = None
        self.ray: Any = None
        self._actor: Any = None

    # -- names and URLs ------------------------------------------------------------------------
    def app_name(self, version: int) -> str:
        return f"{self.prefix}-v{version}"

    def route(self, version: int) -> str:
        return f"/{self.prefix}/v{version}"

    def _host(self) -> str:
        return "127.0.0.1" if self.spec.host in ("0.0.0.0", "::", "") else self.spec.host

    def ingress_url(self) -> str | None:
        info = self.info or load_info(self.ctx.plan.state, self.name)
        if info is None or not info.ingress_port:
            return None
        return f"http://{self._host()}:{info.ingress_port}/"

    def version_url(self, version: int) -> str | None:
        info = self.info or load_info(self.ctx.plan.state, self.name)
        if info is None or not info.http_port:
            return None
        return f"http://{self._host()}:{info.http_port}{self.route(version)}"

    # -- the cluster, Serve and the ingress ---------------------------------------------------
    def _connect(self, *, start: bool = True) -> bool:
        if self.ray is not None:
            return True
        plan = self.ctx.plan
        if start:
            self.ctx.progress(f"{self.name}: Ray (embedded on 127.0.0.1 unless an address is set)")
        info = ensure_cluster(plan.state, self.name, address=self.spec.address,
                              num_cpus=self.spec.num_cpus, timeout_s=plan.timeouts.start_s,
                              start=start)
        if info is None:
            return False
        self.ray = connect(info)
        self.info = info
        from ray import serve

        for name in ("ray", "ray.serve"):  # after the import: Serve sets its logger up then
            logging.getLogger(name).setLevel(logging.WARNING)

        port = info.http_port or self.spec.http_port or free_port(self._host())
        serve.start(http_options={"host": self.spec.host, "port": port})
        if info.http_port != port:
            info.http_port = port
            info.save(plan.state)
        self._ingress()
        return True

    def _ingress(self) -> Any:
        if self._actor is not None:
            return self._actor
        ray, info = self.ray, self.info
        assert ray is not None and info is not None
        port = info.ingress_port or self.spec.ingress_port or free_port(self._host())
        actor = ray.remote(IngressActor).options(
            name=f"{self.prefix}-ingress", namespace=NAMESPACE, lifetime="detached",
            num_cpus=0, max_restarts=0, get_if_exists=True,
        ).remote({"upstream_host": self._host(), "upstream_port": info.http_port,
                  "host": self.spec.host, "port": port,
                  "split": {"routes": {}, "weight": 0.0, "seed": self.ctx.seed,
                            "sticky_header": self.spec.sticky_header}})
        timeout = self.ctx.plan.timeouts.start_s
        state = ray.get(actor.state.remote(), timeout=timeout)
        port = state["port"] or ray.get(actor.start.remote(), timeout=timeout)
        if info.ingress_port != port:
            info.ingress_port = int(port)
            info.save(self.ctx.plan.state)
        self._actor = actor
        return actor

    def _configure(self, routes: dict[str, Served], weight: float) -> dict[str, Any]:
        split = {"routes": {role: {"version": s.version, "path": self.route(s.version),
                                   "digest": s.digest} for role, s in routes.items()},
                 "weight": weight if "candidate" in routes and "champion" in routes else 0.0,
                 "seed": self.ctx.seed, "sticky_header": self.spec.sticky_header}
        state: dict[str, Any] = self.ray.get(self._ingress().configure.remote(split),
                                             timeout=self.ctx.plan.timeouts.start_s)
        return _split_view(state.get("config"))

    def _apps(self) -> list[str]:
        from ray import serve

        names = serve.status().applications
        return sorted(n for n in names if n.startswith(f"{self.prefix}-v"))

    def _deploy(self, served: Served) -> dict[str, Any]:
        """Serve ``served`` (unless it already runs with the right digest); check its digest."""
        url = self.version_url(served.version)
        answer = _get_json(url) if url else None
        if answer and answer.get("digest") == served.digest:
            return {"version": served.version, "digest": served.digest, "reused": True}
        from ray import serve

        self.ctx.progress(f"{self.name}: starting Serve application for v{served.version}")
        frame = self.ctx.frame()
        config = {"version": served.version, "digest": served.digest, "file": served.file,
                  "blob": served.path.read_bytes(), "spec": served.spec,
                  "features": list(frame.columns), "dtypes": self.ctx.dtypes(),
                  "loopback": self.info is not None and self.info.embedded}
        deployment: Any = serve.deployment(ModelReplica, name="model",
                                           num_replicas=self.spec.replicas,
                                           ray_actor_options={"num_cpus": 0})
        app = deployment.bind(config)
        name = self.app_name(served.version)
        serve._run(app, _blocking=False, name=name, route_prefix=self.route(served.version))
        self._wait_running(name)
        url = self.version_url(served.version)
        answer = _get_json(url) if url else None
        if not answer or answer.get("digest") != served.digest:
            got = (answer or {}).get("digest", "no answer")
            self._delete(served.version)
            raise StepFailed(Reason.SERVED_DIGEST,
                             f"target '{self.name}': v{served.version} reports digest {got}, not "
                             f"the certified {served.digest}")
        return {"version": served.version, "digest": answer["digest"], "reused": False}

    def _wait_running(self, name: str) -> None:
        from ray import serve

        deadline = time.monotonic() + self.ctx.plan.timeouts.start_s
        status = "?"
        while time.monotonic() < deadline:
            app = serve.status().applications.get(name)
            status = str(app.status.value if app is not None else "missing")
            if status == "RUNNING":
                return
            if status in ("DEPLOY_FAILED", "UNHEALTHY"):
                message = one_line(RuntimeError(getattr(app, "message", "") or status), 300)
                with contextlib.suppress(Exception):
                    serve.delete(name)
                raise StepFailed(Reason.TARGET_DOWN,
                                 f"target '{self.name}': {name} failed to start: {message}")
            time.sleep(0.5)
        with contextlib.suppress(Exception):
            serve.delete(name)
        raise StepFailed(Reason.TARGET_DOWN, f"target '{self.name}': {name} not running after "
                                             f"{self.ctx.plan.timeouts.start_s:g} s ({status})")

    def _delete(self, version: int) -> None:
        from ray import serve

        serve.delete(self.app_name(version))

    def _keep_only(self, versions: set[int]) -> list[str]:
        removed = []
        for name in self._apps():
            version = int(name.rsplit("-v", 1)[1])
            if version not in versions:
                self._delete(version)
                removed.append(name)
        return removed

    # -- the interface ----------------------------------------------------------------------------
    def prepare(self, candidate: Served, champion: Served | None) -> dict[str, Any]:
        self._connect()
        before = self._view()
        if champion is not None:
            self._deploy(champion)
        deployed = self._deploy(candidate)
        routes = {"candidate": candidate} if champion is None else {
            "champion": champion, "candidate": candidate}
        after = self._configure(routes, 0.0)
        return {"before": before, "after": {**after, "apps": self._apps(), "candidate": deployed}}

    def parity_url(self, candidate: Served) -> str | None:
        return self.version_url(candidate.version)

    def set_weight(self, percent: float, candidate: Served,
                   champion: Served | None) -> dict[str, Any]:
        self._connect()
        before = self._view()
        routes = {"candidate": candidate} if champion is None else {
            "champion": champion, "candidate": candidate}
        after = self._configure(routes, percent)
        return {"before": before, "after": after}

    def analyse(self, percent: float, *, compare: bool) -> StepAnalysis | None:
        url = self.ingress_url()
        if url is None:
            raise StepFailed(Reason.TARGET_DOWN, f"target '{self.name}': no ingress")
        a = self.ctx.plan.analysis
        bodies = request_bodies(self.ctx.frame(), count=256, rows_per_request=a.rows_per_request,
                                seed=self.ctx.seed)
        started = time.monotonic()
        rounds = drive(url, bodies, rounds=a.rounds, max_requests=a.max_requests,
                       duration_s=a.duration_s, concurrency=a.concurrency,
                       timeout_s=a.request_timeout_s, seed=self.ctx.seed + int(percent * 100),
                       sticky_header=self.spec.sticky_header)
        step = judge_step(rounds, weight=percent, spec=a, slos=self.ctx.slos(), compare=compare,
                          seed=self.ctx.seed)
        step.elapsed_s = round(time.monotonic() - started, 3)
        return step

    def promote(self, candidate: Served, champion: Served | None) -> dict[str, Any]:
        self._connect()
        before = self._view()
        after = self._configure({"champion": candidate}, 0.0)
        removed = self._keep_only({candidate.version})
        return {"before": before, "after": {**after, "apps": self._apps(), "removed": removed}}

    def rollback(self, champion: Served | None, candidate_version: int | None) -> dict[str, Any]:
        if not self._connect(start=False):  # nothing runs: nothing serves the candidate either
            return {"before": {}, "after": {"running": False}}
        before = self._view()
        if champion is not None:
            self._deploy(champion)
        after = self._configure({"champion": champion} if champion else {}, 0.0)
        removed = self._keep_only({champion.version} if champion else set())
        return {"before": before, "after": {**after, "apps": self._apps(), "removed": removed}}

    def switch(self, champion: Served) -> dict[str, Any]:
        self._connect()
        before = self._view()
        deployed = self._deploy(champion)
        after = self._configure({"champion": champion}, 0.0)
        removed = self._keep_only({champion.version})
        return {"before": before, "after": {**after, "apps": self._apps(), "removed": removed,
                                            "champion": deployed}}

    def _view(self) -> dict[str, Any]:
        url = self.ingress_url()
        state = _get_json(url.rstrip("/") + STATE_PATH.decode()) if url else None
        return _split_view(state.get("config") if state else None)

    def status(self) -> dict[str, Any]:
        info = self.info or load_info(self.ctx.plan.state, self.name)
        up = running(info)
        out: dict[str, Any] = {"kind": self.kind, "location": self.spec.location,
                               "cluster": None if info is None else {
                                   "address": info.address, "embedded": info.embedded,
                                   "running": up}}
        if not up:
            return out
        url = self.ingress_url()
        state = _get_json(url.rstrip("/") + STATE_PATH.decode()) if url else None
        out["ingress"] = {"url": url, "answering": state is not None, **_split_view(
            state.get("config") if state else None)}
        if state is not None:
            out["ingress"]["counts"] = state.get("counts")
            served = {}
            for role, route in (state.get("config") or {}).get("routes", {}).items():
                answer = _get_json(self.version_url(int(route["version"])) or "")
                served[role] = {"version": route["version"],
                                "digest": (answer or {}).get("digest"),
                                "answering": answer is not None}
            out["deployments"] = served
        return out

    def snapshot(self) -> dict[str, Any]:
        view = self._view()
        apps = self._apps() if self._connect(start=False) else []
        return {"split": view, "apps": apps}

    def stop(self) -> dict[str, Any]:
        info = self.info or load_info(self.ctx.plan.state, self.name)
        if info is None:
            return {"stopped": False, "why": "nothing recorded"}
        if info.embedded:
            self.close()
            count = stop_embedded(info)
            with contextlib.suppress(FileNotFoundError):
                (self.ctx.plan.state / "ray" / f"{self.name}.json").unlink()
            shutil.rmtree(info.temp_dir, ignore_errors=True)  # Ray's sockets and session logs
            return {"stopped": True, "processes": count, "address": info.address}
        if self._connect(start=False):
            removed = self._keep_only(set())
            with contextlib.suppress(Exception):
                self.ray.kill(self.ray.get_actor(f"{self.prefix}-ingress", namespace=NAMESPACE))
            self.close()
            return {"stopped": True, "removed": removed, "address": info.address}
        return {"stopped": False, "why": "cluster not reachable"}

    def close(self) -> None:
        if self.ray is not None:
            with contextlib.suppress(Exception):
                self.ray.shutdown()
            self.ray = None
            self._actor = None


def _split_view(config: dict[str, Any] | None) -> dict[str, Any]:
    """Routes and weight as the audit log and status show them."""
    if not config:
        return {"champion": None, "candidate": None, "weight": None}
    routes = config.get("routes") or {}
    return {"champion": (routes.get("champion") or {}).get("version"),
            "candidate": (routes.get("candidate") or {}).get("version"),
            "weight": config.get("weight")}
