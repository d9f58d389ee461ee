"""A short Markdown summary of a run, for CI job summaries ($GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

from pathlib import Path

from certify.outputs import SUMMARY_MD, atomic_write
from certify.report import Report, RunRecord

ICON = {"CERTIFIED": "✅", "REJECTED": "❌", "INCOMPLETE": "⚠️"}


def markdown_summary(report: Report, *, max_reasons: int = 10) -> str:
    v = report.verdict
    lines = [
        f"## {ICON.get(v.decision.value, '')} {v.decision.value}: {report.candidate.name}",
        "",
        f"- candidate `{report.candidate.digest}`"
        + (f", baseline `{report.baseline.digest}`" if report.baseline else ", no baseline"),
        f"- policy `{report.policy_digest}`, seed {report.seed}, run `{report.run_id}`",
        "",
    ]
    if v.reasons:
        lines.append("**Reasons**")
        lines.append("")
        lines += [f"- {r}" for r in v.reasons[:max_reasons]]
        if len(v.reasons) > max_reasons:
            lines.append(f"- … and {len(v.reasons) - max_reasons} more (see report.html)")
        lines.append("")
    lines.append("| suite | passed | warned | failed | errored | skipped | info |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for s in report.suites.values():
        c = s.counts
        lines.append(f"| {s.name}{'' if s.required else ' (optional)'} | {c.get('passed', 0)} | "
                     f"{c.get('warned', 0)} | {c.get('failed', 0)} | {c.get('errored', 0)} | "
                     f"{c.get('skipped', 0)} | {c.get('info', 0)} |")
    lines.append("")
    lines.append("_info: a figure measured but not judged (no threshold); it never blocks "
                 "and is not a pass._")
    return "\n".join(lines) + "\n"


def write_summary(record: RunRecord) -> dict[str, Path]:
    """Built-in reporter: ``summary.md`` in the run folder."""
    path = record.run_dir / SUMMARY_MD
    atomic_write(path, markdown_summary(record.report))
    return {"summary": path}
