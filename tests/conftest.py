from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _no_ci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Outputs must not depend on the CI system the tests happen to run in.
    for var in ("GITHUB_STEP_SUMMARY",):
        monkeypatch.delenv(var, raising=False)
