"""One lock per target: a file ``locks/<target>.lock`` in the state folder, created exclusively.

It names its holder (pid, process start time, host, actor, command, start time). A second
deploy finds it and exits 1 naming the holder. A lock whose holder is gone (a dead process on
this host, or a pid now used by another process) or that is older than the plan's
``timeouts.lock_stale_s`` is stale: the next deploy takes it over (one rename decides who, if
two try at once) and audits the take-over.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from certify.deploy.errors import Locked

LOCKS = "locks"


@dataclass(frozen=True)
class LockHolder:
    target: str
    pid: int
    created: float  # the holder process's start time (psutil), against pid reuse
    host: str
    actor: str
    command: str
    started: float  # epoch seconds
    token: str

    def describe(self) -> str:
        since = dt.datetime.fromtimestamp(self.started, dt.UTC).isoformat(timespec="seconds")
        return (f"{self.actor} (pid {self.pid} on {self.host}, `{self.command}`, since "
                f"{since.replace('+00:00', 'Z')})")

    def stale(self, stale_s: float, now: float | None = None) -> str | None:
        """Why this lock is stale, or None while its holder may still be working."""
        age = (now or time.time()) - self.started
        if age > stale_s:
            return f"older than {stale_s:g} s ({age:.0f} s)"
        if self.host == socket.gethostname():
            try:
                proc = psutil.Process(self.pid)
                if abs(proc.create_time() - self.created) > 1.0:
                    return f"pid {self.pid} now belongs to another process"
                if proc.status() == psutil.STATUS_ZOMBIE:
                    return f"holder process {self.pid} has exited"
            except psutil.NoSuchProcess:
                return f"holder process {self.pid} is gone"
            except psutil.Error:
                return None
        return None


def lock_path(state: Path, target: str) -> Path:
    return state / LOCKS / f"{target}.lock"


def read_holder(path: Path) -> LockHolder | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return LockHolder(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, OSError):
        # A lock file being written right now, or garbage: a holder we cannot name.
        try:
            started = path.stat().st_mtime
        except FileNotFoundError:
            return None
        return LockHolder(target=path.stem, pid=-1, created=0.0, host="?", actor="unknown",
                          command="?", started=started, token="")


class TargetLock:
    """``with TargetLock(...)``: held for the block; ``taken_over`` names a stale holder replaced."""

    def __init__(self, state: Path, target: str, *, actor: str, command: str,
                 stale_s: float) -> None:
        self.path = lock_path(state, target)
        self.target = target
        self.stale_s = stale_s
        me = psutil.Process()
        self.holder = LockHolder(target=target, pid=os.getpid(), created=me.create_time(),
                                 host=socket.gethostname(), actor=actor, command=command,
                                 started=time.time(), token=secrets.token_hex(8))
        self.taken_over: tuple[LockHolder, str] | None = None
        self.held = False

    def acquire(self) -> TargetLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = read_holder(self.path)
                if holder is None:
                    continue  # released meanwhile
                # A half-written file of a live writer gets a moment before it counts as stale.
                why = holder.stale(self.stale_s) if holder.pid != -1 else (
                    "unreadable lock file" if time.time() - holder.started > 5 else None)
                if why is None:
                    raise Locked(f"target '{self.target}' is locked by {holder.describe()}") \
                        from None
                grave = self.path.with_name(f"{self.path.name}.stale-{secrets.token_hex(4)}")
                try:
                    os.rename(self.path, grave)
                except FileNotFoundError:
                    continue  # another deploy took it over first; try again
                grave.unlink(missing_ok=True)
                self.taken_over = (holder, why)
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump(asdict(self.holder), fh)
                fh.flush()
                os.fsync(fh.fileno())
            self.held = True
            return self
        raise Locked(f"target '{self.target}': could not take its lock (contended)")

    def release(self) -> None:
        if not self.held:
            return
        current = read_holder(self.path)
        if current is not None and current.token == self.holder.token:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self.held = False

    def __enter__(self) -> TargetLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def holders(state: Path) -> dict[str, LockHolder]:
    """Every lock file in the state folder, by target."""
    folder = state / LOCKS
    if not folder.is_dir():
        return {}
    out = {}
    for path in sorted(folder.glob("*.lock")):
        holder = read_holder(path)
        if holder is not None:
            out[path.stem] = holder
    return out
