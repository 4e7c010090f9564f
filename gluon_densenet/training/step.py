"""One training step, the single place where forward, loss, backward and the update meet.

The training loop, the time-budget probe, the memory measurement and the benchmarks all
call these, so every figure the project reports is of the same step.
"""
from __future__ import annotations

from collections.abc import Callable

from mxnet import autograd, gluon, nd

from .memory_efficient import forward_backward, is_memory_efficient

__all__ = ["compute_gradients", "train_step"]


def compute_gradients(net: gluon.Block, X: nd.NDArray, y: nd.NDArray, loss_fn: Callable,
                      return_output: bool = False, memory_efficient: bool | None = None):
    """Forward and backward of ``loss_fn(net(X), y)``, leaving the parameters' gradients.

    A net with memory-efficient dense blocks goes through
    :func:`~gluon_densenet.training.memory_efficient.forward_backward` (same gradients,
    less memory). Returns the per-sample loss ``(N,)``, or ``(loss, net(X))`` with
    ``return_output``. ``memory_efficient`` is whether ``net`` has such blocks; ``None``
    looks (a walk over every block, which a loop should do once, not per batch).
    """
    if memory_efficient is None:
        memory_efficient = is_memory_efficient(net)
    if memory_efficient:
        return forward_backward(net, X, y, loss_fn, return_output=return_output)
    with autograd.record():
        out = net(X)
        loss = loss_fn(out, y)
    loss.backward()
    return (loss, out) if return_output else loss


def train_step(net: gluon.Block, trainer: gluon.Trainer, loss_fn: Callable, X: nd.NDArray,
               y: nd.NDArray, memory_efficient: bool | None = None) -> nd.NDArray:
    """One optimiser step on one batch ``X: (N, C, H, W)``, ``y: (N,)``; returns the loss.

    ``memory_efficient`` as for :func:`compute_gradients`: pass it when calling in a loop.
    """
    loss = compute_gradients(net, X, y, loss_fn, memory_efficient=memory_efficient)
    trainer.step(X.shape[0])
    return loss
