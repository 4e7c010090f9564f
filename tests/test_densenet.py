import mxnet as mx
import numpy as np
import pytest

from gluon_densenet.models import (
    DENSENET_SPECS,
    DenseNet,
    count_parameters,
    count_weighted_layers,
    densenet21_d2l,
    densenet63_classic,
    densenet121,
    densenet_bc,
    get_model,
)

PAPER = {  # depth: (weighted layers, learnable parameters) with 1000 classes
    "densenet121": (121, 7_978_856),
    "densenet161": (161, 28_681_000),
    "densenet169": (169, 14_149_480),
    "densenet201": (201, 20_013_928),
    "densenet264": (265, None),   # the paper's [6, 12, 64, 48] counts 265 weighted layers
}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_layer_and_parameter_counts(name):
    net = get_model(name, classes=1000)
    net.initialize()
    layers, params = PAPER[name]
    assert count_weighted_layers(net) == layers
    if params is not None:
        assert count_parameters(net) == params


def test_spec_table_matches_paper():
    assert DENSENET_SPECS[121].block_config == (6, 12, 24, 16)
    assert DENSENET_SPECS[161].growth_rate == 48 and DENSENET_SPECS[161].init_features == 96


def test_classic_tutorial_net_has_63_layers():
    net = densenet63_classic(classes=10, in_channels=1)
    net.initialize()
    assert count_weighted_layers(net) == 63
    assert count_weighted_layers(densenet21_d2l()) == 21


def test_densenet_bc_100_12_is_about_08m():
    net = densenet_bc(100, 12, classes=10)
    net.initialize()
    assert count_weighted_layers(net) == 100
    assert 0.75e6 < count_parameters(net) < 0.85e6
    with pytest.raises(ValueError, match="6n"):
        densenet_bc(101, 12)


@pytest.mark.parametrize("size", [32, 224])
def test_any_input_size_from_minimum_up(size):
    net = densenet121(classes=10, in_channels=1)
    net.initialize()
    assert net(mx.nd.ones((1, 1, size, size))).shape == (1, 10)


def test_minimum_size_is_exact():
    net = densenet21_d2l(in_channels=1)
    net.initialize()
    m = net.min_input_size()
    assert m == 29
    assert net(mx.nd.ones((1, 1, m, m))).shape == (1, 10)
    with pytest.raises(ValueError, match=f"at least {m}×{m}"):
        net(mx.nd.ones((1, 1, m - 1, m - 1)))


def test_too_small_input_raises_before_mxnet_even_hybridized():
    net = densenet21_d2l(in_channels=1)
    net.initialize()
    net.hybridize()
    with pytest.raises(ValueError, match="resize"):
        net(mx.nd.ones((2, 1, 28, 28)))


def test_wrong_channel_count_is_explained():
    net = densenet21_d2l(in_channels=1)
    net.initialize()
    with pytest.raises(ValueError, match="in_channels=3"):
        net(mx.nd.ones((1, 3, 32, 32)))


@pytest.mark.parametrize("factory,kw", [
    (densenet21_d2l, {}),
    (densenet_bc, {"depth": 40, "growth_rate": 12}),
    (densenet21_d2l, {"transition_pool": "max"}),
])
def test_hybridized_equals_imperative(factory, kw):
    net = factory(**kw, in_channels=1) if factory is densenet21_d2l else factory(**kw)
    net.initialize(mx.init.Xavier())
    c = net.in_channels
    x = mx.nd.random.uniform(shape=(2, c, 32, 32))
    imperative = net(x).asnumpy()
    net.hybridize()
    np.testing.assert_allclose(net(x).asnumpy(), imperative, rtol=1e-4, atol=1e-5)


def test_get_model_suggests_on_typo():
    with pytest.raises(ValueError, match="Did you mean 'densenet121'"):
        get_model("densenet12")
    with pytest.raises(ValueError, match="densenet_bc"):
        get_model("resnet50")


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError, match="stem"):
        DenseNet((2, 2), stem="tiny")
    with pytest.raises(ValueError, match="compression"):
        DenseNet((2, 2), compression=0)


def test_compression_and_no_bottleneck_shape_features():
    net = DenseNet((2, 2), growth_rate=4, init_features=8, bn_size=None, compression=1.0,
                   stem="cifar", classes=3, in_channels=1)
    # 8 + 2·4 = 16 through an uncompressed transition, then 16 + 2·4 = 24
    assert net.num_features == 24


@pytest.mark.parametrize("hybridize", [False, True])
def test_growth_rate_12_trains_despite_onednn_concat_bug(hybridize):
    # k = 12 puts concatenation offsets off oneDNN's 16-channel blocks; MXNet 1.9's plain
    # Concat backward fails there ("could not construct a sub-memory").
    net = densenet_bc(40, 12, in_channels=1)
    net.initialize(mx.init.Xavier())
    if hybridize:
        net.hybridize()
    x = mx.nd.random.uniform(shape=(8, 1, 32, 32))
    with mx.autograd.record():
        loss = net(x).sum()
    loss.backward()
    grad = net.features[0].weight.grad().asnumpy()
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0


def test_get_model_builds_model_zoo_resnets_without_download():
    net = get_model("resnet18_v1", classes=10)
    net.initialize()
    assert net(mx.nd.zeros((1, 3, 32, 32))).shape == (1, 10)
    with pytest.raises(ValueError, match="3-channel"):
        get_model("resnet18_v1", in_channels=1)


def test_tiny_densenet_is_a_small_working_net():
    net = get_model("densenet_tiny", in_channels=1)
    net.initialize()
    assert net(mx.nd.zeros((2, 1, 32, 32))).shape == (2, 10)
    assert count_parameters(net) < 20_000
