"""Ray for the suites that scale out (load, adversarial, drift).

Local by default: a private Ray instance on loopback with no dashboard, so that all
its traffic stays on 127.0.0.1 (DESIGN.md). ``RAY_ADDRESS`` (or the policy's
``ray_address``) joins an existing cluster instead.
"""

from __future__ import annotations

import os
from typing import Any


def ensure_ray(address: str | None = None, *, num_cpus: int | None = None) -> Any:
    """Initialise Ray once per process and return the ``ray`` module."""
    import ray

    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 ignore_reinit_error=True)
    else:
        ray.init(
            _node_ip_address="127.0.0.1",
            include_dashboard=False,
            num_cpus=num_cpus or os.cpu_count() or 1,
            log_to_driver=False,
            ignore_reinit_error=True,
            configure_logging=False,
            # A local run must not look for, or join, a cluster started elsewhere.
            address="local",
        )
    return ray
