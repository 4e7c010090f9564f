"""Tests for gluon_densenet.analysis.parameters."""
from gluon_densenet import DenseNet, count_parameters, densenet121, get_model
from gluon_densenet.analysis.parameters import classifier_in_units, stage_parameters


def test_parts_of_a_small_densenet_sum_to_the_total():
    net = DenseNet((2, 2, 2), growth_rate=8, init_features=16, classes=10, in_channels=1)
    parts = stage_parameters(net, (1, 1, 32, 32))
    assert list(parts) == ["stem", "stage 1", "transition 1", "stage 2", "transition 2",
                           "stage 3", "final norm", "classifier"]
    net.initialize()
    assert sum(parts.values()) == count_parameters(net)
    channels = 16 + 2 * 8                     # into transition 1: BN (2C) + 1x1 conv C -> C/2
    assert parts["transition 1"] == 2 * channels + channels * (channels // 2)
    assert parts["classifier"] == (net.num_features + 1) * 10


def test_densenet121_and_resnets_match_their_published_totals():
    # published (paper, torchvision) counts, and what Gluon's model zoo builds: its
    # ResNet-50 v1 adds 18,880 biases to the 1x1 convolutions of its bottleneck blocks
    expected = {"densenet121": (7_978_856, 7_978_856, 1024),
                "resnet18_v1": (11_689_512, 11_689_512, 512),
                "resnet50_v1": (25_557_032, 25_575_912, 2048)}
    for name, (published, gluon, width) in expected.items():
        net = get_model(name, classes=1000)
        assert sum(stage_parameters(net).values()) == gluon, name
        assert sum(stage_parameters(net, conv_biases=False).values()) == published, name
        assert classifier_in_units(net) == width, name
    assert "transition 3" not in stage_parameters(get_model("resnet18_v1", classes=10))
    assert stage_parameters(densenet121(classes=10))["classifier"] == 1024 * 10 + 10
