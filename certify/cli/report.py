"""Render the HTML audit report of a saved run again: ``certify report REPORT.json [-o OUT]``.

The page is written next to report.json as report.html unless ``-o`` says otherwise;
artifact links are made relative to where the page is written. The signature line is
checked again now, with the public key next to the certificate.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from certify.errors import ExitCode

HELP = "render the HTML audit report from a saved report.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", type=Path, metavar="REPORT",
                        help="a report.json, or the run folder that holds one")
    parser.add_argument("-o", "--output", type=Path, default=None, metavar="OUT",
                        help="where to write the page (default: report.html next to REPORT)")
    parser.add_argument("--markdown", action="store_true",
                        help="print the short Markdown summary (for CI job summaries) instead")


def main(args: argparse.Namespace) -> ExitCode:
    from certify.outputs import REPORT_HTML, REPORT_JSON
    from certify.report import load_report

    path: Path = args.report
    if path.is_dir():
        path = path / REPORT_JSON
    report = load_report(path)
    run_dir = path.resolve().parent
    if args.markdown:
        from certify.reports.summary import markdown_summary

        print(markdown_summary(report), end="")
        return ExitCode.OK
    from certify.attest.status import signature_status
    from certify.errors import CertifyError
    from certify.reports.html import write_report_html

    out = (args.output or run_dir / REPORT_HTML).resolve()
    if out.is_dir():
        out = out / REPORT_HTML
    try:
        # Verified again now: the page says what holds at the time it is rendered.
        write_report_html(report, run_dir, out, signature_status(run_dir))
    except OSError as exc:
        raise CertifyError(f"{out}: cannot write the report ({exc.strerror})") from None
    print(f"{report.verdict.decision.value}: {out} ({out.stat().st_size / 1024:.0f} KiB)")
    return ExitCode.OK
