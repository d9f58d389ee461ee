"""Membership inference with ART: how well can an attacker tell the rows a model was trained on?

Members are rows the model was trained on (the policy's ``training_data``, else the reference
data, assumed to be the training data); non-members are the evaluation rows. Both are sampled
with one seed, balanced per class (equal members and non-members of every class, so that the
label alone says nothing about membership), at most ``sample_size`` each.

The model is queried once, through the certify ``Model`` interface, on the sampled rows; ART's
attacks then work on those recorded outputs:

* ``rule_based``: ART's ``MembershipInferenceBlackBoxRuleBased`` (a row is a member when the
  model classifies it correctly; classifiers only). Its outputs reach it through a lookup
  estimator (``BlackBoxClassifier`` whose input is the row's position).
* ``black_box``: ART's ``MembershipInferenceBlackBox`` with a seeded scikit-learn attack model
  (``attack_model``) on the model's outputs (probabilities, or the loss for a regressor) and
  the true label, cross-fitted over ``folds``: each fold is scored by an attack trained on the
  other folds, so every row's score comes from an attack that never saw it.

Each attack's ROC AUC over members (positives) and non-members, its advantage ``AUC - 0.5``
and its true-positive rate at ``low_fpr`` get seeded bootstrap intervals (members and
non-members resampled separately, the same resamples for every attack). A model's advantage is
that of its strongest attack (the per-resample maximum gives the interval).

The folds are independent tasks: in process, or one Ray task each (``executor``); every random
choice derives from the policy seed, so the numbers do not depend on the executor or the
number of workers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from certify.errors import ConfigError
from certify.models import Model
from certify.suites.privacy.settings import MembershipSettings

#: Most points of a recorded ROC curve (the report's picture).
ROC_POINTS = 60
#: Scores with at most this many distinct values are resampled per value (faster, exact).
FEW_LEVELS = 64
#: Fewest members (and non-members) an attack needs.
MIN_ROWS = 10


@dataclass
class AttackResult:
    """One attack on one model: ROC AUC, advantage and TPR at low FPR, with intervals."""

    name: str
    auc: float
    auc_ci: tuple[float, float]
    advantage: float
    advantage_ci: tuple[float, float]
    tpr: float
    tpr_ci: tuple[float, float]
    roc: list[tuple[float, float]] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class ModelMembership:
    """The attacks on one model (``role``: candidate or baseline)."""

    role: str
    members: str
    assumed: bool
    rows: int
    per_class: dict[str, int] | None
    attacks: dict[str, AttackResult]
    strongest: str
    advantage: float
    advantage_ci: tuple[float, float]
    tpr: float
    tpr_ci: tuple[float, float]
    skipped: dict[str, str] = field(default_factory=dict)
    #: Bootstrap draws of the strongest advantage (for the candidate - baseline difference).
    draws: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    seconds: float = 0.0


@dataclass
class MembershipResult:
    candidate: ModelMembership
    baseline: ModelMembership | None
    diff: float | None = None
    diff_ci: tuple[float, float] | None = None
    baseline_note: str = ""
    executor: str = "inprocess"
    low_fpr: float = 0.01


@dataclass(frozen=True)
class FoldJob:
    """One fold of the black-box attack: train on ``train``, score ``test`` (row positions)."""

    outputs: np.ndarray
    labels: np.ndarray
    truth: np.ndarray
    train: np.ndarray
    test: np.ndarray
    learner: str
    trees: int
    seed: int
    regression: bool
    n_classes: int


# -- sampling ------------------------------------------------------------------------------------

def balanced_sample(y_members: np.ndarray | None, y_non: np.ndarray | None, n_members: int,
                    n_non: int, most: int, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, int] | None]:
    """Positions of the sampled members and non-members: per class (``y_*`` given) as many
    members as non-members, scaled down together to at most ``most`` on each side."""
    if y_members is None or y_non is None:
        k = min(n_members, n_non, most)
        return (np.sort(rng.choice(n_members, k, replace=False)),
                np.sort(rng.choice(n_non, k, replace=False)), None)
    classes = sorted(set(y_members.tolist()) | set(y_non.tolist()), key=str)
    avail = {c: min(int((y_members == c).sum()), int((y_non == c).sum())) for c in classes}
    total = sum(avail.values())
    scale = min(1.0, most / total) if total else 0.0
    take = {c: int(np.floor(k * scale)) for c, k in avail.items()}
    members, non = [], []
    for c in classes:
        if take[c] == 0:
            continue
        members.append(rng.choice(np.flatnonzero(y_members == c), take[c], replace=False))
        non.append(rng.choice(np.flatnonzero(y_non == c), take[c], replace=False))
    if not members:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int), {}
    return (np.sort(np.concatenate(members)), np.sort(np.concatenate(non)),
            {str(c): take[c] for c in classes})


# -- the model's outputs -------------------------------------------------------------------------

def model_outputs(model: Model, X: pd.DataFrame, regression: bool  # noqa: N803
                  ) -> tuple[np.ndarray, list[Any] | None]:
    """What the attacker sees: class probabilities (one-hot labels for a model without them),
    or a regressor's predictions; and the classes in column order."""
    if regression:
        return np.asarray(model.predict(X), dtype=float).reshape(-1), None
    classes = list(model.classes or [])
    if model.predict_proba is not None:
        return np.asarray(model.predict_proba(X), dtype=float), classes
    pred = np.asarray(model.predict(X))
    if not classes:
        classes = sorted(set(pred.tolist()), key=str)
    index = {c: i for i, c in enumerate(classes)}
    onehot = np.zeros((len(pred), len(classes)))
    onehot[np.arange(len(pred)), [index[p] for p in pred.tolist()]] = 1.0
    return onehot, classes


# -- ART ------------------------------------------------------------------------------------------

def _lookup_classifier(outputs: np.ndarray) -> Any:
    """An ART black-box classifier whose input is a row's position in ``outputs``."""
    from art.estimators.classification import BlackBoxClassifier

    def predict(x: np.ndarray) -> np.ndarray:
        return outputs[np.asarray(x[:, 0], dtype=int)]

    return BlackBoxClassifier(predict, input_shape=(1,), nb_classes=outputs.shape[1])


def _lookup_regressor(outputs: np.ndarray) -> Any:
    from art.estimators.regression.blackbox import BlackBoxRegressor

    def predict(x: np.ndarray) -> np.ndarray:
        return outputs[np.asarray(x[:, 0], dtype=int)]

    return BlackBoxRegressor(predict, input_shape=(1,))


def rule_based_scores(outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """ART's rule-based attack on every row: 1 (member) where the model is right."""
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBoxRuleBased

    attack = MembershipInferenceBlackBoxRuleBased(_lookup_classifier(outputs))
    rows = np.arange(len(outputs), dtype=float).reshape(-1, 1)
    return np.asarray(attack.infer(rows, labels), dtype=float).reshape(-1)


def fit_fold(job: FoldJob) -> np.ndarray:
    """Train ART's black-box attack on one fold's training rows; its scores on the test rows."""
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox

    estimator = (_lookup_regressor(job.outputs) if job.regression
                 else _lookup_classifier(job.outputs))
    attack = MembershipInferenceBlackBox(
        estimator, input_type="loss" if job.regression else "prediction",
        attack_model_type=job.learner)
    params = attack.attack_model.get_params()
    if "random_state" in params:
        attack.attack_model.set_params(random_state=job.seed)
    if "n_estimators" in params:
        attack.attack_model.set_params(n_estimators=job.trees)
    members = job.train[job.truth[job.train] == 1]
    non = job.train[job.truth[job.train] == 0]
    y = job.labels.astype(float) if job.regression else job.labels
    attack.fit(pred=job.outputs[members], y=y[members],
               test_pred=job.outputs[non], test_y=y[non])
    scores = attack.infer(None, y[job.test], pred=job.outputs[job.test], probabilities=True)
    return np.asarray(scores, dtype=float).reshape(-1)


def _ray_fold(job: FoldJob) -> np.ndarray:
    return fit_fold(job)


def run_folds(jobs: Sequence[FoldJob], executor: str, workers: int | None) -> list[np.ndarray]:
    """Every fold's scores, in job order: in process or as Ray tasks."""
    if executor == "inprocess" or len(jobs) <= 1:
        return [fit_fold(job) for job in jobs]
    from certify.raycluster import ensure_ray

    ray = ensure_ray()
    remote = ray.remote(num_cpus=1)(_ray_fold)
    limit = workers or len(jobs)
    pending: dict[Any, int] = {}
    out: dict[int, np.ndarray] = {}
    queue = list(enumerate(jobs))
    while queue or pending:
        while queue and len(pending) < limit:
            i, job = queue.pop(0)
            pending[remote.remote(job)] = i
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            out[pending.pop(ref)] = np.asarray(ray.get(ref), dtype=float)
    return [out[i] for i in range(len(jobs))]


def use_ray(executor: str) -> bool:
    if executor == "ray":
        return True
    if executor == "auto":
        from certify.raycluster import ray_available

        return ray_available()
    return False


# -- metrics -------------------------------------------------------------------------------------

def auc_and_tpr(members: np.ndarray, non: np.ndarray, low_fpr: float) -> tuple[float, float]:
    """ROC AUC of ``members`` (positives) over ``non`` (ties count half), and the share of
    members scored above a threshold that at most ``low_fpr`` of the non-members exceed."""
    ordered = np.sort(non)
    below = np.searchsorted(ordered, members, side="left")
    upto = np.searchsorted(ordered, members, side="right")
    auc = float((below.sum() + 0.5 * (upto - below).sum()) / (len(members) * len(non)))
    k = int(np.floor(low_fpr * len(non)))
    threshold = ordered[::-1][k] if k < len(non) else -np.inf
    return auc, float(np.mean(members > threshold))


def resampled(members: np.ndarray, non: np.ndarray, weights_m: np.ndarray,
              weights_n: np.ndarray, low_fpr: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`auc_and_tpr` of every bootstrap resample at once. A resample is given by how
    often it draws each member (a row of ``weights_m``) and each non-member (``weights_n``),
    so that the scores are sorted once (integer counts: the sums are exact)."""
    levels, where = np.unique(np.r_[members, non], return_inverse=True)
    if len(levels) <= FEW_LEVELS:
        return _resampled_levels(len(levels), where[:len(members)], where[len(members):],
                                 weights_m, weights_n, low_fpr)
    order = np.argsort(non, kind="stable")
    ordered = non[order]
    counts = weights_n[:, order]
    cum = np.concatenate([np.zeros((len(counts), 1), dtype=counts.dtype),
                          np.cumsum(counts, axis=1)], axis=1)
    below = cum[:, np.searchsorted(ordered, members, side="left")]
    upto = cum[:, np.searchsorted(ordered, members, side="right")]
    twice = (weights_m * (below + upto)).sum(axis=1)  # 2 * (below + ties / 2)
    auc = twice / (2.0 * len(members) * len(non))
    k = int(np.floor(low_fpr * len(non)))
    # How many resampled non-members score at or above each position, from the top.
    from_top = cum[:, -1:] - cum[:, len(non) - 1::-1]
    at = np.argmax(from_top > k, axis=1)
    threshold = np.where(from_top[:, -1] > k, ordered[::-1][at], -np.inf)
    tpr = (weights_m * (members[None, :] > threshold[:, None])).sum(axis=1) / len(members)
    return auc, tpr


def _resampled_levels(n_levels: int, level_m: np.ndarray, level_n: np.ndarray,
                      weights_m: np.ndarray, weights_n: np.ndarray, low_fpr: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`resampled` for scores with few distinct values (the rule-based attack's 0/1):
    the resampled counts per score level are all it needs."""
    per_m = weights_m @ np.eye(n_levels, dtype=np.int64)[level_m]  # (resamples, levels)
    per_n = weights_n @ np.eye(n_levels, dtype=np.int64)[level_n]
    cum = np.concatenate([np.zeros((len(per_n), 1), dtype=np.int64),
                          np.cumsum(per_n, axis=1)], axis=1)
    n_m, n_n = len(level_m), len(level_n)
    auc = (per_m * (cum[:, :-1] + cum[:, 1:])).sum(axis=1) / (2.0 * n_m * n_n)
    k = int(np.floor(low_fpr * n_n))
    at_or_above = cum[:, -1:] - cum[:, :-1]  # non-members scored at level l or higher
    # The threshold is the highest level with more than k non-members at or above it; members
    # strictly above it are caught (none when no level has: every member is then above -inf).
    over = at_or_above > k
    top = np.where(over.any(axis=1), n_levels - 1 - np.argmax(over[:, ::-1], axis=1), -1)
    above = np.arange(n_levels)[None, :] > top[:, None]
    tpr = (per_m * above).sum(axis=1) / n_m
    return auc, tpr


def roc_points(members: np.ndarray, non: np.ndarray) -> list[tuple[float, float]]:
    """The ROC curve (false-positive rate, true-positive rate) at every distinct score, at most
    ROC_POINTS points (evenly spaced along the curve, both ends kept)."""
    scores = np.r_[members, non]
    truth = np.r_[np.ones(len(members)), np.zeros(len(non))]
    order = np.argsort(-scores, kind="stable")
    scores, truth = scores[order], truth[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # end of each distinct score
    tpr = np.r_[0.0, np.cumsum(truth)[last] / len(members)]
    fpr = np.r_[0.0, np.cumsum(1 - truth)[last] / len(non)]
    if len(fpr) > ROC_POINTS:
        keep = np.unique(np.linspace(0, len(fpr) - 1, ROC_POINTS).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return [(round(float(f), 5), round(float(t), 5)) for f, t in zip(fpr, tpr, strict=True)]


def _draws(rng: np.random.Generator, n: int, times: int) -> np.ndarray:
    """``times`` bootstrap resamples of ``n`` rows, as how often each row is drawn."""
    picks = rng.integers(0, n, size=(times, n)) + n * np.arange(times)[:, None]
    counts = np.bincount(picks.ravel(), minlength=times * n).reshape(times, n)
    return counts.astype(np.int32)  # half the memory traffic of the resampled sums


def _interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    return float(np.quantile(draws, alpha)), float(np.quantile(draws, 1 - alpha))


# -- one model -----------------------------------------------------------------------------------

def attack_model(model: Model, role: str, members: pd.DataFrame, non_members: pd.DataFrame,
                 *, features: list[str], target: str, regression: bool,
                 settings: MembershipSettings, seed: int, source: str, assumed: bool,
                 executor: str) -> ModelMembership:
    """Every configured attack on ``model``; see the module documentation."""
    start = time.perf_counter()
    s = settings
    rng = np.random.default_rng([seed, 7411])
    y_m = None if regression else members[target].to_numpy()
    y_n = None if regression else non_members[target].to_numpy()
    mi, ni, per_class = balanced_sample(y_m, y_n, len(members), len(non_members),
                                        s.sample_size, rng)
    if len(mi) < MIN_ROWS:
        raise ConfigError(f"suites.privacy.membership: only {len(mi)} members and non-members "
                          f"of matching classes to attack {role} with (need {MIN_ROWS})")
    rows = pd.concat([members.iloc[mi], non_members.iloc[ni]], ignore_index=True)
    outputs, classes = model_outputs(model, rows[features], regression)
    truth = np.r_[np.ones(len(mi), dtype=int), np.zeros(len(ni), dtype=int)]
    if regression:
        labels = rows[target].to_numpy(dtype=float)
    else:
        index = {c: i for i, c in enumerate(classes or [])}
        unknown = sorted({str(v) for v in rows[target].tolist() if v not in index})
        if unknown:
            raise ConfigError(f"{role}: the data's class {unknown[0]!r} is not one of the "
                              f"model's classes")
        labels = np.array([index[v] for v in rows[target].tolist()], dtype=int)
    scores: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for name in s.attacks:
        t0 = time.perf_counter()
        if name == "rule_based":
            if regression:
                skipped[name] = "the rule-based attack needs a classifier"
                continue
            scores[name] = rule_based_scores(outputs, labels)
        else:
            scores[name] = _black_box(outputs, labels, truth, s, seed, regression,
                                      executor, rng_seed=[seed, 7412])
        seconds[name] = time.perf_counter() - t0
    if not scores:
        raise ConfigError(f"suites.privacy.membership: no attack applies to {role} "
                          f"({'; '.join(skipped.values())})")
    return _judge(role, scores, seconds, truth, s, rng, source=source, assumed=assumed,
                  rows=len(mi), per_class=per_class, skipped=skipped,
                  seconds_total=time.perf_counter() - start)


def _black_box(outputs: np.ndarray, labels: np.ndarray, truth: np.ndarray,
               s: MembershipSettings, seed: int, regression: bool, executor: str,
               rng_seed: list[int]) -> np.ndarray:
    """Cross-fitted scores of ART's black-box attack on every row."""
    rng = np.random.default_rng(rng_seed)
    fold = np.empty(len(truth), dtype=int)
    for side in (1, 0):  # members and non-members spread evenly over the folds
        where = np.flatnonzero(truth == side)
        fold[rng.permutation(where)] = np.arange(len(where)) % s.folds
    jobs = [FoldJob(outputs, labels, truth, np.flatnonzero(fold != k), np.flatnonzero(fold == k),
                    s.attack_model, s.attack_trees, seed + 101 * k, regression,
                    1 if regression else outputs.shape[1])
            for k in range(s.folds)]
    out = np.empty(len(truth), dtype=float)
    for job, part in zip(jobs, run_folds(jobs, executor, s.workers), strict=True):
        out[job.test] = part
    return out


def _judge(role: str, scores: dict[str, np.ndarray], seconds: dict[str, float],
           truth: np.ndarray, s: MembershipSettings, rng: np.random.Generator, *, source: str,
           assumed: bool, rows: int, per_class: dict[str, int] | None,
           skipped: dict[str, str], seconds_total: float) -> ModelMembership:
    """Point estimates and bootstrap intervals of every attack (the same resamples for all)."""
    m_pos, n_pos = np.flatnonzero(truth == 1), np.flatnonzero(truth == 0)
    weights_m = _draws(rng, len(m_pos), s.bootstrap)
    weights_n = _draws(rng, len(n_pos), s.bootstrap)
    attacks: dict[str, AttackResult] = {}
    adv_draws, tpr_draws = [], []
    for name, sc in scores.items():
        members, non = sc[m_pos], sc[n_pos]
        auc, tpr = auc_and_tpr(members, non, s.low_fpr)
        boot_auc, boot_tpr = resampled(members, non, weights_m, weights_n, s.low_fpr)
        adv_draws.append(boot_auc - 0.5)
        tpr_draws.append(boot_tpr)
        auc_ci = _interval(boot_auc, s.confidence)
        attacks[name] = AttackResult(
            name, auc, auc_ci, auc - 0.5, (auc_ci[0] - 0.5, auc_ci[1] - 0.5), tpr,
            _interval(boot_tpr, s.confidence), roc_points(members, non),
            round(seconds.get(name, 0.0), 4))
    strongest = max(attacks, key=lambda n: (attacks[n].advantage, n))
    best_adv = np.max(np.vstack(adv_draws), axis=0)
    best_tpr = np.max(np.vstack(tpr_draws), axis=0)
    return ModelMembership(
        role=role, members=source, assumed=assumed, rows=rows, per_class=per_class,
        attacks=attacks, strongest=strongest,
        advantage=max(a.advantage for a in attacks.values()),
        advantage_ci=_interval(best_adv, s.confidence),
        tpr=max(a.tpr for a in attacks.values()), tpr_ci=_interval(best_tpr, s.confidence),
        skipped=skipped, draws=best_adv, seconds=round(seconds_total, 4))


def difference(candidate: ModelMembership, baseline: ModelMembership, confidence: float
               ) -> tuple[float, tuple[float, float]]:
    """Candidate advantage minus the baseline's, with the interval of the resampled
    differences (independent resamples of the two attacks)."""
    diff = candidate.advantage - baseline.advantage
    return diff, _interval(candidate.draws - baseline.draws, confidence)
