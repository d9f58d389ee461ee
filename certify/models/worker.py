"""The process an isolated model runs in: it loads the model itself, from the same policy entry
and bytes (the digest is checked), then answers calls until the run closes its pipe. What a model
does to its process (a segfault, ``os._exit``, eating memory, hanging in C code) ends this process,
never the run: see :mod:`certify.models.isolated`.

Workers are forked from a multiprocessing fork server that has imported numpy, pandas and
scikit-learn once, so a worker starts in milliseconds, not seconds.

Protocol over two one-way pipes, one message per ``send_bytes``:

* run -> worker: a pickle (the run is trusted): ``("call", method, frame)``;
* worker -> run: a 4-byte header length, a JSON header, and for arrays an ``.npy`` body written
  without pickle, so the run never unpickles anything the model produced:
  ``{"ok": true, "kind": "npy"}`` + body, ``{"ok": true, "kind": "json", "value": [...]}``,
  ``{"ok": true, "kind": "ready"}`` once the model is loaded, or
  ``{"ok": false, "error": {"mro": [...], "message": "..."}}``.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import sys
from multiprocessing.connection import Connection
from typing import Any


def error_header(exc: BaseException) -> dict[str, Any]:
    mro = [f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__
           if c not in (object, BaseException)]
    text = str(exc)
    return {"ok": False, "error": {"mro": mro, "message": text[:4000]}}


def encode_result(value: Any) -> tuple[dict[str, Any], bytes]:
    """An array as ``.npy`` without pickle; object arrays of plain scalars as JSON."""
    import numpy as np

    array = np.asarray(value)
    if array.dtype != object:
        buf = io.BytesIO()
        np.save(buf, array, allow_pickle=False)
        return {"ok": True, "kind": "npy"}, buf.getvalue()
    items = array.tolist()

    def plain(v: Any) -> bool:
        if isinstance(v, list):
            return all(plain(x) for x in v)
        return v is None or isinstance(v, str | int | float | bool)

    if not plain(items):
        kinds = sorted({type(v).__name__ for v in array.ravel()})
        raise TypeError(f"the model returned objects that are not plain values ({', '.join(kinds)})")
    return {"ok": True, "kind": "json", "value": items, "shape": list(array.shape)}, b""


def pack(header: dict[str, Any], body: bytes = b"") -> bytes:
    payload = json.dumps(header, allow_nan=True).encode()
    return len(payload).to_bytes(4, "big") + payload + body


def unpack(message: bytes) -> tuple[dict[str, Any], bytes]:
    size = int.from_bytes(message[:4], "big")
    return json.loads(message[4:4 + size]), message[4 + size:]


def serve(calls: Connection, answers: Connection, spec: Any, base_dir: Any, role: str,
          digest: str, path: list[str], threads: int | None) -> None:
    """The worker's main function (run in a forked process)."""
    os.setsid()  # its own process group: stopping it stops what it started too
    sys.path[:] = list(path)
    if threads:
        # The fork server loaded the numeric libraries already, so their thread pools are
        # limited now, not through the environment: a model answering one call at a time gains
        # nothing from OpenMP threads that fight the run's other work for the cores.
        os.environ["OMP_NUM_THREADS"] = str(threads)
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
    try:
        from certify.models import load_model

        model = load_model(spec, base_dir, role)
        if model.digest != digest:
            raise RuntimeError(f"{role}: the model file changed since it was certified "
                               f"({model.digest}, expected {digest})")
    except BaseException as exc:  # noqa: BLE001 - reported to the run, which decides
        answers.send_bytes(pack(error_header(exc)))
        return
    answers.send_bytes(pack({"ok": True, "kind": "ready"}))
    while True:
        try:
            message = calls.recv_bytes()
        except EOFError:
            return
        _, method, frame = pickle.loads(message)
        try:
            fn = model._predict if method == "predict" else model._predict_proba
            header, body = encode_result(fn(frame))
        except Exception as exc:  # noqa: BLE001 - the model's own error, classified by the run
            header, body = error_header(exc), b""
        answers.send_bytes(pack(header, body))
