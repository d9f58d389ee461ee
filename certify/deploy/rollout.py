"""``certify deploy run``: gate, register, roll out through the canary steps, promote, or roll
back automatically.

Order, each action audited (and anchored in the registry) as it happens:

1. the gate (:mod:`.admission`), read-only: a refusal changes nothing anywhere and is not
   written to the audit log (the log records what changed; the refusal is the command's
   output and exit status 1);
2. the targets' locks (a second deploy exits 1 naming the holder; a stale lock is taken over,
   audited); an interrupted rollout still pending is refused (``rollback`` ends it first);
3. registration: the certified file unchanged, alias ``candidate``, its registered bytes
   downloaded again and checked against the certificate's subject digest;
4. per target ``prepare`` (the candidate deployed at weight 0, reporting its digest), then
   parity on every live target;
5. each step: weight, analysis, judgement; a failing step rolls back every target (weight 0,
   candidate removed) and restores the aliases, then exits 1 with the reason;
6. promotion: ``previous`` <- old champion, ``champion`` <- candidate, ``candidate`` removed, the
   targets serve only the new champion.

A first deploy (no champion) runs one step at 100 % with parity and the absolute SLOs only.
The journal (:mod:`.journal`) records each phase so that a killed deploy is reported truthfully.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certify.attest.revocation import RevocationList
from certify.attest.verify import Keyring
from certify.deploy import journal
from certify.deploy.admission import Admission, admit, check_order, model_spec
from certify.deploy.context import DeployContext, Served
from certify.deploy.errors import DeployError, Reason, Refused, RolledBack, StepFailed
from certify.deploy.locks import TargetLock
from certify.deploy.parity import check_parity, parity_sample
from certify.deploy.plan import DeployPlan
from certify.deploy.registry import CANDIDATE, CHAMPION, PREVIOUS
from certify.deploy.targets.base import DeployTarget
from certify.deploy.targets.kserve import KServeDeploy
from certify.deploy.targets.ray_serve import RayServeDeploy
from certify.jsonsafe import one_line
from certify.models import load_model
from certify.policy import ModelSpec, Policy

TARGET_KINDS: dict[str, type[DeployTarget]] = {"ray_serve": RayServeDeploy,
                                                "kserve": KServeDeploy}


def make_targets(ctx: DeployContext) -> dict[str, DeployTarget]:
    """The plan's targets, on-prem ones first (they are live; a cloud dry run follows them)."""
    order = sorted(ctx.plan.targets.items(), key=lambda kv: (kv[1].kind != "ray_serve", kv[0]))
    return {name: TARGET_KINDS[spec.kind](name, ctx) for name, spec in order}


@contextlib.contextmanager
def locked(ctx: DeployContext, command: str) -> Iterator[list[TargetLock]]:
    """Every target's lock, in name order; stale holders taken over are audited."""
    with contextlib.ExitStack() as stack:
        locks = [stack.enter_context(TargetLock(ctx.plan.state, name, actor=ctx.audit.actor,
                                                command=command,
                                                stale_s=ctx.plan.timeouts.lock_stale_s))
                 for name in sorted(ctx.plan.targets)]
        for lock in locks:
            if lock.taken_over is not None:
                holder, why = lock.taken_over
                ctx.record("lock-takeover", target=lock.target, result="taken-over",
                           before={"holder": holder.describe()}, details={"why": why})
        yield locks


def refuse_pending(state: Path, *, interrupted_only: bool = False) -> None:
    """Refuse while a rollout is unfinished (before the locks: only an interrupted one, whose
    process is gone; a live one holds the locks and is named by them)."""
    pending = journal.read(state)
    if pending is not None and not pending.finished and (
            pending.interrupted or not interrupted_only):
        raise Refused(Reason.INTERRUPTED,
                      f"an unfinished rollout is pending ({pending.describe()}): see `certify "
                      "deploy status`; `certify deploy rollback` returns to the champion")


@dataclass
class RunResult:
    version: int
    promoted: bool
    first_deploy: bool
    steps: list[dict[str, Any]] = field(default_factory=list)
    parity: list[dict[str, Any]] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    audit_log: str = ""
    registry: str = ""

    def summary(self) -> dict[str, Any]:
        return {"result": "promoted" if self.promoted else "not promoted",
                "version": self.version, "firstDeploy": self.first_deploy,
                "targets": self.targets, "parity": self.parity, "steps": self.steps,
                "auditLog": self.audit_log, "registry": self.registry}


def deploy(plan: DeployPlan, policy: Policy, certificate: Path, keyring: Keyring, *,
           revocations: RevocationList | None = None, apply: bool = False,
           progress: Callable[[str], None] | None = None,
           now: dt.datetime | None = None) -> RunResult:
    """Gate, register, roll out and promote (or roll back, raising :class:`RolledBack`)."""
    ctx = DeployContext.open(plan, policy, apply=apply, progress=progress)
    registry = ctx.registry
    champion = registry.by_alias(CHAMPION) if registry.exists() else None
    ctx.progress("gate: verifying the certificate (same code as certify gate)")
    admission = admit(policy, certificate, keyring, revocations=revocations, champion=champion,
                      now=now)
    refuse_pending(plan.state, interrupted_only=True)
    with locked(ctx, "certify deploy run"):
        refuse_pending(plan.state)  # again, now that no other deploy can start one
        champion = registry.by_alias(CHAMPION) if registry.exists() else None
        check_order(admission.verified, champion)
        ctx.certificate = admission.digest
        ctx.record("gate", result="admitted", details={
            "subject": admission.subject_digest, "keyid": admission.verified.keyid,
            "checked": admission.decision.checked, "runId": admission.verified.predicate.run_id,
            "expiresAt": admission.verified.predicate.expires_at.isoformat()})
        candidate = _register(ctx, admission)
        champion_served = ctx.served(champion) if champion is not None else None
        rollout = journal.write(plan.state, journal.Rollout(
            version=candidate.version, certificate=admission.digest, steps=list(plan.steps),
            champion_before=champion.version if champion else None,
            previous_before=registry.aliases().get(PREVIOUS), targets=sorted(plan.targets)))
        result = RunResult(version=candidate.version, promoted=False,
                           first_deploy=champion is None, targets=sorted(plan.targets),
                           audit_log=str(ctx.audit.path), registry=registry.public_uri())
        targets = make_targets(ctx)
        try:
            _roll_out(ctx, targets, candidate, champion_served, rollout, result)
            _promote(ctx, targets, candidate, champion_served, rollout)
            result.promoted = True
            return result
        except BaseException as exc:
            failure = exc if isinstance(exc, StepFailed) else StepFailed(
                "interrupted" if isinstance(exc, KeyboardInterrupt) else "error", one_line(exc))
            ctx.progress(f"rolling back: {failure.diagnostics()}")
            roll_back(ctx, targets, rollout, champion_served, failure)
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise RolledBack(failure.reason, f"rolled back to "
                             f"{'v' + str(champion.version) if champion else 'no champion'}: "
                             f"{failure.message}") from None
        finally:
            for target in targets.values():
                target.close()


def _register(ctx: DeployContext, admission: Admission) -> Served:
    registry = ctx.registry
    before = registry.aliases()
    ctx.progress("registry: registering the certified file unchanged")
    record = registry.register(admission.artifact, spec=model_spec(admission.policy.candidate),
                               tags=admission.tags(ctx.plan.digest()),
                               drift_baseline=admission.drift_baseline,
                               certificate=admission.certificate)
    served = ctx.served(record)  # the registry's bytes, downloaded and checked again
    if served.digest != admission.subject_digest:
        raise Refused(Reason.REGISTRY_DIGEST,
                      f"registry version {record.version} holds {served.digest}, the certificate "
                      f"names {admission.subject_digest}")
    registry.set_alias(CANDIDATE, record.version)
    ctx.record("register", before={"aliases": before},
               after={"version": record.version, "aliases": registry.aliases()},
               details={"file": record.file, "digest": record.digest, "source": record.source,
                        "registry": registry.public_uri(),
                        "driftBaseline": bool(admission.drift_baseline)})
    return served


def _roll_out(ctx: DeployContext, targets: dict[str, DeployTarget], candidate: Served,
              champion: Served | None, rollout: journal.Rollout, result: RunResult) -> None:
    for name, target in targets.items():
        out = target.prepare(candidate, champion)
        ctx.record("prepare", target=name, before=out["before"], after=out["after"],
                   dry_run=bool(out.get("dry_run")))
    journal.write(ctx.plan.state, rollout, phase="prepared")
    _parity(ctx, targets, candidate, result)
    steps = ctx.plan.steps if champion is not None else [100.0]
    for index, weight in enumerate(steps):
        journal.write(ctx.plan.state, rollout, phase="step", step=index, weight=weight)
        ctx.progress(f"step {index + 1}/{len(steps)}: {weight:g}% to v{candidate.version}")
        for name, target in targets.items():
            out = target.set_weight(weight, candidate, champion)
            ctx.record("weight", target=name, before=out["before"], after=out["after"],
                       details={"step": index + 1, "weight": weight},
                       dry_run=bool(out.get("dry_run")))
        for name, target in targets.items():
            step = target.analyse(weight, compare=champion is not None)
            if step is None:
                continue
            result.steps.append({"target": name, "step": index + 1, **step.record()})
            ctx.record("analysis", target=name, result="passed" if step.passed else "failed",
                       details={"step": index + 1, **step.record()})
            if not step.passed:
                raise StepFailed(Reason.ANALYSIS, f"step {index + 1} ({weight:g}%) on "
                                                  f"'{name}': {'; '.join(step.reasons)}")


def _parity(ctx: DeployContext, targets: dict[str, DeployTarget], candidate: Served,
            result: RunResult) -> None:
    live = {name: t.parity_url(candidate) for name, t in targets.items()}
    if not any(live.values()):
        return
    spec = ModelSpec.model_validate({**candidate.spec, "path": str(candidate.path)})
    model = load_model(spec, candidate.path.parent, "candidate")
    sample = parity_sample(ctx.frame(), ctx.plan.parity.sample, ctx.seed)
    for name, url in live.items():
        if url is None:
            ctx.record("parity", target=name, result="skipped", details={"why": "not live"},
                       dry_run=True)
            continue
        outcome = check_parity(url, model, sample, tolerance=ctx.plan.parity.tolerance,
                               require_probabilities=targets[name].kind == "ray_serve")
        result.parity.append({"target": name, **outcome.record()})
        ctx.record("parity", target=name, result="passed" if outcome.passed else "failed",
                   details=outcome.record())
        if not outcome.passed:
            raise StepFailed(Reason.PARITY, f"parity on '{name}': {outcome.reason}")


def _promote(ctx: DeployContext, targets: dict[str, DeployTarget], candidate: Served,
             champion: Served | None, rollout: journal.Rollout) -> None:
    registry = ctx.registry
    journal.write(ctx.plan.state, rollout, phase="promoting")
    before = registry.aliases()
    if champion is not None:
        registry.set_alias(PREVIOUS, champion.version)
        registry.set_version_tag(champion.version, "status", "previous")
    registry.set_alias(CHAMPION, candidate.version)
    registry.delete_alias(CANDIDATE)
    registry.set_version_tag(candidate.version, "status", "champion")
    ctx.record("registry-promote", before={"aliases": before},
               after={"aliases": registry.aliases()})
    for name, target in targets.items():
        out = target.promote(candidate, champion)
        ctx.record("promote", target=name, before=out["before"], after=out["after"],
                   dry_run=bool(out.get("dry_run")))
    journal.write(ctx.plan.state, rollout, phase="promoted", step=None, weight=100.0)
    ctx.record("promoted", result="done", details={"version": candidate.version,
                                                   "previous": champion.version if champion else None})


def roll_back(ctx: DeployContext, targets: dict[str, DeployTarget], rollout: journal.Rollout,
              champion: Served | None, failure: DeployError, *, persist: bool = True) -> None:
    """Every target back to the champion alone, the aliases as before the rollout (best
    effort per target: one target's failure does not stop the others). ``persist``: the
    rollout is the journal's (False for a `rollback` with no rollout pending)."""
    registry = ctx.registry
    if persist:
        journal.write(ctx.plan.state, rollout, phase="rolling-back", reason=failure.diagnostics())
    for name, target in targets.items():
        try:
            out = target.rollback(champion, rollout.version)
            ctx.record("rollback", target=name, result="rolled-back", before=out["before"],
                       after=out["after"], details={"reason": failure.diagnostics()},
                       dry_run=bool(out.get("dry_run")))
        except Exception as exc:  # noqa: BLE001 - recorded; `rollback` can be run again
            ctx.record("rollback", target=name, result="failed",
                       details={"reason": failure.diagnostics(), "error": one_line(exc)})
    before = registry.aliases()
    wanted = {CHAMPION: rollout.champion_before, PREVIOUS: rollout.previous_before}
    registry.restore_aliases({alias: v for alias, v in wanted.items() if v is not None})
    if rollout.version:
        with contextlib.suppress(Exception):
            registry.set_version_tag(rollout.version, "status", "rolled-back")
    ctx.record("registry-rollback", before={"aliases": before},
               after={"aliases": registry.aliases()}, result="rolled-back",
               details={"version": rollout.version or None, "reason": failure.diagnostics()})
    if persist:
        journal.write(ctx.plan.state, rollout, phase="rolled-back", step=None, weight=0.0)
