"""The served model's request path, in the server's worker processes: a plain ASGI app.

Per request it does only what serving needs, measured on the demo's gradient-boosted
pipeline (one row, one core): parse the JSON body, build the feature frame column by column
(:class:`FrameBuilder`: a quarter of the cost of ``pd.DataFrame(rows)`` with a dtype pass, which
took about a third of the server's own time), make **one** model call when the labels can come
from the probabilities (:func:`check_labels` proved it on the whole evaluation sample at
start-up), and write the answer. No framework routing or middleware: three routes.

Protocol (:mod:`certify.models.http`'s)::

    POST / (or /predict)  {"instances": [[f1, f2, ...], ...]}
                       -> {"predictions": [...], "probabilities": [[...], ...]}
    GET /health        -> {"status": "ok", "pid": ...}

A malformed body or a :class:`~certify.models.RejectedInput` is a 400; any other exception in
the model is a 500.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pandas as pd

from certify.jsonsafe import json_safe, one_line

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Hook = Callable[[], Awaitable[None]]

_JSON = [(b"content-type", b"application/json")]


def labels_from_proba(proba: np.ndarray, classes: list[Any]) -> list[Any]:
    """The label of each row: the class of its highest probability (the first on a tie, as
    scikit-learn's ``predict`` does)."""
    return [classes[i] for i in np.asarray(proba).argmax(axis=1).tolist()]


def check_labels(model: Any, frame: pd.DataFrame) -> dict[str, Any]:
    """Whether the served model can answer with one call: labels from ``predict_proba`` and the
    model's classes, equal to its ``predict`` on every row of ``frame`` (the evaluation sample).

    Returns ``calls_per_request`` (1 or 2), ``checked_rows``, ``mismatches`` and ``reason``.
    A model without probabilities needs one call (``predict``) and no check.
    """
    out: dict[str, Any] = {"calls_per_request": 2, "checked_rows": 0, "mismatches": None}
    classes = list(getattr(model, "classes", None) or [])
    if getattr(model, "predict_proba", None) is None:
        return {**out, "calls_per_request": 1,
                "reason": "predict only (the model gives no probabilities)"}
    if not classes:
        return {**out, "reason": "predict and predict_proba: the model names no classes"}
    if frame.empty:
        return {**out, "reason": "predict and predict_proba: no evaluation row to check with"}
    try:
        predicted = np.asarray(model.predict(frame)).tolist()
        derived = labels_from_proba(model.predict_proba(frame), classes)
    except Exception as exc:  # noqa: BLE001 - the check failing only costs the fast path
        return {**out, "reason": f"predict and predict_proba: the start-up check could not run "
                                 f"({one_line(exc, 200)})"}
    mismatches = sum(1 for a, b in zip(predicted, derived, strict=True) if a != b)
    out.update(checked_rows=len(predicted), mismatches=mismatches)
    if mismatches:
        return {**out, "reason": f"predict and predict_proba: labels from the probabilities "
                                 f"differ from predict on {mismatches} of {len(predicted)} "
                                 f"evaluation rows"}
    return {**out, "calls_per_request": 1,
            "reason": f"one predict_proba call; labels from the probabilities, checked equal to "
                      f"predict on all {len(predicted)} evaluation rows at start-up"}


class FrameBuilder:
    """Rows of JSON values -> the feature frame, as ``pd.DataFrame(rows, columns=features)``
    with numeric columns coerced would build it, column by column.

    The fast path takes clean columns (numbers in a numeric column, text in the others); any
    other value (None, a bool, text in a numeric column) takes the general path. The first
    frame is built both ways and compared: on any difference the general path is kept.
    """

    def __init__(self, features: list[str], dtypes: dict[str, str]) -> None:
        self.features = features
        self.numeric = [dtypes.get(c, "object").startswith(("int", "float")) for c in features]
        self.verified: bool | None = None

    def general(self, rows: list[list[Any]]) -> pd.DataFrame:
        frame = pd.DataFrame(rows, columns=self.features)
        for column, numeric in zip(self.features, self.numeric, strict=True):
            if numeric and frame[column].dtype == object:
                frame[column] = pd.to_numeric(frame[column], errors="coerce")
        return frame

    def fast(self, rows: list[list[Any]]) -> pd.DataFrame | None:
        columns: dict[str, np.ndarray] = {}
        for i, (column, numeric) in enumerate(zip(self.features, self.numeric, strict=True)):
            values = [r[i] for r in rows]
            if numeric:
                if not all(type(v) is int or type(v) is float for v in values):
                    return None
                array = np.array(values)
                if array.dtype.kind not in "if":
                    return None
            else:
                if not all(type(v) is str for v in values):
                    return None
                array = np.array(values, dtype=object)
            columns[column] = array
        return pd.DataFrame(columns, copy=False)

    def __call__(self, rows: list[list[Any]]) -> pd.DataFrame:
        if self.verified is False:
            return self.general(rows)
        frame = self.fast(rows)
        if frame is None:
            return self.general(rows)
        if self.verified is None:
            reference = self.general(rows)
            self.verified = bool(reference.dtypes.equals(frame.dtypes) and reference.equals(frame))
            return frame if self.verified else reference
        return frame


def create_app(model: Any, config: dict[str, Any], *, on_startup: Hook | None = None,
               on_shutdown: Hook | None = None) -> Callable[[dict[str, Any], Receive, Send],
                                                            Awaitable[None]]:
    """The ASGI app serving ``model``. ``config``: ``features``, ``dtypes``, ``request_field``,
    ``probabilities`` (answer with them), ``labels_from_proba`` (one call per request: the
    start-up check passed)."""
    from certify.models import RejectedInput

    features: list[str] = config["features"]
    field: str = config["request_field"]
    width = len(features)
    build = FrameBuilder(features, config["dtypes"])
    proba_fn = model.predict_proba if config.get("probabilities", True) else None
    classes = json_safe(list(getattr(model, "classes", None) or []))
    one_call = bool(config.get("labels_from_proba")) and proba_fn is not None and bool(classes)

    def error(status: int, message: str) -> tuple[int, bytes]:
        return status, json.dumps({"error": message}).encode()

    def score(body: bytes) -> tuple[int, bytes]:
        try:
            rows = json.loads(body)[field]
            if not isinstance(rows, list) or not rows or any(
                    not isinstance(r, list) or len(r) != width for r in rows):
                raise ValueError(f"'{field}' must be a non-empty list of rows of {width} values")
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            return error(400, f"bad request: {exc}")
        frame = build(rows)
        try:
            if one_call:
                assert proba_fn is not None
                proba = proba_fn(frame)
                predictions: Any = labels_from_proba(proba, classes)
            else:
                predictions = json_safe(model.predict(frame))
                proba = proba_fn(frame) if proba_fn is not None else None
        except RejectedInput as exc:
            return error(400, f"rejected: {exc}")
        except Exception as exc:  # noqa: BLE001 - a crash of the model is the server's 500
            return error(500, f"{type(exc).__name__}: {exc}")
        out: dict[str, Any] = {"predictions": predictions}
        if proba is not None:
            out["probabilities"] = (proba.tolist() if np.isfinite(proba).all()
                                    else json_safe(proba))
        return 200, json.dumps(out, separators=(",", ":")).encode()

    async def respond(send: Send, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [*_JSON, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if on_startup is not None:
                    await on_startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if on_shutdown is not None:
                    await on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path in ("/", "/predict"):
            if method != "POST":
                await respond(send, *error(405, "use POST"))
                return
            body = b""
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            await respond(send, *score(body))
        elif path == "/health" and method == "GET":
            await respond(send, 200, json.dumps({"status": "ok", "pid": os.getpid()}).encode())
        else:
            await respond(send, *error(404, f"no route {path}"))

    return app
