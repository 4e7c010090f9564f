"""Where training memory goes: an analytic count of activation bytes from the forward
graph's inferred shapes, and the measured peak of training steps in a fresh process.

    rows = activation_rows(get_model("densenet121"), (32, 3, 224, 224))
    bytes_by(rows, "group")             # stem, dense block 1, transition 1, ... head
    planned_bytes(get_model("densenet121"), (32, 3, 224, 224))   # MXNet's own plan
    measure_peak("densenet121", size=224, batch_size=32)   # PeakMemory(...)

The analytic count is the sum of every operator output of the forward graph (float32),
i.e. what a framework that kept every intermediate for the backward pass would hold.
MXNet's memory planner shares and frees some buffers, so it is a yardstick, not a
prediction: :func:`planned_bytes` reads the planner's own total for the training graph,
and the notebook compares all three.
"""
from __future__ import annotations

import json
import math
import os
import re
import statistics
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import mxnet as mx
import numpy as np

from ..models.registry import get_model
from .measure import MIB, peak_rss_mib, timings
from .parameters import STAGE_PATTERN, graph_symbol, learnable_shapes

__all__ = ["ActivationRow", "PeakMemory", "activation_rows", "bytes_by", "measure_peak",
           "parameter_bytes", "planned_bytes", "MIB"]


@dataclass(frozen=True)
class ActivationRow:
    """One operator output of the forward graph."""
    name: str
    op: str
    group: str
    """``stem``, ``stage N`` (a dense block or a ResNet stage), ``transition N``, ``head``."""
    shape: tuple[int, ...]
    bytes: int


def activation_rows(net: mx.gluon.HybridBlock, input_shape: tuple[int, ...],
                    dtype_bytes: int = 4) -> list[ActivationRow]:
    """Every operator output of ``net``'s forward graph for ``input_shape`` (NCHW), in
    graph order, with its group. Needs no initialised parameters: shapes are inferred."""
    sym = graph_symbol(net)
    internals = sym.get_internals()
    _, shapes, _ = internals.infer_shape(data=input_shape)
    ops = {n["name"]: n["op"] for n in json.loads(sym.tojson())["nodes"]}
    rows: list[ActivationRow] = []
    stage, last_stage = 0, 0
    for out, shape in zip(internals.list_outputs(), shapes, strict=True):
        node = out[: -len("_output")] if out.endswith("_output") else out
        op = ops.get(node, "null")
        if op == "null":                              # data, weights, BN statistics
            continue
        m = STAGE_PATTERN.search(out)
        if m:
            stage = last_stage = int(m.group(1))
            group = f"stage {stage}"
        elif last_stage == 0:
            group = "stem"
        else:
            group = f"transition {last_stage}"
        rows.append(ActivationRow(out, op, group, tuple(shape),
                                  math.prod(shape) * dtype_bytes))
    # whatever follows the last stage (final BN, pooling, classifier) is the head
    final = max((int(m.group(1)) for r in rows if (m := STAGE_PATTERN.search(r.name))), default=0)
    return [ActivationRow(r.name, r.op, "head", r.shape, r.bytes)
            if r.group == f"transition {final}" else r for r in rows]


def bytes_by(rows: Iterable[ActivationRow], key: str = "group") -> dict[str, int]:
    """Total bytes per ``group`` or per ``op``, in order of first appearance."""
    totals: dict[str, int] = {}
    for r in rows:
        k = getattr(r, key)
        totals[k] = totals.get(k, 0) + r.bytes
    return totals


def parameter_bytes(net: mx.gluon.HybridBlock, input_shape: tuple[int, ...],
                    dtype_bytes: int = 4) -> int:
    """Bytes of the learnable parameters (weights, biases, BN γ/β), shapes inferred
    from the graph. SGD with momentum keeps three copies: weight, gradient, momentum."""
    return sum(math.prod(s) * dtype_bytes for _, s in learnable_shapes(net, input_shape))


_PLANNED = re.compile(r"Total (\d+) MB allocated")


def planned_bytes(net: mx.gluon.HybridBlock, input_shape: tuple[int, ...]) -> int:
    """Bytes MXNet's memory planner allots to the internal buffers of one training step:
    the outputs of the forward graph and the gradients of the backward graph (softmax
    cross-entropy loss), after letting buffers share storage (in-place operators, buffers
    whose last reader has run). Parameters, their gradients, the input and operator
    workspaces are not included.

    The plan is the symbolic executor's (``simple_bind``) for the whole training graph,
    read from its ``debug_str()``; MXNet reports it in whole MiB, rounded down, so use a
    batch that makes it large. Binding reserves the planned buffers without writing
    them, so it costs little resident memory.
    """
    # silence the one-line notice the executor logs when it binds with a subgraph backend
    os.environ.setdefault("MXNET_SUBGRAPH_VERBOSE", "0")
    loss = mx.sym.SoftmaxOutput(graph_symbol(net), name="softmax")
    grad_req = {name: "null" if name in ("data", "softmax_label") else "write"
                for name in loss.list_arguments()}
    executor = loss.simple_bind(mx.cpu(), data=input_shape, grad_req=grad_req)
    found = _PLANNED.search(executor.debug_str())
    if found is None:
        raise RuntimeError("the executor's debug_str() reports no planned total")
    return int(found.group(1)) * MIB


# ------------------------------------------------------------------ measurement
@dataclass
class PeakMemory:
    """Peak memory of training steps (forward, backward, one SGD step each), and their time."""
    model: str
    size: int
    batch_size: int
    device: str
    baseline_mib: float
    """After importing MXNet, building the net and allocating its weights."""
    peak_mib: float
    """Peak of the whole process over two steps (CPU: VmHWM; GPU: used device memory
    after them)."""
    step_s: float
    """Median of ``step_times_s``: the time a step takes once buffers and oneDNN
    primitives exist."""
    first_step_s: float = float("nan")
    """The first step, which also allocates every buffer (page faults on a CPU)."""
    memory_efficient: bool = False
    """Whether the step recomputed the dense layers (:mod:`..models.memory_efficient`)."""
    step_times_s: list[float] = field(default_factory=list)
    """Every timed step after the first: the second (within the memory measurement)
    and ``repeats - 1`` more taken after the peak was read."""

    @property
    def train_mib(self) -> float:
        """What the training step added: ``peak − baseline``."""
        return self.peak_mib - self.baseline_mib

    def as_dict(self) -> dict:
        return {**asdict(self), "train_mib": self.train_mib}


def _child(model: str, size: int, batch_size: int, gpu: bool, memory_efficient: bool,
           repeats: int = 1) -> dict:
    """Runs in the fresh process: build, allocate weights, take two training steps and
    read the peak, then take ``repeats - 1`` more steps for their times only."""
    from mxnet import gluon

    from ..models.memory_efficient import is_memory_efficient
    from ..runtime.devices import gpu_memory_info
    from ..training.step import train_step
    ctx = mx.gpu(0) if gpu else mx.cpu()
    net = get_model(model, classes=10, **({"memory_efficient": True} if memory_efficient else {}))
    net.initialize(mx.init.Xavier(), ctx=ctx)
    net(mx.nd.zeros((1, 3, 32, 32), ctx=ctx)).wait_to_read()   # resolve deferred shapes
    mx.nd.waitall()
    used = lambda: (lambda free, total: (total - free) / MIB)(*gpu_memory_info(0))
    baseline = used() if gpu else peak_rss_mib()
    net.hybridize(static_alloc=False)
    trainer = gluon.Trainer(net.collect_params(), "sgd",
                            {"learning_rate": 0.01, "momentum": 0.9, "wd": 1e-4})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    X = mx.nd.random.uniform(shape=(batch_size, 3, size, size), ctx=ctx)
    y = mx.nd.array(np.arange(batch_size) % 10, ctx=ctx)
    me = is_memory_efficient(net)
    def step() -> None:
        train_step(net, trainer, loss_fn, X, y)

    first_s, second_s = timings(step, warmup=0, repeats=2, sync=mx.nd.waitall)
    peak = used() if gpu else peak_rss_mib()            # the peak over the first two steps
    times = [second_s] + (timings(step, warmup=0, repeats=repeats - 1, sync=mx.nd.waitall)
                          if repeats > 1 else [])
    return {"model": model, "size": size, "batch_size": batch_size,
            "device": "gpu(0)" if gpu else "cpu", "baseline_mib": baseline,
            "peak_mib": peak, "step_s": statistics.median(times), "first_step_s": first_s,
            "memory_efficient": me, "step_times_s": times}


def measure_peak(model: str, size: int, batch_size: int, gpu: bool | None = None,
                 timeout: float = 900, memory_efficient: bool = False,
                 repeats: int = 1) -> PeakMemory:
    """Measure one configuration in a fresh ``python`` subprocess, so runs do not share
    allocator pools or a high-water mark. ``gpu=None`` uses a GPU when there is one that
    this build can run. ``memory_efficient=True`` builds a DenseNet with recomputing
    dense blocks and takes the memory-efficient step.

    The peak is read after two training steps whatever ``repeats`` is; ``repeats`` is
    the number of timed steps after the first (the second, then ``repeats - 1`` more),
    whose median is ``step_s``."""
    if repeats < 1:
        raise ValueError(f"need repeats >= 1, got {repeats}")
    if gpu is None:
        from ..runtime.devices import try_gpu
        gpu = try_gpu().device_type == "gpu"     # a GPU this build can run, if any
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "gluon_densenet.analysis.memory", model, str(size),
           str(batch_size), "gpu" if gpu else "cpu", "me" if memory_efficient else "std",
           str(repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"measuring {model} at {size} px, batch {batch_size} failed:\n"
                           f"{proc.stderr[-2000:]}")
    return PeakMemory(**json.loads(proc.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    _m, _size, _batch, _dev, _step, _repeats = sys.argv[1:7]
    print(json.dumps(_child(_m, int(_size), int(_batch), _dev == "gpu", _step == "me",
                            int(_repeats))))
