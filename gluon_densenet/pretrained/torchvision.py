"""torchvision's DenseNets (``torchvision.models.densenet121`` ...) into ours.

torchvision names modules where Gluon numbers them::

    features.conv0 / norm0                        → features.0 / features.1   (the stem)
    features.denseblockB.denselayerL.norm1/conv1/norm2/conv2
                                                  → features.<block B>.net.<L-1>.0/2/3/5
    features.transitionB.norm / conv              → features.<block B + 1>.0 / 2
    features.norm5                                → the BatchNorm after the last block
    classifier                                    → output

BatchNorm's ``weight``/``bias`` are Gluon's ``gamma``/``beta``; ``num_batches_tracked`` has
no Gluon counterpart and is dropped. Kernels are laid out alike, ``(out, in, kh, kw)`` and
``(out, in)``; BatchNorm's ε is 1e-5 in both. PyTorch is needed only to read a ``.pth`` file.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import mxnet as mx
import numpy as np

from ..models.densenet import DENSENET_SPECS, DenseNet
from ..validation import first_line
from .weights import build, check_depth, layers_per_block

__all__ = ["from_torchvision", "read_state_dict", "torchvision_key_map"]

#: Old checkpoints name a dense layer's parts ``norm.1``, ``conv.2``; torchvision reads them
#: as ``norm1``, ``conv2``.
_OLD_STYLE = re.compile(r"(denselayer\d+\.(?:norm|relu|conv))\.([12])\.")
_LAYER = re.compile(
    r"^features\.denseblock(\d+)\.denselayer(\d+)\.(norm1|conv1|norm2|conv2)\.(\w+)$")
_TRANSITION = re.compile(r"^features\.transition(\d+)\.(norm|conv)\.(\w+)$")
_FINAL_NORM = re.compile(r"^features\.norm([1-9]\d*)\.(\w+)$")
STEM = ("conv0", "norm0", "relu0", "pool0")
_LAYER_PARTS = {"norm1": 0, "conv1": 2, "norm2": 3, "conv2": 5}
_TRANSITION_PARTS = {"norm": 0, "conv": 2}
_BATCHNORM = {"weight": "gamma", "bias": "beta", "running_mean": "running_mean",
              "running_var": "running_var"}


def read_state_dict(source: Any) -> tuple[dict[str, np.ndarray], str]:
    """A torchvision DenseNet's parameters as NumPy arrays under its current key names.

    Old-style ``norm.1``/``conv.1`` keys and the ``module.`` prefix of ``DataParallel`` are
    renamed; ``num_batches_tracked`` is dropped.

    Args:
        source: a ``state_dict`` (of tensors or arrays), a ``torch.nn.Module``, or the path
            of a ``.pth`` file holding a ``state_dict`` (also inside a checkpoint's
            ``"state_dict"``).

    Returns:
        The arrays by key, and a label for messages.
    """
    label = "the state_dict"
    if isinstance(source, (str, os.PathLike)):
        label = os.fspath(source)
        source = _load_pth(label)
    elif hasattr(source, "state_dict") and callable(source.state_dict):
        label = f"torch module {type(source).__name__}"
        source = source.state_dict()
    if isinstance(source, Mapping) and isinstance(source.get("state_dict"), Mapping):
        source = source["state_dict"]
    if not isinstance(source, Mapping):
        raise TypeError("source must be a torchvision state_dict, a torch module or the path "
                        f"of a .pth file, not {type(source).__name__}")
    keys = list(source)
    strip = len("module.") if keys and all(k.startswith("module.") for k in keys) else 0
    arrays = {}
    for key, value in source.items():
        if key.endswith("num_batches_tracked"):
            continue
        if hasattr(value, "detach"):             # a torch tensor
            value = value.detach().cpu().numpy()
        arrays[_OLD_STYLE.sub(r"\1\2.", key[strip:])] = np.asarray(value)
    return arrays, label


def _load_pth(path: str) -> Mapping:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no file at {path}")
    try:
        import torch
    except ImportError:
        raise ImportError(f"reading {path} needs PyTorch (pip install torch); or pass a "
                          "state_dict whose values are NumPy arrays") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:                     # torch raises many kinds for a bad file
        raise ValueError(f"{path} is not a PyTorch state_dict file ({type(err).__name__}: "
                         f"{first_line(err, 200)})") from None


def torchvision_key_map(keys: Iterable[str], num_blocks: int = 4) -> dict[str, str]:
    """Map each torchvision key to this package's structural name in a DenseNet with the
    ImageNet stem and ``num_blocks`` dense blocks; keys with no counterpart are left out
    (:func:`~.weights.assign` reports them)."""
    # features: conv, BN, ReLU, max pool (the stem), then block, transition, block, ...
    blocks = [len(STEM) + 2 * i for i in range(num_blocks)]
    mapping = {}
    for key in keys:
        if ours := _our_name(key, blocks):
            mapping[key] = ours
    return mapping


def _our_name(key: str, blocks: list[int]) -> str | None:
    """One torchvision key in our naming, given our dense blocks' positions in ``features``."""
    if m := _LAYER.match(key):
        block, layer, part, name = int(m[1]), int(m[2]), m[3], m[4]
        if block > len(blocks):
            return None
        name = _BATCHNORM.get(name) if part.startswith("norm") else name
        return name and f"features.{blocks[block - 1]}.net.{layer - 1}.{_LAYER_PARTS[part]}.{name}"
    if m := _TRANSITION.match(key):
        block, part, name = int(m[1]), m[2], m[3]
        if block >= len(blocks):
            return None
        name = _BATCHNORM.get(name) if part == "norm" else name
        return name and f"features.{blocks[block - 1] + 1}.{_TRANSITION_PARTS[part]}.{name}"
    if key == "features.conv0.weight":
        return "features.0.weight"
    if key.startswith("features.norm0."):
        name = _BATCHNORM.get(key[len("features.norm0."):])
        return name and f"features.1.{name}"
    if m := _FINAL_NORM.match(key):
        name = _BATCHNORM.get(m[2])
        return name and f"features.{blocks[-1] + 1}.{name}"
    if key in ("classifier.weight", "classifier.bias"):
        return "output." + key[len("classifier."):]
    return None


def from_torchvision(source: Any, depth: int = 121, classes: int | None = None,
                     ctx: mx.Context | None = None, **kwargs: Any) -> DenseNet:
    """Our DenseNet-``depth`` with the weights of a torchvision DenseNet.

    Args:
        source: a ``state_dict``, a torchvision model, or a ``.pth`` path
            (see :func:`read_state_dict`; old-style ``norm.1``/``conv.1`` keys included).
        depth: one of :data:`~.weights.PRETRAINED_DEPTHS`; the source's must match.
        classes: ``None`` keeps the source's classifier; a number replaces it with a new,
            randomly initialised one.
        ctx: device for the parameters (default: the CPU).
        **kwargs: for :class:`~gluon_densenet.models.DenseNet`, e.g. ``in_channels=1``.

    Returns:
        The DenseNet, BatchNorm running statistics included; in inference mode its outputs
        equal the torchvision model's in ``eval()`` mode.

    Raises:
        WeightMismatchError: a wrong depth, or missing, extra or misshapen keys, each named.
        ValueError: a depth torchvision does not have, or a file that is no state_dict.
        FileNotFoundError: no file at ``source``.
        ImportError: a ``.pth`` file without PyTorch installed.
        TypeError: a ``source`` of another kind.
    """
    check_depth(depth, "torchvision")
    arrays, label = read_state_dict(source)
    found = layers_per_block(arrays, _LAYER.pattern)
    mapping = torchvision_key_map(arrays, len(DENSENET_SPECS[depth].block_config))
    ours = {mapping.get(key, key): value for key, value in arrays.items()}
    source_names = {name: key for key, name in mapping.items()}
    return build(ours, source_names, label, depth, found, classes, ctx, **kwargs)
