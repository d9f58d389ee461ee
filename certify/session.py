"""CertifySession: one certification run, independent of pytest.

The pytest plugin drives it (one pytest item per planned check); ``certify.run`` drives
pytest; tests drive it directly with :meth:`CertifySession.run_all`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import os
import shlex
import sys
import time
import traceback
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certify.attest.issue import issue
from certify.attest.signer import Signer, signer_from_policy
from certify.data import Dataset, load_dataset
from certify.environment import fingerprint, provenance
from certify.errors import CertifyError, ConfigError
from certify.evidence import Comparison, Evidence, Outcome, Status, matches, worst
from certify.jsonsafe import one_line
from certify.masking import Masker
from certify.models import Model, load_model
from certify.models.isolated import IsolatedModel, Limits, isolate
from certify.outputs import (
    CERTIFICATE,
    DRIFT_BASELINE,
    PUBLIC_KEY,
    REPORT_JSON,
    RunDir,
    atomic_write,
    directory_digest,
    directory_manifest,
)
from certify.policy import ModelSpec, Policy
from certify.registry import reporters, suite_classes
from certify.report import DataInfo, ModelInfo, Report, RunRecord, SuiteSummary, WaiverInfo
from certify.suite import CheckSpec, Suite, SuiteContext
from certify.verdict import Planned, Verdict, decide
from certify.version import __version__


@dataclass
class _SuiteState:
    suite: Suite
    ctx: SuiteContext
    required: bool
    checks: list[CheckSpec] = field(default_factory=list)
    ran: bool = False
    result: Any = None
    error: str | None = None
    duration_s: float = 0.0
    #: Its warm_up started something in the background: it runs after those that did not.
    warming: bool = False


@dataclass
class RunResult:
    """What a finished certification hands back."""

    verdict: Verdict
    run_dir: Path
    report_path: Path
    certificate_path: Path | None = None
    html_path: Path | None = None
    outputs: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class UserCheckOutcome:
    """How one of the project's own ``@pytest.mark.certify`` tests ended, as the driver saw it."""

    id: str
    suite: str
    required: bool
    #: "passed", "failed" (an assertion), "skipped", or "errored" (any other exception).
    outcome: str
    message: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    duration_s: float = 0.0
    description: str = ""


class CertifySession:
    """Holds one run: policy, models, data, suites, plan, evidence."""

    def __init__(self, policy: Policy, *, out_dir: Path | None = None, seed: int | None = None,
                 command: list[str] | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.policy = policy
        self.seed = policy.seed if seed is None else seed
        self.out_root = (out_dir if out_dir is not None else policy.resolve(policy.output_dir)).resolve()
        self.command = command or [sys.executable, "-m", "certify", *sys.argv[1:]]
        self.progress = progress or (lambda message: None)
        self.started_at = dt.datetime.now(dt.UTC)
        self.evidence: dict[str, Evidence] = {}
        self.user_planned: list[Planned] = []
        self.suites: dict[str, _SuiteState] = {}
        self.run_dir: RunDir | None = None
        self.signer: Signer | None = None
        self.candidate: Model
        self.baseline: Model | None = None
        self._models: list[Model] = []
        self._report: Report
        self._outputs: dict[str, Path] = {}
        self.data: Dataset

    # -- set-up and planning -----------------------------------------------------------
    def setup(self) -> None:
        """Load models and data, plan every check. Raises :class:`CertifyError` on bad input,
        naming the policy file, and leaves nothing behind (no run folder)."""
        try:
            self._setup()
        except CertifyError as exc:
            self.abort()
            where = str(self.policy.source) if self.policy.source else None
            if where and where not in exc.message:
                exc.message = f"{where}: {exc.message}"
                exc.args = (exc.message,)
            raise
        except Exception:
            self.abort()
            raise

    def _setup(self) -> None:
        policy = self.policy
        self.data = load_dataset(
            policy.resolve(policy.data.reference), policy.resolve(policy.data.evaluation),
            target=policy.data.target, features=policy.data.features, task=policy.task,
            overrides=policy.data.columns, sensitive=policy.sensitive_columns,
        )
        self._check_columns()
        self.candidate = self._load_model(policy.candidate, "candidate")
        if policy.baseline is not None:
            self.baseline = self._load_model(policy.baseline, "baseline")
        self._check_model(self.candidate, "candidate")
        if self.baseline is not None:
            self._check_model(self.baseline, "baseline")
        # A configured but unusable key fails now, before any suite runs.
        self.signer = signer_from_policy(policy)
        self.masker = Masker.from_env()  # one key per run: equal values, equal pseudonyms
        self.run_dir = RunDir(self.out_root)
        classes = suite_classes()
        required = set(policy.required())
        for name in policy.enabled_suites():
            suite = classes[name]()
            ctx = SuiteContext(
                name=name, policy=policy, settings=policy.suite_settings(name),
                candidate=self.candidate, baseline=self.baseline, data=self.data,
                seed=self.seed, run_dir=self.run_dir.path, output_root=self.out_root,
                progress=self.progress, masker=self.masker,
                recorded_evidence=lambda: tuple(self.evidence.values()),
            )
            state = _SuiteState(suite, ctx, required=name in required)
            try:
                state.checks = suite.checks(ctx)
            except CertifyError:
                raise
            except Exception as exc:  # noqa: BLE001 - a broken suite errors, it does not crash
                state.error = f"planning failed: {one_line(exc)}"
                state.checks = [suite.check("plan", lambda _r: Outcome(status=Status.ERRORED,
                                                                      reason="planning failed"))]
            self.suites[name] = state
        for state in self.suites.values():
            if state.error is None:
                # optional: a suite meets the same problem in its run, where it is reported
                with contextlib.suppress(Exception):
                    state.warming = bool(state.suite.warm_up(state.ctx))

    def _load_model(self, spec: ModelSpec, role: str) -> Model:
        """Load a model; an in-process one answers from its own worker process unless the policy
        says ``isolation.mode = "none"`` (see :mod:`certify.models.isolated`)."""
        model = load_model(spec, self.policy.base_dir, role)
        isolation = self.policy.isolation
        if isolation.mode == "none":
            return model
        limits = Limits(memory_mb=isolation.memory_limit_mb or Limits.default_memory_mb(),
                        call_timeout_s=isolation.call_timeout_s)
        isolated = isolate(model, spec, self.policy.base_dir, role, limits, isolation.threads)
        self._models.append(isolated)
        return isolated

    def close_models(self) -> None:
        """End the models' worker processes (the run is over or thrown away)."""
        for model in self._models:
            if isinstance(model, IsolatedModel):
                model.close()
        self._models.clear()

    def _check_columns(self) -> None:
        """Columns the policy names must exist: a typo in ``sensitive_columns`` would otherwise
        write the real column raw into every output."""
        policy = self.policy
        known = set(self.data.reference.columns) | set(self.data.evaluation.columns)
        for key, columns in (("sensitive_columns", policy.sensitive_columns),
                             ("protected_attributes", policy.protected_attributes)):
            for col in columns:
                if col not in known:
                    raise ConfigError(f"{key}: column '{col}' is in neither data file "
                                      f"(columns: {', '.join(sorted(map(str, known)))})")

    def _check_model(self, model: Model, role: str) -> None:
        """Score a few evaluation rows: a model that cannot score the data, or whose output has
        the wrong shape, is one clear error naming the model and the data file."""
        schema = self.data.schema
        if model.task != schema.task:
            raise CertifyError(f"{role}: model {model.name} is a {model.task} model but the data's "
                               f"task is {schema.task}")
        sample = self.data.X().head(8)
        try:
            model.predict(sample)
            if model.predict_proba is not None:
                model.predict_proba(sample)
        except CertifyError:
            raise
        except Exception as exc:  # noqa: BLE001 - a model that cannot score the data is bad input
            raise ConfigError(
                f"{role}: model {model.name} cannot score the first rows of "
                f"{self.policy.data.evaluation}: {one_line(exc)}") from None

    def not_run(self) -> list[str]:
        """Planned checks with no evidence: the run was narrowed (``-k``, ``-x``, ``-m``)."""
        return [p.id for p in self.planned_ids() if p.id not in self.evidence]

    @property
    def planned(self) -> list[CheckSpec]:
        """Every planned check in running order: the suites whose warm-up started something in
        the background after the others (see :meth:`Suite.warm_up`), a suite that audits the
        run (:attr:`Suite.audits_run`) last, each group in the policy's order."""
        order = sorted(self.suites.values(),
                       key=lambda state: (state.suite.audits_run, state.warming))
        return [spec for state in order for spec in state.checks]

    def planned_ids(self) -> list[Planned]:
        builtin = [Planned(s.id, s.suite, s.required) for s in self.planned]
        return builtin + self.user_planned

    # -- running ---------------------------------------------------------------------
    def _ensure_ran(self, state: _SuiteState) -> None:
        if state.ran:
            return
        state.ran = True
        if state.error is not None:
            return
        self.progress(f"running suite {state.ctx.name}")
        start = time.perf_counter()
        try:
            state.result = state.suite.run(state.ctx)
        except Exception as exc:  # noqa: BLE001 - every suite failure becomes errored evidence
            state.error = one_line(exc)
            if os.environ.get("CERTIFY_DEBUG"):
                traceback.print_exc()
        state.duration_s = time.perf_counter() - start

    def run_check(self, spec: CheckSpec) -> Evidence:
        """Run one planned check (its suite first, once) and record its evidence."""
        state = self.suites[spec.suite]
        self._ensure_ran(state)
        start = time.perf_counter()
        if state.error is not None:
            outcome = Outcome(status=Status.ERRORED, reason=f"suite {spec.suite} failed: {state.error}")
        else:
            try:
                outcome = spec.fn(state.result)
            except Exception as exc:  # noqa: BLE001
                outcome = Outcome(status=Status.ERRORED, reason=f"check raised {one_line(exc)}")
        evidence = Evidence(
            id=spec.id, suite=spec.suite, status=outcome.status, reason=outcome.reason,
            required=spec.required, metrics=outcome.metrics, comparisons=outcome.comparisons,
            artifacts=outcome.artifacts, details=outcome.details, seed=self.seed,
            duration_s=round(time.perf_counter() - start, 6), description=spec.description,
        )
        self.record(evidence)
        return evidence

    def record(self, evidence: Evidence) -> None:
        self.evidence[evidence.id] = evidence

    def record_user_check(self, check: UserCheckOutcome) -> Evidence:
        """Evidence for one of the project's own certification checks.

        An assertion is ``failed``, a skip ``skipped``, any other exception ``errored``; a passing
        test whose recorded comparisons crossed a warn level is ``warned``.
        """
        status = Status(check.outcome)
        reason = check.message or status.value
        if status is Status.PASSED and check.comparisons:
            status = worst([c.status for c in check.comparisons])
            if status is Status.WARNED:
                reason = "; ".join(f"{c.metric}={c.value:.4g} past warn level {c.warn}"
                                   for c in check.comparisons if c.status is Status.WARNED)
        evidence = Evidence(
            id=check.id, suite=check.suite, status=status, reason=reason, required=check.required,
            metrics=dict(check.metrics), comparisons=list(check.comparisons), seed=self.seed,
            duration_s=round(check.duration_s, 6), description=check.description,
        )
        self.record(evidence)
        return evidence

    def run_all(self) -> None:
        for spec in self.planned:
            self.run_check(spec)

    # -- finishing -------------------------------------------------------------------
    def decide(self, today: dt.date | None = None, blockers: Sequence[str] = ()
               ) -> tuple[Verdict, list[Evidence]]:
        return decide(self.policy, list(self.evidence.values()), planned=self.planned_ids(),
                      today=today, blockers=blockers)

    def build_report(self, today: dt.date | None = None, blockers: Sequence[str] = ()) -> Report:
        assert self.run_dir is not None
        verdict, records = self.decide(today, blockers)
        today = today or dt.datetime.now(dt.UTC).date()

        def model_info(model: Model, role: str) -> ModelInfo:
            return ModelInfo(role=role, name=model.name, format=model.format, source=model.source,
                             digest=model.digest, task=model.task, classes=model.classes)

        suites = {}
        for name, state in self.suites.items():
            mine = [r for r in records if r.suite == name]
            pictures: dict[str, Any] = {}
            if state.ran and state.error is None:
                try:
                    pictures = state.suite.report_data(state.ctx, state.result)
                except Exception as exc:  # noqa: BLE001 - pictures are optional, evidence is not
                    pictures = {"error": one_line(exc)}
            suites[name] = SuiteSummary(
                name=name, required=state.required, description=state.suite.description,
                counts={s.value: sum(1 for r in mine if r.status is s) for s in Status},
                duration_s=round(state.duration_s, 3), error=state.error, data=pictures,
            )
        for record in records:  # the user's own certification checks, grouped by their suite
            if record.suite not in suites:
                suites[record.suite] = SuiteSummary(name=record.suite, required=True,
                                                    description="project certification checks")
            if record.suite not in self.suites:
                summary = suites[record.suite]
                summary.counts[record.status.value] = summary.counts.get(record.status.value, 0) + 1
        waivers = [
            WaiverInfo(check=w.check, reason=w.reason, approver=w.approver,
                       expires=w.expires.isoformat(), expired=w.expires < today,
                       applied_to=[r.id for r in records if r.waiver and r.waiver.pattern == w.check
                                   and matches(w.check, r.id)])
            for w in self.policy.waivers
        ]
        data = self.data
        drift_dir = self.run_dir.path / DRIFT_BASELINE
        drift_baseline = None
        if drift_dir.is_dir():
            drift_baseline = {"path": DRIFT_BASELINE, "digest": directory_digest(drift_dir),
                              "files": [{"path": rel, "sha256": digest}
                                        for rel, digest in directory_manifest(drift_dir)]}
        report = Report(
            run_id=self.run_dir.run_id,
            harness_version=__version__,
            started_at=self.started_at.isoformat(timespec="seconds"),
            finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            command=self.command,
            policy_path=str(self.policy.source) if self.policy.source else None,
            policy_digest=self.policy.digest(),
            policy=self.policy.canonical(),  # hashes to policy_digest
            seed=self.seed,
            candidate=model_info(self.candidate, "candidate"),
            baseline=model_info(self.baseline, "baseline") if self.baseline else None,
            data=[
                DataInfo(role="reference", path=str(data.reference_path), digest=data.reference_digest,
                         rows=len(data.reference), columns=data.reference.shape[1]),
                DataInfo(role="evaluation", path=str(data.evaluation_path),
                         digest=data.evaluation_digest, rows=len(data.evaluation),
                         columns=data.evaluation.shape[1]),
            ],
            schema=data.schema.redacted(),
            sensitive_columns=list(self.policy.sensitive_columns),
            environment=fingerprint(),
            provenance=provenance(self.policy.base_dir),
            verdict=verdict,
            suites=suites,
            evidence=records,
            waivers=waivers,
            drift_baseline=drift_baseline,
        )
        return report

    def finish(self, today: dt.date | None = None) -> RunResult:
        """Decide, write every output into the run folder, publish it.

        report.json first, then the statement and certificate (:func:`certify.attest.issue.issue`),
        then every reporter with the read-only :class:`RunRecord` (summary.md, the HTML page, CI
        summaries, third-party reporters). The suites' final scans (:meth:`Suite.scan_outputs`)
        read the folder after report.json and again after the reporters: anything they find keeps
        the run from being signed and makes it INCOMPLETE, saying why (never the value). Anything
        that fails throws the unpublished folder away.
        """
        assert self.run_dir is not None, "setup() was not called"
        run_path = self.run_dir.path
        try:
            blockers = self._write(run_path, today, [])
            found = self._final_scan(run_path)
            if found and not blockers:
                # Found only in what the reporters wrote: nobody has seen the folder yet, so the
                # certificate is taken back and everything is written again, unsigned.
                for name in (CERTIFICATE, PUBLIC_KEY):
                    (run_path / name).unlink(missing_ok=True)
                self._write(run_path, today, found)
        except BaseException:
            self.run_dir.discard()
            raise
        self.close_models()
        final = self.run_dir.publish()
        moved = {k: final / p.relative_to(run_path) for k, p in self._outputs.items()}
        return RunResult(
            verdict=self._report.verdict, run_dir=final, report_path=final / REPORT_JSON,
            certificate_path=moved.get("certificate"), html_path=moved.get("html"), outputs=moved,
        )

    def _write(self, run_path: Path, today: dt.date | None, blockers: list[str]) -> list[str]:
        """Write report.json, the statement (signed unless ``blockers``) and the reporters' files.
        Returns the blockers the run was written with (a scan of report.json may add some)."""
        report = self.build_report(today, blockers)
        payload = report.to_json().encode()
        atomic_write(run_path / REPORT_JSON, payload)
        if not blockers:
            found = self._final_scan(run_path)
            if found:
                blockers = found
                report = self.build_report(today, blockers)
                payload = report.to_json().encode()
                atomic_write(run_path / REPORT_JSON, payload)
        report_digest = "sha256:" + hashlib.sha256(payload).hexdigest()
        outputs: dict[str, Path] = {}
        written, signature = issue(
            report, report_digest=report_digest, run_dir=run_path,
            required_suites=self.policy.required(),
            valid_for=dt.timedelta(days=self.policy.signing.valid_for_days),
            signer=None if blockers else self.signer, narrowed=self.not_run())
        outputs.update(written)
        record = RunRecord(report=report, report_digest=report_digest, run_dir=run_path,
                           signature=signature, outputs=types.MappingProxyType(dict(outputs)))
        for name, reporter in reporters().items():
            written = dict(reporter(record))
            outputs.update({f"{name}:{k}" if k in outputs else k: v for k, v in written.items()})
            record = dataclasses.replace(record, outputs=types.MappingProxyType(dict(outputs)))
        self._report, self._outputs = report, outputs
        return blockers

    def _final_scan(self, run_path: Path) -> list[str]:
        """What the suites' final scans find in the unpublished run folder, as blocking reasons.
        A scan that fails is itself a reason (an unchecked run is not signed)."""
        found: list[str] = []
        for name, state in self.suites.items():
            result = state.result if state.ran and state.error is None else None
            try:
                items = state.suite.scan_outputs(state.ctx, result, [run_path])
            except Exception as exc:  # noqa: BLE001 - an unchecked run is never signed
                found.append(f"the {name} suite's final scan of the outputs failed: "
                             f"{one_line(exc)}; not signed")
                continue
            found += [f"{name} final scan: {item}; not signed" for item in items]
        return found

    def abort(self) -> None:
        """Throw away an unfinished run (interrupted, collect-only, set-up failure)."""
        self.close_models()
        if self.run_dir is not None:
            self.run_dir.discard()


def rerun_command(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)
