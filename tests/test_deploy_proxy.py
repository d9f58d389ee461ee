"""The weighted ingress (no Ray needed): a seeded split near its weight, sticky on a request key,
the answering deployment named in every response, a 502 naming it when it is down, and the live
split readable at /-/certify/state. Upstreams are small real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import http.client
import json
import random
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from certify.deploy.analysis import Sample, compare_rounds, judge_step, mean, percentile
from certify.deploy.plan import AnalysisSpec
from certify.deploy.targets.proxy import WeightedProxy, choose
from certify.deploy.traffic import drive
from tests.http_model_server import JsonHandler, in_thread


class _Upstream(JsonHandler):
    server: _UpstreamServer

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.paths.append(self.path)
        self._send(200, {"path": self.path, "echo": json.loads(body or b"null")})


class _UpstreamServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Upstream)
        self.paths: list[str] = []


def split(weight: float, **extra: Any) -> dict[str, Any]:
    return {"routes": {"champion": {"version": 1, "path": "/m/v1", "digest": "sha256:aa"},
                       "candidate": {"version": 2, "path": "/m/v2", "digest": "sha256:bb"}},
            "weight": weight, "seed": 7, **extra}


@pytest.fixture
def ingress() -> Iterator[tuple[WeightedProxy, int, _UpstreamServer]]:
    with in_thread(_UpstreamServer()) as upstream:
        loop = asyncio.new_event_loop()
        proxy = WeightedProxy("127.0.0.1", upstream.server_address[1], split(10.0))
        port = loop.run_until_complete(proxy.start("127.0.0.1", 0))
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        try:
            yield proxy, port, upstream
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)


def test_the_split_is_seeded_and_near_its_weight() -> None:
    rng = random.Random(7)
    draws = Counter(choose(split(10.0), None, rng) for _ in range(4000))
    assert 0.08 < draws["candidate"] / 4000 < 0.12
    first, second = random.Random(7), random.Random(7)
    assert [choose(split(10.0), None, first) for _ in range(50)] == \
        [choose(split(10.0), None, second) for _ in range(50)]
    assert choose(split(0.0), None, rng) == "champion"
    assert choose(split(100.0), None, rng) == "candidate"
    only = {"routes": {"champion": split(0)["routes"]["champion"]}, "weight": 50.0}
    assert choose(only, None, rng) == "champion"


def test_a_request_key_is_sticky_and_keys_split_by_weight() -> None:
    rng = random.Random(1)
    for key in (b"client-1", b"client-2", b"client-3"):
        assert len({choose(split(30.0), key, rng) for _ in range(20)}) == 1
    keys = [f"client-{i}".encode() for i in range(3000)]
    share = sum(choose(split(30.0), k, rng) == "candidate" for k in keys) / len(keys)
    assert 0.26 < share < 0.34
    # raising the weight only moves keys from champion to candidate (monotone buckets)
    low = {k for k in keys if choose(split(10.0), k, rng) == "candidate"}
    high = {k for k in keys if choose(split(50.0), k, rng) == "candidate"}
    assert low <= high


def test_responses_name_who_answered_and_the_state_is_readable(
        ingress: tuple[WeightedProxy, int, _UpstreamServer]) -> None:
    proxy, port, upstream = ingress
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    roles = Counter()
    for _ in range(200):  # one keep-alive connection throughout
        conn.request("POST", "/?q=1", body=b'{"instances": [[1]]}',
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        body = json.loads(response.read())
        role = response.getheader("x-certify-role")
        roles[role] += 1
        version = response.getheader("x-certify-version")
        assert body["path"] == f"/m/v{version}?q=1" and body["echo"] == {"instances": [[1]]}
        assert response.getheader("x-certify-digest") == {"1": "sha256:aa", "2": "sha256:bb"}[version]
    assert roles["candidate"] + roles["champion"] == 200 and 5 <= roles["candidate"] <= 40
    conn.request("GET", "/-/certify/state")
    state = json.loads(conn.getresponse().read())
    assert state["config"]["weight"] == 10.0 and state["counts"]["candidate"] == roles["candidate"]
    proxy.configure(split(100.0))
    conn.request("POST", "/", body=b"{}", headers={"Content-Type": "application/json"})
    assert conn.getresponse().getheader("x-certify-role") == "candidate"
    conn.close()


def test_a_dead_upstream_is_a_502_naming_the_deployment() -> None:
    loop = asyncio.new_event_loop()
    proxy = WeightedProxy("127.0.0.1", 9, split(100.0))  # port 9: nothing listens
    port = loop.run_until_complete(proxy.start("127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/", body=b"{}", headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 502 and response.getheader("x-certify-role") == "candidate"
        assert "candidate v2 did not answer" in json.loads(response.read())["error"]
        conn.request("POST", "/", body=b"{}", headers={"Transfer-Encoding": "chunked"})
        assert conn.getresponse().status == 411
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)


def test_analysis_traffic_is_bounded_and_attributed(
        ingress: tuple[WeightedProxy, int, _UpstreamServer]) -> None:
    _, port, upstream = ingress
    rounds = drive(f"http://127.0.0.1:{port}/", [b'{"instances": [[1]]}'], rounds=3,
                   max_requests=90, duration_s=20.0, concurrency=3, timeout_s=5.0, seed=3,
                   sticky_header="X-Client")
    assert [len(r) for r in rounds] == [30, 30, 30]
    flat = [s for r in rounds for s in r]
    assert all(s.ok for s in flat) and {s.role for s in flat} == {"champion", "candidate"}
    assert len(upstream.paths) == 90
    spec = AnalysisSpec(latency_metric="p50_ms")
    step = judge_step(rounds, weight=10.0, spec=spec, slos={"p99_ms": 5000.0,
                                                            "error_rate": 0.01},
                      compare=True, seed=1)
    assert step.passed, step.reasons
    assert {c.metric for c in step.comparisons} == {"p50_ms", "error_rate"}


def test_the_comparison_fails_only_when_the_interval_clears_the_margin() -> None:
    rng = random.Random(0)
    same = [[rng.gauss(10, 1) for _ in range(60)] for _ in range(4)]
    other = [[rng.gauss(10, 1) for _ in range(60)] for _ in range(4)]
    even = compare_rounds(same, other, statistic=percentile(95), margin=2.0, metric="p95_ms")
    assert even.outcome == "pass" and even.low is not None and even.low < 0 < (even.high or 0)
    slow = [[x + 30 for x in r] for r in same]
    worse = compare_rounds(slow, other, statistic=percentile(95), margin=2.0, metric="p95_ms")
    assert worse.outcome == "fail" and "entirely above the margin" in worse.reason
    few = compare_rounds([[13.0, 9.0]], [[10.0, 10.5]], statistic=percentile(95), margin=2.0,
                         metric="p95_ms")
    assert few.outcome == "inconclusive" and "not a failure" in few.reason
    errors = compare_rounds([[0.0] * 50 + [1.0] * 50], [[0.0] * 100], statistic=mean,
                            margin=0.01, metric="error_rate")
    assert errors.outcome == "fail"
    none = compare_rounds([[]], [[1.0]], statistic=mean, margin=0.0, metric="error_rate")
    assert none.outcome == "inconclusive" and "no candidate samples" in none.reason


def test_a_step_fails_on_its_slos_and_on_unanswered_requests() -> None:
    spec = AnalysisSpec()
    slow = [[Sample("candidate", 900.0, True)] * 5 + [Sample("champion", 5.0, True)] * 20]
    step = judge_step(slow, weight=20, spec=spec, slos={"p50_ms": 250.0}, compare=False, seed=0)
    assert not step.passed and "candidate p50_ms 900 exceeds the SLO 250" in step.reasons[0]
    lost = [[Sample("unknown", 5000.0, False, "timeout")] * 3]
    step = judge_step(lost, weight=20, spec=spec, slos={}, compare=True, seed=0)
    assert not step.passed and "got no answer from the ingress" in step.reasons[0]
