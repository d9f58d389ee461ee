"""Third-party suites, adapters and reporters plug in through entry points, without core edits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.projects import make_project

PLUGIN = '''
from __future__ import annotations
import json
from pathlib import Path
import numpy as np
from certify.evidence import Direction, Outcome, Threshold, compare
from certify.models import Model, sha256_digest
from certify.suite import Suite, SuiteSettings
from certify.view import BarChart, BarGroup, Panel, Table


class AcmeSettings(SuiteSettings):
    min_rows: int = 10


class AcmeSuite(Suite):
    name = "acme"
    settings_model = AcmeSettings
    description = "a third-party suite"

    def checks(self, ctx):
        return [self.check("rows", lambda n: Outcome.from_comparisons(
            [compare("rows", n, Threshold(fail=ctx.settings.min_rows), Direction.MIN)]))]

    def run(self, ctx):
        return len(ctx.data.evaluation)

    def report_data(self, ctx, result):
        return {"rows": result}

    def panels(self, record):
        rows = record.data.get("rows")
        return [Panel("Acme rows", chart=BarChart([BarGroup("evaluation", [rows])],
                                                  title="Acme rows chart"),
                      table=Table(["what", "rows"], [["evaluation", rows]]),
                      note=f"at least {record.settings.min_rows} needed")]


class ConstantModel(Model):
    def _predict(self, X):
        return np.ones(len(X), dtype=int)


def load_constant(spec, base_dir, role):
    return ConstantModel(name="constant", digest=sha256_digest(b"constant"), source="acme",
                         format="acme", task="classification", classes=[0, 1])


def write_receipt(record):
    path = record.run_dir / "acme-receipt.json"
    path.write_text(json.dumps({"verdict": record.report.verdict.decision.value,
                                "signature": record.signature.state,
                                "seen": sorted(record.outputs)}))
    return {"acme_receipt": path}
'''


def test_entry_point_plugins(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "acme_certify.py").write_text(PLUGIN)
    dist = site / "acme_certify-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-certify\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""
        [certify.suites]
        acme = acme_certify:AcmeSuite

        [certify.adapters]
        acme = acme_certify:load_constant

        [certify.reporters]
        acme = acme_certify:write_receipt
    """))
    policy = make_project(tmp_path / "p", n_reference=300, n_evaluation=200, baseline=None,
                          suites={"acme": {"min_rows": 100}})
    text = policy.read_text().replace('path = "models/candidate.skops"',
                                      'path = "models/candidate.skops"\nformat = "acme"', 1)
    policy.write_text(text)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
           "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-m", "certify", "run", "--policy", str(policy)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = policy.parent / "certify-out" / "latest"
    report = json.loads((run_dir / "report.json").read_text())
    assert [e["id"] for e in report["evidence"]] == ["acme::rows"]
    assert report["candidate"]["format"] == "acme"
    # The reporter gets the typed run record: verdict, signature status, what was written before.
    receipt = json.loads((run_dir / "acme-receipt.json").read_text())
    assert receipt["verdict"] == "CERTIFIED" and receipt["signature"] == "unsigned"  # no key
    assert {"statement", "summary", "html"} <= set(receipt["seen"])
    # The page composes the third-party suite's own panel without knowing the suite.
    html = (run_dir / "report.html").read_text()
    section = html[html.index('id="suite-acme-h"'):]
    assert "Acme rows" in section and "Acme rows chart" in section and "<svg" in section
    assert "at least 100 needed" in section
    schema = subprocess.run([sys.executable, "-m", "certify", "schema"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert "AcmeSettings" in schema.stdout
    # the suite's settings are validated like built-in ones
    policy.write_text(text.replace("min_rows = 100", "min_rowz = 100"))
    done = subprocess.run([sys.executable, "-m", "certify", "run", "--policy", str(policy)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 2
    assert "unknown key 'suites.acme.min_rowz'" in done.stderr
