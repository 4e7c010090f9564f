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

import itertools
import math
import os
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..distributed.kvstore import (
    Collective,
    Workers,
    create_kvstore,
    is_distributed,
    leave_without_barrier,
    workers_of,
)
from . import checkpoint as ckpt
from .checks import MOMENTUM_OPTIMIZERS, check_train_args, context_list
from .history import EpochRecord, History
from .hybridize import fast_hybridize
from .run_lock import run_directory_lock
from .schedules import make_lr_scheduler
from .step import compute_gradients

__all__ = ["TrainingDivergedError", "evaluate", "predict", "train"]

Batch = tuple[mx.nd.NDArray, mx.nd.NDArray]
ContextArg = mx.Context | Sequence[mx.Context] | None
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


#: Seconds between progress-bar refreshes when stderr is not a terminal (CI logs, ``| tee``):
#: a few lines per epoch instead of one per refresh.
LOG_REFRESH_S = 30.0
#: Width of the progress bar when stderr is not a terminal (no terminal to measure).
LOG_NCOLS = 100


# ------------------------------------------------------------------------ helpers
def _prepare_params(net: gluon.Block, ctxs: list[mx.Context],
                    initializer: mx.init.Initializer) -> None:
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
            _set_everywhere(param, mean)


def _set_everywhere(param: gluon.Parameter, value: mx.nd.NDArray) -> None:
    """Copy ``value`` into every device's array of ``param`` in place (``set_data`` would
    reset the Trainer's kvstore, which a distributed one refuses)."""
    for array in param.list_data():
        value.copyto(array)


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
    correct, n = _evaluate_counts(net, data, context_list(ctx))
    if n == 0:
        raise ValueError("evaluate: data yielded no examples")
    return correct / n


def _evaluate_counts(net: gluon.Block, data: Iterable[Batch],
                     ctxs: list[mx.Context]) -> tuple[float, int]:
    """(#correct, #examples) of ``net`` on ``data``."""
    correct = mx.nd.zeros((1,), ctx=mx.cpu())
    n = 0
    for X, y in data:
        use = _devices_for(X, ctxs)
        Xs, ys = _split(X, y, use)
        for Xi, yi in zip(Xs, ys, strict=True):
            correct += _correct(net(Xi), yi).as_in_context(mx.cpu())
        n += _batch_size(X)
    return float(correct.asscalar()), n


def predict(
    net: gluon.Block, data: Iterable[Batch], ctx: ContextArg = None
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``net`` over ``data``; return ``(true_labels, predicted_labels)`` as int64
    numpy arrays (handy for :func:`gluon_densenet.training.metrics.confusion_matrix`)."""
    ctxs = context_list(ctx)
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
    says the fix. A resumed run prints ``Resumed from DIR: epoch N of M done`` (with
    ``progress``). Progress bars are live in terminals and Jupyter; when stderr is not a
    terminal (CI logs, ``| tee``) they refresh only every :data:`LOG_REFRESH_S` seconds
    at a fixed width, so a log gets a few lines per epoch.

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
            (:func:`~gluon_densenet.training.hybridize.fast_hybridize`, measured faster).
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
            :class:`_Distributed`).

    Returns:
        The history: one record per epoch, including those of a resumed checkpoint.

    Raises:
        ValueError: an argument that cannot work (a number out of range, an unknown
            optimizer or schedule, a GPU this MXNet build cannot use, a checkpoint
            directory that cannot be written, data without batches), before any work.
        CheckpointError: with ``resume``, the checkpoint in ``checkpoint_dir`` is damaged
            or belongs to another network or optimizer (a ``ValueError`` too).
        RunDirectoryInUse: another run is using ``checkpoint_dir``.
        TrainingDivergedError: the loss became NaN/inf.
    """
    ctxs = check_train_args(net, train_data, test_data, epochs, lr, optimizer, momentum, wd,
                             lr_schedule, warmup_epochs, ctx, loss, initializer, checkpoint_dir,
                             max_steps_per_epoch, on_epoch_end, seed, time_budget_s, kvstore)
    # NumPy scalars are welcome; MXNet's seed and the checkpoint's JSON want Python numbers.
    epochs, lr, wd, warmup_epochs = int(epochs), float(lr), float(wd), float(warmup_epochs)
    momentum = None if momentum is None else float(momentum)
    seed = None if seed is None else int(seed)
    max_steps_per_epoch = None if max_steps_per_epoch is None else int(max_steps_per_epoch)
    time_budget_s = None if time_budget_s is None else float(time_budget_s)
    if checkpoint_dir is not None and resume:
        ckpt.checkpoint_epoch(checkpoint_dir)   # a garbled checkpoint.json: fail before any work
    if seed is not None:
        mx.random.seed(seed)
        np.random.seed(seed)
        random.seed(seed)
    loss_fn = loss if loss is not None else gluon.loss.SoftmaxCrossEntropyLoss()
    kv = create_kvstore(kvstore) if isinstance(kvstore, str) else kvstore
    dist = _Distributed(kv)
    held = ExitStack()
    try:
        if checkpoint_dir is not None and dist.workers.is_chief:    # one run per directory
            held.enter_context(run_directory_lock(checkpoint_dir))
        train_data = dist.shard(_reiterable(train_data), even=True)
        test_data = _reiterable(test_data)
        if dist.sums:                       # in the sync modes the workers share the test set too
            test_data = dist.shard(test_data, even=False)
        steps_per_epoch = _steps_per_epoch(train_data, max_steps_per_epoch)
        if steps_per_epoch == 0:
            raise ValueError("train_data yielded no batches; pass data with at least one batch")

        _prepare_params(net, ctxs, initializer if initializer is not None else mx.init.Xavier())
        if hybridize and hasattr(net, "hybridize"):
            fast_hybridize(net)            # plain hybridize() for memory-efficient nets

        # dist_async updates on the servers once per worker's push: its schedule counts them all.
        updates_per_epoch = steps_per_epoch * (dist.workers.count if dist.is_async else 1)
        total_steps = updates_per_epoch * max(epochs, 1)
        warmup_steps = round(warmup_epochs * updates_per_epoch)
        scheduler = make_lr_scheduler(lr_schedule, lr, total_steps, warmup_steps)
        opt_params: dict[str, Any] = {"learning_rate": lr, "wd": wd, "lr_scheduler": scheduler}
        if momentum is not None and optimizer.lower() in MOMENTUM_OPTIMIZERS:
            opt_params["momentum"] = momentum
        trainer = gluon.Trainer(net.collect_params(), optimizer, opt_params,
                                **dist.trainer_kwargs(kv))

        history = History()
        start_epoch = 0
        if checkpoint_dir is not None and resume:
            dist.check_same_checkpoint(checkpoint_dir)
            info = ckpt.load_checkpoint(checkpoint_dir, net, trainer if dist.saves_states else None,
                                        ctx=ctxs)
            if info is not None:
                start_epoch = info.epoch
                if info.history is not None:
                    history = History.from_dict(info.history)
                # The loaded optimizer carries the scheduler of the interrupted run;
                # use the one for this run (matters if `epochs` changed).
                trainer.optimizer.lr_scheduler = scheduler
                if not dist.saves_states:     # the servers' optimizer starts at this update
                    trainer.optimizer.begin_num_update = start_epoch * updates_per_epoch
                    trainer.optimizer.num_update = start_epoch * updates_per_epoch
                if dist.workers.is_chief:
                    print(_resume_message(checkpoint_dir, start_epoch, epochs), flush=True)

        history.time_budget_s = time_budget_s
        deadline = None if time_budget_s is None else time.perf_counter() + time_budget_s
        for epoch in range(start_epoch + 1, epochs + 1):
            if deadline is not None and time.perf_counter() >= deadline:
                history.budget_exhausted = True
                break
            t0 = time.perf_counter()
            sums, train_time, last_lr, steps = _train_epoch(
                net, trainer, loss_fn, train_data, ctxs, epoch, epochs, steps_per_epoch,
                progress and dist.workers.is_chief, deadline, dist
            )
            if steps < steps_per_epoch:
                history.budget_exhausted = True
            _sync_aux_states(net, ctxs)
            dist.average_aux_states(net)
            loss_sum, correct, n = dist.total("train", sums)
            test_acc = None
            if test_data is not None:
                test_correct, test_n = dist.total("test", _evaluate_counts(net, test_data, ctxs))
                if test_n == 0:
                    raise ValueError("evaluate: data yielded no examples; pass test batches "
                                     "or test_data=None")
                test_acc = test_correct / test_n
            if dist.is_async:
                last_lr = float(scheduler(epoch * updates_per_epoch))   # the servers' rate
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
            if checkpoint_dir is not None and dist.workers.is_chief:
                ckpt.save_checkpoint(checkpoint_dir, epoch, net,
                                     trainer if dist.saves_states else None, history.to_dict(),
                                     extra={"epochs": epochs, "lr_schedule": lr_schedule, "lr": lr})
            if on_epoch_end is not None:
                on_epoch_end(history)
            if history.budget_exhausted:
                break
        return history
    except BaseException:
        leave_without_barrier(kv)      # else this worker would wait at exit for the others
        raise
    finally:
        held.close()


class _Distributed:
    """What :func:`train` does differently on a ``dist_*`` kvstore; nothing on any other.

    - **Data**: each worker takes its shard (:meth:`shard`), so an epoch is one pass over the
      data by all workers together.
    - **Gradients**: in ``dist_sync`` and ``dist_device_sync`` the servers sum them over
      workers (:meth:`allreduce_grads`) and every worker applies the same update itself,
      normalised by the global batch (:meth:`step_totals`): a step equals one on the workers'
      batches put together, from the same start (:meth:`broadcast_params`). ``dist_async``
      is ``gluon.Trainer``'s own: the servers update, once per worker's push.
    - **Metrics and BatchNorm**: in the sync modes the epoch's loss, accuracy and test counts
      are summed and the running statistics averaged over workers, so every worker records
      the same history and rank 0 saves statistics of all the data. ``dist_async`` cannot
      sum (see :class:`~gluon_densenet.distributed.kvstore.Collective`): each worker keeps
      its own figures and evaluates the whole test set.
    - **Files**: rank 0 alone writes checkpoints; every worker resumes from them.
    """

    def __init__(self, kv: KVStoreArg):
        self.workers: Workers = workers_of(kv)
        self.on = is_distributed(kv)
        self.is_async = self.on and "async" in kv.type
        self.sums = self.on and not self.is_async
        #: dist_async keeps the optimizer's state on the servers, where Trainer cannot save it.
        self.saves_states = not self.is_async
        self.collective = Collective(kv) if self.on else None
        self.started = not self.sums

    def broadcast_params(self, net: gluon.Block, X: mx.nd.NDArray) -> None:
        """Before the first step (once): give every worker rank 0's parameters.

        A forward pass on ``X`` without recording settles deferred shapes first.
        """
        if self.started:
            return
        self.started = True
        with mx.autograd.pause():
            net(X)
        for name, param in net.collect_params().items():
            param.set_data(self.collective.broadcast(f"init {name}", param.list_data()[0]))

    def allreduce_grads(self, net: gluon.Block, used: int) -> None:
        """Replace each gradient by its sum over the ``used`` first devices (those the batch
        was split over) and over the workers (the sync modes).

        ``gluon.Trainer``'s own path (``kvstore="dist_sync"``, ``update_on_kvstore=False``)
        was measured giving other updates from run to run on hybridized nets here, so the
        sum is made with :class:`~gluon_densenet.distributed.kvstore.Collective`'s pushes and
        pulls of copies.
        """
        if not self.sums:
            return
        for name, param in net.collect_params().items():
            if param.grad_req == "null":
                continue
            grads = param.list_grad()
            local = grads[0] if used == 1 else mx.nd.add_n(
                *[g.as_in_context(grads[0].context) for g in grads[:used]])
            total = self.collective.sum(f"grad {name}", local)
            for g in grads:
                total.copyto(g)

    def trainer_kwargs(self, kv: KVStoreArg) -> dict[str, Any]:
        """``gluon.Trainer``'s kvstore arguments: in the sync modes none, as this class sums
        the gradients itself (:meth:`allreduce_grads`)."""
        if kv is None:
            return {}
        return {"kvstore": None if self.sums else kv}

    def shard(self, data: Iterable[Batch] | None, even: bool) -> Iterable[Batch] | None:
        """This worker's part of ``data``: :meth:`ArrayLoader.shard` when it has one, else
        every ``count``-th batch, the same number of batches on every worker (which must
        then give the same batches in the same order on every worker: seed its shuffling)."""
        count = self.workers.count
        if data is None or count == 1:
            return data
        if hasattr(data, "shard"):
            return data.shard(self.workers.rank, count, even=even)
        return _BatchShard(data, self.workers.rank, count, even)

    def step_totals(self, batch_size: int, loss: float) -> tuple[int, float]:
        """The global batch (what ``Trainer.step`` normalises by) and the loss summed over
        the workers' batches of this step (the sync modes: every worker gets the same)."""
        total_bs, total_loss = self.total("step", (batch_size, loss))
        return int(total_bs), total_loss

    def total(self, name: str, values: Sequence[float]) -> tuple[float, ...]:
        """``values`` summed over the workers (in the sync modes; as they are otherwise)."""
        if not self.sums:
            return tuple(values)
        summed = self.collective.sum(name, mx.nd.array(values, dtype="float64"))
        return tuple(float(v) for v in summed.asnumpy())

    def average_aux_states(self, net: gluon.Block) -> None:
        """Average BatchNorm's running statistics over the workers (the sync modes)."""
        if not self.sums:
            return
        for name, param in net.collect_params().items():
            if param.grad_req == "null":
                mean = self.collective.sum(name, param.list_data()[0]) / self.workers.count
                _set_everywhere(param, mean)

    def check_same_checkpoint(self, directory: str | os.PathLike) -> None:
        """Check that this worker finds the checkpoint that rank 0 finds.

        Raises:
            CheckpointError: it does not (the run directory is not shared).
        """
        if not self.on:
            return
        mine = ckpt.checkpoint_epoch(directory) or 0
        chief = int(self.collective.broadcast("resume_epoch", mx.nd.array([mine])).asscalar())
        if chief != mine:
            raise ckpt.CheckpointError(
                directory, f"worker {self.workers.rank} finds epoch {mine} here but worker 0 "
                f"finds epoch {chief}; every worker must see the same run directory (one "
                "machine, or a file system shared by all)")


class _BatchShard:
    """Every ``count``-th batch of a re-iterable from ``rank`` on; with ``even``,
    ``len(data) // count`` of them on every worker."""

    def __init__(self, data: Iterable[Batch], rank: int, count: int, even: bool):
        self.data, self.rank, self.count = data, rank, count
        total = len(data)  # type: ignore[arg-type]
        self.n = total // count if even else len(range(rank, total, count))

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[Batch]:
        mine = (b for i, b in enumerate(self.data) if i % self.count == self.rank)
        return itertools.islice(mine, self.n)


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


def _isatty(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (``False`` for anything without a working ``isatty``)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _bar_options(bar_class: type) -> dict[str, Any]:
    """Options for the per-epoch tqdm progress bar.

    Args:
        bar_class: the tqdm class in use (``tqdm.auto.tqdm``).

    Returns:
        A live, terminal-wide bar in a terminal or Jupyter; otherwise (stderr is a log
        file, a pipe, CI) a fixed-width bar refreshed at most every
        :data:`LOG_REFRESH_S` seconds, so a log gets a few lines per epoch instead of a
        carriage-return update per refresh.
    """
    in_notebook = any(c.__module__.startswith("tqdm.notebook") for c in bar_class.__mro__)
    if in_notebook or _isatty(sys.stderr):
        return {"dynamic_ncols": True}
    return {"mininterval": LOG_REFRESH_S, "maxinterval": 2 * LOG_REFRESH_S, "ncols": LOG_NCOLS}


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
    dist: _Distributed | None = None,
) -> tuple[tuple[float, float, int], float, float, int]:
    """One pass over ``data``, with a progress bar (see :func:`_bar_options`).

    Args:
        net: the network trained.
        trainer: its trainer (one step per batch).
        loss_fn: the loss.
        data: the training batches.
        ctxs: the devices each batch is split over.
        epoch: this epoch's number (1-based, for the bar).
        epochs: the run's number of epochs (for the bar).
        steps: the most batches to take.
        progress: show the bar.
        deadline: a ``time.perf_counter()`` value; the epoch stops after the batch that
            passes it.
        dist: the run's distributed settings (``None``: one process).

    Returns:
        ((loss sum, #correct, #examples), train seconds, last lr, #batches).

    Raises:
        TrainingDivergedError: a batch's loss was NaN or infinite.
    """
    from tqdm.auto import tqdm

    dist = dist or _Distributed(None)
    first_bs = None
    cpu = mx.cpu()
    loss_sum = correct = 0.0
    n = 0
    last_lr = float(trainer.learning_rate)
    bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", disable=not progress,
               leave=True, unit="batch", **_bar_options(tqdm))
    start = time.perf_counter()
    done = 0
    try:
        for i, (X, y) in enumerate(data):
            if i >= steps or (deadline is not None and time.perf_counter() >= deadline):
                break
            done = i + 1
            bs = _batch_size(X)
            first_bs = first_bs or bs
            # In the sync modes every worker takes every step: a small batch uses fewer devices.
            use = _devices_for(X, ctxs) if dist.sums else ctxs
            if bs < len(use) or (dist.is_async and bs != first_bs):
                why = (f"fewer than the {len(ctxs)} devices" if bs < len(use) else
                       f"dist_async's servers normalise by the first batch's {first_bs}")
                warnings.warn(f"skipping a batch of {bs} examples: {why}", RuntimeWarning,
                              stacklevel=2)
                bar.update(1)
                continue
            Xs, ys = _split(X, y, use)
            dist.broadcast_params(net, Xs[0])
            losses, outs = zip(*[compute_gradients(net, Xi, yi, loss_fn, return_output=True)
                                 for Xi, yi in zip(Xs, ys, strict=True)], strict=True)
            # One host sync per batch: per-device [loss sum, #correct] gathered on cpu.
            stats = mx.nd.add_n(*[
                mx.nd.stack(loss.sum(), _correct(out, yi)).as_in_context(cpu)
                for loss, out, yi in zip(losses, outs, ys, strict=True)
            ])
            if dist.sums:           # the step and the divergence check, decided alike by all
                batch_loss, batch_correct = (float(v) for v in stats.asnumpy().ravel())
                step_bs, step_loss = dist.step_totals(bs, batch_loss)
                if not math.isfinite(step_loss):
                    raise TrainingDivergedError(epoch, i + 1, step_loss,
                                                float(trainer.learning_rate))
                dist.allreduce_grads(net, len(use))
                trainer.step(step_bs)
            else:
                trainer.step(bs)
                batch_loss, batch_correct = (float(v) for v in stats.asnumpy().ravel())
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
    return (loss_sum, correct, n), train_time, last_lr, done
