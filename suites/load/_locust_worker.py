"""One Locust load-generator process: ``python -m certify.suites.load._locust_worker``.

Importing Locust monkey-patches sockets and threads with gevent, so this module runs
only as its own process, started and supervised by a Ray actor
(:mod:`certify.suites.load.generator`). Nothing else may import it.

Protocol (one JSON document per line):

* stdin, first line: the set-up: ``host``, ``path``, ``bodies`` (request bodies, text),
  ``headers``, ``timeout_s``, ``expect`` (a byte string a good response contains),
  ``parent_pid``, ``seed``, ``index``, ``open_users``, ``think_time_s``.
* stdout: ``{"ready": true, ...}`` once Locust is imported and the set-up is read.
* stdin, then: one profile per line (``name``, ``mode`` closed/open, ``stages``,
  ``duration_s``, ``max_requests``, ``start_at`` (epoch seconds, shared by all workers)),
  each answered on stdout by one result line (see :func:`run_profile`). EOF ends the
  process.

Bounded three ways: each profile stops at its duration or its request cap; a C-level
watchdog (``faulthandler``) ends the process if a profile overruns by ``grace_s`` even
when the gevent hub is stuck; a greenlet ends it when its parent (the Ray actor) dies.
Latencies are Locust's own per-request ``response_time`` (``time.perf_counter``, body
read included) recorded in microseconds into HdrHistograms from the ``request`` event.
In open-loop mode requests are sent on a fixed arrival schedule and the latency also
counts the time a request waited for its scheduled send (coordinated omission).
"""

from __future__ import annotations

import faulthandler
import json
import os
import random
import sys
import time
import traceback
from collections import Counter
from typing import Any

# hdrh only (ctypes, zlib, base64): nothing gevent patches, safe before Locust's import.
from certify.suites.load import histogram

#: Seconds between CPU samples of this process.
CPU_SAMPLE_S = 1.0
#: Period of the event-loop lag probe.
LAG_PROBE_S = 0.05


class _BadBody(Exception):  # noqa: N818 - an outcome, named as the error breakdown shows it
    """A 2xx answer without the expected field."""


def _classify(response: Any, exception: BaseException | None) -> str:
    code = int(getattr(response, "status_code", 0) or 0)
    if code >= 400:
        return f"HTTP {code}"
    if exception is None:
        return "unknown"
    if isinstance(exception, _BadBody):
        return str(exception)
    name = type(exception).__name__
    if name == "timeout" or "Timeout" in name:
        return "timeout"
    return name


class _Schedule:
    """Open-loop arrivals: a piecewise-linear rate (``stages``: ``at``, ``rate``), evenly spaced."""

    def __init__(self, stages: list[dict[str, float]], duration: float, t0: float) -> None:
        self.points = sorted((float(s["at"]), max(float(s["rate"]), 0.0)) for s in stages)
        self.duration = duration
        self.t0 = t0
        self.cursor = 0.0
        self.taken = 0

    def rate(self, t: float) -> float:
        points = self.points
        if t <= points[0][0]:
            return points[0][1]
        for (a, ra), (b, rb) in zip(points, points[1:], strict=False):
            if a <= t < b:
                if b <= a:
                    return rb
                return ra + (rb - ra) * (t - a) / (b - a)
        return points[-1][1]

    def next_slot(self) -> float | None:
        """The next intended send time (``perf_counter`` clock), or None when none is left."""
        if self.cursor >= self.duration:
            return None
        slot = self.cursor
        self.cursor = slot + 1.0 / max(self.rate(slot), 0.1)
        self.taken += 1
        return self.t0 + slot

    def offered(self) -> int:
        """Arrivals the schedule holds in the whole profile."""
        t, n = 0.0, 0
        while t < self.duration:
            n += 1
            t += 1.0 / max(self.rate(t), 0.1)
        return n


class _State:
    def __init__(self) -> None:
        self.hist = histogram.new()
        self.fail_hist = histogram.new()
        self.series: dict[int, dict[str, Any]] = {}
        self.errors: Counter[str] = Counter()
        self.requests = 0
        self.successes = 0
        self.failures = 0
        self.issued = 0
        self.late = 0
        self.listener_errors = 0
        self.first_listener_error: str | None = None
        self.task_errors = 0
        self.first_task_error: str | None = None
        self.measuring = False
        self.capped = False
        self.cap = 0
        self.t0_wall = 0.0
        self.schedule: _Schedule | None = None


def _series_slot(state: _State, second: int) -> dict[str, Any]:
    slot = state.series.get(second)
    if slot is None:
        slot = state.series[second] = {"ok": 0, "fail": 0, "hist": histogram.new()}
    return slot


def run_profile(target: dict[str, Any], setup: dict[str, Any], cmd: dict[str, Any],
                user_class: Any, state_box: list[Any], parent_pid: int) -> dict[str, Any]:
    """Run one profile and return its result (histograms encoded)."""
    import gevent
    import psutil
    from locust.env import Environment
    from locust.event import Events

    state = _State()
    state_box[0] = state
    mode = cmd["mode"]
    duration = float(cmd["duration_s"])
    cap = int(cmd["max_requests"])
    state.cap = cap

    events = Events()
    expect = target["expect"]
    by_second = state.series
    high = histogram.HIGHEST_US
    open_loop = mode == "open"
    service_record = state.hist.record_value

    def on_request(request_type: str, name: str, response_time: float, response_length: int,
                   response: Any = None, context: Any = None, exception: BaseException | None = None,
                   **_: Any) -> None:
        # Hot path (once per request): one histogram record in closed loop, two in open loop.
        try:
            if not state.measuring:
                return
            second = int(time.time() - state.t0_wall)
            slot = by_second.get(second)
            if slot is None:
                slot = _series_slot(state, max(second, 0))
            micros = min(max(int(response_time * 1000.0 + 0.5), 1), high)
            state.requests += 1
            if exception is None and expect not in (getattr(response, "content", None) or b""):
                exception = _BadBody(f"bad response: no {expect.decode()}")
            if exception is None:
                state.successes += 1
                slot["ok"] += 1
                if open_loop:
                    service_record(micros)
                    intended = context.get("intended") if context else None
                    if intended is not None:
                        waited = int((time.perf_counter() - float(intended)) * 1e6)
                        micros = min(max(waited, micros), high)
                slot["hist"].record_value(micros)
            else:
                state.failures += 1
                slot["fail"] += 1
                state.fail_hist.record_value(micros)
                state.errors[_classify(response, exception)] += 1
        except Exception as exc:  # noqa: BLE001 - Locust would only log it: count it instead
            state.listener_errors += 1
            if state.first_listener_error is None:
                state.first_listener_error = f"{type(exc).__name__}: {exc}"

    def on_user_error(user_instance: Any, exception: BaseException, tb: Any) -> None:
        state.task_errors += 1
        if state.first_task_error is None:
            state.first_task_error = f"{type(exception).__name__}: {exception}"

    events.user_error.add_listener(on_user_error)
    env = Environment(user_classes=[user_class], host=target["host"], events=events)
    runner = env.create_local_runner()
    # Our histograms replace Locust's own request statistics: drop its listener (it costs
    # a few microseconds per request) and keep ours as the only one.
    handlers = getattr(events.request, "_handlers", None)
    if isinstance(handlers, list):
        handlers.clear()
    events.request.add_listener(on_request)

    proc = psutil.Process()
    cpu_samples: list[float] = []
    lag_hist = histogram.new()

    def cpu_sampler() -> None:
        last_cpu = sum(proc.cpu_times()[:2])
        last = time.perf_counter()
        while True:
            gevent.sleep(CPU_SAMPLE_S)
            cpu = sum(proc.cpu_times()[:2])
            now = time.perf_counter()
            if now - last > 0:
                cpu_samples.append(round(100.0 * (cpu - last_cpu) / (now - last), 2))
            last_cpu, last = cpu, now

    def lag_probe() -> None:
        while True:
            before = time.perf_counter()
            gevent.sleep(LAG_PROBE_S)
            histogram.record(lag_hist, max(0.0, time.perf_counter() - before - LAG_PROBE_S) * 1e6)

    def parent_watch() -> None:
        while True:
            gevent.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(4)

    # Start together with the other workers (a shared wall-clock instant).
    wait = float(cmd.get("start_at", 0.0)) - time.time()
    if wait > 0:
        gevent.sleep(min(wait, 30.0))
    helpers = [gevent.spawn(parent_watch)]
    state.t0_wall = time.time()
    t0 = time.perf_counter()
    if mode == "open":
        state.schedule = _Schedule(cmd["stages"], duration, t0)
    cpu_start = sum(proc.cpu_times()[:2])
    state.measuring = True
    helpers += [gevent.spawn(cpu_sampler), gevent.spawn(lag_probe)]
    stopped_by = "duration"
    if mode == "open":
        runner.start(int(setup["open_users"]), spawn_rate=max(100.0, float(setup["open_users"]) * 10))
    stages = sorted(cmd["stages"], key=lambda s: float(s["at"])) if mode == "closed" else []
    deadline = t0 + duration
    while True:
        now = time.perf_counter()
        while stages and t0 + float(stages[0]["at"]) <= now:
            stage = stages.pop(0)
            runner.start(int(stage["users"]), spawn_rate=float(stage["spawn_rate"]))
        if now >= deadline:
            break
        if state.capped:
            stopped_by = "max_requests"
            break
        gevent.sleep(min(0.02, max(0.0, deadline - now)))
    state.measuring = False
    end = time.perf_counter()
    cpu_end = sum(proc.cpu_times()[:2])
    max_users = runner.user_count
    runner.quit()
    gevent.killall(helpers, block=False)
    elapsed = end - t0
    schedule = state.schedule
    offered = schedule.offered() if schedule is not None else None
    measured = histogram.new()  # the per-second histograms add up exactly to the whole
    for slot in state.series.values():
        measured.add(slot["hist"])
    if mode != "open":
        state.hist = measured
    series = [
        {"t": second, "ok": slot["ok"], "fail": slot["fail"], "hist": histogram.encode(slot["hist"])}
        for second, slot in sorted(state.series.items())
    ]
    return {
        "index": setup["index"],
        "pid": os.getpid(),
        "profile": cmd["name"],
        "mode": mode,
        "hist": histogram.encode(state.hist),
        "corrected": histogram.encode(measured) if mode == "open" else None,
        "fail_hist": histogram.encode(state.fail_hist),
        "requests": state.requests,
        "successes": state.successes,
        "failures": state.failures,
        "issued": state.issued,
        "errors": dict(state.errors),
        "series": series,
        "t0_wall": state.t0_wall,
        "elapsed_s": round(elapsed, 6),
        "stopped_by": stopped_by,
        "cpu_mean_pct": round(100.0 * (cpu_end - cpu_start) / elapsed, 2) if elapsed > 0 else None,
        "cpu_samples_pct": cpu_samples,
        "loop_lag_ms": histogram.summary_ms(lag_hist),
        "listener_errors": state.listener_errors,
        "first_listener_error": state.first_listener_error,
        "task_errors": state.task_errors,
        "first_task_error": state.first_task_error,
        "offered": offered,
        "sent_late": state.late if mode == "open" else None,
        "unsent": (offered - (schedule.taken if schedule else 0)) if offered is not None else None,
        "users_at_end": max_users,
    }


def _target(setup: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    """Where and what to send: the set-up's target, or a profile's replacement of it."""
    src = {**setup, **(override or {})}
    return {
        "host": src["host"],
        "path": src["path"],
        "headers": {"content-type": "application/json", **src.get("headers", {})},
        "expect": str(src["expect"]).encode(),
        "bodies": [b.encode() for b in src["bodies"]],
    }


def make_user_class(setup: dict[str, Any], state_box: list[Any], target_box: list[Any]) -> Any:
    import gevent
    from locust import FastHttpUser, constant, task

    timeout = float(setup["timeout_s"])
    rng = random.Random(int(setup["seed"]) * 1009 + int(setup["index"]))

    class LoadUser(FastHttpUser):
        host = setup["host"]
        wait_time = constant(float(setup.get("think_time_s", 0.0)))
        network_timeout = timeout
        connection_timeout = timeout
        max_retries = 0
        concurrency = 1

        def on_start(self) -> None:
            self._next = rng.randrange(1 << 30)

        def _post(self, context: dict[str, Any]) -> None:
            target = target_box[0]
            bodies = target["bodies"]
            body = bodies[self._next % len(bodies)]
            self._next += 1
            # the response body is checked by the request listener (no catch_response)
            self.client.post(target["path"], data=body, headers=target["headers"],
                             name="predict", context=context)

        @task
        def call(self) -> None:
            state = state_box[0]
            if state is None or not state.measuring:
                gevent.sleep(0.01)
                return
            if state.issued >= state.cap:
                state.capped = True
                gevent.sleep(0.05)
                return
            if state.schedule is not None:
                slot = state.schedule.next_slot()
                if slot is None:
                    gevent.sleep(0.05)
                    return
                delay = slot - time.perf_counter()
                if delay > 0:
                    gevent.sleep(delay)
                else:
                    state.late += 1
                if not state.measuring:
                    return
                state.issued += 1
                self._post({"intended": slot})
            else:
                state.issued += 1
                self._post({})

    return LoadUser


def main() -> int:
    # The protocol owns the real stdout; anything else printed goes to stderr.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def send(doc: dict[str, Any]) -> None:
        proto.write(json.dumps(doc, separators=(",", ":")) + "\n")
        proto.flush()

    line = sys.stdin.readline()
    if not line:
        return 2
    setup = json.loads(line)
    parent_pid = int(setup.get("parent_pid") or os.getppid())
    if os.getppid() != parent_pid:
        return 4
    import locust  # noqa: F401 - monkey-patches here, in this process only

    state_box: list[Any] = [None]
    target_box: list[Any] = [_target(setup, None)]
    user_class = make_user_class(setup, state_box, target_box)
    send({"ready": True, "pid": os.getpid(), "locust": locust.__version__})
    grace = float(setup.get("grace_s", 15.0))
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        if cmd.get("op") == "quit":
            break
        lead = max(0.0, float(cmd.get("start_at", 0.0)) - time.time())
        faulthandler.dump_traceback_later(lead + float(cmd["duration_s"]) + grace, exit=True)
        try:
            target_box[0] = _target(setup, cmd.get("target"))
            result = run_profile(target_box[0], setup, cmd, user_class, state_box, parent_pid)
        except Exception as exc:  # noqa: BLE001 - reported to the supervisor as an invalid run
            result = {"index": setup.get("index"), "error": f"{type(exc).__name__}: {exc}",
                      "traceback": traceback.format_exc()[-2000:]}
        finally:
            faulthandler.cancel_dump_traceback_later()
            state_box[0] = None
        send(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
