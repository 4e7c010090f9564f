"""MXNet's model-zoo DenseNets (``mxnet.gluon.model_zoo.vision.densenet121`` ...) into ours.

The two have the same 606 parameters for DenseNet-121, in the same order and with the same
shapes; only the names differ. The zoo wraps each dense layer in a ``HybridConcurrent``
(identity ∥ layer), so its layer ``l`` of stage ``i`` is ``features.i.l.1.j``; ours is
``features.i.net.l.j``. Parameter files come in two formats, both read here: structural
names (``save_parameters``) and the older prefixed names (``save_params``: ``conv0_weight``,
``stage1_batchnorm0_gamma``), which are matched through a zoo net built without weights.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import zipfile
from typing import Any

import mxnet as mx
import numpy as np
import requests
from mxnet.gluon import HybridBlock
from mxnet.gluon.model_zoo import model_store, vision

from ..models.densenet import DenseNet
from ..models.params import params_by_name
from ..validation import first_line
from .weights import build, check_depth, layers_per_block

__all__ = ["PretrainedWeightsUnavailable", "from_model_zoo", "model_zoo_file",
           "pretrained_densenet"]

_ZOO_LAYER = re.compile(r"^features\.(\d+)\.(\d+)\.1\.(\d+)\.(\w+)$")
_LEGACY_PREFIX = re.compile(r"^densenet\d+_")


class PretrainedWeightsUnavailable(OSError):
    """MXNet's model store could not provide the weights file (no network, a bad copy)."""


def _default_root() -> str:
    # The default of model_store.get_model_file: $MXNET_HOME/models (~/.mxnet/models).
    return os.path.join(mx.base.data_dir(), "models")


def model_zoo_file(depth: int = 121, root: str | os.PathLike | None = None) -> str:
    """Path of MXNet's ImageNet weights for DenseNet-``depth``, fetched through MXNet's model
    store (``model_store.get_model_file``: downloaded once into ``root``, sha1-checked).

    Args:
        depth: 121, 161, 169 or 201.
        root: folder of the weights files (default ``$MXNET_HOME/models``, i.e.
            ``~/.mxnet/models``). ``MXNET_GLUON_REPO`` selects a mirror to download from.

    Raises:
        ValueError: a depth the model zoo has no weights for.
        PretrainedWeightsUnavailable: the file is neither there nor downloadable; the message
            names the file, where to put it and where to get it.
    """
    check_depth(depth, "MXNet's model zoo")
    name = f"densenet{depth}"
    root = os.path.expanduser(os.fspath(root)) if root is not None else _default_root()
    file_name = f"{name}-{model_store.short_hash(name)}"
    chatter = io.StringIO()                      # MXNet prints each failed attempt
    try:
        with contextlib.redirect_stdout(chatter):
            return model_store.get_model_file(name, root=root)
    except (OSError, RuntimeError, ValueError, zipfile.BadZipFile) as err:
        # RuntimeError: MXNet's download for an answer other than 200 (404, 403 ...)
        repo = os.environ.get("MXNET_GLUON_REPO", model_store.apache_repo_url).rstrip("/")
        there = os.path.exists(os.path.join(root, file_name + ".params"))
        state = "the copy there fails MXNet's sha1 check" if there else "it is not there"
        raise PretrainedWeightsUnavailable(
            f"cannot get ImageNet weights for {name}: {state}, and MXNet's model store could "
            f"not download it ({_why(err)}). Fetch {repo}/gluon/models/{file_name}.zip on a "
            f"machine with network, unzip it and put {file_name}.params in {_shown(root)} "
            "(or pass root= the folder holding it)."
        ) from None


def _why(err: Exception) -> str:
    """A short reason for a failed download (requests' own messages run to several lines)."""
    if isinstance(err, requests.ConnectionError):
        errno = re.search(r"\[Errno -?\d+\] [^'\")]+", str(err))
        return "no connection" + (f": {errno.group(0)}" if errno else "")
    if type(err) is RuntimeError:                # MXNet's download: any status but 200
        return "the server did not answer 200 OK"
    first = first_line(err, 120)
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def _shown(path: str) -> str:
    """``path`` with the home folder written ``~``, as a message shows it."""
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if path == home or path.startswith(home + os.sep) else path


def _read_params(path: str | os.PathLike) -> dict[str, np.ndarray]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no parameter file at {os.fspath(path)}")
    try:
        loaded = mx.nd.load(os.fspath(path))
    except mx.base.MXNetError:
        raise ValueError(f"{os.fspath(path)} is not an MXNet parameter file "
                         "(one written by save_parameters or nd.save)") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{os.fspath(path)} holds a list of arrays, not named parameters")
    return {key: value.asnumpy() for key, value in loaded.items()}


def _from_block(net: HybridBlock) -> dict[str, np.ndarray]:
    params = params_by_name(net)
    try:
        return {key: p.data().asnumpy() for key, p in params.items()}
    except mx.gluon.parameter.DeferredInitializationError:
        raise ValueError("the model-zoo net's parameters have no shapes yet (MXNet initialises "
                         "them lazily): run it once, e.g. net(mx.nd.zeros((1, 3, 224, 224))), "
                         "or load its weights, before converting") from None
    except RuntimeError:
        raise ValueError("the model-zoo net is not initialised: call net.initialize() and run "
                         "it once, or load its weights, before converting") from None


def _structural_names(keys: list[str], depth: int) -> dict[str, str]:
    """Old prefixed names (``stage1_conv0_weight``) → the zoo's structural names, read off a
    zoo net of ``depth`` built without weights. Unknown names are left out."""
    zoo = vision.get_model(f"densenet{depth}")
    structural = {p.name[len(zoo.prefix):]: key
                  for key, p in params_by_name(zoo).items()}
    unprefixed = {k: _LEGACY_PREFIX.sub("", k) for k in keys}
    return {k: structural[u] for k, u in unprefixed.items() if u in structural}


def _legacy_layers(arrays: dict[str, np.ndarray]) -> tuple[int, ...]:
    # Each dense layer has two convolutions: stage<i>_conv<2l>, stage<i>_conv<2l+1>.
    convs = layers_per_block(arrays, r"^(?:densenet\d+_)?stage(\d+)_conv(\d+)_weight$")
    return tuple(n // 2 for n in convs)


def from_model_zoo(source: HybridBlock | str | os.PathLike, depth: int = 121,
                   classes: int | None = None, ctx: mx.Context | None = None,
                   **kwargs: Any) -> DenseNet:
    """Our DenseNet-``depth`` with the weights of an MXNet model-zoo DenseNet.

    Args:
        source: a model-zoo net (``vision.densenet121()``, initialised) or a ``.params`` file
            of one, in either of MXNet's formats.
        depth: one of :data:`~.weights.PRETRAINED_DEPTHS`; the source's must match.
        classes: ``None`` keeps the source's classifier; a number replaces it with a new,
            randomly initialised one (:meth:`~gluon_densenet.models.DenseNet.reset_classifier`).
        ctx: device for the parameters (default: the CPU).
        **kwargs: for :class:`~gluon_densenet.models.DenseNet`, e.g. ``in_channels=1``
            (the stem's RGB kernel summed over colour) or ``memory_efficient=True``.

    Returns:
        The DenseNet, BatchNorm running statistics included; its outputs equal the source's
        (the zoo net pools with a fixed 7×7 window, so compare at 224 px).

    Raises:
        WeightMismatchError: a wrong depth, or missing, extra or misshapen keys, each named.
        ValueError: a depth with no model-zoo net, a file that is no parameter file, or a
            zoo net not yet initialised.
        FileNotFoundError: no file at ``source``.
        TypeError: a ``source`` that is neither a net nor a path.
    """
    check_depth(depth, "MXNet's model zoo")
    if isinstance(source, (str, os.PathLike)):
        arrays, label = _read_params(source), os.fspath(source)
    elif isinstance(source, HybridBlock):
        arrays, label = _from_block(source), f"the model-zoo {type(source).__name__}"
    else:
        raise TypeError("source must be a model-zoo DenseNet or the path of its .params "
                        f"file, not {type(source).__name__}")
    if arrays and not any("." in key for key in arrays):      # save_params' old format
        found = _legacy_layers(arrays)
        zoo_names = _structural_names(list(arrays), depth)
    else:
        found = layers_per_block(arrays, _ZOO_LAYER.pattern)
        zoo_names = {k: k for k in arrays}
    names = {k: _ZOO_LAYER.sub(r"features.\1.net.\2.\3.\4", zoo_names[k]) if k in zoo_names else k
             for k in arrays}                    # source key → ours
    ours = {names[k]: a for k, a in arrays.items()}
    return build(ours, {v: k for k, v in names.items() if v != k}, label, depth, found, classes,
                 ctx, **kwargs)


def pretrained_densenet(depth: int, classes: int = 1000,
                        root: str | os.PathLike | None = None, **kwargs: Any) -> DenseNet:
    """DenseNet-``depth`` with MXNet's ImageNet weights: what ``densenet121(pretrained=True)``
    returns.

    Args:
        depth: 121, 161, 169 or 201.
        classes: 1000 keeps ImageNet's classifier; another number gets a new, randomly
            initialised one.
        root: folder of the weights files (see :func:`model_zoo_file`).
        **kwargs: for the DenseNet; ``in_channels=1`` sums the stem's kernel over colour.

    Returns:
        The DenseNet, on the CPU.

    Raises:
        PretrainedWeightsUnavailable: the weights can be neither found nor downloaded.
    """
    return from_model_zoo(model_zoo_file(depth, root), depth, classes=classes, **kwargs)
