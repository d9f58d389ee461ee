"""A few sequential keep-alive requests that time each response's first and last byte.

On loopback a small response arrives within microseconds of its first byte. When the
server writes headers and body separately without ``TCP_NODELAY``, Nagle's algorithm
holds the body until the client acknowledges the headers, and the client delays that ACK
by ~40 ms (DESIGN.md, pitfalls): the body then arrives ~40 ms after the headers, on every
request of a kept-alive connection, whatever the model's own speed. The probe measures
that gap directly; plain sockets, no third-party client, bounded in time.
"""

from __future__ import annotations

import socket
import statistics
import time
import urllib.parse
from typing import Any


def _read_response(sock: socket.socket, deadline: float) -> tuple[float, float]:
    """Read one HTTP/1.1 response with a Content-Length; ``(first byte, last byte)`` times."""
    buffer = b""
    first = 0.0
    while b"\r\n\r\n" not in buffer:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the headers")
        if not first:
            first = time.perf_counter()
        buffer += chunk
    head, _, body = buffer.partition(b"\r\n\r\n")
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        raise ValueError("response without Content-Length")
    while len(body) < length:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the body")
        body += chunk
    return first, time.perf_counter()


def probe(url: str, body: str, headers: dict[str, str], *, count: int = 12,
          timeout_s: float = 10.0, budget_s: float = 1.5, least: int = 3) -> dict[str, Any]:
    """Send up to ``count`` requests one after another on one keep-alive connection.

    Stops early after ``budget_s`` once ``least`` probes are in (a slow model's probes cost
    its latency each); never runs past ``timeout_s``.

    Returns ``gap_ms`` (median time from a response's first to its last byte), ``gap_max_ms``,
    ``latency_ms`` (median), ``probes`` (answered), or ``error`` when the probe could not run.
    The first request is not counted (a new connection acknowledges quickly).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return {"error": f"not probed ({parts.scheme} URL)"}
    port = parts.port or 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    data = body.encode()
    lines = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: keep-alive",
             f"Content-Length: {len(data)}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in
              ("host", "content-length", "content-type", "connection")]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + data
    deadline = time.monotonic() + timeout_s
    gaps: list[float] = []
    latencies: list[float] = []
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            started = time.monotonic()
            for i in range(count + 1):
                now = time.monotonic()
                if now > deadline or (len(gaps) >= least and now - started > budget_s):
                    break
                sent = time.perf_counter()
                sock.sendall(request)
                first, last = _read_response(sock, deadline)
                if i:
                    gaps.append((last - first) * 1000)
                    latencies.append((last - sent) * 1000)
    except (OSError, ValueError) as exc:
        if not gaps:
            return {"error": f"{type(exc).__name__}: {exc}"}
    if not gaps:
        return {"error": "no answer within the probe's time"}
    return {"probes": len(gaps), "gap_ms": round(statistics.median(gaps), 3),
            "gap_max_ms": round(max(gaps), 3), "latency_ms": round(statistics.median(latencies), 3)}
