"""The DenseNet family: one configurable :class:`DenseNet`, the paper's spec table, factories.

The ImageNet factories ``densenet121`` … ``densenet264`` are generated from
:data:`DENSENET_SPECS`; all are DenseNet-BC (bottleneck ``bn_size=4``, compression θ = 0.5).
Every net ends in global average pooling, so any input from :meth:`DenseNet.min_input_size`
up works. The factories build random weights; ImageNet weights come from
:mod:`gluon_densenet.pretrained` (``gluon_densenet.densenet121(pretrained=True)``).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import mxnet as mx
from mxnet import autograd, nd
from mxnet.gluon import nn

from ..validation import is_int
from .blocks import POOLS, DenseBlock, transition_block
from .params import initialized_contexts
from .summary import hybridization

STEMS = ("imagenet", "cifar")
#: Options of a pretrained-aware factory that these builders refuse.
WEIGHT_OPTIONS = ("pretrained", "root")


@dataclass(frozen=True)
class DenseNetSpec:
    """One row of the paper's Table 1: init features, growth rate *k*, layers per block."""
    init_features: int
    growth_rate: int
    block_config: tuple[int, ...]

    @property
    def weighted_layers(self) -> int:
        """Convolutions and the classifier of the DenseNet-BC: stem conv, two per bottleneck
        layer, one per transition, the classifier."""
        return 1 + 2 * sum(self.block_config) + len(self.block_config)

    def build(self, **kwargs: Any) -> DenseNet:
        """A :class:`DenseNet` of this spec; ``kwargs`` as :class:`DenseNet` takes them."""
        return DenseNet(self.block_config, growth_rate=self.growth_rate,
                        init_features=self.init_features, **kwargs)


#: depth → spec, from Huang et al. (2017), Table 1.
DENSENET_SPECS: dict[int, DenseNetSpec] = {
    121: DenseNetSpec(64, 32, (6, 12, 24, 16)),
    161: DenseNetSpec(96, 48, (6, 12, 36, 24)),
    169: DenseNetSpec(64, 32, (6, 12, 32, 32)),
    201: DenseNetSpec(64, 32, (6, 12, 48, 32)),
    264: DenseNetSpec(64, 32, (6, 12, 64, 48)),
}


def refuse_weight_options(kwargs: Mapping[str, Any]) -> None:
    """Raise a one-line ``TypeError`` naming where weights come from if ``kwargs`` holds
    ``pretrained`` or ``root``: these builders make random-weight nets only."""
    for option in WEIGHT_OPTIONS:
        if option in kwargs:
            raise TypeError(f"gluon_densenet.models builds random-weight nets and takes no "
                            f"{option}=; for ImageNet weights use "
                            "gluon_densenet.densenet121(pretrained=True) (or densenet161, 169, "
                            "201) or gluon_densenet.pretrained")


class DenseNet(nn.HybridBlock):
    """A DenseNet: stem → [dense block → transition] × (B−1) → dense block → BN → ReLU
    → global average pool → dense classifier.

    ``(N, in_channels, H, W) → (N, classes)`` for any ``H, W ≥ min_input_size()``;
    :meth:`forward_features` stops before the classifier, at ``(N, num_features)``.

    Args:
        block_config: layers per dense block.
        growth_rate: *k*, the channels each layer adds.
        init_features: channels out of the stem.
        bn_size: bottleneck width factor (1×1 conv to ``bn_size·k``); ``None`` or 0 for
            plain BN-ReLU-3×3 layers (no bottleneck).
        compression: θ, the fraction of channels a transition keeps (1.0 = none).
        dropout: dropout after each dense layer (the paper's 0.2 on unaugmented data; the
            paper also puts it after the transitions' convolutions, this class, like
            torchvision's, does not).
        transition_pool: ``"avg"`` (the paper) or ``"max"``.
        stem: ``"imagenet"`` (7×7/2 conv + 3×3/2 max pool) or ``"cifar"`` (3×3/1 conv).
        classes: outputs of the classifier.
        in_channels: input image channels (3 for RGB, 1 for Fashion-MNIST).
        memory_efficient: under ``autograd.record()``, recompute each dense layer during
            ``backward()`` instead of storing it
            (:mod:`gluon_densenet.models.memory_efficient`); same parameters and results,
            less training memory. Inference is unchanged.
        **kwargs: for ``HybridBlock`` (``prefix``, ``params``).

    Raises:
        ValueError: an unknown stem or pool, θ outside (0, 1], no dense block.
        TypeError: ``pretrained=`` or ``root=`` (see :mod:`gluon_densenet.pretrained`).
    """

    def __init__(self, block_config: tuple[int, ...] | list[int], growth_rate: int = 32,
                 init_features: int = 64, bn_size: int | None = 4, compression: float = 0.5,
                 dropout: float = 0.0, transition_pool: str = "avg", stem: str = "imagenet",
                 classes: int = 1000, in_channels: int = 3, memory_efficient: bool = False,
                 **kwargs: Any):
        refuse_weight_options(kwargs)
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
        self.dropout = dropout
        self.transition_pool = transition_pool
        self.stem = stem
        self.classes = classes
        self.in_channels = in_channels
        self.memory_efficient = bool(memory_efficient)
        with self.name_scope():
            self.features = nn.HybridSequential(prefix="")
            self.features.add(*self._stem_layers())
            channels = self._add_dense_stages()
            self.features.add(nn.BatchNorm(in_channels=channels),
                              nn.Activation("relu"),
                              nn.GlobalAvgPool2D(),
                              nn.Flatten())
            self.output = nn.Dense(classes, in_units=channels)
        self.num_features = channels

    def _stem_layers(self) -> list[nn.HybridBlock]:
        """The ImageNet stem (7×7/2 conv → BN → ReLU → 3×3/2 max pool) or the CIFAR one."""
        c_in, c_out = self.in_channels, self.init_features
        if self.stem == "cifar":
            return [nn.Conv2D(c_out, kernel_size=3, padding=1, use_bias=False,
                              in_channels=c_in)]
        return [nn.Conv2D(c_out, kernel_size=7, strides=2, padding=3, use_bias=False,
                          in_channels=c_in),
                nn.BatchNorm(in_channels=c_out),
                nn.Activation("relu"),
                nn.MaxPool2D(pool_size=3, strides=2, padding=1)]

    def _add_dense_stages(self) -> int:
        """Add the dense blocks with a transition (⌊θ·C⌋ channels) between each two;
        returns the channels out of the last block."""
        channels = self.init_features
        last = len(self.block_config) - 1
        for i, num_layers in enumerate(self.block_config):
            stage, channels = self._stage(i + 1, num_layers, channels)
            self.features.add(stage)
            if i != last:
                out = int(channels * self.compression)
                self.features.add(transition_block(out, self.transition_pool,
                                                   in_channels=channels))
                channels = out
        return channels

    def _stage(self, index: int, num_layers: int, channels: int) -> tuple[nn.HybridBlock, int]:
        """Stage ``index`` (from 1): a :class:`DenseBlock` of ``num_layers`` layers reading
        ``channels``; returns it and its output channels. A subclass may build another
        kind of stage here (``analysis.gradient_flow.PlainNet`` does)."""
        block = DenseBlock(num_layers, self.growth_rate, bn_size=self.bn_size,
                           dropout=self.dropout, in_channels=channels,
                           memory_efficient=self.memory_efficient, prefix=f"stage{index}_")
        return block, block.out_channels(channels)

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

    # --- forward ------------------------------------------------------------------
    def _checked(self, x: Any) -> bool:
        """Check an NDArray input here, before MXNet's pooling fails with a cryptic message;
        ``True`` when memory-efficient blocks must run one by one (a hybridized whole would
        bypass their recomputing forward)."""
        if not isinstance(x, nd.NDArray):
            return False
        self.check_input_shape(x.shape)
        return self.memory_efficient and autograd.is_recording()

    def _features_layer_by_layer(self, x: nd.NDArray) -> nd.NDArray:
        for child in self.features:
            x = child(x)
        return x

    def forward_features(self, x: nd.NDArray | mx.sym.Symbol) -> nd.NDArray | mx.sym.Symbol:
        """``(N, in_channels, H, W) → (N, num_features)``: the pooled, flattened features
        the classifier reads."""
        if self._checked(x):
            return self._features_layer_by_layer(x)
        return self.features(x)

    def forward(self, x: nd.NDArray | mx.sym.Symbol, *args: Any) -> nd.NDArray | mx.sym.Symbol:
        """``(N, in_channels, H, W) → (N, classes)``."""
        if self._checked(x):
            return self.output(self._features_layer_by_layer(x))
        return super().forward(x, *args)

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return self.output(self.features(x))

    # --- classifier ---------------------------------------------------------------
    def reset_classifier(self, classes: int, ctx: mx.Context | list[mx.Context] | None = None,
                         init: mx.init.Initializer | None = None) -> nn.Dense:
        """Replace the classifier by a new, randomly initialised
        ``nn.Dense(classes, in_units=num_features)``; the features keep their parameters.

        A hybridized net stays hybridized, with the same flags, and traces its graph again
        on the next call.

        Args:
            classes: outputs of the new classifier, a positive integer.
            ctx: its device(s) (default: where the features' parameters are, else the CPU).
            init: its initialiser (default Xavier).

        Returns:
            The new classifier, now ``self.output``.

        Raises:
            ValueError: ``classes`` is not a positive integer.
        """
        if not is_int(classes) or classes < 1:
            raise ValueError(f"classes must be a positive integer, got {classes!r}")
        state = hybridization(self.output)
        with self.name_scope():
            head = nn.Dense(int(classes), in_units=self.num_features)
        head.initialize(init or mx.init.Xavier(), ctx=ctx or self._feature_contexts())
        self.output = head             # registers the child and drops this block's cached graph
        self.classes = int(classes)
        if state is not None:
            head.hybridize(True, **state)
        return head

    def _feature_contexts(self) -> list[mx.Context]:
        for param in self.features.collect_params().values():
            if contexts := initialized_contexts(param):
                return contexts
        return [mx.cpu()]


# --- factories -----------------------------------------------------------------------

def densenet(depth: int, classes: int = 1000, **kwargs: Any) -> DenseNet:
    """The DenseNet-BC of the paper's Table 1 with ``depth`` in :data:`DENSENET_SPECS`,
    random weights.

    Args:
        depth: 121, 161, 169, 201 or 264.
        classes: outputs of the classifier.
        **kwargs: for :class:`DenseNet`, e.g. ``in_channels=1`` or ``memory_efficient=True``.

    Raises:
        ValueError: a depth not in the table.
    """
    if depth not in DENSENET_SPECS:
        raise ValueError(f"no DenseNet spec for depth {depth}; "
                         f"choose one of {sorted(DENSENET_SPECS)}")
    return DENSENET_SPECS[depth].build(classes=classes, **kwargs)


def _spec_factory(depth: int) -> Callable[..., DenseNet]:
    """``densenet<depth>(classes=1000, **kwargs)``: :func:`densenet` at one depth, named and
    documented from its row of :data:`DENSENET_SPECS`."""
    spec = DENSENET_SPECS[depth]

    def factory(classes: int = 1000, **kwargs: Any) -> DenseNet:
        return densenet(depth, classes, **kwargs)

    layers = spec.weighted_layers
    factory.__name__ = factory.__qualname__ = f"densenet{depth}"
    factory.__doc__ = (
        f"DenseNet-{depth}: growth rate k={spec.growth_rate}, {spec.init_features} init "
        f"features, dense blocks {'-'.join(map(str, spec.block_config))} of bottleneck layers, "
        f"compression θ = 0.5; {layers} weighted layers"
        f"{'' if layers == depth else f' (the paper names it {depth})'}.\n\n"
        "    Args:\n"
        "        classes: outputs of the classifier.\n"
        "        **kwargs: for :class:`DenseNet`, e.g. ``in_channels=1``.\n")
    return factory


densenet121, densenet161, densenet169, densenet201, densenet264 = map(
    _spec_factory, (121, 161, 169, 201, 264))


def densenet_bc(depth: int = 100, growth_rate: int = 12, classes: int = 10,
                **kwargs: Any) -> DenseNet:
    """The paper's CIFAR DenseNet-BC: 3 dense blocks of ``(depth − 4) / 6`` bottleneck
    layers, ``2k`` init features, a 3×3 stem, θ = 0.5.

    Raises:
        ValueError: ``depth`` is not ``6n + 4``.
    """
    if (depth - 4) % 6:
        raise ValueError(f"DenseNet-BC depth must be 6n + 4 (e.g. 40, 100, 190), got {depth}")
    n = (depth - 4) // 6
    return DenseNet((n, n, n), growth_rate=growth_rate, init_features=2 * growth_rate,
                    stem="cifar", classes=classes, **kwargs)


def densenet63_classic(classes: int = 10, **kwargs: Any) -> DenseNet:
    """DenseNet-121's spec (k=32, 64 init features, blocks 6-12-24-16) with plain
    BN-ReLU-3×3 layers, no bottleneck: 1 + 58 + 3 + 1 = 63 weighted layers."""
    return DENSENET_SPECS[121].build(bn_size=None, classes=classes, **kwargs)


def densenet21_d2l(classes: int = 10, growth_rate: int = 32, **kwargs: Any) -> DenseNet:
    """The small net of *Dive into Deep Learning*: 4 blocks of 4 plain conv layers, k=32
    (``growth_rate`` makes it narrower or wider), 64 init features, θ = 0.5;
    1 + 16 + 3 + 1 = 21 weighted layers."""
    return DenseNet((4, 4, 4, 4), growth_rate=growth_rate, init_features=64, bn_size=None,
                    classes=classes, **kwargs)


def densenet_tiny(classes: int = 10, **kwargs: Any) -> DenseNet:
    """A stand-in for tests and smoke runs: 2 blocks of 2 bottleneck layers, k=8, 16 init
    features, θ = 0.5."""
    return DenseNet((2, 2), growth_rate=8, init_features=16, classes=classes, **kwargs)


#: Every named factory, in the order tables list them.
FACTORIES = (densenet121, densenet161, densenet169, densenet201, densenet264, densenet_bc,
             densenet63_classic, densenet21_d2l, densenet_tiny)
