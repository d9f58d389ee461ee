"""Build small, real certification projects for tests: data, skops models, a policy.

Models are trained at test time (pickles only load with the library versions that
wrote them, DESIGN.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from certify.demo import (
    FEATURES,
    SEED,
    TARGET,
    baseline_model,
    candidate_model,
    make_credit_data,
    render_policy,
)


def save_model(model: Any, path: Path) -> list[str]:
    import skops.io as sio

    data = sio.dumps(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return sorted(sio.get_untrusted_types(data=data))


def make_project(root: Path, *, candidate: Any | None = None, baseline: Any | None = "default",
                 reference: Any | None = None, evaluation: Any | None = None,
                 n_reference: int = 1500, n_evaluation: int = 1000,
                 suites: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
                 filename: str = "certify.toml") -> Path:
    """Write a credit-risk project into ``root`` and return its policy path.

    ``candidate``/``baseline``: fitted estimators, or None (baseline only) for a first
    deployment; the defaults are the demo's models fitted on the reference data.
    ``suites``: the ``[suites]`` table (default: quality only, with no other suite).
    """
    root.mkdir(parents=True, exist_ok=True)
    ref = reference if reference is not None else make_credit_data(n_reference, SEED)
    ev = evaluation if evaluation is not None else make_credit_data(n_evaluation, SEED + 100)
    if candidate is None:
        candidate = candidate_model().fit(ref[FEATURES], ref[TARGET])
    if isinstance(baseline, str) and baseline == "default":
        baseline = baseline_model().fit(ref[FEATURES], ref[TARGET])
    (root / "data").mkdir(exist_ok=True)
    ref.to_csv(root / "data" / "reference.csv", index=False)
    ev.to_csv(root / "data" / "evaluation.csv", index=False)
    policy: dict[str, Any] = {
        "seed": 1234,
        "candidate": {"path": "models/candidate.skops",
                      "trusted_types": save_model(candidate, root / "models" / "candidate.skops")},
        "data": {"reference": "data/reference.csv", "evaluation": "data/evaluation.csv",
                 "target": TARGET},
        "suites": suites if suites is not None else {"quality": {}},
    }
    if baseline is not None:
        policy["baseline"] = {"path": "models/baseline.skops",
                              "trusted_types": save_model(baseline, root / "models" / "baseline.skops")}
    for key, value in (extra or {}).items():
        policy[key] = value
    path = root / filename
    path.write_text(render_policy(policy))
    return path
