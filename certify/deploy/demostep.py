"""The deploy step of ``certify demo``, as one call, so that the demo only has to write the plan
(:func:`demo_plan`, rendered with its own TOML writer) and call :func:`run_demo_deploy` after a
CERTIFIED run: adopt the demo baseline as the first champion, register the candidate and roll it
out on the embedded on-prem target through the canary steps with live analysis, render the cloud
manifests (a dry run), and stop the embedded serving, whatever happened."""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certify.attest.verify import Keyring
from certify.deploy import operations
from certify.deploy.errors import DeployError
from certify.deploy.plan import load_plan
from certify.deploy.rollout import deploy
from certify.policy import load_policy

if TYPE_CHECKING:
    from certify.deploy.targets.raylocal import ClusterInfo

#: The demo's plan: pii may be processed on-prem and in one cloud region.
DEMO_PLAN: dict[str, Any] = {
    "name": "credit-risk", "policy": "certify.toml", "state_dir": "deploy-state",
    "steps": [10, 50, 100],
    "analysis": {"duration_s": 2.0, "max_requests": 120, "rounds": 2, "concurrency": 2,
                 "latency_metric": "p50_ms", "latency_margin": 1.0, "latency_slack_ms": 5.0},
    "parity": {"sample": 32},
    "data_classes": {"pii": {"locations": ["on_prem", "eu-west-1"]}},
    "targets": {
        "onprem": {"kind": "ray_serve", "location": "on_prem", "data_classes": ["pii"],
                   "sticky_header": "X-Customer"},
        "cloud": {"kind": "kserve", "location": "eu-west-1", "data_classes": ["pii"],
                  "namespace": "models", "storage_uri": "s3://certify-demo-models/credit-risk",
                  "image": "registry.example.com/certify-predictor:0.1.0"},
    },
}


def demo_plan(*, policy: str = "certify.toml", cloud_region: str = "eu-west-1",
              analysis: dict[str, Any] | None = None) -> dict[str, Any]:
    """The demo's deploy.toml as data. ``cloud_region`` other than eu-west-1 breaks residency
    (the residency sabotage: refused at validation)."""
    plan = copy.deepcopy(DEMO_PLAN)
    plan["policy"] = policy
    plan["targets"]["cloud"]["location"] = cloud_region
    plan["analysis"].update(analysis or {})
    return plan


def run_demo_deploy(plan_path: Path, certificate: Path, trust: Path, baseline: Path, *,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Adopt ``baseline``, roll the certified candidate out, stop the embedded serving.

    Returns ``{"outcome": "promoted" | "rolled back" | "refused" | "locked", "reason", "message",
    "version", "audit_log", "manifests", "steps"}``; the embedded Ray is stopped in every case.
    """
    plan = load_plan(plan_path)  # residency: raises Refused before anything exists
    policy = load_policy(plan.policy_path, check_files=False)
    out: dict[str, Any] = {"audit_log": str(plan.state / "audit.jsonl"),
                           "manifests": str(plan.state / "manifests"), "reason": None,
                           "message": None, "version": None, "steps": []}
    try:
        if "champion" not in operations.current_aliases(plan):
            operations.adopt(plan, policy, baseline, progress=progress)
        result = deploy(plan, policy, certificate, Keyring.from_dir(trust), progress=progress)
        out.update(outcome="promoted", version=result.version, steps=result.steps,
                   parity=result.parity)
    except DeployError as exc:
        kind = {"RolledBack": "rolled back", "Refused": "refused", "Locked": "locked"}
        out.update(outcome=kind.get(type(exc).__name__, "failed"), reason=exc.reason,
                   message=exc.message)
    finally:
        operations.stop(plan, policy)
    return out


class Prestart:
    """The on-prem target's embedded Ray, started in the background while the certification
    runs (the demo's cores are half idle then): the deploy finds it running and uses it, which
    takes its start-up (10-15 s on two cores) off the demo's wall time; the certification's
    suites join it too (:meth:`address`), and the deploy's imports are done here as well. A
    plan that does not load (residency) starts nothing: the deploy refuses it as before."""

    def __init__(self, plan_path: Path) -> None:
        self.plan_path = plan_path
        self.error: BaseException | None = None
        self._cluster = threading.Event()  # the cluster's start has ended (well or not)
        self._thread = threading.Thread(target=self._start, name="certify-demo-prestart",
                                        daemon=True)
        self._thread.start()

    def _start(self) -> None:
        from certify.deploy.targets.raylocal import driver_env, ensure_cluster

        try:
            plan = load_plan(self.plan_path)
            for name, spec in plan.ray_targets().items():
                if spec.address:
                    continue
                ensure_cluster(plan.state, name, address=None, num_cpus=spec.num_cpus,
                               timeout_s=plan.timeouts.start_s, start=True)
            # how this process talks to it (Ray reads it when first imported, just below)
            driver_env()
            # Ray and Serve imported whole before the suites may import Ray from another
            # thread (two threads importing it at once: "partially initialized module 'ray'")
            with contextlib.suppress(Exception):  # the deploy imports them again and says why
                from ray import serve  # noqa: F401
        except BaseException as exc:  # noqa: BLE001 - the deploy step meets and reports it
            self.error = exc
            return
        finally:
            self._cluster.set()
        # The registry's empty database (4 s of CPU on two cores), here while the certification
        # leaves a core idle, not on the deploy's path.
        with contextlib.suppress(Exception):  # the deploy does it again and says why
            from certify.deploy.registry import Registry

            registry = Registry(plan)
            if registry.embedded:
                registry.client  # noqa: B018 - its database created (empty) now

    def join(self) -> None:
        self._thread.join()

    def _running(self) -> list[ClusterInfo]:
        """The plan's embedded clusters that are running (their saved cluster info)."""
        from certify.deploy.targets.raylocal import load_info, running

        try:
            plan = load_plan(self.plan_path)
        except DeployError:
            return []
        infos = [load_info(plan.state, name) for name in plan.ray_targets()]
        return [info for info in infos if info is not None and info.embedded and running(info)]

    def address(self) -> str | None:
        """The address of the first embedded cluster, once started (waits for the start under
        way), with this process set to talk to it; None when it did not start. The demo's
        certification joins it (:func:`certify.raycluster.join_cluster`): one Ray start on two
        cores instead of two at once."""
        from certify.deploy.targets.raylocal import driver_env

        self._cluster.wait()
        if self.error is not None:
            return None
        running = self._running()
        if not running:
            return None
        driver_env()
        return running[0].address

    def discard(self) -> None:
        """No deploy after all (not certified): stop what was started."""
        from certify.deploy.targets.raylocal import stop_embedded

        self.join()
        for info in self._running():
            stop_embedded(info)
