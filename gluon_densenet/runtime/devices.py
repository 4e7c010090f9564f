"""Finding the devices to train on, and telling the truth about GPUs.

The CPU-only ``mxnet`` wheel and a CUDA wheel on a machine without a driver both report zero
GPUs here instead of raising. A GPU that MXNet sees but the ``mxnet-cu112`` wheel has no code
for (Hopper, Blackwell; :mod:`.gpu_support`) is skipped with a one-line
:class:`UnusableGPUWarning` instead of failing at the first kernel launch.
"""
from __future__ import annotations

import functools
import importlib.metadata
import os
import warnings
from dataclasses import dataclass

import mxnet as mx

from . import gpus
from .gpus import GPU, Verdict


class UnusableGPUWarning(RuntimeWarning):
    """A GPU was skipped because this MXNet build cannot run on it."""


@dataclass(frozen=True)
class GPUStatus:
    """One of MXNet's GPUs and whether this build can run on it.

    Attributes:
        ordinal: MXNet's device id, as in ``mx.gpu(ordinal)``.
        gpu: what ``nvidia-smi`` / the CUDA driver say about it; ``None`` if unidentified.
        verdict: ``verdict.usable`` is ``False`` for a GPU this build has no code for.
    """

    ordinal: int
    gpu: GPU | None
    verdict: Verdict

    @property
    def context(self) -> mx.Context:
        return mx.gpu(self.ordinal)

    @property
    def usable(self) -> bool:
        """``True`` unless the build is known not to run here (unknown counts as usable)."""
        return self.verdict.usable is not False

    def describe(self) -> str:
        name = gpus.describe_gpu(self.gpu) if self.gpu else "an unidentified GPU"
        return f"gpu({self.ordinal}) {name}"


def num_gpus() -> int:
    """GPUs MXNet sees; 0 on a CPU-only build or when the CUDA driver is missing."""
    try:
        return mx.context.num_gpus()
    except mx.base.MXNetError:
        return 0


def mxnet_build() -> str:
    """Which MXNet is installed: ``"cuda"`` if built with CUDA, else ``"cpu"``."""
    try:
        return "cuda" if mx.runtime.Features().is_enabled("CUDA") else "cpu"
    except Exception:                      # very old builds have no feature list
        return "unknown"


def is_cu112_wheel() -> bool:
    """Whether MXNet is the ``mxnet-cu112==1.9.1`` wheel, whose GPU code list is known.

    An MXNet built from source (e.g. with ``sm_90`` added) is trusted to run on its GPUs.
    """
    try:
        return importlib.metadata.version("mxnet-cu112") == "1.9.1"
    except importlib.metadata.PackageNotFoundError:
        return False


@functools.cache
def _survey() -> gpus.Survey:
    """``nvidia-smi``'s answer, asked once per process (GPUs do not come and go)."""
    return gpus.survey_gpus()


def gpu_status() -> list[GPUStatus]:
    """Every GPU MXNet sees, in ``mx.gpu(i)`` order, with whether this build can run on it.

    Returns:
        One :class:`GPUStatus` per GPU; empty on a CPU-only build or without a driver.
    """
    n = num_gpus()
    if n == 0:
        return []
    ordered = gpus.cuda_order(_survey(), os.environ.get("CUDA_VISIBLE_DEVICES"),
                                     gpus.libcuda_devices())
    checked = is_cu112_wheel()
    statuses = []
    for i in range(n):
        gpu = ordered[i] if i < len(ordered) else None
        if gpu is None:
            verdict = Verdict(None, "not identified: neither nvidia-smi nor the CUDA driver "
                                    "named it")
        elif checked:
            verdict = gpus.verdict(gpu)
        else:
            verdict = Verdict(True, "MXNet built outside the mxnet-cu112 wheel: its GPU code "
                                    "list is not checked")
        statuses.append(GPUStatus(i, gpu, verdict))
    return statuses


_warned: set[int] = set()


def _warn_skipped(status: GPUStatus) -> None:
    if status.ordinal in _warned:
        return
    _warned.add(status.ordinal)
    warnings.warn(f"{status.describe()} skipped: {status.verdict.why}; "
                  f"{status.verdict.remedy}", UnusableGPUWarning, stacklevel=3)


def try_gpu(i: int = 0) -> mx.Context:
    """``mx.gpu(i)`` if that GPU exists and this build runs on it, else ``mx.cpu()``.

    A GPU the build cannot run is skipped with one :class:`UnusableGPUWarning`.
    """
    statuses = gpu_status()
    if i < len(statuses):
        if statuses[i].usable:
            return statuses[i].context
        _warn_skipped(statuses[i])
    return mx.cpu()


def try_all_gpus() -> list[mx.Context]:
    """Every GPU this build runs on, or ``[mx.cpu()]`` when there is none.

    Each GPU the build cannot run is skipped with one :class:`UnusableGPUWarning`.
    """
    usable = []
    for status in gpu_status():
        if status.usable:
            usable.append(status.context)
        else:
            _warn_skipped(status)
    return usable or [mx.cpu()]


def gpu_problem(device_ids: list[int]) -> str | None:
    """Why one of the GPUs ``gpu(i)`` for ``i`` in ``device_ids`` cannot be used, or ``None``.

    Args:
        device_ids: the GPU ids a user asked for.

    Returns:
        One clause naming the first unusable GPU and why, without a remedy (the caller adds
        the remedy in its own terms: a ``ctx`` argument or a ``--devices`` option).
    """
    if not device_ids:
        return None
    statuses = gpu_status()
    n = len(statuses)
    for i in device_ids:
        if i >= n:
            if n:
                why = f"gpu(0) to gpu({n - 1})"
            elif mxnet_build() == "cuda":
                why = "a CUDA build, but no GPU or driver was found"
            else:
                why = "a CPU-only build"
            return f"gpu({i}) is not available: this MXNet build has {n} GPU(s) ({why})"
        status = statuses[i]
        if not status.usable:
            return f"{status.describe()} cannot run this MXNet build: {status.verdict.why}"
    return None


def gpu_memory_info(i: int = 0) -> tuple[int, int] | None:
    """``(free_bytes, total_bytes)`` of GPU ``i``, or ``None`` without such a usable GPU."""
    statuses = gpu_status()
    if i >= len(statuses) or not statuses[i].usable:
        return None
    return mx.context.gpu_memory_info(i)


def _machine_gpus_lines(build: str) -> list[str]:
    """What ``nvidia-smi`` lists, for a build that uses no GPU, and which wheel fits."""
    survey = _survey()
    if not survey.gpus:
        return [f"no NVIDIA GPU: {survey.problem}"]
    driver = survey.gpus[0].driver
    lines = [f"nvidia-smi lists {len(survey.gpus)} GPU(s), driver {driver}:"]
    verdicts = [gpus.verdict(gpu) for gpu in survey.gpus]
    for gpu, verdict in zip(survey.gpus, verdicts, strict=True):
        can = {True: "can run it", False: "cannot run it", None: "may run it"}[verdict.usable]
        lines.append(f"  GPU {gpu.index}: {gpus.describe_gpu(gpu)}: {gpus.WHEEL} "
                     f"{can}: {verdict.why}")
    if any(v.usable is not False for v in verdicts):
        if build == "cuda":
            lines.append("MXNet (CUDA build) sees none of them: check the driver "
                         "(nvidia-smi) and CUDA_VISIBLE_DEVICES")
        else:
            lines.append("this CPU build uses none of them: MXNET_VARIANT=gpu "
                         "scripts/install.sh installs mxnet-cu112")
    else:
        lines.append(f"the CPU build is the right one here: {verdicts[0].remedy}")
    return lines


def describe_devices() -> str:
    """A few lines saying which devices there are and which will be used.

    Each GPU is named with its compute capability and whether this MXNet build can run on
    it (``gluon-densenet info`` prints this).
    """
    build = mxnet_build()
    head = f"MXNet {mx.__version__} ({build} build)"
    if build == "cuda" and is_cu112_wheel():
        archs = ", ".join(f"sm_{a}{b}" for a, b in gpus.WHEEL_ARCHITECTURES)
        head += f", the {gpus.WHEEL} wheel: GPU code for {archs}, no PTX"
    lines = [head]
    statuses = gpu_status()
    for status in statuses:
        if status.usable:
            free_bytes, _ = mx.context.gpu_memory_info(status.ordinal)   # known usable
            free = f"; {free_bytes / 2**30:.1f} GiB free"
            lines.append(f"{status.describe()}: usable, {status.verdict.why}{free}")
        else:
            lines.append(f"{status.describe()}: skipped, {status.verdict.why}; "
                         f"{status.verdict.remedy}")
    if not statuses:
        lines += _machine_gpus_lines(build)
    usable = [s.context for s in statuses if s.usable]
    lines.append(f"default device: {usable[0] if usable else mx.cpu()}")
    return "\n".join(lines)
