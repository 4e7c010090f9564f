"""Speed settings for training and inference on MXNet 1.9 (CPU, oneDNN).

Measured with ``benchmarks/run.py`` (figures in ``benchmarks/results/README.md``):

* :func:`fast_hybridize` — ``hybridize(static_alloc=True, static_shape=True)``: the cached
  graph's memory is planned once and reused, which removes per-step allocation work.
* :func:`optimized_inference` — the same plus oneDNN subgraph fusion
  (``optimize_for(x, backend="MKLDNN")``: conv + BN + ReLU fused). Inference only: use it on a
  separate net (or after training), its outputs equal the plain path's.

Threads: MXNet's operators get one thread per physical core when :mod:`gluon_densenet` is
imported before MXNet (:mod:`gluon_densenet.runtime.cpu_threads`; MXNet's own default is half the
processors on x86). Engine settings (``MXNET_CPU_WORKER_NTHREADS``, bulk execution, ...) did
not help on 2 cores (``benchmarks/tuning.py``).
"""
from __future__ import annotations

import mxnet as mx
from mxnet.gluon import HybridBlock

from ..models.memory_efficient import is_memory_efficient

__all__ = ["fast_hybridize", "optimized_inference"]

def fast_hybridize(net: HybridBlock) -> HybridBlock:
    """Hybridize ``net`` with static memory allocation and static shapes (for training and
    inference with a fixed input shape; a new shape rebuilds the graph). A net with
    memory-efficient dense blocks gets plain ``hybridize()``: static buffers would keep every
    recomputed layer's memory alive. Returns ``net``."""
    if is_memory_efficient(net):
        net.hybridize()
    else:
        net.hybridize(static_alloc=True, static_shape=True)
    return net


def optimized_inference(net: HybridBlock, example: mx.nd.NDArray,
                        backend: str | None = "MKLDNN") -> HybridBlock:
    """Prepare ``net`` for fast inference on inputs shaped like ``example``.

    Hybridizes with static allocation and, with ``backend`` (default ``"MKLDNN"``, the
    oneDNN subgraph backend of MXNet 1.9), fuses operators via ``optimize_for``. Falls back
    to plain static hybridization if the backend is unavailable. Meant for a net used for
    inference only; returns ``net``.
    """
    if backend:
        try:
            net.optimize_for(example, backend=backend, static_alloc=True, static_shape=True)
            return net
        except mx.base.MXNetError:
            pass
    fast_hybridize(net)
    net(example)
    return net
