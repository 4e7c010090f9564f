"""How many CPU threads MXNet's operators use, and a better default than MXNet's own.

Left alone, MXNet 1.9 gives its operators (oneDNN's convolutions and BatchNorm among them)
half the processors on x86, assuming two hyper-threads per core (``src/engine/openmp.cc``:
``omp_get_num_procs() >> 1`` unless ``OMP_NUM_THREADS`` or ``MXNET_OMP_MAX_THREADS`` is set).
On a machine with one thread per core, such as the project's 2-core VMs, that leaves half
the cores idle: ``benchmarks/run.py`` measures the difference (README, "Performance").

Importing :mod:`gluon_densenet` before MXNet therefore sets ``MXNET_OMP_MAX_THREADS`` to the
number of *physical* cores this process may run on (as torch does), unless the user set
either variable. MXNet reads them once, when it is imported, so a process that imported
MXNet first keeps MXNet's default; :func:`thread_warning` says so and what to do.
This module does not import MXNet.
"""
from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DEFAULT_MARKER", "SHARED_MACHINE_SPINCOUNT", "SPIN_VARIABLES", "mxnet_threads",
           "physical_cores", "set_default_threads", "thread_warning", "threads_from_environment",
           "user_thread_setting", "without_package_default"]

#: The variables MXNet reads for its operators' thread count, in the order it prefers them.
THREAD_VARIABLES = ("MXNET_OMP_MAX_THREADS", "OMP_NUM_THREADS")

#: Set beside ``MXNET_OMP_MAX_THREADS`` when the value is the package's default, not the
#: user's choice, so that child processes (launched workers, benchmarks) can tell.
DEFAULT_MARKER = "GLUON_DENSENET_DEFAULT_THREADS"
#: The variables by which a user chooses how OpenMP threads wait (libgomp's and the standard one).
SPIN_VARIABLES = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")
#: A ``GOMP_SPINCOUNT`` for a machine whose cores other jobs share: waiting threads sleep
#: after 10,000 spins instead of libgomp's 300,000, so they leave the CPU to the thread they
#: wait for. Not a default: on free cores it is no clear gain (``benchmarks/contention.py``).
#: The test suite uses it (``tests/conftest.py``).
SHARED_MACHINE_SPINCOUNT = "10000"
#: The thread variables as they were when MXNet was (or will be) imported, as far as known.
_ENV_AT_MXNET_IMPORT: dict[str, str] | None = None


def _cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:              # not Linux
        return set(range(os.cpu_count() or 1))


def physical_cores() -> int:
    """Physical cores among the CPUs this process may run on (hyper-threads counted once).

    Read from Linux's ``/sys/devices/system/cpu/cpu*/topology``; elsewhere, or when it cannot
    be read, the number of logical CPUs.
    """
    cpus = _cpus()
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(),
                       (topology / "core_id").read_text().strip()))
        except OSError:
            return len(cpus)
    return max(1, len(cores))


def threads_from_environment(env: Mapping[str, str]) -> int:
    """The thread count MXNet 1.9 picks at import from ``env`` (``src/engine/openmp.cc``)."""
    for name in THREAD_VARIABLES:
        value = env.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    logical = len(_cpus())
    if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
        logical >>= 1                   # MXNet assumes two hyper-threads per core on x86
    return max(1, logical)


def user_thread_setting(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The thread variables the *user* set in ``env`` (default ``os.environ``), leaving out
    the default :func:`set_default_threads` added."""
    env = os.environ if env is None else env
    found = {name: env[name] for name in THREAD_VARIABLES if name in env}
    if DEFAULT_MARKER in env and found.get("MXNET_OMP_MAX_THREADS") == env[DEFAULT_MARKER]:
        del found["MXNET_OMP_MAX_THREADS"]
    return found


def without_package_default(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the package's default thread setting (for a child process that is
    given its own thread count)."""
    out = dict(env)
    if "MXNET_OMP_MAX_THREADS" not in user_thread_setting(out):
        out.pop("MXNET_OMP_MAX_THREADS", None)
    out.pop(DEFAULT_MARKER, None)
    return out


def set_default_threads() -> None:
    """Give MXNet one operator thread per physical core, unless the user chose a number or
    MXNet is already imported (then it is too late; see :func:`thread_warning`)."""
    global _ENV_AT_MXNET_IMPORT
    if "mxnet" in sys.modules:
        if _ENV_AT_MXNET_IMPORT is None:
            _ENV_AT_MXNET_IMPORT = {name: os.environ[name] for name in THREAD_VARIABLES
                                    if name in os.environ}
        return
    inherited = without_package_default(os.environ)      # a parent's default: decide afresh
    for name in ("MXNET_OMP_MAX_THREADS", DEFAULT_MARKER):
        if name not in inherited:
            os.environ.pop(name, None)
    if not user_thread_setting():
        os.environ["MXNET_OMP_MAX_THREADS"] = os.environ[DEFAULT_MARKER] = str(physical_cores())
    _ENV_AT_MXNET_IMPORT = {name: os.environ[name] for name in THREAD_VARIABLES
                            if name in os.environ}


def mxnet_threads() -> int:
    """The operator threads MXNet uses in this process: what it read when it was imported
    (or will read, if it is not imported yet)."""
    env = _ENV_AT_MXNET_IMPORT if _ENV_AT_MXNET_IMPORT is not None else os.environ
    return threads_from_environment(env)


def thread_warning() -> str | None:
    """One line saying how to use every core when MXNet uses fewer threads than there are
    physical cores and the user did not choose that; else None."""
    used, cores = mxnet_threads(), physical_cores()
    env = _ENV_AT_MXNET_IMPORT if _ENV_AT_MXNET_IMPORT is not None else os.environ
    if used >= cores or user_thread_setting(env):
        return None
    return (f"MXNet uses {used} of {cores} CPU cores because it was imported before "
            f"gluon_densenet; import gluon_densenet first or set MXNET_OMP_MAX_THREADS={cores} "
            "before starting Python (README: Performance).")
