"""What decided each deepchecks condition: the figure, its threshold and the items past it.

deepchecks reports a condition as a category and a sentence (often ending in a Python dict).
For the conditions of the default checks (and a few others) :func:`deciding` reads the figure
the condition was decided on from the check's value, the way deepchecks' condition computes
it: the largest null share, the smallest AUC, the gain over the simple model, the number of
correlated pairs, with the threshold, which side of it is good, and the columns (classes,
pairs) past it. The records carry these as comparisons and plain sentences (:mod:`.checks`).
A condition without a reader here keeps deepchecks' sentence, made plain.

Two corrections of deepchecks' verdict, both in the open (the record's reason says so):

* **inconclusive**: a drift score or single-valued column that sampling noise alone explains
  at this sample size (:mod:`.noise`) is warned, not failed;
* **resolved**: a category new to the reference *sample* that the whole reference data has
  is not new (deepchecks sees samples); the ratio is taken over the categories the whole
  reference data lacks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from certify.jsonsafe import finite
from certify.suites.validation import noise

#: Items past the threshold kept per condition (the count is kept in full).
MAX_OVER = 10


@dataclass
class Deciding:
    """One figure a condition was decided on, and its threshold."""

    metric: str
    label: str  # plain words, e.g. "the largest share of missing values"
    value: float | None
    threshold: float
    direction: Literal["max", "min"]  # max: must stay at or below; min: at or above
    strict: bool = False  # deepchecks fails at equality (must be below / above)
    percent: bool = False
    where: str = ""  # e.g. "in notes", "for class 1"
    over: list[tuple[str, str]] = field(default_factory=list)  # (item, its value as text)
    n_over: int = 0
    n_items: int | None = None
    noun: str = "column"
    bound: float | None = None  # the farthest value the metric can take (never fails there)
    deepchecks_warns: bool = False  # deepchecks' category for an unmet condition is WARN
    note: str = ""  # what the figure is made of, e.g. "AUC 0.88 vs 0.5 for the simple model"
    counted: bool = False  # the figure counts the items in ``over``
    noise: float | None = None  # what sampling noise alone reaches (99%) at this size
    inconclusive: str = ""
    resolved: str = ""

    def breached(self) -> bool:
        if self.value is None:
            return False
        if self.direction == "max":
            return self.value >= self.threshold if self.strict else self.value > self.threshold
        return self.value <= self.threshold if self.strict else self.value < self.threshold

    def as_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["over"] = [list(o) for o in self.over]
        return out


def _pct(value: float) -> str:
    return f"{value * 100:.3g}%"


def _text(value: Any, percent: bool = False) -> str:
    v = finite(value)
    if v is None:
        return str(value)
    return _pct(v) if percent else f"{v:.4g}"


def _largest(values: dict[str, float], label: str, metric: str, threshold: float,
             direction: Literal["max", "min"] = "max", *, strict: bool = False,
             percent: bool = False, noun: str = "column", preposition: str = "in",
             bound: float | None = 1.0) -> Deciding:
    """The worst of per-item ``values`` against ``threshold``, with the items past it."""
    numbers = {str(k): v for k, v in ((k, finite(v)) for k, v in values.items()) if v is not None}
    d = Deciding(metric, label, None, threshold, direction, strict, percent, noun=noun,
                 n_items=len(values), bound=bound)
    if not numbers:
        d.value = 0.0 if direction == "max" else None
        return d
    pick = max if direction == "max" else min
    name = pick(numbers, key=lambda k: numbers[k])
    d.value = numbers[name]
    if d.value != 0 or d.breached():
        d.where = f"{preposition} {name}"
    probe = dataclasses.replace(d)
    over = []
    for k, v in sorted(numbers.items(), key=lambda kv: kv[1], reverse=direction == "max"):
        probe.value = v
        if probe.breached():
            over.append((k, _text(v, percent)))
    d.over, d.n_over = over[:MAX_OVER], len(over)
    return d


def _count(items: list[tuple[str, str]], label: str, metric: str, allowed: float,
           n_items: int, noun: str = "column") -> Deciding:
    """How many items are flagged, against the number allowed."""
    return Deciding(metric, label, float(len(items)), float(allowed), "max",
                    over=items[:MAX_OVER], n_over=len(items), n_items=n_items, noun=noun,
                    bound=float(max(n_items, len(items), allowed)), counted=True)


@dataclass
class Env:
    """What the readers may use besides the check's value: the samples deepchecks saw."""

    reference: pd.DataFrame
    evaluation: pd.DataFrame
    target: str
    seed: int
    #: A column's categories in the whole reference data (as deepchecks' frames spell them).
    reference_levels: Callable[[str], set[str]] = field(default=lambda column: set())


Reader = Callable[[Any, dict[str, Any], Env, Any], list[Deciding]]
READERS: dict[tuple[str, str], Reader] = {}


def reader(cls: str, *conditions: str) -> Callable[[Reader], Reader]:
    def register(fn: Reader) -> Reader:
        for condition in conditions:
            READERS[(cls, condition)] = fn
        return fn
    return register


def deciding(cls: str, condition: str, value: Any, arguments: dict[str, Any], env: Env,
             check: Any) -> list[Deciding] | None:
    """The figures ``condition`` of deepchecks check ``cls`` was decided on, or None when
    this module has no reader for it."""
    fn = READERS.get((cls, condition))
    return None if fn is None else fn(value, arguments, env, check)


# -- data integrity ------------------------------------------------------------------------

@reader("IsSingleValue", "not_single_value")
def _single_value(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    singles = [str(k) for k, v in value.items() if v == 1]
    d = _count([(c, "") for c in singles], "the number of columns holding a single "
               "value", "single_value_columns", 0, len(value))
    chances = []
    for column in singles:
        if column not in env.evaluation or column not in env.reference:
            return [d]
        seen = env.evaluation[column].dropna()
        chance = (noise.chance_of_single_value(seen.iloc[0], env.reference[column], len(seen))
                  if len(seen) else None)
        if chance is None or chance < noise.ALPHA:
            return [d]
        chances.append(f"{column} (chance {chance:.2g})")
    if chances:
        d.inconclusive = ("the other values of " + ", ".join(chances) + " are rare enough in "
                          f"the reference sample to be missing from {len(env.evaluation)} "
                          "evaluation rows by chance")
    return [d]


@reader("PercentOfNulls", "percent_of_nulls_not_greater_than")
def _nulls(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    shares = value["Percent of nulls in sample"].to_dict()
    return [_largest(shares, "the largest share of missing values", "max_null_share",
                     float(args.get("threshold", 0.05)), percent=True)]


@reader("SpecialCharacters", "ratio_of_special_characters_less_or_equal")
def _special(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    d = _largest(dict(value), "the largest share of values made of special characters only",
                 "max_special_character_share", float(args.get("max_ratio", 0.001)),
                 percent=True)
    d.deepchecks_warns = True
    return [d]


@reader("MixedNulls", "different_nulls_less_equal_to")
def _mixed_nulls(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    kinds = {k: float(len(v)) for k, v in value["columns"].items()}
    return [_largest(kinds, "the most kinds of missing value in one column", "max_null_kinds",
                     float(args.get("max_allowed_null_types", 1)), bound=None)]


@reader("MixedDataTypes", "rare_type_ratio_not_in_range")
def _mixed_types(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    lo, hi = (float(x) for x in args.get("ratio_range", (0.01, 0.1)))
    flagged = []
    for column, ratios in value.items():
        if ratios:
            rarer = min(ratios["strings"], ratios["numbers"])
            if lo < rarer < hi:
                flagged.append((str(column), _pct(rarer)))
    d = _count(flagged, f"the number of columns whose rarer type (text or number) is between "
               f"{_pct(lo)} and {_pct(hi)} of the values", "columns_with_mixed_types", 0,
               len(value))
    d.deepchecks_warns = True
    return [d]


@reader("StringMismatch", "no_variants", "number_variants_less_or_equal")
def _variants(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    most = int(args.get("num_max_variants", 0))
    flagged = []
    for column, forms in value["columns"].items():
        bad = [str(form) for form, variants in forms.items() if len(variants) > most]
        if bad:
            flagged.append((str(column), ", ".join(bad[:5])))
    d = _count(flagged, "the number of columns with several spellings of one value",
               "columns_with_variants", 0, len(value["columns"]))
    d.deepchecks_warns = True
    return [d]


@reader("DataDuplicates", "ratio_less_or_equal")
def _duplicates(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    ratio = value["percent_of_duplicates"] if isinstance(value, dict) else value
    return [Deciding("duplicate_share", "the share of duplicate rows", finite(ratio),
                     float(args.get("max_ratio", 0.05)), "max", percent=True, bound=1.0,
                     deepchecks_warns=True)]


@reader("ConflictingLabels", "ratio_of_conflicting_labels_less_or_equal")
def _conflicts(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    return [Deciding("conflicting_label_share", "the share of rows whose features repeat with "
                     "another label", finite(value["percent_of_conflicting_samples"]),
                     float(args.get("max_ratio", 0)), "max", percent=True, bound=1.0)]


@reader("FeatureLabelCorrelation", "feature_pps_less_than")
def _pps(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    return [_largest(dict(value), "the highest predictive power score of a feature for the "
                     "label", "max_pps", float(args.get("threshold", 0.8)), strict=True,
                     noun="feature", preposition="for")]


@reader("FeatureFeatureCorrelation", "max_number_of_pairs_above_threshold")
def _pairs(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    level = float(args.get("threshold", 0.9))
    frame = value.astype(float)
    pairs = [((str(i), str(j)), float(v)) for (i, j), v in frame.stack().items()
             if str(i) < str(j) and v > level]
    pairs.sort(key=lambda p: -p[1])
    n = len(frame.columns)
    d = _count([(f"{i} ~ {j}", f"{v:.3g}") for (i, j), v in pairs],
               f"the number of feature pairs correlated above {level:g}",
               "correlated_pairs", float(args.get("n_pairs", 0)), n * (n - 1) // 2, noun="pair")
    top = [(str(i), str(j), float(v)) for (i, j), v in frame.stack().items()
           if str(i) < str(j) and finite(v) is not None]
    if top:
        i, j, v = max(top, key=lambda t: t[2])
        d.note = f"the highest correlation is {v:.3g}, between {i} and {j}"
    return [d]


# -- train-test validation -----------------------------------------------------------------

@reader("NewLabelTrainTest", "new_labels_number_less_or_equal")
def _new_labels(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    labels = [str(x) for x in (value or {}).get("new_labels", [])]
    return [_count([(x, "") for x in labels], "the number of labels the reference data lacks",
                   "new_labels", float(args.get("max_new", 0)),
                   len(labels) + env.reference[env.target].nunique(), noun="label")]


@reader("NewCategoryTrainTest", "new_category_ratio_less_or_equal", "new_categories_less_or_equal")
def _new_categories(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    by_ratio = "max_ratio" in args or "max_new" not in args
    limit = float(args.get("max_ratio", 0) if by_ratio else args.get("max_new", 0))
    figures: dict[str, float] = {}
    names: dict[str, list[str]] = {}
    known_elsewhere: list[str] = []
    for column, row in value.iterrows():
        column = str(column)
        new = [str(c) for c in (row.get("New categories") or [])]
        if new:
            whole = env.reference_levels(column)
            truly = [c for c in new if c not in whole]
            known_elsewhere += [f"{column}: {c}" for c in new if c in whole]
            new = truly
        names[column] = new
        if by_ratio:
            seen = env.evaluation[column].astype(str) if column in env.evaluation else None
            figures[column] = float(seen.isin(new).mean()) if seen is not None and new else 0.0
        else:
            figures[column] = float(len(new))
    label = ("the largest share of evaluation rows with a category the reference data lacks"
             if by_ratio else "the most categories the reference data lacks in one feature")
    d = _largest(figures, label, "max_new_category_share" if by_ratio else "max_new_categories",
                 limit, percent=by_ratio, noun="feature", bound=1.0 if by_ratio else None)
    d.over = [(k, f"{text}: {', '.join(names[k][:5])}") for k, text in d.over]
    if known_elsewhere:
        d.resolved = ("categories missing from the reference sample but present in the whole "
                      "reference data are not new: " + ", ".join(known_elsewhere[:5]))
    return [d]


@reader("StringMismatchComparison", "no_new_variants", "ratio_new_variants_less_or_equal")
def _new_variants(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    shares = {str(col): float(sum(info["percent_variants_only_in_test"]
                                  for info in forms.values()))
              for col, forms in value.items()}
    return [_largest(shares, "the largest share of evaluation values spelled in a way the "
                     "reference data never spells them", "max_new_variant_share",
                     float(args.get("ratio", 0)), percent=True)]


@reader("TrainTestSamplesMix", "duplicates_ratio_less_or_equal")
def _mix(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    return [Deciding("shared_row_share", "the share of evaluation rows that also appear in the "
                     "reference data", finite(value["ratio"]), float(args.get("max_ratio", 0.05)),
                     "max", percent=True, bound=1.0)]


@reader("FeatureLabelCorrelationChange", "feature_pps_difference_less_than")
def _pps_change(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    both = bool(args.get("include_negative_diff", True))
    diff = {k: (abs(v) if both else v) for k, v in value["train-test difference"].items()}
    label = ("the largest change of a feature's predictive power score between the reference "
             "and evaluation data" if both else "the most a feature's predictive power score "
             "drops from the reference to the evaluation data")
    return [_largest(diff, label, "max_pps_drop" if not both else "max_pps_change",
                     float(args.get("threshold", 0.2)), strict=True, noun="feature",
                     preposition="for")]


@reader("FeatureLabelCorrelationChange", "feature_pps_in_train_less_than")
def _pps_train(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    return [_largest(dict(value["train"]), "the highest predictive power score of a feature for "
                     "the label in the reference data", "max_reference_pps",
                     float(args.get("threshold", 0.7)), strict=True, noun="feature",
                     preposition="for")]


def _assess(d: Deciding, scores: dict[str, float], methods: dict[str, str], env: Env,
            check: Any) -> Deciding:
    """Mark ``d`` inconclusive when sampling noise explains every item past its limit."""
    if not d.breached() or d.n_over > MAX_OVER:
        return d
    within, levels = [], []
    for name, _ in d.over:
        statistic = noise.drift_statistic(methods.get(name, ""), check)
        column = env.target if name == "label" else name
        score = finite(scores.get(name))
        if (statistic is None or score is None or column not in env.reference
                or column not in env.evaluation):
            return d
        level = noise.permutation_level(statistic, env.reference[column],
                                        env.evaluation[column], env.seed)
        if level is None or score > level:
            return d
        levels.append(level)
        within.append(f"{name} (noise reaches {level:.3g})")
    if within:
        d.noise = max(levels)
        d.inconclusive = ("at this sample size sampling noise alone (99th percentile of "
                          f"{noise.PERMUTATIONS} permutations) explains " + ", ".join(within))
    return d


@reader("FeatureDrift", "drift_score_less_than")
def _feature_drift(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    from deepchecks.utils.distribution.drift import (
        SUPPORTED_CATEGORICAL_METHODS,
        SUPPORTED_NUMERIC_METHODS,
    )

    methods = {str(k): str(v["Method"]) for k, v in value.items()}
    out = []
    for kind, methods_of_kind, key in (
            ("numeric", SUPPORTED_NUMERIC_METHODS, "max_allowed_numeric_score"),
            ("categorical", SUPPORTED_CATEGORICAL_METHODS, "max_allowed_categorical_score")):
        scores = {str(k): v["Drift score"] for k, v in value.items()
                  if v["Method"] in methods_of_kind}
        if not scores:
            continue
        method = next(iter({methods[k] for k in scores}))
        d = _largest(scores, f"the largest {kind} drift score ({method})",
                     f"max_{kind}_drift", float(args.get(key, 0.2)), strict=True,
                     noun="feature", preposition="for")
        out.append(_assess(d, scores, methods, env, check))
    allowed = int(args.get("allowed_num_features_exceeding_threshold", 0))
    if allowed:
        over = [o for d in out for o in d.over]
        count = _count(over, "the number of features past their drift limit",
                       "drifted_features", allowed, len(value), noun="feature")
        return [count]
    return out


@reader("LabelDrift", "drift_score_less_than")
def _label_drift(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    method = str(value["Method"])
    d = Deciding("label_drift", f"the label's drift score ({method})",
                 finite(value["Drift score"]), float(args.get("max_allowed_drift_score", 0.15)),
                 "max", bound=1.0)
    d.over = [("label", f"{d.value:.3g}")] if d.breached() and d.value is not None else []
    d.n_over = len(d.over)
    return [_assess(d, {"label": d.value or 0.0}, {"label": method}, env, check)]


@reader("MultivariateDrift", "overall_drift_value_less_than")
def _multivariate(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    auc = finite(value["domain_classifier_auc"])
    d = Deciding("domain_drift", "the drift value of a classifier telling reference from "
                 "evaluation rows (2 AUC - 1)", finite(value["domain_classifier_drift_score"]),
                 float(args.get("max_drift_value", 0.25)), "max", strict=True, bound=1.0,
                 note=f"its held-out AUC is {auc:.3g}" if auc is not None else "")
    if d.breached():
        level = noise.domain_auc_level(len(env.reference), len(env.evaluation),
                                       float(getattr(check, "test_size", 0.3)),
                                       int(getattr(check, "n_samples", 10_000)))
        if level is not None and d.value is not None and d.value <= level:
            d.noise = level
            d.inconclusive = (f"at this sample size an uninformative classifier reaches "
                              f"{level:.3g} (99th percentile)")
    return [d]


# -- model evaluation ----------------------------------------------------------------------

#: deepchecks scorer names in words.
_SCORER_WORDS = {"roc_auc_ovr": "AUC", "roc_auc": "AUC", "f1_macro": "macro F1", "r2": "R²",
                 "neg_rmse": "RMSE (negated)", "accuracy": "accuracy"}
#: SimpleModelComparison's simple models in words: (strategy, regression).
_SIMPLE = {("most_frequent", False): "the majority-class model",
           ("most_frequent", True): "predicting the mean",
           ("stratified", False): "random labels in the reference shares",
           ("uniform", False): "uniformly random labels", ("tree", False): "a depth-3 tree",
           ("tree", True): "a depth-3 tree"}


@reader("TrainTestPerformance", "train_test_relative_degradation_less_than")
def _degradation(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    frame = value
    has_class = "Class" in frame.columns and not frame["Class"].isna().all()
    keys = ["Metric", "Class"] if has_class else ["Metric"]
    train = frame[frame["Dataset"] == "Train"].set_index(keys)["Value"]
    test = frame[frame["Dataset"] == "Test"].set_index(keys)["Value"]
    drops: dict[str, float] = {}
    for key, before in train.items():
        if key not in test.index:
            continue
        after = float(test.loc[key])
        before = float(before)
        drop = (0.0 if after == 0 else 1.0) if before == 0 else (before - after) / abs(before)
        metric = str(key[0] if isinstance(key, tuple) else key)
        metric = _SCORER_WORDS.get(metric, metric)
        name = f"{metric} of class {key[1]}" if has_class else metric
        drops[name] = drop
    d = _largest(drops, "the largest relative drop of a score from the reference (training) "
                 "data to the evaluation data", "max_degradation",
                 float(args.get("threshold", 0.1)), strict=True, percent=True, noun="score",
                 preposition="for")
    d.bound = max(1.0, d.value or 0.0)
    return [d]


@reader("RocReport", "auc_greater_than")
def _auc(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    d = _largest({f"class {k}": v for k, v in value.items()}, "the lowest AUC of a class",
                 "min_auc", float(args.get("min_auc", 0.7)), "min", strict=True, noun="class",
                 preposition="for", bound=0.0)
    return [d]


@reader("PredictionDrift", "drift_score_less_than")
def _prediction_drift(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    scores = value["Drift score"]
    per_class = isinstance(scores, dict)
    d = _largest({f"class {k}": v for k, v in scores.items()} if per_class else {"": scores},
                 f"the drift score of the model's predictions ({value['Method']})",
                 "prediction_drift", float(args.get("max_allowed_drift_score", 0.15)),
                 noun="class", preposition="for")
    if not per_class:
        d.where, d.over = "", []
    return [d]


@reader("SimpleModelComparison", "gain_greater_than")
def _gain(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    from deepchecks.utils.metrics import get_gain

    floor = float(args.get("min_allowed_gain", 0.1))
    classes = args.get("classes")
    average = bool(args.get("average", False))
    most = float(getattr(check, "max_gain", 50))
    strategy = str(getattr(check, "strategy", "most_frequent"))
    regression = str(getattr(value.get("type"), "value", value.get("type"))) == "regression"
    simple = _SIMPLE.get((strategy, regression), f"a simple model ({strategy})")
    gains: dict[str, float] = {}
    notes: dict[str, str] = {}
    for metric, scores in value["scores"].items():
        perfect = value["scorers_perfect"][metric]
        nested = isinstance(next(iter(scores.values()), None), dict)
        rows = dict(scores) if nested else {None: scores}
        if nested and average:
            kept = [s for c, s in rows.items() if classes is None or c in classes]
            rows = {None: {"Origin": sum(s["Origin"] for s in kept) / len(kept),
                           "Simple": sum(s["Simple"] for s in kept) / len(kept)}}
        for cls, s in rows.items():
            if cls is not None and classes is not None and cls not in classes:
                continue
            if s["Origin"] is None or s["Simple"] is None or s["Origin"] == perfect:
                continue
            name = _SCORER_WORDS.get(str(metric), str(metric)) + (
                f" of class {cls}" if cls is not None else "")
            gains[name] = float(get_gain(s["Simple"], s["Origin"], perfect, most))
            notes[name] = f"{s['Origin']:.4g} against {s['Simple']:.4g} for {simple}"
    d = _largest(gains, "the gain over a simple model (the share of the way from its score to "
                 "a perfect score)", "min_gain", floor, "min", strict=True, percent=True,
                 noun="score", preposition="in", bound=-most)
    d.note = notes.get(d.where.removeprefix("in "), "")
    return [d]


@reader("UnusedFeatures", "number_of_high_variance_unused_features_less_or_equal")
def _unused(value: Any, args: dict[str, Any], env: Env, check: Any) -> list[Deciding]:
    unused = [str(f) for f in value["unused features"]["high variance"]]
    used = len(value.get("used features", {}) or {})
    low = len(value["unused features"].get("low variance", []) or [])
    d = _count([(f, "") for f in unused], "the number of high-variance features the model "
               "does not use", "unused_high_variance_features",
               float(args.get("max_high_variance_unused_features", 5)), used + low + len(unused),
               noun="feature")
    d.deepchecks_warns = True
    return [d]
