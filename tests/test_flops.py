"""Tests for gluon_densenet.analysis.flops."""
import pytest
from mxnet.gluon import nn
from mxnet.gluon.model_zoo import vision

from gluon_densenet import DenseNet, get_model
from gluon_densenet.analysis.flops import TORCHVISION_GFLOPS, LayerFlops, count_flops, layer_flops
from gluon_densenet.models.summary import hybridization


def small_net():
    net = nn.HybridSequential(prefix="small_")
    with net.name_scope():                   # names of its own, whatever ran before
        net.add(nn.Conv2D(8, 3, padding=1, in_channels=3),                # 8x8 -> 8x8
                nn.Conv2D(16, 3, strides=2, padding=1, in_channels=8),    # 8x8 -> 4x4
                nn.Conv2D(16, 3, padding=1, groups=4, in_channels=16),    # 4 input channels each
                nn.GlobalAvgPool2D(), nn.Flatten(), nn.Dense(10, in_units=16))
    return net


def test_small_net_matches_a_hand_count():
    layers = layer_flops(small_net(), (1, 3, 8, 8))
    # out_C * out_H * out_W * (in_C / groups) * kh * kw; dense: units * inputs
    expected = [("conv", 8 * 8 * 8 * 3 * 3 * 3, (8, 8, 8)),
                ("conv", 16 * 4 * 4 * 8 * 3 * 3, (16, 4, 4)),
                ("conv", 16 * 4 * 4 * (16 // 4) * 3 * 3, (16, 4, 4)),
                ("dense", 10 * 16, (10,))]
    assert [(layer.op, layer.macs, layer.output_shape) for layer in layers] == expected
    assert all(isinstance(layer, LayerFlops) for layer in layers)
    assert [layer.name for layer in layers] == ["small_conv0", "small_conv1", "small_conv2",
                                                "small_dense0"]


def test_dense_without_flatten_counts_every_row():
    net = nn.HybridSequential()
    net.add(nn.Dense(4, flatten=False, in_units=6))
    (layer,) = layer_flops(net, (2, 7, 6))
    assert (layer.macs, layer.output_shape) == (7 * 6 * 4, (7, 4))


def test_batch_size_does_not_change_the_per_image_count():
    net = small_net()
    one, five = layer_flops(net, (1, 3, 8, 8)), layer_flops(net, (5, 3, 8, 8))
    assert one == five
    assert sum(layer.macs for layer in one) == count_flops(net, (5, 3, 8, 8)) == 41_632


@pytest.mark.parametrize("name, build", [
    ("densenet121", lambda: get_model("densenet121")),
    ("densenet169", lambda: get_model("densenet169")),
    ("densenet201", lambda: get_model("densenet201")),
    ("resnet18", lambda: get_model("resnet18_v1")),
    # v2's convolutions have torchvision's (v1.5) shapes: stride on the 3x3 of each bottleneck
    ("resnet50", lambda: vision.get_model("resnet50_v2", pretrained=False)),
    ("resnet34", lambda: get_model("resnet34_v1")),
    ("resnet101", lambda: vision.get_model("resnet101_v2", pretrained=False)),
    ("resnet152", lambda: vision.get_model("resnet152_v2", pretrained=False)),
])
def test_published_torchvision_figures(name, build):
    assert set(TORCHVISION_GFLOPS) == {"densenet121", "densenet169", "densenet201", "resnet18",
                                       "resnet34", "resnet50", "resnet101", "resnet152"}
    assert count_flops(build()) / 1e9 == pytest.approx(TORCHVISION_GFLOPS[name], rel=0.02)


def test_resnet50_v1_strides_its_1x1_convolution_and_counts_less():
    gflops = count_flops(vision.get_model("resnet50_v1", pretrained=False)) / 1e9
    assert gflops != pytest.approx(TORCHVISION_GFLOPS["resnet50"], rel=0.02)
    assert gflops < TORCHVISION_GFLOPS["resnet50"]


def test_densenet_conv_macs_scale_with_input_area():
    net = DenseNet((2, 2), growth_rate=8, init_features=16, stem="cifar", classes=10,
                   in_channels=1)
    small, large = layer_flops(net, (1, 1, 32, 32)), layer_flops(net, (1, 1, 64, 64))
    assert [layer.name for layer in small] == [layer.name for layer in large]
    convs = [(s.macs, lg.macs) for s, lg in zip(small, large) if s.op == "conv"]
    dense = [(s.macs, lg.macs) for s, lg in zip(small, large) if s.op == "dense"]
    assert len(convs) == 1 + 2 * 4 + 1 and len(dense) == 1
    assert all(lg == 4 * s for s, lg in convs)
    assert dense == [(net.num_features * 10, net.num_features * 10)]


@pytest.mark.parametrize("hybridize", [True, False])
def test_counting_keeps_hybridization(hybridize):
    net = small_net()
    if hybridize:
        net.hybridize(static_alloc=True)
    before = hybridization(net)
    count_flops(net, (1, 3, 8, 8))
    assert hybridization(net) == before
    assert (before is not None) == hybridize


@pytest.mark.parametrize("shape", [(1, 3, 16, 16), (1, 1, 224, 224), (3, 224, 224)])
def test_shape_that_does_not_fit_raises_a_one_line_value_error(shape):
    with pytest.raises(ValueError) as info:
        count_flops(get_model("densenet121"), shape)
    message = str(info.value)
    assert "\n" not in message and str(shape) in message
