"""The demo's data and its two honest models, made from scratch, offline and deterministic."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

SEED = 7
N_REFERENCE = 3000
N_EVALUATION = 2000
FEATURES = ["age", "income", "debt_ratio", "credit_lines", "late_payments",
            "employment_years", "home_ownership", "purpose", "sex"]
TARGET = "default"


def make_credit_data(n: int, seed: int, *, shift: dict[str, Any] | None = None) -> pd.DataFrame:
    """Synthetic credit-risk rows; the label follows a known logistic rule with noise."""
    rng = np.random.default_rng(seed)
    age = rng.integers(21, 75, n)
    income = np.round(rng.lognormal(10.6, 0.45, n), 2)
    debt_ratio = np.round(np.clip(rng.beta(2, 5, n) * 1.5, 0, 1.5), 4)
    credit_lines = rng.poisson(4, n)
    late = rng.poisson(0.6, n)
    employment = np.round(np.clip(rng.gamma(2.0, 3.0, n), 0, 45), 1)
    home = rng.choice(["rent", "own", "mortgage"], n, p=[0.45, 0.2, 0.35])
    purpose = rng.choice(["car", "home", "education", "business", "other"], n,
                         p=[0.3, 0.25, 0.15, 0.15, 0.15])
    sex = rng.choice(["female", "male"], n)
    if shift:
        if "income_factor" in shift:
            income = np.round(income * shift["income_factor"], 2)
        if "new_purpose" in shift:
            purpose = np.where(rng.random(n) < 0.35, shift["new_purpose"], purpose)
    # Non-linear on purpose (thresholds, interactions), so that the boosted candidate
    # has a real edge over the linear baseline.
    logit = (-2.0 + 4.0 * (debt_ratio > 0.45) + 1.2 * late * (home == "rent")
             - 1.5 * (np.log(income) - 10.6) - 0.08 * employment
             + 1.5 * ((age < 30) | (age > 65)) + 0.8 * (purpose == "business")
             + 1.2 * np.sin(credit_lines))
    p = 1 / (1 + np.exp(-logit))
    y = (rng.random(n) < p).astype(int)
    if shift and "label_flip" in shift:
        flip = rng.random(n) < shift["label_flip"]
        y = np.where(flip, 1, y)
    return pd.DataFrame({
        "age": age, "income": income, "debt_ratio": debt_ratio, "credit_lines": credit_lines,
        "late_payments": late, "employment_years": employment, "home_ownership": home,
        "purpose": purpose, "sex": sex, TARGET: y,
    })


def preprocessor() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "employment_years"]
    return ColumnTransformer([
        ("num", StandardScaler(), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["home_ownership", "purpose"]),
    ])


def baseline_model() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    return Pipeline([("prep", preprocessor()), ("clf", LogisticRegression(max_iter=500))])


def candidate_model() -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    return Pipeline([("prep", preprocessor()),
                     ("clf", HistGradientBoostingClassifier(max_iter=150, learning_rate=0.08,
                                                            max_leaf_nodes=15, random_state=SEED))])
