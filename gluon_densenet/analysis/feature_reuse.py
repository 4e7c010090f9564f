"""Feature reuse read off a DenseNet's weights: the paper's Figure 5 and its four observations.

Inside a dense block with *c₀* input channels and growth rate *k*, layer ℓ reads the
concatenation ``[block input, layer 1, …, layer ℓ−1]``: channels ``[0, c₀)`` come from the
block's input (source 0), channels ``[c₀ + (s−1)k, c₀ + sk)`` from layer *s*. The first
convolution of layer ℓ (the 3×3 of a plain layer, the 1×1 of a bottleneck one) therefore has
one group of input channels per source, and the mean absolute weight of a group says how much
layer ℓ reads source *s* (Huang et al., 2017, §5: "the average absolute weights … normalized
by the number of input feature-maps"). The transition after a block and, after the last
block, the classifier read all of the block's sources the same way.

    maps = reuse_maps(net)                  # one ReuseMap per dense block
    maps[0].normalized()                    # (L+1, L+1): [source, target], NaN where unread
    paper_observations(maps)                # the paper's four observations, each a verdict

Weights only: a pre-activation layer's BatchNorm also scales each input channel before
its convolution, which these maps, like the paper's, leave out.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mxnet.gluon import nn

from ..models.blocks import DenseBlock

__all__ = ["USED", "Observation", "ReuseMap", "mean_abs_by_source", "paper_observations",
           "reuse_maps", "source_slices"]

#: A source counts as *used* by a target when its normalised weight is at least this share
#: of the target's most-read source (the threshold of observations 1 and 2).
USED = 0.5


def source_slices(in_channels: int, growth_rate: int, layers: int) -> list[slice]:
    """Input channels per source of a reader of ``layers`` layers' outputs:
    ``[slice(0, c₀), slice(c₀, c₀ + k), …]``, ``layers + 1`` slices."""
    return [slice(0, in_channels)] + [
        slice(in_channels + s * growth_rate, in_channels + (s + 1) * growth_rate)
        for s in range(layers)]


def mean_abs_by_source(weight: np.ndarray, in_channels: int, growth_rate: int) -> np.ndarray:
    """Mean absolute weight of each source's input channels.

    Args:
        weight: a convolution's ``(out, C, kh, kw)`` or a dense layer's ``(out, C)`` weight,
            with ``C = c₀ + n·k``.
        in_channels: *c₀*, the block input's channels.
        growth_rate: *k*.

    Returns:
        ``(n + 1,)``: source 0 (the block input), then layers 1 … n.

    Raises:
        ValueError: ``C − c₀`` is not a multiple of *k*.
    """
    n, rest = divmod(weight.shape[1] - in_channels, growth_rate)
    if rest or n < 0:
        raise ValueError(f"a weight reading {weight.shape[1]} channels is no reader of a block "
                         f"with {in_channels} input channels and growth rate {growth_rate}")
    magnitude = np.abs(weight)
    return np.array([magnitude[:, s].mean() for s in source_slices(in_channels, growth_rate, n)])


@dataclass(frozen=True)
class ReuseMap:
    """One dense block's map: ``weights[s, t]`` is target *t*'s mean absolute weight on
    source *s* (rows: block input, layers 1 … L; columns: layers 1 … L, then the block's
    consumer), NaN where *t* does not read *s*."""
    block: int
    consumer: str
    """``"transition N"`` or ``"classifier"``."""
    weights: np.ndarray

    @property
    def layers(self) -> int:
        """*L*, the block's layers."""
        return self.weights.shape[1] - 1

    def normalized(self) -> np.ndarray:
        """Each target's column divided by its largest entry (its most-read source is 1)."""
        return self.weights / np.nanmax(self.weights, axis=0, keepdims=True)


def _first_weight(block: nn.HybridBlock, kind: type) -> np.ndarray:
    for child in block._children.values():
        if isinstance(child, kind):
            return child.weight.data().asnumpy()
    raise ValueError(f"{block.name} has no {kind.__name__} layer")


def _taps_that_see_data(weight: np.ndarray, side: int | None) -> np.ndarray:
    """On a 1×1 feature map a padded k×k convolution meets data with its centre tap only;
    the other taps multiply padding, get no gradient and only decay, so they are left out."""
    if side != 1 or weight.shape[2:] == (1, 1):
        return weight
    kh, kw = weight.shape[2:]
    return weight[:, :, kh // 2:kh // 2 + 1, kw // 2:kw // 2 + 1]


def reuse_maps(net: nn.HybridBlock, input_size: int | None = None) -> list[ReuseMap]:
    """Figure 5 of the paper for ``net``, an initialised :class:`~gluon_densenet.DenseNet`:
    a :class:`ReuseMap` per dense block, its consumer the following transition's
    convolution or, for the last block, the classifier (``net.output``).

    With ``input_size`` (the input's side in px), a block whose feature maps are 1×1 is read
    at the centre tap of its convolutions only, the one tap that ever meets data there."""
    children = list(net.features._children.values())
    sides = iter(net.spatial_sizes(input_size) if input_size else [])
    maps = []
    for i, child in enumerate(children):
        if not isinstance(child, DenseBlock):
            continue
        side = next(sides, None)
        layers = [_taps_that_see_data(_first_weight(layer, nn.Conv2D), side)
                  for layer in child.net]
        c0, k = layers[0].shape[1], child.growth_rate
        after = [c for c in children[i + 1:] if not isinstance(c, DenseBlock)]
        transition = next((c for c in after[:1] if isinstance(c, nn.HybridSequential)), None)
        if transition is not None:
            consumer = _first_weight(transition, nn.Conv2D)
            name = f"transition {len(maps) + 1}"
        else:
            consumer, name = net.output.weight.data().asnumpy(), "classifier"
        grid = np.full((len(layers) + 1, len(layers) + 1), np.nan)
        for t, w in enumerate(layers + [consumer]):
            column = mean_abs_by_source(w, c0, k)
            grid[:len(column), t] = column
        maps.append(ReuseMap(len(maps) + 1, name, grid))
    if not maps:
        raise ValueError(f"{net.name} has no DenseBlock in net.features")
    return maps


@dataclass(frozen=True)
class Observation:
    """One of the paper's observations on Figure 5, tested on a net's maps."""
    claim: str
    holds: bool
    evidence: str
    value: float
    """The statistic the verdict reads (its evidence says which), for comparisons across nets."""


def _spread(maps: list[ReuseMap]) -> Observation:
    shares = []
    for m in maps:
        grid = m.normalized()[:, 1:m.layers]               # layers reading ≥ 2 sources
        read = ~np.isnan(grid)
        shares.append(float(((grid >= USED) & read).sum() / read.sum()) if read.any() else 1.0)
    return Observation(
        "1. layers spread their weights over many inputs of their block",
        min(shares) >= 0.5,
        "share of (source, layer) pairs used (≥ {:.0%} of the layer's most-read source), per "
        "block: {}".format(USED, ", ".join(f"{s:.0%}" for s in shares)), min(shares))


def _transitions(maps: list[ReuseMap]) -> Observation:
    lows = [float(np.nanmin(m.normalized()[:, -1])) for m in maps if m.consumer != "classifier"]
    return Observation(
        "2. transition layers use the features of the whole block",
        bool(lows) and min(lows) >= USED,
        "least-read source of each transition (1 = as much as its most-read): "
        + ", ".join(f"{v:.2f}" for v in lows), min(lows, default=float("nan")))


def _transition_outputs(maps: list[ReuseMap]) -> Observation:
    ranks, margins = [], []
    for m in maps[1:]:                                     # blocks that start at a transition
        rows = np.nanmean(m.normalized()[:m.layers, 1:m.layers], axis=1)   # layers ℓ ≥ 2
        ranks.append((int((rows < rows[0]).sum()) + 1, len(rows)))   # 1 = the least read
        margins.append(float(rows[0] - rows[1:].mean()))
    return Observation(
        "3. layers of the blocks after a transition read its output least",
        bool(ranks) and all(r == 1 for r, _ in ranks),
        "rank of the transition's output among the sources, by mean weight over the block's "
        "layers (1 = least read), blocks 2 on: "
        + ", ".join(f"{r} of {n}" for r, n in ranks)
        + "; its mean weight minus the other sources' (mean over blocks): "
        + f"{np.mean(margins) if margins else float('nan'):+.3f}",
        float(np.mean(margins)) if margins else float("nan"))


def _classifier(maps: list[ReuseMap]) -> Observation:
    column = maps[-1].normalized()[:, -1]
    half = len(column) // 2
    early, late = float(column[:half].mean()), float(column[half:].mean())
    return Observation(
        "4. the classifier concentrates on the last block's late features",
        late > early,
        f"classifier's mean weight on the late sources {late:.2f} against the early ones "
        f"{early:.2f} (of {len(column)} sources, the first {half} are early)", late - early)


def paper_observations(maps: list[ReuseMap]) -> list[Observation]:
    """The four observations Huang et al. (2017, §5) read off Figure 5, each tested.

    1. every block's layers use (≥ :data:`USED` of their strongest) at least half of the
       sources they read;
    2. every transition uses every source of its block;
    3. in every block after the first, the transition's output (source 0) is the source
       the block's layers read least;
    4. the classifier's weights on the later half of the last block's sources exceed
       those on the earlier half.
    """
    return [_spread(maps), _transitions(maps), _transition_outputs(maps), _classifier(maps)]
