"""The process an isolated model runs in (``python -m certify.models.worker READ_FD WRITE_FD``).

It loads the model itself, from the same policy entry and bytes (the digest is checked), then
answers calls until its input closes. What a model does to its process (a segfault, ``os._exit``,
eating memory, hanging in C code) ends this process, never the run: see
:mod:`certify.models.isolated`.

Protocol, one message per frame (4-byte big-endian length, then the body):

* parent -> worker: a pickle (the parent is trusted): ``("init", spec, base_dir, role, digest,
  sys_path, threads)``, then ``("call", method, frame)``;
* worker -> parent: a JSON header, and for arrays an ``.npy`` body written without pickle, so
  the parent never unpickles anything the model produced:
  ``{"ok": true, "kind": "npy"}`` + body, ``{"ok": true, "kind": "json", "value": [...]}``, or
  ``{"ok": false, "error": {"mro": [...], "message": "..."}}``.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import sys
from typing import Any, BinaryIO

_LEN = struct.Struct(">I")


def write_frame(out: BinaryIO, body: bytes) -> None:
    out.write(_LEN.pack(len(body)) + body)
    out.flush()


def read_exact(src: BinaryIO, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = src.read(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_frame(src: BinaryIO) -> bytes:
    (n,) = _LEN.unpack(read_exact(src, _LEN.size))
    return read_exact(src, n)


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


def _send(out: BinaryIO, header: dict[str, Any], body: bytes = b"") -> None:
    payload = json.dumps(header, allow_nan=True).encode()
    write_frame(out, _LEN.pack(len(payload)) + payload + body)


def serve(src: BinaryIO, out: BinaryIO) -> None:
    kind, spec, base_dir, role, digest, path, threads = pickle.loads(read_frame(src))
    assert kind == "init"
    sys.path[:] = list(path)
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        from certify.models import load_model

        model = load_model(spec, base_dir, role)
        if model.digest != digest:
            raise RuntimeError(f"{role}: the model file changed since it was certified "
                               f"({model.digest}, expected {digest})")
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
        _send(out, error_header(exc))
        return
    _send(out, {"ok": True, "kind": "ready"})
    while True:
        try:
            message = read_frame(src)
        except EOFError:
            return
        _, method, frame = pickle.loads(message)
        try:
            fn = model._predict if method == "predict" else model._predict_proba
            header, body = encode_result(fn(frame))
        except Exception as exc:  # noqa: BLE001 - the model's own error, classified by the parent
            header, body = error_header(exc), b""
        _send(out, header, body)


def main() -> None:
    read_fd, write_fd = int(sys.argv[1]), int(sys.argv[2])
    # What the model prints goes to stderr: stdout is not ours to lose, the protocol has its own fds.
    os.dup2(2, 1)
    with os.fdopen(read_fd, "rb", buffering=0) as src, os.fdopen(write_fd, "wb") as out:
        serve(src, out)


if __name__ == "__main__":
    main()
