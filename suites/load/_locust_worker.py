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
  ``duration_s``, ``max_requests``, ``start_at`` (epoch seconds, shared by all workers),
  ``lead_s`` (unmeasured lead-in), ``round_s`` and ``targets`` (see below)), each answered on
  stdout by one result line (see :func:`run_profile`). EOF ends the process.

**Rounds and targets.** The measured period is cut into rounds of ``round_s`` from its start
(``t0``). With several ``targets`` (each ``host``, ``path``, ``headers``, ``expect`` and
optionally ``bodies``; default: the set-up's), round ``k`` sends all the load to target ``k mod
len(targets)``: interleaved rounds, candidate, baseline, candidate, ... Every request is tagged
at its (intended) send time with its round, its target and whether it is measured: the lead-in
before ``t0`` warms connections and servers and is never measured; after the end no request is
sent and those in flight are awaited (at most :data:`DRAIN_S`) so that a round keeps its slow
requests. In open loop each target has its own users and its own arrival schedule, so a slow
target never delays the other's sends.

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
import math
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
#: Longest wait for the requests in flight at the end of a profile (unless the command says).
DRAIN_S = 2.0


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
    """Open-loop arrivals of one target: a piecewise-linear rate (``stages``: ``at``,
    ``rate``), evenly spaced, from ``-lead`` (unmeasured) to ``duration``, keeping only the
    slots in this target's rounds."""

    def __init__(self, stages: list[dict[str, float]], duration: float, t0: float, *,
                 lead: float = 0.0, round_s: float = 0.0, target: int = 0,
                 targets: int = 1) -> None:
        self.points = sorted((float(s["at"]), max(float(s["rate"]), 0.0)) for s in stages)
        self.duration = duration
        self.t0 = t0
        self.cursor = -lead
        self.round_s = round_s
        self.target = target
        self.targets = targets
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

    def mine(self, t: float) -> bool:
        return self.targets == 1 or math.floor(t / self.round_s) % self.targets == self.target

    def next_slot(self) -> float | None:
        """The next intended send time (``perf_counter`` clock), or None when none is left."""
        while self.cursor < self.duration:
            slot = self.cursor
            self.cursor = slot + 1.0 / max(self.rate(max(slot, 0.0)), 0.1)
            if self.mine(slot):
                self.taken += slot >= 0
                return self.t0 + slot
        return None

    def offered(self) -> int:
        """Measured arrivals the schedule holds for this target in the whole profile."""
        t, n = 0.0, 0
        while t < self.duration:
            n += self.mine(t)
            t += 1.0 / max(self.rate(t), 0.1)
        return n


class _Target:
    """What one target was sent and answered in the measured period."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.hist = histogram.new()  # service time (open loop) / latency (closed loop)
        self.fail_hist = histogram.new()
        self.rounds: dict[int, dict[str, Any]] = {}
        self.errors: Counter[str] = Counter()
        self.requests = 0
        self.successes = 0
        self.failures = 0
        self.issued = 0
        self.late = 0
        self.schedule: _Schedule | None = None

    def round(self, k: int) -> dict[str, Any]:
        slot = self.rounds.get(k)
        if slot is None:
            slot = self.rounds[k] = {"ok": 0, "fail": 0, "hist": histogram.new()}
        return slot

    def result(self, open_loop: bool) -> dict[str, Any]:
        measured = histogram.new()  # the rounds add up exactly to the whole
        for slot in self.rounds.values():
            measured.add(slot["hist"])
        schedule = self.schedule
        offered = schedule.offered() if schedule is not None else None
        return {
            "hist": histogram.encode(self.hist if open_loop else measured),
            "corrected": histogram.encode(measured) if open_loop else None,
            "fail_hist": histogram.encode(self.fail_hist),
            "requests": self.requests, "successes": self.successes, "failures": self.failures,
            "issued": self.issued, "errors": dict(self.errors),
            "rounds": [{"k": k, "ok": slot["ok"], "fail": slot["fail"],
                        "hist": histogram.encode(slot["hist"])}
                       for k, slot in sorted(self.rounds.items())],
            "offered": offered, "sent_late": self.late if open_loop else None,
            "unsent": (offered - (schedule.taken if schedule else 0))
            if offered is not None else None,
        }


class _State:
    def __init__(self, targets: list[dict[str, Any]], round_s: float) -> None:
        self.targets = [_Target(t) for t in targets]
        self.round_s = round_s
        self.sending = False
        self.collecting = False
        self.capped = False
        self.cap = 0
        self.issued = 0
        self.in_flight = 0
        self.t0 = 0.0  # perf_counter at the start of the measured period
        self.end = 0.0
        self.t0_wall = 0.0
        self.listener_errors = 0
        self.first_listener_error: str | None = None
        self.task_errors = 0
        self.first_task_error: str | None = None

    def pick(self, at: float) -> tuple[int, int, bool]:
        """``(target, round, measured)`` of a request sent (or due) at ``at``."""
        k = math.floor((at - self.t0) / self.round_s)
        return k % len(self.targets), k, self.t0 <= at < self.end


def run_profile(setup: dict[str, Any], cmd: dict[str, Any], user_class: Any,
                state_box: list[Any], parent_pid: int) -> dict[str, Any]:
    """Run one profile and return its result (histograms encoded)."""
    import gevent
    import psutil
    from locust.env import Environment
    from locust.event import Events

    mode = cmd["mode"]
    open_loop = mode == "open"
    duration = float(cmd["duration_s"])
    lead = max(0.0, float(cmd.get("lead_s", 0.0)))
    round_s = float(cmd.get("round_s") or duration) or 1.0
    specs = [_target(setup, t) for t in (cmd.get("targets") or [None])]
    state = _State(specs, round_s)
    state.cap = int(cmd["max_requests"])
    state_box[0] = state
    user_class.started[0] = 0
    high = histogram.HIGHEST_US

    def on_request(request_type: str, name: str, response_time: float, response_length: int,
                   response: Any = None, context: Any = None, exception: BaseException | None = None,
                   **_: Any) -> None:
        # Hot path (once per request): one histogram record in closed loop, two in open loop.
        try:
            if not state.collecting or not context or not context.get("m"):
                return
            target = state.targets[context["ti"]]
            slot = target.round(context["k"])
            micros = min(max(int(response_time * 1000.0 + 0.5), 1), high)
            target.requests += 1
            expect = target.spec["expect"]
            if exception is None and expect not in (getattr(response, "content", None) or b""):
                exception = _BadBody(f"bad response: no {expect.decode()}")
            if exception is None:
                target.successes += 1
                slot["ok"] += 1
                if open_loop:
                    target.hist.record_value(micros)
                    intended = context.get("intended")
                    if intended is not None:
                        waited = int((time.perf_counter() - float(intended)) * 1e6)
                        micros = min(max(waited, micros), high)
                slot["hist"].record_value(micros)
            else:
                target.failures += 1
                slot["fail"] += 1
                target.fail_hist.record_value(micros)
                target.errors[_classify(response, exception)] += 1
        except Exception as exc:  # noqa: BLE001 - Locust would only log it: count it instead
            state.listener_errors += 1
            if state.first_listener_error is None:
                state.first_listener_error = f"{type(exc).__name__}: {exc}"

    def on_user_error(user_instance: Any, exception: BaseException, tb: Any) -> None:
        state.task_errors += 1
        if state.first_task_error is None:
            state.first_task_error = f"{type(exception).__name__}: {exception}"

    events = Events()
    events.user_error.add_listener(on_user_error)
    env = Environment(user_classes=[user_class], host=specs[0]["host"], events=events)
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
    begin = time.perf_counter()
    state.t0 = t0 = begin + lead
    state.end = deadline = t0 + duration
    state.t0_wall = time.time() + lead
    if open_loop:
        for i, target in enumerate(state.targets):
            target.schedule = _Schedule(cmd["stages"], duration, t0, lead=lead, round_s=round_s,
                                        target=i, targets=len(state.targets))
    state.sending = state.collecting = True
    users = int(setup["open_users"]) * len(state.targets)
    if open_loop:
        runner.start(users, spawn_rate=max(100.0, users * 10.0))
    stages = sorted(cmd["stages"], key=lambda s: float(s["at"])) if not open_loop else []
    if stages:  # the first stage runs through the lead-in too
        runner.start(int(stages[0]["users"]), spawn_rate=float(stages[0]["spawn_rate"]))
        stages.pop(0)
    if lead:
        gevent.sleep(lead)
    cpu_start = sum(proc.cpu_times()[:2])
    helpers += [gevent.spawn(cpu_sampler), gevent.spawn(lag_probe)]
    stopped_by = "duration"
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
    end = time.perf_counter()
    state.sending = False
    state.end = min(state.end, end)
    drain_until = end + min(float(cmd.get("drain_s", DRAIN_S)), float(setup["timeout_s"]))
    while state.in_flight > 0 and time.perf_counter() < drain_until:
        gevent.sleep(0.005)
    state.collecting = False
    cpu_end = sum(proc.cpu_times()[:2])
    max_users = runner.user_count
    runner.quit()
    gevent.killall(helpers, block=False)
    elapsed = end - t0
    targets = [t.result(open_loop) for t in state.targets]
    first = targets[0]
    return {
        "index": setup["index"],
        "pid": os.getpid(),
        "profile": cmd["name"],
        "mode": mode,
        "targets": targets,
        # the first target's figures at the top level too (a single-target profile)
        **{k: first[k] for k in ("hist", "corrected", "fail_hist", "requests", "successes",
                                 "failures", "issued", "errors", "offered", "sent_late",
                                 "unsent")},
        "round_s": round_s,
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
        "users_at_end": max_users,
    }


def _target(setup: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    """Where and what to send: the set-up's target, or a profile's replacement of it."""
    src = {**setup, **(override or {})}
    hosts = [str(h) for h in (src.get("hosts") or [src["host"]])]
    return {
        "host": hosts[0],
        "urls": [h.rstrip("/") + str(src["path"]) for h in hosts],
        "headers": {"content-type": "application/json", **src.get("headers", {})},
        "expect": str(src["expect"]).encode(),
        "bodies": [b.encode() for b in src["bodies"]],
    }


def make_user_class(setup: dict[str, Any], state_box: list[Any]) -> Any:
    import gevent
    from locust import FastHttpUser, constant, task

    timeout = float(setup["timeout_s"])
    rng = random.Random(int(setup["seed"]) * 1009 + int(setup["index"]))
    offset = int(setup["index"])  # the Locust processes start on different server workers

    class LoadUser(FastHttpUser):
        host = setup["host"]
        wait_time = constant(float(setup.get("think_time_s", 0.0)))
        network_timeout = timeout
        connection_timeout = timeout
        max_retries = 0
        concurrency = 1
        #: Users started in this run so far (reset by each run): a user's number.
        started = [0]

        def on_start(self) -> None:
            self._next = rng.randrange(1 << 30)
            self._number = self.started[0]
            self.started[0] += 1

        def _post(self, state: _State, at: float, intended: float | None) -> None:
            ti, k, measured = state.pick(at)
            target = state.targets[ti].spec
            urls = target["urls"]
            # this user's server worker: the users in turn, as a round-robin balancer would
            url = urls[(self._number // len(state.targets) + offset) % len(urls)]
            bodies = target["bodies"]
            body = bodies[self._next % len(bodies)]
            self._next += 1
            if measured:
                state.targets[ti].issued += 1
                state.issued += 1
            state.in_flight += 1
            try:
                # the response body is checked by the request listener (no catch_response)
                self.client.post(url, data=body, headers=target["headers"],
                                 name="predict",
                                 context={"ti": ti, "k": k, "m": measured, "intended": intended})
            finally:
                state.in_flight -= 1

        @task
        def call(self) -> None:
            state = state_box[0]
            if state is None or not state.sending:
                gevent.sleep(0.01)
                return
            if state.issued >= state.cap:
                state.capped = True
                gevent.sleep(0.05)
                return
            if state.targets[0].schedule is None:
                self._post(state, time.perf_counter(), None)
                return
            target = state.targets[self._number % len(state.targets)]
            assert target.schedule is not None
            slot = target.schedule.next_slot()
            if slot is None:
                gevent.sleep(0.05)
                return
            delay = slot - time.perf_counter()
            if delay > 0:
                gevent.sleep(delay)
            elif slot >= state.t0:
                target.late += 1
            if state.sending:
                self._post(state, slot, slot)

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
    user_class = make_user_class(setup, state_box)
    send({"ready": True, "pid": os.getpid(), "locust": locust.__version__})
    grace = float(setup.get("grace_s", 15.0))
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        if cmd.get("op") == "quit":
            break
        lead = max(0.0, float(cmd.get("start_at", 0.0)) - time.time()) + float(cmd.get("lead_s", 0))
        drain = float(cmd.get("drain_s", DRAIN_S))
        faulthandler.dump_traceback_later(lead + float(cmd["duration_s"]) + drain + grace,
                                          exit=True)
        try:
            result = run_profile(setup, cmd, user_class, state_box, parent_pid)
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
