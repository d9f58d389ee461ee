"""The honest zoo in CI: every member CERTIFIED under a default policy, on one seed.

The three seeds, the strict policy and the sabotage matrix run in ``tox -e bench``
(benchmarks/bench_zoo.py); their results are in the README.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.zoo import ZOO, outcome, project

SEED = 11


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO))
def test_an_honest_model_is_certified_under_the_default_policy(tmp_path: Path, name: str) -> None:
    member = ZOO[name]
    if member.needs:
        pytest.importorskip(member.needs)
    with project(member, tmp_path / name, SEED) as policy:
        decision, evidence = outcome(policy, SEED)
    bad = {cid: (e["status"], e["reason"]) for cid, e in evidence.items()
           if e["status"] in ("failed", "errored", "skipped")}
    assert decision == "CERTIFIED" and not bad, bad
    suites = {cid.split("::")[0] for cid in evidence}
    expected = {"quality", "drift", "validation", "edge_cases", "load", "explain", "privacy"}
    if member.task == "classification":
        expected.add("adversarial")
    assert expected <= suites
