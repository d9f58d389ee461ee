"""The privacy suite's policy section ``[suites.privacy]`` and its three parts:
``[suites.privacy.membership]``, ``[suites.privacy.scan]`` and ``[suites.privacy.pii]``."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from certify.suite import SuiteSettings

Attack = Literal["rule_based", "black_box"]
PiiKind = Literal["email", "phone", "iban", "card", "national_id", "date_of_birth"]
ATTACKS: tuple[Attack, ...] = get_args(Attack)
PII_KINDS: tuple[PiiKind, ...] = get_args(PiiKind)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MembershipSettings(_Strict):
    """Membership inference (``privacy::membership_advantage``)."""

    enabled: bool = Field(default=True, description="Run the membership-inference attacks.")
    training_data: str | None = Field(
        default=None,
        description="The rows the candidate was trained on (CSV or Parquet, relative to the "
                    "policy), the attack's members. Default: data.reference (the evidence "
                    "records that assumption).")
    baseline_training_data: str | None = Field(
        default=None,
        description="The rows the baseline was trained on. Only when set is the baseline "
                    "attacked too and the candidate compared with it.")
    attacks: list[Attack] = Field(
        default_factory=lambda: list(ATTACKS), min_length=1,
        description="ART attacks: 'rule_based' (a row is a member when the model classifies it "
                    "correctly; classifiers only) and 'black_box' (a trained attack model on the "
                    "model's outputs and the true label).")
    attack_model: Literal["gb", "rf", "lr"] = Field(
        default="gb", description="Learner of the black-box attack (ART's attack_model_type: "
                                  "gradient boosting, random forest, logistic regression), "
                                  "seeded.")
    attack_trees: int = Field(
        default=50, ge=10, le=1000,
        description="Trees of the 'gb' or 'rf' attack learner (ART's default of 100 costs twice "
                    "the time for the same advantage on tabular outputs).")
    folds: int = Field(
        default=2, ge=2, le=10,
        description="Cross-fitting folds of the black-box attack: it is trained on the other "
                    "folds' members and non-members and scores the held-out fold, so every "
                    "sampled row gets a score from an attack that never saw it.")
    sample_size: int = Field(
        default=1000, ge=20, le=20_000,
        description="Most members, and as many non-members, attacked (seeded sample, balanced "
                    "per class so that the label alone says nothing about membership).")
    low_fpr: float = Field(
        default=0.01, gt=0, lt=0.5,
        description="False-positive rate at which the attack's true-positive rate is reported.")
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="Bootstrap interval level.")
    bootstrap: int = Field(default=200, ge=20, le=10000, description="Bootstrap resamples.")
    advantage_warn: float = Field(
        default=0.1, ge=0, le=0.5,
        description="Warn when the strongest attack's advantage (ROC AUC - 0.5) exceeds this.")
    advantage_fail: float | None = Field(
        default=None, ge=0, le=0.5,
        description="Fail when the lower end of the advantage's interval exceeds this "
                    "(default: never fails; a point estimate above it with an interval "
                    "reaching below it warns as inconclusive).")
    tpr_warn: float | None = Field(
        default=None, ge=0, le=1,
        description="Warn when the true-positive rate at low_fpr exceeds this (default: "
                    "reported only).")
    tpr_fail: float | None = Field(
        default=None, ge=0, le=1,
        description="Fail when the lower end of that rate's interval exceeds this.")
    baseline_margin: float = Field(
        default=0.05, ge=0, le=0.5,
        description="With baseline_training_data: warn when the lower end of the interval of "
                    "(candidate advantage - baseline advantage) exceeds this.")
    baseline_fail: bool = Field(
        default=False, description="Fail, not only warn, past baseline_margin.")
    executor: Literal["inprocess", "ray", "auto"] = Field(
        default="inprocess",
        description="Where the black-box attack's folds are trained: 'inprocess', 'ray' (one "
                    "task per model and fold; local Ray on 127.0.0.1 or RAY_ADDRESS) or 'auto' "
                    "(Ray only when already running here or RAY_ADDRESS is set). The results "
                    "are the same.")
    workers: int | None = Field(default=None, ge=1,
                                description="Most Ray tasks in flight (default: all).")

    @model_validator(mode="after")
    def _levels(self) -> MembershipSettings:
        if self.advantage_fail is not None and self.advantage_warn > self.advantage_fail:
            raise ValueError("advantage_warn must not exceed advantage_fail")
        if (self.tpr_fail is not None and self.tpr_warn is not None
                and self.tpr_warn > self.tpr_fail):
            raise ValueError("tpr_warn must not exceed tpr_fail")
        return self


class ScanSettings(_Strict):
    """The search for raw sensitive values in what the run wrote
    (``privacy::no_raw_sensitive_values``)."""

    enabled: bool = Field(default=True, description="Scan the run's outputs.")
    rare_rows: int = Field(
        default=5, ge=2,
        description="A value of a sensitive column found in fewer rows than this (reference, "
                    "evaluation and declared training data together) could identify someone: "
                    "it is searched for.")
    high_cardinality: float = Field(
        default=0.5, gt=0, le=1,
        description="A sensitive column whose distinct values are at least this share of its "
                    "non-missing values is high-cardinality: every value of it is searched for.")
    min_text_length: int = Field(
        default=4, ge=1,
        description="Text values with fewer letters and digits are not searched (they occur "
                    "in ordinary words).")
    max_file_mb: float = Field(
        default=64.0, gt=0, description="Larger files are read only up to this size (the "
                                        "evidence names them).")


class PiiSettings(_Strict):
    """Columns that look like personal data but are not declared (``privacy::undeclared_pii``)."""

    enabled: bool = Field(default=True, description="Look for undeclared personal data.")
    fail: bool = Field(default=False,
                       description="Fail, not only warn, when an undeclared column looks personal.")
    kinds: list[PiiKind] = Field(
        default_factory=lambda: list(PII_KINDS),
        description="Recognisers used: email, phone (phonenumbers), iban, card (Luhn), "
                    "national_id (python-stdnum checksums), date_of_birth.")
    min_share: float = Field(
        default=0.5, gt=0, le=1,
        description="A column looks like a kind when at least this share of its sampled "
                    "non-missing values match it.")
    sample: int = Field(default=500, ge=10, le=100_000,
                        description="Distinct values sampled per column (seeded).")
    phone_regions: list[str] = Field(
        default_factory=lambda: ["US", "GB", "DE", "FR"],
        description="Regions tried for phone numbers written without a +country code.")
    ignore: list[str] = Field(
        default_factory=list,
        description="Columns known not to be personal data (never flagged).")


class PrivacySettings(SuiteSettings):
    membership: MembershipSettings = Field(default_factory=MembershipSettings,
                                           description="Membership inference (ART).")
    scan: ScanSettings = Field(default_factory=ScanSettings,
                               description="Raw sensitive values in the run's outputs.")
    pii: PiiSettings = Field(default_factory=PiiSettings,
                             description="Undeclared personal data in the data files.")
