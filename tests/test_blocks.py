import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, nd
from mxnet.gluon import nn

from gluon_densenet.models.blocks import DenseBlock, bottleneck_layer, conv_block, transition_block


def _run(block, shape, hybridize=False):
    block.initialize(mx.init.Xavier())
    if hybridize:
        block.hybridize()
    return block(mx.nd.random.uniform(shape=shape))


def test_conv_block_keeps_spatial_size():
    assert _run(conv_block(10), (4, 3, 8, 8)).shape == (4, 10, 8, 8)


def test_dense_block_adds_layers_times_growth():
    assert _run(DenseBlock(2, 10), (4, 3, 8, 8)).shape == (4, 23, 8, 8)


def test_bottleneck_dense_block_channels():
    assert _run(DenseBlock(3, 12, bn_size=4), (2, 24, 8, 8)).shape == (2, 24 + 36, 8, 8)


def test_bottleneck_layer_outputs_growth_rate():
    assert _run(bottleneck_layer(12, bn_size=4), (2, 40, 6, 6)).shape == (2, 12, 6, 6)


@pytest.mark.parametrize("pool", ["avg", "max"])
def test_transition_block_halves(pool):
    x = DenseBlock(2, 10)
    x.initialize()
    y = x(mx.nd.ones((4, 3, 8, 8)))
    assert _run(transition_block(10, pool=pool), y.shape).shape == (4, 10, 4, 4)


def test_transition_pool_choice_matters():
    avg, mx_ = transition_block(4, "avg"), transition_block(4, "max")
    for b in (avg, mx_):
        b.initialize(mx.init.Constant(0.5))
    x = mx.nd.random.uniform(shape=(1, 4, 4, 4))
    assert not np.allclose(avg(x).asnumpy(), mx_(x).asnumpy())


def test_unknown_pool_is_rejected():
    with pytest.raises(ValueError, match="avg"):
        transition_block(4, pool="min")


def test_dense_block_known_shapes_without_forward():
    blk = DenseBlock(3, 8, bn_size=4, in_channels=16)
    blk.initialize()
    shapes = [p.shape for p in blk.collect_params().values()]
    assert all(0 not in s for s in shapes)


@pytest.mark.parametrize("bn_size", [None, 4])
def test_dense_block_hybridized_equals_imperative(bn_size):
    blk = DenseBlock(3, 6, bn_size=bn_size)
    blk.initialize(mx.init.Xavier())
    x = mx.nd.random.uniform(shape=(2, 5, 6, 6))
    imperative = blk(x).asnumpy()
    blk.hybridize()
    np.testing.assert_allclose(blk(x).asnumpy(), imperative, rtol=1e-5, atol=1e-6)


def test_plain_layers_take_dropout_as_the_paper_does():
    layer = conv_block(8, in_channels=4, dropout=0.2)
    assert isinstance(layer[-1], nn.Dropout) and isinstance(layer[-2], nn.Conv2D)
    assert not any(isinstance(c, nn.Dropout) for c in conv_block(8, in_channels=4))
    blk = DenseBlock(2, 8, dropout=0.5, in_channels=4)
    blk.initialize()
    x = nd.ones((2, 4, 6, 6))
    assert (blk(x) == blk(x)).min().asscalar() == 1          # inference: no dropout
    with autograd.record():
        trained = blk(x)
    new = trained[:, 4:]
    assert (new == 0).sum().asscalar() > 0                   # training: half dropped
    np.testing.assert_array_equal(trained[:, :4].asnumpy(), x.asnumpy())
