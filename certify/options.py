"""Options shared by the pytest plugin and the CLI, declared once (pytest-benchmark style)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CERTIFY = "--certify"
POLICY = "--certify-policy"
OUT = "--certify-out"
SEED = "--certify-seed"


def add_run_options(addoption: Callable[..., Any], *, prefix: str = "--certify-") -> None:
    """Add the run options with ``addoption`` (pytest's ``group.addoption`` or argparse's
    ``add_argument``). Under pytest the prefix is ``--certify-``; the CLI uses ``--``."""
    addoption(f"{prefix}policy", dest="certify_policy", metavar="PATH", default=None,
              help="policy file (default: certify.toml, or [tool.certify] in pyproject.toml, "
                   "in the rootdir)")
    addoption(f"{prefix}out", dest="certify_out", metavar="DIR", default=None,
              help="output directory (default: the policy's output_dir, certify-out/)")
    addoption(f"{prefix}seed", dest="certify_seed", metavar="N", type=int, default=None,
              help="root seed of every random choice (default: the policy's seed)")
