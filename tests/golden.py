"""A golden summary of a seeded demo run: verdict, evidence ids, statuses and metrics.

Recorded on main before the suites were restructured into packages (issue 13), so that a test
can show the move changed no behaviour; re-recorded only for deliberate changes, each named in
its commit (last: the adversarial suite's lock-step attack and ``info`` figures, the quality
suite's interval decision, the explain and privacy suites joining the demo). Timing noise is left out: the load suite's statuses
and metrics (measured latencies and throughput decide them), and every metric that is a
duration or a rate (keys such as ``seconds``, ``*_s``, ``*_ms``, ``timeouts``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "data" / "golden-demo-summary.json"
TIMED_SUITES = ("load",)


def _timed(key: str) -> bool:
    # also what depends on the machine, not the run: the bytes the privacy scan read (paths
    # and run ids have the length of the temporary folder), and how far an edge-case search
    # got within its time budget on a busy machine (its examples and calls; statuses stay)
    return (key in {"seconds", "duration_s", "bytes", "budget_exhausted", "calls", "calls_total",
                    "examples", "generated", "examples_by_kind"} or key.endswith(("_s", "_ms", "_seconds", "_rps"))
            or "time" in key)


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if not _timed(str(k))}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    evidence: dict[str, Any] = {}
    for record in report["evidence"]:
        if record["suite"] in TIMED_SUITES:
            evidence[record["id"]] = None  # planned and run; its figures are timing
        else:
            evidence[record["id"]] = {"status": record["status"],
                                      "metrics": _scrub(record["metrics"])}
    return {"verdict": report["verdict"]["decision"], "evidence": evidence}


def differences(expected: Any, actual: Any, path: str = "", rel: float = 1e-6) -> list[str]:
    """Where ``actual`` differs from ``expected`` (floats within ``rel``)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = [f"{path}/{k}: missing" for k in expected if k not in actual]
        out += [f"{path}/{k}: unexpected" for k in actual if k not in expected]
        for k in expected:
            if k in actual:
                out += differences(expected[k], actual[k], f"{path}/{k}", rel)
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: {len(expected)} items, now {len(actual)}"]
        return [d for i, (e, a) in enumerate(zip(expected, actual, strict=True))
                for d in differences(e, a, f"{path}[{i}]", rel)]
    numbers = (int, float)
    if (isinstance(expected, numbers) and isinstance(actual, numbers)
            and not isinstance(expected, bool) and not isinstance(actual, bool)):
        if math.isclose(expected, actual, rel_tol=rel, abs_tol=1e-12):
            return []
    elif expected == actual:
        return []
    return [f"{path}: {expected!r} -> {actual!r}"]


if __name__ == "__main__":  # python tests/golden.py REPORT.json > tests/data/golden-demo-summary.json
    import sys

    print(json.dumps(summarize(json.loads(Path(sys.argv[1]).read_text())), indent=1,
                     sort_keys=True))
