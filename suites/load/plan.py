"""The traffic plan of one profile: what each Locust process runs, and when.

Closed loop shapes the number of users over the profile (``stages``: ``at``, ``users``,
``spawn_rate``); open loop shapes the arrival rate (``at``, ``rate``, piecewise linear). Each
worker gets its share of the users, the rate and the request cap, and all start together at
``start_at`` (epoch seconds).
"""

from __future__ import annotations

import math
from typing import Any

from certify.suites.load.settings import LoadSettings


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
                 override: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One plan per worker (the Locust process's profile command); ``override`` retargets it."""
    user_split = split(s.users, workers)
    caps = split(s.max_requests, workers)
    plans = []
    for i in range(workers):
        plan: dict[str, Any] = {
            "name": profile, "mode": s.mode, "duration_s": duration,
            "stages": stages(s, profile, 1.0 / workers, user_split[i], duration),
            "max_requests": max(caps[i], 0), "start_at": start_at,
        }
        if override:
            plan["target"] = override
        plans.append(plan)
    return plans
