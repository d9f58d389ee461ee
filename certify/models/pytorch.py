"""PyTorch models (the ``torch`` extra): an exported program or a TorchScript file over the
numeric features.

The deployable forms of a PyTorch model load without the user's Python classes and without
unpickling code: ``torch.export.save(torch.export.export(module, (example,)), "model.pt2")``
(``.pt2``, the form PyTorch now recommends) or ``torch.jit.script(module).save("model.pt")``
(TorchScript, deprecated by PyTorch but still common). ``torch.save`` checkpoints (pickle) are
refused, for the same reason joblib files need ``allow_pickle``.

The module takes a float32 tensor of the feature columns in schema order (or
``options.features``) and returns, per ``options.output``: ``"logits"`` (default; softmax gives
the class probabilities), ``"probabilities"``, or ``"values"`` for a regression. Classification
needs ``classes`` (the labels in output order). The adversarial suite attacks such a module
white-box through ART's ``PyTorchClassifier``.
"""

from __future__ import annotations

import functools
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from certify.errors import ConfigError, ModelError
from certify.models import Model, sha256_digest
from certify.models.sklearn import _read

OUTPUTS = ("logits", "probabilities", "values")


class TorchModel(Model):
    """``module`` loaded from ``data`` (the file's bytes; ``exported``: a ``.pt2`` program, else
    TorchScript). Pickled as those bytes, loaded again the same way on the other side (neither an
    exported program's module nor a TorchScript module pickles): how the load suite hands the
    very model it certified to its server processes."""

    def __init__(self, module: Any, *, output: str, data: bytes, exported: bool,
                 **kwargs: Any) -> None:
        self.estimator = module
        self.output = output
        self._data = data
        self._exported = exported
        self._kwargs = kwargs
        super().__init__(**kwargs)

    def __reduce__(self) -> Any:
        return (_rebuild, (self._data, self._exported, self.output, self._kwargs))

    def _has_proba(self) -> bool:
        return self.task == "classification"

    def _forward(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        import torch

        try:
            values = X.to_numpy(dtype=np.float32)
        except (TypeError, ValueError) as exc:  # text in a numeric column: a clean rejection
            raise ValueError(f"model {self.name} takes numeric features only: {exc}") from None
        with torch.no_grad():
            out = self.estimator(torch.from_numpy(np.ascontiguousarray(values)))
        return np.asarray(out.detach().cpu().numpy(), dtype=float)

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        out = self._forward(X)
        if self.output == "logits" and out.size:
            shifted = out - out.max(axis=1, keepdims=True)
            exp = np.exp(shifted)
            return np.asarray(exp / exp.sum(axis=1, keepdims=True))
        return out

    def _predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        if self.task == "regression":
            return self._forward(X).reshape(len(X), -1)[:, 0]
        proba = self._predict_proba(X)
        labels = np.asarray(self.classes, dtype=object)
        return np.asarray(labels[np.argmax(proba, axis=1)].tolist()) if len(proba) else np.asarray([])


@functools.cache
def _fixed_mode() -> Any:
    """A wrapper for an exported program's module, which refuses ``train()``/``eval()`` (it was
    captured in one mode): attack libraries toggle the mode around gradient computations."""
    import torch

    class FixedMode(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            return self.inner(x)

        def train(self, mode: bool = True) -> FixedMode:
            self.training = mode  # recorded, not passed on: the graph is fixed
            return self

    return FixedMode


def _module(data: bytes, exported: bool) -> Any:
    """The module of an exported program's or a TorchScript file's bytes."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit: still supported
        if exported:
            return _fixed_mode()(torch.export.load(io.BytesIO(data)).module())
        module = torch.jit.load(io.BytesIO(data), map_location="cpu")
        module.eval()
        return module


def _rebuild(data: bytes, exported: bool, output: str, kwargs: dict[str, Any]) -> TorchModel:
    """The other side of :meth:`TorchModel.__reduce__`."""
    return TorchModel(_module(data, exported), output=output, data=data, exported=exported,
                      **kwargs)


def load_torch(spec: Any, base_dir: Path, role: str) -> TorchModel:
    try:
        import torch  # noqa: F401 - present, or the way to get it
    except ImportError:
        raise ConfigError(f"{role}.format: 'torch' needs PyTorch: "
                          "pip install 'pytest-certify[torch]'") from None
    path, data = _read(spec, base_dir, role)
    exported = path.suffix.lower() == ".pt2"
    try:
        module = _module(data, exported)
    except Exception as exc:  # noqa: BLE001 - a corrupt file, or a pickled checkpoint
        kind = "an exported program (.pt2)" if exported else "a TorchScript file"
        raise ModelError(f"{role}.path: {path} is not {kind} ({type(exc).__name__}); save the "
                         "model with torch.export.save(...) as .pt2 or "
                         "torch.jit.script(model).save(path)") from None
    output = str(spec.options.get("output", "logits"))
    if output not in OUTPUTS:
        raise ConfigError(f"{role}.options.output: {output!r} is not one of {', '.join(OUTPUTS)}")
    task = spec.options.get("task") or ("classification" if spec.classes else "regression")
    if task == "classification" and not spec.classes:
        raise ConfigError(f"{role}.classes: a torch classifier needs its class labels, in the "
                          "order of its outputs")
    features = spec.options.get("features")
    return TorchModel(
        module, output="values" if task == "regression" else output, data=data,
        exported=exported, name=spec.display_name(), digest=sha256_digest(data), source=str(path),
        format=spec.format, task=task,
        classes=list(spec.classes) if task == "classification" else None,
        features=[str(f) for f in features] if features else None,
    )
