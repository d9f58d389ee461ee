"""The search for raw sensitive values (and recomputable hashes of them) in what a run writes.

:class:`SensitiveIndex` holds the values of the policy's sensitive columns that could identify
someone: every value of a high-cardinality column (distinct values at least ``high_cardinality``
of its non-missing values), else the values found in fewer than ``rare_rows`` rows. It lives in
memory only; nothing of it is written.

:func:`scan_outputs` searches files (and :func:`scan_records` JSON records such as evidence)
for them:

* numbers (a JSON number, or a number written in text) match a numeric sensitive value when
  they are that value at the precision the data has (``40123.45`` matches ``40123.45``,
  ``40123.450`` and ``40123.450000000004``; ``40123.4`` and ``40123.4523`` do not). Values of at
  most two significant digits (``40000``, ``0.35``, an age of ``74``) are coarse by
  construction and never searched: bin edges and rounded quantiles look exactly like them, and
  they collide with counts and percentages everywhere;
* a number written as an integer (a JSON integer, a ``.npy`` array of integers, or digits with
  no decimal point or exponent in text) matches only a column whose values are whole numbers:
  it does not show a column's decimals, and whole numbers are what a run's own bookkeeping
  writes (process ids, ports, counts). An income of ``39875.00`` written as the float
  ``39875.0`` is found; the port ``39875`` is not. (Before this rule, a Locust process id that
  happened to equal a whole-number income rejected an honest demo run.);
* operational fields are not searched for numbers: an integer under a key that names a process
  id, a port or a seed (``pid``, ``actor_pid``, ``port``, ``seed``, ``hypothesis_seed``, their
  plurals), and the host and port of a URL in text (``http://127.0.0.1:39875/``). Words and
  hashes in them still are;
* text values match as whole words, case-insensitively (``John Smith`` in
  ``"applicant john smith, 41"``, not in ``"johnsmithson"``); shorter than
  ``min_text_length`` letters and digits, they are not searched;
* an unkeyed hash of a value (sha256, sha1 or md5 of its text, full or cut to 12 hex digits or
  more) counts as the value (:func:`certify.masking.unkeyed_hashes`): anybody can recompute it
  from a list of plausible values. The run's keyed pseudonyms (``masked:...``) cannot be;
* numeric arrays (``.npy``): a finding when at least 1% of the elements are identifying values
  of one column (a lone coincidence between two columns on the same scale is not one);
* other files are read as text (UTF-8, else byte by byte).

Exempt (coarse by construction): the bin edges of a sensitive column in the drift baseline's
``manifest.json`` (``features[].edges`` with ``storage = "binned_counts"``) when every bin
counts at least ``rare_rows`` rows; and, anywhere, numbers of at most two significant digits
(above). A finding names the file and the field (a JSON path, or a line), the column and the
kind of leak, never the value.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: The recomputable hashes of :func:`certify.masking.unkeyed_hashes`.
HASHES = (hashlib.sha256, hashlib.sha1, hashlib.md5)

#: Numbers of at most this many significant digits are coarse (never searched).
COARSE_DIGITS = 2
#: Share of an array's elements that must be identifying values of one column.
ARRAY_SHARE = 0.01
#: Most findings kept (the count says how many there were).
MAX_FINDINGS = 50
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w]|\.\d)")
WORD = re.compile(r"\w+")
HEX = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{12,}(?![0-9a-fA-F])")
#: A JSON key whose integers are the run's bookkeeping (module doc), never data.
OPERATIONAL_KEY = re.compile(r"(?:^|_)(?:pid|port|seed)s?$", re.IGNORECASE)
#: The scheme, host and port of a URL in text (its numbers are not searched).
URL_AUTHORITY = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s/\"'<>]*")
DRIFT_MANIFEST = "drift-baseline/manifest.json"


@dataclass(frozen=True)
class Finding:
    """One leak: where (file, field), of which column, and how (never the value).

    ``path``: for a JSON file, the field's path as keys and positions (``key`` when the hit
    is a mapping's key itself), for :func:`redact`; in memory only: a key on it may be the
    raw value, so it is never written (``field`` names it safely)."""

    file: str
    field: str
    column: str
    kind: str  # "raw value" or "unkeyed hash"
    path: tuple[Any, ...] | None = dataclasses.field(default=None, repr=False, compare=False)
    key: bool = dataclasses.field(default=False, repr=False, compare=False)

    def describe(self) -> str:
        return f"{self.file}: {self.field}: {self.kind} of sensitive column '{self.column}'"

    def __str__(self) -> str:
        return self.describe()

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "field": self.field, "column": self.column, "kind": self.kind}


def decimals_of(values: np.ndarray) -> int:
    """The precision of a numeric column: the fewest decimals (0..10) that write every value."""
    finite = values[np.isfinite(values)]
    for d in range(11):
        if np.all(np.abs(finite - np.round(finite, d)) <= 1e-9 * np.maximum(1.0, np.abs(finite))):
            return d
    return 10


def coarse_mask(values: np.ndarray, decimals: int) -> np.ndarray:
    """Which ``values`` (at ``decimals``) have at most :data:`COARSE_DIGITS` significant digits."""
    v = np.round(np.abs(values), decimals)
    out = v == 0
    nz = ~out
    mag = np.floor(np.log10(v[nz]))
    unit = 10.0 ** (mag - (COARSE_DIGITS - 1))
    rounded = np.round(v[nz] / unit) * unit
    out[nz] = np.abs(v[nz] - rounded) <= 1e-9 * np.maximum(1.0, v[nz])
    return out


@dataclass
class ColumnInfo:
    """What is searched for one sensitive column (counts only: written into the evidence)."""

    kind: str
    rows: int
    distinct: int
    why: str
    searched: int = 0
    coarse: int = 0
    short: int = 0
    decimals: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "rows": self.rows, "distinct": self.distinct, "why": self.why,
                "searched": self.searched, "left_out_coarse": self.coarse,
                "left_out_short": self.short, "decimals": self.decimals}


@dataclass
class SensitiveIndex:
    """Identifying values of the sensitive columns (in memory only) and how to find them."""

    rare_rows: int = 5
    columns: dict[str, ColumnInfo] = field(default_factory=dict)
    #: decimals -> {value rounded to them: column}
    numbers: dict[int, dict[float, str]] = field(default_factory=dict)
    #: first word -> [(words, column)]
    words: dict[str, list[tuple[tuple[str, ...], str]]] = field(default_factory=dict)
    #: first 12 hex digits of an unkeyed hash -> column
    hashes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, frames: Sequence[pd.DataFrame], columns: Iterable[str], *, rare_rows: int = 5,
              high_cardinality: float = 0.5, min_text_length: int = 4) -> SensitiveIndex:
        index = cls(rare_rows=rare_rows)
        for column in columns:
            parts = [f[column] for f in frames if column in f.columns]
            if not parts:
                continue
            series = pd.concat(parts, ignore_index=True).dropna()
            counts = series.value_counts(dropna=True, sort=False)
            high = len(series) > 0 and len(counts) >= high_cardinality * len(series)
            chosen = counts.index if high else counts.index[counts.to_numpy() < rare_rows]
            why = ("high-cardinality: every value" if high
                   else f"values in fewer than {rare_rows} rows")
            numeric = (pd.api.types.is_numeric_dtype(series)
                       and not pd.api.types.is_bool_dtype(series))
            info = ColumnInfo("numeric" if numeric else "text", len(series), len(counts), why)
            if numeric:
                index._add_numbers(column, info, np.asarray(chosen, dtype=float),
                                   decimals_of(series.to_numpy(dtype=float)))
            else:
                index._add_texts(column, info, [str(v) for v in chosen], min_text_length)
            index.columns[column] = info
        return index

    def _add_numbers(self, column: str, info: ColumnInfo, values: np.ndarray, d: int) -> None:
        info.decimals = d
        values = values[np.isfinite(values)]
        coarse = coarse_mask(values, d)
        info.coarse += int(coarse.sum())
        kept = values[~coarse]
        table = self.numbers.setdefault(d, {})
        table.update(dict.fromkeys(np.round(kept, d).tolist(), column))
        info.searched += len(kept)
        for v in kept.tolist():
            fixed = f"{v:.{d}f}"
            self._add_hashes(fixed, column)
            if repr(v) != fixed:
                self._add_hashes(repr(v), column)
            if v.is_integer():
                self._add_hashes(str(int(v)), column)

    def _add_texts(self, column: str, info: ColumnInfo, values: list[str], min_len: int) -> None:
        for raw in values:
            text = raw.strip()
            words = tuple(WORD.findall(text.lower()))
            if sum(len(w) for w in words) < min_len:
                info.short += 1
                continue
            self.words.setdefault(words[0], []).append((words, column))
            info.searched += 1
            for form in {text, raw, text.lower()}:
                self._add_hashes(form, column)

    def _add_hashes(self, text: str, column: str) -> None:
        # Every text of certify.masking.unkeyed_hashes (a digest, or a prefix of 12 or 16 hex
        # digits) starts with the digest's first 12 hex digits: those are kept.
        data = text.encode()
        for new in HASHES:
            self.hashes[new(data).hexdigest()[:12]] = column

    @property
    def searched(self) -> int:
        return sum(c.searched for c in self.columns.values())

    # -- matching -------------------------------------------------------------------------------
    def number(self, value: float, integral: bool = False) -> str | None:
        """The column whose identifying value ``value`` is (at that column's precision).
        ``integral``: ``value`` was written as an integer, so only columns of whole numbers
        can be it (module doc)."""
        if not math.isfinite(value):
            return None
        for d, table in self.numbers.items():
            if integral and d > 0:
                continue
            rounded = round(value, d)
            if rounded in table and abs(value - rounded) <= max(10.0 ** -(d + 4),
                                                                  1e-12 * abs(rounded)):
                return table[rounded]
        return None

    def text(self, text: str) -> list[tuple[str, str]]:
        """``(column, kind)`` of every identifying value in ``text``."""
        hits: list[tuple[str, str]] = []
        if self.numbers:
            for m in NUMBER.finditer(URL_AUTHORITY.sub(" ", text)):
                token = m.group()
                try:
                    col = self.number(float(token), integral=token.isdigit()
                                      or token[1:].isdigit())
                except ValueError:
                    continue
                if col is not None:
                    hits.append((col, "raw value"))
        if self.words:
            words = WORD.findall(text.lower())
            for i, w in enumerate(words):
                for seq, col in self.words.get(w, ()):
                    if tuple(words[i:i + len(seq)]) == seq:
                        hits.append((col, "raw value"))
        if self.hashes:
            for m in HEX.finditer(text):
                col = self.hashes.get(m.group()[:12].lower())
                if col is not None:
                    hits.append((col, "unkeyed hash"))
        return hits


# -- scanning -------------------------------------------------------------------------------------

#: ``(file, JSON path, the mapping or list holding the value) -> skip it``.
Exempt = Callable[[str, tuple[Any, ...], Any], bool]


class _Scan:
    def __init__(self, index: SensitiveIndex, exempt: Exempt | None = None) -> None:
        self.index = index
        self.exempt = exempt
        self.found: list[Finding] = []
        self.seen: set[tuple[str, str, str, str]] = set()
        self.count = 0

    def add(self, file: str, where: str, column: str, kind: str,
            path: tuple[Any, ...] | None = None, key: bool = False) -> None:
        seen = (file, where, column, kind)
        if seen in self.seen:
            return
        self.seen.add(seen)
        self.count += 1
        if len(self.found) < MAX_FINDINGS:
            self.found.append(Finding(file, where, column, kind, path, key))

    def json(self, file: str, value: Any, path: tuple[Any, ...] = (), parent: Any = None,
             shown: tuple[Any, ...] = ()) -> None:
        """``path``: the real keys (for :func:`redact`); ``shown``: the same path with every
        key that is itself a hit replaced by its position (``#3``), for the finding's text."""
        if self.exempt is not None and self.exempt(file, shown, parent):
            return
        if isinstance(value, Mapping):
            for i, (key, item) in enumerate(value.items()):
                hits = self.index.text(str(key))
                label: Any = f"#{i}" if hits else key
                for col, kind in hits:
                    self.add(file, _path((*shown, label)) + " (a key)", col, kind,
                             (*path, key), key=True)
                self.json(file, item, (*path, key), value, (*shown, label))
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                self.json(file, item, (*path, i), value, (*shown, i))
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, int | float):
            if isinstance(value, int) and _operational(shown):
                return
            column = self.index.number(float(value), integral=isinstance(value, int))
            hits = [(column, "raw value")] if column is not None else []
            if isinstance(value, int):
                hits += self.index.text(str(value))
            for col_, kind in hits:
                self.add(file, _path(shown), col_, kind, path)
        else:
            for col, kind in self.index.text(str(value)):
                self.add(file, _path(shown), col, kind, path)

    def text(self, file: str, text: str) -> None:
        for n, line in enumerate(text.splitlines(), start=1):
            for col, kind in self.index.text(line):
                self.add(file, f"line {n}", col, kind)

    def array(self, file: str, array: np.ndarray) -> None:
        if array.dtype.kind not in "fiu" or array.size == 0:
            return
        hits: dict[str, int] = {}
        integral = array.dtype.kind in "iu"
        for v in np.unique(array.ravel()).tolist():
            col = self.index.number(float(v), integral=integral)
            if col is not None:
                hits[col] = hits.get(col, 0) + int(np.count_nonzero(array == v))
        for col, n in hits.items():
            if n >= ARRAY_SHARE * array.size:
                self.add(file, f"array ({n} of {array.size} elements)", col, "raw value")


def _operational(path: tuple[Any, ...]) -> bool:
    """Whether the innermost key of ``path`` (a list's items: the list's key) names the run's
    bookkeeping (:data:`OPERATIONAL_KEY`)."""
    key = next((p for p in reversed(path) if isinstance(p, str)), None)
    return key is not None and OPERATIONAL_KEY.search(key) is not None


def _path(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (("." if out else "") + str(part))
    return out or "(top level)"


def drift_edges_exempt(rare_rows: int) -> Exempt:
    """The coarse bin edges of the drift baseline's binned sensitive columns (module doc):
    ``features[i].edges`` of ``manifest.json`` when that entry's storage is ``binned_counts``
    and every bin counts at least ``rare_rows`` rows."""

    def exempt(file: str, path: tuple[Any, ...], parent: Any) -> bool:
        if not file.endswith(DRIFT_MANIFEST) or len(path) != 3:
            return False
        if path[0] != "features" or path[2] != "edges" or not isinstance(parent, Mapping):
            return False
        counts = parent.get("bin_counts")
        return (parent.get("storage") == "binned_counts" and isinstance(counts, list)
                and bool(counts) and all(isinstance(c, int) and c >= rare_rows for c in counts))

    return exempt


@dataclass
class ScanReport:
    """What a scan looked at and what it found (no values)."""

    findings: list[Finding] = field(default_factory=list)
    total: int = 0
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    records: int = 0
    truncated: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"findings": [f.to_dict() for f in self.findings], "total": self.total,
                "files": len(self.files), "file_names": self.files[:200], "bytes": self.bytes,
                "records": self.records, "truncated": self.truncated,
                "unreadable": self.unreadable}


def _files(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()))
        elif path.is_file():
            out.append(path)
    return out


def scan_outputs(paths: Iterable[Path], index: SensitiveIndex, *, root: Path | None = None,
                 max_bytes: int = 64 << 20, exempt: Exempt | None = None,
                 report: ScanReport | None = None) -> list[Finding]:
    """Findings in ``paths`` (files, or folders searched recursively), named relative to
    ``root``. ``index`` says what to look for (:meth:`SensitiveIndex.build`); ``exempt`` skips
    coarse fields (default: :func:`drift_edges_exempt`). The plain function a run's final scan
    calls on report.json, report.html and the statement."""
    report = report if report is not None else ScanReport()
    scan = _Scan(index, exempt if exempt is not None else drift_edges_exempt(index.rare_rows))
    for path in _files(paths):
        name = path.relative_to(root).as_posix() if root and path.is_relative_to(root) else path.name
        report.files.append(name)
        try:
            _scan_file(scan, path, name, max_bytes, report)
        except OSError:
            report.unreadable.append(name)
    report.findings, report.total = scan.found, scan.count
    return scan.found


def _scan_file(scan: _Scan, path: Path, name: str, max_bytes: int, report: ScanReport) -> None:
    size = path.stat().st_size
    report.bytes += min(size, max_bytes)
    if size > max_bytes:
        report.truncated.append(name)
    if path.suffix == ".npy" and size <= max_bytes:
        try:
            with path.open("rb") as fh:
                scan.array(name, np.load(fh, allow_pickle=False))
            return
        except ValueError:
            pass  # not a plain numeric array: read it as bytes below
    with path.open("rb") as fh:
        data = fh.read(min(size, max_bytes))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        scan.text(name, data.decode("latin-1"))
        return
    if path.suffix == ".json" and size <= max_bytes:
        try:
            scan.json(name, json.loads(text))
            return
        except ValueError:
            pass
    scan.text(name, text)


def scan_records(records: Iterable[tuple[str, Any]], index: SensitiveIndex,
                 report: ScanReport | None = None) -> list[Finding]:
    """Findings in JSON records (``(name, value)``, e.g. the evidence recorded so far)."""
    scan = _Scan(index)
    n = 0
    for name, value in records:
        n += 1
        scan.json(name, value)
    if report is not None:
        report.records += n
        report.findings += scan.found
        report.total += scan.count
    return scan.found


#: What :func:`redact` writes in place of a leaked field.
WITHHELD = "[withheld: raw sensitive value]"


def redact(data: Any, findings: Iterable[Finding], file: str) -> Any:
    """A copy of the JSON value ``data`` (the contents of ``file``) with every field that a
    finding in ``file`` names replaced by :data:`WITHHELD` (a leaked key: the key is renamed).
    For a session that writes a report even though its final scan found a leak."""
    out = json.loads(json.dumps(data))
    for finding in findings:
        if finding.file != file or finding.path is None:
            continue
        if not finding.path:
            out = WITHHELD
            continue
        *parents, last = finding.path
        holder = out
        try:
            for part in parents:
                holder = holder[part]
            if finding.key:
                holder[f"{WITHHELD} #{list(holder).index(last)}"] = holder.pop(last)
            else:
                holder[last] = WITHHELD
        except (KeyError, IndexError, TypeError, ValueError):
            continue
    return out
