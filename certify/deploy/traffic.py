"""Analysis traffic: real evaluation rows sent through a target's weighted ingress, bounded in
count and time, each answer attributed to the deployment that served it.

Why not the load suite's Locust generators: they merge every latency of a profile into one
histogram, while a canary step must split the figures by the deployment that answered (the
ingress names it in the ``x-certify-role`` header of each response). So the step runs a small
closed loop of its own: ``concurrency`` threads, each with one keep-alive connection
(``TCP_NODELAY``), in ``rounds`` interleaved rounds, stopping at ``max_requests`` or
``duration_s``, whichever comes first; a request unanswered within ``request_timeout_s`` is an
error. Every random choice comes from the seed.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass

import numpy as np
import pandas as pd

from certify.deploy.analysis import Sample
from certify.jsonsafe import scalar

ROLE_HEADER = "x-certify-role"


def request_bodies(frame: pd.DataFrame, *, count: int, rows_per_request: int,
                   seed: int) -> list[bytes]:
    """``count`` request bodies ``{"instances": [[...], ...]}`` of rows drawn with the seed."""
    rows = frame.to_numpy(dtype=object)
    rng = np.random.default_rng(seed)
    bodies = []
    for _ in range(count):
        picks = rng.integers(0, len(rows), size=rows_per_request)
        instances = [[scalar(v) for v in rows[i]] for i in picks]
        bodies.append(json.dumps({"instances": instances}, allow_nan=False,
                                 separators=(",", ":"), default=str).encode())
    return bodies


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urllib.parse.urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/")


class _Client:
    def __init__(self, endpoint: Endpoint, timeout_s: float) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(self.endpoint.host, self.endpoint.port,
                                          timeout=self.timeout_s)
        conn.connect()
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def post(self, body: bytes, headers: dict[str, str]) -> Sample:
        start = time.perf_counter()
        role = "unknown"
        try:
            if self.conn is None:
                self.conn = self._connect()
            self.conn.request("POST", self.endpoint.path, body=body,
                              headers={"Content-Type": "application/json", **headers})
            response = self.conn.getresponse()
            role = response.getheader(ROLE_HEADER) or "unknown"
            response.read()
            elapsed = (time.perf_counter() - start) * 1000.0
            if response.status != 200:
                return Sample(role, elapsed, False, f"HTTP {response.status}")
            return Sample(role, elapsed, True)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            kind = "timeout" if isinstance(exc, TimeoutError | socket.timeout) else type(exc).__name__
            return Sample(role, (time.perf_counter() - start) * 1000.0, False, kind)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def drive(url: str, bodies: list[bytes], *, rounds: int, max_requests: int, duration_s: float,
          concurrency: int, timeout_s: float, seed: int,
          sticky_header: str | None = None) -> list[list[Sample]]:
    """Send bounded traffic to ``url`` in ``rounds`` rounds; the samples of each round.

    With ``sticky_header``, every request carries a fresh client key (seeded), so the split
    still follows the weight while each key stays on one deployment.
    """
    endpoint = Endpoint.parse(url)
    per_round = max(1, max_requests // rounds)
    round_s = duration_s / rounds
    rng = random.Random(seed)
    out: list[list[Sample]] = []
    clients = [_Client(endpoint, timeout_s) for _ in range(concurrency)]
    try:
        for _ in range(rounds):
            plan = [(bodies[rng.randrange(len(bodies))],
                     {sticky_header: f"client-{rng.getrandbits(48):012x}"} if sticky_header else {})
                    for _ in range(per_round)]
            out.append(_one_round(clients, plan, round_s))
    finally:
        for client in clients:
            client.close()
    return out


def _one_round(clients: list[_Client], plan: list[tuple[bytes, dict[str, str]]],
               limit_s: float) -> list[Sample]:
    deadline = time.monotonic() + limit_s
    lock = threading.Lock()
    cursor = [0]
    samples: list[Sample] = []

    def work(client: _Client) -> None:
        while time.monotonic() < deadline:
            with lock:
                index = cursor[0]
                if index >= len(plan):
                    return
                cursor[0] += 1
            body, headers = plan[index]
            sample = client.post(body, headers)
            with lock:
                samples.append(sample)

    threads = [threading.Thread(target=work, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        # A request in flight at the deadline ends within its own timeout.
        thread.join(timeout=max(0.0, deadline - time.monotonic()) + clients[0].timeout_s + 5)
    with lock:
        return list(samples)
