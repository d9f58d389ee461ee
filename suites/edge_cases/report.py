"""The edge_cases data in report.json (what the panels are drawn from).

Keys: ``seed`` (root seed), ``database`` (path of the example database),
``checks``: {check id: {``examples`` (judged), ``generated`` (examples run in the search),
``shrink_examples``, ``calls``, ``seconds``, ``hypothesis_seed``, ``budget_exhausted``,
``outcome``: passed | counterexample | hung | not_run | untrustworthy | errored}},
``counterexamples``: [{``check``, ``invariant``, ``violation``, ``input`` {``columns``,
``rows`` (masked, at most 20), ``n_rows``, ``notes``, ``kinds``, ``bands`` (decile band of
each shown value of a sensitive numeric column)}, ``observed`` (the outputs as JSON; the
page shows them as fields, :mod:`certify.suites.edge_cases.observed`),
``seed``, ``hypothesis_seed``, ``shrunk``, ``artifact``}],
``acceptance``: {input kind: {predicted, rejected, crashed, bad_output}} as seen by
``no_crash`` (kind ``valid`` for inputs with nothing unusual),
``latency_ms``: {``calls``, ``p50``, ``p95``, ``max``, ``deadline``}.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from certify.suite import SuiteContext
from certify.suites.edge_cases.counterexamples import (
    artifact_name,
    case_json,
    counterexample_json,
    hang_violation,
)
from certify.suites.edge_cases.invariants import INVARIANTS
from certify.suites.edge_cases.results import EdgeCasesResult
from certify.suites.edge_cases.settings import EdgeCasesSettings

_ARTIFACTS = "artifacts/edge_cases/"


def report_data(ctx: SuiteContext[EdgeCasesSettings], result: EdgeCasesResult) -> dict[str, Any]:
    checks = {cid: {"examples": p.examples, "generated": p.generated,
                    "shrink_examples": p.shrink_examples, "calls": p.calls,
                    "seconds": round(p.seconds, 3), "hypothesis_seed": p.hypothesis_seed,
                    "budget_exhausted": p.budget_exhausted, "outcome": p.outcome}
              for cid, p in result.properties.items()}
    counterexamples = []
    for cid, p in result.properties.items():
        if p.failure is not None:
            data = counterexample_json(ctx, p, p.failure)
            data["artifact"] = _ARTIFACTS + artifact_name(cid)
            counterexamples.append(data)
    if result.timeouts:
        hung = result.timeouts[0]
        cid = "edge_cases::deadline"
        deadline = result.properties.get(cid)
        counterexamples.append({
            "check": cid, "invariant": INVARIANTS["deadline"].text,
            "violation": hang_violation(hung),
            "input": case_json(ctx, hung.case), "observed": {"found_by": hung.check},
            "seed": ctx.seed, "hypothesis_seed": deadline.hypothesis_seed if deadline else None,
            "shrunk": False, "artifact": _ARTIFACTS + artifact_name(cid)})
    seconds = np.asarray(result.call_seconds) if result.call_seconds else np.zeros(1)
    return {
        "seed": ctx.seed,
        "database": str(ctx.output_root / "hypothesis-db"),
        "checks": checks,
        "counterexamples": counterexamples,
        "acceptance": result.acceptance,
        "latency_ms": {"calls": len(result.call_seconds),
                       "p50": round(float(np.quantile(seconds, 0.5)) * 1e3, 3),
                       "p95": round(float(np.quantile(seconds, 0.95)) * 1e3, 3),
                       "max": round(float(seconds.max()) * 1e3, 3),
                       "deadline": ctx.settings.deadline_s * 1e3},
    }
