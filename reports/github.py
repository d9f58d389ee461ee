"""CI job summaries: the run's Markdown summary appended to ``$GITHUB_STEP_SUMMARY``.

Built-in reporter ``github-summary``: when the ``GITHUB_STEP_SUMMARY`` environment variable
names a file (GitHub Actions sets it for every step), the Markdown summary of the run
(:func:`certify.reports.summary.markdown_summary`, the same text as ``summary.md`` in the
run folder) is appended to it. Without the variable it does nothing. The verdict also
goes into the JUnit XML as global properties (``certify_verdict``, ``certify_reason_N``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from certify.errors import CertifyError
from certify.report import Report, RunRecord
from certify.reports.summary import markdown_summary

ENV = "GITHUB_STEP_SUMMARY"


def append_step_summary(report: Report, target: str | os.PathLike[str] | None = None) -> Path | None:
    """Append the run's summary to ``target`` (default: ``$GITHUB_STEP_SUMMARY``)."""
    target = target if target is not None else os.environ.get(ENV)
    if not target:
        return None
    path = Path(target)
    text = markdown_summary(report)
    text += ("\nThe HTML audit report (`report.html`) is in the run folder "
             f"`{report.run_id}`.\n\n")
    try:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise CertifyError(f"{ENV}={target}: cannot append the job summary ({exc.strerror})") from None
    return path


def write_step_summary(record: RunRecord) -> dict[str, Path]:
    """Reporter: writes nothing into the run folder (the summary file is the CI's).

    A summary file that cannot be written is a warning, not a lost certification.
    """
    try:
        append_step_summary(record.report)
    except CertifyError as exc:
        print(f"certify: warning: {exc.diagnostics()}", file=sys.stderr)
    return {}
