"""Ray for the suites that scale out (load, adversarial, drift): start-up, availability and
shipping models to workers, in one place.

Local by default: a private Ray instance on loopback with no dashboard, so that all its
traffic stays on 127.0.0.1 (DESIGN.md; ``tests/test_ray_loopback.py`` lists the listening sockets
of a run's processes). ``RAY_ADDRESS`` (or the policy's ``ray_address``) joins an existing
cluster instead.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from certify.errors import ModelError
from certify.jsonsafe import one_line
from certify.models import Model, load_model
from certify.models.isolated import in_process
from certify.policy import ModelSpec

#: Ray 2.60 turns a loopback node address into the machine's address unless Ray "clusters" are
#: off for this host (the setting Windows and macOS get by default): off, a local Ray registers
#: its node as 127.0.0.1 and its GCS, raylet, workers and agents listen on loopback only.
LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
LOOPBACK = "127.0.0.1"


def local_only() -> None:
    """Keep a Ray started from this process (and its children) on loopback."""
    os.environ[LOCAL_ONLY_ENV] = "0"
    # Give Ray's agents longer to register than its default on a busy machine.
    os.environ.setdefault("RAY_agent_register_timeout_ms", "120000")
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:  # already imported: the flag was read at import time
        vars(constants)["ENABLE_RAY_CLUSTER"] = False


#: Held while Ray starts in this process: a suite that needs Ray while :func:`prestart` is still
#: starting it waits for that start instead of beginning a second one.
_INIT_LOCK = threading.Lock()
_PRESTART: threading.Thread | None = None
_STARTED = threading.Event()  # the background start has finished (well or not)
_JOIN: Callable[[], str | None] | None = None  # see join_cluster


def ensure_ray(address: str | None = None, *, num_cpus: int | None = None) -> Any:
    """Initialise Ray once per process and return the ``ray`` module.

    Local by default, on loopback only (no dashboard); ``address`` or ``RAY_ADDRESS`` joins an
    existing cluster instead (what that exposes is the cluster's own configuration).
    """
    address = address or os.environ.get("RAY_ADDRESS")
    joined = None
    if not address and _JOIN is not None:
        address = joined = _JOIN()
    if not address:
        local_only()
    with _INIT_LOCK:  # the import too: a thread must never see a half-imported ray
        import ray

        if not ray.is_initialized():
            try:
                _init(ray, address, num_cpus)
            except Exception as exc:  # noqa: BLE001 - joining is a saving, not a requirement
                if not joined:
                    raise
                logging.getLogger(__name__).warning(
                    "could not join the Ray cluster at %s (%s); starting a local one",
                    joined, one_line(exc))
                ray.shutdown()
                local_only()
                _init(ray, None, num_cpus)
    return ray


def join_cluster(address: Callable[[], str | None]) -> None:
    """This process's suites join the cluster at ``address()`` instead of starting a Ray of
    their own (a policy's ``ray_address`` and ``RAY_ADDRESS`` still come first). ``address``
    may wait for a start under way; when it returns None the local Ray starts as usual. The
    demo passes its deploy target's embedded Ray, started in the background, so that one Ray
    start serves both the certification and the deploy. Undone by :func:`leave_cluster`."""
    global _JOIN
    _JOIN = address


def leave_cluster() -> None:
    """Disconnect from a cluster joined through :func:`join_cluster` (its actors and tasks of
    this driver end; the cluster runs on) and start locally again from now on."""
    global _JOIN
    if _JOIN is None:
        return
    _JOIN = None
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        with _INIT_LOCK:
            ray.shutdown()


def _init(ray: Any, address: str | None, num_cpus: int | None) -> None:
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 ignore_reinit_error=True)
    else:
        for attempt in (1, 2):
            try:
                ray.init(
                    _node_ip_address=LOOPBACK,
                    _temp_dir=str(_private_temp_dir()),
                    include_dashboard=False,
                    num_cpus=num_cpus or os.cpu_count() or 1,
                    log_to_driver=False,
                    ignore_reinit_error=True,
                    configure_logging=False,
                    # A local run must not look for, or join, a cluster started elsewhere.
                    address="local",
                )
                break
            except Exception as exc:  # noqa: BLE001 - Ray's start-up races on a busy machine
                # Ray 2.60's raylet gives its agents a fixed time to come up; on two busy cores
                # they can miss it once. A second start is what a user would do by hand.
                ray.shutdown()
                if attempt == 2 or "timed out during startup" not in str(exc):
                    raise


class _BackgroundStartNote(logging.Filter):
    """Drops Ray's note that a start from a thread other than the main one sets no SIGTERM
    handler: :func:`prestart` sets the same handler from the main thread itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("SIGTERM handler is not set")


def prestart() -> None:
    """Start this process's local Ray in the background (once), so that its start-up (10-20 s
    of mostly CPU on two cores: GCS, raylet, agents, the first workers) overlaps with the suites
    that run before the first one that needs Ray; that suite's :func:`ensure_ray` waits for the
    start under way. Only for the local Ray: joining a cluster (``RAY_ADDRESS``) is checked and
    done by the suite itself. A failed start is forgotten here: the suite's own
    :func:`ensure_ray` tries again and reports what goes wrong."""
    global _PRESTART
    if os.environ.get("RAY_ADDRESS") or _JOIN is not None or _PRESTART is not None:
        return
    # what ray.init does from the main thread: SIGTERM ends the process through its exit
    # handlers (which stop the local Ray and remove its folder)
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL):
        signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(signum))
    logging.getLogger("ray._private.worker").addFilter(_BackgroundStartNote())

    def start() -> None:
        try:
            ensure_ray()
        except Exception:  # noqa: BLE001 - the suite that needs Ray starts it and says why
            return
        finally:
            _STARTED.set()
        # Ray's processes are tied to the thread that started them (Linux's parent-death
        # signal follows the thread, not the process): this thread lives as long as the
        # process does, or they would all be killed the moment it returned.
        threading.Event().wait()

    _PRESTART = threading.Thread(target=start, name="certify-ray-prestart", daemon=True)
    _PRESTART.start()


def _private_temp_dir() -> Path:
    """A temporary folder of this process's own for Ray's session files: two runs on one
    machine (two CI jobs, a run beside a notebook) never share Ray's ``/tmp/ray`` and its
    ``session_latest`` link, and the folder is removed when the process ends."""
    import atexit
    import shutil
    import tempfile

    path = Path(tempfile.gettempdir()) / f"certify-ray-{os.getpid()}"
    path.mkdir(mode=0o700, exist_ok=True)

    def cleanup() -> None:
        if _PRESTART is not None and _PRESTART is not threading.current_thread():
            _STARTED.wait(timeout=120)  # a start under way finishes before it is stopped
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(path, ignore_errors=True)

    atexit.register(cleanup)
    return path


def ray_available() -> bool:
    """For ``executor = "auto"``: a cluster named by ``RAY_ADDRESS``, or a Ray already running in
    this process with a CPU free (another suite's actors may hold them all)."""
    if os.environ.get("RAY_ADDRESS"):
        return True
    ray = sys.modules.get("ray")
    try:
        return bool(ray is not None and ray.is_initialized()
                    and ray.available_resources().get("CPU", 0) >= 1)
    except Exception:  # noqa: BLE001 - no usable Ray: run in process
        return False


@dataclass(frozen=True)
class ModelReload:
    """How a Ray worker loads a model that does not pickle (an HTTP client, a torch program):
    from its policy entry, checked against the digest the run certified."""

    spec: ModelSpec
    base_dir: Path
    role: str
    digest: str

    def load(self) -> Model:
        """The model, loaded once per worker process (and checked against the digest)."""
        key = (self.role, self.digest)
        if key not in _RELOADED:
            model = load_model(self.spec, self.base_dir, self.role)
            if model.digest != self.digest:
                raise ModelError(f"{self.role}: the model loaded in a Ray worker has digest "
                                 f"{model.digest}, not the certified {self.digest}")
            _RELOADED[key] = model
        return _RELOADED[key]


_RELOADED: dict[tuple[str, str], Model] = {}


def ship_model(model: Model, spec: ModelSpec | None, base_dir: Path, role: str) -> Model | ModelReload:
    """What to send to Ray workers: the model itself when it pickles (scikit-learn), else a
    :class:`ModelReload` from its policy entry."""
    from ray import cloudpickle  # the serialiser Ray itself will use for the model

    model = in_process(model)  # a Ray worker is a process apart already
    try:
        cloudpickle.dumps(model)
        return model
    except Exception:  # noqa: BLE001 - e.g. an HTTP client: reload from the policy in the worker
        if spec is None:
            raise
        return ModelReload(spec, base_dir, role, model.digest)


def received_model(shipped: Model | ModelReload) -> Model:
    """In a Ray worker: the model that :func:`ship_model` sent."""
    return shipped.load() if isinstance(shipped, ModelReload) else shipped


J = TypeVar("J")
R = TypeVar("R")


def run_bounded(ray: Any, submit: Callable[[J], Any], jobs: list[J], *, workers: int,
                deadline: float, grace_s: float, timed_out: Callable[[J], R],
                progress: Callable[[int], None] = lambda done: None) -> list[R]:
    """Ray tasks for ``jobs``, at most ``workers`` in flight (``submit`` starts one and returns
    its reference). Tasks still running ``grace_s`` after ``deadline`` (``time.time()``) are
    cancelled, and they and the jobs never started become ``timed_out(job)``. Outcomes in the
    order the tasks finished; ``progress`` gets the count so far."""
    pending: dict[Any, J] = {}
    queue = list(jobs)
    outcomes: list[R] = []
    while queue or pending:
        while queue and len(pending) < workers:
            job = queue.pop(0)
            pending[submit(job)] = job
        left = deadline + grace_s - time.time()
        done, _ = ray.wait(list(pending), num_returns=1, timeout=max(0.0, left))
        if not done:
            for ref, job in pending.items():
                ray.cancel(ref, force=True)
                outcomes.append(timed_out(job))
            outcomes.extend(timed_out(job) for job in queue)
            break
        for ref in done:
            pending.pop(ref)
            outcomes.append(ray.get(ref))
            progress(len(outcomes))
    return outcomes
