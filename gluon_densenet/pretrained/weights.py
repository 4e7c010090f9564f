"""Named arrays into a :class:`~gluon_densenet.models.DenseNet`, checked key by key.

Both converters translate their source's names into this package's structural parameter
names (``features.4.net.0.0.gamma``, ``output.weight``, the names ``save_parameters``
writes) and hand the arrays to :func:`assign`, which refuses a mismatch before touching
the net.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import mxnet as mx
import numpy as np

from ..models.densenet import DENSENET_SPECS, DenseNet, densenet
from ..models.params import is_initialized, params_by_name

__all__ = ["PRETRAINED_DEPTHS", "WeightMismatchError", "assign", "build", "check_depth"]

#: Depths with ImageNet weights, in MXNet's model zoo and in torchvision alike.
PRETRAINED_DEPTHS = (121, 161, 169, 201)
#: Lines of each kind a mismatch report lists before "... and N more".
REPORT_LINES = 8


class WeightMismatchError(ValueError):
    """The source's parameters do not fit the net: every missing, extra or misshapen key
    is listed, by the source's name and the net's."""

    def __init__(self, source: str, problems: dict[str, list[str]], hint: str = ""):
        self.problems = problems
        lines = [f"{source} does not fit this DenseNet"
                 + (f": {hint}" if hint else "")]
        for kind, items in problems.items():
            if items:
                lines.append(f"  {len(items)} {kind}:")
                lines += [f"    {item}" for item in items[:REPORT_LINES]]
                if len(items) > REPORT_LINES:
                    lines.append(f"    ... and {len(items) - REPORT_LINES} more")
        super().__init__("\n".join(lines))


def check_depth(depth: int, where: str) -> None:
    """Raise ``ValueError`` unless ``where`` (a model zoo) has a DenseNet-``depth``."""
    if depth not in PRETRAINED_DEPTHS:
        raise ValueError(f"{where} has no DenseNet-{depth}; it has depths "
                         + ", ".join(map(str, PRETRAINED_DEPTHS)))


def depth_of(block_config: Iterable[int]) -> int | None:
    """The depth in :data:`DENSENET_SPECS` with these layers per block, if any."""
    config = tuple(block_config)
    return next((d for d, s in DENSENET_SPECS.items() if s.block_config == config), None)


def layers_per_block(names: Iterable[str], pattern: str) -> tuple[int, ...]:
    """Count the dense layers per block in a source's key names. ``pattern`` captures the
    block and the layer number; blocks are returned in numerical order."""
    layers: dict[int, set[int]] = {}
    for name in names:
        m = re.match(pattern, name)
        if m:
            layers.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    return tuple(len(layers[b]) for b in sorted(layers))


def assign(net: DenseNet, arrays: Mapping[str, np.ndarray], source: str,
           source_names: Mapping[str, str] | None = None, ctx: mx.Context | None = None,
           hint: str = "") -> DenseNet:
    """Set every parameter of ``net`` (BatchNorm running statistics included) from
    ``arrays``, keyed by the net's structural names.

    Args:
        net: the DenseNet to fill; initialised on ``ctx`` first if it is not.
        arrays: structural name → NumPy array.
        source: what the arrays came from, for the error message.
        source_names: structural name → the source's own key where it differs, for the
            message.
        ctx: device for parameters not yet initialised (default: the CPU).
        hint: a sentence added to the error, e.g. the depth the source looks like.

    Raises:
        WeightMismatchError: a missing, extra or misshapen key; ``net`` is left untouched.
    """
    ours = params_by_name(net)
    named = source_names or {}
    label = lambda key: f"{named[key]} → {key}" if key in named else key  # noqa: E731
    problems = {
        "missing (in the net, not in the source)": [k for k in ours if k not in arrays],
        "extra (in the source, not in the net)": [label(k) for k in arrays if k not in ours],
        "with the wrong shape": [
            f"{label(k)}: source {tuple(np.shape(a))}, net {ours[k].shape}"
            for k, a in arrays.items() if k in ours and tuple(np.shape(a)) != ours[k].shape],
    }
    if any(problems.values()):
        raise WeightMismatchError(source, problems, hint)
    ctx = ctx or mx.cpu()
    for key, param in ours.items():
        value = mx.nd.array(np.asarray(arrays[key]), dtype=param.dtype)
        if not is_initialized(param):
            param.initialize(mx.init.Zero(), ctx=ctx)
        param.set_data(value)
    return net


def sum_input_channels(weight: np.ndarray, in_channels: int) -> np.ndarray:
    """The stem's RGB kernel ``(C, 3, kh, kw)`` for a net that reads ``in_channels`` = 1:
    summed over colour, so a grey image gives what the RGB net gives for that image
    repeated in all three channels."""
    if in_channels == weight.shape[1]:
        return weight
    if in_channels != 1:
        raise ValueError(f"pretrained weights take 3-channel (RGB) or 1-channel (grey) input, "
                         f"not in_channels={in_channels}")
    return weight.sum(axis=1, keepdims=True)


def _depth_hint(found: tuple[int, ...], depth: int) -> str:
    """A sentence for a source whose layers per block are not DenseNet-``depth``'s."""
    expected = DENSENET_SPECS[depth].block_config
    if not found or found == expected:
        return ""
    seen = depth_of(found)
    return (f"its dense blocks have {'-'.join(map(str, found))} layers where DenseNet-{depth}'s "
            f"have {'-'.join(map(str, expected))}: "
            + (f"pass depth={seen}" if seen else "no depth in DENSENET_SPECS has them"))


def build(arrays: dict[str, np.ndarray], names: dict[str, str], label: str, depth: int,
          found: tuple[int, ...], classes: int | None = None, ctx: mx.Context | None = None,
          **kwargs: Any) -> DenseNet:
    """DenseNet-``depth`` with the source's classes, filled by :func:`assign` (shared by the
    converters).

    Args:
        arrays: the source's arrays under this package's structural names.
        names: structural name → the source's key, for messages.
        label: what the source is, for messages.
        depth: one of :data:`PRETRAINED_DEPTHS`.
        found: the source's layers per dense block, for a hint when the depth is wrong.
        classes: ``None`` keeps the source's classifier, a number replaces it.
        ctx: device for the parameters (default: the CPU).
        **kwargs: for the DenseNet; ``in_channels=1`` sums the stem's kernel over colour.

    Returns:
        The filled DenseNet.

    Raises:
        WeightMismatchError: see :func:`assign`.
    """
    source_classes = arrays["output.weight"].shape[0] if "output.weight" in arrays else 1000
    stem = arrays.get("features.0.weight")
    if stem is not None and np.ndim(stem) == 4:
        in_channels = kwargs.get("in_channels", stem.shape[1])
        arrays = {**arrays, "features.0.weight": sum_input_channels(stem, in_channels)}
    net = densenet(depth, classes=source_classes, **kwargs)
    assign(net, arrays, label, names, ctx, _depth_hint(found, depth))
    if classes is not None and classes != source_classes:
        net.reset_classifier(classes, ctx=ctx)
    return net
