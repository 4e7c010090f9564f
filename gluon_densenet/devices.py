"""Finding GPUs without crashing: the CPU-only ``mxnet`` wheel and a CUDA wheel on a
machine without a driver both report zero GPUs here instead of raising."""
from __future__ import annotations

import mxnet as mx


def num_gpus() -> int:
    """GPUs MXNet can use; 0 on a CPU-only build or when the CUDA driver is missing."""
    try:
        return mx.context.num_gpus()
    except mx.base.MXNetError:
        return 0


def try_gpu(i: int = 0) -> mx.Context:
    """``mx.gpu(i)`` if that GPU exists, else ``mx.cpu()``."""
    return mx.gpu(i) if num_gpus() > i else mx.cpu()


def try_all_gpus() -> list[mx.Context]:
    """Every GPU, or ``[mx.cpu()]`` when there is none."""
    n = num_gpus()
    return [mx.gpu(i) for i in range(n)] if n else [mx.cpu()]


def gpu_memory_info(i: int = 0) -> tuple[int, int] | None:
    """``(free_bytes, total_bytes)`` of GPU ``i``, or ``None`` without such a GPU."""
    if num_gpus() <= i:
        return None
    return mx.context.gpu_memory_info(i)


def mxnet_build() -> str:
    """Which MXNet wheel is installed: ``"cuda"`` if built with CUDA, else ``"cpu"``."""
    try:
        return "cuda" if mx.runtime.Features().is_enabled("CUDA") else "cpu"
    except Exception:                      # very old builds have no feature list
        return "unknown"


def describe_devices() -> str:
    """A few lines saying what was found, for humans (``gluon-densenet info``)."""
    build = mxnet_build()
    n = num_gpus()
    lines = [f"MXNet {mx.__version__} ({build} build)"]
    if n:
        for i in range(n):
            free, total = gpu_memory_info(i)
            lines.append(f"gpu({i}): {free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB")
    elif build == "cuda":
        lines.append("no GPU usable: the CUDA build is installed but no GPU/driver was found; "
                     "using the CPU")
    else:
        lines.append("no GPU: CPU-only MXNet build; install mxnet-cu112 "
                     "(MXNET_VARIANT=gpu scripts/install.sh) on an NVIDIA machine")
    lines.append(f"default device: {try_gpu()}")
    return "\n".join(lines)
