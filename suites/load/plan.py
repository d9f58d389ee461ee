"""The traffic plan of one profile: what each Locust process runs, and when.

Closed loop shapes the number of users over the profile (``stages``: ``at``, ``users``,
``spawn_rate``); open loop shapes the arrival rate (``at``, ``rate``, piecewise linear). Each
worker gets its share of the users, the rate and the request cap, and all start together at
``start_at`` (epoch seconds) after an unmeasured lead-in of :data:`LEAD_S`.

A run is cut into rounds (:func:`rounds`): the unit of the interleaving of candidate and
baseline and of the bootstrap intervals; :func:`phase` is a round's stratum (the part of the
profile it belongs to), :func:`shape` the load the profile asks for over time (for the report).
"""

from __future__ import annotations

import math
from typing import Any

from certify.suites.load.settings import LoadSettings

#: Unmeasured lead-in of every run (connections opened, servers warm), seconds.
LEAD_S = 0.25
#: Longest wait for the requests in flight at the end of a run (they count: sent in time).
DRAIN_S = 2.0
#: Round length when ``round_s`` is not set: a tenth of the profile, within these bounds.
ROUND_BOUNDS_S = (0.25, 1.0)


def split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` shares as even as whole numbers allow (the first ones larger)."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def stages(s: LoadSettings, profile: str, share: float, users: int,
           d: float) -> list[dict[str, float]]:
    """A worker's stages over ``d`` seconds: closed loop (users) or open loop (rate)."""
    if s.mode == "open":
        rate = s.rate * share
        if profile == "ramp":
            return [{"at": 0.0, "rate": rate * 0.1}, {"at": d, "rate": rate * s.ramp_to}]
        if profile == "spike":
            high = rate * s.spike_factor
            eps = 1e-6
            return [{"at": 0.0, "rate": rate}, {"at": d / 3 - eps, "rate": rate},
                    {"at": d / 3, "rate": high}, {"at": 2 * d / 3 - eps, "rate": high},
                    {"at": 2 * d / 3, "rate": rate}]
        return [{"at": 0.0, "rate": rate}]
    spawn = max(s.spawn_rate * share, 1.0)
    if profile == "ramp":
        top = max(users, math.ceil(users * s.ramp_to))
        return [{"at": 0.0, "users": top, "spawn_rate": max(top / d, 0.1)}]
    if profile == "spike":
        high = max(users, math.ceil(users * s.spike_factor))
        fast = max(20.0 * high, spawn)
        return [{"at": 0.0, "users": users, "spawn_rate": spawn},
                {"at": d / 3, "users": high, "spawn_rate": fast},
                {"at": 2 * d / 3, "users": users, "spawn_rate": fast}]
    return [{"at": 0.0, "users": users, "spawn_rate": spawn}]


def worker_plans(s: LoadSettings, profile: str, workers: int, duration: float, start_at: float,
                 targets: list[dict[str, Any]] | None = None, round_s: float | None = None,
                 lead_s: float = 0.0) -> list[dict[str, Any]]:
    """One plan per worker (the Locust process's profile command); ``targets`` (overrides of
    the set-up's target) are served in interleaved rounds of ``round_s``."""
    user_split = split(s.users, workers)
    caps = split(s.max_requests, workers)
    plans = []
    for i in range(workers):
        plan: dict[str, Any] = {
            "name": profile, "mode": s.mode, "duration_s": duration,
            "stages": stages(s, profile, 1.0 / workers, user_split[i], duration),
            "max_requests": max(caps[i], 0), "start_at": start_at, "lead_s": lead_s,
            "round_s": round_s or duration, "drain_s": DRAIN_S,
        }
        if targets:
            plan["targets"] = targets
        plans.append(plan)
    return plans


def rounds(s: LoadSettings, duration: float, targets: int) -> tuple[float, int]:
    """``(round_s, count)`` for a run of ``duration`` seconds over ``targets`` interleaved
    targets: whole rounds, a whole number of them per target."""
    want = s.round_s or min(max(s.duration_s / 10.0, ROUND_BOUNDS_S[0]), ROUND_BOUNDS_S[1])
    per_target = max(1, round(duration / want / targets))
    count = per_target * targets
    return duration / count, count


def phase(profile: str, t: float, duration: float) -> int:
    """The stratum of a moment ``t`` of a profile: the spike's thirds, the ramp's quarters,
    one for steady (rounds are resampled within their stratum, so a resample keeps the shape)."""
    if duration <= 0:
        return 0
    x = min(max(t / duration, 0.0), 1.0 - 1e-9)
    if profile == "spike":
        return int(x * 3)
    if profile == "ramp":
        return int(x * 4)
    return 0


def shape(s: LoadSettings, plans: list[dict[str, Any]], duration: float,
          points: int = 41) -> dict[str, Any]:
    """The load asked for over the run, summed over the workers: users (closed loop: each
    stage's target reached at its spawn rate) or arrivals per second (open loop)."""
    ts = [duration * i / (points - 1) for i in range(points)]
    total = [0.0] * points
    for plan in plans:
        marks = sorted(plan["stages"], key=lambda st: float(st["at"]))
        for j, t in enumerate(ts):
            if s.mode == "open":
                total[j] += _rate_at(marks, t)
            else:
                total[j] += _users_at(marks, t)
    unit = "requests/s offered" if s.mode == "open" else "users"
    return {"unit": unit, "t": [round(t, 3) for t in ts], "value": [round(v, 3) for v in total]}


def _rate_at(marks: list[dict[str, Any]], t: float) -> float:
    points = [(float(m["at"]), float(m["rate"])) for m in marks]
    if t <= points[0][0]:
        return points[0][1]
    for (a, ra), (b, rb) in zip(points, points[1:], strict=False):
        if a <= t < b:
            return rb if b <= a else ra + (rb - ra) * (t - a) / (b - a)
    return points[-1][1]


def _users_at(marks: list[dict[str, Any]], t: float) -> float:
    users, last = 0.0, 0.0
    for m in marks:
        at = float(m["at"])
        if at > t:
            break
        users = last
        target, spawn = float(m["users"]), max(float(m["spawn_rate"]), 1e-9)
        nxt = next((float(n["at"]) for n in marks if float(n["at"]) > at), t)
        until = min(t, nxt)
        step = spawn * (until - at)
        users = min(target, users + step) if target >= users else max(target, users - step)
        last = users
    return users
