"""The run directory: one folder per run, written in place, published atomically.

A run writes into ``<out>/.<run-id>.partial/``; only when everything is written is the
folder renamed to ``<out>/<run-id>/`` and the ``latest`` pointer moved to it. An
interrupted run therefore never leaves a folder that looks complete, and no run
overwrites another's outputs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from certify.errors import CertifyError

REPORT_JSON = "report.json"
STATEMENT_JSON = "statement.json"
CERTIFICATE = "certificate.intoto.json"
REPORT_HTML = "report.html"
SUMMARY_MD = "summary.md"
DRIFT_BASELINE = "drift-baseline"
PUBLIC_KEY = "public-key.pem"
ARTIFACTS = "artifacts"
LATEST = "latest"


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write(path: Path, data: bytes | str, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    payload = data.encode() if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; outputs get the usual permissions unless asked otherwise.
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def directory_manifest(path: Path) -> list[tuple[str, str]]:
    """Sorted ``(relative posix path, sha256 hex)`` of every file under ``path``."""
    out = []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        out.append((file.relative_to(path).as_posix(), hashlib.sha256(file.read_bytes()).hexdigest()))
    return sorted(out)


def directory_digest(path: Path) -> str:
    """``sha256:`` of the sorted manifest ``"<sha256>  <relpath>\n"`` lines of ``path``'s files.

    This is the digest of a directory artifact (the drift baseline) in the certificate.
    """
    lines = "".join(f"{digest}  {rel}\n" for rel, digest in directory_manifest(path))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


def write_json(path: Path, value: Any) -> None:
    atomic_write(path, json.dumps(value, indent=2, sort_keys=False, allow_nan=False) + "\n")


class RunDir:
    """The folder of one run, created as ``.partial`` and published by :meth:`publish`."""

    def __init__(self, root: Path, run_id: str | None = None) -> None:
        self.root = root
        self.run_id = run_id or new_run_id()
        self.final = root / self.run_id
        self.path = root / f".{self.run_id}.partial"
        if self.final.exists():
            raise CertifyError(f"output folder {self.final} already exists; refusing to overwrite it")
        self.path.mkdir(parents=True, exist_ok=False)
        self.published = False

    def publish(self) -> Path:
        """Move the complete run into place and point ``latest`` at it."""
        os.replace(self.path, self.final)
        self.published = True
        link = self.root / LATEST
        tmp = self.root / f".{LATEST}.{secrets.token_hex(4)}"
        try:
            os.symlink(self.run_id, tmp)
            os.replace(tmp, link)
        except OSError:  # filesystems without symlinks: a text pointer instead
            tmp.unlink(missing_ok=True)
            if link.is_symlink() or link.is_file():
                link.unlink()
            atomic_write(self.root / (LATEST + ".txt"), self.run_id + "\n")
        return self.final

    def discard(self) -> None:
        """Remove an unfinished run (used when the run is interrupted)."""
        if not self.published:
            shutil.rmtree(self.path, ignore_errors=True)


def latest_run(root: Path) -> Path | None:
    link = root / LATEST
    if link.is_symlink() or link.is_dir():
        return link.resolve()
    pointer = root / (LATEST + ".txt")
    if pointer.is_file():
        return root / pointer.read_text().strip()
    return None
