"""load: will the candidate hold production traffic? Locust on Ray against the served model.

The candidate is served over real HTTP for the test (uvicorn + Starlette, several worker
processes, 127.0.0.1 on a free port: :mod:`.server`), or, when the candidate is the HTTP
adapter, its own URL is the target. Request bodies are real evaluation rows (sent as
they are; sensitive values never reach an artifact). Load comes from Locust
``FastHttpUser`` processes, each started and supervised by a Ray actor
(:mod:`.generator`; gevent never enters a Ray worker or the pytest process); local Ray
on 127.0.0.1 by default, ``RAY_ADDRESS`` or ``ray_address`` joins a cluster and the
actors spread over its nodes. Each profile (``steady``, ``ramp``, ``spike``) is bounded in
time and in requests; per-request latencies are recorded in microseconds into
HdrHistograms and merged exactly (:mod:`.histogram`). ``mode = "open"`` sends at a fixed
arrival rate and measures latency from the intended send time (no coordinated omission).

Checks (``<metric>[<profile>]``, thresholds from ``thresholds`` and ``profile_thresholds``):
``load::p50_ms``, ``p90_ms``, ``p95_ms``, ``p99_ms``, ``p999_ms``, ``error_rate``,
``throughput_rps``; ``load::p95_regression[<profile>]`` against the baseline served the
same way (``compare_baseline``); ``load::delayed_ack`` warns when latencies cluster around
40 ms. A saturated generator (CPU above ``generator_cpu_limit``), a dead Ray actor or Locust
process, or a listener error makes the profile's checks ``errored`` (``on_saturated =
"warn"`` warns instead for saturation); a server that dies, hangs or answers 5xx fails them.

``report_data`` keys:

* ``target``: ``{"kind": "served"|"url", "url", "server_workers"}`` (a user URL's query
  string is dropped).
* ``mode``: ``"closed"`` or ``"open"``; ``settings``: workers, users, rate, duration_s,
  max_requests, spike_factor, ramp_to.
* ``generators``: one ``{"index", "node_id", "hostname", "actor_pid", "locust_pid"}`` per
  Locust process.
* ``profiles``: ``{profile: {...}}`` for the candidate, each with ``requests``, ``successes``,
  ``failures``, ``error_rate``, ``throughput_rps``, ``elapsed_s``, ``stopped_by``,
  ``latency_ms`` (merged ``count``, ``min``, ``mean``, ``max``, ``p50``, ``p90``, ``p95``,
  ``p99``, ``p999``), ``service_latency_ms`` (open loop: without the wait for the scheduled
  send; else equal to ``latency_ms``), ``errors`` (``{"HTTP 500": n, "timeout": n, ...}``),
  ``series`` (per second: ``t``, ``requests``, ``failures``, ``rps``, ``p50_ms``, ``p95_ms``,
  ``p99_ms``), ``generator_cpu`` (per worker: ``index``, ``mean_pct``, ``peak_pct``,
  ``loop_lag_p99_ms``), ``generator_saturated``, ``server_cpu_pct``, ``server_died``,
  ``generator_error``, ``merge`` (``{"merged_count", "sum_of_workers", "exact"}``),
  ``offered`` / ``unsent`` (open loop), ``thresholds`` (``{metric: {"fail", "warn"}}``).
* ``baseline``: the same per-profile records for the baseline, or ``null``.
* ``delayed_ack_probe``: ``{"probes", "gap_ms", "gap_max_ms", "latency_ms"}`` from sequential
  keep-alive requests after the profiles (``gap_ms``: median time from a response's first
  to its last byte; ~40 ms means TCP delayed ACK), or ``{"error": ...}``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LoadSettings", "LoadSuite"]


def __getattr__(name: str) -> Any:
    # Lazy: the Locust and server subprocesses import this package and must stay light.
    if name in ("LoadSuite", "LoadSettings"):
        from certify.suites.load import suite

        return getattr(suite, name)
    raise AttributeError(name)
