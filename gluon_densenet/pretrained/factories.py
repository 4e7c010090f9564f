"""The pretrained-aware factories: ``densenet121(pretrained=True)`` and its kin.

With ``pretrained`` false they return the random-weight net of
:mod:`gluon_densenet.models.densenet`; with it true, that net filled with MXNet's ImageNet
weights (:func:`~.model_zoo.pretrained_densenet`). ``densenet121`` … ``densenet201`` are
generated from :data:`~.weights.PRETRAINED_DEPTHS`; the package's top level exports these.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..models.densenet import DenseNet
from ..models.densenet import densenet as random_densenet
from ..models.registry import MODELS
from .model_zoo import pretrained_densenet
from .weights import PRETRAINED_DEPTHS

__all__ = ["densenet", "densenet121", "densenet161", "densenet169", "densenet201"]


def densenet(depth: int, classes: int = 1000, pretrained: bool = False,
             root: str | os.PathLike | None = None, **kwargs: Any) -> DenseNet:
    """The DenseNet-BC of the paper's Table 1 with ``depth``, random or ImageNet weights.

    Args:
        depth: a depth of :data:`~gluon_densenet.models.DENSENET_SPECS`; with
            ``pretrained``, one of :data:`~.weights.PRETRAINED_DEPTHS`.
        classes: outputs of the classifier; with ``pretrained``, 1000 keeps ImageNet's
            classifier and another number gets a new, randomly initialised one.
        pretrained: load MXNet's ImageNet weights, fetched once into ``root`` by MXNet's
            model store (:func:`~.model_zoo.model_zoo_file`).
        root: folder of the weights files (default ``~/.mxnet/models``); only read with
            ``pretrained``.
        **kwargs: for :class:`~gluon_densenet.models.DenseNet`; with ``pretrained``,
            ``in_channels=1`` sums the stem's RGB kernel over colour.

    Raises:
        ValueError: a depth without a spec, or without ImageNet weights when ``pretrained``.
        PretrainedWeightsUnavailable: the weights can be neither found nor downloaded.
    """
    if pretrained:
        return pretrained_densenet(depth, classes, root=root, **kwargs)
    return random_densenet(depth, classes, **kwargs)


def _pretrained_factory(depth: int) -> Callable[..., DenseNet]:
    """``densenet<depth>(classes=1000, pretrained=False, root=None, **kwargs)``: :func:`densenet`
    at one depth, documented from the models' builder of that depth."""

    def factory(classes: int = 1000, pretrained: bool = False,
                root: str | os.PathLike | None = None, **kwargs: Any) -> DenseNet:
        return densenet(depth, classes, pretrained, root, **kwargs)

    builder = MODELS[f"densenet{depth}"]
    factory.__name__ = factory.__qualname__ = builder.__name__
    factory.__doc__ = (
        builder.__doc__.split("\n\n")[0] + "\n\n"
        "    ``pretrained=True`` loads MXNet's ImageNet weights into it (see :func:`densenet`).\n\n"
        "    Args:\n"
        "        classes: outputs of the classifier (with ``pretrained``, other than 1000: a\n"
        "            new, randomly initialised one).\n"
        "        pretrained: MXNet's ImageNet weights instead of random ones.\n"
        "        root: folder of the weights files (default ``~/.mxnet/models``).\n"
        "        **kwargs: for :class:`~gluon_densenet.models.DenseNet`, e.g. ``in_channels=1``.\n")
    return factory


densenet121, densenet161, densenet169, densenet201 = map(_pretrained_factory, PRETRAINED_DEPTHS)
