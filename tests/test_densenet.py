import mxnet as mx
import numpy as np
import pytest

from gluon_densenet.models import (
    DENSENET_SPECS,
    MODELS,
    DenseNet,
    count_parameters,
    count_weighted_layers,
    densenet,
    densenet21_d2l,
    densenet63_classic,
    densenet121,
    densenet_bc,
    densenet_tiny,
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
    with pytest.raises(ValueError, match="did you mean 'densenet121'"):
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


@pytest.mark.parametrize("depth", sorted(DENSENET_SPECS))
def test_table_factories_are_named_and_documented_from_the_spec(depth):
    factory, spec = MODELS[f"densenet{depth}"], DENSENET_SPECS[depth]
    assert factory.__name__ == factory.__qualname__ == f"densenet{depth}"
    assert factory.__module__ == "gluon_densenet.models.densenet"
    first = factory.__doc__.splitlines()[0]
    assert f"k={spec.growth_rate}, {spec.init_features} init features" in first
    assert "-".join(map(str, spec.block_config)) in first
    assert f"{spec.weighted_layers} weighted layers" in first
    net = factory(classes=7)
    assert (net.block_config, net.growth_rate, net.init_features, net.classes) == (
        spec.block_config, spec.growth_rate, spec.init_features, 7)


def test_factory_order_is_the_tables():
    assert list(MODELS) == ["densenet121", "densenet161", "densenet169", "densenet201",
                            "densenet264", "densenet_bc", "densenet63_classic",
                            "densenet21_d2l", "densenet_tiny"]


@pytest.mark.parametrize("build", [
    lambda: densenet121(pretrained=True),
    lambda: densenet(121, pretrained=False),
    lambda: densenet_tiny(root="/tmp"),
    lambda: get_model("densenet121", pretrained=True),
    lambda: get_model("resnet18_v1", pretrained=True),
])
def test_model_builders_send_weights_requests_to_pretrained(build):
    with pytest.raises(TypeError) as err:
        build()
    message = str(err.value)
    assert "gluon_densenet.densenet121(pretrained=True)" in message
    assert "gluon_densenet.pretrained" in message and "\n" not in message


def _tiny_net(**kwargs):
    mx.random.seed(0)
    net = densenet_tiny(classes=5, in_channels=1, **kwargs)
    net.initialize(mx.init.Xavier())
    return net


@pytest.mark.parametrize("memory_efficient", [False, True])
def test_forward_features_feed_the_classifier(memory_efficient):
    net = _tiny_net(memory_efficient=memory_efficient)
    x = mx.nd.random.uniform(shape=(3, 1, 32, 32))
    features = net.forward_features(x)
    assert features.shape == (3, net.num_features)
    np.testing.assert_allclose(net.output(features).asnumpy(), net(x).asnumpy(), rtol=1e-5,
                               atol=1e-6)
    with mx.autograd.record():                 # the memory-efficient path, layer by layer
        recorded = net.forward_features(x)
    recorded.backward()
    assert recorded.shape == (3, net.num_features)
    assert np.abs(net.features[0].weight.grad().asnumpy()).sum() > 0
    with pytest.raises(ValueError, match="at least"):
        net.forward_features(mx.nd.ones((1, 1, 2, 2)))


@pytest.mark.parametrize("flags", [None, {}, {"static_alloc": True, "static_shape": True}])
def test_reset_classifier_keeps_the_features_and_the_hybridization(flags):
    net = _tiny_net()
    x = mx.nd.random.uniform(shape=(2, 1, 32, 32))
    if flags is not None:
        net.hybridize(**flags)
    features = net.forward_features(x).asnumpy()
    assert net(x).shape == (2, 5)             # a cached graph with the old head
    before = {k: p.data().asnumpy().copy() for k, p in net.features.collect_params().items()}
    old = net.output
    head = net.reset_classifier(7)
    assert net.output is head is not old and net.classes == 7
    assert head.weight.shape == (7, net.num_features) and head.bias.shape == (7,)
    assert head.weight.list_ctx() == [mx.cpu()] and np.abs(head.weight.data().asnumpy()).sum() > 0
    after = net.features.collect_params()
    assert all(np.array_equal(before[k], p.data().asnumpy()) for k, p in after.items())
    assert net(x).shape == (2, 7)
    np.testing.assert_allclose(net(x).asnumpy(), head(mx.nd.array(features)).asnumpy(),
                               rtol=1e-5, atol=1e-6)
    if flags is not None:
        assert head._active and dict(head._flags) == dict(net._flags)
    with mx.autograd.record():
        loss = net(x).sum()
    loss.backward()
    assert np.abs(head.weight.grad().asnumpy()).sum() > 0


def test_reset_classifier_of_a_memory_efficient_net_and_its_checks():
    net = _tiny_net(memory_efficient=True)
    net.reset_classifier(3, init=mx.init.Zero())
    x = mx.nd.random.uniform(shape=(2, 1, 32, 32))
    with mx.autograd.record():
        out = net(x)
    out.backward()
    assert out.shape == (2, 3) and not out.asnumpy().any()
    for bad in (0, 2.0, "10", True, None):
        with pytest.raises(ValueError, match="positive integer"):
            net.reset_classifier(bad)
    assert net.reset_classifier(np.int64(4)).weight.shape == (4, net.num_features)
