"""Install-time GPU support for ``scripts/install.sh``: which MXNet wheel to install, and
pointing ``mxnet-cu112``'s ``libmxnet.so`` at pip's CUDA libraries.

    python -P scripts/gpu_wheel.py choose [auto|cpu|gpu]   # the variant, then one line why
    python -P scripts/gpu_wheel.py link SITE_PACKAGES PATCHELF

It runs with the bare Python before MXNet is installed, so it cannot import
``gluon_densenet`` (whose import checks for MXNet): it loads the package's standard-library
GPU survey, ``gluon_densenet/runtime/gpus.py``, by its path.
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path


def _load_gpus():
    if "gluon_densenet.runtime.gpus" in sys.modules:      # imported with the package already
        return sys.modules["gluon_densenet.runtime.gpus"]
    path = Path(__file__).resolve().parent.parent / "gluon_densenet" / "runtime" / "gpus.py"
    spec = importlib.util.spec_from_file_location("gluon_densenet_gpus", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module         # dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


gpus = _load_gpus()
Survey, WHEEL, describe_gpu, survey_gpus, verdict = (
    gpus.Survey, gpus.WHEEL, gpus.describe_gpu, gpus.survey_gpus, gpus.verdict)


def choose_wheel(survey: Survey, forced: str | None = None) -> tuple[str, list[str]]:
    """Which MXNet wheel ``scripts/install.sh`` should install, and the lines saying why.

    Args:
        survey: what :func:`survey_gpus` found.
        forced: ``"cpu"`` or ``"gpu"`` when ``MXNET_VARIANT`` says so, else ``None``.

    Returns:
        ``("cpu" | "gpu", lines)``: the first line says what is installed and why; later
        lines (only when a forced choice overrides the evidence) warn.
    """
    if not survey.gpus:
        variant = forced or "cpu"
        lines = [f"MXNet for {variant}: no NVIDIA GPU found ({survey.problem})"]
        if forced == "gpu":
            lines.append(f"warning: MXNET_VARIANT=gpu installs {WHEEL} anyway; it needs an "
                         "NVIDIA driver to import")
        return variant, lines
    verdicts = [(gpu, verdict(gpu)) for gpu in survey.gpus]
    runs = [(g, v) for g, v in verdicts if v.usable]
    unknown = [(g, v) for g, v in verdicts if v.usable is None]
    refused = [(g, v) for g, v in verdicts if v.usable is False]
    if runs:
        gpu, v = runs[0]
        auto, why = "gpu", f"GPU {gpu.index} {describe_gpu(gpu)}: {v.why}"
    elif unknown:
        gpu, v = unknown[0]
        auto, why = "gpu", (f"GPU {gpu.index} {gpu.name}: {v.why}; "
                            "gluon-densenet checks it again when MXNet starts")
    else:
        gpu, v = refused[0]
        auto, why = "cpu", (f"GPU {gpu.index} {describe_gpu(gpu)} cannot run {WHEEL}: "
                            f"{v.why}; {v.remedy}")
    variant = forced or auto
    lines = [f"MXNet for {variant}: {why}"]
    if forced and forced != auto:
        lines[0] = f"MXNet for {variant} (MXNET_VARIANT={forced})"
        lines.append(f"warning: the automatic choice would be {auto}: {why}")
    for gpu, v in refused if runs or unknown else refused[1:]:
        lines.append(f"note: GPU {gpu.index} {describe_gpu(gpu)} will be skipped: {v.why}")
    return variant, lines



def link_cuda_libraries(site_packages: Path, patchelf: str) -> list[str]:
    """Point the installed ``libmxnet.so`` at the CUDA libraries of the ``nvidia-*-cu11`` wheels.

    The mxnet-cu112 wheel bundles no CUDA library; it links ``libcudart.so.11.0``,
    ``libcudnn.so.8``, ``libnccl.so.2`` and others by name. The ``gpu`` extra installs them
    from NVIDIA's pip wheels under ``site-packages/nvidia/*/lib``; this adds those folders to
    ``libmxnet.so``'s run path (with ``patchelf``), once.

    Args:
        site_packages: the folder that holds ``mxnet/`` and ``nvidia/``.
        patchelf: the ``patchelf`` program.

    Returns:
        The folders added (empty when already linked).

    Raises:
        RuntimeError: ``libmxnet.so`` is missing, or a CUDA library it needs is not installed.
    """
    lib = site_packages / "mxnet" / "libmxnet.so"
    if not lib.is_file():
        raise RuntimeError(f"{lib} not found: install {WHEEL} first")

    def run(*args: str) -> str:
        return subprocess.run([patchelf, *args, str(lib)], check=True, capture_output=True,
                              text=True).stdout

    needed = run("--print-needed").split()
    provided = {so.name: so.parent for so in (site_packages / "nvidia").glob("*/lib/*.so*")}
    cuda_like = re.compile(r"lib(cuda|cudart|cudnn|cublas|cufft|curand|cusolver|nvrtc|nccl|"
                           r"nvToolsExt)\b")
    missing = [n for n in needed if n not in provided and cuda_like.match(n)
               and n != "libcuda.so.1"]           # libcuda.so.1 comes with the driver
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not found under {site_packages / 'nvidia'}; "
                           "reinstall with the gpu extra (pip install -e '.[gpu]')")
    wanted = sorted({f"$ORIGIN/../nvidia/{provided[n].parent.name}/lib" for n in needed
                     if n in provided})
    present = run("--print-rpath").strip().split(":")
    new = [d for d in wanted if d not in present]
    if new:
        run("--add-rpath", ":".join(new))
    return new


def main(argv: list[str]) -> int:
    """``choose [cpu|gpu|auto]``: print the wheel to install, then why (one line each).
    ``link SITE_PACKAGES PATCHELF``: :func:`link_cuda_libraries`."""
    if argv[:1] == ["choose"] and len(argv) <= 2:
        wanted = argv[1] if len(argv) == 2 else "auto"
        if wanted not in ("auto", "cpu", "gpu"):
            print(f"error: MXNET_VARIANT must be auto, cpu or gpu (got {wanted!r})",
                  file=sys.stderr)
            return 2
        forced = None if wanted == "auto" else wanted
        if forced == "cpu":
            print("cpu\nMXNet for cpu (MXNET_VARIANT=cpu)")
            return 0
        variant, lines = choose_wheel(survey_gpus(), forced)
        print("\n".join([variant, *lines]))
        return 0
    if argv[:1] == ["link"] and len(argv) == 3:
        try:
            added = link_cuda_libraries(Path(argv[1]), argv[2])
        except (RuntimeError, subprocess.CalledProcessError, OSError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"linked libmxnet.so to {', '.join(added)}" if added
              else "libmxnet.so already finds the CUDA libraries")
        return 0
    print("usage: gpu_wheel.py choose [auto|cpu|gpu] | link SITE_PACKAGES PATCHELF",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
