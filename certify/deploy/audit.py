"""The audit trail: an append-only, hash-chained JSONL log in the state folder.

Every gate decision, registry change, weight change, analysis result, promotion, rollback,
adoption and lock take-over is one line: ``seq`` (1, 2, ...), ``time``, ``actor`` (user@host or
the CI run), ``action``, ``target``, the ``certificate`` and ``plan`` digests, ``before`` and
``after`` (the state it changed), ``result``, ``details``, ``dry_run``, ``prev`` (the previous
entry's hash) and ``hash`` (sha256 of the entry's canonical JSON without ``hash``: sorted keys,
no spaces, UTF-8).

:func:`verify_log` names the first bad entry: an edited line (its hash does not match its
content), a removed, inserted or reordered line (``seq`` or ``prev`` out of step). A chain that
was rewritten from some point on, hashes and all, or a cut tail, is internally consistent: only
an *anchor* kept elsewhere shows it. After each action the last ``seq`` and ``hash`` are written
to the registry (:meth:`certify.deploy.registry.Registry.set_anchor`); with a signing key each
anchor is also a DSSE-signed checkpoint (``audit.checkpoints.jsonl``), verifiable offline.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certify.attest.dsse import parse_envelope, strict_json_loads
from certify.attest.signer import Signer, sign_envelope
from certify.attest.verify import Keyring, check_signature
from certify.errors import ConfigError, VerificationError

AUDIT_LOG = "audit.jsonl"
CHECKPOINTS = "audit.checkpoints.jsonl"
GENESIS = "sha256:" + "0" * 64
CHECKPOINT_TYPE = "application/vnd.pytest-certify.audit-checkpoint+json"
CHECKPOINT_SCHEMA = "https://pytest-certify.dev/audit-checkpoint/v1"
FIELDS = ("seq", "time", "actor", "action", "target", "certificate", "plan", "before", "after",
          "result", "details", "dry_run", "prev", "hash")


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return "sha256:" + hashlib.sha256(canonical(body)).hexdigest()


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Anchor:
    """Where the log stood after the last action, kept outside it (in the registry)."""

    log: str  # hash of the first entry: which log this anchors
    seq: int
    hash: str


class AuditLog:
    """Append-only JSONL; appends are serialised with an exclusive ``flock`` on the file."""

    def __init__(self, path: Path, *, actor: str, plan_digest: str,
                 signer: Signer | None = None) -> None:
        self.path = path
        self.actor = actor
        self.plan_digest = plan_digest
        self.signer = signer

    def entries(self) -> list[dict[str, Any]]:
        return read_entries(self.path)

    def tail(self, n: int) -> list[dict[str, Any]]:
        return self.entries()[-n:] if n > 0 else []

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Any]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield fh
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def append(self, action: str, *, target: str | None = None, certificate: str | None = None,
               before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
               result: str = "ok", details: dict[str, Any] | None = None,
               dry_run: bool = False) -> dict[str, Any]:
        """Append one entry (chained to the last line) and return it."""
        with self._locked() as fh:
            fh.seek(0)
            last = _last_line(fh.read())
            prev_seq, prev_hash = 0, GENESIS
            if last:
                try:
                    previous = json.loads(last)
                    prev_seq, prev_hash = int(previous["seq"]), str(previous["hash"])
                except (ValueError, KeyError, TypeError):
                    raise ConfigError(f"{self.path}: the last line is not an audit entry; "
                                      "run `certify audit verify`") from None
            entry: dict[str, Any] = {
                "seq": prev_seq + 1, "time": now_rfc3339(), "actor": self.actor,
                "action": action, "target": target, "certificate": certificate,
                "plan": self.plan_digest, "before": before or {}, "after": after or {},
                "result": result, "details": details or {}, "dry_run": dry_run,
                "prev": prev_hash,
            }
            entry["hash"] = entry_hash(entry)
            fh.seek(0, os.SEEK_END)
            fh.write(canonical(entry) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        return entry

    def anchor(self) -> Anchor | None:
        entries = self.entries()
        if not entries:
            return None
        return Anchor(log=str(entries[0]["hash"]), seq=int(entries[-1]["seq"]),
                      hash=str(entries[-1]["hash"]))

    def checkpoint(self) -> dict[str, Any] | None:
        """Sign the current end of the log (a DSSE envelope appended to the checkpoints file)."""
        anchor = self.anchor()
        if self.signer is None or anchor is None:
            return None
        payload = canonical({"_type": CHECKPOINT_SCHEMA, "log": anchor.log, "seq": anchor.seq,
                             "hash": anchor.hash, "time": now_rfc3339()})
        envelope = sign_envelope(payload, CHECKPOINT_TYPE, self.signer)
        path = self.path.with_name(CHECKPOINTS)
        with path.open("ab") as fh:
            fh.write(canonical(envelope.to_dict()) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        return {"seq": anchor.seq, "keyid": self.signer.keyid}


def _last_line(data: bytes) -> bytes:
    lines = [ln for ln in data.splitlines() if ln.strip()]
    return lines[-1] if lines else b""


def read_entries(path: Path) -> list[dict[str, Any]]:
    """The log's entries (lines that do not parse are skipped: :func:`verify_log` names them)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_bytes().splitlines():
        with contextlib.suppress(ValueError):
            value = json.loads(line)
            if isinstance(value, dict):
                out.append(value)
    return out


@dataclass
class AuditReport:
    """What :func:`verify_log` found; ``ok`` is False at the first bad entry."""

    path: Path
    entries: int = 0
    ok: bool = True
    bad_seq: int | None = None
    bad_line: int | None = None
    reason: str | None = None
    anchor: Anchor | None = None
    unanchored: int = 0
    checkpoints: int = 0
    notes: list[str] = field(default_factory=list)

    def fail(self, line: int | None, seq: int | None, reason: str) -> AuditReport:
        self.ok, self.bad_line, self.bad_seq, self.reason = False, line, seq, reason
        return self

    def summary(self) -> dict[str, Any]:
        return {"log": str(self.path), "valid": self.ok, "entries": self.entries,
                "badSeq": self.bad_seq, "badLine": self.bad_line, "reason": self.reason,
                "anchor": None if self.anchor is None else vars(self.anchor),
                "unanchored": self.unanchored, "checkpoints": self.checkpoints,
                "notes": self.notes}


def verify_log(path: Path, *, anchor: Anchor | None = None,
               keyring: Keyring | None = None) -> AuditReport:
    """Check the chain line by line, then against ``anchor`` and (with ``keyring``) the signed
    checkpoints. The first problem ends the check."""
    report = AuditReport(path)
    if not path.is_file():
        raise ConfigError(f"{path}: audit log not found")
    lines = path.read_bytes().splitlines()
    prev_hash, expected = GENESIS, 1
    by_seq: dict[int, str] = {}
    first = None
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            entry = strict_json_loads(raw)
        except ValueError as exc:
            return report.fail(number, None, f"line {number} is not a JSON entry ({exc})")
        if not isinstance(entry, dict) or set(entry) != set(FIELDS):
            return report.fail(number, None, f"line {number} is not an audit entry "
                                             "(fields missing or extra)")
        seq = entry["seq"]
        if entry["hash"] != entry_hash(entry):
            return report.fail(number, seq, f"entry seq {seq} (line {number}) was edited: its "
                                            "hash does not match its content")
        if seq != expected:
            what = "removed" if isinstance(seq, int) and seq > expected else "inserted or reordered"
            return report.fail(number, seq, f"entry seq {seq} (line {number}) is out of sequence "
                                            f"(expected {expected}): entries {what}")
        if entry["prev"] != prev_hash:
            return report.fail(number, seq, f"entry seq {seq} (line {number}) does not chain to "
                                            "the entry before it: entries inserted, removed or "
                                            "reordered")
        first = first or entry["hash"]
        prev_hash, expected = entry["hash"], expected + 1
        by_seq[seq] = entry["hash"]
        report.entries += 1
    last = expected - 1
    if anchor is not None:
        report.anchor = anchor
        if first is not None and anchor.log != first:
            return report.fail(1, 1, "the log's first entry is not the one its registry anchor "
                                     "names: the whole log was replaced")
        if anchor.seq > last:
            return report.fail(None, anchor.seq,
                               f"the log ends at seq {last} but its registry anchor is at seq "
                               f"{anchor.seq}: entries {last + 1}..{anchor.seq} were cut")
        if by_seq.get(anchor.seq) != anchor.hash:
            return report.fail(None, anchor.seq,
                               f"entry seq {anchor.seq} is not the one anchored in the registry: "
                               "the chain was rewritten")
        report.unanchored = last - anchor.seq
        if report.unanchored:
            report.notes.append(f"{report.unanchored} entr(y/ies) after seq {anchor.seq} are not "
                                "anchored yet (a deploy stopped between writing and anchoring)")
    else:
        report.notes.append("no anchor given: only the chain's internal consistency was checked "
                            "(a rewritten chain or a cut tail cannot be seen without it)")
    if keyring is not None:
        return _verify_checkpoints(report, path.with_name(CHECKPOINTS), keyring, by_seq, first)
    return report


def _verify_checkpoints(report: AuditReport, path: Path, keyring: Keyring,
                        by_seq: dict[int, str], first: str | None) -> AuditReport:
    if not path.is_file():
        return report.fail(None, None, f"{path.name}: no signed checkpoints next to the log")
    last_seq = max(by_seq, default=0)
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            envelope = parse_envelope(raw)
            check_signature(envelope, keyring)
            point = strict_json_loads(envelope.payload)
        except (VerificationError, ValueError) as exc:
            return report.fail(None, None, f"{path.name} line {number}: not a valid signed "
                                           f"checkpoint ({exc})")
        if envelope.payload_type != CHECKPOINT_TYPE or point.get("_type") != CHECKPOINT_SCHEMA:
            return report.fail(None, None, f"{path.name} line {number}: not a checkpoint")
        seq = int(point["seq"])
        if point.get("log") != first:
            return report.fail(1, 1, f"{path.name} line {number}: signed for another log")
        if seq > last_seq:
            return report.fail(None, seq, f"signed checkpoint at seq {seq} but the log ends at "
                                          f"seq {last_seq}: entries were cut")
        if by_seq.get(seq) != point.get("hash"):
            return report.fail(None, seq, f"entry seq {seq} is not the one signed in checkpoint "
                                          f"{number}: the chain was rewritten")
        report.checkpoints += 1
    return report
