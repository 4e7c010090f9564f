"""A confusion matrix on numpy arrays (accuracy is ``mx.metric.Accuracy``, as
:func:`~gluon_densenet.training.evaluate` uses it)."""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["confusion_matrix"]


def _as_int_labels(a: Any) -> np.ndarray:
    if hasattr(a, "asnumpy"):  # mx.nd.NDArray
        a = a.asnumpy()
    return np.asarray(a).reshape(-1).astype(np.int64)


def confusion_matrix(labels: Any, preds: Any, num_classes: int) -> np.ndarray:
    """``(num_classes, num_classes)`` int64 counts; row = true class, column = predicted.

    ``labels``/``preds`` are integer class indices (numpy, lists or NDArrays).
    """
    y, p = _as_int_labels(labels), _as_int_labels(preds)
    if y.shape != p.shape:
        raise ValueError(f"labels and preds differ in length: {y.shape[0]} vs {p.shape[0]}")
    for name, a in (("labels", y), ("preds", p)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"{name} must lie in [0, {num_classes}), got range "
                             f"[{a.min()}, {a.max()}]")
    counts = np.bincount(y * num_classes + p, minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes)

