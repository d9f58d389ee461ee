"""The HTTP endpoint adapter against a real server on 127.0.0.1: secret headers from the
environment (never written anywhere), configurable field names, retries on 5xx, timeouts."""

from __future__ import annotations

import contextlib
import json
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from certify.errors import ConfigError, ModelError
from certify.models import RejectedInput, load_model
from certify.policy import ModelSpec
from tests.http_model_server import JsonHandler, in_thread

SECRET = "s3cr3t-token-9f1c2e"


class _Handler(JsonHandler):
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        srv = self.server
        srv.requests += 1
        srv.seen_headers.append(self.headers.get("authorization"))
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        if self.headers.get("authorization") != f"Bearer {SECRET}":
            self._send(401, {"error": "unauthorised"})
            return
        if srv.fail_first > 0:
            srv.fail_first -= 1
            self._send(503, {"error": "warming up"})
            return
        if srv.sleep_s:
            time.sleep(srv.sleep_s)
        rows = body["rows"]  # a custom request field
        p = [min(max(row[0] / 100.0, 0.0), 1.0) for row in rows]
        self._send(200, {"labels": [int(x > 0.5) for x in p],
                         "scores": [[1 - x, x] for x in p]})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests = 0
        self.fail_first = 0
        self.sleep_s = 0.0
        self.seen_headers: list[str | None] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}/score"


def serving() -> contextlib.AbstractContextManager[_Server]:
    return in_thread(_Server())


def _spec(url: str, **over: Any) -> ModelSpec:
    return ModelSpec.model_validate({
        "url": url, "format": "http", "headers": {"Authorization": "env:SCORING_TOKEN"},
        "request_field": "rows", "predictions_field": "labels", "probabilities_field": "scores",
        "classes": [0, 1], "retries": 0, "timeout_s": 5.0,
        "options": {"features": ["age", "income"], "task": "classification"}, **over})


FRAME = pd.DataFrame({"age": [20.0, 80.0, 55.0], "income": [1.0, 2.0, 3.0]})


def test_secret_header_from_the_environment_and_custom_fields(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORING_TOKEN", f"Bearer {SECRET}")
    with serving() as server:
        model = load_model(_spec(server.url), Path.cwd(), "candidate")
        assert list(model.predict(FRAME)) == [0, 1, 1]
        proba = model.predict_proba(FRAME)
        assert proba is not None and proba[1, 1] == pytest.approx(0.8)
        assert server.seen_headers[-1] == f"Bearer {SECRET}"
        # The secret is not in anything the model object would show or serialise.
        assert SECRET not in repr(vars(model)) and SECRET not in model.source


def test_missing_environment_variable_is_a_config_error_naming_the_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCORING_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"candidate\.headers\.Authorization: environment "
                                          r"variable SCORING_TOKEN is not set"):
        load_model(_spec("http://127.0.0.1:9/"), Path.cwd(), "candidate")


def test_a_wrong_secret_is_a_rejection_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORING_TOKEN", "Bearer wrong")
    with serving() as server:
        model = load_model(_spec(server.url), Path.cwd(), "candidate")
        with pytest.raises(RejectedInput, match="HTTP 401"):
            model.predict(FRAME)


def test_retries_on_5xx_then_gives_up_with_the_status(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORING_TOKEN", f"Bearer {SECRET}")
    with serving() as server:
        server.fail_first = 2
        model = load_model(_spec(server.url, retries=2), Path.cwd(), "candidate")
        assert list(model.predict(FRAME)) == [0, 1, 1]
        assert server.requests == 3  # two 503s, then the answer
        server.fail_first = 5
        impatient = load_model(_spec(server.url, retries=1), Path.cwd(), "candidate")
        with pytest.raises(ModelError, match=r"failed: HTTP 503"):
            impatient.predict(FRAME)
        assert server.requests == 5


def test_a_slow_endpoint_times_out_within_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORING_TOKEN", f"Bearer {SECRET}")
    with serving() as server:
        server.sleep_s = 3.0
        model = load_model(_spec(server.url, timeout_s=0.3, retries=1), Path.cwd(), "candidate")
        start = time.monotonic()
        with pytest.raises(ModelError, match=r"timed out after 0\.3s"):
            model.predict(FRAME)
        assert time.monotonic() - start < 2.5  # two tries of 0.3 s and a short back-off


@pytest.mark.slow
def test_certified_over_http_and_the_secret_is_written_nowhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from certify.demo import FEATURES, SEED, make_credit_data
    from certify.policy import load_policy
    from certify.session import CertifySession
    from tests.projects import make_project

    monkeypatch.setenv("SCORING_TOKEN", f"Bearer {SECRET}")
    with serving() as server:
        policy = make_project(tmp_path, baseline=None, suites={"quality": {
            "thresholds": {"accuracy": {"fail": 0.3}}}}, extra={"candidate": {
                "url": server.url, "format": "http",
                "headers": {"Authorization": "env:SCORING_TOKEN"},
                "request_field": "rows", "predictions_field": "labels",
                "probabilities_field": "scores", "classes": [0, 1],
                "options": {"features": FEATURES, "task": "classification"}}},
            reference=make_credit_data(400, SEED), evaluation=make_credit_data(300, SEED + 1))
        session = CertifySession(load_policy(policy))
        session.setup()
        session.run_all()
        result = session.finish()
        assert server.requests > 0
    assert result.report_path.is_file()
    files = [p for p in result.run_dir.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert SECRET not in path.read_bytes().decode("utf-8", errors="ignore"), path
    report = json.loads(result.report_path.read_text())
    assert report["policy"]["candidate"]["headers"] == {"Authorization": "env:SCORING_TOKEN"}
