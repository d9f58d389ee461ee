"""Evidence on the page: one entry per check whose reason, deciding value and threshold always
show, and the verdict's reasons linked to the entries (and counterexamples) they come from."""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from certify.evidence import Evidence, Status
from certify.view import clip, fmt

#: Caps that keep the page bounded whatever the number of checks.
MAX_EVIDENCE_ROWS = 200
MAX_VALUE_LINES = 4
STATUS_ORDER = {"failed": 0, "errored": 1, "warned": 2, "skipped": 3, "passed": 4, "info": 5}


@dataclasses.dataclass
class Link:
    text: str
    href: str | None


@dataclasses.dataclass
class EvidenceRow:
    id: str
    anchor: str
    description: str
    status: str
    waived: str
    #: The figures the check was decided on (its comparisons, the ones that did not pass first).
    values: list[str]
    thresholds: list[str]
    #: Figures recorded without a threshold (what an ``info`` or unjudged check measured).
    measured: list[str]
    reason: str
    seed: int | None
    counterexample: Link | None


@dataclasses.dataclass
class ArtifactRow:
    path: str
    href: str | None
    sha256: str
    description: str
    check: str


@dataclasses.dataclass
class ReasonView:
    """One reason of the verdict: its text, the entry it comes from, its counterexample."""

    text: str
    check: str | None
    href: str | None
    counterexample: Link | None


def anchor(check_id: str) -> str:
    """The page anchor of a check's entry (unique per id, readable)."""
    return "ev-" + re.sub(r"[^A-Za-z0-9_-]+", "-", check_id).strip("-")


def safe_href(rel: str, run_dir: Path, out_dir: Path) -> str | None:
    """A relative link from the page to ``run_dir/rel``; None for paths that leave the run."""
    if not rel or rel.startswith(("/", "\\")) or ":" in rel or "\\" in rel:
        return None
    parts = posixpath.normpath(rel).split("/")
    if ".." in parts or parts[0] in ("", "."):
        return None
    target = os.path.relpath(run_dir / Path(*parts), out_dir)
    return quote(Path(target).as_posix(), safe="/")


def _values(record: Evidence) -> tuple[list[str], list[str], list[str]]:
    """Deciding values and thresholds (comparisons, not-passed first), and measured figures."""
    ordered = sorted(record.comparisons, key=lambda c: c.status is Status.PASSED)
    values, thresholds = [], []
    for c in ordered[:MAX_VALUE_LINES]:
        values.append(f"{c.metric} = {fmt(c.value)}")
        level = f"{c.op} {fmt(c.fail)}"
        if c.warn is not None:
            level += f" (warns past {fmt(c.warn)})"
        thresholds.append(f"{c.metric} {level}")
    if len(ordered) > MAX_VALUE_LINES:
        values.append(f"… {len(ordered) - MAX_VALUE_LINES} more in report.json")
    measured: list[str] = []
    if not values:
        scalars = [(k, v) for k, v in record.metrics.items()
                   if isinstance(v, int | float | str | bool) and not isinstance(v, bool)]
        measured = [f"{k} = {fmt(v) if not isinstance(v, str) else clip(v, 80)}"
                    for k, v in scalars[:3]]
    return values, thresholds, measured


def _counterexample(record: Evidence, run_dir: Path, out_dir: Path) -> Link | None:
    for artifact in record.artifacts:
        if "counterexample" in artifact.path or "counterexample" in artifact.description:
            return Link(clip(artifact.path, 200), safe_href(artifact.path, run_dir, out_dir))
    return None


def evidence_rows(records: Sequence[Evidence], run_dir: Path, out_dir: Path,
                  limit: int = MAX_EVIDENCE_ROWS) -> tuple[list[EvidenceRow], str]:
    """Failed, errored, warned, skipped, passed, then info; capped (passed rows are cut first)."""
    ordered = sorted(records, key=lambda r: (STATUS_ORDER.get(r.status.value, 9), r.id))
    rows = []
    for r in ordered[:limit]:
        values, thresholds, measured = _values(r)
        waived = ""
        if r.waiver is not None:
            waived = (f"waived ({r.waiver.original_status.value}): {r.waiver.reason} — "
                      f"{r.waiver.approver}, until {r.waiver.expires}")
        rows.append(EvidenceRow(
            id=r.id, anchor=anchor(r.id), description=r.description, status=r.status.value,
            waived=clip(waived, 300), values=[clip(v, 160) for v in values],
            thresholds=[clip(t, 160) for t in thresholds], measured=[clip(m, 160) for m in measured],
            reason=clip(r.reason, 2000), seed=r.seed,
            counterexample=_counterexample(r, run_dir, out_dir)))
    note = ""
    if len(ordered) > limit:
        hidden: dict[str, int] = {}
        for r in ordered[limit:]:
            hidden[r.status.value] = hidden.get(r.status.value, 0) + 1
        note = (f"{len(ordered) - limit} more checks not shown here ("
                + ", ".join(f"{n} {s}" for s, n in hidden.items()) + "); all are in report.json.")
    return rows, note


def reason_views(reasons: Sequence[str], records: Sequence[Evidence], run_dir: Path,
                 out_dir: Path) -> list[ReasonView]:
    """The verdict's reasons, each linked to the check it names (``<id> failed: ...``)."""
    by_id = {r.id: r for r in records}
    out = []
    for text in reasons:
        head = text.split(" ", 1)[0]
        record = by_id.get(head)
        if record is None:
            out.append(ReasonView(clip(text, 2000), None, None, None))
            continue
        out.append(ReasonView(clip(text, 2000), record.id, "#" + anchor(record.id),
                              _counterexample(record, run_dir, out_dir)))
    return out


def artifact_rows(records: Sequence[Evidence], run_dir: Path, out_dir: Path, limit: int = 100
                  ) -> list[ArtifactRow]:
    seen: set[str] = set()
    out = []
    for r in records:
        for a in r.artifacts:
            if a.path in seen:
                continue
            seen.add(a.path)
            out.append(ArtifactRow(path=clip(a.path, 200), href=safe_href(a.path, run_dir, out_dir),
                                   sha256=clip(a.sha256, 80), description=clip(a.description, 200),
                                   check=r.id))
            if len(out) >= limit:
                return out
    return out
