"""The DenseNet family: one configurable :class:`DenseNet`, a spec table, thin factories.

=============  ===========  ==========  ==================  ========================
name           init feat.   growth *k*  block config        weighted layers
=============  ===========  ==========  ==================  ========================
densenet121    64           32          (6, 12, 24, 16)     121
densenet161    96           48          (6, 12, 36, 24)     161
densenet169    64           32          (6, 12, 32, 32)     169
densenet201    64           32          (6, 12, 48, 32)     201
densenet264    64           32          (6, 12, 64, 48)     265 (the paper's name)
=============  ===========  ==========  ==================  ========================

All are DenseNet-BC (bottleneck ``bn_size=4``, compression θ = 0.5). Every net ends
in *global* average pooling, so any input from :meth:`DenseNet.min_input_size` up
works: 32 px Fashion-MNIST as well as 224 px ImageNet.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from mxnet import autograd, nd
from mxnet.gluon import nn

from .blocks import POOLS, DenseBlock, transition_block

STEMS = ("imagenet", "cifar")


@dataclass(frozen=True)
class DenseNetSpec:
    """One row of the paper's Table 1."""
    init_features: int
    growth_rate: int
    block_config: tuple[int, ...]


#: depth → spec, from Huang et al. (2017), Table 1.
DENSENET_SPECS: dict[int, DenseNetSpec] = {
    121: DenseNetSpec(64, 32, (6, 12, 24, 16)),
    161: DenseNetSpec(96, 48, (6, 12, 36, 24)),
    169: DenseNetSpec(64, 32, (6, 12, 32, 32)),
    201: DenseNetSpec(64, 32, (6, 12, 48, 32)),
    264: DenseNetSpec(64, 32, (6, 12, 64, 48)),
}


class DenseNet(nn.HybridBlock):
    """A DenseNet: stem → [dense block → transition] × (B−1) → dense block → BN → ReLU
    → global average pool → dense classifier.

    ``(N, in_channels, H, W) → (N, classes)`` for any ``H, W ≥ min_input_size()``.

    Args:
        block_config: layers per dense block.
        growth_rate: *k*, the channels each layer adds.
        init_features: channels out of the stem.
        bn_size: bottleneck width factor (1×1 conv to ``bn_size·k``); ``None`` or 0 for
            plain BN-ReLU-3×3 layers (no bottleneck).
        compression: θ, the fraction of channels a transition keeps (1.0 = none).
        dropout: dropout after each bottleneck layer.
        transition_pool: ``"avg"`` (the paper) or ``"max"``.
        stem: ``"imagenet"`` (7×7/2 conv + 3×3/2 max pool) or ``"cifar"`` (3×3/1 conv).
        classes: outputs of the classifier.
        in_channels: input image channels (3 for RGB, 1 for Fashion-MNIST).
        memory_efficient: under ``autograd.record()``, recompute each dense layer's
            concat → BN → ReLU → conv during ``backward()`` instead of storing it
            (:mod:`gluon_densenet.models.memory_efficient`); same parameters and results, much less
            training memory, the ordinary training loop. Inference is unchanged.
    """

    def __init__(self, block_config: tuple[int, ...] | list[int], growth_rate: int = 32,
                 init_features: int = 64, bn_size: int | None = 4, compression: float = 0.5,
                 dropout: float = 0.0, transition_pool: str = "avg", stem: str = "imagenet",
                 classes: int = 1000, in_channels: int = 3, memory_efficient: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {stem!r}")
        if transition_pool not in POOLS:
            raise ValueError(f"transition_pool must be one of {POOLS}, got {transition_pool!r}")
        if not 0 < compression <= 1:
            raise ValueError(f"compression θ must be in (0, 1], got {compression}")
        if not block_config:
            raise ValueError("block_config needs at least one dense block")
        self.block_config = tuple(block_config)
        self.growth_rate = growth_rate
        self.init_features = init_features
        self.bn_size = bn_size
        self.compression = compression
        self.transition_pool = transition_pool
        self.stem = stem
        self.classes = classes
        self.in_channels = in_channels
        self.memory_efficient = bool(memory_efficient)

        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            if stem == "imagenet":
                self.features.add(
                    nn.Conv2D(init_features, kernel_size=7, strides=2, padding=3,
                              use_bias=False, in_channels=in_channels),
                    nn.BatchNorm(in_channels=init_features),
                    nn.Activation("relu"),
                    nn.MaxPool2D(pool_size=3, strides=2, padding=1))
            else:
                self.features.add(nn.Conv2D(init_features, kernel_size=3, padding=1,
                                            use_bias=False, in_channels=in_channels))
            channels = init_features
            for i, num_layers in enumerate(self.block_config):
                block = DenseBlock(num_layers, growth_rate, bn_size=bn_size, dropout=dropout,
                                   in_channels=channels, memory_efficient=memory_efficient,
                                   prefix=f"stage{i + 1}_")
                self.features.add(block)
                channels = block.out_channels(channels)
                if i != len(self.block_config) - 1:
                    out = int(channels * compression)
                    self.features.add(transition_block(out, transition_pool, in_channels=channels))
                    channels = out
            self.features.add(nn.BatchNorm(in_channels=channels),
                              nn.Activation("relu"),
                              nn.GlobalAvgPool2D(),
                              nn.Flatten())
            self.output = nn.Dense(classes, in_units=channels)
        self.num_features = channels

    # --- input size ---------------------------------------------------------------
    def spatial_sizes(self, size: int) -> list[int] | None:
        """Side lengths after the stem and after each transition for a ``size``-px input,
        or ``None`` if some pooling window would not fit."""
        if self.stem == "imagenet":
            size = (size + 2 * 3 - 7) // 2 + 1           # 7×7 conv, stride 2, pad 3
            if size < 1:
                return None
            size = (size + 2 * 1 - 3) // 2 + 1           # 3×3 max pool, stride 2, pad 1
            if size < 1:
                return None
        sizes = [size]
        for _ in range(len(self.block_config) - 1):      # 2×2 pool, stride 2
            if size < 2:
                return None
            size //= 2
            sizes.append(size)
        return sizes

    def min_input_size(self) -> int:
        """Smallest square input side this net accepts (29 px for the ImageNet stem
        with four dense blocks, 4 px for the CIFAR stem with three)."""
        size = 1
        while self.spatial_sizes(size) is None:
            size += 1
        return size

    def forward(self, x, *args):
        # Check NDArray inputs here, before MXNet's pooling fails with a cryptic message.
        if isinstance(x, nd.NDArray):
            self.check_input_shape(x.shape)
            if self.memory_efficient and autograd.is_recording():
                # Layer by layer, so that each memory-efficient DenseBlock runs its own
                # recomputing forward (a hybridized whole would bypass it).
                for child in self.features:
                    x = child(x)
                return self.output(x)
        return super().forward(x, *args)

    def check_input_shape(self, shape: tuple[int, ...]) -> None:
        """Raise ``ValueError`` saying what to change unless ``shape`` is an NCHW batch
        with this net's input channels and at least :meth:`min_input_size` px."""
        if len(shape) != 4:
            raise ValueError(f"DenseNet expects a 4-D NCHW batch, got shape {shape}")
        if shape[1] != self.in_channels:
            raise ValueError(f"this DenseNet was built for {self.in_channels} input channel(s) "
                             f"but got {shape[1]} (shape {shape}); build it with "
                             f"in_channels={shape[1]}")
        smallest = min(shape[2], shape[3])
        if self.spatial_sizes(smallest) is None:
            minimum = self.min_input_size()
            raise ValueError(
                f"input {shape[2]}×{shape[3]} is too small for this DenseNet: its {self.stem} stem "
                f"and {len(self.block_config) - 1} transition layers need at least "
                f"{minimum}×{minimum} px. Resize the images (e.g. resize={max(32, minimum)}, "
                f"or --resize {max(32, minimum)} on the command line).")

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


# --- factories -----------------------------------------------------------------------

def densenet(depth: int, classes: int = 1000, pretrained: bool = False,
             root: str | os.PathLike | None = None, **kwargs) -> DenseNet:
    """The DenseNet-BC of the paper's Table 1 with ``depth`` in :data:`DENSENET_SPECS`.

    ``pretrained=True`` loads MXNet's ImageNet weights (depths 121, 161, 169, 201), fetched
    once into ``root`` (default ``~/.mxnet/models``) by MXNet's model store; ``classes``
    other than 1000 then gets a new, randomly initialised classifier, and ``in_channels=1``
    the stem's kernel summed over colour (see :mod:`gluon_densenet.pretrained`).
    """
    if depth not in DENSENET_SPECS:
        raise ValueError(f"no DenseNet spec for depth {depth}; "
                         f"choose one of {sorted(DENSENET_SPECS)}")
    if pretrained:
        from ..pretrained import pretrained_densenet  # imports this module
        return pretrained_densenet(depth, classes, root=root, **kwargs)
    spec = DENSENET_SPECS[depth]
    return DenseNet(spec.block_config, growth_rate=spec.growth_rate,
                    init_features=spec.init_features, classes=classes, **kwargs)


def densenet121(classes: int = 1000, pretrained: bool = False,
                root: str | os.PathLike | None = None, **kwargs) -> DenseNet:
    """DenseNet-121 (k=32, blocks 6-12-24-16): 7,978,856 parameters with 1000 classes.
    ``pretrained=True``: MXNet's ImageNet weights (see :func:`densenet`)."""
    return densenet(121, classes, pretrained, root, **kwargs)


def densenet161(classes: int = 1000, pretrained: bool = False,
                root: str | os.PathLike | None = None, **kwargs) -> DenseNet:
    """DenseNet-161 (k=48, 96 init features, blocks 6-12-36-24).
    ``pretrained=True``: MXNet's ImageNet weights (see :func:`densenet`)."""
    return densenet(161, classes, pretrained, root, **kwargs)


def densenet169(classes: int = 1000, pretrained: bool = False,
                root: str | os.PathLike | None = None, **kwargs) -> DenseNet:
    """DenseNet-169 (k=32, blocks 6-12-32-32).
    ``pretrained=True``: MXNet's ImageNet weights (see :func:`densenet`)."""
    return densenet(169, classes, pretrained, root, **kwargs)


def densenet201(classes: int = 1000, pretrained: bool = False,
                root: str | os.PathLike | None = None, **kwargs) -> DenseNet:
    """DenseNet-201 (k=32, blocks 6-12-48-32).
    ``pretrained=True``: MXNet's ImageNet weights (see :func:`densenet`)."""
    return densenet(201, classes, pretrained, root, **kwargs)


def densenet264(classes: int = 1000, **kwargs) -> DenseNet:
    """DenseNet-264 with the paper's blocks 6-12-64-48. Counting its weighted layers
    gives 265 (1 stem conv + 2·130 + 3 transitions + 1 classifier); the paper's name is kept."""
    return densenet(264, classes, **kwargs)


def densenet_bc(depth: int = 100, growth_rate: int = 12, classes: int = 10, **kwargs) -> DenseNet:
    """The paper's CIFAR DenseNet-BC: 3 dense blocks of ``(depth − 4) / 6`` bottleneck
    layers, ``2k`` init features, a 3×3 stem, θ = 0.5. L=100, k=12 has about 0.8 M
    parameters."""
    if (depth - 4) % 6:
        raise ValueError(f"DenseNet-BC depth must be 6n + 4 (e.g. 40, 100, 190), got {depth}")
    n = (depth - 4) // 6
    return DenseNet((n, n, n), growth_rate=growth_rate, init_features=2 * growth_rate,
                    bn_size=4, compression=0.5, stem="cifar", classes=classes, **kwargs)


def densenet63_classic(classes: int = 10, **kwargs) -> DenseNet:
    """The classic tutorial's net: DenseNet-121's block config (6-12-24-16), 64 init
    features and k=32, but plain BN-ReLU-3×3 layers without the 1×1 bottleneck.

    One conv per layer instead of two, so it has 1 + 58 + 3 + 1 = 63 weighted layers,
    not the 121 its tutorial claimed."""
    return DenseNet((6, 12, 24, 16), growth_rate=32, init_features=64, bn_size=None,
                    compression=0.5, classes=classes, **kwargs)


def densenet21_d2l(classes: int = 10, **kwargs) -> DenseNet:
    """The small net of *Dive into Deep Learning*: 4 blocks of 4 plain conv layers,
    k=32, 64 init features, θ = 0.5 (1 + 16 + 3 + 1 = 21 weighted layers). A good
    Fashion-MNIST default."""
    return DenseNet((4, 4, 4, 4), growth_rate=32, init_features=64, bn_size=None,
                    compression=0.5, classes=classes, **kwargs)


def densenet_tiny(classes: int = 10, **kwargs) -> DenseNet:
    """A stand-in that runs in milliseconds, for tests and smoke runs: 2 blocks of 2
    bottleneck layers, k=8, 16 init features, θ = 0.5 (about 14,000 parameters)."""
    return DenseNet((2, 2), growth_rate=8, init_features=16, classes=classes, **kwargs)


#: Every named factory, in the order tables list them.
FACTORIES = (densenet121, densenet161, densenet169, densenet201, densenet264, densenet_bc,
             densenet63_classic, densenet21_d2l, densenet_tiny)
