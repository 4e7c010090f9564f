"""Which NVIDIA GPUs the ``mxnet-cu112==1.9.1`` wheel can run on, found without MXNet.

The wheel's ``libmxnet.so`` holds machine code (cubins) for a fixed list of GPU
architectures and no PTX (``cuobjdump --list-elf`` / ``--list-ptx``, README "GPUs"). A GPU
runs a cubin built for the same major compute capability and an equal or lower minor one,
so the wheel serves compute capability 5.0 to 8.9 (Maxwell to Ada) and nothing newer.

Standard library only, for two users: :mod:`gluon_densenet.runtime.devices` decides with it
which of MXNet's GPUs it may hand out, and ``scripts/gpu_wheel.py`` (the install script's
wheel choice) loads this file before MXNet exists.
"""
from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from dataclasses import dataclass, replace

#: (major, minor) of every cubin in mxnet-cu112 1.9.1's libmxnet.so; it carries no PTX.
WHEEL_ARCHITECTURES: tuple[tuple[int, int], ...] = ((5, 0), (6, 0), (7, 0), (8, 0), (8, 6))
#: The CUDA version the wheel was built with, and that release's minimum Linux driver
#: (CUDA 11.2.0 release notes, "CUDA Toolkit and Corresponding Driver Versions").
WHEEL_CUDA = "11.2"
MIN_DRIVER: tuple[int, ...] = (460, 27, 3)
WHEEL = "mxnet-cu112 1.9.1"
README_GPUS = "README, section GPUs"

NVIDIA_SMI_TIMEOUT_S = 30           # a wedged driver can make nvidia-smi hang
_FIELDS = ("index", "uuid", "pci.bus_id", "driver_version", "memory.total", "compute_cap",
           "name")                  # name last: the only field that may contain ", "
_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75    # from CUDA's cuda.h
_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76


@dataclass(frozen=True)
class GPU:
    """One NVIDIA GPU as ``nvidia-smi`` (and, if needed, the CUDA driver) reports it.

    Attributes:
        index: ``nvidia-smi``'s index (PCI bus order).
        name: product name, e.g. ``"NVIDIA A100-SXM4-40GB"``.
        capability: compute capability ``(major, minor)``, or ``None`` if it could not be
            found (see ``unknown_because``).
        driver: the driver version, e.g. ``"535.104.05"``.
        memory_mib: total memory in MiB, or ``None`` if not reported.
        uuid: ``"GPU-…"``, as ``CUDA_VISIBLE_DEVICES`` may name it.
        bus_id: PCI bus id, ``"00000000:07:00.0"``.
        unknown_because: why ``capability`` is ``None``.
    """

    index: int
    name: str
    capability: tuple[int, int] | None
    driver: str = ""
    memory_mib: int | None = None
    uuid: str = ""
    bus_id: str = ""
    unknown_because: str = ""

    @property
    def arch(self) -> str:
        """``"sm_80"`` for compute capability 8.0, ``"sm_?"`` when unknown."""
        return f"sm_{self.capability[0]}{self.capability[1]}" if self.capability else "sm_?"


@dataclass(frozen=True)
class Verdict:
    """Whether the wheel can run on a GPU.

    Attributes:
        usable: ``True`` or ``False``; ``None`` when the compute capability is unknown.
        why: one clause saying why, e.g. ``"the wheel has sm_80 code"``.
        remedy: what to do instead when ``usable`` is not ``True`` (else ``""``).
    """

    usable: bool | None
    why: str
    remedy: str = ""


@dataclass(frozen=True)
class Survey:
    """What ``nvidia-smi`` found.

    Attributes:
        gpus: the GPUs, in ``nvidia-smi`` order; empty when there are none.
        problem: why the list is empty (no ``nvidia-smi``, no driver, no GPU), else ``""``.
    """

    gpus: tuple[GPU, ...]
    problem: str = ""


# ----------------------------------------------------------------------- the decision
def generation(capability: tuple[int, int]) -> str:
    """NVIDIA's architecture name for a compute capability, e.g. ``(8, 9)`` → ``"Ada"``."""
    major, minor = capability
    if major == 7:
        return "Turing" if minor >= 5 else "Volta"
    if major == 8:
        return "Ada" if minor == 9 else "Ampere"
    names = {2: "Fermi", 3: "Kepler", 5: "Maxwell", 6: "Pascal", 9: "Hopper", 10: "Blackwell",
             11: "Blackwell", 12: "Blackwell"}
    return names.get(major, "unknown generation")


def wheel_cubin(capability: tuple[int, int]) -> tuple[int, int] | None:
    """The wheel's cubin a GPU of this compute capability runs, or ``None``.

    A cubin for ``sm_XY`` runs on compute capability ``X.Z`` for every ``Z >= Y`` (CUDA C++
    Programming Guide, "Binary Compatibility"); newer majors would need PTX, which the wheel
    lacks.
    """
    major, minor = capability
    fits = [arch for arch in WHEEL_ARCHITECTURES if arch[0] == major and arch[1] <= minor]
    return max(fits) if fits else None


def _version_tuple(version: str) -> tuple[int, ...] | None:
    parts = re.findall(r"\d+", version)
    return tuple(int(p) for p in parts) if parts else None


def _sm(arch: tuple[int, int]) -> str:
    return f"sm_{arch[0]}{arch[1]}"


def verdict(gpu: GPU) -> Verdict:
    """Whether :data:`WHEEL` can run on ``gpu``, why, and what to do if not."""
    driver = _version_tuple(gpu.driver)
    if driver is not None and driver < MIN_DRIVER:
        need = ".".join(f"{p:02d}" if i else str(p) for i, p in enumerate(MIN_DRIVER))
        return Verdict(False, f"driver {gpu.driver} is older than {need}, the minimum for "
                              f"CUDA {WHEEL_CUDA}",
                       f"update the NVIDIA driver to {need} or newer, or use the CPU")
    if gpu.capability is None:
        return Verdict(None, f"compute capability unknown ({gpu.unknown_because})",
                       f"the wheel runs compute capability 5.0 to 8.9; {README_GPUS}")
    cubin = wheel_cubin(gpu.capability)
    if cubin == gpu.capability:
        return Verdict(True, f"the wheel has {gpu.arch} code")
    if cubin is not None:
        return Verdict(True, f"runs the wheel's {_sm(cubin)} code (binary-compatible within "
                             f"compute capability {cubin[0]}.x)")
    oldest, newest = _sm(WHEEL_ARCHITECTURES[0]), _sm(WHEEL_ARCHITECTURES[-1])
    if gpu.capability < WHEEL_ARCHITECTURES[0]:
        why = f"{gpu.arch} is older than the wheel's oldest code, {oldest}"
    else:
        why = (f"the wheel's code stops at {newest} and it has no PTX that the driver could "
               f"compile for {gpu.arch}")
    return Verdict(False, why, f"use the CPU, or build MXNet from source with {gpu.arch} "
                               f"added ({README_GPUS})")


def describe_gpu(gpu: GPU) -> str:
    """``"NVIDIA A100-SXM4-40GB (sm_80, Ampere, 40.0 GiB)"``."""
    parts = [gpu.arch]
    if gpu.capability:
        parts.append(generation(gpu.capability))
    if gpu.memory_mib:
        parts.append(f"{gpu.memory_mib / 1024:.1f} GiB")
    return f"{gpu.name} ({', '.join(parts)})"


# ------------------------------------------------------------------------- detection
def _run_smi(exe: str, fields: tuple[str, ...]) -> tuple[int, str]:
    cmd = [exe, f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return -1, f"nvidia-smi did not answer within {NVIDIA_SMI_TIMEOUT_S} s"
    except OSError as err:
        return -1, f"nvidia-smi could not be run: {err}"
    return done.returncode, (done.stdout + "\n" + done.stderr).strip()


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no output")


def _parse_capability(text: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"\s*(\d+)\.(\d+)\s*", text)
    return (int(match[1]), int(match[2])) if match else None


def _parse_rows(output: str, fields: tuple[str, ...]) -> list[dict[str, str]]:
    rows = []
    for line in output.splitlines():
        if not line.strip():
            continue
        values = [v.strip() for v in line.split(",", len(fields) - 1)]
        if len(values) != len(fields) or not values[0].isdigit():
            raise ValueError(f"cannot read nvidia-smi's line {line.strip()!r}")
        rows.append(dict(zip(fields, values, strict=True)))
    return rows


def _bus_key(bus_id: str) -> tuple[int, ...] | None:
    """``"00000000:07:00.0"`` (nvidia-smi) and ``"0000:07:00.0"`` (CUDA) → ``(0, 7, 0, 0)``."""
    match = re.fullmatch(r"\s*([0-9a-fA-F]+):([0-9a-fA-F]+):([0-9a-fA-F]+)\.([0-9a-fA-F]+)\s*",
                         bus_id)
    return tuple(int(p, 16) for p in match.groups()) if match else None


def _load_libcuda():
    """The CUDA driver library, or ``None`` where there is none (no driver installed)."""
    try:
        return ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None


def libcuda_devices() -> list[tuple[str, tuple[int, int]]] | None:
    """Every GPU CUDA shows this process, in CUDA's order (MXNet's ``gpu(i)``).

    Asks the driver API (``cuDeviceGetAttribute``), which every driver has, including those
    whose ``nvidia-smi`` predates the ``compute_cap`` field.

    Returns:
        ``[(pci_bus_id, (major, minor)), …]``, or ``None`` when the driver library is
        missing or refuses (no GPU, no driver).
    """
    lib = _load_libcuda()
    if lib is None or lib.cuInit(0) != 0:
        return None
    count = ctypes.c_int()
    if lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return None
    found = []
    for ordinal in range(count.value):
        device, major, minor = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        bus = ctypes.create_string_buffer(64)
        status = (lib.cuDeviceGet(ctypes.byref(device), ordinal)
                  or lib.cuDeviceGetAttribute(ctypes.byref(major),
                                              _CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                                              device)
                  or lib.cuDeviceGetAttribute(ctypes.byref(minor),
                                              _CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                                              device)
                  or lib.cuDeviceGetPCIBusId(bus, len(bus), device))
        if status != 0:
            return None
        found.append((bus.value.decode(), (major.value, minor.value)))
    return found


def survey_gpus() -> Survey:
    """The GPUs ``nvidia-smi`` lists, each with its compute capability.

    ``nvidia-smi --query-gpu=…,compute_cap`` gives the capability on drivers from the 510
    series on; older ones reject the field, and then the CUDA driver library is asked
    (:func:`libcuda_devices`), matched by PCI bus id.
    """
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return Survey((), "nvidia-smi is not installed")
    status, output = _run_smi(exe, _FIELDS)
    fields = _FIELDS
    fallback = status != 0 and "compute_cap" in output
    if fallback:                     # e.g. 'Field "compute_cap" is not a valid field to query.'
        fields = tuple(f for f in _FIELDS if f != "compute_cap")
        status, output = _run_smi(exe, fields)
    if status != 0:
        return Survey((), f"nvidia-smi: {_first_line(output)}")
    try:
        rows = _parse_rows(output, fields)
    except ValueError as err:
        return Survey((), str(err))
    if not rows:
        return Survey((), "nvidia-smi lists no GPU")
    from_driver = {}
    if fallback:
        from_driver = {_bus_key(bus): cap for bus, cap in libcuda_devices() or []}
    gpus = []
    for row in rows:
        memory = row["memory.total"]
        gpu = GPU(index=int(row["index"]), name=row["name"], capability=None,
                  driver=row["driver_version"], uuid=row["uuid"], bus_id=row["pci.bus_id"],
                  memory_mib=int(memory) if memory.isdigit() else None)
        if not fallback:
            capability = _parse_capability(row["compute_cap"])
            gpu = replace(gpu, capability=capability, unknown_because="" if capability else
                          f"nvidia-smi reports compute_cap {row['compute_cap']!r}")
        elif _bus_key(gpu.bus_id) in from_driver:
            gpu = replace(gpu, capability=from_driver[_bus_key(gpu.bus_id)])
        else:
            gpu = replace(gpu, unknown_because=f"nvidia-smi of driver {gpu.driver} has no "
                                               "compute_cap field, and libcuda.so.1 gave no answer")
        gpus.append(gpu)
    return Survey(tuple(gpus))


def cuda_order(survey: Survey, visible: str | None = None,
               driver_order: list[tuple[str, tuple[int, int]]] | None = None) -> list[GPU]:
    """The surveyed GPUs in CUDA's order, the order of MXNet's ``gpu(0)``, ``gpu(1)``, ….

    Args:
        survey: what :func:`survey_gpus` found.
        visible: ``CUDA_VISIBLE_DEVICES`` (indices or ``GPU-`` uuids); ``None`` for all.
        driver_order: :func:`libcuda_devices`' answer when the driver library is available;
            it is CUDA's own order and wins over ``visible``.

    Returns:
        The GPUs, one per CUDA device. Without ``driver_order``, CUDA is assumed to number
        the visible GPUs as ``nvidia-smi`` does (PCI bus order, ``CUDA_DEVICE_ORDER=PCI_BUS_ID``).
    """
    if driver_order is not None:
        by_bus = {_bus_key(g.bus_id): g for g in survey.gpus}
        ordered = []
        for ordinal, (bus, capability) in enumerate(driver_order):
            gpu = by_bus.get(_bus_key(bus)) or GPU(index=ordinal, name="NVIDIA GPU",
                                                   capability=capability, bus_id=bus)
            ordered.append(replace(gpu, capability=capability, unknown_because=""))
        return ordered
    if visible is None:
        return list(survey.gpus)
    ordered = []
    for token in (t.strip() for t in visible.split(",")):
        if token.isdigit():
            match = [g for g in survey.gpus if g.index == int(token)]
        elif token.startswith("GPU-"):
            match = [g for g in survey.gpus if g.uuid.startswith(token)]
        else:
            match = []
        if len(match) != 1:          # CUDA stops at the first entry it cannot use
            break
        ordered.append(match[0])
    return ordered
