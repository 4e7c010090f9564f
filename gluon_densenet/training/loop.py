"""Training loop for Gluon image classifiers: multi-device data parallelism,
per-iteration learning-rate schedules, progress bars, divergence detection and
crash-safe checkpoint/resume.

Typical use::

    history = train(net, train_iter, test_iter, epochs=10, lr=0.1,
                    ctx=try_all_gpus(), checkpoint_dir="runs/densenet")
    history.column("test_acc"), history.best, history.last

``train_data``/``test_data`` may be any iterable of ``(X, y)`` NDArray batches
(a Gluon ``DataLoader``, the package's Fashion-MNIST loaders, a list ...).
"""
from __future__ import annotations

import math
import os
import random
import time
import warnings
from typing import Any, Callable, Iterable, Iterator, Sequence

import mxnet as mx
import numpy as np
from mxnet import gluon

from . import checkpoint as ckpt
from .history import EpochRecord, History
from .memory_efficient import is_memory_efficient
from .performance import fast_hybridize
from .schedules import make_lr_scheduler
from .step import compute_gradients

__all__ = ["TrainingDivergedError", "evaluate", "predict", "train"]

Batch = tuple[mx.nd.NDArray, mx.nd.NDArray]
ContextArg = mx.Context | Sequence[mx.Context] | None


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""

    def __init__(self, epoch: int, batch: int, loss: float, lr: float | None = None):
        self.epoch, self.batch, self.loss, self.lr = epoch, batch, loss, lr
        at_lr = f" (learning rate {lr:.3g})" if lr is not None else ""
        super().__init__(
            f"Training diverged: loss is {loss} at epoch {epoch}, batch {batch}{at_lr}. "
            "Try a lower learning rate (e.g. 10x smaller), a warmup, or check the "
            "input data for NaN/inf values."
        )


# ------------------------------------------------------------------------ helpers
def _ctx_list(ctx: ContextArg) -> list[mx.Context]:
    if ctx is None:
        return [mx.cpu()]
    if isinstance(ctx, mx.Context):
        return [ctx]
    ctxs = list(ctx)
    if not ctxs:
        raise ValueError("ctx must not be an empty list")
    return ctxs


def _prepare_params(net: gluon.Block, ctxs: list[mx.Context], initializer: mx.init.Initializer) -> None:
    """Initialise parameters that are not yet initialised and place all on ``ctxs``."""
    for param in net.collect_params().values():
        try:
            current = param.list_ctx()  # raises if never initialised
        except RuntimeError:
            param.initialize(None, ctx=ctxs, default_init=initializer)
            continue
        if list(current) != ctxs:
            param.reset_ctx(ctxs)


def _sync_aux_states(net: gluon.Block, ctxs: list[mx.Context]) -> None:
    """Average non-trainable state (BatchNorm running mean/var) over the devices.

    Gradients are summed across devices by the Trainer, but each device updates
    its own BatchNorm running statistics from its own slice of the batch; this
    makes all replicas (and hence evaluation and saved checkpoints) agree.
    """
    if len(ctxs) < 2:
        return
    for param in net.collect_params().values():
        if param.grad_req == "null":
            arrays = param.list_data()
            mean = mx.nd.add_n(*[a.as_in_context(ctxs[0]) for a in arrays]) / len(arrays)
            param.set_data(mean)


def _steps_per_epoch(data: Iterable[Batch], max_steps: int | None) -> int:
    n = len(data)  # type: ignore[arg-type]
    return n if max_steps is None else min(n, max_steps)


def _reiterable(data: Iterable[Batch] | None) -> Iterable[Batch] | None:
    """Iterables without ``__len__`` are counted; one-shot iterators are materialised."""
    if data is None or hasattr(data, "__len__"):
        return data
    if iter(data) is data:  # a generator/iterator can be consumed once only
        return list(data)
    return _Counted(data)


class _Counted:
    """Wraps a re-iterable without ``__len__`` (counts its batches once)."""

    def __init__(self, data: Iterable[Batch]):
        self.data = data
        self.n = sum(1 for _ in data)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[Batch]:
        return iter(self.data)


def _batch_size(X: mx.nd.NDArray) -> int:
    return int(X.shape[0])


def _split(X: mx.nd.NDArray, y: mx.nd.NDArray, ctxs: list[mx.Context]):
    Xs = gluon.utils.split_and_load(X, ctxs, even_split=False)
    ys = gluon.utils.split_and_load(y, ctxs, even_split=False)
    return Xs, ys


def _devices_for(X: mx.nd.NDArray, ctxs: list[mx.Context]) -> list[mx.Context]:
    """The devices a batch is split over: no more than it has examples."""
    return ctxs[: _batch_size(X)]


def _correct(out: mx.nd.NDArray, y: mx.nd.NDArray) -> mx.nd.NDArray:
    return (out.argmax(axis=1) == y.astype(out.dtype)).sum()


# ----------------------------------------------------------------- evaluation
def evaluate(net: gluon.Block, data: Iterable[Batch], ctx: ContextArg = None) -> float:
    """Classification accuracy of ``net`` on ``data`` (batches split over ``ctx``).

    Counts are accumulated on the host-side CPU context and read back once.
    """
    ctxs = _ctx_list(ctx)
    correct = mx.nd.zeros((1,), ctx=mx.cpu())
    n = 0
    for X, y in data:
        use = _devices_for(X, ctxs)
        Xs, ys = _split(X, y, use)
        for Xi, yi in zip(Xs, ys):
            correct += _correct(net(Xi), yi).as_in_context(mx.cpu())
        n += _batch_size(X)
    if n == 0:
        raise ValueError("evaluate: data yielded no examples")
    return float(correct.asscalar()) / n


def predict(
    net: gluon.Block, data: Iterable[Batch], ctx: ContextArg = None
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``net`` over ``data``; return ``(true_labels, predicted_labels)`` as int64
    numpy arrays (handy for :func:`gluon_densenet.training.metrics.confusion_matrix`)."""
    ctxs = _ctx_list(ctx)
    labels: list[np.ndarray] = []
    preds: list[np.ndarray] = []
    for X, y in data:
        use = _devices_for(X, ctxs)
        Xs = gluon.utils.split_and_load(X, use, even_split=False)
        outs = [net(Xi).argmax(axis=1).as_in_context(mx.cpu()) for Xi in Xs]
        preds.append(mx.nd.concat(*outs, dim=0).asnumpy())
        labels.append(y.asnumpy() if isinstance(y, mx.nd.NDArray) else np.asarray(y))
    if not preds:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return (np.concatenate(labels).astype(np.int64), np.concatenate(preds).astype(np.int64))


# -------------------------------------------------------------------- training
def train(
    net: gluon.Block,
    train_data: Iterable[Batch],
    test_data: Iterable[Batch] | None = None,
    epochs: int = 1,
    *,
    lr: float = 0.1,
    optimizer: str = "sgd",
    momentum: float | None = 0.9,
    wd: float = 1e-4,
    lr_schedule: str = "cosine",
    warmup_epochs: float = 0.0,
    ctx: ContextArg = None,
    loss: gluon.loss.Loss | None = None,
    initializer: mx.init.Initializer | None = None,
    hybridize: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = True,
    progress: bool = True,
    max_steps_per_epoch: int | None = None,
    on_epoch_end: Callable[[History], None] | None = None,
    seed: int | None = None,
    time_budget_s: float | None = None,
) -> History:
    """Train ``net`` for ``epochs`` epochs and return its :class:`History`.

    Each batch is split across the contexts in ``ctx`` (data parallelism);
    gradients are summed over devices and one ``Trainer.step(batch_size)`` is
    taken, so a run on several devices equals a single-device run up to
    floating-point error (for nets without BatchNorm, whose batch statistics
    are per device). A batch with fewer examples than devices is skipped.

    Args:
        lr, optimizer, momentum, wd: optimiser settings (``momentum`` is passed
            only to optimisers that take it, e.g. sgd/nag).
        lr_schedule: ``"cosine"`` | ``"step"`` | ``"constant"`` (per iteration,
            see :func:`make_lr_scheduler`); ``warmup_epochs`` of linear warmup.
        ctx: a Context or a list of them (default ``mx.cpu()``).
        loss: default ``SoftmaxCrossEntropyLoss``.
        hybridize: hybridize with static memory allocation and shapes
            (:func:`~gluon_densenet.training.performance.fast_hybridize`, measured faster).
            A net with memory-efficient dense blocks is trained with
            :func:`~gluon_densenet.training.memory_efficient.forward_backward` instead and
            hybridized plainly.
        initializer: for parameters not yet initialised (default Xavier).
        checkpoint_dir: save a checkpoint after every epoch; with ``resume``
            continue from the last one (returning at once if it is complete).
        max_steps_per_epoch: cap on batches per epoch (quick experiments).
        on_epoch_end: called with the history after each epoch (live plots).
        seed: seeds MXNet, NumPy and ``random`` for reproducible runs.
        time_budget_s: wall-time budget in seconds, counted from the first training
            batch (evaluation included). Once it is spent training stops, mid-epoch
            if need be: the partial epoch is still evaluated and recorded (its
            ``steps`` tell how many batches it had) and ``history.budget_exhausted``
            is set. The learning-rate schedule still spans ``epochs``, so choose
            ``epochs`` to fit the budget if the schedule should finish.

    Raises:
        TrainingDivergedError: the loss became NaN/inf.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if time_budget_s is not None and not time_budget_s > 0:
        raise ValueError(f"time_budget_s must be > 0 or None, got {time_budget_s}")
    if seed is not None:
        mx.random.seed(seed)
        np.random.seed(seed)
        random.seed(seed)
    ctxs = _ctx_list(ctx)
    loss_fn = loss if loss is not None else gluon.loss.SoftmaxCrossEntropyLoss()
    train_data = _reiterable(train_data)
    test_data = _reiterable(test_data)
    steps_per_epoch = _steps_per_epoch(train_data, max_steps_per_epoch)
    if steps_per_epoch == 0:
        raise ValueError("train_data yielded no batches")

    _prepare_params(net, ctxs, initializer if initializer is not None else mx.init.Xavier())
    if hybridize and hasattr(net, "hybridize"):
        if is_memory_efficient(net):
            net.hybridize()            # static_alloc would keep every segment's buffers alive
        else:
            fast_hybridize(net)

    total_steps = steps_per_epoch * max(epochs, 1)
    warmup_steps = round(warmup_epochs * steps_per_epoch)
    scheduler = make_lr_scheduler(lr_schedule, lr, total_steps, warmup_steps)
    opt_params: dict[str, Any] = {"learning_rate": lr, "wd": wd, "lr_scheduler": scheduler}
    if momentum is not None and optimizer.lower() in ("sgd", "nag", "signum", "lbsgd"):
        opt_params["momentum"] = momentum
    trainer = gluon.Trainer(net.collect_params(), optimizer, opt_params)

    history = History()
    start_epoch = 0
    if checkpoint_dir is not None and resume:
        info = ckpt.load_checkpoint(checkpoint_dir, net, trainer, ctx=ctxs)
        if info is not None:
            start_epoch = info.epoch
            if info.history is not None:
                history = History.from_dict(info.history)
            # The loaded optimizer carries the scheduler of the interrupted run;
            # use the one for this run (matters if `epochs` changed).
            trainer.optimizer.lr_scheduler = scheduler
            if progress:
                print(f"Resumed from {checkpoint_dir} after epoch {start_epoch}")

    history.time_budget_s = time_budget_s
    deadline = None if time_budget_s is None else time.perf_counter() + time_budget_s
    for epoch in range(start_epoch + 1, epochs + 1):
        if deadline is not None and time.perf_counter() >= deadline:
            history.budget_exhausted = True
            break
        t0 = time.perf_counter()
        loss_sum, correct, n, train_time, last_lr, steps = _train_epoch(
            net, trainer, loss_fn, train_data, ctxs, epoch, epochs, steps_per_epoch, progress,
            deadline
        )
        if steps < steps_per_epoch:
            history.budget_exhausted = True
        _sync_aux_states(net, ctxs)
        test_acc = evaluate(net, test_data, ctxs) if test_data is not None else None
        record = EpochRecord(
            epoch=epoch,
            train_loss=loss_sum / max(n, 1),
            train_acc=correct / max(n, 1),
            test_acc=test_acc,
            img_per_s=n / train_time if train_time > 0 else float("nan"),
            time_s=time.perf_counter() - t0,
            lr=last_lr,
            steps=steps,
        )
        history.append(record)
        if checkpoint_dir is not None:
            ckpt.save_checkpoint(checkpoint_dir, epoch, net, trainer, history.to_dict(),
                                 extra={"epochs": epochs, "lr_schedule": lr_schedule, "lr": lr})
        if on_epoch_end is not None:
            on_epoch_end(history)
        if history.budget_exhausted:
            break
    return history


def _train_epoch(
    net: gluon.Block,
    trainer: gluon.Trainer,
    loss_fn: gluon.loss.Loss,
    data: Iterable[Batch],
    ctxs: list[mx.Context],
    epoch: int,
    epochs: int,
    steps: int,
    progress: bool,
    deadline: float | None = None,
) -> tuple[float, float, int, float, float, int]:
    """One pass over ``data`` (stopping after the batch that passes ``deadline``, a
    ``time.perf_counter()`` value); returns (loss sum, #correct, #examples, train
    seconds, last lr, #batches)."""
    from tqdm.auto import tqdm

    cpu = mx.cpu()
    loss_sum = correct = 0.0
    n = 0
    last_lr = float(trainer.learning_rate)
    bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", disable=not progress,
               leave=True, unit="batch", dynamic_ncols=True)
    start = time.perf_counter()
    done = 0
    try:
        for i, (X, y) in enumerate(data):
            if i >= steps or (deadline is not None and time.perf_counter() >= deadline):
                break
            done = i + 1
            bs = _batch_size(X)
            if bs < len(ctxs):
                warnings.warn(f"skipping a batch of {bs} examples: fewer than the "
                              f"{len(ctxs)} devices", RuntimeWarning, stacklevel=2)
                bar.update(1)
                continue
            Xs, ys = _split(X, y, ctxs)
            losses, outs = zip(*[compute_gradients(net, Xi, yi, loss_fn, return_output=True)
                                 for Xi, yi in zip(Xs, ys)])
            trainer.step(bs)
            # One host sync per batch: per-device [loss sum, #correct] gathered on cpu.
            stats = mx.nd.add_n(*[
                mx.nd.stack(l.sum(), _correct(o, yi)).as_in_context(cpu)
                for l, o, yi in zip(losses, outs, ys)
            ]).asnumpy().ravel()
            batch_loss, batch_correct = float(stats[0]), float(stats[1])
            last_lr = float(trainer.learning_rate)
            if not math.isfinite(batch_loss):
                raise TrainingDivergedError(epoch, i + 1, batch_loss, last_lr)
            loss_sum += batch_loss
            correct += batch_correct
            n += bs
            elapsed = time.perf_counter() - start
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / n:.3f}", acc=f"{correct / n:.3f}",
                            img_s=f"{n / elapsed:.0f}" if elapsed > 0 else "-", refresh=False)
        train_time = time.perf_counter() - start
    finally:
        bar.close()
    return loss_sum, correct, n, train_time, last_lr, done
