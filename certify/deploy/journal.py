"""The rollout in progress, written atomically to ``rollout.json`` in the state folder before and
after each phase, so that ``certify deploy status`` can say what a killed deploy left behind and
``certify deploy rollback`` knows which champion to return to.

Phases: ``started`` -> ``prepared`` -> ``step`` (with its index and weight) -> ``promoting`` ->
``promoted``; or -> ``rolling-back`` -> ``rolled-back``. A phase other than ``promoted`` /
``rolled-back`` with its process gone is an *interrupted* rollout: never reported as done.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from certify.outputs import atomic_write

JOURNAL = "rollout.json"
FINAL_PHASES = ("promoted", "rolled-back")


@dataclass
class Rollout:
    version: int
    certificate: str | None
    steps: list[float]
    champion_before: int | None
    previous_before: int | None
    targets: list[str]
    phase: str = "started"
    step: int | None = None
    weight: float = 0.0
    reason: str | None = None
    pid: int = field(default_factory=os.getpid)
    created: float = field(default_factory=lambda: psutil.Process().create_time())
    host: str = field(default_factory=socket.gethostname)
    started: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    @property
    def finished(self) -> bool:
        return self.phase in FINAL_PHASES

    def alive(self) -> bool:
        """Whether the process that wrote this is still running (on this host)."""
        if self.host != socket.gethostname():
            return True  # cannot tell: assume it is
        try:
            return abs(psutil.Process(self.pid).create_time() - self.created) <= 1.0
        except psutil.Error:
            return False

    @property
    def interrupted(self) -> bool:
        return not self.finished and not self.alive()

    def describe(self) -> str:
        where = f"step {self.step + 1} of {len(self.steps)} at {self.weight:g}%" \
            if self.step is not None else self.phase
        state = ("done" if self.finished else
                 "INTERRUPTED (its process is gone)" if self.interrupted else "in progress")
        return f"v{self.version}: {self.phase} ({where}), {state}"


def journal_path(state: Path) -> Path:
    return state / JOURNAL


def read(state: Path) -> Rollout | None:
    path = journal_path(state)
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return Rollout(**data)


def write(state: Path, rollout: Rollout, **changes: Any) -> Rollout:
    for key, value in changes.items():
        setattr(rollout, key, value)
    rollout.updated = time.time()
    atomic_write(journal_path(state), json.dumps(asdict(rollout), indent=2) + "\n")
    return rollout
