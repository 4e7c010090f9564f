"""Fine-tuning a pretrained DenseNet in the Gluon idiom: a new head, frozen or slower features.

Gluon expresses all three through parameter attributes, which ``gluon.Trainer`` reads at
every step: ``grad_req="null"`` freezes a parameter, ``lr_mult`` scales its learning rate::

    net = densenet121(pretrained=True, classes=10, in_channels=1)  # new 10-class head
    freeze_features(net)                  # train the head alone ...
    train(net, train_iter, test_iter, epochs=1, lr=0.1)
    unfreeze_features(net)
    set_features_lr_mult(net, 0.1)        # ... then all of it, features 10× slower
    train(net, train_iter, test_iter, epochs=2, lr=0.1)

Frozen features are a fixed function: their BatchNorm layers normalise with the running
statistics in training too, as in inference. (Left in batch-statistics mode they would not
update those statistics either, since MXNet updates them in backward, and the head would
train on other features than it is tested on.)
"""
from __future__ import annotations

import operator

import mxnet as mx
from mxnet.gluon import nn

from ..models.densenet import DenseNet

__all__ = ["freeze_features", "replace_classifier", "set_features_lr_mult",
           "unfreeze_features"]


def _devices(block: nn.Block) -> list[mx.Context]:
    for param in block.collect_params().values():
        try:
            return param.list_ctx()
        except RuntimeError:                     # not initialised yet
            continue
    return [mx.cpu()]


def replace_classifier(net: DenseNet, classes: int, init: mx.init.Initializer | None = None,
                       ctx: mx.Context | list[mx.Context] | None = None) -> nn.Dense:
    """Give ``net`` a new classifier with ``classes`` outputs (``num_features → classes``).

    Args:
        net: the DenseNet.
        classes: outputs of the new classifier.
        init: its initialiser (default Xavier).
        ctx: its device(s) (default: where the features are).

    Returns:
        The new ``nn.Dense``, also ``net.output``.

    Raises:
        ValueError: ``classes`` is not a positive integer.
    """
    try:
        count = operator.index(classes)        # ints and NumPy integers, not 2.0 or "10"
    except TypeError:
        count = 0
    if count < 1 or isinstance(classes, bool):
        raise ValueError(f"classes must be a positive integer, got {classes!r}")
    classes = count
    with net.name_scope():
        head = nn.Dense(classes, in_units=net.num_features)
    net.output = head                            # registers the child, clears a cached graph
    net.classes = classes
    head.initialize(init or mx.init.Xavier(), ctx=ctx or _devices(net.features))
    return head


def _set_frozen(net: DenseNet, frozen: bool) -> None:
    net.features.collect_params().setattr("grad_req", "null" if frozen else "write")

    def visit(block: nn.Block) -> None:
        if isinstance(block, nn.BatchNorm):
            # No public setter in Gluon 1.9: the flag is read when the graph is built.
            block._kwargs["use_global_stats"] = frozen
        if isinstance(block, mx.gluon.HybridBlock):
            block._clear_cached_op()             # rebuild the graph with the new flag

    net.apply(visit)


def freeze_features(net: DenseNet) -> None:
    """Stop training ``net.features``: ``grad_req="null"`` for its parameters, and its
    BatchNorm layers use their running statistics, so only the classifier learns."""
    _set_frozen(net, True)


def unfreeze_features(net: DenseNet) -> None:
    """Train ``net.features`` again (``grad_req="write"``, BatchNorm on batch statistics;
    running statistics, which have no gradient, stay ``"null"``)."""
    _set_frozen(net, False)


def set_features_lr_mult(net: DenseNet, mult: float) -> None:
    """Train ``net.features`` at ``mult`` × the trainer's learning rate (``lr_mult``; the
    classifier keeps 1×). ``mult=0.1`` is the usual fine-tuning choice."""
    if not mult >= 0:
        raise ValueError(f"the learning-rate multiplier must be ≥ 0, got {mult}")
    net.features.collect_params().setattr("lr_mult", float(mult))
