"""The README's generated sections and examples stay true (doc examples run as tests).

To refresh the generated section: `python -m tests.test_readme`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from certify.demo import SABOTAGES
from certify.deploy.plandoc import plan_reference
from certify.policy import policy_from_mapping
from certify.policydoc import policy_reference

README = Path(__file__).parents[1] / "README.md"
START, END = "<!-- policy-reference:start -->", "<!-- policy-reference:end -->"
DEPLOY_START, DEPLOY_END = "<!-- deploy-reference:start -->", "<!-- deploy-reference:end -->"


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start) + len(start):text.index(end)]


def refresh() -> None:
    text = README.read_text()
    for start, end, body in ((START, END, policy_reference()),
                             (DEPLOY_START, DEPLOY_END, plan_reference())):
        a, b = text.index(start) + len(start), text.index(end)
        text = text[:a] + "\n" + body.strip("\n") + "\n" + text[b:]
    README.write_text(text)


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block is not None
    commands = [ln for ln in block.group(1).splitlines() if ln and not ln.startswith("#")]
    assert commands[0].endswith("certify demo")
    assert commands[1].endswith(".venv/bin/pytest")
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1] in ci, ".ci/run must run the README's test command"


def test_policy_reference_is_current() -> None:
    assert _section(README.read_text(), START, END).strip() == policy_reference().strip(), (
        "the README's policy reference is stale: run `python -m tests.test_readme`")


def test_deploy_plan_reference_is_current() -> None:
    assert _section(README.read_text(), DEPLOY_START, DEPLOY_END).strip() == \
        plan_reference().strip(), (
        "the README's deploy plan reference is stale: run `python -m tests.test_readme`")


def test_every_sabotage_is_documented() -> None:
    table = _section(README.read_text(), "<!-- demo-sabotage:start -->", "<!-- demo-sabotage:end -->")
    documented = set(re.findall(r"^\| `([\w-]+)` \|", table, re.M))
    assert documented == set(SABOTAGES)


def test_policy_example_is_valid() -> None:
    text = README.read_text()
    example = next(b for b in re.findall(r"```toml\n(.*?)```", text, re.S) if "[candidate]" in b)
    policy = policy_from_mapping(tomllib.loads(example), check_files=False)
    assert policy.enabled_suites()
    assert policy.waivers[0].approver


if __name__ == "__main__":
    refresh()
