"""What a training loop does differently on a ``dist_*`` kvstore: shard the data, start
every worker from the same parameters, sum gradients and figures over the workers.

:class:`DistributedTraining` answers for one run; on any other store (or none) each of its
methods does nothing, so a loop calls them unconditionally.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import mxnet as mx
from mxnet import gluon

from .kvstore import Collective, Workers, is_distributed, workers_of

__all__ = ["BatchShard", "DistributedTraining"]

KVStoreArg = str | mx.kv.KVStore | None


class DistributedTraining:
    """One run's part in a ``dist_*`` job; nothing on any other kvstore.

    - **Data**: each worker takes its shard (:meth:`shard`).
    - **Gradients**: in ``dist_sync`` and ``dist_device_sync`` they are summed over the
      workers (:meth:`allreduce_grads`) and every worker applies the same update, normalised
      by the global batch (:meth:`step_totals`), from the same start
      (:meth:`broadcast_params`). ``dist_async`` is ``gluon.Trainer``'s own: the servers
      update once per worker's push.
    - **Figures and BatchNorm**: the sync modes sum figures (:meth:`total`) and average
      running statistics (:meth:`mean`) over the workers; ``dist_async`` cannot sum
      (:class:`~gluon_densenet.distributed.kvstore.Collective`), so each worker keeps its own.
    - **Files**: rank 0 (``workers.is_chief``) alone should write; :meth:`agree` checks that
      all workers see the same ones.

    Args:
        kv: the run's kvstore (a name, a created store, or ``None``).
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

    def trainer_kwargs(self, kv: KVStoreArg) -> dict[str, Any]:
        """``gluon.Trainer``'s kvstore arguments: none in the sync modes, where
        :meth:`allreduce_grads` sums the gradients."""
        if kv is None:
            return {}
        return {"kvstore": None if self.sums else kv}

    def shard(self, data: Iterable[Any] | None, even: bool) -> Iterable[Any] | None:
        """This worker's part of ``data``: ``data.shard(rank, count, even=even)`` when it has
        that method, else a :class:`BatchShard` (then every worker must see the same batches
        in the same order: seed their shuffling)."""
        count = self.workers.count
        if data is None or count == 1:
            return data
        if hasattr(data, "shard"):
            return data.shard(self.workers.rank, count, even=even)
        return BatchShard(data, self.workers.rank, count, even)

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

        Summed with :class:`~gluon_densenet.distributed.kvstore.Collective` rather than
        ``gluon.Trainer``'s ``dist_sync`` path, whose updates of hybridized nets differ from
        run to run.
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

    def step_totals(self, batch_size: int, loss: float) -> tuple[int, float]:
        """The global batch (what ``Trainer.step`` normalises by) and the loss summed over
        the workers' batches of this step (the sync modes; as they are otherwise)."""
        total_bs, total_loss = self.total("step", (batch_size, loss))
        return int(total_bs), total_loss

    def total(self, name: str, values: Sequence[float]) -> tuple[float, ...]:
        """``values`` summed over the workers (in the sync modes; as they are otherwise)."""
        if not self.sums:
            return tuple(values)
        summed = self.collective.sum(name, mx.nd.array(values, dtype="float64"))
        return tuple(float(v) for v in summed.asnumpy())

    def mean(self, name: str, value: mx.nd.NDArray) -> mx.nd.NDArray:
        """``value`` averaged over the workers (in the sync modes; ``value`` itself
        otherwise)."""
        if not self.sums:
            return value
        return self.collective.sum(name, value) / self.workers.count

    def agree(self, name: str, value: float) -> float:
        """Rank 0's ``value`` (a number each worker found), for checking that all agree.

        Args:
            name: what the value is (once per run: it is broadcast under this name).
            value: this worker's value.

        Returns:
            Rank 0's value; ``value`` itself outside a distributed job.
        """
        if not self.on:
            return value
        return float(self.collective.broadcast(name, mx.nd.array([value])).asscalar())


class BatchShard:
    """Every ``count``-th batch of a re-iterable with ``__len__``, from ``rank`` on.

    Args:
        data: the batches (iterated once per pass).
        rank: this worker's rank, in ``[0, count)``.
        count: the number of workers.
        even: give every worker ``len(data) // count`` batches (the sync modes' steps must
            match), dropping the last few; otherwise every batch goes to some worker.
    """

    def __init__(self, data: Iterable[Any], rank: int, count: int, even: bool):
        self.data, self.rank, self.count = data, rank, count
        total = len(data)  # type: ignore[arg-type]
        self.n = total // count if even else len(range(rank, total, count))

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[Any]:
        mine = (b for i, b in enumerate(self.data) if i % self.count == self.rank)
        return itertools.islice(mine, self.n)
