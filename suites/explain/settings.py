"""The explain suite's policy section ``[suites.explain]``: the sample, the explainer choice and
its budgets, the levels of the checks, and where the work runs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from certify.evidence import Threshold
from certify.suite import SuiteSettings

#: Levels of the checks. ``rank_agreement`` and ``attribution_shift`` only warn by default (their
#: fail levels can never be crossed: Kendall's tau is at least -1, a share moves at most 1).
DEFAULT_RANK_AGREEMENT = Threshold(fail=-1.0, warn=0.3)
DEFAULT_ATTRIBUTION_SHIFT = Threshold(fail=1.0, warn=0.2)
DEFAULT_PROTECTED_USE = Threshold(fail=0.05, warn=0.02)
DEFAULT_ADDITIVITY = Threshold(fail=1e-3, warn=1e-5)
DEFAULT_STABILITY = Threshold(fail=0.8, warn=0.9)


class ExplainSettings(SuiteSettings):
    sample_size: int = Field(
        default=200, ge=10, le=100_000,
        description="Evaluation rows explained: a seeded sample stratified by the target (its "
                    "classes, or quantile bins of a regression target); all rows if fewer.")
    background_size: int = Field(
        default=50, ge=5, le=2000,
        description="Reference rows (seeded, stratified) that stand for 'feature unknown' in "
                    "the interventional SHAP values of every explainer; the cost of the tree "
                    "and model-agnostic explainers grows with it.")
    explainer: Literal["auto", "agnostic"] = Field(
        default="auto",
        description="'auto': SHAP's exact tree explainer for tree ensembles and the exact linear "
                    "explanation for verified linear models (bare or as the last step of a "
                    "scikit-learn Pipeline), the model-agnostic explainer for anything else; "
                    "'agnostic': the model-agnostic explainer for both models.")
    agnostic: Literal["permutation", "kernel"] = Field(
        default="permutation",
        description="The model-agnostic explainer: SHAP's antithetic 'permutation' explainer or "
                    "'kernel' SHAP (HTTP endpoints, torch models, any wrapper).")
    evals_per_row: int | None = Field(
        default=None, ge=3,
        description="Model-agnostic explainer: coalitions evaluated per explained row (SHAP's "
                    "max_evals / nsamples; each is scored on every background row). Default: two "
                    "antithetic permutations, 2 * (2 * features + 1); kernel: 4 * (2 * features "
                    "+ 1).")
    max_queries: int = Field(
        default=2_000_000, ge=1,
        description="Query budget of the model-agnostic explainer: rows scored per model. Past "
                    "it, rows stay unexplained and the checks are errored (never passed).")
    max_seconds: float = Field(
        default=300.0, gt=0, description="Wall-time budget of each model's explanation.")
    exact_max_features: int = Field(
        default=12, ge=1, le=16,
        description="A linear classifier is explained exactly (every coalition of its columns) "
                    "up to this many columns in use; beyond, by seeded antithetic permutations.")
    linear_permutations: int = Field(
        default=64, ge=1, le=10_000,
        description="Antithetic permutation pairs per row for a linear classifier with more "
                    "than exact_max_features columns in use.")
    positive_label: Any = Field(
        default=None,
        description="Classification: the class whose probability is explained (default: the "
                    "candidate's last class).")
    rank_metric: Literal["kendall", "top_k"] = Field(
        default="kendall",
        description="rank_agreement: Kendall's tau-b of the two global rankings (mean |SHAP| per "
                    "column), or the overlap of their top_k columns (0 to 1).")
    top_k: int = Field(default=5, ge=1, description="Columns compared by rank_metric = 'top_k'.")
    rank_agreement: Threshold = Field(
        default=DEFAULT_RANK_AGREEMENT,
        description="Lowest agreement of the candidate's and the baseline's global rankings. "
                    "Warns only by default (a linear baseline and a boosted candidate may rank "
                    "features differently for good reasons); raise 'fail' to make it block.")
    attribution_shift: Threshold = Field(
        default=DEFAULT_ATTRIBUTION_SHIFT,
        description="Largest move of a column's share of the total attribution, candidate minus "
                    "baseline (absolute). Warns only by default; lower 'fail' to make it block.")
    protected_use: Threshold = Field(
        default=DEFAULT_PROTECTED_USE,
        description="Largest share of the candidate's total attribution a protected attribute "
                    "(policy protected_attributes) may carry. Fails when the whole confidence "
                    "interval of the share is above 'fail'; an interval across it warns "
                    "(inconclusive).")
    additivity: Threshold = Field(
        default=DEFAULT_ADDITIVITY,
        description="Largest gap between SHAP values plus the expected value and the model's own "
                    "output (probability units; for regression, in standard deviations of the "
                    "model's output on the sample), judged on the candidate.")
    stability_noise: float | None = Field(
        default=None, gt=0, le=1,
        description="Optional stability check: re-explain stability_rows rows with Gaussian "
                    "noise of this many reference standard deviations added to each numeric "
                    "column (off when unset).")
    stability_rows: int = Field(default=20, ge=2, le=1000,
                                description="Rows re-explained under noise for stability.")
    stability: Threshold = Field(
        default=DEFAULT_STABILITY,
        description="Lowest median cosine similarity of a row's attributions with and without "
                    "the noise (candidate).")
    bootstrap: int = Field(default=200, ge=20, le=10_000,
                           description="Bootstrap resamples of the rows for the intervals.")
    confidence: float = Field(default=0.95, gt=0.5, lt=1,
                              description="Level of the bootstrap intervals.")
    disagreeing_rows: int = Field(
        default=3, ge=0, le=50,
        description="Rows whose candidate and baseline attributions differ most, shown in the "
                    "report (sensitive values masked).")
    executor: Literal["auto", "ray", "inprocess"] = Field(
        default="auto",
        description="'inprocess', 'ray' (every model's shards as Ray tasks; local Ray on "
                    "127.0.0.1 or RAY_ADDRESS), or 'auto' (the model-agnostic explainers' shards "
                    "on Ray when it already runs here or RAY_ADDRESS is set; exact explainers in "
                    "process).")
    workers: int | None = Field(default=None, ge=1,
                                description="Shard tasks in flight at once (default: Ray's CPUs).")
    shard_size: int = Field(
        default=25, ge=1,
        description="Rows per shard (fixed, and every row seeded on its own: the numbers do not "
                    "depend on the executor or the number of workers).")
