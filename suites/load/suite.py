"""The load suite's :class:`~certify.suite.Suite`: its checks, its run and its report data.

Kept out of the package's ``__init__`` on purpose (see there): the server and Locust processes
import the package, and this module pulls in pydantic, pandas and the core.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from certify.raycluster import prestart
from certify.suite import CheckSpec, Suite, SuiteContext, SuiteRecord
from certify.suites.load import checks, engine, view
from certify.suites.load.result import LoadResult
from certify.suites.load.settings import LoadSettings
from certify.suites.load.target import remote_allowed
from certify.view import Panel


class LoadSuite(Suite[LoadSettings, LoadResult]):
    name = "load"
    settings_model = LoadSettings
    description = ("Latency, error-rate and throughput SLOs of the served candidate under steady, "
                   "ramp and spike load (Locust on Ray, exact HdrHistogram percentiles).")

    def checks(self, ctx: SuiteContext[LoadSettings]) -> list[CheckSpec[LoadResult]]:
        s = ctx.settings
        for role, model in (("candidate", ctx.candidate), ("baseline", ctx.baseline)):
            if model is not None and model.format == "http" and (
                    role == "candidate" or engine.baseline_on(ctx)):
                remote_allowed(s, model.source, role)
        specs: list[CheckSpec[LoadResult]] = []
        for profile in s.profiles:
            for metric, threshold in s.thresholds_for(profile).items():
                specs.append(self.check(
                    metric, partial(checks.slo, s=s, profile=profile, metric=metric,
                                    threshold=threshold), param=profile,
                    description=f"{metric} of the candidate under the {profile} profile"))
        if engine.baseline_on(ctx):
            for profile in s.baseline_profiles:
                specs.append(self.check(
                    "p95_regression", partial(checks.p95_regression, s=s, profile=profile),
                    param=profile,
                    description=f"p95 under {profile}: candidate vs baseline served the same way"))
        specs.append(self.check("delayed_ack", partial(checks.delayed_ack, s=s), required=False,
                                description="latencies clustered around 40 ms (TCP delayed ACK)"))
        return specs

    def warm_up(self, ctx: SuiteContext[LoadSettings]) -> bool:
        """The local Ray (the generators' home) starts in the background now, so its start-up
        overlaps with the suites that run before this one. A cluster named by ``ray_address``
        or ``RAY_ADDRESS`` is checked and joined when the suite runs, as before."""
        if ctx.settings.ray_address is None:
            prestart()
            return True
        return False

    def run(self, ctx: SuiteContext[LoadSettings]) -> LoadResult:
        return engine.run(ctx)

    def report_data(self, ctx: SuiteContext[LoadSettings], result: LoadResult) -> dict[str, Any]:
        s = ctx.settings
        profiles: dict[str, Any] = {}
        baseline: dict[str, Any] = {}
        for (role, profile), run in result.runs.items():
            record = run.record()
            record["thresholds"] = {m: t.model_dump() for m, t in s.thresholds_for(profile).items()}
            (profiles if role == "candidate" else baseline)[profile] = record
        return {"target": result.target, "mode": result.mode, "settings": result.settings,
                "generators": result.generators, "profiles": profiles,
                "baseline": baseline or None, "delayed_ack_probe": result.probe,
                "serving": result.serving,
                "regressions": {p: _brief(r) for p, r in result.regressions.items()}}

    def panels(self, record: SuiteRecord[LoadSettings]) -> list[Panel]:
        return view.panels(record)


def _brief(found: dict[str, Any]) -> dict[str, Any]:
    """A regression as the page shows it (the full record is in the check's details)."""
    keys = ("decision", "difference", "low", "high", "allowance", "margin", "slack",
            "confidence", "pairs", "reason")
    return {**{k: found.get(k) for k in keys},
            "candidate": found.get("candidate"), "baseline": found.get("baseline")}
