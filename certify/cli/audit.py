"""Read and verify a deploy audit log (the hash-chained audit.jsonl of a deploy state folder).

``certify audit verify LOG`` checks every entry's hash and its chain (an edited, removed,
inserted or reordered line is named), then compares the end of the log with its anchor in the
registry: by default the embedded registry next to the log, or ``--tracking-uri`` (a team's
MLflow server; MLFLOW_TRACKING_URI is used when set). With ``--key``/``--trust`` the DSSE-signed
checkpoints are verified too. Without an anchor, only the chain's internal consistency is
checked, and the output says so. Exit codes: 0 valid, 1 tampered or disagreeing with its anchor,
2 usage error. ``certify audit show LOG`` prints the entries.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from certify.errors import ExitCode

HELP = "verify or show a deploy audit log"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = sub.add_parser("verify", help="check the hash chain, the anchor and checkpoints")
    verify.add_argument("--tracking-uri", default=None, metavar="URI",
                        help="registry holding the anchor (default: registry.db next to the "
                             "log, else MLFLOW_TRACKING_URI)")
    verify.add_argument("--no-anchor", action="store_true",
                        help="check the chain only (an unanchored copy)")
    trust = verify.add_mutually_exclusive_group()
    trust.add_argument("--key", type=Path, action="append", metavar="PUB",
                       help="public key of the audit checkpoints; may be repeated")
    trust.add_argument("--trust", type=Path, metavar="DIR", help="folder of trusted keys")
    show = sub.add_parser("show", help="print the entries")
    show.add_argument("--last", type=int, default=None, metavar="N", help="only the last N")
    for cmd in (verify, show):
        cmd.add_argument("log", type=Path, metavar="LOG", help="audit.jsonl (or its folder)")
        cmd.add_argument("--json", action="store_true", help="print JSON")


def _log(path: Path) -> Path:
    from certify.deploy.audit import AUDIT_LOG

    return path / AUDIT_LOG if path.is_dir() else path


def main(args: argparse.Namespace) -> ExitCode:
    from certify.deploy.audit import read_entries, verify_log
    from certify.errors import ConfigError

    log = _log(args.log)
    if not log.is_file():
        raise ConfigError(f"{log}: audit log not found")
    if args.audit_command == "show":
        entries = read_entries(log)
        if args.last is not None:
            entries = entries[-args.last:]
        for entry in entries:
            if args.json:
                print(json.dumps(entry, sort_keys=True))
            else:
                detail = entry.get("details") or {}
                extra = detail.get("reason") or detail.get("note") or ""
                print(f"#{entry['seq']:<4} {entry['time']}  {entry['action']:<17} "
                      f"{entry.get('target') or '-':<10} {entry['result']:<12} "
                      f"{'(dry run) ' if entry.get('dry_run') else ''}{entry['actor']}  {extra}")
        return ExitCode.OK
    keyring = None
    if args.key or args.trust:
        from certify.attest.verify import Keyring

        keyring = Keyring.from_dir(args.trust) if args.trust else Keyring.from_files(args.key)
    anchor, where = None, None
    entries = read_entries(log)
    if not args.no_anchor and entries:
        from certify.deploy.registry import EMBEDDED_DB, find_anchor

        uri = args.tracking_uri or (f"sqlite:///{log.parent.resolve() / EMBEDDED_DB}"
                                    if (log.parent / EMBEDDED_DB).is_file()
                                    else os.environ.get("MLFLOW_TRACKING_URI"))
        if uri:
            found = find_anchor(uri, str(entries[0].get("hash")))
            if found is not None:
                where = f"registered model '{found[0]}' in {uri}"
                anchor = found[1]
            elif not args.json:
                print(f"note: no anchor for this log in {uri}")
    report = verify_log(log, anchor=anchor, keyring=keyring)
    if args.json:
        print(json.dumps({**report.summary(), "anchoredIn": where}, indent=2))
    elif report.ok:
        print(f"VALID  {log}: {report.entries} entries, chain intact"
              + (f"; anchored at seq {anchor.seq} ({where})" if anchor else "")
              + (f"; {report.checkpoints} signed checkpoint(s) verified" if keyring else ""))
        for note in report.notes:
            print(f"  note: {note}")
    else:
        print(f"INVALID  {log}: {report.reason}")
    return ExitCode.OK if report.ok else ExitCode.FAILED
