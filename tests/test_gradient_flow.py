"""Tests for gluon_densenet.analysis.gradient_flow."""
import math

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn

from gluon_densenet import DenseNet, count_weighted_layers
from gluon_densenet.analysis.gradient_flow import (
    LayerGradient,
    PlainNet,
    gradient_profile,
    layer_gradients,
    plain_counterpart,
)
from gluon_densenet.analysis.parameters import classifier_in_units, stage_parameters

CONFIGS = {
    "plain layers": dict(bn_size=None, stem="cifar", in_channels=1),
    "bottleneck": dict(bn_size=4, stem="cifar", in_channels=1),
    "bottleneck, imagenet stem, max pool, no compression":
        dict(bn_size=2, stem="imagenet", in_channels=3, transition_pool="max", compression=1.0),
}


def _densenet(**kwargs) -> DenseNet:
    return DenseNet((2, 3), growth_rate=8, init_features=16, classes=10, **kwargs)


def _weighted(net: gluon.Block) -> list[gluon.Block]:
    """Convolutions and dense layers in registration order (forward order for these nets)."""
    found = []
    net.apply(lambda b: found.append(b) if isinstance(b, nn.Conv2D | nn.Dense) else None)
    return found


def _reads_previous_output(net: gluon.Block) -> bool:
    """Whether every weighted layer's input width is the previous one's output width."""
    shapes = [b.weight.shape for b in _weighted(net)]
    return all(nxt[1] == prev[0] for prev, nxt in zip(shapes, shapes[1:]))


def _batch(shape, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return (nd.array(rng.standard_normal(shape), dtype="float32"),
            nd.array(rng.integers(0, classes, shape[0]), dtype="float32"))


@pytest.mark.parametrize("config", list(CONFIGS.values()), ids=list(CONFIGS))
def test_plain_counterpart_has_the_densenets_depth_and_widths_without_concatenation(config):
    mx.random.seed(0)
    net = _densenet(**config)
    plain = plain_counterpart(net)
    assert isinstance(plain, PlainNet)
    for n in (net, plain):
        n.initialize(mx.init.Xavier())
    X, _ = _batch((2, config["in_channels"], 32, 32))
    shape = X.shape

    assert count_weighted_layers(plain) == count_weighted_layers(net)
    assert count_weighted_layers(net) == 1 + (2 if config["bn_size"] else 1) * 5 + 1 + 1
    assert plain.num_features == net.num_features
    assert classifier_in_units(plain, shape) == classifier_in_units(net, shape)
    assert list(stage_parameters(plain, shape)) == list(stage_parameters(net, shape))
    # the same layer kinds (kernel sizes) in the same order, the same transitions
    dense_layers, plain_layers = _weighted(net), _weighted(plain)
    assert [b.weight.shape[2:] for b in plain_layers] == [b.weight.shape[2:] for b in dense_layers]
    assert plain_layers[0].weight.shape == dense_layers[0].weight.shape          # the stem
    transitions = [i for i, b in enumerate(dense_layers)
                   if "_stage" not in b.weight.name and 0 < i < len(dense_layers) - 1]
    assert [plain_layers[i].weight.shape for i in transitions] == \
        [dense_layers[i].weight.shape for i in transitions]
    # every layer of a plain stage writes the block's output width c0 + L·k
    widths = {"_stage1_": 16 + 2 * 8,
              "_stage2_": int((16 + 2 * 8) * config.get("compression", 0.5)) + 3 * 8}
    for b in plain_layers:
        for stage, width in widths.items():
            if stage in b.weight.name and b.weight.shape[2:] == (3, 3):
                assert b.weight.shape[0] == width, b.weight.name
    # no layer reads a concatenation: each reads what the one before it wrote
    assert _reads_previous_output(plain)
    assert not _reads_previous_output(net)

    out = plain(X)
    assert out.shape == net(X).shape == (2, 10)
    plain.hybridize()
    np.testing.assert_allclose(plain(X).asnumpy(), out.asnumpy(), rtol=1e-4, atol=1e-5)
    assert len(layer_gradients(plain, X, nd.array([1, 2]))) == count_weighted_layers(net)


def _tiny_densenet() -> DenseNet:
    mx.random.seed(1)
    net = DenseNet((2, 2), growth_rate=4, init_features=8, bn_size=2, stem="cifar",
                   classes=10, in_channels=1)
    net.initialize(mx.init.Xavier())
    return net


def _state(net: gluon.Block) -> dict[str, np.ndarray]:
    return {name: p.data().asnumpy() for name, p in net.collect_params().items()}


def _grads(net: gluon.Block) -> dict[str, np.ndarray]:
    return {name: p.grad().asnumpy() for name, p in net.collect_params().items()
            if p.grad_req != "null"}


def _backward(net: gluon.Block, X: nd.NDArray, y: nd.NDArray) -> None:
    with autograd.record():
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(X), y).mean()
    loss.backward()


@pytest.mark.parametrize("hybridize", [False, True])
def test_layer_gradients_match_a_manual_backward_and_leave_the_net_as_it_was(hybridize):
    net = _tiny_densenet()
    if hybridize:
        net.hybridize()
    X, y = _batch((4, 1, 16, 16), seed=1)
    _backward(net, *_batch((4, 1, 16, 16), seed=2))     # gradients of another batch are there
    state, grads = _state(net), _grads(net)

    result = layer_gradients(net, X, y)

    for name, value in _state(net).items():             # running statistics, weights
        np.testing.assert_array_equal(value, state[name], err_msg=name)
    for name, value in _grads(net).items():
        np.testing.assert_array_equal(value, grads[name], err_msg=name)
    expected = [b.weight for b in _weighted(net)]
    assert [g.name for g in result] == [p.name for p in expected]
    assert [g.depth for g in result] == list(range(1, len(expected) + 1))
    assert len(result) == count_weighted_layers(net) == 1 + 2 * 4 + 1 + 1
    assert result[0].name == net.features[0].weight.name
    assert result[-1].name == net.output.weight.name
    assert all(isinstance(g, LayerGradient) for g in result)

    _backward(net, X, y)                                # the same loss on the same batch
    running = [n for n in state if n.endswith("running_mean")]
    assert any(not np.array_equal(_state(net)[n], state[n]) for n in running)
    for g, param in zip(result, expected):
        grad, weight = param.grad().asnumpy(), param.data().asnumpy()
        assert g.size == grad.size
        np.testing.assert_allclose(g.grad_norm, np.linalg.norm(grad), rtol=1e-5)
        np.testing.assert_allclose(g.grad_rms, np.linalg.norm(grad) / math.sqrt(grad.size),
                                   rtol=1e-5)
        np.testing.assert_allclose(g.weight_norm, np.linalg.norm(weight), rtol=1e-5)
        assert g.grad_norm > 0, g.name


def test_layer_gradients_works_on_the_model_zoos_resnet18():
    mx.random.seed(2)
    net = gluon.model_zoo.vision.get_model("resnet18_v1", classes=10)
    net.initialize(mx.init.Xavier())              # deferred shapes: known after a forward
    X, y = _batch((2, 3, 32, 32), seed=3)

    result = layer_gradients(net, X, y)

    blocks = [b for stage in net.features if isinstance(stage, nn.HybridSequential)
              for b in stage]
    downsamples = sum(b.downsample is not None for b in blocks)
    expected = 1 + 2 * len(blocks) + downsamples + 1   # stem, 2 convs per basic block, dense
    assert (len(blocks), downsamples, expected) == (8, 3, 21)
    assert len(result) == count_weighted_layers(net) == expected
    assert {g.name for g in result} == {b.weight.name for b in _weighted(net)}
    shapes = {name: p.shape for name, p in net.collect_params().items()}
    assert shapes[result[0].name] == (64, 3, 7, 7)
    assert shapes[result[-1].name] == (10, 512)
    assert sum(shapes[g.name][2:] == (1, 1) for g in result) == 3
    assert all(math.isfinite(g.grad_norm) and g.grad_norm > 0 for g in result)


def test_gradient_profile_averages_over_batches():
    net = _tiny_densenet()
    batches = [_batch((4, 1, 16, 16), seed=s) for s in (4, 5)]
    runs = [layer_gradients(net, X, y) for X, y in batches]
    assert runs[0] != runs[1]
    assert layer_gradients(net, *batches[0]) == runs[0]    # no state carried between calls

    profile = gradient_profile(net, batches)

    assert [g.name for g in profile] == [g.name for g in runs[0]]
    for g, a, b in zip(profile, *runs):
        assert g.grad_norm == pytest.approx((a.grad_norm + b.grad_norm) / 2)
        assert g.grad_rms == pytest.approx((a.grad_rms + b.grad_rms) / 2)
        assert g.weight_norm == a.weight_norm
    with pytest.raises(ValueError, match="at least one batch"):
        gradient_profile(net, [])


def test_layer_gradients_are_of_this_batch_alone_when_gradients_accumulate():
    net = _tiny_densenet()
    X, y = _batch((4, 1, 16, 16), seed=6)
    fresh = layer_gradients(net, X, y)
    net.collect_params().setattr("grad_req", "add")
    _backward(net, *_batch((4, 1, 16, 16), seed=7))     # accumulated gradients are there
    grads = _grads(net)

    result = layer_gradients(net, X, y)

    assert [g.name for g in result] == [g.name for g in fresh]
    for g, f in zip(result, fresh):
        assert g.grad_norm == pytest.approx(f.grad_norm, rel=1e-5), g.name
    for name, value in _grads(net).items():
        np.testing.assert_array_equal(value, grads[name], err_msg=name)


@pytest.mark.parametrize("bn_size", [None, 4])
def test_plain_counterpart_keeps_the_densenets_dropout(bn_size):
    net = DenseNet((2, 2), growth_rate=8, init_features=16, bn_size=bn_size, dropout=0.2,
                   stem="cifar", classes=10, in_channels=1)
    rates = []
    plain_counterpart(net).apply(
        lambda b: rates.append(b._rate) if isinstance(b, nn.Dropout) else None)
    assert rates == [0.2] * 4
