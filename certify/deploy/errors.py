"""The deploy step's outcomes that are not success. Each exits 1 with its reason code
(``certify deploy``: 0 done, 1 refused / rolled back / locked, 2 usage or configuration)."""

from __future__ import annotations

from certify.errors import CertifyError, ExitCode


class DeployError(CertifyError):
    """A deploy that did not happen or did not finish; ``reason`` is a stable code."""

    exit_code = ExitCode.FAILED

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def diagnostics(self) -> str:
        return f"{self.reason}: {self.message}"


class Refused(DeployError):
    """Refused before anything changed (gate, residency, digest, downgrade or replay)."""


class RolledBack(DeployError):
    """A rollout that failed a step and was rolled back to the champion."""


class Locked(DeployError):
    """Another deploy holds a target's lock."""

    def __init__(self, message: str) -> None:
        super().__init__("locked", message)


class Reason:
    """Reason codes of the deploy step's own refusals (the gate's are ``certify.attest``'s)."""

    RESIDENCY = "residency"
    DOWNGRADE = "downgrade"
    REPLAY = "replay"
    DRIFT_BASELINE = "drift-baseline-mismatch"
    REGISTRY_DIGEST = "registry-digest"
    SERVED_DIGEST = "served-digest"
    NO_CHAMPION = "no-champion"
    HAS_CHAMPION = "has-champion"
    UNCERTIFIED = "uncertified"
    PARITY = "parity"
    ANALYSIS = "analysis"
    TARGET_DOWN = "target-down"
    INTERRUPTED = "interrupted"


class StepFailed(DeployError):
    """A rollout step failed on a target (parity, analysis, a target down): the rollout rolls
    back, then raises :class:`RolledBack` with this reason."""
