"""Speed settings for training and inference on MXNet 1.9 (CPU, oneDNN).

Measured with ``benchmarks/run.py`` (figures in ``benchmarks/results/README.md``):

* :func:`fast_hybridize` — ``hybridize(static_alloc=True, static_shape=True)``: the cached
  graph's memory is planned once and reused, which removes per-step allocation work.
* :func:`optimized_inference` — the same plus oneDNN subgraph fusion
  (``optimize_for(x, backend="MKLDNN")``: conv + BN + ReLU fused). Inference only: use it on a
  separate net (or after training), its outputs equal the plain path's.
* :data:`RECOMMENDED_ENV` — environment variables; they must be set *before* ``import
  mxnet`` (e.g. in the shell), so this module only documents them and :func:`env_report`
  shows what is in effect.
"""
from __future__ import annotations

import os

import mxnet as mx
from mxnet.gluon import HybridBlock

__all__ = ["RECOMMENDED_ENV", "env_report", "fast_hybridize", "optimized_inference"]

#: Environment settings for CPU training/inference, with what each does. Set before
#: ``import mxnet``. ``OMP_NUM_THREADS`` is best left at the number of physical cores (the
#: default); more threads than cores, or MXNET_CPU_WORKER_NTHREADS > 1 with OpenMP also
#: using every core, oversubscribe the CPU.
RECOMMENDED_ENV: dict[str, tuple[str, str]] = {
    "MXNET_CPU_WORKER_NTHREADS": ("1", "one engine worker; oneDNN/OpenMP parallelise inside "
                                      "each operator (the default)"),
    "OMP_NUM_THREADS": (str(os.cpu_count() or 1), "OpenMP threads per operator: the physical "
                                                  "cores"),
}


def env_report() -> dict[str, str | None]:
    """The performance-relevant environment variables as this process sees them."""
    names = ["OMP_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS", "MXNET_SUBGRAPH_BACKEND",
             "MXNET_MKLDNN_ENABLED", "MXNET_EXEC_BULK_EXEC_TRAIN", "MXNET_ENGINE_TYPE"]
    return {n: os.environ.get(n) for n in names}


def fast_hybridize(net: HybridBlock) -> HybridBlock:
    """Hybridize ``net`` with static memory allocation and static shapes (for training and
    inference with a fixed input shape; a new shape rebuilds the graph). Returns ``net``."""
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
