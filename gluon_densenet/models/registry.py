"""Models by name: the DenseNet family, and the model zoo's ResNets to compare against."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mxnet.gluon import HybridBlock
from mxnet.gluon.model_zoo import vision

from ..validation import did_you_mean
from .densenet import FACTORIES, DenseNet, refuse_weight_options

__all__ = ["MODELS", "REFERENCE_MODELS", "get_model", "model_names"]

#: name → factory of this package's DenseNets.
MODELS: dict[str, Callable[..., DenseNet]] = {f.__name__: f for f in FACTORIES}

#: Gluon model-zoo ResNets (He et al., 2016), built with random weights, for the chapters'
#: comparisons; they take 3-channel input.
REFERENCE_MODELS: tuple[str, ...] = ("resnet18_v1", "resnet34_v1", "resnet50_v1",
                                     "resnet101_v1", "resnet152_v1")


def model_names() -> list[str]:
    """Every name :func:`get_model` accepts."""
    return list(MODELS) + list(REFERENCE_MODELS)


def get_model(name: str, **kwargs: Any) -> HybridBlock:
    """Build a model by name with random weights.

    ``get_model("densenet121", classes=10, in_channels=1)``; a name in
    :data:`REFERENCE_MODELS` builds MXNet's model-zoo net (no download).

    Raises:
        ValueError: an unknown name (with the closest valid one), or ``in_channels`` other
            than 3 for a model-zoo ResNet.
        TypeError: ``pretrained=`` or ``root=``: weights come from
            :mod:`gluon_densenet.pretrained`.
    """
    refuse_weight_options(kwargs)
    if name in MODELS:
        return MODELS[name](**kwargs)
    if name in REFERENCE_MODELS:
        if kwargs.pop("in_channels", 3) != 3:
            raise ValueError(f"{name} from MXNet's model zoo takes 3-channel input only")
        return vision.get_model(name, pretrained=False, **kwargs)
    raise ValueError(f"unknown model {name!r}; {did_you_mean(name, model_names())}"
                     f"valid names: {', '.join(model_names())}")
