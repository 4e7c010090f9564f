import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

from gluon_densenet import DenseNet
from gluon_densenet.analysis.feature_reuse import (
    USED,
    ReuseMap,
    mean_abs_by_source,
    paper_observations,
    reuse_maps,
    source_slices,
)

NAN = np.nan


def _net(bn_size=None, blocks=(3, 2)):
    net = DenseNet(blocks, growth_rate=4, init_features=6, bn_size=bn_size, stem="cifar",
                   classes=3, in_channels=1)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 1, 8, 8)))
    return net


def _set_by_source(weight: mx.gluon.Parameter, c0: int, k: int, value) -> None:
    """Give every input channel of source s the weight value(s), with alternating signs."""
    w = np.empty(weight.shape, dtype="float32")
    for s, channels in enumerate(source_slices(c0, k, (weight.shape[1] - c0) // k)):
        w[:, channels] = value(s)
    w *= np.where(np.arange(w.size).reshape(w.shape) % 2, -1, 1)
    weight.set_data(mx.nd.array(w))


def test_source_slices_follow_the_concatenation_order():
    assert source_slices(6, 4, 3) == [slice(0, 6), slice(6, 10), slice(10, 14), slice(14, 18)]


def test_mean_abs_by_source_on_known_weights():
    w = np.zeros((2, 6 + 2 * 4, 3, 3))
    w[:, :6] = -1.0
    w[:, 6:10] = 2.0
    w[0, 10:14] = 3.0                   # half the output channels: mean 1.5
    np.testing.assert_allclose(mean_abs_by_source(w, 6, 4), [1.0, 2.0, 1.5])
    np.testing.assert_allclose(mean_abs_by_source(w[:, :, 0, 0], 6, 4), [1.0, 2.0, 1.5])
    with pytest.raises(ValueError, match="growth rate 4"):
        mean_abs_by_source(np.zeros((2, 13)), 6, 4)


def test_a_net_with_known_weights_gives_the_known_map():
    net = _net()
    c0, k = 6, 4
    # every reader of block 1 weighs source s by s + 1; the transition reads 18 channels
    for layer in net.features[1].net:
        _set_by_source(layer[2].weight, c0, k, lambda s: s + 1.0)
    _set_by_source(net.features[2][2].weight, c0, k, lambda s: 10.0 - s)
    maps = reuse_maps(net)
    assert [m.consumer for m in maps] == ["transition 1", "classifier"]
    assert [m.layers for m in maps] == [3, 2]
    assert maps[0].weights.shape == (4, 4) and maps[1].weights.shape == (3, 3)
    expected = np.array([[1, 1, 1, 10],
                         [NAN, 2, 2, 9],
                         [NAN, NAN, 3, 8],
                         [NAN, NAN, NAN, 7]])
    np.testing.assert_allclose(maps[0].weights, expected, rtol=1e-6)
    np.testing.assert_allclose(maps[0].normalized()[:, 2], [1 / 3, 2 / 3, 1, NAN], rtol=1e-6)
    np.testing.assert_allclose(maps[0].normalized()[:, 3], [1, 0.9, 0.8, 0.7], rtol=1e-6)
    # block 2 starts at the transition's 9 channels; the classifier reads 9 + 2·4
    classifier = net.output.weight.data().asnumpy()
    np.testing.assert_allclose(maps[1].weights[:, 2], mean_abs_by_source(classifier, 9, 4))


def test_bottleneck_layers_are_read_at_their_1x1_convolution():
    net = _net(bn_size=2)
    maps = reuse_maps(net)
    first = net.features[1].net[2][2].weight.data().asnumpy()      # layer 3's 1×1 conv
    assert first.shape[2:] == (1, 1)
    np.testing.assert_allclose(maps[0].weights[:3, 2], mean_abs_by_source(first, 6, 4))


def test_a_net_without_dense_blocks_is_refused():
    net = nn.HybridSequential()
    with net.name_scope():
        net.features = nn.HybridSequential()
    with pytest.raises(ValueError, match="no DenseBlock"):
        reuse_maps(net)


def _map(block, consumer, columns):
    return ReuseMap(block, consumer, np.array(columns, dtype=float).T)


def test_the_four_observations_hold_on_a_map_made_to_hold_them():
    # columns are targets: layers 1-3, then the consumer; rows are sources 0-3
    first = _map(1, "transition 1", [[1, NAN, NAN, NAN], [1, 0.8, NAN, NAN],
                                     [0.9, 1, 0.7, NAN], [0.9, 0.8, 1, 0.9]])
    second = _map(2, "classifier", [[1, NAN, NAN, NAN], [0.2, 1, NAN, NAN],
                                    [0.3, 0.9, 1, NAN], [0.2, 0.5, 0.7, 1]])
    verdicts = paper_observations([first, second])
    assert [v.holds for v in verdicts] == [True, True, True, True], verdicts


def test_each_observation_can_fail():
    first = _map(1, "transition 1", [[1, NAN, NAN, NAN], [0.1, 1, NAN, NAN],
                                     [0.1, 0.1, 1, NAN], [1, USED / 2, 0.8, 0.9]])
    second = _map(2, "classifier", [[1, NAN, NAN, NAN], [1, 0.2, NAN, NAN],
                                    [1, 0.3, 0.2, NAN], [1, 0.9, 0.2, 0.1]])
    verdicts = paper_observations([first, second])
    assert [v.holds for v in verdicts] == [False, False, False, False], verdicts
    assert "blocks 2 on: 3 of 3" in verdicts[2].evidence


def test_an_untrained_net_reads_every_source_alike():
    mx.random.seed(0)
    for m in reuse_maps(_net(blocks=(4, 4))):
        layers = m.normalized()[:, :-1]
        assert np.nanmin(layers) > 0.6, m


def test_a_block_on_1x1_maps_is_read_at_the_centre_tap_only():
    net = _net()                                     # CIFAR stem: blocks at 2 px and 1 px
    assert net.spatial_sizes(2) == [2, 1]
    for layer in net.features[3].net:                # block 2
        w = np.full(layer[2].weight.shape, 100.0, dtype="float32")
        w[:, :, 1, 1] = 1.0                          # the only tap that meets data
        layer[2].weight.set_data(mx.nd.array(w))
    centre = reuse_maps(net, input_size=2)[1].weights[:, :-1]
    np.testing.assert_allclose(centre[~np.isnan(centre)], 1.0)
    whole = reuse_maps(net)[1].weights[:, :-1]
    np.testing.assert_allclose(whole[~np.isnan(whole)], (8 * 100.0 + 1.0) / 9)
    # block 1 works on 2×2 maps, where every tap meets data: read whole either way
    np.testing.assert_allclose(reuse_maps(net, input_size=2)[0].weights,
                               reuse_maps(net)[0].weights)


def test_each_observation_reports_the_statistic_it_reads():
    first = _map(1, "transition 1", [[1, NAN, NAN, NAN], [1, 0.8, NAN, NAN],
                                     [0.9, 1, 0.7, NAN], [0.9, 0.8, 1, 0.6]])
    second = _map(2, "classifier", [[1, NAN, NAN, NAN], [0.2, 1, NAN, NAN],
                                    [0.3, 0.9, 1, NAN], [0.2, 0.5, 0.7, 1]])
    values = [v.value for v in paper_observations([first, second])]
    # 1: shares 100 % and 60 %; 2: the transition's least-read 0.6; 3: 0.25 − mean(0.95, 1)
    # 4: late mean(0.7, 1) − early mean(0.2, 0.5)
    np.testing.assert_allclose(values, [0.6, 0.6, 0.25 - 0.975, 0.85 - 0.35])
