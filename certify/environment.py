"""Environment fingerprint and provenance recorded in every report and certificate."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

#: Distributions whose versions decide what a certification means.
TRACKED = (
    "pytest-certify", "pytest", "numpy", "pandas", "scipy", "scikit-learn", "skops", "joblib",
    "hypothesis", "deepchecks", "alibi-detect", "adversarial-robustness-toolbox", "ray",
    "locust", "hdrhistogram", "uvicorn", "starlette", "cryptography", "pydantic", "torch",
)


def package_versions() -> dict[str, str]:
    out = {}
    for name in TRACKED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def fingerprint() -> dict[str, Any]:
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "packages": package_versions(),
    }
    canonical = json.dumps(env, sort_keys=True).encode()
    env["digest"] = "sha256:" + hashlib.sha256(canonical).hexdigest()
    return env


def git_info(path: Path) -> dict[str, Any]:
    """Commit and dirtiness of the git work tree holding ``path`` (empty when not in git)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status), "branch": git("rev-parse", "--abbrev-ref", "HEAD")}


CI_SYSTEMS = (
    ("github-actions", "GITHUB_ACTIONS", ("GITHUB_RUN_ID",), "GITHUB_SERVER_URL"),
    ("gitlab-ci", "GITLAB_CI", ("CI_PIPELINE_ID", "CI_JOB_ID"), "CI_SERVER_URL"),
    ("jenkins", "JENKINS_URL", ("BUILD_ID",), "JENKINS_URL"),
    ("buildkite", "BUILDKITE", ("BUILDKITE_BUILD_ID",), None),
    ("circleci", "CIRCLECI", ("CIRCLE_WORKFLOW_ID",), None),
)


def ci_info() -> dict[str, Any]:
    for name, flag, run_vars, _ in CI_SYSTEMS:
        if os.environ.get(flag):
            return {"system": name, "run_id": "/".join(os.environ.get(v, "") for v in run_vars)}
    if os.environ.get("CI"):
        return {"system": "unknown", "run_id": None}
    return {}


def builder() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def provenance(project_dir: Path) -> dict[str, Any]:
    return {"git": git_info(project_dir), "ci": ci_info(), "builder": builder(),
            "argv": list(sys.argv)}
