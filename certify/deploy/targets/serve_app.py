"""What runs inside Ray: the model replica (one Ray Serve application per registered version)
and the weighted ingress (a detached Ray actor running :class:`.proxy.WeightedProxy`).

This module does not import Ray at import time; Ray pickles these
classes by reference, so its workers import them from the installed package.

Loopback: Ray 2.60 binds each Serve replica's inter-deployment gRPC server to ``[::]`` (all
interfaces; hard-coded in ``ray/serve/_private/replica.py``). On an embedded cluster our
replicas rebind it to 127.0.0.1 before Serve starts it (the user callable is constructed first),
which the loopback test checks by listing every process's listening sockets.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from certify.deploy.scoring import Scorer, load_certified
from certify.deploy.targets.proxy import WeightedProxy


def keep_replica_grpc_on_loopback() -> None:
    """Make this Serve replica bind its inter-deployment gRPC server to 127.0.0.1."""
    module = sys.modules.get("ray.serve._private.replica")
    if module is None:
        return
    original: Any = getattr(module, "add_port_to_grpc_server", None)
    if original is None:
        return
    if getattr(original, "certify_loopback", False):
        return

    def loopback(server: Any, address: str) -> Any:
        if address.startswith(("[::]:", "0.0.0.0:")):
            address = "127.0.0.1:" + address.rsplit(":", 1)[1]
        return original(server, address)

    loopback.certify_loopback = True  # type: ignore[attr-defined]
    vars(module)["add_port_to_grpc_server"] = loopback


class ModelReplica:
    """A Serve replica of one registered version: loads the certified bytes it was given,
    reports the digest it loaded (``GET``), and scores ``POST {"instances": [[...], ...]}``."""

    def __init__(self, config: dict[str, Any]) -> None:
        if config.get("loopback"):
            keep_replica_grpc_on_loopback()
        # One OpenMP thread, as a model server should: one request at a time per replica, and
        # spinning OpenMP threads made a boosted-trees call 20x slower on two busy cores.
        threadpool_limits(limits=1, user_api="openmp")
        self.version = int(config["version"])
        folder = Path(tempfile.mkdtemp(prefix="certify-replica-"))
        os.chmod(folder, 0o700)
        path = folder / config["file"]
        path.write_bytes(config["blob"])
        model = load_certified(path, config["spec"], config["digest"])
        self.digest = model.digest
        self.scorer = Scorer(model, config["features"], config["dtypes"])
        self.headers = {"x-certify-version": str(self.version), "x-certify-digest": self.digest}

    def info(self) -> dict[str, Any]:
        return {"version": self.version, "digest": self.digest, "pid": os.getpid()}

    async def __call__(self, request: Any) -> Any:
        from starlette.responses import Response

        if request.method == "GET":
            status, answer = 200, self.info()
        else:
            status, answer = self.scorer.score(await request.body())
        return Response(json.dumps(answer, separators=(",", ":")), status_code=status,
                        media_type="application/json", headers=self.headers)


def _event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (it comes with uvicorn[standard], a Ray Serve dependency)."""
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


class IngressActor:
    """A detached Ray actor holding the weighted proxy. The proxy runs on an event loop of its
    own, in its own thread (uvloop when available), apart from Ray's machinery in the actor;
    the actor's methods hand their changes to that loop and wait for them."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.proxy = WeightedProxy(config["upstream_host"], int(config["upstream_port"]),
                                   config["split"])
        self.host = str(config["host"])
        self.port = int(config["port"])
        self.loop = _event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="certify-ingress",
                                       daemon=True)
        self.thread.start()

    def _on_loop(self, coro: Any, timeout: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> int:
        port: int = self._on_loop(self.proxy.start(self.host, self.port))
        return port

    async def _configure(self, split: dict[str, Any]) -> dict[str, Any]:
        self.proxy.configure(split)  # on the proxy's loop: between two requests, atomically
        return self.proxy.state()

    def configure(self, split: dict[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = self._on_loop(self._configure(split))
        return state

    def state(self) -> dict[str, Any]:
        return {**self.proxy.state(), "pid": os.getpid(), "host": self.host}
