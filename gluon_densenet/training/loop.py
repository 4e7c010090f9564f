"""The training loop: :func:`train` and one epoch of it.

Typical use::

    history = train(net, train_iter, test_iter, epochs=10, lr=0.1,
                    ctx=try_all_gpus(), checkpoint_dir="runs/densenet")
    history.column("test_acc"), history.best, history.last

``train_data``/``test_data`` may be any iterable of ``(X, y)`` NDArray batches
(a Gluon ``DataLoader``, the package's Fashion-MNIST loaders, a list ...). Evaluation is in
:mod:`.evaluation`, the progress bar in :mod:`.progress`, and what a distributed job changes in
:mod:`gluon_densenet.distributed.training`.
"""
from __future__ import annotations

import math
import os
import random
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..distributed import DistributedTraining, create_kvstore, leave_without_barrier
from ..models.params import initialized_contexts
from . import checkpoint as ckpt
from .checks import MOMENTUM_OPTIMIZERS, ContextArg, check_train_args
from .evaluation import Batch, batch_size, devices_for, evaluate_counts, split_batch
from .history import EpochRecord, History
from .hybridize import fast_hybridize
from .progress import epoch_bar
from .run_lock import run_directory_lock
from .schedules import make_lr_scheduler
from .step import compute_gradients

__all__ = ["TrainingDivergedError", "train"]

KVStoreArg = str | mx.kv.KVStore | None


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
def _prepare_params(net: gluon.Block, ctxs: list[mx.Context],
                    initializer: mx.init.Initializer) -> None:
    """Initialise parameters that are not yet initialised and place all on ``ctxs``."""
    for param in net.collect_params().values():
        current = initialized_contexts(param)
        if current is None:
            param.initialize(None, ctx=ctxs, default_init=initializer)
        elif current != ctxs:
            param.reset_ctx(ctxs)


def _average_aux_states(net: gluon.Block, ctxs: list[mx.Context],
                        dist: DistributedTraining) -> None:
    """Average non-trainable state (BatchNorm running mean/var) over the devices and, in the
    distributed sync modes, over the workers.

    Gradients are summed across devices by the Trainer, but each device updates its own
    running statistics from its own slice of the batch; this makes all replicas (and hence
    evaluation and saved checkpoints) agree.
    """
    if len(ctxs) < 2 and not dist.sums:
        return
    for name, param in net.collect_params().items():
        if param.grad_req != "null":
            continue
        arrays = param.list_data()
        mean = arrays[0] if len(arrays) == 1 else mx.nd.add_n(
            *[a.as_in_context(ctxs[0]) for a in arrays]) / len(arrays)
        mean = dist.mean(name, mean)
        for array in arrays:    # in place: set_data would reset the Trainer's kvstore
            mean.copyto(array)


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


def _correct(out: mx.nd.NDArray, y: mx.nd.NDArray) -> mx.nd.NDArray:
    """#correct on the device: ``mx.metric.Accuracy`` would read each slice back to the host."""
    return (out.argmax(axis=1) == y.astype(out.dtype)).sum()


def _resume_message(directory: str | os.PathLike, done: int, epochs: int) -> str:
    """The line printed when a run resumes from a checkpoint.

    Args:
        directory: the checkpoint directory.
        done: epochs the checkpoint holds.
        epochs: epochs the run asks for.

    Returns:
        E.g. ``"Resumed from runs/x/checkpoints: epoch 2 of 3 done"``, saying when
        nothing is left to train.
    """
    where = f"Resumed from {os.fspath(directory)}"
    if done < epochs:
        return f"{where}: epoch {done} of {epochs} done"
    if done == epochs:
        return f"{where}: epoch {done} of {epochs} done; the run is complete, nothing to train"
    return (f"{where}: {done} epochs done, more than the {epochs} asked for; "
            "nothing to train")


@dataclass
class _Run:
    """What the steps of one :func:`train` call share."""

    net: gluon.Block
    ctxs: list[mx.Context]
    loss_fn: gluon.loss.Loss
    dist: DistributedTraining
    train_data: Iterable[Batch]
    test_data: Iterable[Batch] | None
    epochs: int
    steps_per_epoch: int
    checkpoint_dir: str | os.PathLike | None
    progress: bool
    #: Saved with every checkpoint (``extra`` of :func:`~.checkpoint.save_checkpoint`).
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def updates_per_epoch(self) -> int:
        """Optimizer updates per epoch: ``dist_async``'s servers update once per worker's
        push, so its schedule counts them all."""
        return self.steps_per_epoch * (self.dist.workers.count if self.dist.is_async else 1)


class _Pass(NamedTuple):
    """What one pass over the training data gives."""

    loss_sum: float
    correct: float
    n: int
    seconds: float     # training time, evaluation excluded
    last_lr: float
    steps: int         # batches taken (skipped ones included)



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
    kvstore: KVStoreArg = None,
) -> History:
    """Train ``net`` for ``epochs`` epochs and return its :class:`History`.

    Each batch is split across the contexts in ``ctx`` (data parallelism);
    gradients are summed over devices and one ``Trainer.step(batch_size)`` is
    taken, so a run on several devices equals a single-device run up to
    floating-point error (for nets without BatchNorm, whose batch statistics
    are per device). A batch with fewer examples than devices is skipped.

    Every argument is checked before anything is touched (and, with ``resume``, the
    metadata of the checkpoint); a bad one raises ``ValueError`` with one sentence that
    says the fix. A resumed run prints ``Resumed from DIR: epoch N of M done``. Progress
    bars are live in terminals and Jupyter; when stderr is not a terminal (CI logs,
    ``| tee``) they refresh only every
    :data:`~gluon_densenet.training.progress.LOG_REFRESH_S` seconds at a fixed width, so a
    log gets a few lines per epoch.

    Args:
        net: the network; parameters not yet initialised are initialised here.
        train_data: an iterable of ``(X, y)`` batches (a one-shot generator is fine).
        test_data: batches evaluated after every epoch, or ``None``.
        epochs: number of passes over ``train_data`` (an integer >= 0).
        lr: the base learning rate (finite, > 0).
        optimizer: an MXNet optimizer name (``mx.optimizer.Optimizer.opt_registry``).
        momentum: in [0, 1); passed only to optimisers that take it (sgd, nag, signum,
            lbsgd); ``None`` for the optimizer's default.
        wd: weight decay (finite, >= 0).
        lr_schedule: ``"cosine"`` | ``"step"`` | ``"constant"`` (per iteration,
            see :func:`make_lr_scheduler`).
        warmup_epochs: epochs of linear warmup (>= 0, may be fractional).
        ctx: a Context or a list of distinct ones (default ``mx.cpu()``); a GPU must
            exist in this MXNet build.
        loss: default ``SoftmaxCrossEntropyLoss``.
        initializer: for parameters not yet initialised (default Xavier).
        hybridize: hybridize with static memory allocation and shapes
            (:func:`~gluon_densenet.training.hybridize.fast_hybridize`).
            A net with memory-efficient dense blocks (same step; they recompute in
            ``backward()``) is hybridized plainly.
        checkpoint_dir: save a checkpoint after every epoch (the directory must be
            writable); ``None`` for none. The directory is locked while the run uses it
            (:func:`~gluon_densenet.training.run_lock.run_directory_lock`).
        resume: continue from the checkpoint in ``checkpoint_dir`` if there is one
            (returning at once if it is complete); ``False`` starts over.
        progress: show a progress bar per epoch (a resumed run says so either way).
        max_steps_per_epoch: cap on batches per epoch (quick experiments), an integer
            >= 1 or ``None``.
        on_epoch_end: called with the history after each epoch (live plots).
        seed: seeds MXNet, NumPy and ``random`` for reproducible runs (0 to 2**32 - 1).
        time_budget_s: wall-time budget in seconds, counted from the first training
            batch (evaluation included). Once it is spent training stops, mid-epoch
            if need be: the partial epoch is still evaluated and recorded (its
            ``steps`` tell how many batches it had) and ``history.budget_exhausted``
            is set. The learning-rate schedule still spans ``epochs``, so choose
            ``epochs`` to fit the budget if the schedule should finish. Not with a
            distributed kvstore (a worker stopping alone would leave the others waiting).
        kvstore: how gradients are summed, as in ``gluon.Trainer``: ``None`` (MXNet's
            ``"device"`` when there are several devices), ``"local"``, ``"device"``, or, in a
            job started by ``gluon-densenet launch`` or MXNet's ``tools/launch.py``,
            ``"dist_sync"``, ``"dist_device_sync"`` or ``"dist_async"`` (a name, or the
            ``mx.kv.KVStore`` already created). On a ``dist_*`` store each worker trains
            on its shard of ``train_data``, ``lr`` is the rate for the global batch (the
            workers' batches together; it is not scaled), BatchNorm normalises each
            worker's batch alone, and rank 0 alone writes checkpoints (see
            :class:`~gluon_densenet.distributed.training.DistributedTraining`).

    Returns:
        The history: one record per epoch, including those of a resumed checkpoint.

    Raises:
        ValueError: an argument that cannot work (a number out of range, an unknown
            optimizer or schedule, a GPU this MXNet build cannot use, a checkpoint
            directory that cannot be written, data without batches), before any work.
        CheckpointError: with ``resume``, the checkpoint in ``checkpoint_dir`` is damaged
            or belongs to another network or optimizer, or a worker of a distributed job finds
            another checkpoint than rank 0 (a ``ValueError`` too).
        RunDirectoryInUse: another run is using ``checkpoint_dir``.
        TrainingDivergedError: the loss became NaN/inf.
    """
    ctxs = check_train_args(net, train_data, test_data, epochs, lr, optimizer, momentum, wd,
                             lr_schedule, warmup_epochs, ctx, loss, initializer, checkpoint_dir,
                             max_steps_per_epoch, on_epoch_end, seed, time_budget_s, kvstore)
    # NumPy scalars are welcome; MXNet's seed and the checkpoint's JSON want Python numbers.
    epochs, lr, wd, warmup_epochs = int(epochs), float(lr), float(wd), float(warmup_epochs)
    momentum = None if momentum is None else float(momentum)
    max_steps_per_epoch = None if max_steps_per_epoch is None else int(max_steps_per_epoch)
    time_budget_s = None if time_budget_s is None else float(time_budget_s)
    if checkpoint_dir is not None and resume:
        ckpt.checkpoint_epoch(checkpoint_dir)   # a garbled checkpoint.json: fail before any work
    _seed(None if seed is None else int(seed))
    kv = create_kvstore(kvstore) if isinstance(kvstore, str) else kvstore
    dist = DistributedTraining(kv)
    held = ExitStack()
    try:
        if checkpoint_dir is not None and dist.workers.is_chief:    # one run per directory
            held.enter_context(run_directory_lock(checkpoint_dir))
        train_data, test_data, steps = _shard_data(train_data, test_data, dist,
                                                   max_steps_per_epoch)
        _prepare_params(net, ctxs, initializer if initializer is not None else mx.init.Xavier())
        if hybridize and hasattr(net, "hybridize"):
            fast_hybridize(net)            # plain hybridize() for memory-efficient nets
        run = _Run(net, ctxs, loss if loss is not None else gluon.loss.SoftmaxCrossEntropyLoss(),
                   dist, train_data, test_data, epochs, steps, checkpoint_dir, progress,
                   meta={"epochs": epochs, "lr_schedule": lr_schedule, "lr": lr})
        trainer, scheduler = _make_trainer(run, kv, optimizer, lr, momentum, wd, lr_schedule,
                                           warmup_epochs)
        history, start_epoch = (_resume(run, trainer, scheduler)
                                if checkpoint_dir is not None and resume else (History(), 0))
        return _run_epochs(run, trainer, scheduler, history, start_epoch, time_budget_s,
                           on_epoch_end)
    except BaseException:
        leave_without_barrier(kv)      # else this worker would wait at exit for the others
        raise
    finally:
        held.close()


def _seed(seed: int | None) -> None:
    """Seed MXNet, NumPy and ``random`` (nothing for ``None``)."""
    if seed is not None:
        mx.random.seed(seed)
        np.random.seed(seed)
        random.seed(seed)


def _shard_data(train_data: Iterable[Batch], test_data: Iterable[Batch] | None,
                dist: DistributedTraining, max_steps: int | None
                ) -> tuple[Iterable[Batch], Iterable[Batch] | None, int]:
    """This worker's training and test batches, and how many training batches an epoch takes.

    Raises:
        ValueError: ``train_data`` has no batches.
    """
    train_data = dist.shard(_reiterable(train_data), even=True)
    test_data = _reiterable(test_data)
    if dist.sums:                       # in the sync modes the workers share the test set too
        test_data = dist.shard(test_data, even=False)
    n = len(train_data)  # type: ignore[arg-type]
    steps = n if max_steps is None else min(n, max_steps)
    if steps == 0:
        raise ValueError("train_data yielded no batches; pass data with at least one batch")
    return train_data, test_data, steps


def _make_trainer(run: _Run, kv: KVStoreArg, optimizer: str, lr: float,
                  momentum: float | None, wd: float, lr_schedule: str,
                  warmup_epochs: float) -> tuple[gluon.Trainer, mx.lr_scheduler.LRScheduler]:
    """The run's trainer and its per-update learning-rate schedule (over all ``epochs``)."""
    total_steps = run.updates_per_epoch * max(run.epochs, 1)
    warmup_steps = round(warmup_epochs * run.updates_per_epoch)
    scheduler = make_lr_scheduler(lr_schedule, lr, total_steps, warmup_steps)
    opt_params: dict[str, Any] = {"learning_rate": lr, "wd": wd, "lr_scheduler": scheduler}
    if momentum is not None and optimizer.lower() in MOMENTUM_OPTIMIZERS:
        opt_params["momentum"] = momentum
    trainer = gluon.Trainer(run.net.collect_params(), optimizer, opt_params,
                            **run.dist.trainer_kwargs(kv))
    return trainer, scheduler


def _check_same_checkpoint(run: _Run) -> None:
    """Check that this worker finds the checkpoint that rank 0 finds.

    Raises:
        CheckpointError: it does not (the run directory is not shared).
    """
    mine = ckpt.checkpoint_epoch(run.checkpoint_dir) or 0
    chief = int(run.dist.agree("resume_epoch", mine))
    if chief != mine:
        raise ckpt.CheckpointError(
            run.checkpoint_dir, f"worker {run.dist.workers.rank} finds epoch {mine} here but "
            f"worker 0 finds epoch {chief}; every worker must see the same run directory (one "
            "machine, or a file system shared by all)")


def _resume(run: _Run, trainer: gluon.Trainer,
            scheduler: mx.lr_scheduler.LRScheduler) -> tuple[History, int]:
    """Load the checkpoint in ``run.checkpoint_dir`` if there is one.

    Returns:
        The history so far and the number of epochs done (an empty history and 0 without one).

    Raises:
        CheckpointError: the checkpoint is damaged, of another network or optimizer, or not
            the one rank 0 finds.
    """
    dist = run.dist
    _check_same_checkpoint(run)
    info = ckpt.load_checkpoint(run.checkpoint_dir, run.net,
                                trainer if dist.saves_states else None, ctx=run.ctxs)
    if info is None:
        return History(), 0
    history = History.from_dict(info.history) if info.history is not None else History()
    # The loaded optimizer carries the scheduler of the interrupted run;
    # use the one for this run (matters if `epochs` changed).
    trainer.optimizer.lr_scheduler = scheduler
    if not dist.saves_states:     # the servers' optimizer starts at this update
        trainer.optimizer.begin_num_update = info.epoch * run.updates_per_epoch
        trainer.optimizer.num_update = info.epoch * run.updates_per_epoch
    if dist.workers.is_chief:
        print(_resume_message(run.checkpoint_dir, info.epoch, run.epochs), flush=True)
    return history, info.epoch


def _run_epochs(run: _Run, trainer: gluon.Trainer, scheduler: mx.lr_scheduler.LRScheduler,
                history: History, start_epoch: int, time_budget_s: float | None,
                on_epoch_end: Callable[[History], None] | None) -> History:
    """Train from epoch ``start_epoch + 1`` to ``run.epochs`` or until the time budget is
    spent, recording, evaluating and checkpointing every epoch; returns ``history``."""
    history.time_budget_s = time_budget_s
    deadline = None if time_budget_s is None else time.perf_counter() + time_budget_s
    for epoch in range(start_epoch + 1, run.epochs + 1):
        if deadline is not None and time.perf_counter() >= deadline:
            history.budget_exhausted = True
            break
        t0 = time.perf_counter()
        done = _train_epoch(run, trainer, epoch, deadline)
        if done.steps < run.steps_per_epoch:
            history.budget_exhausted = True
        history.append(_finish_epoch(run, scheduler, epoch, done, t0))
        if run.checkpoint_dir is not None and run.dist.workers.is_chief:
            ckpt.save_checkpoint(run.checkpoint_dir, epoch, run.net,
                                 trainer if run.dist.saves_states else None,
                                 history.to_dict(), extra=run.meta)
        if on_epoch_end is not None:
            on_epoch_end(history)
        if history.budget_exhausted:
            break
    return history


def _finish_epoch(run: _Run, scheduler: mx.lr_scheduler.LRScheduler, epoch: int,
                  done: _Pass, t0: float) -> EpochRecord:
    """After an epoch's pass: agree on BatchNorm statistics, evaluate, make the record.

    Raises:
        ValueError: ``test_data`` has no examples.
    """
    _average_aux_states(run.net, run.ctxs, run.dist)
    loss_sum, correct, n = run.dist.total("train", (done.loss_sum, done.correct, done.n))
    test_acc = None
    if run.test_data is not None:
        test_correct, test_n = run.dist.total(
            "test", evaluate_counts(run.net, run.test_data, run.ctxs))
        if test_n == 0:
            raise ValueError("evaluate: data yielded no examples; pass test batches "
                             "or test_data=None")
        test_acc = test_correct / test_n
    last_lr = done.last_lr
    if run.dist.is_async:
        last_lr = float(scheduler(epoch * run.updates_per_epoch))   # the servers' rate
    return EpochRecord(
        epoch=epoch,
        train_loss=loss_sum / max(n, 1),
        train_acc=correct / max(n, 1),
        test_acc=test_acc,
        img_per_s=n / done.seconds if done.seconds > 0 else float("nan"),
        time_s=time.perf_counter() - t0,
        lr=last_lr,
        steps=done.steps,
    )


def _train_epoch(run: _Run, trainer: gluon.Trainer, epoch: int,
                 deadline: float | None) -> _Pass:
    """One pass over ``run.train_data``, with a progress bar
    (:func:`~gluon_densenet.training.progress.epoch_bar`).

    Args:
        run: the run.
        trainer: its trainer (one step per batch).
        epoch: this epoch's number (1-based, for the bar and messages).
        deadline: a ``time.perf_counter()`` value; the epoch stops after the batch that
            passes it.

    Returns:
        The pass's sums, time, last learning rate and number of batches.

    Raises:
        TrainingDivergedError: a batch's loss was NaN or infinite.
    """
    first_bs = None
    loss_sum = correct = 0.0
    n = done = 0
    last_lr = float(trainer.learning_rate)
    bar = epoch_bar(epoch, run.epochs, run.steps_per_epoch,
                    run.progress and run.dist.workers.is_chief)
    start = time.perf_counter()
    try:
        for i, (X, y) in enumerate(run.train_data):
            if i >= run.steps_per_epoch or (deadline is not None
                                            and time.perf_counter() >= deadline):
                break
            done = i + 1
            bs = batch_size(X)
            first_bs = first_bs or bs
            stats = _train_batch(run, trainer, X, y, (epoch, done), first_bs)
            bar.update(1)
            if stats is None:
                continue
            last_lr = float(trainer.learning_rate)
            loss_sum += stats[0]
            correct += stats[1]
            n += bs
            elapsed = time.perf_counter() - start
            bar.set_postfix(loss=f"{loss_sum / n:.3f}", acc=f"{correct / n:.3f}",
                            img_s=f"{n / elapsed:.0f}" if elapsed > 0 else "-", refresh=False)
        train_time = time.perf_counter() - start
    finally:
        bar.close()
    return _Pass(loss_sum, correct, n, train_time, last_lr, done)


def _train_batch(run: _Run, trainer: gluon.Trainer, X: mx.nd.NDArray, y: mx.nd.NDArray,
                 where: tuple[int, int], first_bs: int) -> tuple[float, float] | None:
    """One step on the batch ``(X, y)``, split over the run's devices.

    Args:
        run: the run.
        trainer: its trainer.
        X: the batch's inputs.
        y: its labels.
        where: (epoch, batch), 1-based, for the divergence message.
        first_bs: the epoch's first batch size (``dist_async`` normalises by it).

    Returns:
        (loss sum, #correct) of the batch, or ``None`` if it was skipped (with a warning).

    Raises:
        TrainingDivergedError: the loss was NaN or infinite.
    """
    dist, ctxs, bs = run.dist, run.ctxs, batch_size(X)
    # In the sync modes every worker takes every step: a small batch uses fewer devices.
    use = devices_for(X, ctxs) if dist.sums else ctxs
    if bs < len(use) or (dist.is_async and bs != first_bs):
        why = (f"fewer than the {len(ctxs)} devices" if bs < len(use) else
               f"dist_async's servers normalise by the first batch's {first_bs}")
        warnings.warn(f"skipping a batch of {bs} examples: {why}", RuntimeWarning,
                      stacklevel=5)      # the caller of train()
        return None
    Xs, ys = split_batch(X, y, use)
    dist.broadcast_params(run.net, Xs[0])
    losses, outs = zip(*[compute_gradients(run.net, Xi, yi, run.loss_fn, return_output=True)
                         for Xi, yi in zip(Xs, ys, strict=True)], strict=True)
    # One host sync per batch: per-device [loss sum, #correct] gathered on cpu.
    stats = mx.nd.add_n(*[mx.nd.stack(loss.sum(), _correct(out, yi)).as_in_context(mx.cpu())
                          for loss, out, yi in zip(losses, outs, ys, strict=True)])
    if dist.sums:           # the step and the divergence check, decided alike by all
        batch_loss, batch_correct = (float(v) for v in stats.asnumpy().ravel())
        step_bs, step_loss = dist.step_totals(bs, batch_loss)
        if not math.isfinite(step_loss):
            raise TrainingDivergedError(*where, step_loss, float(trainer.learning_rate))
        dist.allreduce_grads(run.net, len(use))
        trainer.step(step_bs)
    else:
        trainer.step(bs)
        batch_loss, batch_correct = (float(v) for v in stats.asnumpy().ravel())
    if not math.isfinite(batch_loss):
        raise TrainingDivergedError(*where, batch_loss, float(trainer.learning_rate))
    return batch_loss, batch_correct
