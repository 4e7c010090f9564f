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

import mxnet as mx
from mxnet.gluon import nn

from ..models.densenet import DenseNet
from ..models.summary import rebuild_graphs

__all__ = ["freeze_features", "replace_classifier", "set_features_lr_mult",
           "unfreeze_features"]


def replace_classifier(net: DenseNet, classes: int, init: mx.init.Initializer | None = None,
                       ctx: mx.Context | list[mx.Context] | None = None) -> nn.Dense:
    """Give ``net`` a new, randomly initialised classifier ``num_features → classes``
    (:meth:`~gluon_densenet.models.DenseNet.reset_classifier`).

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
    return net.reset_classifier(classes, ctx=ctx, init=init)


def _set_frozen(net: DenseNet, frozen: bool) -> None:
    net.features.collect_params().setattr("grad_req", "null" if frozen else "write")

    def visit(block: nn.Block) -> None:
        if isinstance(block, nn.BatchNorm):
            # No public setter in Gluon 1.9: the flag is read when the graph is traced.
            block._kwargs["use_global_stats"] = frozen

    net.apply(visit)
    rebuild_graphs(net)


def freeze_features(net: DenseNet) -> None:
    """Stop training ``net.features``: ``grad_req="null"`` for its parameters, and its
    BatchNorm layers use their running statistics, so only the classifier learns. A
    hybridized net keeps its flags and traces its graph again."""
    _set_frozen(net, True)


def unfreeze_features(net: DenseNet) -> None:
    """Train ``net.features`` again (``grad_req="write"``, BatchNorm on batch statistics;
    running statistics, which have no gradient, stay ``"null"``)."""
    _set_frozen(net, False)


def set_features_lr_mult(net: DenseNet, mult: float) -> None:
    """Train ``net.features`` at ``mult`` × the trainer's learning rate (``lr_mult``; the
    classifier keeps 1×). ``mult=0.1`` is the usual fine-tuning choice.

    Raises:
        ValueError: ``mult`` is negative (or NaN).
    """
    if not mult >= 0:
        raise ValueError(f"the learning-rate multiplier must be ≥ 0, got {mult}")
    net.features.collect_params().setattr("lr_mult", float(mult))
