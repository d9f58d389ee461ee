"""The project's ordinary unit tests: they run as before, with or without --certify."""

import math


def debt_ratio(debt: float, income: float) -> float:
    return debt / income if income else math.inf


def test_debt_ratio() -> None:
    assert debt_ratio(50, 100) == 0.5


def test_debt_ratio_zero_income() -> None:
    assert debt_ratio(1, 0) == math.inf
