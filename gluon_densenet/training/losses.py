"""Losses beyond Gluon's own."""
from __future__ import annotations

from typing import Any

from mxnet import gluon

from ..validation import is_int

__all__ = ["LabelSmoothingLoss"]


class LabelSmoothingLoss(gluon.loss.Loss):
    """Softmax cross-entropy against smoothed targets (Szegedy et al., 2016, §7):
    ``1 − ε + ε/K`` on the label and ``ε/K`` on each other class.

    ``(N, K)`` class scores and ``(N,)`` integer labels → ``(N,)`` losses; with ε = 0 it
    equals ``gluon.loss.SoftmaxCrossEntropyLoss``, whose dense-label form computes it.

    Args:
        classes: *K*, the number of classes (an integer >= 2).
        epsilon: ε, the probability mass spread evenly over all classes, in [0, 1).

    Raises:
        ValueError: ``classes`` or ``epsilon`` out of range.
    """

    def __init__(self, classes: int, epsilon: float = 0.1, **kwargs: Any):
        if not is_int(classes) or classes < 2:
            raise ValueError(f"classes must be an integer >= 2, got {classes!r}")
        if not 0 <= epsilon < 1:
            raise ValueError(f"epsilon must be in [0, 1), got {epsilon!r}")
        super().__init__(weight=None, batch_axis=0, **kwargs)
        self.classes, self.epsilon = int(classes), float(epsilon)
        self._cross_entropy = gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=False)

    def hybrid_forward(self, F, pred, label):
        off = self.epsilon / self.classes
        target = F.one_hot(label, self.classes, on_value=1.0 - self.epsilon + off,
                           off_value=off)
        return self._cross_entropy(pred, target)
