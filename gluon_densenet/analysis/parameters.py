"""Where a network's parameters sit: stem, each stage, transitions, final norm, classifier.

Works on any hybridizable net whose stage parameters carry ``stageN_`` in their names,
as the DenseNets here and the Gluon model-zoo ResNets do::

    stage_parameters(densenet121(classes=1000))
    # {'stem': 9472, 'stage 1': 335040, 'transition 1': 33280, ..., 'classifier': 1025000}
"""
from __future__ import annotations

import math
import re

import mxnet as mx

__all__ = ["CONV_BIAS", "STAGE_PATTERN", "classifier_in_units", "graph_symbol", "learnable_shapes",
           "stage_parameters"]

#: Matches the stage number in names under a ``stageN_`` prefix (DenseNet's dense blocks,
#: the model-zoo ResNets' stages).
STAGE_PATTERN = re.compile(r"_stage(\d+)_")


def graph_symbol(net: mx.gluon.HybridBlock) -> mx.sym.Symbol:
    """The net's forward graph on a ``data`` variable; ``net``'s hybridization is untouched."""
    return net(mx.sym.var("data"))


def learnable_shapes(net: mx.gluon.HybridBlock, input_shape: tuple[int, ...]
                     ) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of the learnable parameters in graph order, inferred (no init needed)."""
    sym = graph_symbol(net)
    shapes, _, _ = sym.infer_shape(data=input_shape)
    return [(n, tuple(s)) for n, s in zip(sym.list_arguments(), shapes, strict=True) if n != "data"]


#: Gluon's names for convolution biases (``resnetv10_stage1_conv0_bias``).
CONV_BIAS = re.compile(r"conv\d+_bias$")


def stage_parameters(net: mx.gluon.HybridBlock,
                     input_shape: tuple[int, ...] = (1, 3, 224, 224),
                     conv_biases: bool = True) -> dict[str, int]:
    """Learnable parameters per part, in order: ``stem``, ``stage N``, ``transition N``
    (between stages), ``final norm`` (after the last stage), ``classifier`` (the last
    fully connected layer). BatchNorm running statistics are not counted.

    ``conv_biases=False`` leaves out convolution biases: the model zoo's ResNet-50 v1
    gives its 1×1 convolutions biases that the published architecture (and torchvision)
    does not have, redundant before BatchNorm."""
    shapes = learnable_shapes(net, input_shape)
    if not conv_biases:
        shapes = [(n, s) for n, s in shapes if not CONV_BIAS.search(n)]
    parts: dict[str, int] = {}
    last_stage = 0
    final = max((int(m.group(1)) for n, _ in shapes if (m := STAGE_PATTERN.search(n))), default=0)
    classifier = {n for n, _ in shapes if n.rsplit("_", 1)[0] == shapes[-1][0].rsplit("_", 1)[0]}
    for name, shape in shapes:
        m = STAGE_PATTERN.search(name)
        if m:
            last_stage = int(m.group(1))
            part = f"stage {last_stage}"
        elif name in classifier:
            part = "classifier"
        elif last_stage == 0:
            part = "stem"
        elif last_stage == final:
            part = "final norm"
        else:
            part = f"transition {last_stage}"
        parts[part] = parts.get(part, 0) + math.prod(shape)
    return parts


def classifier_in_units(net: mx.gluon.HybridBlock,
                        input_shape: tuple[int, ...] = (1, 3, 224, 224)) -> int:
    """Width of the feature vector the classifier reads (1024 for DenseNet-121)."""
    weights = [s for n, s in learnable_shapes(net, input_shape) if n.endswith("_weight")]
    return int(weights[-1][1])
