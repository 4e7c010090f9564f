"""One process of the loopback tests in tests/test_distributed.py, run as a script.

    distributed_worker.py OUT single [--net NET] [--devices N] [--batches SIZES]
    distributed_worker.py OUT worker --kvstore KV [--net NET] [--devices N] [--batches SIZES]
                          [--fail RANK:HOW] [--nan RANK] [--hold DIR]

NET is ``plain`` (no BatchNorm) or ``bn`` (densenet_tiny). Both modes train from the same
start (seed 0) and save the parameters as OUT/single.params or OUT/rank<R>.params.

- Data: 64 fixed images in an ``ArrayLoader`` (64 per batch alone, 32 per worker), or with
  ``--batches 16,16,16,8`` a plain list of batches of those sizes; each worker then takes
  every other one, and the single process gets each pair put together.
- ``--fail RANK:HOW``: that worker fails at the end of epoch 1 of 2 (``kill``: SIGKILL,
  ``exit``: status 3) while the others go on into epoch 2 and wait for it.
- ``--nan RANK``: that worker's loss is NaN (the others' is finite).
- ``--hold DIR``: once in the job (every node is listening then), each worker writes
  ``DIR/rank<R>.ready`` and waits until ``DIR/go`` exists before it trains.
"""
import argparse
import os
import signal
import sys
import time
from pathlib import Path

import mxnet as mx
import numpy as np
from mxnet import gluon

from gluon_densenet.data import ArrayLoader
from gluon_densenet.distributed import create_kvstore, workers_of
from gluon_densenet.models import get_model

EXAMPLES = 64


def make_net(kind: str) -> gluon.HybridBlock:
    if kind == "bn":
        return get_model("densenet_tiny", classes=10, in_channels=1)
    net = gluon.nn.HybridSequential()
    net.add(gluon.nn.Conv2D(4, 3, in_channels=1, activation="relu"),
            gluon.nn.Dense(10, in_units=4 * 26 * 26))
    return net


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (EXAMPLES, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, EXAMPLES))


def batch_list(sizes: list[int], pairs: bool) -> list:
    """Batches of these sizes from the 64 images (``pairs``: two at a time put together)."""
    X, y = data()
    X = mx.nd.array(X[:, None] / 255.0)
    y = mx.nd.array(y)
    edges = np.cumsum([0, *sizes])[::2 if pairs else 1]      # an even number of sizes
    return [(X[a:b], y[a:b]) for a, b in zip(edges[:-1], edges[1:])]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("mode", choices=["single", "worker"])
    parser.add_argument("--net", default="plain")
    parser.add_argument("--kvstore")
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--batches")
    parser.add_argument("--fail", default="")
    parser.add_argument("--nan", type=int)
    parser.add_argument("--hold", type=Path)
    args = parser.parse_args()
    from gluon_densenet.training import train

    X, y = data()
    sizes = [int(b) for b in args.batches.split(",")] if args.batches else None
    net = make_net(args.net)
    ctx = [mx.cpu(i) for i in range(args.devices)]
    options = dict(ctx=ctx, seed=0, progress=False, lr_schedule="constant")
    if args.mode == "single":
        batches = batch_list(sizes, pairs=True) if sizes else ArrayLoader(X, y, EXAMPLES)
        train(net, batches, None, 1, **options)
        net.save_parameters(str(args.out / "single.params"))
        return
    kv = create_kvstore(args.kvstore)
    rank = workers_of(kv).rank
    print(f"rank {rank} of {workers_of(kv).count}", flush=True)
    if args.hold is not None:
        (args.hold / f"rank{rank}.ready").touch()
        while not (args.hold / "go").exists():    # the launcher's timeout ends a lost test
            time.sleep(0.05)
    fail_rank, _, how = args.fail.partition(":")
    softmax = gluon.loss.SoftmaxCrossEntropyLoss()
    if args.nan == rank:
        options["loss"] = lambda out, label: softmax(out, label) * np.nan

    def fail(history) -> None:
        if how and rank == int(fail_rank) and len(history) == 1:
            if how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            sys.exit(3)

    batches = batch_list(sizes, pairs=False) if sizes else ArrayLoader(X, y, EXAMPLES // 2)
    train(net, batches, None, 2 if how else 1, kvstore=kv, on_epoch_end=fail,
          max_steps_per_epoch=None if how or sizes else 1,
          checkpoint_dir=args.out / "checkpoints", **options)
    net.save_parameters(str(args.out / f"rank{rank}.params"))


if __name__ == "__main__":
    main()
