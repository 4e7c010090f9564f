"""One process of the loopback tests in tests/test_distributed.py, run as a script.

    distributed_worker.py single OUT NET DEVICES      # one process, the whole batch of 64
    distributed_worker.py worker OUT NET KVSTORE [FAIL_RANK HOW]   # a worker, 32 of the 64

NET is ``plain`` (no BatchNorm) or ``bn`` (densenet_tiny). Both modes take one step from the
same start (seed 0) and save the parameters as OUT/single.params or OUT/rank<R>.params.
With FAIL_RANK and HOW (``kill``: SIGKILL, ``exit``: status 3) that worker fails at the end
of epoch 1 of 2 while the others go on into epoch 2 and wait for it.
"""
import os
import signal
import sys
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


def main(mode: str, out: str, kind: str, arg: str, fail_rank: str = "", how: str = "") -> None:
    from gluon_densenet.training import train

    X, y = data()
    net = make_net(kind)
    if mode == "single":
        ctx = [mx.cpu(i) for i in range(int(arg))]
        train(net, ArrayLoader(X, y, EXAMPLES), None, 1, ctx=ctx, seed=0, progress=False,
              lr_schedule="constant")
        net.save_parameters(str(Path(out) / "single.params"))
        return
    kv = create_kvstore(arg)
    rank = workers_of(kv).rank
    print(f"rank {rank} of {workers_of(kv).count}", flush=True)

    def fail(history) -> None:
        if how and rank == int(fail_rank) and len(history) == 1:
            if how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            sys.exit(3)

    train(net, ArrayLoader(X, y, EXAMPLES // 2), None, 2 if how else 1, kvstore=kv, seed=0,
          progress=False, lr_schedule="constant", on_epoch_end=fail,
          max_steps_per_epoch=None if how else 1, checkpoint_dir=Path(out) / "checkpoints")
    net.save_parameters(str(Path(out) / f"rank{rank}.params"))


if __name__ == "__main__":
    main(*sys.argv[1:])
