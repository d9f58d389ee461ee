"""A small real HTTP model server for tests: the JSON protocol of certify/models/http.py.

``POST /`` with ``{"instances": [[f1, f2, ...], ...]}`` (features in ``features`` order,
``null`` for missing values) answers ``{"predictions": [...], "probabilities": [[...]]}``.
A malformed body, a row of the wrong length, or an input the model rejects with
``ValueError``/``TypeError`` is a 400; any other exception in the model is a 500.

Standard library only (``ThreadingHTTPServer`` on 127.0.0.1, HTTP/1.1 keep-alive) with
TCP_NODELAY on every connection: without it a keep-alive request waits ~40 ms for a
delayed ACK (DESIGN.md).
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar


def _clean(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class JsonHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, quiet, with a JSON reply helper (shared by the test servers)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # the client went away (a load profile ends with requests in flight): not an error
            # of the server's, and no traceback on the console
            self.close_connection = True


class _Handler(JsonHandler):
    server: _ModelServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # One OpenMP thread for this connection's thread: on a busy machine, boosted trees
        # with several spinning OpenMP threads take seconds per small batch.
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="openmp")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        import pandas as pd

        self.server.requests += 1
        length = int(self.headers.get("content-length") or 0)
        try:
            payload = json.loads(self.rfile.read(length) or b"null")
            rows = payload["instances"]
            features = self.server.features
            if not isinstance(rows, list) or any(
                    not isinstance(r, list) or len(r) != len(features) for r in rows):
                raise ValueError(f"each instance must be a list of {len(features)} values")
        except (ValueError, KeyError, TypeError) as exc:
            self._send(400, {"error": f"bad request: {exc}"})
            return
        frame = pd.DataFrame(rows, columns=features, dtype=object)
        numeric = self.server.numeric
        for column in features:
            if column in numeric:
                frame[column] = frame[column].infer_objects()
        model = self.server.model
        try:
            predictions = model.predict(frame)
            probabilities = model.predict_proba(frame) if hasattr(model, "predict_proba") else None
        except (ValueError, TypeError) as exc:
            self._send(400, {"error": f"rejected: {type(exc).__name__}: {exc}"})
            return
        except Exception as exc:  # noqa: BLE001 - a crash of the model is the server's 500
            self._send(500, {"error": f"{type(exc).__name__}: {exc}"})
            return
        out: dict[str, Any] = {"predictions": [_clean(v) for v in list(predictions)]}
        if probabilities is not None:
            out["probabilities"] = [[_clean(v) for v in row] for row in probabilities.tolist()]
        self._send(200, out)


class _ModelServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, model: Any, features: list[str], numeric: list[str]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.model = model
        self.features = features
        self.numeric = set(numeric)
        self.requests = 0
        self.url = f"http://127.0.0.1:{self.server_address[1]}/"


S = TypeVar("S", bound=ThreadingHTTPServer)


@contextlib.contextmanager
def in_thread(server: S) -> Iterator[S]:
    """Run ``server`` in a thread for the duration of the block, then shut it down."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serving(model: Any, features: list[str], numeric: list[str]
            ) -> contextlib.AbstractContextManager[_ModelServer]:
    """Serve ``model`` on 127.0.0.1 (a free port) for the duration of the block;
    ``server.url`` is its address and ``server.requests`` counts requests."""
    return in_thread(_ModelServer(model, features, numeric))
