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

import json
import math
import os
import random
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon

from . import checkpoint as ckpt
from .memory_efficient import forward_backward, is_memory_efficient
from .performance import fast_hybridize

__all__ = [
    "EpochRecord",
    "History",
    "TrainingDivergedError",
    "evaluate",
    "lr_schedule_values",
    "make_lr_scheduler",
    "predict",
    "train",
]

Batch = tuple[mx.nd.NDArray, mx.nd.NDArray]
ContextArg = mx.Context | Sequence[mx.Context] | None
LR_SCHEDULES = ("cosine", "step", "constant")


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


# --------------------------------------------------------------------------- history
@dataclass
class EpochRecord:
    """Metrics of one training epoch."""

    epoch: int
    """1-based epoch number."""
    train_loss: float
    """Mean training loss per example."""
    train_acc: float
    test_acc: float | None
    """Accuracy on the test data, ``None`` if no test data was given."""
    img_per_s: float
    """Training throughput (examples per second; evaluation excluded)."""
    time_s: float
    """Wall time of the epoch (training + evaluation)."""
    lr: float
    """Learning rate of the epoch's last update."""
    steps: int | None = None
    """Batches trained in the epoch (fewer than planned if a time budget cut it short)."""


@dataclass
class History:
    """Per-epoch training records, JSON-serialisable."""

    records: list[EpochRecord] = field(default_factory=list)
    time_budget_s: float | None = None
    """The ``time_budget_s`` given to :func:`train` (``None``: no budget)."""
    budget_exhausted: bool = False
    """True if training stopped early because the time budget was spent."""

    def append(self, record: EpochRecord) -> None:
        self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[EpochRecord]:
        return iter(self.records)

    def __getitem__(self, i: int) -> EpochRecord:
        return self.records[i]

    def column(self, name: str) -> list[Any]:
        """All values of one field, e.g. ``history.column("test_acc")``."""
        if name not in {f.name for f in fields(EpochRecord)}:
            raise KeyError(f"unknown column {name!r}; have {[f.name for f in fields(EpochRecord)]}")
        return [getattr(r, name) for r in self.records]

    @property
    def epochs(self) -> list[int]:
        return self.column("epoch")

    @property
    def last(self) -> EpochRecord | None:
        """The most recent record (``None`` if empty)."""
        return self.records[-1] if self.records else None

    @property
    def best(self) -> EpochRecord | None:
        """Record with the highest test accuracy (train accuracy if there is no test data)."""
        if not self.records:
            return None
        if all(r.test_acc is not None for r in self.records):
            return max(self.records, key=lambda r: r.test_acc)
        return max(self.records, key=lambda r: r.train_acc)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"records": [asdict(r) for r in self.records]}
        if self.time_budget_s is not None:
            d["time_budget_s"] = self.time_budget_s
            d["budget_exhausted"] = self.budget_exhausted
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        return cls([EpochRecord(**r) for r in d.get("records", [])],
                   time_budget_s=d.get("time_budget_s"),
                   budget_exhausted=bool(d.get("budget_exhausted", False)))

    def save(self, path: str | os.PathLike) -> None:
        """Write as JSON (creating parent directories)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "History":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def summary(self) -> str:
        """One line describing the last epoch."""
        r = self.last
        if r is None:
            return "no epochs"
        test = f", test acc {r.test_acc:.3f}" if r.test_acc is not None else ""
        return (f"epoch {r.epoch}: loss {r.train_loss:.3f}, train acc {r.train_acc:.3f}{test}, "
                f"{r.img_per_s:.1f} examples/sec")


# ------------------------------------------------------------------- lr schedules
class _ConstantScheduler(mx.lr_scheduler.LRScheduler):
    """Constant learning rate (after an optional warmup)."""

    def __call__(self, num_update: int) -> float:
        if num_update < self.warmup_steps:
            return self.get_warmup_lr(num_update)
        return self.base_lr


def make_lr_scheduler(
    schedule: str,
    base_lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    warmup_begin_lr: float = 0.0,
) -> mx.lr_scheduler.LRScheduler:
    """A per-iteration MXNet learning-rate scheduler.

    - ``"cosine"``: cosine decay from ``base_lr`` to 0 over ``total_steps``.
    - ``"step"``: multiply by 0.1 after 50% and after 75% of ``total_steps``.
    - ``"constant"``: ``base_lr`` throughout.

    All may start with a linear warmup of ``warmup_steps`` updates from
    ``warmup_begin_lr``.
    """
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {schedule!r}")
    total_steps = max(int(total_steps), 1)
    warmup_steps = min(max(int(warmup_steps), 0), total_steps - 1)
    common = dict(base_lr=base_lr, warmup_steps=warmup_steps, warmup_begin_lr=warmup_begin_lr)
    if schedule == "cosine":
        return mx.lr_scheduler.CosineScheduler(max_update=total_steps, final_lr=0.0, **common)
    if schedule == "step":
        steps = sorted({int(total_steps * f) for f in (0.5, 0.75)} - {0})
        if steps:
            return mx.lr_scheduler.MultiFactorScheduler(step=steps, factor=0.1, **common)
    return _ConstantScheduler(**common)


def lr_schedule_values(
    schedule: str, base_lr: float, total_steps: int, warmup_steps: int = 0
) -> list[float]:
    """The learning rate of each of the ``total_steps`` updates (for plotting/tests).

    MXNet numbers updates from 1, so this is ``[sched(1), ..., sched(total_steps)]``.
    """
    sched = make_lr_scheduler(schedule, base_lr, total_steps, warmup_steps)
    return [float(sched(n)) for n in range(1, total_steps + 1)]


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
    numpy arrays (handy for :func:`gluon_densenet.metrics.confusion_matrix`)."""
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
            (:func:`~gluon_densenet.performance.fast_hybridize`, measured faster).
            A net with memory-efficient dense blocks is trained with
            :func:`~gluon_densenet.memory_efficient.forward_backward` instead and
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

    memory_efficient = is_memory_efficient(net)
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
            if memory_efficient:
                losses, outs = zip(*[forward_backward(net, Xi, yi, loss_fn, return_output=True)
                                     for Xi, yi in zip(Xs, ys)])
            else:
                with autograd.record():
                    outs = [net(Xi) for Xi in Xs]
                    losses = [loss_fn(o, yi) for o, yi in zip(outs, ys)]
                for l in losses:
                    l.backward()
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
