"""The pytest plugin: wiring only. The run itself is a :class:`certify.session.CertifySession`.

Without ``--certify`` every hook returns at once and nothing heavy is imported.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from certify.options import CERTIFY, add_run_options

if TYPE_CHECKING:
    from certify.evidence import Comparison
    from certify.session import CertifySession, RunResult
    from certify.suite import CheckSpec

session_key = pytest.StashKey["CertifySession"]()
result_key = pytest.StashKey["RunResult | None"]()
error_key = pytest.StashKey[str]()

MARKER = "certify"


class CertifyWarning(UserWarning):
    """A certification check crossed its warn level (never blocks the verdict)."""


class CheckFailed(Exception):
    """A certification check failed or errored; the message is the evidence's reason."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from certify.plugins import hooks

    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("certify", "model certification (pytest-certify)")
    group.addoption(CERTIFY, action="store_true", default=False, dest="certify",
                    help="run the certification suites of the policy and decide a verdict")
    add_run_options(group.addoption)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "certify(id=None, suite='project', required=True, description=''): a project "
        "certification check whose outcome becomes evidence in the verdict",
    )
    if not config.getoption("certify"):
        return
    if hasattr(config, "workerinput"):
        return  # xdist worker: refused below on the controller
    if config.getoption("numprocesses", default=None) or config.getoption("dist", "no") != "no":
        raise pytest.UsageError("--certify cannot run under pytest-xdist (-n/--dist): the verdict "
                                "and outputs must come from one process; drop -n")
    from certify.errors import CertifyError
    from certify.policy import find_policy, load_policy
    from certify.session import CertifySession

    policy_opt = config.getoption("certify_policy")
    try:
        if policy_opt:
            policy_path = Path(policy_opt)
        else:
            found = find_policy(config.rootpath)
            if found is None:
                raise pytest.UsageError(
                    f"--certify: no certify.toml or [tool.certify] in pyproject.toml found in "
                    f"{config.rootpath}; pass --certify-policy PATH")
            policy_path = found
        policy = load_policy(policy_path)
        out = config.getoption("certify_out")
        session = CertifySession(
            policy, out_dir=Path(out) if out else None, seed=config.getoption("certify_seed"),
            command=["pytest", *config.invocation_params.args],
            progress=_progress(config),
        )
        session.setup()
    except CertifyError as exc:
        config.stash[error_key] = exc.diagnostics()
        # certify.run() learns the same one line pytest prints.
        config.hook.pytest_certify_finished(result=None, error=exc.diagnostics())
        raise pytest.UsageError(exc.diagnostics()) from None
    config.stash[session_key] = session
    config.hook.pytest_certify_session_start(session=session)


def _progress(config: pytest.Config) -> Any:
    """Suite progress lines on the terminal with -v (pytest's own output otherwise)."""

    def write(message: str) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        capture = config.pluginmanager.get_plugin("capturemanager")
        if reporter is None or config.get_verbosity() <= 0:
            return
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"[certify] {message}")
        else:
            reporter.write_line(f"[certify] {message}")

    return write


class CertifyItem(pytest.Item):
    """One built-in certification check."""

    def __init__(self, *, spec: CheckSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.add_marker(MARKER)

    def runtest(self) -> None:
        from certify.evidence import Status

        session = self.config.stash[session_key]
        evidence = session.run_check(self.spec)
        self.user_properties.append(("certify_status", evidence.status.value))
        self.user_properties.append(("certify_reason", evidence.reason))
        if evidence.status is Status.SKIPPED:
            pytest.skip(evidence.reason)
        if evidence.status in (Status.FAILED, Status.ERRORED):
            raise CheckFailed(f"{evidence.status.value}: {evidence.reason}")
        if evidence.status is Status.WARNED:
            warnings.warn(CertifyWarning(f"{self.spec.id}: {evidence.reason}"), stacklevel=1)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CheckFailed):
            return f"{self.spec.id} {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.spec.id


class SuiteCollector(pytest.Collector):
    def __init__(self, *, specs: list[CheckSpec], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.specs = specs

    def collect(self) -> list[pytest.Item]:
        return [
            CertifyItem.from_parent(self, name=spec.id.split("::", 1)[1], spec=spec,
                                    nodeid=f"certify::{spec.id}")
            for spec in self.specs
        ]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Append the built-in checks and plan the user's own ones, before -k/-m deselection."""
    if session_key not in config.stash:
        return
    from certify.verdict import Planned

    cs = config.stash[session_key]
    by_suite: dict[str, list[CheckSpec]] = {}
    for spec in cs.planned:
        by_suite.setdefault(spec.suite, []).append(spec)
    for suite, specs in by_suite.items():
        collector = SuiteCollector.from_parent(session, name=suite, specs=specs,
                                               nodeid=f"certify::{suite}",
                                               path=cs.policy.source or config.rootpath)
        items.extend(collector.collect())
    for item in items:
        marker = item.get_closest_marker(MARKER)
        if marker is not None and not isinstance(item, CertifyItem):
            cid, suite, required = _user_check(item, marker)
            cs.user_planned.append(Planned(cid, suite, required))


def _user_check(item: pytest.Item, marker: pytest.Mark) -> tuple[str, str, bool]:
    suite = str(marker.kwargs.get("suite", "project"))
    cid = marker.kwargs.get("id") or (marker.args[0] if marker.args else None)
    name = item.name
    if cid and "[" not in str(cid) and "[" in name:
        cid = f"{cid}{name[name.index('['):]}"
    return (str(cid) if cid else f"{suite}::{name}"), suite, bool(marker.kwargs.get("required", True))


class CertifyRecorder:
    """The ``certify_metrics`` fixture: metrics and thresholds of a project check."""

    def __init__(self) -> None:
        self.metrics: dict[str, Any] = {}
        self.comparisons: list[Comparison] = []

    def __setitem__(self, name: str, value: Any) -> None:
        self.metrics[name] = value

    def record(self, name: str, value: Any) -> None:
        self.metrics[name] = value

    def check(self, name: str, value: float, *, fail: float, warn: float | None = None,
              direction: str = "min") -> None:
        """Compare ``value`` with a threshold; fails the test below/above ``fail``,
        warns (evidence ``warned``) past ``warn``."""
        from certify.evidence import Direction, Status, Threshold, compare

        comparison = compare(name, value, Threshold(fail=fail, warn=warn), Direction(direction))
        self.metrics[name] = value
        self.comparisons.append(comparison)
        if comparison.status in (Status.FAILED, Status.ERRORED):
            raise AssertionError(f"{name}={value:.4g} (must be {comparison.op} {fail:.4g})")


recorder_key = pytest.StashKey[CertifyRecorder]()


@pytest.fixture
def certify_metrics(request: pytest.FixtureRequest) -> CertifyRecorder:
    """Record metrics (and thresholds) into this check's evidence."""
    recorder = CertifyRecorder()
    request.node.stash[recorder_key] = recorder
    return recorder


def _cs(request: pytest.FixtureRequest) -> CertifySession:
    if session_key not in request.config.stash:
        pytest.skip("certification fixtures need pytest --certify")
    return request.config.stash[session_key]


@pytest.fixture(scope="session")
def candidate(request: pytest.FixtureRequest) -> Any:
    """The candidate model (a certify.models.Model)."""
    return _cs(request).candidate


@pytest.fixture(scope="session")
def baseline(request: pytest.FixtureRequest) -> Any:
    """The baseline model, or None on a first deployment."""
    return _cs(request).baseline


@pytest.fixture(scope="session")
def reference_data(request: pytest.FixtureRequest) -> Any:
    return _cs(request).data.reference


@pytest.fixture(scope="session")
def evaluation_data(request: pytest.FixtureRequest) -> Any:
    return _cs(request).data.evaluation


@pytest.fixture(scope="session")
def schema(request: pytest.FixtureRequest) -> Any:
    return _cs(request).data.schema


@pytest.fixture(scope="session")
def policy(request: pytest.FixtureRequest) -> Any:
    return _cs(request).policy


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """Hand the outcome of a project's @pytest.mark.certify test to the session as evidence."""
    if session_key not in item.config.stash or isinstance(item, CertifyItem):
        return
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return
    if not (call.when == "call" or (call.excinfo is not None and call.when == "setup")):
        return
    from certify.session import UserCheckOutcome

    cid, suite, required = _user_check(item, marker)
    recorder = item.stash.get(recorder_key, None)
    exc = call.excinfo
    if exc is None:
        outcome, message = "passed", ""
    elif exc.errisinstance(pytest.skip.Exception):
        outcome, message = "skipped", str(getattr(exc.value, "msg", exc.value))
    elif exc.errisinstance(AssertionError) and call.when == "call":
        outcome, message = "failed", (str(exc.value).splitlines() or ["assertion failed"])[0]
    else:
        outcome = "errored"
        message = f"{call.when} raised {exc.typename}: {(str(exc.value).splitlines() or [''])[0]}"
    doc = (getattr(getattr(item, "obj", None), "__doc__", None) or "").strip()
    item.config.stash[session_key].record_user_check(UserCheckOutcome(
        id=cid, suite=suite, required=required, outcome=outcome, message=message,
        metrics=dict(recorder.metrics) if recorder else {},
        comparisons=list(recorder.comparisons) if recorder else [],
        duration_s=call.duration, description=doc.splitlines()[0] if doc else ""))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if session_key not in config.stash:
        return
    cs = config.stash[session_key]
    if exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.USAGE_ERROR,
                      pytest.ExitCode.INTERNAL_ERROR) or config.getoption("collectonly"):
        cs.abort()
        config.stash[result_key] = None
        config.hook.pytest_certify_finished(result=None, error=config.stash.get(error_key, None))
        return
    from certify.errors import CertifyError

    try:
        result = cs.finish()
    except CertifyError as exc:
        cs.abort()
        config.stash[error_key] = exc.diagnostics()
        config.stash[result_key] = None
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        config.hook.pytest_certify_finished(result=None, error=exc.diagnostics())
        return
    config.stash[result_key] = result
    config.hook.pytest_certify_finished(result=result, error=None)
    _junit_properties(config, result)
    if not result.verdict.certified and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _junit_properties(config: pytest.Config, result: RunResult) -> None:
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover - pytest internals moved
        return
    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    xml.add_global_property("certify_verdict", result.verdict.decision.value)
    xml.add_global_property("certify_report", str(result.report_path))
    for i, reason in enumerate(result.verdict.reasons[:20]):
        xml.add_global_property(f"certify_reason_{i}", reason)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if session_key not in config.stash:
        return
    tr = terminalreporter
    if error_key in config.stash:
        tr.write_sep("=", "certification error", red=True)
        tr.write_line(config.stash[error_key])
        return
    result = config.stash.get(result_key, None)
    if result is None:
        return
    decision = result.verdict.decision.value
    tr.write_sep("=", f"certification: {decision}", green=result.verdict.certified,
                 red=decision == "REJECTED", yellow=decision == "INCOMPLETE", bold=True)
    for reason in result.verdict.reasons:
        tr.write_line(f"  - {reason}")
    tr.write_line(f"report:      {result.report_path}")
    for name, path in result.outputs.items():
        tr.write_line(f"{name + ':':<12} {path}")
    cs = config.stash[session_key]
    not_run = cs.not_run()
    if not_run and cs.signer is not None:
        tr.write_line(f"certificate: not signed: {len(not_run)} planned check(s) did not run "
                      "(-k/-x/-m narrowing); a narrowed run is never certified")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Repeat the verdict as the very last line, after pytest's own summary and stats."""
    result = config.stash.get(result_key, None)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if result is None or reporter is None:
        return
    verdict = result.verdict
    reasons = f" ({len(verdict.reasons)} reason(s) above)" if verdict.reasons else ""
    html = f": {result.html_path}" if result.html_path else ""
    reporter.write_line(f"certification: {verdict.decision.value}{reasons}{html}",
                        green=verdict.certified, red=not verdict.certified, bold=True)
