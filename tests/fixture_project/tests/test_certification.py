"""The project's own certification checks: evidence in the verdict like the built-in ones."""

import pytest


@pytest.mark.certify(id="project::approval_rate", required=True)
def test_approval_rate_is_plausible(candidate, evaluation_data, schema, certify_metrics) -> None:
    """Share of predicted defaults stays in a plausible band."""
    predicted = candidate.predict(evaluation_data[schema.features])
    rate = float((predicted == 1).mean())
    certify_metrics.check("default_rate", rate, fail=0.9, warn=0.8, direction="max")
    assert rate > 0.01, f"the model predicts almost no defaults ({rate:.3f})"


@pytest.mark.certify(id="project::proba_shape")
def test_probabilities_have_one_column_per_class(candidate, evaluation_data, schema) -> None:
    proba = candidate.predict_proba(evaluation_data[schema.features].head(5))
    assert proba.shape == (5, len(candidate.classes))


@pytest.mark.certify(id="project::agrees_with_production")
def test_candidate_mostly_agrees_with_the_baseline(candidate, baseline, reference_data,
                                                   evaluation_data, schema, policy,
                                                   certify_metrics) -> None:
    """The candidate and the model in production agree on most evaluation rows."""
    assert policy.seed == 99 and list(reference_data.columns) == list(evaluation_data.columns)
    X = evaluation_data[schema.features]
    agreement = float((candidate.predict(X) == baseline.predict(X)).mean())
    certify_metrics.check("agreement", agreement, fail=0.6, direction="min")
