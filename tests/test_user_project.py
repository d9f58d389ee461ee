"""`pytest --certify` in a separate user project (tests/fixture_project), end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from certify.demo import FEATURES, SEED, TARGET, baseline_model, candidate_model, make_credit_data
from tests.projects import save_model

FIXTURE = Path(__file__).parent / "fixture_project"


def _project(tmp_path: Path, *, worse: bool = False) -> Path:
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root)
    ref = make_credit_data(1500, SEED)
    ev = make_credit_data(1200, SEED + 100)
    (root / "data").mkdir()
    ref.to_csv(root / "data" / "reference.csv", index=False)
    ev.to_csv(root / "data" / "evaluation.csv", index=False)
    base = baseline_model().fit(ref[FEATURES], ref[TARGET])
    if worse:
        # Trained on 5% of the rows with scrambled labels: clearly worse than the baseline.
        small = ref.sample(frac=0.05, random_state=1)
        y = small[TARGET].sample(frac=1.0, random_state=2).to_numpy()
        cand = baseline_model().fit(small[FEATURES], y)
    else:
        cand = candidate_model().fit(ref[FEATURES], ref[TARGET])
    trusted_c = save_model(cand, root / "models" / "candidate.skops")
    save_model(base, root / "models" / "baseline.skops")
    policy = (root / "certify.toml").read_text()
    policy = policy.replace("trusted_types = []", f"trusted_types = {json.dumps(trusted_c)}", 1)
    (root / "certify.toml").write_text(policy)
    return root


def _pytest(root: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")} | extra_env
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=root, capture_output=True, text=True, timeout=300, env=env)


def _latest_report(root: Path) -> dict:
    return json.loads((root / "certify-out" / "latest" / "report.json").read_text())


@pytest.fixture(scope="module")
def good_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _project(tmp_path_factory.mktemp("good"))


def test_ordinary_run_is_untouched(good_project: Path) -> None:
    done = _pytest(good_project, "tests/test_features.py", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    assert "certification" not in done.stdout
    assert not (good_project / "certify-out").exists()


def test_certify_good_candidate(good_project: Path) -> None:
    junit = good_project / "junit.xml"
    done = _pytest(good_project, "--certify", f"--junitxml={junit}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "certification: CERTIFIED" in done.stdout
    report = _latest_report(good_project)
    assert report["verdict"]["decision"] == "CERTIFIED"
    ids = {e["id"] for e in report["evidence"]}
    # built-in checks, and the project's own certification checks
    assert {"quality::roc_auc", "quality::accuracy", "project::approval_rate",
            "project::proba_shape", "project::agrees_with_production"} <= ids
    agreement = next(e for e in report["evidence"] if e["id"] == "project::agrees_with_production")
    assert agreement["status"] == "passed" and 0.6 < agreement["metrics"]["agreement"] <= 1
    assert "quality::worst_slice[home_ownership]" in ids
    approval = next(e for e in report["evidence"] if e["id"] == "project::approval_rate")
    assert 0 < approval["metrics"]["default_rate"] < 1
    # the ordinary tests ran too, but are not evidence
    assert not any("debt_ratio" in i for i in ids)
    tree = ET.parse(junit)
    cases = {(c.get("classname"), c.get("name")) for c in tree.iter("testcase")}
    certify_cases = {c for c in cases if c[0] and c[0].startswith("certify.")}
    builtin = [e for e in report["evidence"] if e["suite"] == "quality"]
    assert len(certify_cases) == len(builtin)
    assert ("certify.quality", "roc_auc") in certify_cases
    props = {p.get("name"): p.get("value") for p in tree.iter("property")}
    assert props["certify_verdict"] == "CERTIFIED"
    # No signing key configured: the report and the unsigned statement, but no certificate,
    # and the release gate refuses the run for that reason.
    latest = (good_project / "certify-out" / "latest").resolve()
    assert (latest / "statement.json").is_file() and not (latest / "certificate.intoto.json").exists()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    trust = good_project.parent / "trust"
    trust.mkdir(exist_ok=True)
    (trust / "release.pem").write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key()
                                        .public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
    gate = subprocess.run([sys.executable, "-m", "certify", "gate", str(latest), "--trust",
                           str(trust), "--artifact",
                           str(good_project / "models" / "candidate.skops"), "--policy",
                           str(good_project / "certify.toml")],
                          capture_output=True, text=True, timeout=120)
    assert gate.returncode == 1 and "no-certificate" in gate.stdout, gate.stdout + gate.stderr


def test_certify_rejects_worse_candidate(tmp_path: Path) -> None:
    root = _project(tmp_path, worse=True)
    done = _pytest(root, "--certify")
    assert done.returncode == 1
    assert "certification: REJECTED" in done.stdout
    report = _latest_report(root)
    assert report["verdict"]["decision"] == "REJECTED"
    assert any(r.startswith("quality::roc_auc failed") for r in report["verdict"]["reasons"])
    # the verdict is also the very last line, after pytest's own summary
    last = [ln for ln in done.stdout.splitlines() if ln.strip()][-1]
    assert last.startswith("certification: REJECTED (") and last.endswith("report.html"), last
    # the ordinary unit tests still ran, and passed
    assert "tests/test_features.py .. " in done.stdout, done.stdout[-3000:]


def test_certify_run_includes_the_projects_own_checks(good_project: Path) -> None:
    """`certify run` (no `checks` in the policy) reaches the same evidence as `pytest --certify`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run([sys.executable, "-m", "certify", "run", "--policy",
                           str(good_project / "certify.toml"), "--out", str(good_project / "out2")],
                          cwd=good_project.parent, capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    report = json.loads((good_project / "out2" / "latest" / "report.json").read_text())
    ids = {e["id"] for e in report["evidence"]}
    assert {"project::approval_rate", "project::proba_shape", "quality::roc_auc"} <= ids
    assert not any("debt_ratio" in i for i in ids)


def test_narrowed_run_is_incomplete_and_never_signed(good_project: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    done = _pytest(good_project, "--certify", "-k", "roc_auc", CERTIFY_SIGNING_KEY=pem)
    assert done.returncode == 1
    report = _latest_report(good_project)
    assert report["verdict"]["decision"] == "INCOMPLETE"
    assert any("quality::accuracy did not run" in r for r in report["verdict"]["reasons"])
    latest = good_project / "certify-out" / "latest"
    assert (latest / "statement.json").is_file() and not (latest / "certificate.intoto.json").exists()
    # The key was loaded (the note is printed only when a signer is configured); signing a
    # whole run with a key from the environment is tested in test_gate.py.
    assert "certificate: not signed" in done.stdout


def test_bad_policy_is_a_usage_error(good_project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text((good_project / "certify.toml").read_text().replace("margin = 0.01",
                                                                        "margn = 0.01"))
    done = _pytest(good_project, "--certify", f"--certify-policy={bad}", "-q")
    assert done.returncode == 4
    assert "unknown key 'suites.quality.margn'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_xdist_is_refused(good_project: Path) -> None:
    done = _pytest(good_project, "--certify", "-n", "2", "-q")
    assert done.returncode == 4
    assert "pytest-xdist" in done.stderr


def test_out_and_seed_options_beat_the_policy(good_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    done = _pytest(good_project, "--certify", f"--certify-out={out}", "--certify-seed=7", "-q")
    assert done.returncode == 0, done.stdout[-3000:]
    report = json.loads((out / "latest" / "report.json").read_text())
    assert report["seed"] == 7  # the policy says 99
    assert all(e["seed"] == 7 for e in report["evidence"])
    # nothing went to the policy's output_dir for this run
    assert not (good_project / "certify-out" / report["run_id"]).exists()
