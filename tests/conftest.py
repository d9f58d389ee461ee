from __future__ import annotations

import os

import pytest

# Two cores shared by the model, Ray workers and load generators: OpenMP threads in
# scikit-learn oversubscribe them badly (a boosted-trees fit took 8 s instead of 0.2 s).
# Results are identical with one thread; subprocesses inherit the setting.
os.environ.setdefault("OMP_NUM_THREADS", "1")

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _no_ci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Outputs must not depend on the CI system the tests happen to run in.
    for var in ("GITHUB_STEP_SUMMARY",):
        monkeypatch.delenv(var, raising=False)


#: The longest files (about 5, 3 and 3 minutes on 2 shared cores), run first: with
#: ``--dist loadfile`` each goes to one process, and started last one would run alone at the end.
LONGEST_FIRST = ("test_zoo.py", "test_demo.py", "test_deploy_serve.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each file keeps its own order
