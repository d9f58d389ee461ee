"""The load suite on a two-node Ray cluster on one machine (``ray.cluster_utils.Cluster``).

Its own module: it needs a Ray of its own, so it shuts down any Ray this process holds
and leaves none behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from certify.demo import FEATURES, SEED, TARGET, make_credit_data, preprocessor
from certify.evidence import Status
from certify.policy import load_policy
from certify.session import CertifySession
from tests.projects import make_project


@pytest.fixture
def two_nodes() -> Any:
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    # Both nodes on this machine (Ray 2.60 rewrites a loopback address to the host's own
    # address when connecting, so the nodes keep Ray's default address).
    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes(timeout=120)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.mark.slow
def test_workers_on_both_nodes_and_histograms_merged_exactly(tmp_path: Path, two_nodes: Any) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from certify.suites.load import histogram

    ref = make_credit_data(600, SEED)
    model = Pipeline([("prep", preprocessor()), ("clf", LogisticRegression(max_iter=300))])
    model.fit(ref[FEATURES], ref[TARGET])
    settings = {"profiles": ["steady"], "duration_s": 2.0, "warmup_s": 0, "workers": 2,
                "users": 2, "worker_num_cpus": 1, "server_workers": 1,
                "ray_address": two_nodes.address, "start_timeout_s": 120,
                "thresholds": {"error_rate": {"fail": 0.01}, "p95_ms": {"fail": 2000.0}}}
    policy = make_project(tmp_path, candidate=model, baseline=None, reference=ref,
                          n_evaluation=100, suites={"load": settings})
    session = CertifySession(load_policy(policy))
    session.setup()
    session.run_all()
    state = session.suites["load"]
    assert state.error is None, state.error
    result = state.result
    nodes = {g["node_id"] for g in result.generators}
    cluster_nodes = {n["NodeID"] for n in __import__("ray").nodes() if n["Alive"]}
    assert len(nodes) == 2 and nodes <= cluster_nodes, (nodes, cluster_nodes)
    run = result.runs[("candidate", "steady")]
    per_worker = run.merge["per_worker"]
    assert len(per_worker) == 2 and all(n > 0 for n in per_worker), per_worker
    assert run.merge["exact"] and run.merge["merged_count"] == sum(per_worker) == run.successes
    hdr = (session.run_dir.path / "artifacts" / "load" / "candidate-steady.hdr").read_text()
    assert histogram.count(histogram.decode(hdr.strip())) == sum(per_worker)
    assert session.evidence["load::error_rate[steady]"].status is Status.PASSED
    session.abort()
