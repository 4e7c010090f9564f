"""The memory-efficient training step equals the standard one (outputs, every gradient,
BatchNorm running statistics), on small nets, CPU, from an ordinary Gluon loop."""
import warnings

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn

from gluon_densenet import DenseBlock, DenseNet, densenet121
from gluon_densenet.models.memory_efficient import is_memory_efficient
from gluon_densenet.training.step import compute_gradients

LOSS = gluon.loss.SoftmaxCrossEntropyLoss()


def _pair(make):
    """Two nets from ``make(memory_efficient)`` with identical parameters."""
    mx.random.seed(0)
    std, eff = make(False), make(True)
    std.initialize(mx.init.Xavier())
    eff.initialize(mx.init.Xavier())
    ps, pe = std.collect_params(), eff.collect_params()
    assert sorted(ps) == sorted(pe)
    for name in ps:
        pe[name].set_data(ps[name].data())
    return std, eff


def _standard_step(net, X, y):
    with autograd.record():
        loss = LOSS(net(X), y)
    loss.backward()
    return loss


def _assert_same(std, eff, rtol=1e-4, atol=1e-6):
    ps, pe = std.collect_params(), eff.collect_params()
    for name in ps:
        a, b = ps[name], pe[name]
        if a.grad_req == "null":     # running statistics
            np.testing.assert_allclose(b.data().asnumpy(), a.data().asnumpy(),
                                       rtol=rtol, atol=atol, err_msg=name)
        else:
            g = a.grad().asnumpy()
            np.testing.assert_allclose(b.grad().asnumpy(), g, rtol=rtol,
                                       atol=atol * max(1.0, np.abs(g).max()), err_msg=name)


@pytest.mark.parametrize("growth_rate", [8, 12, 16])
@pytest.mark.parametrize("hybridize", [False, True])
def test_gradients_equal_standard(growth_rate, hybridize):
    std, eff = _pair(lambda me: DenseNet((2, 3), growth_rate=growth_rate,
                                         init_features=2 * growth_rate, stem="cifar",
                                         classes=10, in_channels=3, memory_efficient=me,
                                         prefix="net_"))
    if hybridize:
        std.hybridize()
        eff.hybridize()
    X = nd.random.uniform(shape=(4, 3, 8, 8))
    y = nd.array([0, 3, 5, 9])
    for _ in range(2):               # the second step sees updated running statistics
        loss_std = _standard_step(std, X, y)
        loss_eff = compute_gradients(eff, X, y, LOSS)
    np.testing.assert_allclose(loss_eff.asnumpy(), loss_std.asnumpy(), rtol=1e-5, atol=1e-6)
    _assert_same(std, eff)
    np.testing.assert_allclose(eff(X).asnumpy(), std(X).asnumpy(), rtol=1e-5, atol=1e-6)


def test_plain_conv_layers_and_dropout_free_path():
    std, eff = _pair(lambda me: DenseNet((2, 2), growth_rate=12, init_features=24,
                                         bn_size=None, stem="cifar", classes=10,
                                         memory_efficient=me, prefix="net_"))
    X = nd.random.uniform(shape=(3, 3, 8, 8))
    y = nd.array([1, 2, 3])
    _standard_step(std, X, y)
    compute_gradients(eff, X, y, LOSS)
    _assert_same(std, eff)


def test_running_statistics_updated_once():
    std, eff = _pair(lambda me: DenseNet((2,), growth_rate=8, init_features=16, stem="cifar",
                                         classes=10, memory_efficient=me, prefix="net_"))
    X = nd.random.uniform(shape=(4, 3, 6, 6)) * 3 + 1
    y = nd.array([0, 1, 2, 3])
    before = {n: p.data().asnumpy().copy() for n, p in eff.collect_params(".*running.*").items()}
    _standard_step(std, X, y)
    compute_gradients(eff, X, y, LOSS)
    for name, p in eff.collect_params(".*running.*").items():
        after = p.data().asnumpy()
        assert not np.allclose(after, before[name]), f"{name} was not updated"
        # Updated exactly once: equal to the standard step's single update.
        np.testing.assert_allclose(after, std.collect_params()[name].data().asnumpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=name)


def test_dense_block_flag_and_detection():
    blk = DenseBlock(2, 8, bn_size=4, in_channels=16, memory_efficient=True)
    assert blk.memory_efficient
    assert not DenseBlock(2, 8, bn_size=4, in_channels=16).memory_efficient
    net = densenet121(classes=10, memory_efficient=True)
    assert net.memory_efficient and is_memory_efficient(net)
    assert not is_memory_efficient(densenet121(classes=10))


def test_densenet121_flag_at_tiny_input():
    std, eff = _pair(lambda me: densenet121(classes=10, memory_efficient=me, prefix="d_"))
    X = nd.random.uniform(shape=(2, 3, 32, 32))
    y = nd.array([1, 7])
    _standard_step(std, X, y)
    loss = compute_gradients(eff, X, y, LOSS)
    assert loss.shape == (2,)
    _assert_same(std, eff, rtol=1e-3, atol=1e-5)


def test_works_with_a_trainer():
    _, eff = _pair(lambda me: DenseNet((2,), growth_rate=8, init_features=16, stem="cifar",
                                       classes=10, memory_efficient=me, prefix="net_"))
    trainer = gluon.Trainer(eff.collect_params(), "sgd", {"learning_rate": 0.1})
    X = nd.random.uniform(shape=(8, 3, 6, 6))
    y = nd.array([0, 1, 2, 3, 4, 5, 6, 7])
    losses = []
    for _ in range(5):
        losses.append(float(compute_gradients(eff, X, y, LOSS).mean().asscalar()))
        trainer.step(X.shape[0])
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("bn_size", [4, None])
def test_dropout_mask_is_drawn_once_and_not_recomputed(bn_size):
    std, eff = _pair(lambda me: DenseNet((2, 2), growth_rate=8, init_features=16, dropout=0.3,
                                         bn_size=bn_size, stem="cifar", classes=10,
                                         memory_efficient=me, prefix="net_"))
    X = nd.random.uniform(shape=(4, 3, 8, 8))
    y = nd.array([0, 1, 2, 3])
    mx.random.seed(7)
    loss_std = _standard_step(std, X, y)
    mx.random.seed(7)
    loss_eff = compute_gradients(eff, X, y, LOSS)
    np.testing.assert_allclose(loss_eff.asnumpy(), loss_std.asnumpy(), rtol=1e-5, atol=1e-6)
    _assert_same(std, eff)


def test_trimming_off_gives_the_same_gradients(monkeypatch):
    import gluon_densenet.models.memory_efficient as me
    results = []
    for every in (0, 1):
        monkeypatch.setattr(me, "TRIM_PER_BLOCK", bool(every))
        std, eff = _pair(lambda m: DenseNet((3,), growth_rate=12, init_features=24,
                                            stem="cifar", classes=10, memory_efficient=m,
                                            prefix="net_"))
        X = nd.random.uniform(shape=(2, 3, 8, 8))
        y = nd.array([4, 5])
        _standard_step(std, X, y)
        compute_gradients(eff, X, y, LOSS)
        _assert_same(std, eff)
        results.append(eff.features[0].weight.grad().asnumpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-7)


def test_train_uses_the_memory_efficient_step_with_equal_results():
    from gluon_densenet.training import train
    std, eff = _pair(lambda me: DenseNet((2, 2), growth_rate=12, init_features=24, stem="cifar",
                                         classes=10, in_channels=1, memory_efficient=me,
                                         prefix="net_"))
    rng = np.random.RandomState(0)
    data = [(nd.array(rng.rand(8, 1, 8, 8)), nd.array(rng.randint(0, 10, 8))) for _ in range(3)]
    h_std = train(std, data, data, epochs=1, lr=0.05, progress=False)
    h_eff = train(eff, data, data, epochs=1, lr=0.05, progress=False)
    assert abs(h_std.last.train_loss - h_eff.last.train_loss) < 1e-4
    assert h_std.last.test_acc == h_eff.last.test_acc
    ps, pe = std.collect_params(), eff.collect_params()
    for name in ps:
        np.testing.assert_allclose(pe[name].data().asnumpy(), ps[name].data().asnumpy(),
                                   rtol=1e-3, atol=1e-5, err_msg=name)


def _own_loop_step(net, X, y, trainer=None):
    """The ordinary Gluon step, written out as a user would."""
    with autograd.record():
        loss = LOSS(net(X), y)
    loss.backward()
    if trainer is not None:
        trainer.step(X.shape[0])
    return loss


@pytest.mark.parametrize("growth_rate", [8, 16])
def test_an_ordinary_loop_gives_bit_identical_gradients(growth_rate):
    std, eff = _pair(lambda me: DenseNet((2, 3), growth_rate=growth_rate,
                                         init_features=2 * growth_rate, stem="cifar",
                                         classes=10, memory_efficient=me, prefix="net_"))
    _two_steps_bit_identical(std, eff, nd.random.uniform(shape=(4, 3, 8, 8)),
                             nd.array([0, 3, 5, 9]))


def _two_steps_bit_identical(std, eff, X, y):
    """Two ordinary-loop steps of each net on ``(X, y)``; then every gradient and running
    statistic must be equal bit for bit."""
    for _ in range(2):
        _own_loop_step(std, X, y)
        _own_loop_step(eff, X, y)
    _assert_same(std, eff, rtol=0, atol=0)


def test_an_ordinary_loop_with_a_trainer_trains_the_same_weights():
    std, eff = _pair(lambda me: DenseNet((2, 2), growth_rate=8, init_features=16, stem="cifar",
                                         classes=10, memory_efficient=me, prefix="net_"))
    trainers = [gluon.Trainer(n.collect_params(), "sgd", {"learning_rate": 0.1,
                                                          "momentum": 0.9}) for n in (std, eff)]
    X = nd.random.uniform(shape=(8, 3, 6, 6))
    y = nd.array([0, 1, 2, 3, 4, 5, 6, 7])
    for _ in range(3):              # Trainer.step would refuse a stale (unwritten) gradient
        for net, trainer in zip((std, eff), trainers):
            _own_loop_step(net, X, y, trainer)
    ps, pe = std.collect_params(), eff.collect_params()
    for name in ps:
        np.testing.assert_allclose(pe[name].data().asnumpy(), ps[name].data().asnumpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=name)


def test_frozen_stem_and_raw_input_still_give_the_blocks_gradients():
    std, eff = _pair(lambda me: DenseNet((2, 2), growth_rate=8, init_features=16, stem="cifar",
                                         classes=10, memory_efficient=me, prefix="net_"))
    for net in (std, eff):
        net.features[0].weight.grad_req = "null"     # the stem conv, as when fine-tuning
    X = nd.random.uniform(shape=(4, 3, 8, 8))
    y = nd.array([0, 1, 2, 3])
    _own_loop_step(std, X, y)
    _own_loop_step(eff, X, y)
    _assert_same(std, eff, rtol=0, atol=0)


def test_a_dense_block_inside_a_users_own_net():
    def make(me):
        net = nn.HybridSequential(prefix="user_")
        with net.name_scope():
            net.add(nn.Conv2D(16, 3, padding=1, in_channels=3),
                    DenseBlock(3, 8, bn_size=2, in_channels=16, memory_efficient=me),
                    nn.BatchNorm(in_channels=40), nn.Activation("relu"),
                    nn.GlobalAvgPool2D(), nn.Dense(10, in_units=40))
        return net
    std, eff = _pair(make)
    X = nd.random.uniform(shape=(4, 3, 8, 8))
    y = nd.array([0, 1, 2, 3])
    _own_loop_step(std, X, y)
    _own_loop_step(eff, X, y)
    _assert_same(std, eff, rtol=0, atol=0)


def _small(me):
    return DenseNet((2, 2), growth_rate=8, init_features=16, stem="cifar", classes=10,
                    memory_efficient=me, prefix="net_")


def test_a_pass_never_back_propagated_is_dropped_and_two_passes_in_one_backward_refused():
    from gluon_densenet.models import memory_efficient as recompute
    std, eff = _pair(_small)
    X = nd.random.uniform(shape=(2, 3, 6, 6))
    y = nd.array([0, 1])
    for net in (std, eff):
        with autograd.record():
            net(X)                  # e.g. outputs looked at in training mode, no backward
        _own_loop_step(net, X, y)
    _assert_same(std, eff, rtol=0, atol=0)
    with autograd.record():         # two views of one batch through one net
        loss = LOSS(eff(X), y) + LOSS(eff(X * 0.5), y)
    with pytest.raises(recompute.ReplayError, match="later pass of the same block"):
        loss.backward()
    assert recompute._PENDING == []
    _own_loop_step(eff, X, y)       # and the next ordinary step works


def test_a_penalty_on_a_dense_layer_weight_keeps_its_gradient():
    std, eff = _pair(_small)
    X = nd.random.uniform(shape=(4, 3, 8, 8))
    y = nd.array([0, 1, 2, 3])
    for net in (std, eff):
        w = net.features[1].net[0][2].weight       # block 1, layer 1, the 1×1 conv
        with autograd.record():
            loss = LOSS(net(X), y).sum() + 0.5 * (w.data() ** 2).sum()
        loss.backward()
    _assert_same(std, eff, rtol=1e-6, atol=1e-7)


def test_retain_graph_is_refused_before_anything_is_computed():
    from gluon_densenet.models import memory_efficient as recompute
    _, eff = _pair(_small)
    X = nd.random.uniform(shape=(2, 3, 6, 6))
    with autograd.record():
        loss = LOSS(eff(X), nd.array([0, 1]))
    with pytest.raises(recompute.ReplayError, match="retain_graph"):
        loss.backward(retain_graph=True)
    recompute.clear_pending()


def test_several_devices_back_propagated_together():
    std, eff = _pair(_small)
    ctxs = [mx.cpu(0), mx.cpu(1)]
    for net in (std, eff):
        net.collect_params().reset_ctx(ctxs)
    X = nd.random.uniform(shape=(4, 3, 8, 8))
    y = nd.array([0, 1, 2, 3])
    for net in (std, eff):       # the d2l pattern: every device's forward, one backward
        parts = gluon.utils.split_and_load(X, ctxs), gluon.utils.split_and_load(y, ctxs)
        with autograd.record():
            losses = [LOSS(net(a), b) for a, b in zip(*parts)]
        autograd.backward(losses)
    for name, p in std.collect_params().items():
        if p.grad_req != "null":
            for ctx in ctxs:
                np.testing.assert_array_equal(eff.collect_params()[name].grad(ctx).asnumpy(),
                                              p.grad(ctx).asnumpy(), err_msg=name)


def test_an_error_in_the_replay_leaves_nothing_pending(monkeypatch):
    from gluon_densenet.models import memory_efficient as recompute
    _, eff = _pair(_small)
    X = nd.random.uniform(shape=(2, 3, 6, 6))
    with autograd.record():
        loss = LOSS(eff(X), nd.array([0, 1]))

    def boom(self):
        raise MemoryError("simulated")
    monkeypatch.setattr(recompute._Tape, "replay", boom)
    with pytest.raises(MemoryError):
        loss.backward()
    assert recompute._PENDING == []


def test_fast_hybridize_leaves_memory_efficient_nets_without_static_buffers():
    from gluon_densenet.training.hybridize import fast_hybridize
    eff = DenseNet((2,), growth_rate=8, init_features=16, stem="cifar", classes=10,
                   memory_efficient=True)
    std = DenseNet((2,), growth_rate=8, init_features=16, stem="cifar", classes=10)
    fast_hybridize(eff)
    fast_hybridize(std)
    assert not dict(eff._flags).get("static_alloc")
    assert dict(std._flags).get("static_alloc")


def test_one_tensor_feeding_two_memory_efficient_blocks_fails_loudly_or_equals_standard():
    from gluon_densenet.models import memory_efficient as recompute

    def make(me):
        net = nn.HybridSequential(prefix="two_")
        with net.name_scope():
            net.add(nn.Conv2D(16, 3, padding=1, in_channels=3),
                    DenseBlock(2, 8, bn_size=2, in_channels=16, memory_efficient=me),
                    DenseBlock(2, 8, bn_size=2, in_channels=16, memory_efficient=me))
        return net
    std, eff = _pair(make)
    X = nd.random.uniform(shape=(2, 3, 6, 6))
    for net in (std, eff):
        with autograd.record():
            f = net[0](X)
            loss = net[1](f).sum() + net[2](f).sum()
        try:
            loss.backward()
        except recompute.ReplayError:
            assert net is eff and recompute._PENDING == []
            return
    _assert_same(std, eff, rtol=0, atol=0)       # never silently different


def test_a_parameter_also_used_before_the_block_gets_the_ordinary_forward_and_a_warning():
    def make(me):
        net = nn.HybridSequential(prefix="shared_")
        with net.name_scope():
            block = DenseBlock(2, 8, bn_size=2, in_channels=16, memory_efficient=me)
            net.add(nn.Conv2D(16, 3, padding=1, in_channels=3), block)
        return net
    std, eff = _pair(make)
    X = nd.random.uniform(shape=(2, 3, 6, 6))
    for net in (std, eff):
        w = net[1].net[0][0].gamma                 # block's first BatchNorm scale
        with warnings.catch_warnings(record=True) as caught, autograd.record():
            warnings.simplefilter("always")
            h = net[0](X) * w.data().mean()        # ... also used before the block
            loss = net[1](h).sum()
        loss.backward()
        said = any("also used before the block" in str(c.message) for c in caught)
        assert said == (net is eff)
    _assert_same(std, eff, rtol=1e-6, atol=1e-7)


def test_a_backward_elsewhere_leaves_a_pending_blocks_gradients_fresh_for_its_trainer():
    from gluon_densenet.models import memory_efficient as recompute
    _, a = _pair(_small)
    b = nn.Dense(2, in_units=10)
    b.initialize()
    trainer_a = gluon.Trainer(a.collect_params(), "sgd", {"learning_rate": 0.1})
    X = nd.random.uniform(shape=(2, 3, 6, 6))
    _own_loop_step(a, X, nd.array([0, 1]))         # a's gradients, fresh
    with autograd.record():
        f = a(X)                                   # a pass of a never back-propagated
        lb = b(f.detach()).sum()
    lb.backward()                                  # reaches b only
    trainer_a.step(2)                              # would raise on a stale gradient
    recompute.clear_pending()


@pytest.mark.parametrize("kernel,pad,stride", [(3, 1, 1), (1, 0, 1), (3, 1, 2)])
def test_convolution_backward_operator_equals_autograd_bit_for_bit(kernel, pad, stride):
    from gluon_densenet.models.memory_efficient import conv_backward
    conv = nn.Conv2D(24, kernel_size=kernel, padding=pad, strides=stride, use_bias=False,
                     in_channels=40)
    conv.initialize(mx.init.Xavier())
    x = nd.random.uniform(-1, 1, shape=(3, 40, 9, 9))
    x.attach_grad()
    with autograd.record():
        y = conv(x)
    out_grad = nd.random.normal(shape=y.shape)
    y.backward(out_grad)
    x_grad, w_grad = conv_backward(conv, out_grad, x)
    np.testing.assert_array_equal(x_grad.asnumpy(), x.grad.asnumpy())
    np.testing.assert_array_equal(w_grad.asnumpy(), conv.weight.grad().asnumpy())


def test_densenet121_hybridized_as_trained_is_bit_identical():
    """The real net at a small size, the standard one hybridized as ``train`` does it."""
    from gluon_densenet.training.hybridize import fast_hybridize
    std, eff = _pair(lambda me: densenet121(classes=10, memory_efficient=me, prefix="d_"))
    fast_hybridize(std)
    fast_hybridize(eff)
    _two_steps_bit_identical(std, eff, nd.random.uniform(shape=(4, 3, 64, 64)),
                             nd.array([1, 7, 3, 2]))


def test_layers_ending_in_a_convolution_take_the_pleiss_path_and_dropout_the_general_one():
    from gluon_densenet.models import memory_efficient as recompute
    for dropout, kind in ((0.0, recompute._ConvTailTape), (0.2, recompute._BlockTape)):
        net = DenseNet((2,), growth_rate=8, init_features=16, stem="cifar", dropout=dropout,
                       memory_efficient=True)
        net.initialize()
        with autograd.record():
            out = net(nd.ones((2, 3, 6, 6)))
        assert [type(t) for t in recompute._PENDING] == [kind]
        out.backward()
        assert recompute._PENDING == []
