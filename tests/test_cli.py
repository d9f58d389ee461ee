"""The certify command line: exit codes, one-line errors, outputs that are never half-written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from certify.cli import main
from certify.errors import ExitCode
from tests.projects import make_project


def certify(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "certify", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("cli"), n_reference=800, n_evaluation=600)


def test_run_certifies_and_writes_outputs(project: Path) -> None:
    done = certify("run", "--policy", str(project))
    assert done.returncode == ExitCode.OK, done.stdout[-2000:] + done.stderr[-2000:]
    out = project.parent / "certify-out"
    runs = [p for p in out.iterdir() if p.is_dir() and not p.is_symlink()]
    assert len(runs) == 1
    assert (out / "latest").resolve() == runs[0].resolve()
    report = json.loads((runs[0] / "report.json").read_text())
    assert report["verdict"]["decision"] == "CERTIFIED"
    assert report["schema_version"] == "1.1"
    assert (runs[0] / "summary.md").read_text().startswith("## ✅ CERTIFIED")
    # the command that reproduces the run is the user's, not pytest's inner one
    assert report["command"] == ["certify", "run", "--policy", str(project.resolve())]
    assert (runs[0] / "report.json").stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert not list(out.glob(".*.partial"))


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_second_run_never_overwrites_the_first(project: Path) -> None:
    out = project.parent / "certify-out"
    before = {p.name: (p / "report.json").read_bytes() for p in out.iterdir()
              if p.is_dir() and not p.is_symlink()}
    assert main(["run", "--policy", str(project), "--seed", "5", "--", "-q"]) == 0
    after = {p.name for p in out.iterdir() if p.is_dir() and not p.is_symlink()}
    assert set(before) < after
    for name, content in before.items():
        assert (out / name / "report.json").read_bytes() == content
    latest = json.loads((out / "latest" / "report.json").read_text())
    assert latest["seed"] == 5


def _no_new_outputs(project: Path, before: set[str]) -> None:
    out = project.parent / "certify-out"
    now = {p.name for p in out.iterdir()} if out.exists() else set()
    assert now == before, now - before


def _outputs(project: Path) -> set[str]:
    out = project.parent / "certify-out"
    return {p.name for p in out.iterdir()} if out.exists() else set()


@pytest.mark.parametrize(("old", "new", "message"), [
    ("seed = 1234", "seed = 1234\ncolour = 1", "unknown key 'colour'"),
    ('target = "default"', 'target = "defaulted"', "target column 'defaulted' not found"),
    ('path = "models/candidate.skops"', 'path = "models/missing.skops"',
     "candidate.path: file not found"),
    # A typo in a column the policy names is an error, never a silently unmasked column.
    ("seed = 1234", 'seed = 1234\nsensitive_columns = ["incme"]',
     "sensitive_columns: column 'incme' is in neither data file"),
    ("seed = 1234", 'seed = 1234\nprotected_attributes = ["gender"]',
     "protected_attributes: column 'gender' is in neither data file"),
    ("quality = {}", 'quality = {slices = ["region"]}',
     "suites.quality.slices: column 'region' is not in the evaluation data"),
])
def test_bad_input_is_one_line_exit_2_and_no_report(project: Path, old: str, new: str,
                                                    message: str) -> None:
    bad = project.parent / "bad.toml"
    text = project.read_text()
    assert old in text
    bad.write_text(text.replace(old, new, 1))
    before = _outputs(project)
    done = certify("run", "--policy", str(bad))
    assert done.returncode == ExitCode.USAGE, done.stdout + done.stderr
    _one_error_line(done, message)
    _no_new_outputs(project, before)


def _one_error_line(done: subprocess.CompletedProcess[str], message: str) -> None:
    lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    assert len(errors) == 1 and message in errors[0], lines[-10:]
    assert "Traceback" not in done.stderr + done.stdout


def test_model_that_cannot_score_the_data_is_one_line(project: Path) -> None:
    root = project.parent
    rows = (root / "data" / "evaluation.csv").read_text().splitlines()
    header = rows[0].split(",")
    age = header.index("age")
    broken = [rows[0]] + [",".join("unknown" if i == age else v
                                   for i, v in enumerate(r.split(","))) for r in rows[1:]]
    (root / "data" / "words.csv").write_text("\n".join(broken) + "\n")
    bad = root / "words.toml"
    bad.write_text(project.read_text().replace('evaluation = "data/evaluation.csv"',
                                               'evaluation = "data/words.csv"', 1))
    before = _outputs(project)
    done = certify("run", "--policy", str(bad))
    assert done.returncode == ExitCode.USAGE, done.stdout[-3000:] + done.stderr[-3000:]
    _one_error_line(done, "cannot score the first rows of data/words.csv")
    assert "words.toml" in done.stderr + done.stdout
    _no_new_outputs(project, before)


def test_corrupt_model_file(project: Path) -> None:
    root = project.parent
    corrupt = root / "models" / "corrupt.skops"
    corrupt.write_bytes(b"PK\x03\x04 definitely not a model")
    bad = root / "corrupt.toml"
    bad.write_text(project.read_text().replace('path = "models/candidate.skops"',
                                               'path = "models/corrupt.skops"', 1))
    before = _outputs(project)
    done = certify("run", "--policy", str(bad))
    assert done.returncode == ExitCode.USAGE
    assert "corrupt.skops is not a readable skops file" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr + done.stdout
    _no_new_outputs(project, before)


def test_empty_evaluation_data(project: Path) -> None:
    root = project.parent
    (root / "data" / "empty.csv").write_text("age,income,default\n")
    bad = root / "empty.toml"
    bad.write_text(project.read_text().replace('evaluation = "data/evaluation.csv"',
                                               'evaluation = "data/empty.csv"', 1))
    done = certify("run", "--policy", str(bad))
    assert done.returncode == ExitCode.USAGE
    assert "empty.csv has no rows" in done.stderr + done.stdout


def test_missing_policy(tmp_path: Path) -> None:
    done = certify("run", cwd=tmp_path)
    assert done.returncode == ExitCode.USAGE
    assert done.stderr.strip().count("\n") == 0
    assert "no certify.toml" in done.stderr


def test_schema_command_prints_policy_schema() -> None:
    done = certify("schema")
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    assert "candidate" in schema["properties"] and "suites" in schema["properties"]


def test_interrupted_run_leaves_nothing_that_looks_complete(project: Path) -> None:
    from certify.policy import load_policy
    from certify.session import CertifySession

    session = CertifySession(load_policy(project))
    session.setup()
    assert session.run_dir is not None
    partial = session.run_dir.path
    assert partial.name.endswith(".partial") and partial.exists()
    session.abort()
    assert not partial.exists()
    assert not (partial.parent / session.run_dir.run_id).exists()
