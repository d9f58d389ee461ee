"""The embedded demo: a small credit-risk project made from scratch, offline.

* :mod:`certify.demo.data`: the generated data and the two honest models;
* :mod:`certify.demo.models`: deliberately broken models (the sabotages; importable by path,
  skops loads them so);
* :mod:`certify.demo.project`: writing the project (data, models, keys, policy) and the
  sabotage table behind ``certify demo --sabotage KIND``.
"""

from certify.demo.data import (
    FEATURES,
    N_EVALUATION,
    N_REFERENCE,
    SEED,
    TARGET,
    baseline_model,
    candidate_model,
    make_credit_data,
    preprocessor,
)
from certify.demo.project import (
    DEMO_SUITES,
    EDGE_CASES_DEMO,
    LOAD_DEMO,
    SABOTAGES,
    DemoProject,
    Sabotage,
    build_project,
    demo_key_pair,
    render_policy,
)

__all__ = [
    "DEMO_SUITES", "EDGE_CASES_DEMO", "FEATURES", "LOAD_DEMO", "N_EVALUATION", "N_REFERENCE",
    "SABOTAGES", "SEED", "TARGET", "DemoProject", "Sabotage", "baseline_model", "build_project",
    "candidate_model", "demo_key_pair", "make_credit_data", "preprocessor", "render_policy",
]
