"""The honest zoo: candidates written the way users write them, each with a baseline of its kind.

Every member must come out CERTIFIED under a default policy (every suite that applies to it on,
with its default settings) and under a stricter one (monotonic constraints and categorical
overrides declared, and models trained to honour them). A good model falsely rejected is the
worst defect this product can have; the zoo is how we know the defaults do not do it.

Members (``ZOO``): a wrapper that selects its columns by name, a scikit-learn Pipeline with
ColumnTransformer and OneHotEncoder, string class labels, a 10 % minority class, a regression
model, a model served over HTTP by a plain server of its own, and a torch module (with the
torch extra). The data is the demo's credit data (certify.demo), plus a numeric-coded
categorical column ``region`` for the strict policy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from certify.demo import FEATURES, TARGET, make_credit_data, render_policy
from tests.projects import save_model

NUMERIC = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "employment_years"]
CATEGORICAL = ["home_ownership", "purpose"]
#: The strict policy declares these: risk rises with late payments and with the debt ratio.
MONOTONIC = {"late_payments": "increasing", "debt_ratio": "increasing"}
N_REFERENCE, N_EVALUATION = 3000, 2000


def credit(n: int, seed: int, *, region: bool = False) -> pd.DataFrame:
    frame = make_credit_data(n, seed)
    if region:  # a categorical column coded as numbers, as exports often have it
        frame.insert(len(FEATURES), "region", np.random.default_rng(seed + 7).integers(1, 6, n))
    return frame


def features(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c != TARGET]


def preprocessor(columns: list[str]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in NUMERIC if c in columns]
    categorical = [c for c in [*CATEGORICAL, "region"] if c in columns]
    return ColumnTransformer([
        ("num", StandardScaler(), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
    ])


def boosted(columns: list[str], *, monotonic: bool = False, regression: bool = False) -> Any:
    """A histogram gradient-boosting pipeline; with ``monotonic``, constrained as MONOTONIC says."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline

    prep = preprocessor(columns)
    numeric = [c for c in NUMERIC if c in columns]
    kwargs: dict[str, Any] = {"max_iter": 120, "learning_rate": 0.08, "max_leaf_nodes": 15,
                              "random_state": 7}
    if monotonic:
        # by the ColumnTransformer's output names; the one-hot columns stay unconstrained
        prep.set_output(transform="pandas")
        kwargs["monotonic_cst"] = {f"num__{column}": 1 if direction == "increasing" else -1
                                   for column, direction in MONOTONIC.items() if column in numeric}
    model = HistGradientBoostingRegressor(**kwargs) if regression \
        else HistGradientBoostingClassifier(**kwargs)
    return Pipeline([("prep", prep), ("model", model)])


def linear(columns: list[str], *, regression: bool = False) -> Any:
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline

    model = Ridge(alpha=1.0) if regression else LogisticRegression(max_iter=1000)
    return Pipeline([("prep", preprocessor(columns)), ("model", model)])


def forest(columns: list[str]) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    return Pipeline([("prep", preprocessor(columns)),
                     ("model", RandomForestClassifier(n_estimators=60, max_depth=8,
                                                      min_samples_leaf=5, random_state=7))])


class ByName(ClassifierMixin, BaseEstimator):
    """The wrapper users write: it picks its feature columns by name (``X[self.features]``), so a
    missing column is pandas' KeyError naming it, and it declares no ``feature_names_in_``."""

    def __init__(self, model: Any = None, features: list[str] | None = None) -> None:
        self.model = model
        self.features = features

    def fit(self, X: pd.DataFrame, y: Any) -> ByName:  # noqa: N803
        self.model.fit(X[self.features], y)
        self.classes_ = self.model.classes_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return np.asarray(self.model.predict_proba(X[self.features]))

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return np.asarray(self.model.predict(X[self.features]))


@dataclasses.dataclass(frozen=True)
class Member:
    name: str
    task: str
    #: (reference, evaluation) for a seed; strict adds the ``region`` column.
    data: Callable[[int, bool], tuple[pd.DataFrame, pd.DataFrame]]
    #: (candidate, baseline) fitted on the reference data.
    models: Callable[[pd.DataFrame, bool], tuple[Any, Any]]
    served: bool = False  # the candidate is served over HTTP by a server of its own
    needs: str | None = None  # an optional package the member needs ("torch")


def _credit_data(seed: int, strict: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    return credit(N_REFERENCE, seed, region=strict), credit(N_EVALUATION, seed + 100, region=strict)


def _imbalanced(seed: int, strict: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    def thin(frame: pd.DataFrame, s: int) -> pd.DataFrame:
        rng = np.random.default_rng(s)
        positives = frame.index[frame[TARGET] == 1]
        negatives = frame.index[frame[TARGET] == 0]
        keep = rng.choice(positives, size=min(len(positives), len(negatives) // 9), replace=False)
        return frame.loc[sorted([*negatives, *keep])].reset_index(drop=True)

    ref, ev = credit(2 * N_REFERENCE, seed, region=strict), credit(2 * N_EVALUATION, seed + 100,
                                                                  region=strict)
    return thin(ref, seed), thin(ev, seed + 1)


def _string_labels(seed: int, strict: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    ref, ev = _credit_data(seed, strict)
    # "defaulted" sorts last: the positive class, as the monotonic constraints of the strict
    # models assume (scikit-learn constrains the probability of ``classes_[1]``)
    for frame in (ref, ev):
        frame[TARGET] = np.where(frame[TARGET] == 1, "defaulted", "current")
    return ref, ev


def _regression(seed: int, strict: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    ref, ev = _credit_data(seed, strict)
    for i, frame in enumerate((ref, ev)):
        rng = np.random.default_rng(seed + 11 + i)
        # not linear (an age cycle, late payments that weigh more past a debt ratio): the
        # boosted candidate is genuinely better than its linear baseline, as a candidate is
        frame[TARGET] = np.round(2000 * frame["debt_ratio"] + 350 * frame["late_payments"]
                                 + 0.01 * frame["income"] + 900 * np.sin(frame["age"] / 6.0)
                                 + 600 * (frame["debt_ratio"] > 0.45) * frame["late_payments"]
                                 + rng.normal(0, 150, len(frame)), 2)
    return ref, ev


def _pair(make_candidate: Callable[[list[str], bool], Any],
          make_baseline: Callable[[list[str]], Any]) -> Callable[[pd.DataFrame, bool], tuple[Any, Any]]:
    def fit(ref: pd.DataFrame, strict: bool) -> tuple[Any, Any]:
        from threadpoolctl import threadpool_limits

        columns = features(ref)
        with threadpool_limits(1):
            candidate = make_candidate(columns, strict).fit(ref[columns], ref[TARGET])
            baseline = make_baseline(columns).fit(ref[columns], ref[TARGET])
        return candidate, baseline

    return fit


def _regression_pair(ref: pd.DataFrame, strict: bool) -> tuple[Any, Any]:
    columns = features(ref)
    return (boosted(columns, monotonic=strict, regression=True).fit(ref[columns], ref[TARGET]),
            linear(columns, regression=True).fit(ref[columns], ref[TARGET]))


@dataclasses.dataclass
class TorchNet:
    """A PyTorch module over the numeric columns (``columns``), as a user ships it: exported with
    ``torch.export`` to ``.pt2`` (:meth:`save`), classes in output order."""

    module: Any
    columns: list[str]
    classes: list[Any]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        import torch

        with torch.no_grad():
            logits = self.module(torch.from_numpy(X[self.columns].to_numpy(np.float32)))
        return np.asarray(torch.softmax(logits, dim=1).numpy(), dtype=float)

    def save(self, path: Path) -> dict[str, Any]:
        """Write the exported program; the policy's model entry for it."""
        import torch

        example = torch.zeros((4, len(self.columns)), dtype=torch.float32)
        program = torch.export.export(self.module, (example,),
                                      dynamic_shapes=({0: torch.export.Dim.DYNAMIC},))
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.export.save(program, str(path))
        return {"path": f"models/{path.name}", "classes": self.classes,
                "options": {"features": self.columns}}


def _torch_net(ref: pd.DataFrame, seed: int, *, hidden: int, monotonic: bool) -> TorchNet:
    """Standardisation (reference mean and deviation) and mean imputation of a missing value
    inside the module; an MLP (``hidden`` units) or a logistic layer (0). With ``monotonic`` the
    MONOTONIC columns bypass the MLP and enter the positive class's logit with positive weights
    only, the usual way a network is made monotone in a few inputs."""
    import torch

    columns = [c for c in features(ref) if c in NUMERIC or c == "region"]
    values = ref[columns].to_numpy(np.float32)
    mean = np.nanmean(values, axis=0)
    std = np.nanstd(values, axis=0) + 1e-6
    mono = [columns.index(c) for c in MONOTONIC if monotonic and c in columns]
    rest = [i for i in range(len(columns)) if i not in mono]

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.tensor(mean))
            self.register_buffer("std", torch.tensor(std))
            self.register_buffer("rest", torch.tensor(rest, dtype=torch.long))
            self.register_buffer("mono", torch.tensor(mono, dtype=torch.long))
            self.body = (torch.nn.Sequential(torch.nn.Linear(len(rest), hidden), torch.nn.ReLU(),
                                             torch.nn.Linear(hidden, 2)) if hidden
                         else torch.nn.Linear(len(rest), 2))
            self.mono_w = torch.nn.Parameter(torch.zeros(len(mono)))

        def forward(self, x: Any) -> Any:
            z = torch.nan_to_num((x - self.mean) / self.std, nan=0.0, posinf=1e6, neginf=-1e6)
            out = self.body(z.index_select(1, self.rest))
            push = (z.index_select(1, self.mono) * torch.nn.functional.softplus(self.mono_w)).sum(1)
            return out + torch.stack([-0.5 * push, 0.5 * push], dim=1)

    torch.manual_seed(seed)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=0.01, weight_decay=1e-4)
    xs = torch.from_numpy(values)
    ys = torch.from_numpy(ref[TARGET].to_numpy().astype(np.int64))
    for _ in range(250):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xs), ys).backward()
        opt.step()
    net.eval()
    return TorchNet(net, columns, [0, 1])


def _torch_pair(ref: pd.DataFrame, strict: bool) -> tuple[Any, Any]:
    seed = int(ref["age"].sum()) % 10_000  # the data's seed is not passed: any fixed function
    return (_torch_net(ref, seed, hidden=32, monotonic=strict),
            _torch_net(ref, seed, hidden=0, monotonic=strict))


ZOO: dict[str, Member] = {m.name: m for m in [
    Member("wrapper-by-name", "classification", _credit_data,
           _pair(lambda cols, strict: ByName(boosted(cols, monotonic=strict), cols),
                 lambda cols: ByName(linear(cols), cols))),
    Member("pipeline-onehot-forest", "classification", _credit_data,
           _pair(lambda cols, strict: boosted(cols, monotonic=True) if strict else forest(cols),
                 lambda cols: linear(cols))),
    Member("string-labels", "classification", _string_labels,
           _pair(lambda cols, strict: boosted(cols, monotonic=strict), lambda cols: linear(cols))),
    Member("imbalanced-10pct", "classification", _imbalanced,
           _pair(lambda cols, strict: boosted(cols, monotonic=strict), lambda cols: linear(cols))),
    Member("regression", "regression", _regression, _regression_pair),
    Member("http-served", "classification", _credit_data,
           _pair(lambda cols, strict: boosted(cols, monotonic=strict), lambda cols: linear(cols)),
           served=True),
    Member("torch-mlp", "classification", _credit_data, _torch_pair, needs="torch"),
]}


def default_suites(task: str, slo_ms: dict[str, float]) -> dict[str, Any]:
    """Every suite that applies, with its default settings; load SLOs from ``slo_ms``."""
    suites: dict[str, Any] = {"quality": {}, "drift": {}, "validation": {}, "edge_cases": {},
                              "load": {"thresholds": {f"{k}_ms": {"fail": v}
                                                      for k, v in slo_ms.items()}},
                              "explain": {}, "privacy": {}}
    if task == "classification":
        suites["adversarial"] = {}
    return suites


def strict_extra(strict: bool) -> dict[str, Any]:
    if not strict:
        return {}
    return {"data_columns": {"region": {"kind": "categorical"},
                             "home_ownership": {"kind": "categorical"},
                             "purpose": {"kind": "categorical"}},
            "monotonic": dict(MONOTONIC)}


def measured_slo(model: Any, frame: pd.DataFrame) -> dict[str, float]:
    """SLOs with at least 2x headroom over the model's own one-row latency, and never tighter than
    the demo's (250 ms p50, 1 s p95): the load suite's figures include the HTTP hop and queueing
    behind the generators that share the machine's two cores."""
    import time

    row = frame.head(1)
    times = []
    for _ in range(30):
        start = time.perf_counter()
        model.predict_proba(row) if hasattr(model, "predict_proba") else model.predict(row)
        times.append((time.perf_counter() - start) * 1000)
    p95 = float(np.percentile(times, 95))
    return {"p50": max(2 * float(np.median(times)), 250.0), "p95": max(2 * p95, 1000.0)}


@contextlib.contextmanager
def project(member: Member, root: Path, seed: int, *, strict: bool = False) -> Iterator[Path]:
    """Write the member's project (data, models, policy) into ``root``; yields the policy path.
    A served member's server runs for the duration of the block."""
    ref, ev = member.data(seed, strict)
    candidate, baseline = member.models(ref, strict)
    columns = features(ref)
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    ref.to_csv(root / "data" / "reference.csv", index=False)
    ev.to_csv(root / "data" / "evaluation.csv", index=False)
    slo = measured_slo(candidate, ev[columns])
    suites = default_suites(member.task, slo)
    extra = strict_extra(strict)
    if extra.get("monotonic"):
        suites["edge_cases"] = {"monotonic": extra["monotonic"]}
    policy: dict[str, Any] = {
        "seed": seed, "task": member.task, "sensitive_columns": ["income"],
        "protected_attributes": ["sex"],
        "baseline": (baseline.save(root / "models" / "baseline.pt2")
                     if isinstance(baseline, TorchNet) else
                     {"path": "models/baseline.skops",
                      "trusted_types": save_model(baseline, root / "models" / "baseline.skops")}),
        "data": {"reference": "data/reference.csv", "evaluation": "data/evaluation.csv",
                 "target": TARGET, **({"columns": extra["data_columns"]} if strict else {})},
        "suites": suites,
    }
    with contextlib.ExitStack() as stack:
        if member.served:
            from tests.http_model_server import serving

            server = stack.enter_context(
                serving(candidate, columns, [c for c in NUMERIC if c in columns]))
            classes = [c.item() if hasattr(c, "item") else c for c in candidate.classes_]
            policy["candidate"] = {"url": server.url, "classes": classes,
                                   "options": {"features": columns, "task": member.task}}
        elif isinstance(candidate, TorchNet):
            policy["candidate"] = candidate.save(root / "models" / "candidate.pt2")
        else:
            policy["candidate"] = {"path": "models/candidate.skops", "trusted_types": save_model(
                candidate, root / "models" / "candidate.skops")}
        path = root / "certify.toml"
        path.write_text(render_policy(policy))
        yield path


def outcome(policy: Path, seed: int) -> tuple[str, dict[str, dict[str, Any]]]:
    """Certify ``policy`` in this process; the verdict and the evidence by check id."""
    from certify.policy import load_policy
    from certify.session import CertifySession

    session = CertifySession(load_policy(policy), seed=seed)
    session.setup()
    try:
        session.run_all()
    except BaseException:
        session.abort()
        raise
    result = session.finish()
    report = json.loads(result.report_path.read_text())
    return report["verdict"]["decision"], {e["id"]: e for e in report["evidence"]}
