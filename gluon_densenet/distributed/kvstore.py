"""Which MXNet key-value store a run uses, and who this process is in a distributed job.

MXNet's kvstore is what sums gradients: across the devices of one machine (``local``,
``device``) or, as a parameter server, across machines (``dist_sync``, ``dist_device_sync``,
``dist_async``). A distributed job is a scheduler, servers and workers, each a process told
its role by ``DMLC_*`` environment variables (set by :mod:`.launcher` or MXNet's
``tools/launch.py``); :func:`create_kvstore` refuses a ``dist_*`` store outside such a job
instead of letting ps-lite wait for a scheduler that never comes.
"""
from __future__ import annotations

import ctypes
import difflib
import itertools
import os
import weakref
from dataclasses import dataclass

import mxnet as mx

__all__ = ["DIST_ENV", "KVSTORE_TYPES", "Collective", "Workers", "check_kvstore",
           "create_kvstore", "is_distributed", "leave_without_barrier", "workers_of"]

#: The stores :func:`create_kvstore` accepts: two for one machine, three for several.
KVSTORE_TYPES: tuple[str, ...] = ("local", "device", "dist_sync", "dist_device_sync",
                                  "dist_async")
#: What a worker of a distributed job must find in its environment.
DIST_ENV: tuple[str, ...] = ("DMLC_ROLE", "DMLC_PS_ROOT_URI", "DMLC_PS_ROOT_PORT",
                             "DMLC_NUM_SERVER", "DMLC_NUM_WORKER")
#: Keys of :class:`Collective` start here, far above the Trainer's keys (0, 1, ... per parameter).
COLLECTIVE_KEY_BASE = 1 << 24


def is_distributed(kvstore: str | mx.kv.KVStore | None) -> bool:
    """Whether ``kvstore`` (a name or a store) is one of the ``dist_*`` parameter servers."""
    kind = kvstore if isinstance(kvstore, str) or kvstore is None else kvstore.type
    return kind is not None and kind.startswith("dist")


def check_kvstore(name: object) -> str:
    """``name`` if it is one of :data:`KVSTORE_TYPES`.

    Raises:
        ValueError: any other value, naming the closest type and all of them.
    """
    if isinstance(name, str) and name in KVSTORE_TYPES:
        return name
    close = difflib.get_close_matches(str(name), KVSTORE_TYPES, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ValueError(f"unknown kvstore {name!r}; {hint}pass one of: {', '.join(KVSTORE_TYPES)}")


def create_kvstore(name: str) -> str | mx.kv.KVStore:
    """The kvstore ``name`` as :func:`~gluon_densenet.training.train` wants it.

    ``local`` and ``device`` come back as names: ``gluon.Trainer`` creates them itself, and
    only when there is more than one device. A ``dist_*`` store is created here, which joins
    the job: it returns once the scheduler has heard from every server and worker.

    Args:
        name: one of :data:`KVSTORE_TYPES`.

    Returns:
        The name, or the distributed ``mx.kv.KVStore``.

    Raises:
        ValueError: an unknown name, or a ``dist_*`` store in a process that is not a
            worker of a distributed job (a ``DMLC_*`` variable is missing or the role is not
            ``worker``), with the command that starts one.
    """
    check_kvstore(name)
    if not is_distributed(name):
        return name
    missing = [var for var in DIST_ENV if not os.environ.get(var)]
    role = os.environ.get("DMLC_ROLE", "worker")
    if missing or role != "worker":
        why = (f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set" if missing
               else f"this process has DMLC_ROLE={role}, not worker")
        raise ValueError(f"kvstore {name!r} runs in a job of a scheduler, servers and workers, "
                         f"and {why}; start it with 'gluon-densenet launch --workers 2 "
                         f"--servers 1 -- train --kvstore {name}' (or MXNet's tools/launch.py)")
    return mx.kv.create(name)


def leave_without_barrier(kvstore: str | mx.kv.KVStore | None) -> None:
    """Let this worker exit as soon as it fails.

    A ``dist_*`` store waits at exit until every worker gets there (a barrier), so a worker
    leaving on an error would hang instead of ending and telling the launcher. MXNet's C API
    turns that wait off (its Python class has no method for it). Nothing for other stores.
    """
    if is_distributed(kvstore) and not isinstance(kvstore, str):
        mx.base.check_call(mx.base._LIB.MXKVStoreSetBarrierBeforeExit(kvstore.handle,
                                                                       ctypes.c_int(0)))


@dataclass(frozen=True)
class Workers:
    """This process's place in the job: ``rank`` in ``[0, count)``; ``(0, 1)`` alone."""

    rank: int = 0
    count: int = 1

    @property
    def is_chief(self) -> bool:
        """Rank 0: the one worker that writes checkpoints and results."""
        return self.rank == 0


def workers_of(kvstore: str | mx.kv.KVStore | None) -> Workers:
    """The :class:`Workers` of a distributed store; ``Workers()`` for anything else."""
    if is_distributed(kvstore) and not isinstance(kvstore, str):
        return Workers(int(kvstore.rank), int(kvstore.num_workers))
    return Workers()


_NEXT_KEY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Collective:
    """Sums and broadcasts of small arrays across the workers of a ``dist_*`` store.

    Each named quantity gets its own key from :data:`COLLECTIVE_KEY_BASE` up, initialised
    on first use (a barrier: every worker must make the same calls in the same order).
    A sum is a push and a pull: servers without an optimizer (``dist_sync`` as
    :func:`~gluon_densenet.training.train` uses it) keep the sum of what the workers pushed.
    ``dist_async`` has the optimizer on the servers, which would treat the pushed values as
    gradients, so it offers :meth:`broadcast` only.
    """

    def __init__(self, kvstore: mx.kv.KVStore):
        self.kv = kvstore
        self.keys: dict[str, int] = {}
        # Keys count on per store, not per Collective: a second train() on the same store
        # must not initialise a key again (MXNet would wait forever).
        self._next = _NEXT_KEY.setdefault(kvstore, itertools.count(COLLECTIVE_KEY_BASE))

    def _key(self, name: str) -> tuple[int, bool]:
        new = name not in self.keys
        if new:
            self.keys[name] = next(self._next)
        return self.keys[name], new

    def sum(self, name: str, value: mx.nd.NDArray) -> mx.nd.NDArray:
        """The sum over workers of each worker's ``value`` (same shape on every worker).

        Raises:
            RuntimeError: on a ``dist_async`` store.
        """
        if "async" in self.kv.type:
            raise RuntimeError("dist_async updates on the servers: sums across workers "
                               "need dist_sync or dist_device_sync")
        # A copy: on the CPU the kvstore keeps the pushed array as its buffer and pulls into it.
        value = value.copyto(mx.cpu())
        key, new = self._key(name)
        if new:
            self.kv.init(key, mx.nd.zeros_like(value))
        out = mx.nd.zeros_like(value)
        self.kv.push(key, value)
        self.kv.pull(key, out=out)
        return out

    def broadcast(self, name: str, value: mx.nd.NDArray) -> mx.nd.NDArray:
        """Rank 0's ``value`` on every worker (once per name: it initialises the key)."""
        value = value.copyto(mx.cpu())
        key, new = self._key(name)
        if not new:
            raise RuntimeError(f"{name!r} was broadcast already; use a new name")
        out = mx.nd.zeros_like(value)
        self.kv.broadcast(key, value, out=out)
        return out
