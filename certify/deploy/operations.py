"""``certify deploy status | rollback | adopt | stop``: reading the state back, and the changes
made outside a rollout. Each change is audited and anchored like a rollout's."""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from certify.attest.revocation import RevocationList
from certify.attest.verify import Keyring
from certify.deploy import journal
from certify.deploy.admission import model_spec, verify_registered
from certify.deploy.context import DeployContext, Served
from certify.deploy.errors import Reason, Refused, StepFailed
from certify.deploy.locks import holders
from certify.deploy.plan import DeployPlan
from certify.deploy.registry import CANDIDATE, CHAMPION, PREVIOUS, TAG, Registry
from certify.deploy.rollout import locked, make_targets, roll_back
from certify.errors import ConfigError
from certify.jsonsafe import one_line
from certify.models import load_model
from certify.policy import ModelSpec, Policy

AUDIT_TAIL = 5


def status(plan: DeployPlan, policy: Policy) -> dict[str, Any]:
    """Per target: champion and candidate (registry and live), weights, the step in progress,
    the last audit entries, and who holds its lock."""
    ctx = DeployContext.open(plan, policy, sign=False)
    registry = ctx.registry
    aliases = registry.aliases() if registry.exists() else {}
    pending = journal.read(plan.state)
    locks = holders(plan.state)
    out: dict[str, Any] = {
        "plan": str(plan.source), "state": str(plan.state), "registry": registry.public_uri(),
        "aliases": aliases,
        "versions": {a: registry.version(v).brief() for a, v in aliases.items()},
        "rollout": None, "targets": {},
        "audit": {"log": str(ctx.audit.path), "last": ctx.audit.tail(AUDIT_TAIL)},
    }
    if pending is not None:
        out["rollout"] = {"version": pending.version, "phase": pending.phase,
                          "step": None if pending.step is None else pending.step + 1,
                          "steps": pending.steps, "weight": pending.weight,
                          "finished": pending.finished, "interrupted": pending.interrupted,
                          "reason": pending.reason, "summary": pending.describe(),
                          "champion_before": pending.champion_before}
    for name, target in make_targets(ctx).items():
        live = target.status()
        holder = locks.get(name)
        live["lock"] = None if holder is None else {
            "holder": holder.describe(), "stale": holder.stale(plan.timeouts.lock_stale_s)}
        live["registry"] = {"champion": aliases.get(CHAMPION), "candidate": aliases.get(CANDIDATE)}
        out["targets"][name] = live
        target.close()
    return out


def rollback(plan: DeployPlan, policy: Policy, *, to: int | None = None,
             keyring: Keyring | None = None, revocations: RevocationList | None = None,
             progress: Callable[[str], None] | None = None, apply: bool = False,
             now: dt.datetime | None = None) -> dict[str, Any]:
    """Back to the champion (ending a rollout in progress or interrupted), or ``to`` an older
    registered version whose certificate verifies (an expired one is accepted here only)."""
    ctx = DeployContext.open(plan, policy, progress=progress, apply=apply)
    registry = ctx.registry
    if not registry.exists():
        raise Refused(Reason.NO_CHAMPION, "nothing was deployed with this plan yet")
    with locked(ctx, "certify deploy rollback"):
        if to is not None:
            return _rollback_to(ctx, to, keyring, revocations, now)
        pending = journal.read(plan.state)
        aliases = registry.aliases()
        if pending is not None and not pending.finished:
            rollout = pending
        else:
            rollout = journal.Rollout(version=aliases.get(CANDIDATE, 0), certificate=None,
                                      steps=[], champion_before=aliases.get(CHAMPION),
                                      previous_before=aliases.get(PREVIOUS),
                                      targets=sorted(plan.targets))
        champion = (ctx.served(registry.version(rollout.champion_before))
                    if rollout.champion_before else None)
        targets = make_targets(ctx)
        try:
            ctx.certificate = champion.record.certificate_digest if champion else None
            reason = StepFailed("requested", "`certify deploy rollback`" + (
                f" of the unfinished rollout of v{pending.version} ({pending.phase})"
                if pending is not None and not pending.finished else ""))
            roll_back(ctx, targets, rollout, champion, reason, persist=rollout is pending)
        finally:
            for target in targets.values():
                target.close()
        return {"result": "rolled back", "champion": rollout.champion_before,
                "candidate": rollout.version or None, "aliases": registry.aliases()}


def _rollback_to(ctx: DeployContext, version: int, keyring: Keyring | None,
                 revocations: RevocationList | None, now: dt.datetime | None) -> dict[str, Any]:
    registry = ctx.registry
    record = registry.version(version)
    if record.uncertified:
        raise Refused(Reason.UNCERTIFIED, f"version {version} was adopted uncertified: "
                                          "rollback --to needs a certificate that verifies")
    if keyring is None:
        raise Refused(Reason.UNCERTIFIED, "rollback --to needs --trust (or --key) to verify "
                                          f"version {version}'s certificate")
    served = ctx.served(record)  # digest checked against the version's subject digest
    with tempfile.TemporaryDirectory(prefix="certify-rollback-") as tmp:
        cert = registry.fetch_certificate(record, Path(tmp))
        assert cert is not None
        verified, expired = verify_registered(record, cert, served.path, keyring,
                                              revocations=revocations, now=now)
    ctx.certificate = verified.digest
    ctx.record("rollback-verify", result="admitted", details={
        "version": version, "keyid": verified.keyid, "expired": expired,
        "note": ("an expired certificate, accepted for a rollback only" if expired else
                 "certificate valid")})
    before = registry.aliases()
    switch_all(ctx, served)
    current = before.get(CHAMPION)
    if current is not None and current != version:
        registry.set_alias(PREVIOUS, current)
    registry.set_alias(CHAMPION, version)
    registry.delete_alias(CANDIDATE)
    registry.set_version_tag(version, "status", "champion")
    ctx.record("registry-rollback", before={"aliases": before},
               after={"aliases": registry.aliases()}, result="rolled-back",
               details={"to": version, "expired": expired})
    pending = journal.read(ctx.plan.state)
    if pending is not None and not pending.finished:
        journal.write(ctx.plan.state, pending, phase="rolled-back", step=None, weight=0.0,
                      reason=f"rollback --to {version}")
    return {"result": "rolled back", "champion": version, "expired": expired,
            "aliases": registry.aliases()}


def adopt(plan: DeployPlan, policy: Policy, model: Path, *,
          progress: Callable[[str], None] | None = None, apply: bool = False) -> dict[str, Any]:
    """Record an existing, uncertified production model as the first champion and serve it."""
    ctx = DeployContext.open(plan, policy, progress=progress, apply=apply)
    registry = ctx.registry
    if not model.is_file():
        raise ConfigError(f"--model: file not found: {model}")
    with locked(ctx, "certify deploy adopt"):
        current = registry.aliases().get(CHAMPION) if registry.exists() else None
        if current is not None:
            raise Refused(Reason.HAS_CHAMPION, f"version {current} is already the champion: "
                                               "adoption is for a first rollout only")
        spec = _spec_for(policy, model)
        load_model(ModelSpec.model_validate({**spec, "path": str(model)}), model.parent,
                   "baseline")  # it must load the way it will be served
        record = registry.register(model, spec=spec, tags={
            TAG + "uncertified": "true", TAG + "status": "adopting",
            TAG + "plan_digest": plan.digest(), TAG + "adopted_at": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        details = {"version": record.version, "file": record.file, "digest": record.digest,
                   "note": "an existing production model, recorded as the first champion "
                           "without a certificate"}
        try:
            switch_all(ctx, ctx.served(record))
        except BaseException as exc:
            # Not served everywhere: not the champion. The version stays, marked as such.
            registry.set_version_tag(record.version, "status", "adopt-failed")
            ctx.record("adopt", result="failed", details={**details, "error": one_line(exc)})
            raise
        registry.set_alias(CHAMPION, record.version)
        registry.set_version_tag(record.version, "status", "champion")
        ctx.record("adopt", result="uncertified", after={"aliases": registry.aliases()},
                   details=details)
        return {"result": "adopted", "version": record.version, "digest": record.digest,
                "aliases": registry.aliases()}


def switch_all(ctx: DeployContext, served: Served) -> None:
    """Every target serves ``served`` alone (audited per target)."""
    targets = make_targets(ctx)
    try:
        for name, target in targets.items():
            out = target.switch(served)
            ctx.record("switch", target=name, before=out["before"], after=out["after"],
                       dry_run=bool(out.get("dry_run")))
    finally:
        for target in targets.values():
            target.close()


def _spec_for(policy: Policy, model: Path) -> dict[str, Any]:
    """How to load an adopted file: the policy's baseline entry when it is that file, else the
    candidate's (same format, same trusted types)."""
    base = policy.baseline
    if base is not None and base.path and policy.resolve(base.path).resolve() == model.resolve():
        return model_spec(base)
    return model_spec(policy.candidate)


def stop(plan: DeployPlan, policy: Policy) -> dict[str, Any]:
    """Stop the embedded on-prem serving (the registry and the log stay)."""
    ctx = DeployContext.open(plan, policy)
    out = {}
    with locked(ctx, "certify deploy stop"):
        for name, target in make_targets(ctx).items():
            if target.kind != "ray_serve":
                continue
            result = target.stop()
            out[name] = result
            if result.get("stopped"):
                ctx.record("stop", target=name, after=result)
    return out


def current_aliases(plan: DeployPlan) -> dict[str, int]:
    """The registry's deploy aliases (empty when nothing was registered yet)."""
    registry = Registry(plan)
    return registry.aliases() if registry.exists() else {}
