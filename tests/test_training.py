"""Tests for gluon_densenet.training and gluon_densenet.checkpoint.

Everything uses tiny nets and synthetic data so the suite runs in seconds on CPU.
"""
from __future__ import annotations

import io
import json
import os
import sys

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon
from mxnet.gluon import nn

from gluon_densenet.training import (
    EpochRecord,
    History,
    TrainingDivergedError,
    evaluate,
    make_lr_scheduler,
    predict,
    train,
)
from gluon_densenet.training import checkpoint as ckpt

CLASSES = 4
SIZE = 8


def lr_schedule_values(schedule, base_lr, total_steps, warmup_steps=0):
    """The learning rate of each update; MXNet numbers updates from 1."""
    sched = make_lr_scheduler(schedule, base_lr, total_steps, warmup_steps)
    return [float(sched(n)) for n in range(1, total_steps + 1)]


def saved_epoch(directory):
    """The epoch of the committed checkpoint in ``directory`` (None without one)."""
    meta = os.path.join(directory, ckpt.META_FILE)
    if not os.path.isfile(meta):
        return None
    with open(meta, encoding="utf-8") as f:
        return json.load(f)["epoch"]


# ------------------------------------------------------------------- helpers
def tiny_net(classes: int = CLASSES, batchnorm: bool = False) -> nn.HybridSequential:
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, kernel_size=3, padding=1))
    if batchnorm:
        net.add(nn.BatchNorm())
    net.add(nn.Activation("relu"), nn.MaxPool2D(2), nn.Dense(classes))
    return net


def synthetic(n: int, batch_size: int = 32, seed: int = 0, noise: float = 0.5):
    """Learnable data: each class is a fixed random binary pattern plus Gaussian noise.

    Returns a list of (X, y) NDArray batches, X (B,1,8,8) float32, y (B,) float32.
    """
    templates = (np.random.RandomState(1234).rand(CLASSES, 1, SIZE, SIZE) > 0.5).astype("float32")
    rng = np.random.RandomState(seed)
    y = rng.randint(0, CLASSES, size=n)
    X = templates[y] + noise * rng.randn(n, 1, SIZE, SIZE).astype("float32")
    return [
        (mx.nd.array(X[i:i + batch_size]), mx.nd.array(y[i:i + batch_size]))
        for i in range(0, n, batch_size)
    ]


def params_np(net: gluon.Block, ctx: mx.Context = mx.cpu(0)) -> list[np.ndarray]:
    """Parameter values in a fixed (structural) order, independent of name prefixes."""
    return [p.data(ctx).asnumpy() for p in net.collect_params().values()]


def assert_params_close(a, b, rtol=1e-5, atol=1e-6):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


QUIET = dict(progress=False, hybridize=True)


# --------------------------------------------------------- multi-device
def test_two_cpu_contexts_equal_single_context():
    """Data parallel over [cpu(0), cpu(1)] == one device, for a net WITHOUT BatchNorm.

    (With BatchNorm each device normalises its own slice of the batch with its
    own batch statistics, so per-device splits legitimately give different
    results; that is why the net here has no BatchNorm.)
    """
    batches = synthetic(3 * 7, batch_size=7, seed=3)  # odd size: uneven split 4 + 3
    X0 = batches[0][0]
    single, multi = tiny_net(), tiny_net()
    single.initialize(mx.init.Xavier(), ctx=mx.cpu(0))
    multi.initialize(ctx=mx.cpu(0))
    single(X0), multi(X0)  # finish deferred initialisation (shapes)
    for ps, pm in zip(single.collect_params().values(), multi.collect_params().values()):
        pm.set_data(ps.data().copy())
    before = params_np(single)
    assert_params_close(before, params_np(multi), rtol=0, atol=0)

    kw = dict(lr=0.5, lr_schedule="constant", momentum=0.9, wd=1e-3, **QUIET)
    # One step first ...
    h1 = train(single, batches[:1], ctx=mx.cpu(0), **kw)
    h2 = train(multi, batches[:1], ctx=[mx.cpu(0), mx.cpu(1)], **kw)
    assert not all(np.array_equal(a, b) for a, b in zip(before, params_np(single)))
    assert_params_close(params_np(single), params_np(multi, mx.cpu(0)))
    assert h1.last.train_loss == pytest.approx(h2.last.train_loss, rel=1e-5)
    assert h1.last.train_acc == h2.last.train_acc
    # ... then a few more steps with momentum.
    train(single, batches, ctx=mx.cpu(0), **kw)
    train(multi, batches, ctx=[mx.cpu(0), mx.cpu(1)], **kw)
    assert_params_close(params_np(single), params_np(multi, mx.cpu(0)), rtol=1e-4, atol=1e-5)
    # The replicas on both devices are identical after data-parallel training.
    assert_params_close(params_np(multi, mx.cpu(0)), params_np(multi, mx.cpu(1)), rtol=0, atol=0)
    # Evaluation on several devices agrees with a single device.
    assert evaluate(multi, batches, [mx.cpu(0), mx.cpu(1)]) == pytest.approx(
        evaluate(multi, batches, mx.cpu(0)))


def test_batchnorm_running_stats_agree_across_devices():
    """BN running statistics are per device during an epoch; train() averages them
    at the end of each epoch so all replicas (and checkpoints) agree."""
    net = tiny_net(batchnorm=True)
    train(net, synthetic(64, batch_size=16), ctx=[mx.cpu(0), mx.cpu(1)], **QUIET)
    bn = net[1]
    for p in (bn.running_mean, bn.running_var):
        a, b = p.data(mx.cpu(0)).asnumpy(), p.data(mx.cpu(1)).asnumpy()
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, 0.0 if p is bn.running_mean else 1.0)  # they were updated


def test_batch_smaller_than_device_count_is_skipped():
    data = synthetic(9, batch_size=8)  # last batch has 1 example, 2 devices
    net = tiny_net()
    with pytest.warns(RuntimeWarning, match="fewer than"):
        h = train(net, data, ctx=[mx.cpu(0), mx.cpu(1)], **QUIET)
    assert len(h) == 1
    assert 0.0 <= evaluate(net, data, [mx.cpu(0), mx.cpu(1)]) <= 1.0


# ------------------------------------------------------------- learning
def test_learns_synthetic_patterns():
    train_data, test_data = synthetic(512, seed=0), synthetic(256, seed=1)
    net = tiny_net()
    h = train(net, train_data, test_data, epochs=5, lr=0.1, seed=0, **QUIET)
    assert len(h) == 5 and h.epochs == [1, 2, 3, 4, 5]
    chance = 1 / CLASSES
    assert h.last.test_acc > 0.8 > chance + 0.5
    assert h.last.train_loss < h[0].train_loss
    assert all(r.img_per_s > 0 and r.time_s > 0 for r in h)
    # evaluate / predict agree with the history
    assert evaluate(net, test_data) == pytest.approx(h.last.test_acc)
    labels, preds = predict(net, test_data)
    assert labels.shape == preds.shape == (256,)
    assert (labels == preds).mean() == pytest.approx(h.last.test_acc)


def test_generator_data_and_progress_bar(capsys):
    """A one-shot generator works for several epochs; the tqdm path runs."""
    data = synthetic(64, batch_size=16)
    h = train(tiny_net(), (b for b in data), (b for b in data), epochs=2, progress=True,
              max_steps_per_epoch=3)
    assert len(h) == 2 and h.last.test_acc is not None
    # max_steps_per_epoch caps training examples: 3 batches x 16
    assert "epoch 2/2" in capsys.readouterr().err


def test_only_uninitialised_params_are_initialised():
    net = tiny_net()
    net.initialize(mx.init.One())  # weights 1 (biases 0: the initializer zeroes *_bias)
    net(synthetic(4)[0][0])
    before = params_np(net)
    assert any(p.size and (p == 1).all() for p in before)
    # epochs=0 initialises and places parameters but takes no step (lr must be > 0).
    train(net, synthetic(32), epochs=0, lr_schedule="constant", wd=0.0, **QUIET)
    assert_params_close(params_np(net), before, rtol=0, atol=0)


# ------------------------------------------------------------ divergence
def test_nan_input_raises_training_diverged():
    X = mx.nd.ones((8, 1, SIZE, SIZE))
    X[0, 0, 0, 0] = np.nan
    data = synthetic(32, batch_size=8) + [(X, mx.nd.zeros((8,)))]
    # A linear model: NaN reaches the loss (a ReLU would map NaN to 0 in MXNet).
    with pytest.raises(TrainingDivergedError) as exc:
        train(nn.Dense(CLASSES), data, epochs=2, **QUIET)
    err = exc.value
    assert isinstance(err, FloatingPointError)
    assert (err.epoch, err.batch) == (1, 5)
    msg = str(err)
    assert "epoch 1" in msg and "batch 5" in msg and "lower learning rate" in msg


def test_huge_learning_rate_diverges():
    with pytest.raises(TrainingDivergedError, match="learning rate"):
        train(tiny_net(), synthetic(256), epochs=3, lr=1e10, lr_schedule="constant", seed=0,
              **QUIET)


# ------------------------------------------------------------ lr schedules
def test_lr_schedules_shapes():
    n, base = 100, 0.1
    cos = lr_schedule_values("cosine", base, n)
    assert len(cos) == n
    assert cos[0] == pytest.approx(base, rel=1e-3)
    assert all(a >= b for a, b in zip(cos, cos[1:]))
    assert cos[n // 2 - 1] == pytest.approx(base / 2, rel=1e-6)
    assert cos[-1] == pytest.approx(0.0, abs=1e-9)

    step = lr_schedule_values("step", base, n)
    assert step[:50] == pytest.approx([base] * 50)
    assert step[50:75] == pytest.approx([base * 0.1] * 25)
    assert step[75:] == pytest.approx([base * 0.01] * 25)

    assert lr_schedule_values("constant", base, n) == pytest.approx([base] * n)

    warm = lr_schedule_values("cosine", base, n, warmup_steps=10)
    assert all(a < b for a, b in zip(warm[:9], warm[1:10]))  # linear ramp ...
    assert warm[0] == pytest.approx(base / 10) and warm[9] == pytest.approx(base)  # ... to base
    assert all(a >= b for a, b in zip(warm[9:], warm[10:]))  # then cosine decay
    assert warm[-1] == pytest.approx(0.0, abs=1e-9)

    with pytest.raises(ValueError):
        make_lr_scheduler("linear", base, n)
    # degenerate: too few steps for two distinct drops still works
    assert len(lr_schedule_values("step", base, 1)) == 1


def test_train_applies_lr_schedule_per_iteration():
    data = synthetic(64, batch_size=16)  # 4 steps per epoch
    h = train(tiny_net(), data, epochs=4, lr=0.1, lr_schedule="cosine", **QUIET)
    lrs = h.column("lr")
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert lrs[-1] == pytest.approx(0.0, abs=1e-9)
    h = train(tiny_net(), data, epochs=4, lr=0.1, lr_schedule="step", **QUIET)
    assert h.column("lr") == pytest.approx([0.1, 0.1, 0.01, 0.001])


# ---------------------------------------------------------------- history
def test_history_roundtrip_and_accessors(tmp_path):
    h = History()
    assert h.last is None and h.best is None
    h.append(EpochRecord(1, 1.0, 0.5, 0.6, 100.0, 1.0, 0.1))
    h.append(EpochRecord(2, 0.5, 0.7, 0.9, 110.0, 1.0, 0.05))
    h.append(EpochRecord(3, 0.4, 0.8, 0.8, 120.0, 1.0, 0.0))
    assert h.column("test_acc") == [0.6, 0.9, 0.8]
    assert h.best.epoch == 2 and h.last.epoch == 3
    with pytest.raises(KeyError):
        h.column("nope")
    assert History.from_dict(json.loads(json.dumps(h.to_dict()))) == h
    h.save(tmp_path / "sub" / "h.json")
    assert History.load(tmp_path / "sub" / "h.json") == h
    no_test = History([EpochRecord(1, 1.0, 0.3, None, 1.0, 1.0, 0.1),
                       EpochRecord(2, 1.0, 0.4, None, 1.0, 1.0, 0.1)])
    assert no_test.best.epoch == 2
    assert "epoch 3" in h.summary()


# ------------------------------------------------------------- checkpoints
def _run(net, epochs, ckdir=None, schedule="constant", **kw):
    return train(net, synthetic(96, batch_size=32), synthetic(32, seed=5), epochs=epochs, lr=0.1,
                 lr_schedule=schedule, seed=0, checkpoint_dir=ckdir, **QUIET, **kw)


def test_resume_continues_at_next_epoch(tmp_path):
    ckdir = tmp_path / "ck"
    first = tiny_net()
    h2 = _run(first, 2, ckdir)
    saved = params_np(first)
    assert saved_epoch(ckdir) == 2
    assert sorted(p.name for p in ckdir.iterdir()) == [
        "checkpoint.json", "epoch-0002.history.json", "epoch-0002.params", "epoch-0002.states"]

    # The checkpoint restores exactly the saved parameters.
    probe = tiny_net()
    info = ckpt.load_checkpoint(ckdir, probe)
    assert info.epoch == 2 and History.from_dict(info.history) == h2
    assert_params_close(params_np(probe), saved, rtol=0, atol=0)

    # A fresh net resumed to 3 epochs trains only epoch 3 ...
    seen: list[int] = []
    resumed = tiny_net()
    h3 = _run(resumed, 3, ckdir, on_epoch_end=lambda h: seen.append(h.last.epoch))
    assert seen == [3]
    assert len(h3) == 3 and h3.epochs == [1, 2, 3]
    assert h3.records[:2] == h2.records  # loaded from the checkpoint
    assert saved_epoch(ckdir) == 3

    # ... and ends where an uninterrupted 3-epoch run ends (momentum restored too).
    straight = tiny_net()
    _run(straight, 3)
    assert_params_close(params_np(resumed), params_np(straight))

    # A complete checkpoint: return its history without training, params loaded.
    again = tiny_net()
    seen.clear()
    h = _run(again, 3, ckdir, on_epoch_end=lambda h: seen.append(h.last.epoch))
    assert seen == [] and h == h3
    assert_params_close(params_np(again), params_np(resumed), rtol=0, atol=0)

    # resume=False starts over and replaces the checkpoint.
    h = _run(tiny_net(), 1, ckdir, resume=False)
    assert len(h) == 1 and saved_epoch(ckdir) == 1
    assert not (ckdir / "epoch-0003.params").exists()


def test_interrupted_cosine_run_resumes_to_same_result(tmp_path):
    class Crash(Exception):
        pass

    def crash_after_2(h: History) -> None:
        if h.last.epoch == 2:
            raise Crash

    ckdir = tmp_path / "ck"
    with pytest.raises(Crash):
        _run(tiny_net(), 3, ckdir, schedule="cosine", on_epoch_end=crash_after_2)
    resumed, straight = tiny_net(), tiny_net()
    h_res = _run(resumed, 3, ckdir, schedule="cosine")
    h_str = _run(straight, 3, schedule="cosine")
    assert_params_close(params_np(resumed), params_np(straight))
    assert h_res.column("lr") == pytest.approx(h_str.column("lr"))
    assert h_res.column("train_loss") == pytest.approx(h_str.column("train_loss"), rel=1e-5)


@pytest.mark.parametrize("crash_at", ["states", "meta"])
def test_crash_mid_save_keeps_previous_checkpoint(tmp_path, monkeypatch, crash_at):
    ckdir = tmp_path / "ck"
    net = tiny_net()
    _run(net, 1, ckdir)
    epoch1 = params_np(net)

    if crash_at == "states":
        def broken_save_states(self, fname):  # half-written file, then the "crash"
            with open(fname, "wb") as f:
                f.write(b"partial")
            raise OSError("simulated crash while saving trainer state")
        monkeypatch.setattr(gluon.Trainer, "save_states", broken_save_states)
    else:
        real_replace = os.replace

        def broken_replace(src, dst):
            if os.path.basename(dst) == ckpt.META_FILE:
                raise OSError("simulated crash before the checkpoint commit")
            return real_replace(src, dst)
        monkeypatch.setattr(ckpt.os, "replace", broken_replace)

    with pytest.raises(OSError, match="simulated crash"):
        _run(net, 2, ckdir)
    monkeypatch.undo()

    # The epoch-1 checkpoint is still the valid one and loads completely.
    assert saved_epoch(ckdir) == 1
    assert not any(".tmp-" in p.name for p in ckdir.iterdir())
    probe = tiny_net()
    probe.initialize()  # a Trainer needs (possibly deferred-) initialised parameters
    trainer = gluon.Trainer(probe.collect_params(), "sgd", {"learning_rate": 0.1})
    info = ckpt.load_checkpoint(ckdir, probe, trainer)
    assert info.epoch == 1 and len(info.history["records"]) == 1
    assert_params_close(params_np(probe), epoch1, rtol=0, atol=0)

    # Resuming redoes epoch 2 only and cleans up the orphaned files.
    h = _run(tiny_net(), 2, ckdir)
    assert h.epochs == [1, 2] and saved_epoch(ckdir) == 2
    assert not any(p.name.startswith("epoch-0001") for p in ckdir.iterdir())


def test_load_checkpoint_without_checkpoint_returns_none(tmp_path):
    assert saved_epoch(tmp_path / "missing") is None
    assert ckpt.load_checkpoint(tmp_path, tiny_net()) is None


# ------------------------------------------------------------- time budget
def test_time_budget_stops_mid_epoch_and_records_it(monkeypatch):
    """A fake clock advancing 1 s per reading: the budget runs out inside epoch 1."""
    import gluon_densenet.training.loop as tr

    clock = iter(range(10_000))
    monkeypatch.setattr(tr.time, "perf_counter", lambda: float(next(clock)))
    data = synthetic(320, batch_size=32)            # 10 batches per epoch
    h = train(tiny_net(), data, synthetic(32, seed=5), epochs=5, seed=0,
              time_budget_s=6, **QUIET)
    assert len(h) == 1 and h.budget_exhausted and h.time_budget_s == 6
    assert 0 < h.last.steps < 10
    assert h.last.test_acc is not None               # the partial epoch was evaluated
    restored = History.from_dict(json.loads(json.dumps(h.to_dict())))
    assert restored == h and restored.budget_exhausted


def test_generous_time_budget_changes_nothing():
    a = train(tiny_net(), synthetic(96), synthetic(32, seed=5), epochs=2, seed=0, **QUIET)
    b = train(tiny_net(), synthetic(96), synthetic(32, seed=5), epochs=2, seed=0,
              time_budget_s=3600, **QUIET)
    assert len(b) == 2 and not b.budget_exhausted and b.time_budget_s == 3600
    assert [r.steps for r in b] == [3, 3]
    assert a.column("train_loss") == pytest.approx(b.column("train_loss"))
    assert "time_budget_s" not in a.to_dict()


def test_time_budget_must_be_positive():
    with pytest.raises(ValueError, match="time_budget_s"):
        train(tiny_net(), synthetic(32), epochs=1, time_budget_s=0, **QUIET)


# -------------------------------------------------------------- bad arguments
def _uninitialised(net) -> bool:
    """True while no parameter of ``net`` has been initialised."""
    for p in net.collect_params().values():
        try:
            p.list_ctx()
        except RuntimeError:
            continue
        return False
    return True


BAD_TRAIN_ARGS = [
    (dict(epochs=-1), "epochs must be an integer >= 0, got -1"),
    (dict(epochs=True), "epochs must be an integer >= 0, got True"),
    (dict(epochs=1.5), "epochs must be an integer >= 0, got 1.5"),
    (dict(lr=0), "lr must be a finite number > 0, got 0"),
    (dict(lr=-0.1), "lr must be a finite number > 0"),
    (dict(lr=float("nan")), "lr must be a finite number > 0, got nan"),
    (dict(lr=float("inf")), "lr must be a finite number > 0, got inf"),
    (dict(lr="0.1"), "lr must be a finite number > 0, got '0.1'"),
    (dict(wd=-1e-4), "wd must be a finite number >= 0"),
    (dict(wd=float("nan")), "wd must be a finite number >= 0"),
    (dict(momentum=1.0), r"momentum must be None or a number in \[0, 1\), got 1.0"),
    (dict(momentum=-0.5), r"momentum must be None or a number in \[0, 1\)"),
    (dict(warmup_epochs=-1), "warmup_epochs must be a finite number >= 0"),
    (dict(lr_schedule="linear"), "lr_schedule must be one of 'cosine', 'step', 'constant'"),
    (dict(optimizer="sgdd"), "unknown optimizer 'sgdd'; did you mean 'sgd'"),
    (dict(optimizer=None), "unknown optimizer None"),
    (dict(max_steps_per_epoch=0), "max_steps_per_epoch must be None or an integer >= 1"),
    (dict(max_steps_per_epoch=True), "max_steps_per_epoch must be None or an integer >= 1"),
    (dict(time_budget_s=float("nan")), "time_budget_s must be None or a finite number"),
    (dict(time_budget_s=-5), "time_budget_s must be None or a finite number"),
    (dict(seed=-1), r"seed must be None or an integer in \[0, 2\*\*32 - 1\]"),
    (dict(seed=2**32), r"seed must be None or an integer in \[0, 2\*\*32 - 1\]"),
    (dict(ctx=[]), r"ctx must not be an empty list; pass ctx=mx.cpu\(\)"),
    (dict(ctx="cpu"), "ctx must be an mx.Context or a list of them, got 'cpu'"),
    (dict(ctx=[mx.cpu(0), mx.cpu(0)]), r"cpu\(0\) is listed twice"),
    (dict(ctx=mx.gpu(0)), r"gpu\(0\) is not available: this MXNet build has 0 GPU\(s\) \(a "
                          r"CPU-only build\); use ctx=mx.cpu\(\) \(--devices cpu on the command "
                          r"line\)"),
    (dict(on_epoch_end=5), "on_epoch_end must be a function"),
    (dict(initializer="xavier"), "initializer must be an mx.init.Initializer"),
    (dict(loss=3), "loss must be a Gluon loss"),
]


@pytest.mark.parametrize("kwargs, message", BAD_TRAIN_ARGS,
                         ids=[repr(k) for k, _ in BAD_TRAIN_ARGS])
def test_bad_arguments_are_refused_before_anything_is_touched(kwargs, message, monkeypatch,
                                                              tmp_path):
    monkeypatch.setattr("gluon_densenet.runtime.devices.num_gpus", lambda: 0)   # a CPU-only build
    net = tiny_net()
    ckdir = tmp_path / "ck"
    args = dict(epochs=1, checkpoint_dir=ckdir, **QUIET)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message) as exc:
        train(net, synthetic(32), **args)
    assert "\n" not in str(exc.value)
    assert _uninitialised(net) and not ckdir.exists()


def test_gpu_beyond_the_available_ones(monkeypatch):
    monkeypatch.setattr("gluon_densenet.runtime.devices.num_gpus", lambda: 1)
    with pytest.raises(ValueError, match=r"gpu\(1\) is not available: this MXNet build has 1 GPU"):
        train(tiny_net(), synthetic(32), ctx=[mx.gpu(0), mx.gpu(1)], **QUIET)


def test_bad_data_and_net_are_refused():
    with pytest.raises(ValueError, match="train_data must be an iterable of"):
        train(tiny_net(), None, **QUIET)
    with pytest.raises(ValueError, match="net must be a Gluon Block"):
        train("densenet", synthetic(32), **QUIET)
    with pytest.raises(ValueError, match="train_data yielded no batches"):
        train(tiny_net(), [], **QUIET)


def test_unwritable_checkpoint_dir_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    net = tiny_net()
    with pytest.raises(ValueError, match=f"checkpoint_dir {blocker / 'ck'} cannot be written: "
                                         f"{blocker} is a file"):
        train(net, synthetic(32), checkpoint_dir=blocker / "ck", **QUIET)
    assert _uninitialised(net)


def test_numpy_numbers_are_accepted(tmp_path):
    h = train(tiny_net(), synthetic(32), epochs=np.int64(1), lr=np.float32(0.1),
              momentum=np.float64(0.9), max_steps_per_epoch=np.int32(1), seed=np.uint32(3),
              checkpoint_dir=tmp_path / "ck", **QUIET)
    assert len(h) == 1 and h.last.steps == 1 and saved_epoch(tmp_path / "ck") == 1


# ----------------------------------------------------------- damaged checkpoints
def _damage(ckdir, what):
    if what == "truncated params":
        p = ckdir / "epoch-0001.params"
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    elif what == "garbage params":
        (ckdir / "epoch-0001.params").write_bytes(b"\x00not parameters at all")
    elif what == "missing params":
        (ckdir / "epoch-0001.params").unlink()
    elif what == "garbled checkpoint.json":
        (ckdir / ckpt.META_FILE).write_text('{"format": 1, "epoch": ')
    elif what == "checkpoint.json without epoch":
        (ckdir / ckpt.META_FILE).write_text('{"format": 1, "files": {"params": "x"}}')
    elif what == "truncated states":
        p = ckdir / "epoch-0001.states"
        p.write_bytes(p.read_bytes()[:10])
    elif what == "missing states":
        (ckdir / "epoch-0001.states").unlink()
    elif what == "garbled history":
        (ckdir / "epoch-0001.history.json").write_text('{"records": [{"epoch": 1}]}')


DAMAGE = {
    "truncated params": "epoch-0001.params is damaged: truncated or not an MXNet parameter file",
    "garbage params": "epoch-0001.params is damaged",
    "missing params": "epoch-0001.params is missing",
    "garbled checkpoint.json": "checkpoint.json cannot be read",
    "checkpoint.json without epoch": "checkpoint.json has no valid epoch",
    "truncated states": "epoch-0001.states is damaged",
    "missing states": "epoch-0001.states is missing",
    "garbled history": "epoch-0001.history.json is damaged",
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_checkpoint_raises_checkpoint_error_and_changes_nothing(tmp_path, damage):
    ckdir = tmp_path / "ck"
    _run(tiny_net(), 1, ckdir)
    _damage(ckdir, damage)

    probe = tiny_net()
    probe.initialize()
    probe(synthetic(4)[0][0])
    trainer = gluon.Trainer(probe.collect_params(), "sgd", {"learning_rate": 0.1,
                                                           "momentum": 0.9})
    before = params_np(probe)
    with pytest.raises(ckpt.CheckpointError) as exc:
        ckpt.load_checkpoint(ckdir, probe, trainer)
    msg = str(exc.value)
    assert DAMAGE[damage] in msg and "\n" not in msg
    assert msg.startswith(f"cannot resume from the checkpoint in {ckdir}: ")
    assert msg.endswith(f"delete {ckdir} or start over with resume=False "
                        "(--no-resume on the command line)")
    assert isinstance(exc.value, ValueError) and exc.value.directory == ckdir
    assert_params_close(params_np(probe), before, rtol=0, atol=0)     # nothing half-loaded

    # train() says the same, and resume=False starts over over the damaged files.
    with pytest.raises(ckpt.CheckpointError, match="cannot resume"):
        _run(tiny_net(), 2, ckdir)
    h = _run(tiny_net(), 1, ckdir, resume=False)
    assert len(h) == 1 and saved_epoch(ckdir) == 1
    assert ckpt.load_checkpoint(ckdir, tiny_net()).epoch == 1


def test_garbled_checkpoint_json_fails_before_the_net_is_touched(tmp_path):
    ckdir = tmp_path / "ck"
    _run(tiny_net(), 1, ckdir)
    _damage(ckdir, "garbled checkpoint.json")
    net = tiny_net()
    with pytest.raises(ckpt.CheckpointError, match="checkpoint.json cannot be read"):
        _run(net, 2, ckdir)
    assert _uninitialised(net)


def test_checkpoint_of_another_network_or_optimizer(tmp_path):
    ckdir = tmp_path / "ck"
    _run(tiny_net(), 1, ckdir)
    other = tiny_net(classes=CLASSES + 1)
    other.initialize()
    other(synthetic(4)[0][0])
    before = params_np(other)
    with pytest.raises(ckpt.CheckpointError, match=r"epoch-0001.params holds another network: "
                                                   r"parameter '3.weight' has shape \(4, 64\) "
                                                   r"there but \(5, 64\) here"):
        ckpt.load_checkpoint(ckdir, other)
    assert_params_close(params_np(other), before, rtol=0, atol=0)
    with pytest.raises(ckpt.CheckpointError, match="holds another network: this network's "
                                                   "parameter '1.beta' is not in it"):
        ckpt.load_checkpoint(ckdir, tiny_net(batchnorm=True))
    with pytest.raises(ckpt.CheckpointError, match="epoch-0001.states was saved by optimizer "
                                                   "sgd, this run uses adam"):
        _run(tiny_net(), 2, ckdir, optimizer="adam")


# ------------------------------------------------------------------ resume line
def test_resume_prints_from_which_epoch(tmp_path, capsys):
    ckdir = tmp_path / "ck"
    _run(tiny_net(), 1, ckdir)
    assert capsys.readouterr().out == ""                  # a fresh run says nothing of resuming
    loud = dict(QUIET, progress=True)
    train(tiny_net(), synthetic(96, batch_size=32), epochs=2, checkpoint_dir=ckdir, **loud)
    assert capsys.readouterr().out == f"Resumed from {ckdir}: epoch 1 of 2 done\n"
    train(tiny_net(), synthetic(96, batch_size=32), epochs=2, checkpoint_dir=ckdir, **loud)
    assert capsys.readouterr().out == (f"Resumed from {ckdir}: epoch 2 of 2 done; the run is "
                                       "complete, nothing to train\n")
    train(tiny_net(), synthetic(96, batch_size=32), epochs=1, checkpoint_dir=ckdir, **loud)
    assert "2 epochs done, more than the 1 asked for; nothing to train" in capsys.readouterr().out
    _run(tiny_net(), 3, ckdir)                            # said without progress output too
    assert capsys.readouterr().out == f"Resumed from {ckdir}: epoch 2 of 3 done\n"


# --------------------------------------------------------------- progress in logs
class _FakeClock:
    """A clock that advances one second per reading: every bar update looks slow."""

    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [False, True])
def test_progress_in_a_log_is_a_few_lines_per_epoch(monkeypatch, capsys, terminal):
    import tqdm.std

    # tqdm reads its clock from tqdm.std.time; with one second per reading and 60 batches,
    # a terminal bar refreshes on nearly every batch.
    monkeypatch.setattr(tqdm.std, "time", _FakeClock())
    stream = _Terminal() if terminal else None
    if stream is not None:
        monkeypatch.setattr(sys, "stderr", stream)
    data = synthetic(60 * 4, batch_size=4)                # 60 batches per epoch
    train(tiny_net(), data, epochs=2, progress=True, lr_schedule="constant")
    err = stream.getvalue() if stream is not None else capsys.readouterr().err
    updates = err.count("\r")
    if terminal:
        assert updates > 2 * 50                           # the live bar is kept in terminals
    else:
        assert updates <= 2 * 6, err                      # a few refreshes per epoch in a log
        assert err.count("\n") == 2 and "epoch 2/2: 100%" in err
        assert max(len(line) for line in err.replace("\r", "\n").splitlines()) <= 100


def test_label_smoothing_loss_spreads_epsilon_and_equals_cross_entropy_at_zero():
    import numpy as np
    from mxnet import gluon, nd

    from gluon_densenet.training import LabelSmoothingLoss
    pred = nd.random.normal(shape=(5, 4))
    label = nd.array([0, 1, 2, 3, 1])
    np.testing.assert_allclose(LabelSmoothingLoss(4, 0.0)(pred, label).asnumpy(),
                               gluon.loss.SoftmaxCrossEntropyLoss()(pred, label).asnumpy(),
                               rtol=1e-6)
    logp = nd.log_softmax(pred).asnumpy()
    target = np.full((5, 4), 0.2 / 4)
    target[np.arange(5), label.asnumpy().astype(int)] += 0.8
    loss = LabelSmoothingLoss(4, 0.2)
    loss.hybridize()
    np.testing.assert_allclose(loss(pred, label).asnumpy(), -(target * logp).sum(1), rtol=1e-5)
    for bad in (dict(classes=1), dict(classes=4, epsilon=1.0)):
        with pytest.raises(ValueError):
            LabelSmoothingLoss(**bad)
