"""The edge_cases suite's policy section ``[suites.edge_cases]`` and its input kinds."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from certify.suite import SuiteSettings

Acceptance = Literal["predict", "reject", "must_reject", "skip"]

#: Value-level input kinds (generated inside cells) and the policy key of each.
CELL_KINDS = {
    "out_of_range": "on_out_of_range",
    "nan": "on_nan",
    "inf": "on_inf",
    "unseen_category": "on_unseen_category",
    "wrong_dtype": "on_wrong_dtype",
}
#: Frame-level input kinds and their policy keys.
FRAME_KINDS = {
    "missing_column": "on_missing_column",
    "extra_column": "on_extra_column",
    "reordered_columns": "on_reordered_columns",
    "empty_batch": "on_empty_batch",
}
POLICY_KEYS = {**CELL_KINDS, **FRAME_KINDS}

_ACCEPTANCE_HELP = ("(every on_* key: 'predict': must be predicted; 'reject': a clean "
                    "rejection is fine; 'must_reject': predicting it fails; 'skip': never "
                    "generated)")


class NoiseSpec(BaseModel):
    """Bounded output change under small input noise."""

    model_config = ConfigDict(extra="forbid")

    scale: float = Field(gt=0, le=1, description="Noise per numeric feature, as a fraction of its "
                         "observed range (uniform in +/- scale * (max - min)).")
    max_change: float = Field(ge=0, description="Largest allowed change of any output "
                              "(probability; regression prediction, relative to its magnitude "
                              "beyond ±1; a changed label counts 1).")
    columns: list[str] | None = Field(default=None, description="Numeric features to perturb "
                                      "(default: all numeric features).")


class EdgeCasesSettings(SuiteSettings):
    max_examples: int = Field(default=25, ge=1, le=100_000,
                              description="Examples per check, spread evenly over the input "
                              "kinds it tries (at least one each).")
    min_examples: int = Field(default=5, ge=1, description="A check that judged fewer examples "
                              "(time budget, rejected inputs) is errored, not passed.")
    time_budget_s: float = Field(default=10.0, gt=0, description="Search time per check.")
    shrink_budget_s: float = Field(default=5.0, ge=0, description="Extra time per check to "
                                   "shrink a counterexample once found.")
    deadline_s: float = Field(default=5.0, gt=0, description="Per model call; a call past it "
                              "fails edge_cases::deadline and the model is not called again.")
    max_rows: int = Field(default=6, ge=2, le=200, description="Rows in a generated batch.")
    large_batch: int = Field(default=1000, ge=0, description="Rows of the large-batch case "
                             "(0: no large batch).")
    on_nan: Acceptance = Field(default="reject", description="NaN or None in a column that had "
                               "no missing values. " + _ACCEPTANCE_HELP)
    on_inf: Acceptance = Field(default="reject", description="+/-inf in a numeric column, and "
                               "magnitudes past float32's range (1e300: infinite to a model that "
                               "computes in float32).")
    on_out_of_range: Acceptance = Field(default="predict", description="Numbers outside the "
                                        "observed range: just outside, zero, negative, +/-1e9.")
    on_unseen_category: Acceptance = Field(default="reject", description="A category never seen, "
                                           "including the empty string.")
    on_wrong_dtype: Acceptance = Field(default="reject", description="Text in a numeric column, a "
                                       "number in a categorical one.")
    on_missing_column: Acceptance = Field(default="reject", description="A feature column "
                                          "missing.")
    on_extra_column: Acceptance = Field(default="reject", description="An unknown extra column.")
    on_reordered_columns: Acceptance = Field(default="reject", description="Feature columns in "
                                             "another order (for a positional endpoint, set "
                                             "candidate.options.features or 'skip').")
    on_empty_batch: Acceptance = Field(default="reject", description="A batch of zero rows.")
    reject_exceptions: list[str] = Field(
        default_factory=lambda: ["ValueError", "TypeError"],
        description="Exception classes (name or module.Name, base classes count) that are a "
                    "clean rejection, besides RejectedInput / HTTP 4xx.")
    prob_tolerance: float = Field(default=1e-6, ge=0, description="Probabilities: allowed "
                                  "distance from [0, 1] and of the row sum from 1.")
    batch_tolerance: float = Field(default=1e-6, ge=0, description="Batch, row-order, column-order "
                                   "and invariance checks: allowed output difference (absolute "
                                   "within ±1, relative beyond). A float64 model differs by "
                                   "~1e-16, a float32 one (PyTorch, ONNX, XGBoost) by a few "
                                   "float32 steps (~1e-8); a model whose answer depends on its "
                                   "batch by far more.")
    determinism_tolerance: float = Field(default=1e-12, ge=0, description="Allowed difference "
                                         "between two calls on the same input.")
    monotonic: dict[str, Literal["increasing", "decreasing"]] = Field(
        default_factory=dict, description="Declared monotonic numeric features, e.g. "
        "{late_payments = \"increasing\"} (score: probability of positive_label, or the "
        "regression prediction).")
    monotonic_tolerance: float = Field(default=1e-9, ge=0, description="Allowed step against the "
                                       "declared direction.")
    invariant: list[str] = Field(default_factory=list, description="Features the output must "
                                 "not depend on, e.g. [\"sex\"].")
    noise: NoiseSpec | None = Field(default=None, description="Declared stability under small "
                                    "noise: {scale = 0.001, max_change = 0.05}.")
    positive_label: Any = Field(default=None, description="Class scored by the monotonic check "
                                "(default: the model's last class).")
    model_threads: int | None = Field(default=1, ge=1, description="OpenMP threads for an "
                                      "in-process model during this suite (none: unchanged).")
    checks: list[str] | None = Field(default=None, description="Run only these checks (names "
                                     "such as no_crash, monotonic); default: all that apply.")
