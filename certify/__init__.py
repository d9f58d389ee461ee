"""pytest-certify: certify machine-learning models for deployment.

Public API::

    import certify
    result = certify.run("certify.toml")        # drives pytest, returns a RunResult
    result.verdict.decision                      # CERTIFIED / REJECTED / INCOMPLETE
"""

from __future__ import annotations

from certify.version import __version__

__all__ = ["__version__", "run"]


def __getattr__(name: str) -> object:
    # Lazy, so that importing the pytest plugin (a submodule) stays cheap. The package root is
    # the public face (app layer): core modules never import it (they use certify.version).
    if name == "run":
        from certify.api import run

        return run
    raise AttributeError(name)
