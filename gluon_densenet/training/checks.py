"""The checks of :func:`~gluon_densenet.training.train`'s arguments, shared with the CLI.

Each raises ``ValueError`` with one sentence that names the argument and the fix, before
anything is touched. Integers may be NumPy integers but not bools (``epochs=True`` is
refused); numbers may be NumPy scalars.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import mxnet as mx
from mxnet import gluon

from ..atomic_files import unwritable_reason
from ..distributed.kvstore import check_kvstore, is_distributed
from ..runtime import devices
from ..runtime.cpu_threads import thread_warning
from ..validation import did_you_mean, is_finite_real, is_int, is_real
from .schedules import LR_SCHEDULES

__all__ = ["MOMENTUM_OPTIMIZERS", "SEED_MAX", "check_contexts", "check_number", "check_optimizer",
           "check_train_args", "context_list"]

ContextArg = mx.Context | Sequence[mx.Context] | None

SEED_MAX = 2**32 - 1           # NumPy's limit for a seed
#: The optimizers that take a ``momentum`` argument.
MOMENTUM_OPTIMIZERS = ("sgd", "nag", "signum", "lbsgd")


def check_contexts(ctxs: Sequence[mx.Context], fix: str) -> None:
    """Raise ``ValueError`` for a device listed twice, or a GPU that is missing or that this
    MXNet build cannot run on; ``fix`` ends the message (what to pass instead)."""
    dup = next((c for i, c in enumerate(ctxs) if c in ctxs[:i]), None)
    if dup is not None:
        raise ValueError(f"{dup} is listed twice; list each device once")
    problem = devices.gpu_problem([c.device_id for c in ctxs if c.device_type == "gpu"])
    if problem:
        raise ValueError(f"{problem}; {fix}")


def context_list(ctx: ContextArg) -> list[mx.Context]:
    """``ctx`` (``None`` for the CPU, a Context, or a sequence of them) as a non-empty list
    of distinct contexts that exist on this machine.

    Raises:
        ValueError: an empty list, something that is not a Context, a device listed twice,
            or a GPU that is missing or that this MXNet build cannot run on.
    """
    if ctx is None:
        return [mx.cpu()]
    ctxs = [ctx] if isinstance(ctx, (mx.Context, str)) or not hasattr(ctx, "__iter__") \
        else list(ctx)
    if not ctxs:
        raise ValueError("ctx must not be an empty list; pass ctx=mx.cpu() or a list of devices")
    for c in ctxs:
        if not isinstance(c, mx.Context):
            raise ValueError(f"ctx must be an mx.Context or a list of them, got {c!r}; "
                             "pass e.g. ctx=mx.cpu() or ctx=[mx.gpu(0), mx.gpu(1)]")
    check_contexts(ctxs, "use ctx=mx.cpu() (--devices cpu on the command line)")
    return ctxs


def check_optimizer(optimizer: Any) -> str:
    """``optimizer`` in lower case if MXNet knows it (``mx.optimizer.Optimizer.opt_registry``).

    Raises:
        ValueError: an unknown name (with the closest known one) or not a string.
    """
    known = sorted(mx.optimizer.Optimizer.opt_registry)
    if isinstance(optimizer, str) and optimizer.lower() in known:
        return optimizer.lower()
    hint = did_you_mean(optimizer.lower(), known) if isinstance(optimizer, str) else ""
    raise ValueError(f"unknown optimizer {optimizer!r}; {hint}"
                     f"pass one MXNet knows: {', '.join(known)}")


def check_number(name: str, value: Any, minimum: float, example: str,
                 strict: bool = False, optional: bool = False) -> None:
    """``value`` must be a finite real >= ``minimum`` (> with ``strict``), or ``None`` if
    ``optional``; else ``ValueError`` with ``example`` as the fix."""
    if optional and value is None:
        return
    ok = is_finite_real(value) and (value > minimum if strict else value >= minimum)
    if not ok:
        bound = f"{'>' if strict else '>='} {minimum:g}"
        what = ("None or " if optional else "") + f"a finite number {bound}"
        raise ValueError(f"{name} must be {what}, got {value!r}; pass {example}")


def _check_optimization(epochs: Any, lr: Any, optimizer: Any, momentum: Any, wd: Any,
                        lr_schedule: Any, warmup_epochs: Any) -> None:
    """The numbers and names of the optimisation (see :func:`check_train_args`)."""
    if not is_int(epochs) or epochs < 0:
        raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}; "
                         "pass the number of passes over train_data, e.g. epochs=10")
    check_number("lr", lr, 0, "a learning rate such as lr=0.1", strict=True)
    check_optimizer(optimizer)
    if momentum is not None and (not is_real(momentum) or not 0 <= momentum < 1):
        raise ValueError(f"momentum must be None or a number in [0, 1), got {momentum!r}; "
                         "pass e.g. momentum=0.9, or None for the optimizer's default")
    check_number("wd", wd, 0, "e.g. wd=1e-4, or wd=0 for no weight decay")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {', '.join(map(repr, LR_SCHEDULES))}, "
                         f"got {lr_schedule!r}; pass one of those")
    check_number("warmup_epochs", warmup_epochs, 0, "e.g. warmup_epochs=1, or 0 for no warmup")


def _check_callables(net: Any, train_data: Any, test_data: Any, loss: Any, initializer: Any,
                     on_epoch_end: Any) -> None:
    """The net, the data and the functions handed in (see :func:`check_train_args`)."""
    if not isinstance(net, gluon.Block):
        raise ValueError(f"net must be a Gluon Block, got {type(net).__name__}; "
                         "pass a network such as get_model('densenet_tiny')")
    for name, data in (("train_data", train_data), ("test_data", test_data)):
        if data is None and name == "test_data":
            continue
        if data is None or not hasattr(data, "__iter__"):
            raise ValueError(f"{name} must be an iterable of (X, y) batches, got "
                             f"{type(data).__name__}; pass e.g. a DataLoader or load_data(...)")
    optional = (  # name, value, whether it fits, what it must be, an example
        ("loss", loss, callable(loss), "a Gluon loss (or None for softmax cross-entropy),",
         "gluon.loss.SoftmaxCrossEntropyLoss()"),
        ("initializer", initializer, isinstance(initializer, mx.init.Initializer),
         "an mx.init.Initializer or None,", "mx.init.Xavier()"),
        ("on_epoch_end", on_epoch_end, callable(on_epoch_end),
         "a function of the history or None,", "live_plot()"),
    )
    for name, value, fits, what, example in optional:
        if value is not None and not fits:
            raise ValueError(f"{name} must be {what} got {value!r}; pass e.g. {example}")


def _check_run(checkpoint_dir: Any, max_steps_per_epoch: Any, seed: Any, time_budget_s: Any,
               kvstore: Any) -> None:
    """Where the run writes, how long it runs, and with whom (see :func:`check_train_args`)."""
    if max_steps_per_epoch is not None and (not is_int(max_steps_per_epoch)
                                            or max_steps_per_epoch < 1):
        raise ValueError(f"max_steps_per_epoch must be None or an integer >= 1, got "
                         f"{max_steps_per_epoch!r}; pass None to use every batch")
    if seed is not None and (not is_int(seed) or not 0 <= seed <= SEED_MAX):
        raise ValueError(f"seed must be None or an integer in [0, 2**32 - 1], got {seed!r}; "
                         "pass e.g. seed=0")
    check_number("time_budget_s", time_budget_s, 0, "e.g. time_budget_s=600, or None for no "
                  "limit", strict=True, optional=True)
    if kvstore is not None and not isinstance(kvstore, mx.kv.KVStore):
        check_kvstore(kvstore)
    if time_budget_s is not None and is_distributed(kvstore):
        # Each worker would stop at its own moment, and the others would wait for it forever.
        raise ValueError("time_budget_s cannot be used with a distributed kvstore: workers "
                         "must take the same steps; pass epochs or max_steps_per_epoch instead")
    if checkpoint_dir is not None:
        if not isinstance(checkpoint_dir, (str, os.PathLike)) or not os.fspath(checkpoint_dir):
            raise ValueError(f"checkpoint_dir must be a directory path or None, got "
                             f"{checkpoint_dir!r}; pass e.g. checkpoint_dir='runs/x/checkpoints'")
        problem = unwritable_reason(checkpoint_dir)
        if problem is not None:
            raise ValueError(f"checkpoint_dir {os.fspath(checkpoint_dir)} cannot be written: "
                             f"{problem}; pass another checkpoint_dir (or None)")


def check_train_args(net: Any, train_data: Any, test_data: Any, epochs: Any, lr: Any,
                     optimizer: Any, momentum: Any, wd: Any, lr_schedule: Any,
                     warmup_epochs: Any, ctx: Any, loss: Any, initializer: Any,
                     checkpoint_dir: Any, max_steps_per_epoch: Any, on_epoch_end: Any,
                     seed: Any, time_budget_s: Any, kvstore: Any = None) -> list[mx.Context]:
    """Check every argument of :func:`~gluon_densenet.training.train` (its docstring says
    what each may be), warn when MXNet runs on fewer threads than cores, and return ``ctx``
    as a list of contexts.

    Raises:
        ValueError: the first argument that cannot work, in one sentence saying the fix.
    """
    _check_callables(net, train_data, test_data, loss, initializer, on_epoch_end)
    _check_optimization(epochs, lr, optimizer, momentum, wd, lr_schedule, warmup_epochs)
    ctxs = context_list(ctx)
    threads_hint = thread_warning()
    if threads_hint and any(c.device_type == "cpu" for c in ctxs):
        warnings.warn(threads_hint, RuntimeWarning, stacklevel=3)
    _check_run(checkpoint_dir, max_steps_per_epoch, seed, time_budget_s, kvstore)
    return ctxs
