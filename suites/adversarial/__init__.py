"""adversarial: how easily small, deliberate input changes push the candidate's decisions over.

Built on adversarial-robustness-toolbox (ART). The candidate and the baseline are attacked
on the same seeded sample of evaluation rows, under the same threat model, and compared.

Threat model (``[suites.adversarial]``)
    * ``epsilon`` is in units of each feature's standard deviation on the reference data:
      the attack works on standardised features ``z = (x - mean) / std`` and every
      perturbation is mapped back to raw units. ``norm`` is ``"inf"`` (each feature may move
      by ``epsilon`` standard deviations) or ``"2"``.
    * Only numeric feature columns are perturbed (``features``, default: all of them) minus
      the ``immutable`` ones; categorical and boolean columns keep the row's values (naming
      one in ``features`` is a configuration error). Constant columns are left alone.
    * Adversarial rows stay plausible: values are clipped to the schema's ``min``/``max``
      (widened to the row's own value when the row already lies outside), integer columns
      move by whole units toward the original value (so rounding never grows a
      perturbation), missing values stay missing. Moves below 1e-6 standard deviations
      (float32 noise of the attack) count as no move.

Attack choice (``attack``, default ``"auto"``)
    * White-box ``pgd`` (or ``fgsm``) where ART can take gradients: a scikit-learn
      ``LogisticRegression``, ``SVC`` or ``LinearSVC``, bare or as the last step of a
      ``Pipeline`` whose preprocessing is verified to be affine in the attacked features
      (``StandardScaler``, one-hot encoding of the untouched categoricals, ...), and a
      ``torch.nn.Module`` estimator taking the numeric features in schema order (ART's
      ``PyTorchClassifier``; the ``torch`` adapter, with the ``torch`` extra). The gradient is ART's
      own (``ScikitlearnLogisticRegression.loss_gradient`` etc.) in the model's transformed
      space, chained with the preprocessing's Jacobian, which is exact for an affine map.
    * Black-box ``hopskipjump`` (or ``boundary``, L2 only) for any other model: tree
      ensembles, HTTP endpoints. These are minimal-perturbation attacks: each row's smallest
      adversarial perturbation found gives robust accuracy at every epsilon at once. The
      initial adversarial point is the nearest of random corners at the grid's radii and
      reference rows (attacked features only) that the model classifies differently, else a
      seeded uniform draw, so that ART's unseeded initialisation is never used. HopSkipJump
      runs in lock-step over the rows of a shard (:mod:`.lockstep`, ART 1.20's algorithm with
      per-row generators): every binary-search step, gradient estimate or step-size trial of
      all rows is one model call, instead of ART's one point per call, row after row.
    * The baseline is attacked "the same way" (``baseline_attack = "same"``): with the
      candidate's attack where the baseline supports it, else with its own ``auto`` choice
      (the evidence says so).
    * Speed: when a scikit-learn pipeline's preprocessing is verified affine in the attacked
      features (and ``fast_path`` is on), attack queries go to the final estimator on the
      transformed array instead of rebuilding a DataFrame per query. Every reported number
      is still measured on the real model: clean and adversarial rows are scored through the
      certify ``Model`` interface, and disagreements are counted (``fast_path_mismatches``).

Scale-out and determinism
    The sample is cut into fixed shards of ``shard_size`` rows; each shard of each model is
    one Ray task (``executor = "ray"``: a local Ray on 127.0.0.1, or the cluster named by
    ``RAY_ADDRESS``), at most ``workers`` at a time; ``"inprocess"`` runs the same shard
    function in this process, all shards of a model as one bundle (fewer, larger model calls);
    ``"auto"`` uses Ray only when it is already running here or ``RAY_ADDRESS`` is set. Every
    row's attack is seeded from (policy seed, row position) and depends on no other row (ART
    draws from numpy's global generator, seeded per row; the lock-step attack from one
    generator per row): the same seed gives the same numbers whatever the number of workers,
    the shard size or the executor.

Budgets and probes
    ``max_queries`` bounds the model queries (rows scored) per attacked row, ``max_seconds``
    the wall time of both attacks together (one deadline, checked between model calls; a
    lock-step attack whose first iterations project it past the deadline stops there).
    Hitting either keeps what completed (metrics are computed over completed rows and
    recorded) and errors the attack's checks with the reason (verdict INCOMPLETE), never
    passes them. Before attacking, each model is probed (:mod:`.probe`): one that answers the
    same rows differently on two calls (noisy scores), or, for a black-box attack that
    queries it directly, whose single call on one row takes longer than
    ``max_call_seconds``, is not attacked and its attack checks error with that reason; when
    it is the candidate, the suite stops there (the baseline is not attacked either).

Checks (each an evidence record): ``clean_accuracy``, ``robust_accuracy`` (at ``epsilon``,
with its Wilson 95% interval over the completed rows), ``attack_success_rate`` (share of
correctly classified rows flipped within ``epsilon``), ``min_perturbation`` (black-box
candidate attack: distribution of the minimal perturbation), ``regression`` (with a baseline:
candidate robust accuracy minus baseline's must be at least ``-margin``). Thresholds:
``thresholds.<metric> = {fail = ..., warn = ...}``, merged over the default
``attack_success_rate = {fail = 0.5, warn = 0.3}``. A check is passed, warned or failed only
where a threshold (or ``regression``'s baseline comparison) judged it; without a threshold it
records its figure as ``info`` (measured, not judged), except ``robust_accuracy`` with neither
threshold nor baseline, which errors (nothing to certify against).

Artifacts (``artifacts/adversarial/``): ``examples.json`` (a few adversarial rows per model,
original and adversarial values and predictions; each changed column with its change, its
size in standard deviations and the data's precision, a sensitive one with pseudonyms, the
change in standard deviations and its reference decile band instead of values) and
``results.json`` (per model, columnar lists in sample order: evaluation ``row`` index,
``status`` (ok | misclassified | queries | time | halted | not_attacked), ``true_label``,
``clean_prediction``, ``adversarial_prediction``, ``min_perturbation``, ``queries``; no
feature values).

``report_data`` keys
    ``epsilon``, ``norm``, ``sample_size``, ``seed``, ``features`` (perturbed columns),
    ``attacks`` ({role: {attack, kind ("white-box"|"black-box"), fast_path, reason,
    fast_path_mismatches}}),
    ``notes`` (e.g. columns left alone because they are constant),
    ``curve`` ({``epsilons``: [...], ``candidate``: [robust accuracy...], ``baseline``: [...]
    or null, ``candidate_ci``/``baseline_ci``: [[lo, hi]...] (Wilson 95%), ``rows``: {role:
    completed rows}, ``interval``: how the intervals are made}), ``metrics`` ({role:
    {clean_accuracy, robust_accuracy, robust_accuracy_ci, attack_success_rate, rows,
    completed, attacked}}), ``perturbation`` ({role: {``values``: sorted finite minimal
    perturbations, ``not_found``: rows with none found, ``quantiles``: {p10, p25, p50, p75,
    p90}, ``rows``: correctly classified completed rows} for black-box attacks, else null}),
    ``examples`` (candidate example rows as in examples.json), ``budget`` ({role: {status,
    reason, queries_total, elapsed_s (worker time)}}), ``timing`` ({wall_s: the suite's run,
    max_seconds: the budget, worker_s: {role: time inside attack tasks, summed over shards},
    executor, workers}).

Modules
    :mod:`.settings` (the policy section), :mod:`.plan` (threat model, sample, attack choice;
    :mod:`.space` the attack coordinates, :mod:`.affine` what a model supports),
    :mod:`.engine` (probes in :mod:`.probe`, then shards in process or on Ray; one shard's
    attack in :mod:`.shard`, over :mod:`.querier`, :mod:`.lockstep` and ART in
    :mod:`.estimators`), :mod:`.results` (the typed result and
    ``report_data``), :mod:`.artifacts`, :mod:`.checks`, :mod:`.view` (the panels).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from certify.evidence import Outcome
from certify.raycluster import prestart
from certify.suite import CheckSpec, Suite, SuiteContext, SuiteRecord
from certify.suites.adversarial import checks, engine, plan, results, view
from certify.suites.adversarial.plan import Prepared
from certify.suites.adversarial.results import AdversarialResult
from certify.suites.adversarial.settings import AdversarialSettings
from certify.view import Panel


class AdversarialSuite(Suite[AdversarialSettings, AdversarialResult]):
    name = "adversarial"
    settings_model = AdversarialSettings
    description = "Robust accuracy under ART attacks (white-box PGD or black-box HopSkipJump), vs the baseline."

    def __init__(self) -> None:
        self._prepared: dict[int, Prepared] = {}

    def prepare(self, ctx: SuiteContext[AdversarialSettings]) -> Prepared:
        """The plan of this context (threat model, sample, attacks), made once."""
        key = id(ctx)
        if key not in self._prepared:
            self._prepared[key] = plan.prepare(ctx)
        return self._prepared[key]

    def checks(self, ctx: SuiteContext[AdversarialSettings]) -> list[CheckSpec[AdversarialResult]]:
        s = ctx.settings
        prep = self.prepare(ctx)

        def judge(fn: Callable[[AdversarialResult, AdversarialSettings], Outcome],
                  ) -> Callable[[AdversarialResult], Outcome]:
            return lambda result: fn(result, s)

        specs = [
            self.check("clean_accuracy", judge(checks.clean_accuracy),
                       description="candidate accuracy on the attacked sample before any attack"),
            self.check("robust_accuracy", judge(checks.robust_accuracy),
                       description=f"candidate accuracy under attack within epsilon={s.epsilon} "
                                   f"(L{s.norm}, feature standard deviations)"),
            self.check("attack_success_rate", judge(checks.attack_success_rate),
                       description="share of correctly classified rows the attack flips within epsilon"),
        ]
        if prep.plans["candidate"].kind == "black-box":
            specs.append(self.check("min_perturbation", judge(checks.min_perturbation),
                                    description="distribution of the smallest adversarial perturbation "
                                                "found per row (black-box attack)"))
        if ctx.baseline is not None:
            specs.append(self.check("regression", judge(checks.regression),
                                    description=f"candidate robust accuracy vs the baseline's, same rows "
                                                f"and threat model (margin {s.margin})"))
        return specs

    def warm_up(self, ctx: SuiteContext[AdversarialSettings]) -> bool:
        """With ``executor = "ray"`` the local Ray starts in the background now (see
        :func:`certify.raycluster.prestart`), overlapping with the suites before this one."""
        if ctx.settings.executor == "ray":
            prestart()
            return True
        return False

    def run(self, ctx: SuiteContext[AdversarialSettings]) -> AdversarialResult:
        return engine.run(ctx, self.prepare(ctx))

    def report_data(self, ctx: SuiteContext[AdversarialSettings],
                    result: AdversarialResult) -> dict[str, Any]:
        return results.report_data(result)

    def panels(self, record: SuiteRecord[AdversarialSettings]) -> list[Panel]:
        return view.panels(record)


__all__ = ["AdversarialResult", "AdversarialSettings", "AdversarialSuite"]
