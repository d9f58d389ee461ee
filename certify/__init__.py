"""pytest-certify: certify machine-learning models for deployment.

Public API::

    import certify
    result = certify.run("certify.toml")        # drives pytest, returns a RunResult
    result.verdict.decision                      # CERTIFIED / REJECTED / INCOMPLETE
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pytest-certify")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "run"]


def __getattr__(name: str) -> object:
    # Lazy, so that importing the pytest plugin (a submodule) stays cheap.
    if name == "run":
        from certify.api import run

        return run
    raise AttributeError(name)
