"""explain: why the candidate decides differently from the model in production (SHAP).

Attributions of the candidate and the baseline on the same seeded sample of evaluation rows,
stratified by the target (``sample_size``), against the same background of reference rows
(``background_size``): interventional SHAP values, "feature unknown" meaning "drawn from the
background".

One output space
    Both models are explained in the same output: the probability of the positive class
    (``positive_label``, default the candidate's last class) for a classifier, the predicted value
    for a regressor (a classifier without probabilities: the indicator of predicting the positive
    class). Additivity is checked in that space, against the model's own output through the
    certify ``Model`` interface (the model the run certifies, in its worker process).

Explainer choice (recorded per model in the evidence and the report)
    * **tree**: a tree ensemble (scikit-learn forests, boosting, histogram boosting; XGBoost,
      LightGBM, CatBoost), bare or as the last step of a scikit-learn ``Pipeline``: SHAP's
      ``TreeExplainer``, exact and interventional, with ``model_output="probability"`` (or raw
      output for regression) on the columns the pipeline's preprocessing makes;
    * **linear**: a linear last step (``coef_``, ``intercept_``) whose output is verified on the
      rows to be the identity (regression) or the logistic function (binary classifier) of its
      margin: exact values from its terms. For regression these are SHAP's
      ``LinearExplainer`` values; for a probability (not linear in the terms) every coalition
      of the columns in use is evaluated (up to ``exact_max_features``, beyond by seeded
      antithetic permutations), since the linear explainer only explains the log-odds;
    * **permutation** (default) or **kernel** (``agnostic``): SHAP's model-agnostic explainers
      on the original columns for everything else: HTTP endpoints, torch models, wrappers,
      preprocessing that mixes columns. Budgets: ``evals_per_row`` coalitions per row, each
      scored on every background row; ``max_queries`` rows scored per model; ``max_seconds``.
      ``explainer = "agnostic"`` forces it for both models.

Original columns
    For a Pipeline the parts are summed back to the column they came from: the suite checks on
    the rows that each column the preprocessing makes depends on one original column only
    (scaled features, one-hot groups, imputed values: each original column is rolled in turn and
    the made columns that move are its own); preprocessing that mixes columns (PCA, polynomial
    features, row normalisation) is explained model-agnostically on the original columns
    instead. A column the preprocessing drops gets exactly zero.

Checks
    ``rank_agreement`` (Kendall's tau-b of the global rankings by mean |SHAP|, or the top-k
    overlap; warns only by default), ``attribution_shift[<feature>]`` (a column's share of the
    total attribution, candidate minus baseline; warns only by default), ``protected_use[<attr>]``
    (the share of the candidate's attribution on a policy ``protected_attributes`` column, judged
    on its bootstrap interval; fails by default when the whole interval is above 5%),
    ``additivity`` (values plus expected value vs the model's own output) and, when
    ``stability_noise`` is set, ``stability``. Without a baseline only ``protected_use``,
    ``additivity`` and ``stability`` are planned. Rows left unexplained (budget, time, a failing
    explainer) error every check.

Scale-out and determinism
    The sample is cut into fixed shards of ``shard_size`` rows; each shard of each model is one
    Ray task (the model shipped to the workers, or reloaded there from its policy entry when it
    does not pickle: an HTTP client) or runs in this process. ``executor = "ray"`` sends every
    model's shards to Ray; ``"auto"`` (default) sends the model-agnostic explainers' shards,
    the expensive part, when Ray already runs here or ``RAY_ADDRESS`` is set, and keeps the exact
    explainers in this process (their work is shorter than Ray's task start-up; there, all rows
    are one shard); ``"inprocess"`` keeps everything here. The exact explainers are
    deterministic; the model-agnostic ones draw from numpy's global generator, which is seeded
    for every row from (policy seed, row position): the numbers do not depend on the executor,
    the shard size or the number of workers.

``report_data`` keys
    ``output``, ``output_kind``, ``sample_size``, ``background_rows``, ``seed``, ``confidence``,
    ``features`` ([{name, candidate: {importance, share, share_ci}, baseline: {...}, shift,
    shift_ci, shifted, protected}]), ``models`` ({role: {explainer, library, estimator, reason,
    rows, explained, queries, elapsed_s, additivity, stability, errors}}), ``rank``,
    ``rank_metric``, ``protected``, ``disagreeing`` (rows whose explanations differ most: the
    evaluation row, its values with sensitive ones masked, each model's output and largest
    contributions), ``executor``, ``workers``, ``shards``, ``stability_noise``, ``notes``,
    ``levels``. Artifact ``artifacts/explain/attributions.json``: per model, the values per
    explained evaluation row (no feature values).

Modules
    :mod:`.settings`, :mod:`.sample` (sample, background, output space, coding of mixed-type
    rows), :mod:`.plan` (explainer choice, column groups), :mod:`.shard` (one shard's
    explanation), :mod:`.engine`, :mod:`.result` (typed result, figures, ``report_data``),
    :mod:`.checks`, :mod:`.view`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from certify.suite import CheckSpec, Suite, SuiteContext, SuiteRecord
from certify.suites.explain import checks, engine, result, view
from certify.suites.explain.result import ExplainResult
from certify.suites.explain.sample import class_index
from certify.suites.explain.settings import ExplainSettings
from certify.view import Panel


class ExplainSuite(Suite[ExplainSettings, ExplainResult]):
    name = "explain"
    settings_model = ExplainSettings
    description = ("SHAP attributions of candidate vs baseline: ranking agreement, attribution "
                   "shift, protected-attribute use, additivity.")

    def checks(self, ctx: SuiteContext[ExplainSettings]) -> list[CheckSpec[ExplainResult]]:
        s = ctx.settings
        if ctx.data.schema.task == "classification" and s.positive_label is not None:
            for model in engine.models_of(ctx).values():
                if model.classes is not None:
                    class_index(model.classes, s.positive_label)  # a ConfigError naming it
        specs: list[CheckSpec[ExplainResult]] = []
        if ctx.baseline is not None:
            specs.append(self.check(
                "rank_agreement", partial(checks.rank_agreement, settings=s),
                description=f"agreement of the global feature rankings ({s.rank_metric})"))
            specs += [self.check("attribution_shift",
                                 partial(checks.attribution_shift, settings=s, feature=f),
                                 param=f, description=f"{f}'s share of the total attribution, "
                                                      "candidate vs baseline")
                      for f in ctx.data.schema.features]
        specs += [self.check("protected_use", partial(checks.protected_use, settings=s, attr=a),
                             param=a, description=f"share of the candidate's attribution on the "
                                                  f"protected attribute {a}")
                  for a in ctx.policy.protected_attributes]
        specs.append(self.check("additivity", partial(checks.additivity, settings=s),
                                description="SHAP values plus the expected value reproduce the "
                                            "model's output"))
        if s.stability_noise is not None:
            specs.append(self.check("stability", partial(checks.stability, settings=s),
                                    description="attributions under small declared noise"))
        return specs

    def run(self, ctx: SuiteContext[ExplainSettings]) -> ExplainResult:
        out = engine.run(ctx)
        engine.write_artifacts(ctx, out)
        return out

    def report_data(self, ctx: SuiteContext[ExplainSettings],
                    result_: ExplainResult) -> dict[str, Any]:
        return result.report_data(result_, ctx.settings)

    def panels(self, record: SuiteRecord[ExplainSettings]) -> list[Panel]:
        return view.panels(record)


__all__ = ["ExplainResult", "ExplainSettings", "ExplainSuite"]
