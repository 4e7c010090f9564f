"""Training under a fixed wall-time budget, so nets of different sizes compare fairly.

    spec = NetSpec("d2l-21 @32", (4, 4, 4, 4), resize=32)
    result = budgeted_run(spec, budget_s=180, batch_size=128, seed=0)
    result.row()     # label, params, epochs, s/epoch, test accuracy, ...

Each run first times a few forward/backward passes, plans as many epochs as fit the
budget (so the cosine learning-rate schedule ends inside it), then trains with
``train(..., time_budget_s=...)`` as a hard stop.

With ``validation=N`` a run holds out N class-balanced training images
(:func:`~gluon_densenet.data.load_splits`), evaluates on them after every epoch, and
never touches the test set; :meth:`RunResult.evaluate_test` reports the test set once,
for the run that was chosen (with ``keep_net=True``).
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import mxnet as mx
from mxnet import gluon

from ..data import load_data, load_splits
from ..models import DenseNet, count_parameters
from ..training import History, evaluate, train
from ..training.step import compute_gradients
from .measure import timings

__all__ = ["NetSpec", "RunResult", "budgeted_run", "estimate_epoch_seconds", "seeded_results",
           "seeded_runs"]


@dataclass(frozen=True)
class NetSpec:
    """A Fashion-MNIST DenseNet (1 input channel, 10 classes) and its input size."""
    label: str
    block_config: tuple[int, ...]
    growth_rate: int = 32
    init_features: int = 64
    bn_size: int | None = None
    stem: str = "imagenet"
    resize: int | None = None
    """Input side length (``None``: the native 28 px)."""
    transition_pool: str = "avg"
    compression: float = 0.5
    dropout: float = 0.0
    """Dropout after each dense layer (:class:`~gluon_densenet.models.DenseNet`'s ``dropout``)."""

    def build(self) -> DenseNet:
        return DenseNet(self.block_config, growth_rate=self.growth_rate,
                        init_features=self.init_features, bn_size=self.bn_size,
                        compression=self.compression, transition_pool=self.transition_pool,
                        dropout=self.dropout, stem=self.stem, classes=10, in_channels=1)

    def parameters(self) -> int:
        net = self.build()
        net.initialize()
        return count_parameters(net)


@dataclass
class RunResult:
    """The outcome of one budgeted run."""
    spec: NetSpec
    seed: int
    budget_s: float
    params: int
    planned_epochs: int
    estimated_epoch_s: float
    steps_per_epoch: int
    history: History = field(repr=False)
    wall_s: float
    """Whole run: timing probe + training + evaluation."""
    evaluated_on: str = "test"
    """The split evaluated after every epoch: ``"test"`` or ``"validation"``."""
    net: Any = field(default=None, repr=False)
    """The trained net (``keep_net=True``), for :meth:`evaluate_test`; not serialised."""
    test_data: Any = field(default=None, repr=False)
    final_test_acc: float | None = None
    """Test accuracy measured once by :meth:`evaluate_test` (validation runs only)."""

    @property
    def epochs(self) -> float:
        """Epochs trained, fractional if the budget cut the last one short."""
        return sum((r.steps if r.steps is not None else self.steps_per_epoch)
                   / self.steps_per_epoch for r in self.history)

    @property
    def test_acc(self) -> float:
        """Accuracy on the evaluated split (:attr:`evaluated_on`) after the last, possibly
        partial, epoch."""
        return self.history.last.test_acc if len(self.history) else math.nan

    def evaluate_test(self) -> float:
        """Evaluate the kept net on the test set once and record it in the row.

        Raises:
            ValueError: The run evaluated on the test set already, or did not keep its net.
        """
        if self.evaluated_on != "validation" or self.net is None:
            raise ValueError("evaluate_test needs a run made with validation=N and "
                             "keep_net=True")
        self.final_test_acc = evaluate(self.net, self.test_data)
        return self.final_test_acc

    @property
    def epoch_s(self) -> float:
        """Mean wall time of the complete epochs (training + evaluation); from the
        partial epoch, scaled up, if the budget ended the first one."""
        full = [r.time_s for r in self.history if r.steps == self.steps_per_epoch]
        if full:
            return sum(full) / len(full)
        if len(self.history) and self.history[0].steps:
            return self.history[0].time_s * self.steps_per_epoch / self.history[0].steps
        return math.nan

    def row(self) -> dict[str, Any]:
        """A flat record for tables and CSV/JSON files."""
        return {"label": self.spec.label, "seed": self.seed, "params": self.params,
                "resize": self.spec.resize or 28, "growth_rate": self.spec.growth_rate,
                "blocks": "-".join(map(str, self.spec.block_config)),
                "bottleneck": bool(self.spec.bn_size), "pool": self.spec.transition_pool,
                "budget_s": self.budget_s, "planned_epochs": self.planned_epochs,
                "epochs": round(self.epochs, 3), "epoch_s": round(self.epoch_s, 2),
                "wall_s": round(self.wall_s, 1), **self._accuracies(),
                "budget_exhausted": self.history.budget_exhausted}

    def _accuracies(self) -> dict[str, Any]:
        best = self.history.best.test_acc if len(self.history) else math.nan
        if self.evaluated_on == "test":
            return {"test_acc": self.test_acc, "best_test_acc": best}
        return {"val_acc": self.test_acc, "best_val_acc": best,
                "test_acc": self.final_test_acc}

    def to_dict(self) -> dict[str, Any]:
        return {"spec": asdict(self.spec), "row": self.row(), "history": self.history.to_dict()}


def estimate_epoch_seconds(net: gluon.HybridBlock, train_iter, test_iter,
                           probe_steps: int = 4, ctx: mx.Context | None = None) -> float:
    """Seconds one epoch (training + evaluating ``test_iter``) should take, from timing
    ``probe_steps`` forward/backward passes after a warm-up one. No parameter is
    updated (BatchNorm running statistics do move a little)."""
    ctx = ctx or mx.cpu()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    batches = iter(train_iter)
    X, y = next(batches)
    X, y = X.as_in_context(ctx), y.as_in_context(ctx)

    # one warm-up: graph build, oneDNN primitives
    per_step = sum(timings(lambda: compute_gradients(net, X, y, loss_fn),
                           warmup=1, repeats=probe_steps, sync=mx.nd.waitall)) / probe_steps
    per_eval = sum(timings(lambda: net(X), warmup=0, repeats=probe_steps,
                           sync=mx.nd.waitall)) / probe_steps
    # +10 % for the optimizer update, data preparation and the host sync per batch
    return 1.1 * (len(train_iter) * per_step + len(test_iter) * per_eval)


def budgeted_run(spec: NetSpec, budget_s: float, *, batch_size: int = 128, seed: int = 0,
                 lr: float = 0.1, wd: float = 1e-4, subset: bool = False,
                 limit: int | None = None, test_limit: int | None = None,
                 max_epochs: int = 100, epochs: int | None = None,
                 data_dir: str | None = None, validation: int | None = None,
                 keep_net: bool = False) -> RunResult:
    """Train ``spec`` on Fashion-MNIST for ``budget_s`` seconds of wall time (timing
    probe included) with SGD + momentum and a cosine schedule; evaluate on the test
    set after every epoch, or, with ``validation=N``, on N training images held out
    (class-balanced, the same for every seed) and trained on the rest.

    ``epochs`` fixes the number of epochs instead of planning it from the probe (the
    budget is then only a hard stop): use it when runs must be comparable epoch for
    epoch, e.g. across seeds, since the probe's estimate varies with machine load."""
    start = time.perf_counter()
    mx.random.seed(seed)
    data = dict(resize=spec.resize, subset=subset, seed=seed, limit=limit,
                test_limit=test_limit, data_dir=data_dir, download=False)
    if validation is None:
        train_iter, test_iter = load_data(batch_size, **data)
        final_test = None
    else:
        train_iter, test_iter, final_test = load_splits(batch_size, validation, **data)
    net = spec.build()
    net.initialize(mx.init.Xavier())
    net.hybridize()
    params = count_parameters(net)
    if epochs is None:
        epoch_s = estimate_epoch_seconds(net, train_iter, test_iter)
        left = budget_s - (time.perf_counter() - start)
        epochs = int(min(max_epochs, max(1, left // epoch_s)))
    else:
        epoch_s = math.nan
        left = budget_s - (time.perf_counter() - start)
    history = train(net, train_iter, test_iter, epochs=epochs, lr=lr, wd=wd,
                    lr_schedule="cosine", seed=seed, progress=False,
                    time_budget_s=max(left, 1e-3))
    return RunResult(spec, seed, budget_s, params, epochs, epoch_s, len(train_iter), history,
                     time.perf_counter() - start,
                     evaluated_on="test" if validation is None else "validation",
                     net=net if keep_net else None, test_data=final_test if keep_net else None)


def seeded_results(specs: Sequence[NetSpec], seeds: Sequence[int], epochs: int,
                   stop_s: float, **data: Any) -> list[RunResult]:
    """Train every spec for ``epochs`` epochs with every seed and return the runs.

    The loop goes seed by seed, so a slow spell of the machine falls on the nets of one
    or two seeds rather than on every run of one net; it does not touch the nets alike,
    since they run at different times (look at the load printed with the results). Run
    *s* of two specs shares the data order and the random stream: compare them pair by
    pair (:func:`..stats.paired`). ``stop_s`` is only a safety stop; ``data`` goes to
    :func:`budgeted_run` (``batch_size``, ``subset``, ``limit``, ``validation``,
    ``keep_net``, ...).
    """
    results = []
    for seed in seeds:
        for spec in specs:
            r = budgeted_run(spec, stop_s, seed=seed, epochs=epochs, **data)
            results.append(r)
            print(f"seed {seed} {spec.label} ({spec.transition_pool} pooling): {r.evaluated_on} "
                  f"accuracy {r.test_acc:.4f} after {r.epochs:.0f} epoch(s), "
                  f"{r.epoch_s:.0f} s/epoch", flush=True)
    return results


def seeded_runs(specs: Sequence[NetSpec], seeds: Sequence[int], epochs: int, stop_s: float,
                **data: Any) -> list[dict[str, Any]]:
    """:func:`seeded_results` as JSON-ready dicts (``RunResult.to_dict()``)."""
    return [r.to_dict() for r in seeded_results(specs, seeds, epochs, stop_s, **data)]
