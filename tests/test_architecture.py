"""The architecture of DESIGN.md, as tests: import direction (import-linter contracts in
pyproject.toml) and the size of shipped modules."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 600
#: Source folders that ship, and where they install inside the certify package.
SHIPPED = {"certify": "", "suites": "suites", "reports": "reports", "plugins": "plugins"}


def _installed_layout(dest: Path) -> Path:
    """The package as it installs (suites/, reports/, plugins/ inside certify/), copied."""
    root = dest / "certify"
    for source, inside in SHIPPED.items():
        shutil.copytree(ROOT / source, root / inside if inside else root, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def lint_imports(tree: Path, config: Path) -> subprocess.CompletedProcess[str]:
    # -S: no site hooks, so the editable install (which maps certify.suites to suites/) does not
    # hide the copy; site-packages is added back for import-linter itself. The working directory
    # is the copy: import-linter puts it on sys.path.
    code = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; "
            "from importlinter.cli import lint_imports_command; "
            "sys.argv = ['lint-imports', '--no-cache', sys.argv[3]]; lint_imports_command()")
    return subprocess.run([sys.executable, "-S", "-c", code, str(tree),
                           sysconfig.get_paths()["purelib"], str(config)],
                          cwd=tree, capture_output=True, text=True, timeout=300)


def test_import_contracts_hold(tmp_path: Path) -> None:
    done = lint_imports(_installed_layout(tmp_path), ROOT / "pyproject.toml")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Contracts: 3 kept, 0 broken." in done.stdout


@pytest.mark.parametrize(("module", "bad_import", "contract"), [
    ("certify/verdict.py", "from certify.reports import html", "app > plugins | suites | reports > core"),
    ("suites/quality/__init__.py", "from certify.suites.drift import view",
     "a suite imports no other suite"),
    ("reports/summary.py", "from certify.plugins import hooks", "app > plugins | suites | reports > core"),
])
def test_a_wrong_import_breaks_a_contract(tmp_path: Path, module: str, bad_import: str,
                                          contract: str) -> None:
    tree = _installed_layout(tmp_path)
    source, _, rest = module.partition("/")
    path = tree / "certify" / (SHIPPED[source] or "") / rest
    path.write_text(path.read_text() + f"\n\ndef _wrong() -> None:\n    {bad_import}  # noqa\n")
    done = lint_imports(tree, ROOT / "pyproject.toml")
    assert done.returncode != 0
    assert f"{contract} BROKEN" in done.stdout



def test_shipped_modules_stay_small() -> None:
    too_long = []
    for source in SHIPPED:
        for path in sorted((ROOT / source).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                too_long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not too_long, f"shipped modules over {MAX_LINES} lines: {too_long}"
