"""Where the load goes and what it sends: the served model (or the HTTP adapter's own URL) and
the request bodies drawn from the evaluation rows."""

from __future__ import annotations

import ipaddress
import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from certify.errors import ConfigError, SuiteError
from certify.jsonsafe import scalar
from certify.models import Model
from certify.models.http import HttpModel, _headers
from certify.models.isolated import in_process
from certify.suite import SuiteContext
from certify.suites.load.app import check_labels
from certify.suites.load.server import ModelServer
from certify.suites.load.settings import LoadSettings


@dataclass
class Target:
    """Where the generators send, and the server behind it when we serve the model."""

    url: str
    kind: str
    request_field: str
    expect: str
    headers: dict[str, str]
    server: ModelServer | None = None
    #: How our server answers (:func:`certify.suites.load.app.check_labels`); {} for a URL.
    labels: dict[str, Any] = field(default_factory=dict)

    def setup(self, bodies: list[str]) -> dict[str, Any]:
        """The generators' target: ``host`` and ``path``, and ``hosts``, one per server worker
        (the users are spread over them in turn)."""
        parts = urllib.parse.urlsplit(self.url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        urls = self.server.urls if self.server is not None else [self.url]
        hosts = [f"{p.scheme}://{p.netloc}" for p in map(urllib.parse.urlsplit, urls)]
        return {"host": hosts[0], "hosts": hosts, "path": path, "bodies": bodies,
                "headers": self.headers, "expect": self.expect}

    def public_url(self) -> str:
        parts = urllib.parse.urlsplit(self.url)
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def remote_allowed(s: LoadSettings, url: str, role: str) -> None:
    """Raise :class:`ConfigError` for a non-loopback ``url`` unless ``allow_remote`` is set."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if not is_loopback(host) and not s.allow_remote:
        raise ConfigError(
            f"suites.load: the {role} URL {urllib.parse.urlsplit(url).netloc} is not a loopback "
            f"address; set allow_remote = true to load-test it")


def open_target(ctx: SuiteContext[LoadSettings], model: Model, role: str) -> Target:
    """The HTTP adapter's own URL, or ``model`` served by a :class:`ModelServer` that this call
    spawns (the caller waits for it to be ready and stops it)."""
    s = ctx.settings
    if model.format == "http":
        spec = cast(HttpModel, model).spec
        url = str(spec.url)
        remote_allowed(s, url, role)
        return Target(url, "url", spec.request_field, f'"{spec.predictions_field}"',
                      _headers(spec, role))
    evaluation = ctx.data.X()
    # One model call per request when the labels can come from the probabilities: proved
    # here once, on the whole evaluation sample, through the run's (isolated) model.
    ctx.progress(f"load: checking that the {role}'s labels follow from its probabilities")
    labels = check_labels(model, evaluation)
    one_call = labels["calls_per_request"] == 1 and model.predict_proba is not None
    frame = evaluation.head(1)
    # The server's worker processes are apart from the run already: they get the loaded model.
    server = ModelServer(in_process(model), features=list(frame.columns),
                         dtypes={c: str(frame[c].dtype) for c in frame.columns},
                         workers=s.server_workers, host=s.server_host,
                         labels_from_proba=one_call, affinity=s.server_cpus, label=role)
    server.spawn()
    return Target(server.url, "served", "instances", '"predictions"', {}, server, labels)


def request_bodies(ctx: SuiteContext[LoadSettings],
                   request_field: str) -> tuple[list[str], dict[str, Any]]:
    """``body_pool`` request bodies of real evaluation rows (seeded), and the shape of one for
    the artifacts (sensitive values masked)."""
    s = ctx.settings
    frame = ctx.data.X()
    if frame.empty:
        raise SuiteError("load: the evaluation data has no rows to send")
    rows = frame.to_numpy(dtype=object)
    rng = np.random.default_rng(ctx.seed)
    bodies = []
    for _ in range(s.body_pool):
        picks = rng.integers(0, len(rows), size=s.rows_per_request)
        instances = [[scalar(v) for v in rows[i]] for i in picks]
        bodies.append(json.dumps({request_field: instances}, allow_nan=False,
                                 separators=(",", ":"), default=str))
    first = dict(zip(frame.columns, (scalar(v) for v in rows[0]), strict=True))
    example = {"request_field": request_field, "rows_per_request": s.rows_per_request,
               "body_pool": s.body_pool, "first_row_masked": ctx.mask_record(first)}
    return bodies, example
