"""The HTML audit report, rendered from real certification runs.

Two real runs (session-scoped, shared with the Chromium test): a CERTIFIED one with the
quality and adversarial suites and a waiver, and a REJECTED one whose candidate is
clearly worse than the baseline. The page is checked by content, by structure (every
tag and attribute of the parsed page), for escaping of hostile report values, for
robustness to suite data with missing or mistyped keys, and for its size bound.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import os
import re
import shlex
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certify.attest.status import signature_status
from certify.cli import main as cli_main
from certify.demo import FEATURES, SEED, TARGET, make_credit_data, preprocessor
from certify.policy import load_policy
from certify.report import Report, RunRecord, load_report
from certify.reports.html import render_html
from certify.session import CertifySession, RunResult
from tests.projects import make_project

TODAY = dt.date.today()


#: The suites whose own panels the page draws.
SUITES_WITH_PANELS = ["quality", "adversarial", "edge_cases", "drift", "load"]


def render(report: Report, run_dir: Path, now: dt.datetime | None = None) -> str:
    """The page as ``certify report`` renders it: the signature checked at render time."""
    return render_html(report, run_dir, signature_status(run_dir, now), now=now)


def _record(report: Report, run_dir: Path) -> RunRecord:
    return RunRecord(report=report, report_digest="sha256:" + "0" * 64, run_dir=run_dir,
                     signature=signature_status(run_dir))


# --------------------------------------------------------------------------------------
# Real runs.
# --------------------------------------------------------------------------------------

@dataclasses.dataclass
class Run:
    result: RunResult
    report: Report
    html: str


def _certify(policy: Path) -> Run:
    with pytest.MonkeyPatch.context() as mp:  # session fixtures run before conftest's autouse
        mp.delenv("GITHUB_STEP_SUMMARY", raising=False)
        mp.delenv("CERTIFY_SIGNING_KEY", raising=False)
        session = CertifySession(load_policy(policy))
        session.setup()
        session.run_all()
        result = session.finish()
    assert result.html_path is not None and result.html_path.is_file()
    return Run(result, load_report(result.report_path), result.html_path.read_text(encoding="utf-8"))


def worse_candidate(ref: Any) -> Any:
    """The demo's "worse" sabotage: a tenth of the data, half the labels scrambled."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    rng = np.random.default_rng(SEED + 1)
    part = ref.sample(frac=0.1, random_state=SEED)
    y = part[TARGET].to_numpy().copy()
    scramble = rng.random(len(y)) < 0.5
    y[scramble] = rng.integers(0, 2, scramble.sum())
    model = Pipeline([("prep", preprocessor()), ("clf", LogisticRegression(C=0.01, max_iter=500))])
    return model.fit(part[FEATURES], y)


def certified_project(root: Path) -> Path:
    """Quality and adversarial suites, a waiver in force, signed with a fresh key pair."""
    from certify.attest.keys import write_key_pair

    later = (TODAY + dt.timedelta(days=30)).isoformat()
    write_key_pair(root / "keys" / "certify")
    return make_project(
        root, n_reference=900, n_evaluation=600,
        suites={
            "quality": {"slices": ["home_ownership"]},
            "adversarial": {"sample_size": 8, "executor": "inprocess", "immutable": ["age"],
                            "bb_iterations": 1, "curve": [0.5, 1.0, 2.0], "margin": 0.5,
                            "thresholds": {"attack_success_rate": {"fail": 0.95, "warn": 0.05}}},
        },
        extra={"sensitive_columns": ["income"], "protected_attributes": ["sex"],
               "signing": {"key": "keys/certify.key", "valid_for_days": 7},
               "waivers": [{"check": "quality::f1", "reason": "F1 is not a release metric",
                            "approver": "Ada Reviewer", "expires": later}]},
    )


def rejected_project(root: Path) -> Path:
    ref = make_credit_data(900, SEED)
    earlier = (TODAY - dt.timedelta(days=3)).isoformat()
    return make_project(
        root, reference=ref, n_evaluation=600, candidate=worse_candidate(ref),
        suites={"quality": {"slices": ["home_ownership"]}},
        extra={"protected_attributes": ["sex"],
               "waivers": [{"check": "quality::accuracy", "reason": "old exception",
                            "approver": "Bob Former", "expires": earlier},
                           {"check": "quality::f1", "reason": "F1 judged separately",
                            "approver": "Cy Lead", "expires": "2999-01-01"}]},
    )


def data_project(root: Path) -> Path:
    """Drift (income scaled, a new purpose) and edge cases (NaN must be predicted, a
    monotonic constraint the candidate breaks): a REJECTED run with counterexamples."""
    shifted = make_credit_data(600, SEED + 100, shift={"income_factor": 1.6, "new_purpose": "crypto"})
    return make_project(
        root, n_reference=900, evaluation=shifted,
        suites={"drift": {},
                "edge_cases": {"max_examples": 25, "time_budget_s": 5, "shrink_budget_s": 2,
                               "large_batch": 50, "deadline_s": 120, "on_nan": "predict",
                               "on_wrong_dtype": "predict",
                               "monotonic": {"late_payments": "increasing"}}},
        extra={"sensitive_columns": ["income"]},
    )


#: One run of each kind per test session, shared by this module and the Chromium test
#: (a fixture imported into another module would run again there).
_RUNS: dict[str, Run] = {}


def _run_once(kind: str, factory: pytest.TempPathFactory) -> Run:
    if kind not in _RUNS:
        root = factory.mktemp(kind)
        make = {"certified": certified_project, "rejected": rejected_project,
                "data-suites": data_project}[kind]
        _RUNS[kind] = _certify(make(root))
    return _RUNS[kind]


@pytest.fixture(scope="session")
def data_suites(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run_once("data-suites", tmp_path_factory)


@pytest.fixture(scope="session")
def certified(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run_once("certified", tmp_path_factory)


@pytest.fixture(scope="session")
def rejected(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run_once("rejected", tmp_path_factory)


# --------------------------------------------------------------------------------------
# Page structure.
# --------------------------------------------------------------------------------------

#: Every element the page may contain: no script, iframe, object, img, form, ...
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "link", "style", "body", "header", "main", "footer", "nav",
    "section", "div", "h1", "h2", "h3", "h4", "p", "a", "span", "strong", "code", "pre", "ol",
    "ul", "li", "dl", "dt", "dd", "table", "caption", "thead", "tbody", "tr", "th", "td",
    "figure", "details", "summary", "wbr",
    # inline SVG
    "svg", "defs", "pattern", "rect", "line", "circle", "polygon", "polyline", "path", "text", "tspan",
    "desc",
}


class Page(HTMLParser):
    """Every tag, attribute and text node of a page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._stack: list[str] = []
        self._glue = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "wbr":  # a void element inside a word: the text around it is one word
            self._glue = True
            return
        self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._stack:
            while self._stack.pop() != tag:
                pass

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if not {"style", "head", "svg"} & set(self._stack):  # visible body text only
            if self._glue and self.text:
                self.text[-1] += data
            else:
                self.text.append(data)
        self._glue = False

    @property
    def plain(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text))

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]


def assert_self_contained(html: str) -> Page:
    """No element that could load anything, no handler, only relative or in-page links."""
    page = Page(html)
    names = {t for t, _ in page.tags}
    assert names <= ALLOWED_TAGS, names - ALLOWED_TAGS
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name not in ("src", "srcset", "background", "action", "formaction", "poster",
                                "data", "ping"), (tag, name)
            if name == "style":
                assert "url(" not in (value or ""), (tag, value)
        if tag == "link":
            assert attrs.get("href") == "data:,", attrs
        if tag == "a":
            href = attrs.get("href") or ""
            assert ":" not in href.split("/")[0] and not href.startswith("//"), href
    for style in re.findall(r"<style>(.*?)</style>", html, re.S):
        assert "url(" not in style and "@import" not in style
    csp = [a for a in page.all("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in (csp[0].get("content") or "")
    return page


# --------------------------------------------------------------------------------------
# Content.
# --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_certified_page_explains_the_run(certified: Run) -> None:
    r, html = certified.report, certified.html
    assert r.verdict.decision.value == "CERTIFIED"
    page = assert_self_contained(html)
    text = page.plain
    assert "✓ CERTIFIED" in text
    head = text[: text.index("Suites")]  # the "at a glance" part, before the suites
    for value in (r.candidate.name, r.candidate.digest, r.baseline.digest, r.policy_digest,
                  r.run_id, r.started_at, r.finished_at):
        assert value in head, value
    assert "✓ Signature verified Key " + keyid(certified) in head
    assert "report.json is the one it certifies" in head
    issued = dt.datetime.fromisoformat(re.search(r"Issued (\S+)", head).group(1))
    expires = dt.datetime.fromisoformat(re.search(r"Expires (\S+)", head).group(1))
    assert expires - issued == dt.timedelta(days=7) and "From the signed certificate" in head
    # The waiver in force, with its approver and expiry.
    assert re.search(r"quality::f1 ! IN FORCE F1 is not a release metric Ada Reviewer "
                     + (TODAY + dt.timedelta(days=30)).isoformat(), text)
    # One section per suite, headed with its status in words.
    h2 = [a.get("id") for a in page.all("h2")]
    assert "suite-quality-h" in h2 and "suite-adversarial-h" in h2 and "environment-h" in h2
    # Evidence: every check id, with metric and threshold columns.
    for record in r.evidence:
        assert record.id in text
    assert "roc_auc_diff_lower_ci = " in text and ">= -0.01" in text
    # Each suite's table: warned (and any failed) checks before passed ones.
    order = {"failed": 0, "errored": 1, "warned": 2, "skipped": 3, "passed": 4, "info": 5}
    tables = [re.findall(r'<li class="ev row-(\w+)"', t) for t in html.split('<ol class="evidence">')[1:]]
    assert len(tables) == 2 and all(t == sorted(t, key=order.__getitem__) for t in tables)
    assert tables[1][0] == "warned" and tables[1][-1] == "info"  # measured, not judged: last
    # Pictures: quality CIs, improvement chart, slices, fairness; adversarial curve.
    titles = [t for t in re.findall(r'<title id="c\d+-t">(.*?)</title>', html)]
    assert {"accuracy (higher is better)", "log_loss (lower is better)",
            "Improvement over the baseline", "roc_auc by home_ownership", "Rates by sex",
            "Robust accuracy vs epsilon", "Minimal adversarial perturbation"} <= set(titles)
    assert html.count("<svg") == len(titles) >= 9
    worst = r.suites["quality"].data["slices"]["home_ownership"]["worst"]["slice"]
    assert f">{worst} ▲ worst</text>" in html and f"{worst} (worst)" in text
    # Adversarial example rows with masked sensitive values, artifacts linked with sha256.
    assert "Example adversarial rows (candidate)" in text
    # rows completed and rows attacked in columns of their own (not "100 / 72", read as a ratio)
    assert "rows completed" in text and "of them attacked (correct before the attack)" in text
    income = [ln for ln in re.findall(r"income: [^;<]*", html)]
    assert income and all("masked:" in ln for ln in income)
    for record in r.evidence:
        for art in record.artifacts:
            assert f'href="{art.path}"' in html and art.sha256 in html
            assert (certified.result.run_dir / art.path).is_file()
    # Environment and reproducibility.
    assert "Rerun this certification " + shlex.join(r.command) in text
    assert f"numpy {r.environment['packages']['numpy']}" in text
    assert f"policy seed {r.seed}" in text
    assert r.environment["digest"] in text
    assert len(certified.html.encode()) < 1_500_000


@pytest.mark.slow
def test_incomplete_page_says_what_did_not_run(tmp_path: Path) -> None:
    """A real INCOMPLETE run (only one planned check ran): the page says so, and why."""
    policy = make_project(tmp_path, n_reference=600, n_evaluation=400,
                          suites={"quality": {"slices": ["home_ownership"]}})
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CERTIFY_SIGNING_KEY", raising=False)
        session = CertifySession(load_policy(policy))
        session.setup()
        session.run_check(session.planned[0])
        result = session.finish()
    assert result.verdict.decision.value == "INCOMPLETE" and result.html_path is not None
    text = assert_self_contained(result.html_path.read_text(encoding="utf-8")).plain
    banner = text[: text.index("At a glance")]
    assert "INCOMPLETE" in banner and "✓ CERTIFIED" not in text
    missing = [r for r in result.verdict.reasons if "did not run" in r]
    assert missing and all(reason in banner for reason in missing)


def test_rejected_page_leads_with_the_deciding_reasons(rejected: Run) -> None:
    r, html = rejected.report, rejected.html
    assert r.verdict.decision.value == "REJECTED"
    page = assert_self_contained(html)
    text = page.plain
    banner = text[: text.index("At a glance")]
    assert "✗ REJECTED" in banner and "Reasons that decided the verdict" in banner
    assert "! Not signed" in text and "no signing key configured" in text
    assert "Signature verified" not in text and "Expires" not in text
    assert "quality::roc_auc failed:" in banner
    for reason in r.verdict.reasons:
        assert reason in banner
    # An expired waiver is shown as such, with its approver.
    assert re.search(r"quality::accuracy ✗ EXPIRED old exception Bob Former", text)
    # A waived failure is shown as warned, citing the waiver; the waiver lists what it covers.
    assert re.search(r"! WARNED quality::f1 [^!✓✗]*? waiver waived \(failed\): F1 judged "
                     r"separately — Cy Lead, until 2999-01-01", text)
    assert re.search(r"quality::f1 ! IN FORCE F1 judged separately Cy Lead 2999-01-01 quality::f1",
                     text)
    # Evidence table: failed rows first, then errored, warned, skipped, passed.
    order = {"failed": 0, "errored": 1, "warned": 2, "skipped": 3, "passed": 4, "info": 5}
    rows = re.findall(r'<li class="ev row-(\w+)"', html)
    assert rows and rows == sorted(rows, key=order.__getitem__)
    assert rows[0] == "failed" and rows[-1] == "passed"
    # The non-inferiority chart flags the metrics whose interval crosses the margin.
    assert "roc_auc ▲ below margin" in html
    assert html.count("<svg") >= 4


@pytest.mark.slow
def test_drift_page_highlights_drifted_features(data_suites: Run) -> None:
    r, html = data_suites.report, data_suites.html
    page = assert_self_contained(html)
    text = page.plain
    drifted = r.suites["drift"].data["drifted"]
    assert set(drifted) == {"income", "purpose"}
    for name in drifted:  # flagged in both charts, by hatch and by a text marker
        assert html.count(f">{name} ▲ drifted</text>") == 1
        assert f"Drifted feature: {name}" in text
    section = html[html.index('id="suite-drift"'):html.index('id="suite-edge_cases"')]
    table = section[section.index("<th scope=\"col\">feature</th>"):]
    table = table[:table.index("</table>")]
    first_rows = re.findall(r"<tr( class=\"flag\")?><td>([^<]+)</td>", table)[:3]
    assert [(bool(f), n) for f, n in first_rows] == [(True, "income"), (True, "purpose"),
                                                     (False, "age")]
    assert "new: crypto" in text and "sensitive (binned_counts)" in text
    assert "Prediction, target and whole-table drift" in text
    # The drift baseline: its digest, and links to its files that resolve.
    baseline = r.drift_baseline
    assert baseline and baseline["digest"] in text
    for f in baseline["files"][:5]:
        assert f'href="drift-baseline/{f["path"]}"' in html
        assert (data_suites.result.run_dir / "drift-baseline" / f["path"]).is_file()


@pytest.mark.slow
def test_edge_case_counterexamples_are_reproducible_and_masked(data_suites: Run) -> None:
    r, html = data_suites.report, data_suites.html
    text = assert_self_contained(html).plain
    summary = r.suites["edge_cases"]
    assert "counterexamples" in summary.data, (summary.error, summary.data, [
        (e.id, e.status.value, e.reason) for e in r.evidence if e.suite == "edge_cases"])
    found = summary.data["counterexamples"]
    failing = {e.id for e in r.evidence if e.suite == "edge_cases" and e.status.value == "failed"}
    assert found and {c["check"] for c in found} == failing  # every failure has its counterexample
    for c in found:
        assert f"Counterexample: {c['check']}" in text
        assert c["invariant"] in text and c["reproduce"] in text
        assert f"{c['seed']} (hypothesis seed {c['hypothesis_seed']})" in text
    # The minimal inputs: the sensitive column is masked (or a marker such as NaN).
    tables = re.findall(r"<caption>Minimal input \(sensitive columns masked\)</caption>(.*?)</table>",
                        html, re.S)
    assert len(tables) == len(found)
    for t in tables:
        # A line per input column: the income line's cells are masked.
        rows = re.findall(r"<tr[^>]*>(.*?)</tr>", t.replace("<wbr>", ""), re.S)
        lines = [re.findall(r"<td>([^<]*)</td>", row) for row in rows]
        income = [cells for cells in lines if cells and cells[0] == "income"]
        assert len(income) == 1 and len(income[0]) >= 2, lines
        for cell in income[0][1:]:
            assert cell.startswith("masked:") or cell in ("NaN", "None", "inf", "-inf"), cell
    assert "Examples judged per check" in html and "Outcome by input kind" in html
    assert r.verdict.decision.value == "REJECTED"
    assert all(f"{check} failed" in text for check in failing)


@pytest.mark.slow
def test_cli_rerenders_a_saved_report_elsewhere(certified: Run, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "copies" / "audit.html"
    out.parent.mkdir()
    code = cli_main(["report", str(certified.result.report_path), "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "CERTIFIED" in capsys.readouterr().out
    html = out.read_text(encoding="utf-8")
    page = assert_self_contained(html)
    links = [a.get("href") or "" for a in page.all("a")]
    files = [h for h in links if h and not h.startswith("#")]
    assert any("artifacts/adversarial/" in h for h in files)
    for href in files:  # relative to the new location, every link still reaches its file
        assert (out.parent / href).resolve().exists(), href
    # The run folder form and the default output name.
    assert cli_main(["report", str(certified.result.run_dir)]) == 0
    assert (certified.result.run_dir / "report.html").is_file()
    capsys.readouterr()
    assert cli_main(["report", str(certified.result.report_path), "--markdown"]) == 0
    assert capsys.readouterr().out.startswith("## ✅ CERTIFIED")


def test_cli_report_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["report", str(tmp_path / "nope.json")]) == 2
    assert "report not found" in capsys.readouterr().err
    bad = tmp_path / "report.json"
    bad.write_text('{"kind": "something else"}')
    assert cli_main(["report", str(bad)]) == 2
    assert "not a pytest-certify report.json" in capsys.readouterr().err


@pytest.mark.slow
def test_step_summary_reporter_appends(certified: Run, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from certify.registry import reporters
    from certify.reports.github import write_step_summary

    names = list(reporters())
    assert "html" in names and "github-summary" in names
    if "certificate" in names:
        assert names.index("certificate") < names.index("html")
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    assert write_step_summary(_record(certified.report, certified.result.run_dir)) == {}
    write_step_summary(_record(certified.report, certified.result.run_dir))
    text = target.read_text()
    assert text.startswith("earlier step\n")
    assert text.count("## ✅ CERTIFIED") == 2 and certified.report.candidate.digest in text
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    assert write_step_summary(_record(certified.report, certified.result.run_dir)) == {}
    assert target.read_text() == text


# --------------------------------------------------------------------------------------
# Signature states that need no signer.
# --------------------------------------------------------------------------------------

def keyid(run: Run) -> str:
    from certify.attest.keys import fingerprint, load_public_key

    return fingerprint(load_public_key(run.result.run_dir / "public-key.pem"))


def _copy_run(run: Run, dest: Path) -> Path:
    import shutil

    shutil.copytree(run.result.run_dir, dest)
    return dest


def _signature(run: Run, run_dir: Path, now: dt.datetime | None = None) -> str:
    text = Page(render(run.report, run_dir, now)).plain
    return text[text.index("Signature "): text.index("Policy sha256:")]


@pytest.mark.slow
def test_tampered_report_or_foreign_key_does_not_verify(certified: Run, tmp_path: Path) -> None:
    from certify.attest.keys import write_key_pair

    run_dir = _copy_run(certified, tmp_path / "run")
    assert "✓ Signature verified" in _signature(certified, run_dir)
    report = run_dir / "report.json"
    original = report.read_bytes()
    report.write_bytes(original.replace(b'"status": "warned"', b'"status": "passed"', 1))
    sig = _signature(certified, run_dir)
    assert "✗ Signature does NOT verify" in sig and "report-mismatch" in sig
    assert "as claimed by the certificate" in sig and "Expires" not in sig
    report.write_bytes(original)
    _, other, _ = write_key_pair(tmp_path / "other")
    (run_dir / "public-key.pem").write_bytes(other.read_bytes())
    sig = _signature(certified, run_dir)
    assert "✗ Signature does NOT verify" in sig and "untrusted-key" in sig
    (run_dir / "public-key.pem").unlink()
    sig = _signature(certified, run_dir)
    assert "! Signed, but not verified here" in sig and "Signature verified" not in sig


@pytest.mark.slow
def test_expired_certificate_is_verified_and_marked_expired(certified: Run) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=8)
    sig = _signature(certified, certified.result.run_dir, now=later)
    assert "✓ Signature verified (certificate expired)" in sig and "(EXPIRED)" in sig
    assert "expired" in sig and keyid(certified) in sig


@pytest.mark.slow
def test_certificate_that_is_not_verified_is_never_called_verified(certified: Run,
                                                                   tmp_path: Path) -> None:
    run_dir = _copy_run(certified, tmp_path / "run")
    (run_dir / "public-key.pem").unlink()
    (run_dir / "certificate.intoto.json").write_text(json.dumps({
        "payloadType": "application/vnd.in-toto+json", "payload": "e30=",
        "signatures": [{"keyid": "SHA256:claimed-key", "sig": "AAAA"}]}))
    html = render(certified.report, run_dir)
    text = Page(html).plain
    assert "Signed, but not verified here" in text and "SHA256:claimed-key" in text
    assert "as claimed by the certificate" in text and "Signature verified" not in text
    (run_dir / "certificate.intoto.json").write_text("{not json")
    text = Page(render(certified.report, run_dir)).plain
    assert "Certificate unreadable" in text and "Signature verified" not in text


# --------------------------------------------------------------------------------------
# Hostile values, broken data, size.
# --------------------------------------------------------------------------------------

HOSTILE = '<script>alert("x")</script><img src=http://evil.example/x onerror=alert(1)>'


def _hostile_report(report: Report) -> Report:
    raw = json.loads(report.to_json())
    raw["candidate"]["name"] = HOSTILE
    raw["verdict"]["reasons"] = [HOSTILE, "javascript:alert(1)"]
    raw["command"] = ["pytest", HOSTILE]
    raw["environment"]["packages"][HOSTILE] = HOSTILE
    raw["provenance"]["builder"] = HOSTILE
    ev = raw["evidence"][0]
    ev["id"] = ev["suite"] + "::" + HOSTILE
    ev["reason"] = ev["description"] = HOSTILE
    ev["metrics"] = {HOSTILE: HOSTILE}
    ev["artifacts"] = [{"path": "javascript:alert(1)", "sha256": HOSTILE, "description": HOSTILE},
                       {"path": "../../../etc/passwd", "sha256": "0", "description": ""},
                       {"path": "//evil.example/x", "sha256": "0", "description": ""}]
    for suite in raw["suites"].values():
        suite["description"] = HOSTILE
        suite["data"][HOSTILE] = {HOSTILE: [HOSTILE, {HOSTILE: HOSTILE}]}
        for key in list(suite["data"]):
            if isinstance(suite["data"][key], dict):
                suite["data"][key][HOSTILE] = HOSTILE
    raw["suites"][HOSTILE] = {"name": HOSTILE, "required": True, "data": {HOSTILE: HOSTILE}}
    raw["waivers"] = [{"check": HOSTILE, "reason": HOSTILE, "approver": HOSTILE,
                       "expires": HOSTILE, "expired": False, "applied_to": [HOSTILE]}]
    return Report.model_validate(raw)


@pytest.mark.slow
def test_every_report_value_is_escaped(certified: Run) -> None:
    html = render(_hostile_report(certified.report), certified.result.run_dir)
    assert "<script" not in html and "<img" not in html and "onerror=" not in html.replace(
        "<wbr>", "").replace("onerror=alert(1)&gt;", "")
    page = assert_self_contained(html)
    assert HOSTILE in page.plain  # shown as text, not markup
    hrefs = [a.get("href") for a in page.all("a") if not (a.get("href") or "").startswith("#")]
    assert not any("javascript" in (h or "") or "passwd" in (h or "") or "evil" in (h or "")
                   for h in hrefs)


def _suite_data(run: Run) -> dict[str, dict[str, Any]]:
    return {name: s.data for name, s in run.report.suites.items() if s.data}


GARBAGE: list[Any] = [None, "text", 3, -1.5, [], {}, [1, "a", None, {"x": [1]}], {"a": {"b": None}}]


@pytest.mark.slow
def test_missing_or_mistyped_suite_data_never_breaks_the_page(certified: Run, rejected: Run,
                                                              data_suites: Run) -> None:
    for run in (certified, rejected, data_suites):
        for name, data in _suite_data(run).items():
            for key in data:
                for replacement in [..., *GARBAGE]:
                    raw = json.loads(run.report.to_json())
                    if replacement is ...:
                        del raw["suites"][name]["data"][key]
                    else:
                        raw["suites"][name]["data"][key] = replacement
                    html = render(Report.model_validate(raw), run.result.run_dir)
                    assert f'id="suite-{name}-ev"' in html, (name, key, replacement)
                    assert run.report.verdict.decision.value in html
            # Nested keys too (one level down).
            for key, value in data.items():
                if isinstance(value, dict):
                    for sub in value:
                        raw = json.loads(run.report.to_json())
                        raw["suites"][name]["data"][key][sub] = "?"
                        render(Report.model_validate(raw), run.result.run_dir)


def _json_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children,
                                                             max_size=5)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    _json_containers, max_leaves=30,
)


#: Every key a picture builder reads (quality, adversarial, drift, edge_cases, load).
BUILDER_KEYS = [
    "metrics", "slices", "fairness", "primary_metric", "curve", "attacks", "perturbation",
    "examples", "budget", "epsilon", "norm", "features", "profiles", "counterexamples", "checks",
    "acceptance", "latency_ms", "drifted", "prediction", "target", "mmd", "candidate_vs_baseline",
    "schema", "baseline", "p_value", "correction", "min_effect", "percentiles_ms", "percentiles",
    "timeseries", "per_second", "slo", "rows", "seed",
]


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(st.sampled_from(BUILDER_KEYS) | st.text(max_size=8), json_values,
                            max_size=8),
       suite=st.sampled_from([*SUITES_WITH_PANELS, "validation", "someone_elses"]))
def test_arbitrary_suite_data_renders(certified: Run, data: dict[str, Any], suite: str) -> None:
    raw = json.loads(certified.report.to_json())
    raw["suites"][suite] = {"name": suite, "required": False, "data": data}
    html = render(Report.model_validate(raw), certified.result.run_dir)
    assert f'id="suite-{suite}-h"' in html


@pytest.mark.slow
def test_page_size_does_not_grow_with_rows(certified: Run) -> None:
    raw = json.loads(certified.report.to_json())
    base = len(render(Report.model_validate(raw), certified.result.run_dir))
    big = copy.deepcopy(raw)
    template = big["evidence"][0]
    big["evidence"] += [dict(template, id=f"adversarial::many[{i}]", suite="adversarial",
                             status="passed" if i % 3 else "failed", reason="x" * 5000)
                        for i in range(20000)]
    data = big["suites"]["adversarial"]["data"]
    data["examples"] = data["examples"] * 2000
    data["curve"]["epsilons"] = list(np.linspace(0.01, 1, 50000))
    data["curve"]["candidate"] = list(np.linspace(1, 0, 50000))
    data["perturbation"]["candidate"]["values"] = list(range(100000))
    big["suites"]["quality"]["data"]["slices"]["home_ownership"]["rows"] *= 5000
    big["suites"]["custom"] = {"name": "custom", "required": False,
                               "data": {"rows": [{"a": i, "b": "y" * 1000} for i in range(50000)],
                                        "text": "z" * 10**6}}
    html = render(Report.model_validate(big), certified.result.run_dir)
    assert len(html.encode()) < 1_500_000, len(html)
    assert len(html) < base + 700_000
    assert "more checks not shown here" in html and "in report.json" in html
    # Failed checks are never the ones cut: every failed row shown comes before any passed.
    section = html[html.index('id="suite-adversarial-h"'):]
    following = re.search(r'id="suite-(?!adversarial)', section)
    section = section[:following.start()] if following else section
    rows = re.findall(r'<li class="ev row-(\w+)"', section)
    assert rows.count("failed") >= 100
    first_passed = rows.index("passed") if "passed" in rows else len(rows)
    assert "failed" not in rows[first_passed:]


def _load_run(role: str, latencies_us: list[float], errors: dict[str, int]) -> Any:
    from certify.suites.load import ProfileRun, histogram

    h = histogram.new()
    for v in latencies_us:
        histogram.record(h, v)
    enc = histogram.encode(h)
    n = len(latencies_us)
    failed = sum(errors.values())
    return ProfileRun(
        profile="steady", role=role, mode="closed", workers=[], hist=enc, service_hist=enc,
        latency_ms=histogram.summary_ms(h), service_latency_ms=histogram.summary_ms(h),
        requests=n + failed, successes=n, failures=failed, issued=n + failed, errors=errors,
        series=[{"t": t, "requests": 100, "failures": 3 * t, "rps": 100.0 + t, "p50_ms": 20.0,
                 "p95_ms": 40.0, "p99_ms": 60.0} for t in range(4)],
        elapsed_s=4.0, stopped_by="duration",
        merge={"merged_count": n, "sum_of_workers": n, "exact": True})


@pytest.mark.slow
def test_load_pictures_from_the_load_suites_own_report_data(certified: Run) -> None:
    """The load view reads what the load suite writes: percentiles only (not count/mean), the
    SLO fail levels, the baseline served the same way, failures by kind, per-second series."""
    from types import SimpleNamespace

    from certify.suites.load import LoadResult, LoadSettings, LoadSuite

    settings_ = LoadSettings.model_validate({"thresholds": {"p95_ms": {"fail": 300.0},
                                                            "p99_ms": {"fail": 500.0}}})
    runs = {("candidate", "steady"): _load_run("candidate", [20_000 + 90 * i for i in range(3000)],
                                              {"HTTP 500": 40, "ConnectionResetError": 2}),
            ("baseline", "steady"): _load_run("baseline", [10_000 + 50 * i for i in range(3000)],
                                             {})}
    result = LoadResult(target={}, mode="closed", generators=[], runs=runs, settings={})
    data = LoadSuite().report_data(SimpleNamespace(settings=settings_), result)  # type: ignore[arg-type]
    raw = json.loads(certified.report.to_json())
    raw["suites"]["load"] = {"name": "load", "required": False, "data": json.loads(json.dumps(data))}
    # (line-break points in table cells left out: "Connection<wbr>Reset<wbr>Error")
    html = render(Report.model_validate(raw), certified.result.run_dir).replace("<wbr>", "")
    section = html[html.index('id="suite-load-h"'):]
    chart = re.search(r'<svg[^>]*>(?:(?!</svg>).)*Latency percentiles \(steady\).*?</svg>',
                      section, re.S)
    assert chart is not None
    labels = set(re.findall(r"<text[^>]*>([^<]+)</text>", chart.group(0)))
    assert {"p50", "p95", "p99"} <= labels
    assert not labels & {"count", "mean", "min", "max"}, labels
    assert "SLO (fail level)" in chart.group(0) and "baseline" in chart.group(0)
    failures = section[section.index("Failures by kind: steady"):]
    assert failures.index("HTTP 500") < failures.index("ConnectionResetError")
    assert "Throughput over time: steady" in section and "Failures over time: steady" in section
    assert "3000 = sum of workers 3000" in section
    # the run's figures under names people read, not field names
    assert "stopped by" in section and "elapsed (s)" in section
    assert not re.search(r">(stopped_by|elapsed_s|error_rate|server_cpu_pct)<", section)


@pytest.mark.slow
def test_render_has_no_side_effects_on_report(certified: Run) -> None:
    before = certified.report.to_json()
    render(certified.report, certified.result.run_dir)
    assert certified.report.to_json() == before
    assert os.listdir(certified.result.run_dir).count("report.html") == 1


@pytest.mark.slow
def test_reporters_never_lose_a_finished_run(certified: Run, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from certify.reports import html as html_mod
    from certify.reports.github import write_step_summary

    # A step-summary path that cannot be written: a warning, no exception.
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path))  # a directory
    assert write_step_summary(_record(certified.report, tmp_path)) == {}
    assert "cannot append the job summary" in capsys.readouterr().err
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    # A page that cannot be built: a minimal page with the verdict, and a warning.
    written = html_mod.write_html(_record(certified.report, tmp_path))
    assert (written["html"].stat().st_mode & 0o777) == 0o644
    assert "✓ CERTIFIED" in Page(written["html"].read_text()).plain

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("template exploded")

    monkeypatch.setattr(html_mod, "build_context", broken)
    written = html_mod.write_html(_record(_hostile_report(certified.report), tmp_path))
    page = written["html"].read_text()
    assert "template exploded" in capsys.readouterr().err
    assert "<h1>CERTIFIED</h1>" in page and "could not be rendered" in page
    assert "<script" not in page and "&lt;script&gt;" in page


def test_unjudged_figures_say_whether_a_rule_decided(certified: Run) -> None:
    """Figures without a threshold: an ``info`` record says they were recorded, not judged; a
    check that passed or warned on a rule of its own (no comparison, e.g. load::delayed_ack)
    never says "not judged"."""
    raw = json.loads(certified.report.to_json())
    info = next(e for e in raw["evidence"] if e["status"] == "info")
    judged = next(e for e in raw["evidence"] if e["status"] == "passed")
    judged["comparisons"] = []
    judged["metrics"] = {"share_39_45_ms": 0.01}
    html = render(Report.model_validate(raw), certified.result.run_dir)

    def row(cid: str) -> str:
        start = html.index(f'<code class="cid">{cid}</code>')
        return html[start:html.index("</li>", start)]

    assert "no threshold: recorded, not judged" in row(info["id"])
    assert "not judged" not in row(judged["id"])
    assert "decided by the check's own rule" in row(judged["id"])
    assert "share_39_45_ms = 0.01" in row(judged["id"])
