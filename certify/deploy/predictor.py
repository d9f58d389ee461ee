"""The custom KServe predictor for certified files KServe's own runtimes cannot load (skops):
``python -m certify.deploy.predictor``, the entry point of the image built from the Dockerfile the
``kserve`` target renders.

KServe's storage initializer downloads ``STORAGE_URI`` into ``/mnt/models``; the predictor
checks the file's digest against ``--digest`` (the certified one) before loading it, and refuses
to start on a mismatch. It speaks KServe's v1 protocol::

    GET  /v1/models/<name>            -> {"name": ..., "ready": true, "digest": ...}
    POST /v1/models/<name>:predict    {"instances": [[...], ...]}
                                      -> {"predictions": [...], "probabilities": [...]}

How to load the file (``CERTIFY_MODEL_SPEC``: format, trusted types) and the input columns
(``CERTIFY_MODEL_INPUTS``: features and dtypes) come from the environment the manifest sets.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from certify.deploy.scoring import Scorer, load_certified

SPEC_ENV = "CERTIFY_MODEL_SPEC"
INPUTS_ENV = "CERTIFY_MODEL_INPUTS"


def create_app(name: str, scorer: Scorer, digest: str) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def predict(request: Request) -> Response:
        status, answer = scorer.score(await request.body())
        return Response(json.dumps(answer, separators=(",", ":")), status_code=status,
                        media_type="application/json")

    async def ready(request: Request) -> Response:
        return JSONResponse({"name": name, "ready": True, "digest": digest})

    return Starlette(routes=[Route(f"/v1/models/{name}:predict", predict, methods=["POST"]),
                             Route(f"/v1/models/{name}", ready, methods=["GET"]),
                             Route("/", ready, methods=["GET"])])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m certify.deploy.predictor")
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--model-file", type=Path, required=True)
    parser.add_argument("--digest", required=True, help="the certified sha256: digest")
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - the container's own network
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    spec: dict[str, Any] = json.loads(os.environ.get(SPEC_ENV) or "{}")
    inputs: dict[str, Any] = json.loads(os.environ.get(INPUTS_ENV) or "{}")
    try:
        model = load_certified(args.model_file, spec, args.digest)
    except Exception as exc:  # noqa: BLE001 - refuse to serve, say why
        print(f"certify predictor: not serving: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    features = inputs.get("features") or model.features
    if not features:
        print(f"certify predictor: {INPUTS_ENV} names no input columns", file=sys.stderr)
        return 2
    scorer = Scorer(model, features, inputs.get("dtypes") or {})
    import uvicorn

    uvicorn.run(create_app(args.model_name, scorer, args.digest), host=args.host,
                port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
