"""How much gradient reaches each weighted layer: the paper's "implicit deep supervision".

Huang et al. (2017) argue that dense connections give every layer a short path to the loss.
This module measures it in one backward pass on a real batch:

- :func:`plain_counterpart` builds a :class:`PlainNet`, a net of the DenseNet's depth, layer
  kinds and block-boundary widths whose layers each read only the previous layer's output;
- :func:`layer_gradients` gives, for every convolution and fully connected weight in
  forward order, the L2 norm of its gradient (:class:`LayerGradient`), for any initialised
  Gluon net: a :class:`~gluon_densenet.models.densenet.DenseNet`, its plain counterpart, the
  model zoo's ``resnet18_v1``;
- :func:`gradient_profile` averages them over a few batches.

For example::

    net = DenseNet((2, 3), growth_rate=8, init_features=16, bn_size=None, stem="cifar",
                   classes=10, in_channels=1)
    plain = plain_counterpart(net)
    for n in (net, plain):
        n.initialize()
    [g.grad_rms for g in layer_gradients(plain, X, y)]   # X: (N, 1, 28, 28), y: (N,)
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import mxnet as mx
from mxnet import gluon, nd
from mxnet.gluon import nn
from mxnet.gluon.parameter import DeferredInitializationError

from ..models.blocks import bottleneck_layer, conv_block
from ..models.densenet import DenseNet
from ..training.step import compute_gradients
from .parameters import learnable_shapes

__all__ = ["LayerGradient", "PlainNet", "gradient_profile", "layer_gradients",
           "plain_counterpart"]

#: Dimensions of the weights reported: 4-D convolution kernels, 2-D fully connected weights.
WEIGHT_NDIMS = (2, 4)


# --- the plain counterpart ---------------------------------------------------------------

def _plain_layer(width: int, in_channels: int, bn_size: int | None, growth_rate: int,
                 dropout: float) -> nn.HybridSequential:
    """One layer of a plain block, ``(N, in_channels, H, W) → (N, width, H, W)``: the
    DenseNet's layer kind (:func:`conv_block`, or :func:`bottleneck_layer` with its 1×1
    conv to ``bn_size·k``) writing ``width`` channels, with the DenseNet's dropout."""
    if not bn_size:
        return conv_block(width, in_channels=in_channels, dropout=dropout)
    return bottleneck_layer(growth_rate, bn_size, dropout, in_channels=in_channels,
                            out_channels=width)


class PlainNet(DenseNet):
    """A DenseNet's counterpart without dense connections: ``(N, in_channels, H, W) →
    (N, classes)``, the DenseNet's depth, layer kinds, stem, transitions and head.

    A dense block of *L* layers turning ``c0`` channels into ``w = c0 + L·k`` becomes a chain
    of *L* layers, each reading only the previous layer's output and writing ``w`` channels
    (the first reads ``c0``): plain BN-ReLU-3×3 layers if the DenseNet has them, else
    bottleneck layers BN-ReLU-1×1 conv to ``bn_size·k`` → BN-ReLU-3×3 conv to ``w``. The
    widths at block boundaries, the classifier's input width (:attr:`num_features`) and the
    number of weighted layers equal the DenseNet's; the parameter count does not (every
    layer is as wide as the block's output). Everything but the stages is the DenseNet
    class's own, so stem, transitions and head are built by the same code.

    Args:
        net: the DenseNet to mirror; only its configuration is read, not its weights.
        **kwargs: for ``HybridBlock`` (``prefix``, ``params``).
    """

    def __init__(self, net: DenseNet, **kwargs: Any):
        super().__init__(net.block_config, growth_rate=net.growth_rate,
                         init_features=net.init_features, bn_size=net.bn_size,
                         compression=net.compression, dropout=net.dropout,
                         transition_pool=net.transition_pool, stem=net.stem,
                         classes=net.classes, in_channels=net.in_channels, **kwargs)

    def _stage(self, index: int, num_layers: int, channels: int) -> tuple[nn.HybridBlock, int]:
        """A chain of ``num_layers`` layers, each writing the dense block's output width."""
        width = channels + num_layers * self.growth_rate
        stage = nn.HybridSequential(prefix=f"stage{index}_")
        with stage.name_scope():
            for j in range(num_layers):
                stage.add(_plain_layer(width, width if j else channels, self.bn_size,
                                       self.growth_rate, self.dropout))
        return stage, width


def plain_counterpart(net: DenseNet) -> PlainNet:
    """The :class:`PlainNet` of ``net``: same depth, layer kinds and block-boundary widths,
    no dense connections. Uninitialised; call ``initialize()`` (and ``hybridize()``)."""
    return PlainNet(net)


# --- gradients per layer -----------------------------------------------------------------

@dataclass(frozen=True)
class LayerGradient:
    """The gradient reaching one weighted layer (a convolution or fully connected weight).

    Attributes:
        name: the weight's parameter name, as in ``net.collect_params()``.
        depth: 1 for the first weighted layer from the input, counting in forward order.
        size: elements of the weight.
        grad_norm: L2 norm of the gradient of the mean loss over the batch.
        grad_rms: ``grad_norm / sqrt(size)``, comparable between layers of different sizes.
        weight_norm: L2 norm of the weight itself.
    """
    name: str
    depth: int
    size: int
    grad_norm: float
    grad_rms: float
    weight_norm: float


def _weight_names(net: gluon.HybridBlock, input_shape: tuple[int, ...]) -> list[str]:
    """Names of the 4-D convolution and 2-D fully connected weights, in graph order."""
    return [name for name, shape in learnable_shapes(net, input_shape)
            if len(shape) in WEIGHT_NDIMS and name.endswith("weight")]


def _materialize(net: gluon.Block, X: nd.NDArray) -> None:
    """Run one inference forward pass if some parameter still waits for its shape (deferred
    initialisation); inference mode leaves BatchNorm's running statistics alone."""
    try:
        for param in net.collect_params().values():
            param.list_data()
    except DeferredInitializationError:
        net(X)


def _snapshot(params: Iterable[gluon.Parameter]) -> list[tuple[nd.NDArray, nd.NDArray]]:
    """(array, copy) of every gradient and of every parameter that gets none (BatchNorm's
    running mean and variance, frozen weights), to restore in place afterwards."""
    pairs: list[tuple[nd.NDArray, nd.NDArray]] = []
    for param in params:
        arrays = param.list_data() if param.grad_req == "null" else param.list_grad()
        pairs.extend((a, a.copy()) for a in arrays)
    return pairs


def _layer_gradient(param: gluon.Parameter, depth: int, ctx: mx.Context) -> LayerGradient:
    grad_norm = float(param.grad(ctx).norm().asscalar())
    size = math.prod(param.shape)
    return LayerGradient(name=param.name, depth=depth, size=size, grad_norm=grad_norm,
                         grad_rms=grad_norm / math.sqrt(size),
                         weight_norm=float(param.data(ctx).norm().asscalar()))


def layer_gradients(net: gluon.HybridBlock, X: nd.NDArray, y: nd.NDArray,
                    loss_fn: Callable | None = None) -> list[LayerGradient]:
    """The gradient reaching every convolution and fully connected weight of ``net`` in one
    forward and backward pass (training mode, under ``autograd.record()``) of the mean loss
    over the batch.

    Weights come in forward (graph) order, the stem first and the classifier last; BatchNorm
    parameters and biases are left out, as are weights with ``grad_req='null'`` (frozen;
    they keep their depth numbers). The call has no side effects on ``net``: no weight is
    updated, and BatchNorm's running statistics and every ``.grad()`` are restored afterwards.
    With dropout in the net the result is random and the random state advances.

    Args:
        net: an initialised hybridizable net, hybridized or not, on ``X``'s context.
        X: a batch ``(N, C, H, W)``.
        y: its labels ``(N,)``.
        loss_fn: per-sample loss ``(out, y) → (N,)``, averaged here; default
            ``gluon.loss.SoftmaxCrossEntropyLoss()``.

    Returns:
        One :class:`LayerGradient` per weighted layer, by increasing depth.
    """
    loss_fn = loss_fn or gluon.loss.SoftmaxCrossEntropyLoss()
    names = _weight_names(net, X.shape)
    params = net.collect_params()
    _materialize(net, X)
    saved = _snapshot(params.values())
    try:
        params.zero_grad()                      # grad_req='add' would otherwise accumulate
        compute_gradients(net, X, y, lambda out, label: loss_fn(out, label).mean())
        return [_layer_gradient(params[name], depth, X.context)
                for depth, name in enumerate(names, start=1)
                if params[name].grad_req != "null"]
    finally:
        for array, copy in saved:
            copy.copyto(array)


def gradient_profile(net: gluon.HybridBlock, batches: Iterable[tuple[nd.NDArray, nd.NDArray]],
                     loss_fn: Callable | None = None) -> list[LayerGradient]:
    """:func:`layer_gradients` averaged over ``batches`` of ``(X, y)``: the mean ``grad_norm``
    and ``grad_rms`` per layer (``weight_norm`` is the same for every batch).

    Raises:
        ValueError: ``batches`` is empty.
    """
    runs = [layer_gradients(net, X, y, loss_fn) for X, y in batches]
    if not runs:
        raise ValueError("gradient_profile needs at least one batch")
    return [LayerGradient(first.name, first.depth, first.size,
                          sum(r[i].grad_norm for r in runs) / len(runs),
                          sum(r[i].grad_rms for r in runs) / len(runs), first.weight_norm)
            for i, first in enumerate(runs[0])]
