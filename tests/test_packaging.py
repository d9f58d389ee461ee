"""The wheel installs suites/, reports/ and plugins/ inside the certify namespace only."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # setuptools builds in ./build: a stale one from an older layout would hide a missing module
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)], capture_output=True, text=True, timeout=300)
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    assert done.returncode == 0, done.stderr
    (path,) = out.glob("pytest_certify-*.whl")
    return zipfile.ZipFile(path)


def test_layout(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    top = {n.split("/", 1)[0] for n in names}
    assert top == {"certify", next(t for t in top if t.endswith(".dist-info"))}
    for required in ("certify/py.typed", "certify/suites/quality/__init__.py",
                     "certify/plugins/pytest_certify.py", "certify/report.py",
                     "certify/schemas/report.schema.json",
                     "certify/schemas/policy.schema.json"):
        assert required in names, required
    assert not any(n.startswith(("suites/", "reports/", "plugins/", "tests/")) for n in names)
    # every module of the checkout ships (a package missing from pyproject's list would not)
    sources = {f"certify/{p.relative_to(ROOT / 'certify').as_posix()}"
               for p in (ROOT / "certify").rglob("*.py")}
    for top in ("suites", "reports", "plugins"):
        sources |= {f"certify/{top}/{p.relative_to(ROOT / top).as_posix()}"
                    for p in (ROOT / top).rglob("*.py")}
    assert sorted(sources - set(names)) == []


def test_entry_points(wheel: zipfile.ZipFile) -> None:
    ep = next(n for n in wheel.namelist() if n.endswith("entry_points.txt"))
    text = wheel.read(ep).decode()
    assert "[pytest11]\ncertify = certify.plugins.pytest_certify" in text
    assert "[console_scripts]\ncertify = certify.cli:main" in text
