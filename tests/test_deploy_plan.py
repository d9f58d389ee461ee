"""deploy.toml: validation that names the key and the file, the shipped JSON Schema, the
generated reference, and data residency refused at validation (naming target, class, columns)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from certify.cli import main as cli_main
from certify.demo import render_policy
from certify.deploy.demostep import demo_plan, run_demo_deploy
from certify.deploy.errors import Refused
from certify.deploy.plan import DeployPlan, load_plan, plan_json_schema
from certify.deploy.plandoc import plan_reference
from certify.deploy.residency import input_classes
from certify.errors import ConfigError
from certify.policy import load_policy
from tests.projects import make_project

SCHEMA = Path(__file__).parents[1] / "certify" / "schemas" / "deploy.schema.json"


def demo_like_plan(**override: Any) -> dict[str, Any]:
    """The demo's shape: pii on-prem and in one cloud region."""
    plan: dict[str, Any] = {
        "name": "credit-risk", "policy": "certify.toml", "steps": [10, 50, 100],
        "data_classes": {"pii": {"locations": ["on_prem", "eu-west-1"]}},
        "targets": {
            "onprem": {"kind": "ray_serve", "location": "on_prem", "data_classes": ["pii"]},
            "cloud": {"kind": "kserve", "location": "eu-west-1", "data_classes": ["pii"],
                      "storage_uri": "s3://models-eu/credit-risk", "namespace": "models"},
        },
    }
    plan.update(override)
    return plan


def write_plan(root: Path, plan: dict[str, Any], name: str = "deploy.toml") -> Path:
    path = root / name
    path.write_text(render_policy(plan))
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plan")
    make_project(root, n_reference=300, n_evaluation=100, baseline=None,
                 extra={"sensitive_columns": ["income"]})
    return root


def test_a_valid_plan_loads_with_defaults_and_a_stable_digest(project: Path) -> None:
    plan = load_plan(write_plan(project, demo_like_plan()))
    assert plan.steps == [10, 50, 100]
    assert plan.state == project.resolve()
    assert plan.policy_path == project / "certify.toml"
    assert plan.analysis.latency_metric == "p95_ms" and plan.parity.tolerance == 1e-9
    assert set(plan.ray_targets()) == {"onprem"} and set(plan.kserve_targets()) == {"cloud"}
    again = load_plan(write_plan(project, demo_like_plan(), "again.toml"))
    assert plan.digest() == again.digest() and plan.digest().startswith("sha256:")
    changed = load_plan(write_plan(project, demo_like_plan(steps=[25, 100]), "other.toml"))
    assert changed.digest() != plan.digest()


@pytest.mark.parametrize(("change", "message"), [
    ({"stepz": [1]}, "unknown key 'stepz'"),
    ({"steps": [10, 5, 100]}, "steps: steps must be strictly increasing"),
    ({"steps": [10, 50]}, "the last step must be 100"),
    ({"steps": [0, 100]}, "each step is a percentage in (0, 100]"),
    ({"name": "Credit_Risk"}, "name: String should match pattern"),
    ({"analysis": {"slos": {"p42_ms": 1.0}}}, "unknown SLO 'p42_ms'"),
    ({"targets": {"x": {"kind": "nomad", "location": "on_prem"}}}, "targets.x"),
    ({"targets": {"x": {"kind": "kserve", "location": "eu-west-1"}}},
     "missing required key 'targets.x.kserve.storage_uri'"),
    ({"targets": {"x": {"kind": "ray_serve", "location": "on_prem", "data_classes": ["phi"]}}},
     "unknown data class 'phi'"),
])
def test_errors_name_the_key_and_the_file(project: Path, change: dict[str, Any],
                                          message: str) -> None:
    path = write_plan(project, demo_like_plan(**change), "bad.toml")
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    text = info.value.diagnostics()
    assert str(path.resolve()) in text and message in text, text
    assert "\n" not in text


def test_missing_plan_and_missing_policy_are_usage_errors(project: Path) -> None:
    with pytest.raises(ConfigError, match="deploy plan not found"):
        load_plan(project / "nope.toml")
    path = write_plan(project, demo_like_plan(policy="missing.toml"), "nopolicy.toml")
    with pytest.raises(ConfigError, match="policy: file not found"):
        load_plan(path)
    assert cli_main(["deploy", "status", str(project / "nope.toml")]) == 2


def test_shipped_schema_is_current_and_printed(capsys: pytest.CaptureFixture[str]) -> None:
    assert json.loads(SCHEMA.read_text()) == plan_json_schema(), (
        "regenerate: certify schema deploy > certify/schemas/deploy.schema.json")
    assert cli_main(["schema", "deploy"]) == 0
    assert json.loads(capsys.readouterr().out) == plan_json_schema()
    assert cli_main(["schema", "deploy", "--markdown"]) == 0
    assert capsys.readouterr().out == plan_reference()


def test_the_shipped_schema_accepts_the_demo_plan_and_rejects_a_typo() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(demo_like_plan(), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(demo_like_plan(stepz=[1]), schema)


def test_reference_documents_every_key() -> None:
    text = plan_reference()
    for key in DeployPlan.model_fields:
        assert f"| `{key}` |" in text or f"`[{key}]`" in text, key
    assert "| `sticky_header` |" in text and "| `canary" not in text


# -- residency ------------------------------------------------------------------------------

def test_sensitive_columns_make_the_inputs_pii(project: Path) -> None:
    plan = load_plan(write_plan(project, demo_like_plan(data_classes={
        "pii": {"locations": ["on_prem", "eu-west-1"], "columns": ["age"]},
        "finance": {"locations": ["on_prem"], "columns": ["debt_ratio", "not_an_input"]},
    }, targets={"onprem": {"kind": "ray_serve", "location": "on_prem",
                           "data_classes": ["pii", "finance"]}}), "classes.toml"))
    classes = input_classes(plan, load_policy(plan.policy_path, check_files=False))
    assert classes == {"pii": ["income", "age"], "finance": ["debt_ratio"]}


def test_a_target_in_another_region_is_refused_naming_target_class_and_columns(
        project: Path) -> None:
    plan = demo_like_plan()
    plan["targets"]["cloud"]["location"] = "us-east-1"
    path = write_plan(project, plan, "us.toml")
    before = sorted(p.name for p in project.iterdir())
    with pytest.raises(Refused) as info:
        load_plan(path)
    assert info.value.reason == "residency"
    message = info.value.diagnostics()
    assert "target 'cloud' (us-east-1)" in message and "data class 'pii'" in message
    assert "columns: income" in message and "on_prem, eu-west-1" in message
    assert sorted(p.name for p in project.iterdir()) == before  # nothing written


def test_a_target_that_does_not_accept_the_class_is_refused(project: Path) -> None:
    plan = demo_like_plan()
    plan["targets"]["cloud"]["data_classes"] = []
    with pytest.raises(Refused, match=r"target 'cloud' \(eu-west-1\) does not accept data class "
                                      r"'pii' \(columns: income\)"):
        load_plan(write_plan(project, plan, "noaccept.toml"))


def test_an_undeclared_pii_class_is_refused(project: Path) -> None:
    plan = demo_like_plan(data_classes={})
    plan["targets"] = {"onprem": {"kind": "ray_serve", "location": "on_prem"}}
    with pytest.raises(Refused, match=r"no \[data_classes.pii\]"):
        load_plan(write_plan(project, plan, "undeclared.toml"))


def test_residency_refusal_exits_1_on_the_command_line(project: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    plan = demo_like_plan()
    plan["targets"]["cloud"]["location"] = "us-east-1"
    path = write_plan(project, plan, "us-cli.toml")
    code = cli_main(["deploy", "run", str(path), "--certificate", str(project / "none.json"),
                     "--trust", str(project)])
    assert code == 1
    assert capsys.readouterr().out.startswith("REFUSED (residency): ")


def test_the_demo_plan_is_valid_and_its_residency_sabotage_is_refused(project: Path) -> None:
    plan = load_plan(write_plan(project, demo_plan(), "demo-deploy.toml"))
    assert set(plan.targets) == {"onprem", "cloud"} and plan.steps == [10, 50, 100]
    bad = write_plan(project, demo_plan(cloud_region="us-east-1"), "demo-bad.toml")
    with pytest.raises(Refused) as info:
        run_demo_deploy(bad, project / "none.json", project, project / "none.skops")
    assert info.value.reason == "residency" and "us-east-1" in info.value.message
    assert not (project / "deploy-state").exists()
