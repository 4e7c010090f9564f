"""A classifier's accuracy and predictions on batches of data, split over devices."""
from __future__ import annotations

from collections.abc import Iterable

import mxnet as mx
import numpy as np
from mxnet import gluon

from .checks import ContextArg, context_list

__all__ = ["evaluate", "evaluate_counts", "predict"]

Batch = tuple[mx.nd.NDArray, mx.nd.NDArray]


def batch_size(X: mx.nd.NDArray) -> int:
    """The number of examples in the batch ``X``."""
    return int(X.shape[0])


def devices_for(X: mx.nd.NDArray, ctxs: list[mx.Context]) -> list[mx.Context]:
    """The devices a batch is split over: no more than it has examples."""
    return ctxs[: batch_size(X)]


def split_batch(X: mx.nd.NDArray, y: mx.nd.NDArray,
                ctxs: list[mx.Context]) -> tuple[list[mx.nd.NDArray], list[mx.nd.NDArray]]:
    """``X`` and ``y`` in slices, one on each of ``ctxs`` (uneven if need be)."""
    Xs = gluon.utils.split_and_load(X, ctxs, even_split=False)
    ys = gluon.utils.split_and_load(y, ctxs, even_split=False)
    return Xs, ys


def evaluate_counts(net: gluon.Block, data: Iterable[Batch],
                    ctxs: list[mx.Context]) -> tuple[float, int]:
    """How many examples of ``data`` ``net`` classifies right, and how many there are.

    Args:
        net: the classifier (class scores along axis 1).
        data: ``(X, y)`` batches, each split over ``ctxs``.
        ctxs: the devices.

    Returns:
        ``(#correct, #examples)``.
    """
    metric = mx.metric.Accuracy()
    for X, y in data:
        Xs, ys = split_batch(X, y, devices_for(X, ctxs))
        metric.update(ys, [net(Xi) for Xi in Xs])
    return float(metric.sum_metric), int(metric.num_inst)


def evaluate(net: gluon.Block, data: Iterable[Batch], ctx: ContextArg = None) -> float:
    """Classification accuracy of ``net`` on ``data``.

    Args:
        net: the classifier (class scores along axis 1).
        data: ``(X, y)`` batches.
        ctx: the device or devices each batch is split over (default ``mx.cpu()``).

    Returns:
        The fraction of examples classified right.

    Raises:
        ValueError: ``data`` has no examples, or ``ctx`` is not a usable device list.
    """
    correct, n = evaluate_counts(net, data, context_list(ctx))
    if n == 0:
        raise ValueError("evaluate: data yielded no examples")
    return correct / n


def predict(
    net: gluon.Block, data: Iterable[Batch], ctx: ContextArg = None
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``net`` over ``data`` (split over ``ctx``, as in :func:`evaluate`) and return
    the true and the predicted classes.

    Returns:
        ``(true_labels, predicted_labels)`` as int64 numpy arrays, ready for
        :func:`~gluon_densenet.training.metrics.confusion_matrix`.
    """
    ctxs = context_list(ctx)
    labels: list[np.ndarray] = []
    preds: list[np.ndarray] = []
    for X, y in data:
        Xs = gluon.utils.split_and_load(X, devices_for(X, ctxs), even_split=False)
        outs = [net(Xi).argmax(axis=1).as_in_context(mx.cpu()) for Xi in Xs]
        preds.append(mx.nd.concat(*outs, dim=0).asnumpy())
        labels.append(y.asnumpy() if isinstance(y, mx.nd.NDArray) else np.asarray(y))
    if not preds:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(labels).astype(np.int64), np.concatenate(preds).astype(np.int64)
