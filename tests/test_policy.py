from __future__ import annotations

import json
from pathlib import Path

import pytest

from certify.errors import ConfigError
from certify.policy import find_policy, load_policy, policy_json_schema
from tests.projects import make_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("policy"), n_reference=300, n_evaluation=200)


def _edit(src: Path, dst: Path, old: str, new: str) -> Path:
    text = src.read_text()
    assert old in text, old
    dst.write_text(text.replace(old, new, 1))
    return dst


def test_loads_and_resolves_relative_paths(project: Path) -> None:
    policy = load_policy(project)
    assert policy.candidate.format == "skops"
    assert policy.resolve(policy.data.reference) == project.parent / "data" / "reference.csv"
    assert policy.enabled_suites() == ["quality"]
    assert policy.required() == ["quality"]


def test_unknown_key_names_key_and_file(project: Path) -> None:
    bad = _edit(project, project.parent / "bad1.toml", "seed = 1234", "seed = 1234\nsede = 3")
    with pytest.raises(ConfigError) as err:
        load_policy(bad)
    assert str(err.value) == f"{bad}: unknown key 'sede'"


def test_unknown_suite_key_is_an_error(project: Path) -> None:
    bad = _edit(project, project.parent / "bad2.toml", "quality = {}", "quality = {marginn = 1}")
    with pytest.raises(ConfigError, match=r"unknown key 'suites.quality.marginn'"):
        load_policy(bad)


def test_unknown_suite_is_an_error(project: Path) -> None:
    bad = _edit(project, project.parent / "bad3.toml", "quality = {}", "quality = {}\nqualty = {}")
    with pytest.raises(ConfigError, match=r"unknown key 'suites.qualty'"):
        load_policy(bad)


def test_wrong_type_names_key(project: Path) -> None:
    bad = _edit(project, project.parent / "bad4.toml", "seed = 1234", 'seed = "abc"')
    with pytest.raises(ConfigError, match=r"bad4.toml: seed: .*integer.*'abc'"):
        load_policy(bad)


def test_missing_required_key(project: Path) -> None:
    text = project.read_text()
    start = text.index("[data]")
    end = text.index("\n\n", start)
    bad = project.parent / "bad5.toml"
    bad.write_text(text[:start] + text[end:])
    with pytest.raises(ConfigError, match=r"missing required key 'data'"):
        load_policy(bad)


def test_missing_file_names_key(project: Path) -> None:
    bad = _edit(project, project.parent / "bad6.toml", 'reference = "data/reference.csv"',
                'reference = "data/nope.csv"')
    with pytest.raises(ConfigError, match=r"data.reference: file not found: .*nope.csv"):
        load_policy(bad)


def test_bad_waiver_date(project: Path) -> None:
    text = project.read_text() + (
        '\n[[waivers]]\ncheck = "quality::f1"\nreason = "r"\napprover = "a"\nexpires = "2026-13-45"\n')
    bad = project.parent / "bad7.toml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=r"waivers\[0\].expires: .*date"):
        load_policy(bad)


def test_joblib_needs_explicit_pickle_opt_in(project: Path) -> None:
    bad = _edit(project, project.parent / "bad8.toml", 'path = "models/candidate.skops"',
                'path = "models/candidate.joblib"')
    with pytest.raises(ConfigError, match=r"candidate: .*allow_pickle = true"):
        load_policy(bad)


def test_no_suite_enabled(project: Path) -> None:
    bad = _edit(project, project.parent / "bad9.toml", "quality = {}", "quality = {enabled = false}")
    with pytest.raises(ConfigError, match="no suite enabled"):
        load_policy(bad)


def test_not_toml(tmp_path: Path) -> None:
    bad = tmp_path / "certify.toml"
    bad.write_text("seed = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_policy(bad)


def test_digest_ignores_formatting_but_not_values(project: Path) -> None:
    text = project.read_text()
    reformatted = project.parent / "fmt.toml"
    reformatted.write_text("# a comment\n\n" + text.replace("seed = 1234", "seed    =   1234"))
    assert load_policy(reformatted).digest() == load_policy(project).digest()
    changed = _edit(project, project.parent / "chg.toml", "seed = 1234", "seed = 1235")
    assert load_policy(changed).digest() != load_policy(project).digest()
    assert load_policy(project).digest().startswith("sha256:")


def test_digest_covers_the_suites_switched_on_and_nothing_installed(project: Path) -> None:
    import hashlib
    import json

    base = load_policy(project)
    assert set(base.canonical()["suites"]) == set(base.enabled_suites()) == {"quality"}
    # Other installed suites (with their defaults) are not in the digest...
    assert set(type(base.suites).model_fields) > {"quality"}
    # ...but switching one on, even with an empty section, is a different policy.
    more = _edit(project, project.parent / "drift-on.toml", "quality = {}", "quality = {}\ndrift = {}")
    assert set(load_policy(more).enabled_suites()) == {"quality", "drift"}
    assert load_policy(more).digest() != base.digest()
    # The digest is the sha256 of the canonical JSON, so an auditor can recompute it.
    canonical = json.dumps(base.canonical(), sort_keys=True, separators=(",", ":"))
    assert base.digest() == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def test_pyproject_tool_certify(project: Path) -> None:
    pyproject = project.parent / "pyproject.toml"
    body = project.read_text()
    # nest every table under [tool.certify]
    lines = []
    for line in body.splitlines():
        if line.startswith("[["):
            line = "[[tool.certify." + line[2:]
        elif line.startswith("["):
            line = "[tool.certify." + line[1:]
        lines.append(line)
    first_table = next(i for i, ln in enumerate(lines) if ln.startswith("[tool.certify."))
    lines.insert(0, "[tool.certify]")
    lines.insert(first_table + 1, "")
    pyproject.write_text("[project]\nname = 'x'\n\n" + "\n".join(lines) + "\n")
    assert find_policy(project.parent) == project  # certify.toml wins
    project_copy = project.parent / "only-pyproject"
    project_copy.mkdir()
    (project_copy / "pyproject.toml").write_text(pyproject.read_text().replace(
        "data/", str(project.parent / "data") + "/").replace("models/", str(project.parent / "models") + "/"))
    found = find_policy(project_copy)
    assert found == project_copy / "pyproject.toml"
    assert load_policy(found).digest() != ""


def test_shipped_schema_is_current_and_validates_examples(project: Path) -> None:
    import tomllib

    import jsonschema

    shipped = Path(__file__).parents[1] / "certify" / "schemas" / "policy.schema.json"
    assert json.loads(shipped.read_text()) == policy_json_schema(), (
        "regenerate: certify schema policy > certify/schemas/policy.schema.json")
    examples = [project, *sorted((Path(__file__).parents[1] / "examples").rglob("certify*.toml"))]
    assert len(examples) >= 2
    for example in examples:
        jsonschema.validate(tomllib.loads(example.read_text()), policy_json_schema())
