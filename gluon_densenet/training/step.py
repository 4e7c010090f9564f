"""One training step, the single place where forward, loss, backward and the update meet.

The training loop, the time-budget probe, the memory measurement and the benchmarks all
call these, so every figure the project reports is of the same step. It is the ordinary
Gluon step: nets built with ``memory_efficient=True`` recompute their dense layers inside
``backward()`` (:mod:`gluon_densenet.models.memory_efficient`).
"""
from __future__ import annotations

from collections.abc import Callable

from mxnet import autograd, gluon, nd

from ..models.memory_efficient import clear_pending

__all__ = ["compute_gradients", "train_step"]


def compute_gradients(net: gluon.Block, X: nd.NDArray, y: nd.NDArray, loss_fn: Callable,
                      return_output: bool = False):
    """Forward and backward of ``loss_fn(net(X), y)``, leaving the parameters' gradients.

    Returns the per-sample loss ``(N,)``, or ``(loss, net(X))`` with ``return_output``.
    """
    try:
        with autograd.record():
            out = net(X)
            loss = loss_fn(out, y)
        loss.backward()
    except BaseException:
        clear_pending()       # a memory-efficient block's pass that will never be replayed
        raise
    return (loss, out) if return_output else loss


def train_step(net: gluon.Block, trainer: gluon.Trainer, loss_fn: Callable, X: nd.NDArray,
               y: nd.NDArray) -> nd.NDArray:
    """One optimiser step on one batch ``X: (N, C, H, W)``, ``y: (N,)``; returns the loss."""
    loss = compute_gradients(net, X, y, loss_fn)
    trainer.step(X.shape[0])
    return loss
