"""load: will the candidate hold production traffic? Locust on Ray against the served model.

The candidate is served over real HTTP for the test (uvicorn and a plain ASGI app, several
worker processes, 127.0.0.1 on a free port: :mod:`.server`, :mod:`.app`), one model call per
request when its labels follow from its probabilities (checked on the whole evaluation sample
at start-up, :func:`.app.check_labels`), or, when the candidate is the HTTP adapter, its own URL
is the target. Request bodies are real evaluation rows (sent as they are; sensitive values
never reach an artifact). Load comes from Locust ``FastHttpUser`` processes, each started and
supervised by a Ray actor (:mod:`.generator`; gevent never enters a Ray worker or the pytest
process); local Ray on 127.0.0.1 by default, ``RAY_ADDRESS`` or ``ray_address`` joins a cluster
and the actors spread over its nodes. Each profile (``steady``, ``ramp``, ``spike``) is bounded
in time and in requests, after an unmeasured lead-in; per-request latencies are recorded in
microseconds into HdrHistograms, per round, and merged exactly (:mod:`.histogram`). ``mode =
"open"`` sends at a fixed arrival rate and measures latency from the intended send time (no
coordinated omission).

Decisions hold (:mod:`.compare`): every latency percentile has a bootstrap interval over the
run's rounds; a latency SLO fails only when its whole interval is above the fail level, passes
only when it is wholly below, and is otherwise measured again (``extend_runs``) and then
*inconclusive* (warned). With ``compare_baseline`` both models are served at once and each of
``baseline_profiles`` alternates the load between them in rounds (candidate, baseline, ...);
``p95_regression`` fails only when the interval of the difference clears the allowance.

Checks (``<metric>[<profile>]``, thresholds from ``thresholds`` and ``profile_thresholds``):
``load::p50_ms``, ``p90_ms``, ``p95_ms``, ``p99_ms``, ``p999_ms``, ``error_rate``,
``throughput_rps``; ``load::p95_regression[<profile>]`` against the baseline served the
same way (``compare_baseline``); ``load::delayed_ack`` warns when latencies cluster around
40 ms. A saturated generator (CPU above ``generator_cpu_limit``), a dead Ray actor or Locust
process, or a listener error makes the profile's checks ``errored`` (``on_saturated =
"warn"`` warns instead for saturation); a server that dies, hangs or answers 5xx fails them.

Modules, one job each: :mod:`.settings` (the policy section), :mod:`.suite` (the
:class:`~certify.suite.Suite`), :mod:`.engine` (the run, callable without pytest; with
:mod:`.target` what is loaded and with what, :mod:`.plan` the traffic shapes and rounds,
:mod:`.merge` the generators' results merged, :mod:`.intervals` the runs' intervals and
regressions, :mod:`.result` the typed result), :mod:`.compare` (the statistics, pure),
:mod:`.checks` (one function per check), :mod:`.view` (the panels); and what runs in other
processes: :mod:`.server` and :mod:`.app`, :mod:`.generator` (Ray actors), ``_locust_worker``,
with :mod:`.histogram`, :mod:`.probe` and :mod:`.procs`.

``report_data`` keys:

* ``target``: ``{"kind": "served"|"url", "url", "server_workers"}`` (a user URL's query
  string is dropped).
* ``mode``: ``"closed"`` or ``"open"``; ``settings``: workers, users, rate, duration_s,
  max_requests, spike_factor, ramp_to, confidence, extend_runs.
* ``generators``: one ``{"index", "node_id", "hostname", "actor_pid", "locust_pid"}`` per
  Locust process.
* ``serving``: per served role, ``{"calls_per_request", "checked_rows", "mismatches",
  "reason"}``.
* ``profiles``: ``{profile: {...}}`` for the candidate, each with ``requests``, ``successes``,
  ``failures``, ``error_rate``, ``throughput_rps``, ``elapsed_s`` (this target's measured
  time), ``stopped_by``, ``latency_ms`` (merged ``count``, ``min``, ``mean``, ``max``, ``p50``,
  ``p90``, ``p95``, ``p99``, ``p999``), ``latency_ci_ms`` (``{p50: [low, high], ...}``),
  ``confidence``, ``interval_method``, ``rounds``, ``round_s``, ``runs`` (1 + extensions),
  ``span_s``, ``shape`` (the load asked for: ``{"unit", "t", "value"}``),
  ``service_latency_ms`` (open loop: without the wait for the scheduled send; else equal to
  ``latency_ms``), ``errors`` (``{"HTTP 500": n, "timeout": n, ...}``), ``series`` (one point
  per round: ``t`` (its middle, seconds into the run), ``requests``, ``failures``, ``rps``,
  ``p50_ms``, ``p95_ms``, ``p99_ms``), ``generator_cpu`` (per worker: ``index``,
  ``mean_pct``, ``peak_pct``, ``loop_lag_p99_ms``), ``generator_saturated``,
  ``server_cpu_pct``, ``server_died``, ``generator_error``, ``merge`` (``{"merged_count",
  "sum_of_workers", "exact"}``), ``offered`` / ``unsent`` (open loop), ``thresholds``
  (``{metric: {"fail", "warn"}}``).
* ``baseline``: the same per-profile records for the baseline, or ``null``.
* ``regressions``: per compared profile, ``decision`` (pass/fail/inconclusive),
  ``difference`` and its interval ``low``/``high`` (ms), ``allowance``, ``margin``, ``slack``,
  ``confidence``, ``pairs``, ``reason``, and the two p95s with their intervals.
* ``delayed_ack_probe``: ``{"probes", "gap_ms", "gap_max_ms", "latency_ms"}`` from sequential
  keep-alive requests after the profiles (``gap_ms``: median time from a response's first
  to its last byte; ~40 ms means TCP delayed ACK), or ``{"error": ...}``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from certify.suites.load.result import LoadResult, ProfileRun
    from certify.suites.load.settings import LoadSettings
    from certify.suites.load.suite import LoadSuite

__all__ = ["LoadResult", "LoadSettings", "LoadSuite", "ProfileRun"]

#: Public name -> the module of this package that defines it.
_LAZY = {"LoadSuite": "suite", "LoadSettings": "settings", "LoadResult": "result",
         "ProfileRun": "result"}


def __getattr__(name: str) -> Any:
    # Lazy on purpose: the server and Locust processes (``python -m certify.suites.load.server``,
    # ``..._locust_worker``) and the generator's Ray actors import this package first, and must
    # stay light: the suite's modules pull in pydantic, pandas and the core (over a second),
    # and nothing may be imported into a Locust process before gevent patches it.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
