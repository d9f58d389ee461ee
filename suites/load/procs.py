"""Child-process plumbing shared by the model server and the load generators (stdlib only:
the Ray actors import it)."""

from __future__ import annotations

import os
import select
import time
from pathlib import Path


def tail(path: Path, limit: int, lines: int) -> str:
    """The last ``lines`` non-blank lines of a log file, joined with `` | ``, at most ``limit``
    characters ("" when it cannot be read)."""
    try:
        data = path.read_bytes()[-4000:].decode(errors="replace")
    except OSError:
        return ""
    found = [ln for ln in data.splitlines() if ln.strip()]
    return " | ".join(found[-lines:])[-limit:]


class LineReader:
    """Read newline-terminated lines from a pipe with a deadline (no threads)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def readline(self, deadline: float) -> bytes | None:
        """One line, ``b""`` at EOF, or None when the deadline passed first."""
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if not ready:
                continue
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                rest, self.buffer = self.buffer, b""
                return rest
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"
