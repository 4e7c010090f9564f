"""Pretrained weights in, ready to fine-tune; built on :mod:`gluon_densenet.models`, never the
reverse.

- :mod:`.factories`: ``densenet(depth, pretrained=...)`` and ``densenet121`` … ``densenet201``,
  the models' builders or, with ``pretrained=True``, MXNet's ImageNet weights;
- :mod:`.model_zoo`: MXNet's model-zoo DenseNets (nets or ``.params`` files) into ours, and
  their ImageNet weights through MXNet's model store (:func:`pretrained_densenet`);
- :mod:`.torchvision`: torchvision's DenseNets (``state_dict``, module or ``.pth``) into ours;
- :mod:`.finetune`: a new classifier, frozen features, a smaller learning rate for them;
- :mod:`.weights`: what both converters share, the key-by-key check above all.
"""
from .factories import densenet, densenet121, densenet161, densenet169, densenet201
from .finetune import freeze_features, replace_classifier, set_features_lr_mult, unfreeze_features
from .model_zoo import (
    PretrainedWeightsUnavailable,
    from_model_zoo,
    model_zoo_file,
    pretrained_densenet,
)
from .torchvision import from_torchvision, read_state_dict
from .weights import PRETRAINED_DEPTHS, WeightMismatchError

__all__ = ["PRETRAINED_DEPTHS", "PretrainedWeightsUnavailable", "WeightMismatchError",
           "densenet", "densenet121", "densenet161", "densenet169", "densenet201",
           "freeze_features", "from_model_zoo", "from_torchvision", "model_zoo_file",
           "pretrained_densenet", "read_state_dict", "replace_classifier",
           "set_features_lr_mult", "unfreeze_features"]
