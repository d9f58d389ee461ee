"""The load suite with real Ray, real Locust and real servers on 127.0.0.1.

One local Ray instance serves the whole module. Every run is short (a profile of one to
three seconds, one or two generator processes) and bounded; timing assertions are
relative (a slow model against a generous SLO) so that a busy 2-core machine cannot
flip them.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from certify.demo import FEATURES, SEED, TARGET, make_credit_data, preprocessor
from certify.demo.models import load_sabotage
from certify.errors import ConfigError
from certify.evidence import Status, Threshold
from certify.policy import load_policy, policy_from_mapping
from certify.session import CertifySession
from certify.verdict import Decision
from tests.projects import make_project

#: Short, small runs: one server process, one Locust process, two users.
FAST: dict[str, Any] = {
    "profiles": ["steady"], "duration_s": 1.5, "warmup_s": 0, "server_workers": 1,
    "workers": 1, "users": 2, "start_timeout_s": 60,
    "thresholds": {"p50_ms": {"fail": 400.0}, "p95_ms": {"fail": 500.0},
                   "error_rate": {"fail": 0.01}, "throughput_rps": {"fail": 1.0}},
}


@pytest.fixture(scope="module")
def ray_local() -> Any:
    from certify.raycluster import ensure_ray

    return ensure_ray()


@pytest.fixture(scope="module")
def ref() -> Any:
    return make_credit_data(800, SEED)


@pytest.fixture(scope="module")
def fitted(ref: Any) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    model = Pipeline([("prep", preprocessor()), ("clf", LogisticRegression(max_iter=300))])
    return model.fit(ref[FEATURES], ref[TARGET])


def certify(root: Path, candidate: Any, ref: Any, *, baseline: Any = None,
            progress: Callable[[str], None] | None = None, **settings: Any) -> CertifySession:
    policy = make_project(root, candidate=candidate, baseline=baseline, reference=ref,
                          n_evaluation=200, suites={"load": {**FAST, **settings}},
                          extra={"sensitive_columns": ["income"]})
    session = CertifySession(load_policy(policy), progress=progress)
    session.setup()
    session.run_all()
    return session


def load_result(session: CertifySession) -> Any:
    state = session.suites["load"]
    assert state.error is None, state.error
    return state.result


def descendants(pattern: str) -> list[Any]:
    import psutil

    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if pattern in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def kill_when(message: str, pattern: str, delay_s: float) -> Callable[[str], None]:
    """A progress callback that kills our own child processes matching ``pattern``
    ``delay_s`` after the suite reports ``message``."""
    def kill() -> None:
        time.sleep(delay_s)
        for proc in descendants(pattern):
            proc.kill()

    def progress(text: str) -> None:
        if message in text:
            threading.Thread(target=kill, daemon=True).start()

    return progress


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_fast_model_meets_its_slos_with_exact_merged_histograms(tmp_path: Path, ref: Any,
                                                                 fitted: Any) -> None:
    from certify.suites.load import histogram

    session = certify(tmp_path, fitted, ref, profiles=["steady", "spike"], users=2,
                      spike_factor=2.0)
    ev = session.evidence
    slo = [e for e in ev.values() if e.id != "load::delayed_ack"]
    assert {e.id for e in slo} == {f"load::{m}[{p}]" for p in ("steady", "spike")
                                   for m in ("p50_ms", "p95_ms", "error_rate", "throughput_rps")}
    assert all(e.status is Status.PASSED for e in slo), [(e.id, e.reason) for e in slo]
    assert session.decide()[0].decision is Decision.CERTIFIED
    result = load_result(session)
    assert result.target["kind"] == "served"
    for profile in ("steady", "spike"):
        run = result.runs[("candidate", profile)]
        assert run.successes > 10 and run.failures == 0
        assert run.merge["exact"] and run.merge["merged_count"] == run.successes
        # microsecond resolution: the merged percentiles are not whole milliseconds
        values = [run.latency_ms[k] for k in ("p50", "p95", "p99", "max")]
        assert any(abs(v - round(v)) > 1e-9 for v in values), values
        assert 0 < run.latency_ms["p50"] <= run.latency_ms["p95"] <= run.latency_ms["max"]
        assert sum(s["requests"] for s in run.series) == run.requests
        assert run.workers[0]["peak_pct"] is not None
    # the histogram artifact is the exact merged histogram
    run_dir = session.run_dir.path
    hdr = (run_dir / "artifacts" / "load" / "candidate-steady.hdr").read_text().strip()
    assert histogram.count(histogram.decode(hdr)) == result.runs[("candidate", "steady")].successes
    # real rows were sent, but no artifact holds a sensitive (income) value
    income = {f"{v:.2f}" for v in session.data.evaluation["income"]}
    for path in (run_dir / "artifacts" / "load").iterdir():
        text = path.read_text()
        assert not any(value in text for value in income), path.name
    example = json.loads((run_dir / "artifacts" / "load" / "request-example.json").read_text())
    assert example["first_row_masked"]["income"].startswith("masked:")
    data = session.suites["load"].suite.report_data(session.suites["load"].ctx, result)
    assert set(data["profiles"]) == {"steady", "spike"} and data["baseline"] is None
    spike = data["profiles"]["spike"]
    assert spike["series"] and spike["generator_cpu"] and spike["latency_ms"]["p99"] is not None
    json.dumps(data)  # JSON-able
    # gevent never entered this process (nor, checked by the suite, a Ray worker)
    assert "gevent" not in sys.modules and "locust" not in sys.modules
    # our server sets TCP_NODELAY: no response is held back by a delayed ACK
    ack = ev["load::delayed_ack"]
    assert ack.status is Status.PASSED and ack.metrics["probe_gap_ms"] < 10, ack.reason
    session.abort()


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_slow_serialising_model_fails_p95_and_regresses_against_baseline(
        tmp_path: Path, ref: Any, fitted: Any) -> None:
    slow = load_sabotage("slow", fitted, delay_s=0.25)
    # Open loop at twice the slow model's capacity with one request in flight: requests go
    # out late, and their latency counts from the intended send time.
    session = certify(tmp_path, slow, ref, baseline=fitted, mode="open", rate=8.0,
                      open_users=1, duration_s=2.0, compare_baseline=True,
                      regression_margin=0.5)
    ev = session.evidence
    p95 = ev["load::p95_ms[steady]"]
    assert p95.status is Status.FAILED, p95.reason
    assert p95.metrics["p95_ms"] > 500
    regression = ev["load::p95_regression[steady]"]
    assert regression.status is Status.FAILED, regression.reason
    assert regression.metrics["candidate_p95_ms"] > 3 * regression.metrics["baseline_p95_ms"]
    assert ev["load::error_rate[steady]"].status is Status.PASSED
    run = load_result(session).runs[("candidate", "steady")]
    # coordinated omission corrected: waiting for the scheduled send counts
    assert run.latency_ms["p95"] > 1.5 * run.service_latency_ms["p95"]
    assert run.offered and run.offered >= 12
    assert session.decide()[0].decision is Decision.REJECTED
    session.abort()


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_server_errors_fail_the_error_rate(tmp_path: Path, ref: Any, fitted: Any) -> None:
    flaky = load_sabotage("flaky", fitted, fail_every=4)
    session = certify(tmp_path, flaky, ref)
    record = session.evidence["load::error_rate[steady]"]
    assert record.status is Status.FAILED, record.reason
    assert "HTTP 500" in record.reason
    assert 0.1 < record.metrics["error_rate"] < 0.5
    assert record.details["errors"]["HTTP 500"] == record.metrics["failures"]
    assert session.evidence["load::p95_ms[steady]"].status is Status.PASSED
    session.abort()


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_server_killed_mid_run_fails_cleanly(tmp_path: Path, ref: Any, fitted: Any) -> None:
    start = time.monotonic()
    session = certify(tmp_path, fitted, ref, duration_s=2.5, profiles=["steady", "spike"],
                      progress=kill_when("steady profile", "certify.suites.load.server", 1.0))
    assert time.monotonic() - start < 120
    records = [e for e in session.evidence.values() if e.id != "load::delayed_ack"]
    assert len(records) == 8 and all(e.status is Status.FAILED for e in records), \
        [(e.id, e.status, e.reason) for e in records]
    assert all("server died" in e.reason for e in records)
    steady = session.evidence["load::error_rate[steady]"]
    assert "into the profile" in steady.reason and steady.metrics["successes"] > 0
    # the spike profile is not run against a dead server
    assert "already died" in session.evidence["load::p95_ms[spike]"].reason
    assert session.decide()[0].decision is Decision.REJECTED
    assert not descendants("certify.suites.load.server")
    session.abort()


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
@pytest.mark.parametrize("victim", ["ray::GeneratorActor", "certify.suites.load._locust_worker"])
def test_dead_generator_errors_without_hanging(tmp_path: Path, ref: Any, fitted: Any,
                                               victim: str) -> None:
    start = time.monotonic()
    session = certify(tmp_path, fitted, ref, duration_s=3.0,
                      progress=kill_when("steady profile", victim, 1.0))
    assert time.monotonic() - start < 120
    records = [e for e in session.evidence.values() if e.id != "load::delayed_ack"]
    assert records and all(e.status is Status.ERRORED for e in records), \
        [(e.id, e.status, e.reason) for e in records]
    assert all("load generator failed" in e.reason and "died" in e.reason for e in records)
    assert session.decide()[0].decision is Decision.INCOMPLETE
    assert not descendants("certify.suites.load")
    session.abort()


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_saturated_generator_errors_or_warns_as_the_policy_says(tmp_path: Path, ref: Any,
                                                                fitted: Any) -> None:
    # a limit no running generator can stay under: its measurements are not trusted
    session = certify(tmp_path, fitted, ref, generator_cpu_limit=0.01, duration_s=1.2)
    records = [e for e in session.evidence.values() if e.id != "load::delayed_ack"]
    assert all(e.status is Status.ERRORED and "saturated" in e.reason for e in records), \
        [(e.id, e.reason) for e in records]
    assert session.decide()[0].decision is Decision.INCOMPLETE
    session.abort()
    # the same measured run judged under on_saturated = "warn"
    from certify.suites.load import LoadSettings, checks

    state = session.suites["load"]
    run = state.result.runs[("candidate", "steady")]
    assert run.saturated and "% of a core" in run.saturated
    warn = LoadSettings.model_validate({**FAST, "on_saturated": "warn"})
    outcome = checks.judge(state.result, run, warn, "error_rate", Threshold(fail=0.01))
    assert outcome.status is Status.WARNED and "saturated" in outcome.reason


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_http_endpoint_is_targeted_directly_and_delayed_ack_warns(tmp_path: Path, ref: Any,
                                                                  fitted: Any) -> None:
    from http.server import BaseHTTPRequestHandler

    from tests.http_model_server import _Handler, serving

    class NoNodelay(_Handler):
        """The test server's handler without TCP_NODELAY: headers and body leave in two
        writes, and the body waits for the client's delayed ACK (~40 ms)."""

        def setup(self) -> None:
            BaseHTTPRequestHandler.setup(self)

    numeric = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "employment_years"]
    with serving(fitted, FEATURES, numeric) as server:
        server.RequestHandlerClass = NoNodelay
        policy = make_project(tmp_path, candidate=fitted, baseline=None, reference=ref,
                              n_evaluation=200, suites={"load": FAST})
        text = policy.read_text().replace(
            'path = "models/candidate.skops"',
            f'url = "{server.url}"\nclasses = [0, 1]\noptions = {{task = "classification"}}')
        text = "\n".join(ln for ln in text.splitlines() if not ln.startswith("trusted_types"))
        policy.write_text(text)
        session = CertifySession(load_policy(policy))
        session.setup()
        before = server.requests
        session.run_all()
        served = server.requests - before
    result = load_result(session)
    assert result.target == {"kind": "url", "url": server.url, "server_workers": None}
    run = result.runs[("candidate", "steady")]
    assert run.successes > 5 and served >= run.requests
    assert session.evidence["load::error_rate[steady]"].status is Status.PASSED
    ack = session.evidence["load::delayed_ack"]
    assert ack.status is Status.WARNED and "delayed ACK" in ack.reason, ack.reason
    assert ack.metrics["probe_gap_ms"] > 30
    session.abort()


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_more_generators_than_the_cluster_holds_is_a_clear_error(tmp_path: Path, ref: Any,
                                                                 fitted: Any) -> None:
    start = time.monotonic()
    session = certify(tmp_path, fitted, ref, worker_num_cpus=1000)
    assert time.monotonic() - start < 60
    error = session.suites["load"].error
    assert error is not None and "1000 CPUs" in error and "the Ray cluster has" in error
    assert all(e.status is Status.ERRORED for e in session.evidence.values())
    assert not descendants("certify.suites.load.server")
    session.abort()


def test_remote_endpoint_needs_allow_remote(tmp_path: Path, ref: Any, fitted: Any) -> None:
    from certify.suites.load.target import open_target

    policy = make_project(tmp_path, candidate=fitted, baseline=None, reference=ref,
                          n_evaluation=50, suites={"load": FAST})
    session = CertifySession(load_policy(policy))
    session.setup()
    ctx = session.suites["load"].ctx

    class Remote:
        format = "http"

        class spec:  # noqa: N801 - stands in for a ModelSpec
            url = "http://10.1.2.3:8080/predict"
            headers: dict[str, str] = {}
            request_field = "instances"
            predictions_field = "predictions"

    with pytest.raises(ConfigError, match="allow_remote"):
        open_target(ctx, Remote(), "candidate")  # type: ignore[arg-type]
    session.abort()


# -- no Ray needed below ---------------------------------------------------------------------
def test_histograms_merge_exactly() -> None:
    import random

    from certify.suites.load import histogram

    rng = random.Random(5)
    values = [rng.lognormvariate(8, 1.2) for _ in range(6000)]
    whole = histogram.new()
    parts = [histogram.new() for _ in range(3)]
    for i, v in enumerate(values):
        histogram.record(whole, v)
        histogram.record(parts[i % 3], v)
    merged = histogram.merge(histogram.encode(p) for p in parts)
    assert histogram.count(merged) == sum(histogram.count(p) for p in parts) == len(values)
    assert histogram.summary_ms(merged) == histogram.summary_ms(whole)
    # sub-millisecond resolution: 3 significant digits
    single = histogram.new()
    histogram.record(single, 1234)
    assert histogram.percentile_ms(single, 50) == pytest.approx(1.234, abs=0.001)


def _synthetic(values_us: list[float]) -> Any:
    from certify.suites.load import LoadResult, ProfileRun, histogram

    h = histogram.new()
    for v in values_us:
        histogram.record(h, v)
    enc = histogram.encode(h)
    run = ProfileRun(profile="steady", role="candidate", mode="closed", workers=[], hist=enc,
                     service_hist=enc, latency_ms=histogram.summary_ms(h),
                     service_latency_ms=histogram.summary_ms(h), requests=len(values_us),
                     successes=len(values_us), failures=0, issued=len(values_us), errors={},
                     series=[], elapsed_s=1.0, stopped_by="duration",
                     merge={"merged_count": len(values_us), "sum_of_workers": len(values_us),
                            "exact": True})
    return LoadResult(target={}, mode="closed", generators=[], runs={("candidate", "steady"): run},
                      settings={})


def test_delayed_ack_cluster_warns() -> None:
    from certify.suites.load import LoadSettings, checks

    s = LoadSettings()
    nagle = _synthetic([40_000 + 50 * i for i in range(100)] + [2_000] * 20)
    fine = _synthetic([1_000 + 300 * i for i in range(120)])
    warned = checks.delayed_ack(nagle, s)
    assert warned.status is Status.WARNED and "delayed ACK" in warned.reason
    assert checks.delayed_ack(fine, s).status is Status.PASSED
    # a broad distribution whose middle happens to be near 40 ms is no delayed-ACK cluster
    import random

    rng = random.Random(1)
    broad = _synthetic([rng.gauss(40_000, 5_000) for _ in range(2000)])
    assert checks.delayed_ack(broad, s).status is Status.PASSED


def test_judging_order_generator_server_saturation() -> None:
    from certify.suites.load import LoadSettings, checks

    s = LoadSettings()
    result = _synthetic([5_000] * 50)
    run = result.runs[("candidate", "steady")]
    threshold = Threshold(fail=100.0)
    assert checks.judge(result, run, s, "p95_ms", threshold).status is Status.PASSED
    run.saturated = "generator 0 used 97% of a core (limit 80%)"
    assert checks.judge(result, run, s, "p95_ms", threshold).status is Status.ERRORED
    run.server_died = "1 of 1 server process(es) died (exit code -9)"
    out = checks.judge(result, run, s, "p95_ms", threshold)
    assert out.status is Status.FAILED and "server died" in out.reason
    run.generator_error = "generator 0: Locust process died"
    assert checks.judge(result, run, s, "p95_ms", threshold).status is Status.ERRORED
    # a hung server: requests went out, none came back
    hung = _synthetic([])
    hung_run = hung.runs[("candidate", "steady")]
    hung_run.issued = 4
    out = checks.judge(hung, hung_run, s, "p95_ms", threshold)
    assert out.status is Status.FAILED and "hung" in out.reason


def test_settings_errors_name_the_key(tmp_path: Path) -> None:
    base = {"candidate": "m.skops",
            "data": {"reference": "r.csv", "evaluation": "e.csv", "target": "y"}}
    with pytest.raises(ConfigError, match="unknown metric 'p42_ms'"):
        policy_from_mapping({**base, "suites": {"load": {"thresholds": {"p42_ms": {"fail": 1}}}}},
                            check_files=False)
    with pytest.raises(ConfigError, match=r"users \(1\) must be at least workers \(2\)"):
        policy_from_mapping({**base, "suites": {"load": {"users": 1, "workers": 2}}},
                            check_files=False)
    with pytest.raises(ConfigError, match="unknown key 'suites.load.duration'"):
        policy_from_mapping({**base, "suites": {"load": {"duration": 3}}}, check_files=False)
    policy = policy_from_mapping({**base, "suites": {"load": {
        "profile_thresholds": {"spike": {"p95_ms": {"fail": 900}}}}}}, check_files=False)
    s = policy.suite_settings("load")
    assert s.thresholds_for("spike")["p95_ms"].fail == 900
    assert s.thresholds_for("steady")["p95_ms"].fail == 1000
