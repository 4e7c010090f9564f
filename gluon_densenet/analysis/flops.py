"""Multiply-adds (MACs) of a hybridizable Gluon net, per image, counted from its graph.

Only convolutions and fully connected layers are counted: BatchNorm, activations, pooling
and concatenation are left out. That is what torchvision's published "GFLOPS" count (they
are really giga multiply-adds of its conv and linear layers), so the figures compare::

    count_flops(densenet121()) / 1e9     # 2.834, torchvision lists 2.83

The graph is traced on a symbol (:func:`.parameters.graph_symbol`): the net needs no
initialization and keeps its hybridization.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
from dataclasses import dataclass
from typing import Any

import mxnet as mx

from .parameters import graph_symbol

__all__ = ["TORCHVISION_GFLOPS", "LayerFlops", "count_flops", "layer_flops"]

#: torchvision's published figures (GFLOPS, i.e. giga multiply-adds, per 224 px image), from its
#: model documentation (the weights tables of densenet121/169/201, resnet18/34/50/101/152).
TORCHVISION_GFLOPS: dict[str, float] = {"densenet121": 2.83, "densenet169": 3.36,
                                        "densenet201": 4.29, "resnet18": 1.81, "resnet34": 3.66,
                                        "resnet50": 4.09, "resnet101": 7.80, "resnet152": 11.51}

_OPS = {"Convolution": "conv", "FullyConnected": "dense"}


@dataclass(frozen=True)
class LayerFlops:
    """One counted layer.

    Attributes:
        name: the symbol node's name without Gluon's ``_fwd`` suffix (``densenet0_conv0``).
        op: ``"conv"`` or ``"dense"``.
        macs: multiply-adds per image.
        output_shape: the layer's output shape per image, without the batch axis.
    """

    name: str
    op: str
    macs: int
    output_shape: tuple[int, ...]


def _output_shapes(internals: mx.sym.Symbol, input_shape: tuple[int, ...]
                   ) -> dict[str, tuple[int, ...]]:
    """Every graph output's shape by its name; ``ValueError`` if ``input_shape`` does not fit."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):      # MXNet prints the arguments
            _, shapes, _ = internals.infer_shape(data=input_shape)
    except mx.base.MXNetError as error:
        first = str(error).strip().splitlines()[0].removeprefix("MXNetError: ")
        raise ValueError(f"input shape {input_shape} does not fit this net: {first} (pass an "
                         "NCHW shape with the net's input channels and a larger H×W)") from None
    if shapes is None:
        raise ValueError(f"input shape {input_shape} leaves some shapes of this net unknown")
    return {name: tuple(shape) for name, shape in zip(internals.list_outputs(), shapes,
                                                      strict=True)}


def _macs(node: dict[str, Any], in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int:
    """Multiply-adds of one Convolution or FullyConnected node over the whole batch."""
    attrs = node.get("attrs", {})
    if node["op"] == "Convolution":
        channel_axis = attrs.get("layout", "NCHW").index("C")
        per_output = in_shape[channel_axis] // int(attrs.get("num_group", 1))
        kernel = math.prod(int(k) for k in attrs["kernel"].strip("()").split(",") if k.strip())
        return math.prod(out_shape) * per_output * kernel
    # flatten=True reads all of input[1:] per row, flatten=False only the last axis; either
    # way each output value costs that many multiply-adds
    flatten = attrs.get("flatten", "True") == "True"
    in_features = math.prod(in_shape[1:]) if flatten else in_shape[-1]
    return math.prod(out_shape) * in_features


def layer_flops(net: mx.gluon.HybridBlock, input_shape: tuple[int, ...]) -> list[LayerFlops]:
    """Multiply-adds per image of each convolution and fully connected layer, in graph order.

    Args:
        net: any hybridizable net; it need not be initialized.
        input_shape: the input batch's shape, e.g. ``(1, 3, 224, 224)``; the batch size does
            not change the figures.

    Raises:
        ValueError: ``input_shape`` does not fit the net (too small, wrong channels, not 4-D).
    """
    internals = graph_symbol(net).get_internals()
    shapes = _output_shapes(internals, input_shape)
    batch = input_shape[0]
    layers = []
    for node in json.loads(internals.tojson())["nodes"]:
        if node["op"] not in _OPS:
            continue
        output = internals[node["name"] + "_output"]
        in_shape = shapes[output.get_children()[0].list_outputs()[0]]   # the data input
        out_shape = shapes[output.list_outputs()[0]]
        layers.append(LayerFlops(node["name"].removesuffix("_fwd"), _OPS[node["op"]],
                                 _macs(node, in_shape, out_shape) // batch, out_shape[1:]))
    return layers


def count_flops(net: mx.gluon.HybridBlock,
                input_shape: tuple[int, ...] = (1, 3, 224, 224)) -> int:
    """Total multiply-adds per image of the net's convolutions and fully connected layers.

    Raises:
        ValueError: ``input_shape`` does not fit the net.
    """
    return sum(layer.macs for layer in layer_flops(net, input_shape))
