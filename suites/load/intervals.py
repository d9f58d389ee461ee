"""The suite's runs through :mod:`.compare`: each run's latency percentiles with their
intervals, the candidate-vs-baseline regression of a compared profile, and whether a profile is
decided (or must be measured longer).

Deterministic: the bootstrap's seed comes from the run's seed and the profile's position.
"""

from __future__ import annotations

from typing import Any

from certify.evidence import Threshold
from certify.suites.load import compare
from certify.suites.load import histogram as hd
from certify.suites.load.result import ProfileRun
from certify.suites.load.settings import METRICS, LoadSettings

#: Percentile key (as in ``latency_ms``) -> q.
QS: dict[str, float] = dict(hd.PERCENTILES)


def samples(run: ProfileRun) -> list[compare.Sample]:
    """The run's rounds as weighted samples (milliseconds)."""
    out = []
    for encoded in run.rounds:
        values, counts = hd.values_counts(encoded)
        out.append(compare.Sample(values, counts))
    return out


def strata_of(run: ProfileRun) -> list[int] | None:
    return run.strata if len(run.strata) == len(run.rounds) else None


def seed_for(seed: int, profile: str, role: str = "") -> int:
    """A stable seed per (run seed, profile, role)."""
    salt = sum((i + 1) * ord(ch) for i, ch in enumerate(f"{profile}/{role}"))
    return (int(seed) * 1_000_003 + salt) % (2**32)


def run_intervals(run: ProfileRun, s: LoadSettings, seed: int) -> dict[str, dict[str, Any]]:
    """Every percentile of :data:`QS` with its interval (empty without rounds)."""
    if not run.rounds:
        return {}
    found = compare.intervals(samples(run), list(QS.values()), strata=strata_of(run),
                              confidence=s.confidence, seed=seed_for(seed, run.profile, run.role))
    return {key: found[q].record() for key, q in QS.items()}


def regression(cand: ProfileRun, base: ProfileRun, s: LoadSettings, seed: int) -> dict[str, Any]:
    """The candidate's p95 against the baseline's over their paired rounds."""
    n = min(len(cand.rounds), len(base.rounds))
    found = compare.compare(samples(cand)[:n], samples(base)[:n], q=95.0,
                            margin=s.regression_margin, slack=s.regression_slack_ms,
                            strata=(cand.strata[:n] if len(cand.strata) >= n else None),
                            confidence=s.confidence, seed=seed_for(seed, cand.profile, "vs"),
                            metric="p95")
    return found.record()


def interval(run: ProfileRun, metric: str) -> compare.Interval | None:
    """The recorded interval of a latency ``metric`` (``p95_ms``), or None."""
    key = METRICS[metric][1]
    record = run.intervals.get(key) if key is not None else None
    return compare.Interval(**record) if record else None


def latency_decision(run: ProfileRun, metric: str, threshold: Threshold) -> compare.Decision | None:
    """A latency SLO decided on its interval (None: not a latency metric, or no interval)."""
    found = interval(run, metric)
    if found is None:
        return None
    return compare.judge(found, threshold.fail, upper=True)


def trusted(run: ProfileRun | None, s: LoadSettings) -> bool:
    """Figures worth measuring longer: the generator and the server were sound."""
    return bool(run is not None and run.successes and not run.generator_error
                and not run.server_died and not (run.saturated and s.on_saturated == "error"))


def undecided(runs: dict[tuple[str, str], ProfileRun], regressions: dict[str, dict[str, Any]],
              s: LoadSettings, profile: str) -> list[str]:
    """What of ``profile`` is still inconclusive (``p95_ms``, ``p95_regression``...)."""
    cand = runs.get(("candidate", profile))
    if not trusted(cand, s):
        return []
    assert cand is not None
    open_ = [metric for metric, threshold in s.thresholds_for(profile).items()
             if latency_decision(cand, metric, threshold) == "inconclusive"]
    found = regressions.get(profile)
    if found and found.get("decision") == "inconclusive" and trusted(
            runs.get(("baseline", profile)), s):
        open_.append("p95_regression")
    return open_
