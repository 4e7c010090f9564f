"""Memory-efficient training of DenseNets (Pleiss et al., 2017) from any Gluon loop.

Build the net with ``memory_efficient=True`` and train it as usual::

    net = densenet121(classes=10, memory_efficient=True)
    ...
    with autograd.record():
        loss = loss_fn(net(X), y)
    loss.backward()
    trainer.step(X.shape[0])

Under ``autograd.record()`` each dense block keeps only its layers' narrow outputs
(``k`` channels) and recomputes the layers during ``backward()``
(:mod:`gluon_densenet.models.recompute` says how, and what it refuses). Parameters, outputs,
gradients and BatchNorm running statistics are those of the standard step; inference
(``net(X)`` outside ``record()``) is unchanged. A hybridized DenseNet runs its children one
by one under ``record()``; a net of your own containing memory-efficient DenseBlocks should
hybridize its children, not itself.

Use plain ``hybridize()`` for such a net: ``static_alloc`` would keep every layer's buffers
alive and defeat the purpose (:func:`gluon_densenet.training.performance.fast_hybridize`
leaves memory-efficient nets at that).
"""
from __future__ import annotations

from collections.abc import Callable

from mxnet import nd
from mxnet.gluon import nn

from ..models.blocks import DenseBlock
from .step import compute_gradients

__all__ = ["forward_backward", "is_memory_efficient"]


def is_memory_efficient(net: nn.Block) -> bool:
    """Whether ``net`` contains a :class:`DenseBlock` built with ``memory_efficient=True``."""
    found = []
    net.apply(lambda b: found.append(isinstance(b, DenseBlock) and b.memory_efficient))
    return any(found)


def forward_backward(net: nn.Block, X: nd.NDArray, y: nd.NDArray, loss_fn: Callable,
                     return_output: bool = False):
    """``loss_fn(net(X), y)`` recorded, and its ``backward()``: the ordinary step, kept as a
    shortcut. Returns the per-sample loss, or ``(loss, net(X))`` with ``return_output``;
    call ``trainer.step(batch_size)`` afterwards."""
    loss, out = compute_gradients(net, X, y, loss_fn, return_output=True)
    if return_output:
        return loss.detach(), out.detach()
    return loss.detach()
