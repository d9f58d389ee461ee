"""One exception root for the whole harness, and the CLI's exit codes.

Library code raises; only ``certify.cli.main`` turns an error into an exit code.
Every error carries a one-line, user-facing message that names *what* went wrong
and *where* (the key and the file, the column, the path).
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Exit codes of the ``certify`` command line (documented in the README).

    Under ``pytest --certify`` pytest's own codes hold instead: 0 certified,
    1 not certified (or a failing ordinary test), 4 usage error.
    """

    #: Certified / valid / no drift.
    OK = 0
    #: Rejected, incomplete, invalid certificate, blocked gate, drift found.
    FAILED = 1
    #: Usage or configuration error: bad policy, missing file, bad arguments.
    USAGE = 2


class CertifyError(Exception):
    """Root of every error the harness raises on purpose."""

    exit_code: ExitCode = ExitCode.USAGE

    #: True when the message was already shown to the user (by pytest): not printed again.
    reported = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def diagnostics(self) -> str:
        """The one line shown to the user (no traceback)."""
        return self.message


class ConfigError(CertifyError):
    """The policy is missing, malformed, or refers to something that does not exist."""


class ModelError(CertifyError):
    """A model file is missing or corrupt, or a model misbehaves at its interface."""


class DataError(CertifyError):
    """Reference or evaluation data is missing, empty or does not fit the schema."""


class SuiteError(CertifyError):
    """A suite could not produce a trustworthy answer (its checks become ``errored``)."""


class VerificationError(CertifyError):
    """A certificate failed verification; ``reason`` is a stable machine-readable code."""

    exit_code = ExitCode.FAILED

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class GateError(VerificationError):
    """A valid certificate that must not be promoted (verdict, policy, waivers, revocation)."""
