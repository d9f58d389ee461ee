"""ART, imported lazily and quietly: the attack classes the suite uses and its own estimator over
the attack coordinates (model predictions through the :class:`Querier`, ART's gradients)."""

from __future__ import annotations

import dataclasses
import functools
import warnings
from typing import Any

import numpy as np

from certify.suites.adversarial.querier import Querier


@dataclasses.dataclass(frozen=True)
class Art:
    """The ART classes an attack is built from (third-party types, hence ``Any``)."""

    hop_skip_jump: Any
    boundary: Any
    fast_gradient: Any
    pgd: Any
    black_box_classifier: Any
    tabular_gradient_classifier: Any


@functools.cache
def art() -> Art:
    """Import ART quietly (it warns when torch is absent) and define our estimator class."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import logging

        from art.attacks.evasion import (
            BoundaryAttack,
            FastGradientMethod,
            HopSkipJump,
            ProjectedGradientDescent,
        )
        from art.estimators.classification import BlackBoxClassifier
        from art.estimators.classification.classifier import ClassifierMixin
        from art.estimators.estimator import BaseEstimator, LossGradientsMixin

        logging.getLogger("art").setLevel(logging.WARNING)

    class TabularGradientClassifier(LossGradientsMixin, ClassifierMixin, BaseEstimator):
        """ART estimator over the attack coordinates of a block of rows (aligned queries).

        Predictions come from the model (through the querier); loss gradients from ART's
        own estimator in the model's transformed space, chained with the affine map's
        Jacobian: d loss / d z = (d loss / d T) J^T.
        """

        estimator_params = BaseEstimator.estimator_params + ClassifierMixin.estimator_params

        def __init__(self, querier: Querier, inner: Any, clip_values: Any) -> None:
            super().__init__(model=None, clip_values=clip_values)
            self._querier = querier
            self._inner = inner
            self.nb_classes = len(querier.classes)

        @property
        def input_shape(self) -> tuple[int, ...]:
            return (self._querier.space.d,)

        def predict(self, x: np.ndarray, batch_size: int = 128, **kwargs: Any) -> np.ndarray:
            return self._querier.onehot(x)

        def fit(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> None:
            raise NotImplementedError("attack-only estimator")

        def loss_gradient(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> np.ndarray:
            q = self._querier
            assert q.view is not None
            rows = q.rows_for(len(x))
            q.charge(rows)
            t = q.transformed(np.asarray(x, dtype=float), rows)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                grad = np.asarray(self._inner.loss_gradient(t.astype(np.float32), y), dtype=float)
            return (grad.reshape(len(x), -1) @ q.view.J.T).astype(np.float32)

    return Art(hop_skip_jump=HopSkipJump, boundary=BoundaryAttack, fast_gradient=FastGradientMethod,
               pgd=ProjectedGradientDescent, black_box_classifier=BlackBoxClassifier,
               tabular_gradient_classifier=TabularGradientClassifier)
