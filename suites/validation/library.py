"""deepchecks itself: its slow import, and its warnings and log lines kept off the terminal.

deepchecks is imported inside ``run()`` only, with its warnings and logging silenced. Its
import is slow; the slowest part (about 4 s) is jsonschema building an IRI grammar with the
optional ``rfc3987_syntax`` package, which nothing here uses: while deepchecks is imported,
that optional package is hidden (jsonschema then lacks the ``iri`` format check in this
process).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import warnings
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """deepchecks' warnings, log lines and progress bars kept off the terminal."""
    logger = logging.getLogger("deepchecks")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def import_deepchecks() -> tuple[Any, float]:
    """Import deepchecks.tabular (slow) quietly; returns the module and the seconds it took."""
    start = time.perf_counter()
    hidden = False
    if "rfc3987_syntax" not in sys.modules and "jsonschema._format" not in sys.modules:
        # jsonschema builds a large IRI grammar at import when this optional package is
        # installed (~4 s); deepchecks never validates IRIs.
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
        hidden = True
    try:
        with quiet():
            import deepchecks.tabular as dct
            import deepchecks.tabular.checks  # noqa: F401
    finally:
        if hidden and sys.modules.get("rfc3987_syntax", 0) is None:
            del sys.modules["rfc3987_syntax"]
    return dct, time.perf_counter() - start
