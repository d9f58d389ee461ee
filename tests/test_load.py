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
    # latency is reported with its interval and sample size; the server made one model call
    p95 = ev["load::p95_ms[steady]"]
    lo, hi = p95.metrics["p95_ms_ci"]
    assert lo <= p95.metrics["p95_ms"] <= hi and "95% interval" in p95.reason
    assert p95.metrics["model_calls_per_request"] == 1
    assert data["serving"]["candidate"]["calls_per_request"] == 1
    assert data["serving"]["candidate"]["checked_rows"] == 200
    assert spike["latency_ci_ms"]["p95"][0] is not None and spike["rounds"] >= 4
    assert spike["shape"]["unit"] == "users" and max(spike["shape"]["value"]) == 4
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
    # Open loop at four times the slow model's capacity in its rounds (twice over the run),
    # one request in flight: requests go out late, and their latency counts from the intended
    # send time. Candidate and baseline take turns, each with its own users and schedule.
    session = certify(tmp_path, slow, ref, baseline=fitted, mode="open", rate=16.0,
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
    assert run.offered and run.offered >= 24
    assert regression.metrics["decision"] == "fail" and regression.metrics["pairs"] >= 4
    lo, _ = regression.metrics["difference_ci_ms"]
    assert lo > regression.metrics["allowance_ms"]  # the whole interval clears the allowance
    assert session.decide()[0].decision is Decision.REJECTED
    session.abort()


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_same_model_as_baseline_in_interleaved_rounds_never_regresses(
        tmp_path: Path, ref: Any, fitted: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both servers up, the load on one at a time in alternating rounds; an undecided profile
    is measured again and pooled (forced here: which interval straddles is up to the noise)."""
    from certify.suites.load import engine

    asked: list[str] = []

    def once_more(runs: Any, regressions: Any, s: Any, profile: str) -> list[str]:
        asked.append(profile)
        return ["p95_ms"] if len(asked) == 1 else []

    monkeypatch.setattr(engine, "undecided", once_more)
    messages: list[str] = []
    session = certify(tmp_path, fitted, ref, baseline=fitted, compare_baseline=True,
                      warmup_s=0.3, progress=messages.append)
    regression = session.evidence["load::p95_regression[steady]"]
    assert regression.status is not Status.FAILED, regression.reason
    assert "interleaved round pair" in regression.reason
    result = load_result(session)
    cand, base = result.runs[("candidate", "steady")], result.runs[("baseline", "steady")]
    assert cand.runs == base.runs == 2 and len(cand.rounds) == len(base.rounds)
    assert regression.metrics["pairs"] == len(cand.rounds) >= 8
    assert any("steady again (p95_ms inconclusive" in m for m in messages)
    # the rounds alternate on one time axis, and every request is in its round
    assert cand.series[0]["t"] < base.series[0]["t"] < cand.series[1]["t"]
    assert sum(p["requests"] for p in cand.series) == cand.requests
    assert result.serving["baseline"]["calls_per_request"] == 1
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
    passed = checks.delayed_ack(fine, s)
    assert passed.status is Status.PASSED
    # a pass states the rule it was decided by (it has no threshold of its own to show)
    assert f"it warns at {s.delayed_ack_share:.0%} or more within 39-45 ms" in passed.reason
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


# -- the statistics of decisions (suites/load/compare.py): deterministic, no Ray -------------
def _rounds(rng: Any, n_rounds: int, size: int, scale: float = 1.0,
            drift: list[float] | None = None) -> list[Any]:
    """Lognormal latencies (ms) per round, each round scaled by its drift factor."""
    return [rng.lognormal(1.5, 0.4, size) * scale * (drift[i] if drift else 1.0)
            for i in range(n_rounds)]


def test_percentiles_match_the_histograms_and_raw_values_keep_three_digits() -> None:
    import numpy as np

    from certify.suites.load import compare, histogram

    rng = np.random.default_rng(3)
    h = histogram.new()
    for v in rng.lognormal(8, 1.2, 4000):
        histogram.record(h, v)
    values, counts = histogram.values_counts(histogram.encode(h))
    assert counts.sum() == histogram.count(h)
    for q in (1, 50, 90, 95, 99, 99.9, 100):
        assert compare.percentile(values, counts, q) == histogram.percentile_ms(h, q)
    s = compare.sample([1.23456, 1.23449, 10.0, float("nan")])
    assert s.values.tolist() == [1.23, 10.0] and s.counts.tolist() == [2, 1]


def test_intervals_hold_the_point_narrow_with_data_and_repeat_with_the_seed() -> None:
    import numpy as np

    from certify.suites.load import compare

    rng = np.random.default_rng(1)
    small = compare.intervals(_rounds(rng, 4, 50), [50, 95], seed=5)
    large = compare.intervals(_rounds(rng, 16, 400), [50, 95], seed=5)
    for found in (small, large):
        for iv in found.values():
            assert iv.low is not None and iv.high is not None and iv.point is not None
            assert iv.low <= iv.point <= iv.high
    width = {k: v.high - v.low for k, v in small.items()}  # type: ignore[operator]
    assert all(large[q].high - large[q].low < width[q] for q in (50, 95))  # type: ignore[operator]
    assert large[95].n == 6400 and large[95].rounds == 16
    again = compare.intervals(_rounds(np.random.default_rng(1), 4, 50), [50, 95], seed=5)
    assert again == small
    assert compare.intervals([[], []], [95])[95].point is None


def test_same_model_never_fails_a_regression_even_under_drift() -> None:
    """Paired rounds with a common drift of up to 3x between pairs: the drift cancels, the
    same distribution on both sides never fails (with the default 20 % margin)."""
    import numpy as np

    from certify.suites.load import compare

    rng = np.random.default_rng(11)
    covered = 0
    for seed in range(12):
        drift = list(rng.uniform(1.0, 3.0, 8))
        cand = _rounds(rng, 8, 120, drift=drift)
        base = _rounds(rng, 8, 120, drift=drift)
        found = compare.compare(cand, base, q=95, margin=0.2, seed=seed)
        assert found.decision != "fail", found.reason
        assert found.low is not None and found.high is not None
        covered += found.low <= 0 <= found.high
        assert found.method == "rounds"  # 8 pairs: rounds alone, widened
    assert covered >= 10  # a 95 % interval holds the true difference (0) nearly every time
    # twice as slow in every pair: a failure beyond the noise, whatever the drift
    drift = list(rng.uniform(1.0, 3.0, 8))
    slow = compare.compare(_rounds(rng, 8, 120, 2.0, drift), _rounds(rng, 8, 120, 1.0, drift))
    assert slow.decision == "fail" and slow.excess_low is not None and slow.excess_low > 0
    assert "beyond the noise" in slow.reason and "interleaved round pair" in slow.reason


def test_a_regression_near_the_allowance_is_inconclusive_not_a_coin_flip() -> None:
    import numpy as np

    from certify.suites.load import compare

    rng = np.random.default_rng(4)
    # 20 % slower, with a 20 % margin and few requests: the interval straddles the allowance
    found = compare.compare(_rounds(rng, 3, 30, 1.2), _rounds(rng, 3, 30), margin=0.2, seed=1)
    assert found.decision == "inconclusive", found.reason
    assert found.excess_low is not None and found.excess_high is not None
    assert found.excess_low <= 0 < found.excess_high and "inconclusive" in found.reason
    # no candidate answer at all: nothing to decide on
    empty = compare.compare([[], []], _rounds(rng, 2, 30))
    assert empty.decision == "inconclusive" and "no candidate response" in empty.reason
    with pytest.raises(ValueError, match="rounds"):
        compare.compare([[1.0]], [[1.0], [2.0]])


def test_strata_keep_the_shape_of_a_profile_in_every_resample() -> None:
    """A spike third ten times slower: resampled without strata, a resample can hold no spike
    round (a wide interval); within strata, every resample keeps a third of spike rounds."""
    import numpy as np

    from certify.suites.load import compare

    rng = np.random.default_rng(2)
    rounds = _rounds(rng, 3, 100) + _rounds(rng, 3, 100, 10.0) + _rounds(rng, 3, 100)
    strata = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    flat = compare.intervals(rounds, [90], seed=3)[90]
    kept = compare.intervals(rounds, [90], strata=strata, seed=3)[90]
    assert kept.point == flat.point
    assert (kept.high - kept.low) < 0.5 * (flat.high - flat.low)  # type: ignore[operator]


def test_slo_judged_on_the_interval() -> None:
    from certify.suites.load import compare

    iv = compare.Interval(95.0, 80.0, 70.0, 90.0, 500, 10, 0.95)
    assert compare.judge(iv, 100.0) == "pass"
    assert compare.judge(iv, 60.0) == "fail"
    assert compare.judge(iv, 85.0) == "inconclusive"
    assert compare.judge(iv, 75.0) == "inconclusive"  # the point is above, the interval is not
    assert compare.judge(iv, 60.0, upper=False) == "pass"
    assert compare.judge(iv, 95.0, upper=False) == "fail"
    assert compare.judge(compare.Interval(95.0, None, None, None, 0, 0, 0.95), 1.0) \
        == "inconclusive"


def _run(rounds_us: list[list[float]], role: str = "candidate", profile: str = "steady") -> Any:
    """A ProfileRun of ``rounds_us`` (latencies per round, µs) with its intervals."""
    from certify.suites.load import LoadSettings, ProfileRun, histogram
    from certify.suites.load.intervals import run_intervals

    whole = histogram.new()
    encoded = []
    for values in rounds_us:
        h = histogram.new()
        for v in values:
            histogram.record(h, v)
            histogram.record(whole, v)
        encoded.append(histogram.encode(h))
    n = histogram.count(whole)
    enc = histogram.encode(whole)
    run = ProfileRun(profile=profile, role=role, mode="closed", workers=[], hist=enc,
                     service_hist=enc, latency_ms=histogram.summary_ms(whole),
                     service_latency_ms=histogram.summary_ms(whole), requests=n, successes=n,
                     failures=0, issued=n, errors={}, series=[], elapsed_s=float(len(rounds_us)),
                     stopped_by="duration",
                     merge={"merged_count": n, "sum_of_workers": n, "exact": True},
                     rounds=encoded, strata=[0] * len(encoded), round_s=1.0,
                     span_s=float(len(rounds_us)))
    run.intervals = run_intervals(run, LoadSettings(), seed=1)
    return run


def test_latency_slo_fails_only_beyond_its_interval_and_warns_when_inconclusive() -> None:
    import numpy as np

    from certify.suites.load import LoadResult, LoadSettings, checks
    from certify.suites.load.intervals import undecided

    rng = np.random.default_rng(8)
    run = _run([list(rng.normal(50_000, 8_000, 40)) for _ in range(6)])
    result = LoadResult(target={}, mode="closed", generators=[],
                        runs={("candidate", "steady"): run}, settings={},
                        serving={"candidate": {"calls_per_request": 1, "reason": "one call"}})
    p95 = run.latency_ms["p95"]
    lo, hi = run.intervals["p95"]["low"], run.intervals["p95"]["high"]
    assert lo < p95 < hi
    s = LoadSettings()
    passed = checks.slo(result, s, profile="steady", metric="p95_ms",
                        threshold=Threshold(fail=hi + 1.0))
    assert passed.status is Status.PASSED, passed.reason
    assert passed.metrics["p95_ms_ci"] == [lo, hi] and passed.metrics["decision"] == "pass"
    assert "95% interval" in passed.reason and "240 responses in 6 rounds" in passed.reason
    assert passed.metrics["model_calls_per_request"] == 1 and passed.details["serving"]
    warned = checks.slo(result, s, profile="steady", metric="p95_ms",
                        threshold=Threshold(fail=hi + 1.0, warn=lo))
    assert warned.status is Status.WARNED and "warn level" in warned.reason
    failed = checks.slo(result, s, profile="steady", metric="p95_ms",
                        threshold=Threshold(fail=lo - 1.0))
    assert failed.status is Status.FAILED and "above the fail level" in failed.reason
    near = checks.slo(result, s, profile="steady", metric="p95_ms",
                      threshold=Threshold(fail=p95))
    assert near.status is Status.WARNED and near.metrics["decision"] == "inconclusive"
    assert "inconclusive" in near.reason and "extend_runs" in near.reason
    assert f"[{lo:.4g}, {hi:.4g}]" in near.reason
    # the engine measures such a profile again (and not one that is decided)
    tight = s.model_copy(update={"thresholds": {"p95_ms": Threshold(fail=p95)}})
    assert undecided(result.runs, {}, tight, "steady") == ["p95_ms"]
    assert undecided(result.runs, {}, s, "steady") == []
    # a server that answered with two calls says so
    result.serving["candidate"] = {"calls_per_request": 2, "reason": "labels differ on 3 rows"}
    two = checks.slo(result, s, profile="steady", metric="p95_ms", threshold=Threshold(fail=1e6))
    assert "labels differ on 3 rows" in two.reason


def test_p95_regression_check_reads_the_interleaved_comparison() -> None:
    import numpy as np

    from certify.suites.load import LoadResult, LoadSettings, checks
    from certify.suites.load.intervals import regression

    rng = np.random.default_rng(9)
    drift = rng.uniform(1, 2, 6)
    base = _run([list(rng.lognormal(8.5, 0.3, 60) * d) for d in drift], role="baseline")
    same = _run([list(rng.lognormal(8.5, 0.3, 60) * d) for d in drift])
    slow = _run([list(rng.lognormal(8.5, 0.3, 60) * d * 2) for d in drift])
    s = LoadSettings()
    for cand, status in ((same, Status.PASSED), (slow, Status.FAILED)):
        result = LoadResult(target={}, mode="closed", generators=[],
                            runs={("candidate", "steady"): cand, ("baseline", "steady"): base},
                            settings={}, regressions={"steady": regression(cand, base, s, 1)})
        out = checks.p95_regression(result, s, profile="steady")
        assert out.status is status, out.reason
        assert out.metrics["pairs"] == 6 and len(out.metrics["difference_ci_ms"]) == 2
        assert out.metrics["candidate_responses"] == 360
    assert LoadSettings().regression_slack_ms == 0.0


# -- the served model's request path (suites/load/app.py) ------------------------------------
class _Counting:
    """A model that counts its calls; ``flip`` rows get a label its probabilities disagree with."""

    classes = [0, 1]

    def __init__(self, flip: int = -1) -> None:
        self.calls: list[str] = []
        self.flip = flip
        self.predict_proba = self._proba

    def _p1(self, X: Any) -> Any:  # noqa: N803
        import numpy as np

        return np.clip(np.asarray(X["age"], dtype=float) / 100.0, 0, 1)

    def _proba(self, X: Any) -> Any:  # noqa: N803
        import numpy as np

        self.calls.append("predict_proba")
        p1 = self._p1(X)
        return np.column_stack([1 - p1, p1])

    def predict(self, X: Any) -> Any:  # noqa: N803

        self.calls.append("predict")
        out = (self._p1(X) > 0.5).astype(int)
        if 0 <= self.flip < len(out):
            out[self.flip] = 1 - out[self.flip]
        return out


def _call(app: Any, method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
    import asyncio

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "http", "method": method, "path": path}, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"])


def test_one_model_call_per_request_when_the_labels_follow_from_the_probabilities(
        ref: Any) -> None:
    from certify.suites.load.app import check_labels, create_app

    frame = ref[FEATURES]
    honest = _Counting()
    checked = check_labels(honest, frame)
    assert checked["calls_per_request"] == 1 and checked["checked_rows"] == len(frame)
    assert checked["mismatches"] == 0 and "checked equal to predict" in checked["reason"]
    flipped = check_labels(_Counting(flip=3), frame)
    assert flipped["calls_per_request"] == 2 and flipped["mismatches"] == 1
    assert "differ from predict on 1 of 800" in flipped["reason"]
    no_proba = _Counting()
    no_proba.predict_proba = None  # type: ignore[assignment]
    assert check_labels(no_proba, frame)["calls_per_request"] == 1

    config = {"features": FEATURES, "dtypes": {c: str(frame[c].dtype) for c in FEATURES},
              "request_field": "instances", "probabilities": True}
    rows = [[None if v != v else v for v in row] for row in frame.head(3).to_numpy(dtype=object)
            .tolist()]
    body = json.dumps({"instances": rows}).encode()
    answers = {}
    for one_call in (True, False):
        model = _Counting()
        app = create_app(model, {**config, "labels_from_proba": one_call})
        status, doc = _call(app, "POST", "/", body)
        assert status == 200
        answers[one_call] = doc
        assert model.calls == (["predict_proba"] if one_call else ["predict", "predict_proba"])
    assert answers[True] == answers[False]  # the same answer, one call instead of two
    assert _call(app, "POST", "/", b'{"instances": [[1, 2]]}')[0] == 400
    assert _call(app, "POST", "/", b"not json")[0] == 400
    assert _call(app, "GET", "/")[0] == 405
    assert _call(app, "GET", "/nowhere")[0] == 404
    assert _call(app, "GET", "/health") == (200, {"status": "ok", "pid": __import__("os").getpid()})


def test_frame_builder_builds_what_pandas_would(ref: Any) -> None:
    import pandas as pd

    from certify.suites.load.app import FrameBuilder

    frame = ref[FEATURES]
    dtypes = {c: str(frame[c].dtype) for c in FEATURES}
    rows = frame.head(5).to_numpy(dtype=object).tolist()
    rows = [[v.item() if hasattr(v, "item") else v for v in row] for row in rows]
    build = FrameBuilder(FEATURES, dtypes)
    fast = build(rows)
    assert build.verified is True
    pd.testing.assert_frame_equal(fast, build.general(rows))
    # values the fast path does not take: a missing number, text in a numeric column, a bool
    odd = [list(r) for r in rows]
    odd[0][FEATURES.index("income")] = None
    odd[1][FEATURES.index("age")] = "forty"
    odd[2][FEATURES.index("debt_ratio")] = True
    assert build.fast(odd) is None
    pd.testing.assert_frame_equal(build(odd), build.general(odd))
    assert build(odd)["age"].isna().sum() == 1  # coerced, as the server always did


# -- rounds, merging and pictures -------------------------------------------------------------
def test_rounds_phases_and_the_shape_asked_for() -> None:
    from certify.suites.load import LoadSettings
    from certify.suites.load.plan import phase, rounds, shape, worker_plans

    s = LoadSettings(duration_s=4.0, users=4, spike_factor=3.0)
    assert rounds(s, 4.0, 1) == (0.4, 10)
    round_s, count = rounds(s, 8.0, 2)  # compared: twice the time, whole pairs
    assert count % 2 == 0 and abs(round_s * count - 8.0) < 1e-9
    assert [phase("spike", t, 3.0) for t in (0.5, 1.5, 2.5)] == [0, 1, 2]
    assert phase("steady", 2.0, 3.0) == 0 and phase("ramp", 2.9, 3.0) == 3
    plans = worker_plans(s, "spike", 2, 3.0, 0.0)
    asked = shape(s, plans, 3.0, points=31)
    assert asked["unit"] == "users" and max(asked["value"]) == 12 and asked["value"][-1] == 4
    open_s = LoadSettings(mode="open", rate=40.0, duration_s=3.0)
    asked = shape(open_s, worker_plans(open_s, "steady", 2, 3.0, 0.0), 3.0)
    assert asked["unit"] == "requests/s offered" and set(asked["value"]) == {40.0}


def _worker_result(index: int, per_target: list[dict[int, list[float]]]) -> dict[str, Any]:
    """What one Locust process answers for a run of len(per_target) interleaved targets."""
    from certify.suites.load import histogram

    targets = []
    for rounds in per_target:
        whole = histogram.new()
        items = []
        for k, values in sorted(rounds.items()):
            h = histogram.new()
            for v in values:
                histogram.record(h, v)
                histogram.record(whole, v)
            items.append({"k": k, "ok": len(values), "fail": 0, "hist": histogram.encode(h)})
        n = histogram.count(whole)
        targets.append({"hist": histogram.encode(whole), "corrected": None, "fail_hist": "",
                        "requests": n, "successes": n, "failures": 0, "issued": n,
                        "errors": {}, "rounds": items, "offered": None, "unsent": None})
    return {"index": index, "targets": targets, "elapsed_s": 4.0, "stopped_by": "duration",
            "cpu_mean_pct": 20.0, "cpu_samples_pct": [20.0]}


def test_interleaved_runs_merge_per_target_round_by_round() -> None:
    from certify.suites.load import LoadSettings, histogram
    from certify.suites.load.merge import merge_profile, pool

    s = LoadSettings()
    # 4 rounds of 1 s: candidate in rounds 0 and 2, baseline in 1 and 3; two workers
    results = [_worker_result(i, [{0: [1000.0 + i] * 5, 2: [3000.0] * 5},
                                  {1: [2000.0] * 4, 3: [2000.0 + i] * 4}]) for i in range(2)]
    runs = merge_profile(results, s, profile="steady", roles=["candidate", "baseline"],
                         plan={}, round_s=1.0, count=4)
    cand, base = runs["candidate"], runs["baseline"]
    assert len(cand.rounds) == len(base.rounds) == 2
    assert [histogram.count(histogram.decode(r)) for r in cand.rounds] == [10, 10]
    assert cand.successes == 20 and base.successes == 16 and cand.merge["exact"]
    assert [p["t"] for p in cand.series] == [0.5, 2.5] and [p["t"] for p in base.series] == [1.5, 3.5]
    assert cand.elapsed_s == 2.0 and cand.throughput_rps == 10.0  # its own rounds' time
    assert cand.latency_ms["p50"] == pytest.approx(1.0, abs=0.01)
    both = pool(cand, cand)
    assert both.runs == 2 and len(both.rounds) == 4 and both.successes == 40
    assert [p["t"] for p in both.series] == [0.5, 2.5, 4.5, 6.5]


def test_load_pictures_answer_the_question(tmp_path: Path) -> None:
    """Latency with its interval and sample size against the SLO; requests and latency over
    time with the SLO line and the load asked for; the comparison against the allowance; a
    legend names only series with data."""
    import numpy as np

    from certify.reports.charts import draw
    from certify.suite import SuiteRecord
    from certify.suites.load import LoadResult, LoadSettings, LoadSuite
    from certify.suites.load.intervals import regression
    from certify.view import BarChart, IntervalChart, LineChart

    rng = np.random.default_rng(5)
    s = LoadSettings.model_validate({"thresholds": {"p95_ms": {"fail": 30.0},
                                                    "p99_ms": {"fail": 5000.0}}})
    cand = _run([list(rng.lognormal(9.5, 0.3, 50)) for _ in range(6)])
    base = _run([list(rng.lognormal(9.4, 0.3, 50)) for _ in range(6)], role="baseline")
    for one, offset in ((cand, 0.25), (base, 0.75)):
        one.series = [{"t": i + offset, "requests": 50, "failures": 0, "rps": 100.0,
                       "p50_ms": 13.0, "p95_ms": 20.0, "p99_ms": 25.0} for i in range(6)]
        one.shape = {"unit": "users", "t": [0, 3, 6], "value": [4, 4, 4]}
    result = LoadResult(target={}, mode="closed", generators=[], settings={},
                        runs={("candidate", "steady"): cand, ("baseline", "steady"): base},
                        regressions={"steady": regression(cand, base, s, 1)},
                        serving={"candidate": {"calls_per_request": 1, "reason": "one call"}})
    data = json.loads(json.dumps(LoadSuite().report_data(
        __import__("types").SimpleNamespace(settings=s), result)))  # type: ignore[arg-type]
    panels = LoadSuite().panels(SuiteRecord("load", s, data, []))
    titles = [p.title for p in panels]
    assert titles[0] == "How the model was served"
    for title in ("Latency percentiles: steady", "Throughput over time: steady",
                  "Latency over time: steady", "p95 regression: steady"):
        assert title in titles
    lat = panels[titles.index("Latency percentiles: steady")]
    intervals = [c for c in lat.charts if isinstance(c, IntervalChart)]
    assert intervals and {r.series for r in intervals[0].rows} == {0, 1}
    assert all(r.lo is not None and r.hi is not None for r in intervals[0].rows)
    bars = [c for c in lat.charts if isinstance(c, BarChart)]
    assert lat.charts[0] is intervals[0] and bars and "(n=300)" in bars[0].series[0]
    assert any(g.limit == 30.0 for g in bars[0].groups)  # the SLO fail level
    assert any(k == "p95 (ms)" and "[" in v for k, v in lat.items)
    over = panels[titles.index("Latency over time: steady")]
    assert isinstance(over.chart, LineChart)
    assert [h.label for h in over.chart.hlines] == ["p95 SLO 30 ms"]  # within reach
    assert "p99 ≤ 5000 ms" in over.note  # far above: named, not drawn
    throughput = panels[titles.index("Throughput over time: steady")]
    rps, users = throughput.charts
    assert isinstance(rps, LineChart) and isinstance(users, LineChart)
    assert rps.title == "Throughput over time (steady)" and rps.y_label == "requests/s"
    assert users.title == "Load asked for (steady)" and users.y_label == "users"
    assert [s_.name for s_ in rps.series] == ["candidate", "baseline"]
    for panel in panels:
        for chart in [panel.chart, *panel.charts]:
            if chart is not None:
                assert chart.title and draw(chart, "u1") is not None
    # without a baseline, no legend names one
    alone = LoadResult(target={}, mode="closed", generators=[], settings={},
                       runs={("candidate", "steady"): cand})
    data = json.loads(json.dumps(LoadSuite().report_data(
        __import__("types").SimpleNamespace(settings=s), alone)))  # type: ignore[arg-type]
    for panel in LoadSuite().panels(SuiteRecord("load", s, data, [])):
        for chart in [panel.chart, *panel.charts]:
            svg = str(draw(chart, "u2")) if chart is not None else ""
            assert "baseline" not in svg


def test_generator_interleaves_targets_and_spreads_users_over_server_workers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One real Locust process (started by the generator actor's code, without Ray) against
    two targets of two "server workers" each: the rounds alternate the targets, and the users
    are spread evenly over each target's workers (a shared socket let the kernel put all the
    connections on one worker)."""
    import socket as socket_mod
    from http.server import ThreadingHTTPServer

    from certify.suites.load import LoadSettings
    from certify.suites.load.generator import GeneratorActor
    from certify.suites.load.merge import merge_profile
    from certify.suites.load.plan import worker_plans
    from tests.http_model_server import JsonHandler

    class Counting(JsonHandler):
        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket_mod.IPPROTO_TCP, socket_mod.TCP_NODELAY, 1)

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            self.rfile.read(int(self.headers["content-length"]))
            self.server.count += 1  # type: ignore[attr-defined]
            self._send(200, {"predictions": [0]})

    servers = []
    for _ in range(4):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
        server.count = 0  # type: ignore[attr-defined]
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    hosts = [f"http://127.0.0.1:{s.server_address[1]}" for s in servers]
    setup = {"host": hosts[0], "hosts": hosts[:2], "path": "/", "bodies": ['{"instances":[[1]]}'],
             "headers": {}, "expect": '"predictions"', "timeout_s": 5, "seed": 1, "index": 0,
             "open_users": 2, "think_time_s": 0.0, "grace_s": 15}
    actor = GeneratorActor(setup)
    monkeypatch.setattr(actor, "info", lambda: {})
    try:
        assert "error" not in actor.start(60)
        s = LoadSettings(users=4, duration_s=2.0)
        plans = worker_plans(s, "steady", 1, 2.0, time.time() + 0.2,
                             [{}, {"hosts": hosts[2:], "host": hosts[2]}], 0.25, 0.2)
        before = [srv.count for srv in servers]  # type: ignore[attr-defined]
        result = actor.run(plans[0], 30)
    finally:
        actor.close()
        for server in servers:
            server.shutdown()
    assert "error" not in result, result
    counts = [srv.count - b for srv, b in zip(servers, before, strict=True)]  # type: ignore[attr-defined]
    assert all(c > 5 for c in counts), counts
    for a, b in ((0, 1), (2, 3)):  # two users on each worker of each target
        assert abs(counts[a] - counts[b]) <= 0.35 * max(counts[a], counts[b]), counts
    runs = merge_profile([result], s, profile="steady", roles=["candidate", "baseline"],
                         plan={}, round_s=0.25, count=8)
    cand, base = runs["candidate"], runs["baseline"]
    assert len(cand.rounds) == len(base.rounds) == 4
    assert [p["t"] for p in cand.series] == [0.125, 0.625, 1.125, 1.625]
    assert cand.successes + base.successes <= sum(counts)  # the lead-in is not measured
    assert cand.merge["exact"] and base.merge["exact"]


def test_each_server_worker_listens_on_its_own_port(ref: Any, fitted: Any) -> None:
    import http.client

    from certify.models.sklearn import SklearnModel
    from certify.suites.load.server import ModelServer

    model = SklearnModel(fitted, name="lr", digest="sha256:test", source="test", format="skops",
                         task="classification", classes=[0, 1], features=FEATURES)
    frame = ref[FEATURES]
    with ModelServer(model, features=FEATURES, dtypes={c: str(frame[c].dtype) for c in FEATURES},
                     workers=2, labels_from_proba=True) as server:
        assert len(server.urls) == 2 and len(set(server.ports)) == 2
        pids = set()
        for port in server.ports:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/health")
            pids.add(json.loads(conn.getresponse().read())["pid"])
            conn.close()
        assert pids == set(server.pids())
