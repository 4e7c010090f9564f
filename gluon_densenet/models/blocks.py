"""The building blocks of DenseNet (Huang et al., 2017), as Gluon hybrid blocks.

Shapes are NCHW. In the paper's terms a dense block of *L* layers with growth
rate *k* turns ``c`` input channels into ``c + L·k``; a transition layer then
compresses them by the factor θ and halves the spatial size.
"""
from __future__ import annotations

from mxnet import autograd, nd
from mxnet.gluon import nn

from .concat import blocked_ok, concat_channels
from .memory_efficient import dense_block_forward

__all__ = ["POOLS", "DenseBlock", "bottleneck_layer", "concat_channels", "conv_block",
           "transition_block"]

POOLS = ("avg", "max")


def conv_block(channels: int, in_channels: int = 0,
               dropout: float = 0.0) -> nn.HybridSequential:
    """BN → ReLU → 3×3 conv: ``(N, C, H, W) → (N, channels, H, W)``.

    The "pre-activation" composite function H of the original (non-bottleneck)
    DenseNet; ``channels`` is the growth rate *k*. ``dropout`` adds dropout after the
    convolution, as the paper does on data without augmentation (rate 0.2).
    """
    blk = nn.HybridSequential()
    blk.add(nn.BatchNorm(in_channels=in_channels),
            nn.Activation("relu"),
            nn.Conv2D(channels, kernel_size=3, padding=1, use_bias=False,
                      in_channels=in_channels))
    if dropout:
        blk.add(nn.Dropout(dropout))
    return blk


def bottleneck_layer(growth_rate: int, bn_size: int = 4, dropout: float = 0.0,
                     in_channels: int = 0,
                     out_channels: int | None = None) -> nn.HybridSequential:
    """The DenseNet-B layer: BN → ReLU → 1×1 conv → BN → ReLU → 3×3 conv.

    ``(N, C, H, W) → (N, k, H, W)`` with ``k = growth_rate``. The 1×1 conv first
    narrows the ever-wider input to ``bn_size·k`` channels (4k in the paper), so the
    expensive 3×3 conv sees a fixed width however many layers came before.
    ``out_channels`` gives the 3×3 conv another width than *k* (a plain stack's layers,
    :class:`gluon_densenet.analysis.gradient_flow.PlainNet`).
    """
    blk = nn.HybridSequential()
    width = bn_size * growth_rate
    blk.add(nn.BatchNorm(in_channels=in_channels),
            nn.Activation("relu"),
            nn.Conv2D(width, kernel_size=1, use_bias=False, in_channels=in_channels),
            nn.BatchNorm(in_channels=width),
            nn.Activation("relu"),
            nn.Conv2D(out_channels or growth_rate, kernel_size=3, padding=1, use_bias=False,
                      in_channels=width))
    if dropout:
        blk.add(nn.Dropout(dropout))
    return blk


class DenseBlock(nn.HybridBlock):
    """``num_layers`` layers, each fed the concatenation of all earlier outputs:
    ``(N, C, H, W) → (N, C + L·k, H, W)``.

    Args:
        num_layers: *L*, the layers of the block.
        growth_rate: *k*, the channels each layer adds.
        bn_size: ``None`` for :func:`conv_block` layers (the original DenseNet), a number
            for :func:`bottleneck_layer` ones of width ``bn_size·k`` (DenseNet-B).
        dropout: dropout after each layer's last convolution.
        in_channels: *C*, if known: every parameter shape is then known straight after
            ``initialize()``.
        memory_efficient: under ``autograd.record()``, keep only the block's input and
            the layers' outputs, and recompute each layer up to its last convolution
            (concat → BN → ReLU …) during ``backward()``
            (:mod:`gluon_densenet.models.memory_efficient`): the same parameters, outputs
            and gradients, less training memory. Outside ``record()`` nothing changes.

    Raises:
        ValueError: ``num_layers`` or ``growth_rate`` below 1.
    """

    def __init__(self, num_layers: int, growth_rate: int, bn_size: int | None = None,
                 dropout: float = 0.0, in_channels: int = 0, memory_efficient: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        if num_layers < 1 or growth_rate < 1:
            raise ValueError("DenseBlock needs num_layers >= 1 and growth_rate >= 1, "
                             f"got {num_layers} and {growth_rate}")
        self.num_layers = num_layers
        self.growth_rate = growth_rate
        self.in_channels = in_channels
        self.memory_efficient = bool(memory_efficient)
        self._blocked_concat_ok = blocked_ok(in_channels, growth_rate)
        with self.name_scope():
            self.net = nn.HybridSequential()
            for i in range(num_layers):
                c_in = in_channels + i * growth_rate if in_channels else 0
                if bn_size:
                    layer = bottleneck_layer(growth_rate, bn_size, dropout, in_channels=c_in)
                else:
                    layer = conv_block(growth_rate, in_channels=c_in, dropout=dropout)
                self.net.add(layer)

    def out_channels(self, in_channels: int) -> int:
        """Channels this block outputs for ``in_channels`` inputs: ``C + L·k``."""
        return in_channels + self.num_layers * self.growth_rate

    def forward(self, x, *args):
        if self.memory_efficient and isinstance(x, nd.NDArray) and autograd.is_recording():
            return dense_block_forward(self, x)
        return super().forward(x, *args)

    def hybrid_forward(self, F, x):
        for layer in self.net:
            x = concat_channels(F, x, layer(x), self._blocked_concat_ok)
        return x


def transition_block(channels: int, pool: str = "avg", in_channels: int = 0) -> nn.HybridSequential:
    """BN → ReLU → 1×1 conv → 2×2 pool, stride 2: ``(N, C, H, W) → (N, channels, H/2, W/2)``.

    In DenseNet-C, ``channels = ⌊θ·C⌋`` with compression θ (0.5 in the paper).
    ``pool`` is ``"avg"`` (the paper's choice) or ``"max"``.
    """
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    blk = nn.HybridSequential()
    blk.add(nn.BatchNorm(in_channels=in_channels),
            nn.Activation("relu"),
            nn.Conv2D(channels, kernel_size=1, use_bias=False, in_channels=in_channels),
            nn.AvgPool2D(pool_size=2, strides=2) if pool == "avg"
            else nn.MaxPool2D(pool_size=2, strides=2))
    return blk
