"""Which GPUs the mxnet-cu112 wheel runs on: detection through a stand-in nvidia-smi, the
verdict per compute capability, the install-time choice, and linking pip's CUDA libraries."""
import ctypes
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gluon_densenet.runtime import gpus as gpu_support
from gluon_densenet.runtime.gpus import GPU, Survey, survey_gpus, verdict
from scripts import gpu_wheel
from scripts.gpu_wheel import choose_wheel
from tests import gpu_machines
from tests.gpu_machines import A100, H100, MACHINES, RTX4090, V100_OLD_DRIVER, second
from tests.time_limits import limit

ROOT = Path(__file__).resolve().parents[1]


class FakeLibcuda:
    """The CUDA driver API calls :func:`gpu_support.libcuda_devices` makes, answered from a list."""

    def __init__(self, devices, fail_init=False):
        self.devices, self.fail_init = devices, fail_init

    def cuInit(self, flags):
        return 100 if self.fail_init else 0          # CUDA_ERROR_NO_DEVICE

    def cuDeviceGetCount(self, count):
        count._obj.value = len(self.devices)
        return 0

    def cuDeviceGet(self, device, ordinal):
        device._obj.value = ordinal
        return 0

    def cuDeviceGetAttribute(self, value, attribute, device):
        major, minor = self.devices[device.value][1]
        value._obj.value = {75: major, 76: minor}[attribute]
        return 0

    def cuDeviceGetPCIBusId(self, buffer, size, device):
        buffer.value = self.devices[device.value][0].encode()
        return 0


@pytest.fixture(autouse=True)
def no_real_driver(monkeypatch):
    """Whatever this machine has, the tests see only their stand-ins."""
    monkeypatch.setattr(gpu_support, "_load_libcuda", lambda: None)


def machine(tmp_path, monkeypatch, name):
    return gpu_machines.install(tmp_path, monkeypatch, MACHINES[name])


# ------------------------------------------------------------------------ detection
@pytest.mark.parametrize("name, capability, driver", [
    ("sm_80", (8, 0), "535.104.05"),
    ("sm_89", (8, 9), "550.54.14"),
    ("sm_90", (9, 0), "550.54.15"),
    ("old driver", None, "470.82.01"),
])
def test_survey_reads_each_gpu(tmp_path, monkeypatch, name, capability, driver):
    log = machine(tmp_path, monkeypatch, name)
    survey = survey_gpus()
    assert survey.problem == "" and len(survey.gpus) == 1
    gpu = survey.gpus[0]
    assert (gpu.capability, gpu.driver, gpu.index) == (capability, driver, 0)
    assert gpu.name == MACHINES[name]["gpus"][0]["name"]
    assert gpu.memory_mib == MACHINES[name]["gpus"][0]["memory.total"]
    calls = log.read_text().splitlines()
    assert "compute_cap" in calls[0]
    if name == "old driver":          # asked again without the field it does not know
        assert len(calls) == 2 and "compute_cap" not in calls[1]
        assert "no compute_cap field" in gpu.unknown_because
    else:
        assert len(calls) == 1


def test_old_driver_asks_the_cuda_driver_by_pci_bus(tmp_path, monkeypatch):
    spec = {**MACHINES["old driver"],
            "gpus": [V100_OLD_DRIVER, second(V100_OLD_DRIVER, name="Tesla K80")]}
    gpu_machines.install(tmp_path, monkeypatch, spec)
    # CUDA numbers them the other way round, and writes the bus id its own way
    fake = FakeLibcuda([("0000:99:00.0", (3, 7)), ("0000:00:1e.0", (7, 0))])
    monkeypatch.setattr(gpu_support, "_load_libcuda", lambda: fake)
    gpus = survey_gpus().gpus
    assert [g.capability for g in gpus] == [(7, 0), (3, 7)]
    assert [verdict(g).usable for g in gpus] == [True, False]     # the K80 is Kepler


@pytest.mark.parametrize("name, problem", [
    ("no GPU (no nvidia-smi)", "nvidia-smi is not installed"),
    ("no GPU (no driver)", "nvidia-smi: NVIDIA-SMI has failed because it couldn't communicate"),
])
def test_no_gpu(tmp_path, monkeypatch, name, problem):
    machine(tmp_path, monkeypatch, name)
    survey = survey_gpus()
    assert survey.gpus == () and survey.problem.startswith(problem)


def test_gpu_listed_but_none_found(tmp_path, monkeypatch):
    gpu_machines.install(tmp_path, monkeypatch, {"gpus": []})
    assert survey_gpus() == Survey((), "nvidia-smi: No devices were found")


def test_unreadable_answer_is_a_problem_not_a_crash(tmp_path, monkeypatch):
    gpu_machines.install(tmp_path, monkeypatch, {"gpus": [{**A100, "index": "GPU0"}]})
    survey = survey_gpus()
    assert survey.gpus == () and "cannot read nvidia-smi's line" in survey.problem


def test_libcuda_devices_reads_the_driver_api(monkeypatch):
    fake = FakeLibcuda([("0000:07:00.0", (8, 0)), ("0000:18:00.0", (9, 0))])
    monkeypatch.setattr(gpu_support, "_load_libcuda", lambda: fake)
    assert gpu_support.libcuda_devices() == [("0000:07:00.0", (8, 0)), ("0000:18:00.0", (9, 0))]
    monkeypatch.setattr(gpu_support, "_load_libcuda", lambda: FakeLibcuda([], fail_init=True))
    assert gpu_support.libcuda_devices() is None


def test_fake_libcuda_speaks_ctypes():
    """The fake is called exactly as the real library would be (``byref`` of ``c_int``)."""
    count = ctypes.c_int()
    assert FakeLibcuda([("0000:01:00.0", (8, 6))]).cuDeviceGetCount(ctypes.byref(count)) == 0
    assert count.value == 1


# ------------------------------------------------------------------------- verdicts
@pytest.mark.parametrize("capability, usable, generation", [
    ((3, 7), False, "Kepler"),       # Tesla K80: older than the oldest code, sm_50
    ((5, 0), True, "Maxwell"),
    ((5, 2), True, "Maxwell"),       # runs sm_50 code
    ((6, 1), True, "Pascal"),        # GTX 10-series: sm_60 code
    ((7, 0), True, "Volta"),
    ((7, 5), True, "Turing"),        # sm_70 code
    ((8, 0), True, "Ampere"),
    ((8, 6), True, "Ampere"),
    ((8, 9), True, "Ada"),           # sm_86 code, binary-compatible within 8.x
    ((9, 0), False, "Hopper"),
    ((10, 0), False, "Blackwell"),   # B200
    ((12, 0), False, "Blackwell"),   # RTX 50-series
])
def test_verdict_by_compute_capability(capability, usable, generation):
    gpu = GPU(index=0, name="x", capability=capability, driver="550.54.15")
    v = verdict(gpu)
    assert v.usable is usable
    assert gpu_support.generation(capability) == generation
    assert (v.remedy == "") is usable
    if capability == (8, 9):
        assert "sm_86 code" in v.why and "8.x" in v.why
    if capability >= (9, 0):
        assert "stops at sm_86" in v.why and "no PTX" in v.why
        assert f"build MXNet from source with sm_{capability[0]}{capability[1]}" in v.remedy


def test_verdict_on_an_old_driver_and_an_unknown_capability():
    old = verdict(GPU(index=0, name="x", capability=(8, 0), driver="455.32.00"))
    assert old.usable is False and "older than 460.27.03" in old.why
    assert "update the NVIDIA driver" in old.remedy
    unknown = verdict(GPU(index=0, name="x", capability=None, driver="470.82.01",
                          unknown_because="no compute_cap"))
    assert unknown.usable is None and "compute capability unknown (no compute_cap)" in unknown.why


# ---------------------------------------------------------------- the install choice
def gpu(spec, capability=...):
    cap = gpu_support._parse_capability(spec.get("compute_cap", "")) if capability is ... \
        else capability
    return GPU(index=spec["index"], name=spec["name"], capability=cap,
               driver=spec["driver_version"], memory_mib=spec["memory.total"])


@pytest.mark.parametrize("gpus, forced, variant, first, later", [
    ([gpu(A100)], None, "gpu", "MXNet for gpu: GPU 0 NVIDIA A100-SXM4-40GB (sm_80, Ampere, "
                               "40.0 GiB): the wheel has sm_80 code", []),
    ([gpu(RTX4090)], None, "gpu", "runs the wheel's sm_86 code", []),
    ([gpu(H100)], None, "cpu", "MXNet for cpu: GPU 0 NVIDIA H100 80GB HBM3 (sm_90, Hopper, "
                               "79.6 GiB) cannot run mxnet-cu112 1.9.1", []),
    ([gpu(H100)], "gpu", "gpu", "MXNet for gpu (MXNET_VARIANT=gpu)",
     ["warning: the automatic choice would be cpu"]),
    ([gpu(V100_OLD_DRIVER)], None, "gpu", "compute capability unknown", []),
    ([gpu(A100), gpu(second(H100))], None, "gpu", "GPU 0 NVIDIA A100",
     ["note: GPU 1 NVIDIA H100 80GB HBM3 (sm_90, Hopper, 79.6 GiB) will be skipped"]),
    ([gpu(A100)], "cpu", "cpu", "MXNet for cpu (MXNET_VARIANT=cpu)",
     ["warning: the automatic choice would be gpu"]),
])
def test_choose_wheel(gpus, forced, variant, first, later):
    got, lines = choose_wheel(Survey(tuple(gpus)), forced)
    assert got == variant
    assert first in lines[0]
    assert len(lines) == 1 + len(later)
    for line, start in zip(lines[1:], later):
        assert line.startswith(start)


def test_choose_wheel_without_gpu():
    assert choose_wheel(Survey((), "nvidia-smi is not installed")) == (
        "cpu", ["MXNet for cpu: no NVIDIA GPU found (nvidia-smi is not installed)"])


@pytest.mark.parametrize("name, variant, says", [
    ("sm_80", "gpu", "the wheel has sm_80 code"),
    ("sm_89", "gpu", "runs the wheel's sm_86 code"),
    ("sm_90", "cpu", "cannot run mxnet-cu112 1.9.1: the wheel's code stops at sm_86"),
    ("old driver", "gpu", "compute capability unknown"),
    ("no GPU (no nvidia-smi)", "cpu", "no NVIDIA GPU found (nvidia-smi is not installed)"),
    ("no GPU (no driver)", "cpu", "no NVIDIA GPU found (nvidia-smi: NVIDIA-SMI has failed"),
])
def test_install_script_chooses(tmp_path, monkeypatch, name, variant, says):
    """``scripts/install.sh --choose`` on each simulated machine: one line, the right wheel."""
    machine(tmp_path, monkeypatch, name)
    monkeypatch.delenv("MXNET_VARIANT", raising=False)
    done = subprocess.run(["bash", str(ROOT / "scripts" / "install.sh"), "--choose"],
                          env={**os.environ, "PYTHON": sys.executable},
                          capture_output=True, text=True, timeout=limit(300))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"MXNet for {variant}: ") and says in lines[0]


def test_install_script_refuses_a_bad_variant(tmp_path, monkeypatch):
    machine(tmp_path, monkeypatch, "sm_80")
    done = subprocess.run(["bash", str(ROOT / "scripts" / "install.sh"), "--choose"],
                          env={**os.environ, "PYTHON": sys.executable, "MXNET_VARIANT": "cuda"},
                          capture_output=True, text=True, timeout=limit(300))
    assert done.returncode == 2
    assert done.stderr.strip() == "error: MXNET_VARIANT must be auto, cpu or gpu (got 'cuda')"


# ------------------------------------------------------------------- CUDA's device order
def test_cuda_order_follows_cuda_visible_devices():
    a, b = gpu(A100), gpu(second(H100))
    a = GPU(**{**a.__dict__, "uuid": A100["uuid"]})
    b = GPU(**{**b.__dict__, "uuid": "GPU-h100h100-0000-1111-2222-333344449999"})
    survey = Survey((a, b))
    assert gpu_support.cuda_order(survey) == [a, b]
    assert gpu_support.cuda_order(survey, "1,0") == [b, a]
    assert gpu_support.cuda_order(survey, "GPU-h100") == [b]
    assert gpu_support.cuda_order(survey, "0,7,1") == [a]          # CUDA stops at 7
    assert gpu_support.cuda_order(survey, "") == []


def test_cuda_order_from_the_driver_wins():
    a = GPU(index=0, name="A", capability=None, bus_id="00000000:07:00.0")
    b = GPU(index=1, name="B", capability=None, bus_id="00000000:18:00.0")
    ordered = gpu_support.cuda_order(Survey((a, b)), "0,1",
                                     [("0000:18:00.0", (9, 0)), ("0000:07:00.0", (8, 0))])
    assert [(g.name, g.capability) for g in ordered] == [("B", (9, 0)), ("A", (8, 0))]


# -------------------------------------------------------------- linking CUDA libraries
NEEDED = ["libdl.so.2", "libcudnn.so.8", "libcuda.so.1", "libnccl.so.2", "libcudart.so.11.0"]


def fake_patchelf(tmp_path, rpath="${ORIGIN}"):
    """A stand-in ``patchelf``: answers --print-needed/--print-rpath, records --add-rpath."""
    state = tmp_path / "rpath"
    state.write_text(rpath)
    exe = tmp_path / "patchelf"
    exe.write_text(f"""#!/bin/sh
case "$1" in
  --print-needed) printf '%s\\n' {' '.join(NEEDED)} ;;
  --print-rpath) cat "{state}" ;;
  --add-rpath) printf '%s:%s' "$(cat "{state}")" "$2" > "{state}" ;;
esac
""")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe, state


def site_packages(tmp_path, libs):
    site = tmp_path / "site"
    (site / "mxnet").mkdir(parents=True)
    (site / "mxnet" / "libmxnet.so").write_bytes(b"\x7fELF")
    for package, name in libs:
        (site / "nvidia" / package / "lib").mkdir(parents=True, exist_ok=True)
        (site / "nvidia" / package / "lib" / name).write_bytes(b"\x7fELF")
    return site


def test_link_adds_each_library_folder_once(tmp_path):
    site = site_packages(tmp_path, [("cudnn", "libcudnn.so.8"), ("nccl", "libnccl.so.2"),
                                    ("cuda_runtime", "libcudart.so.11.0")])
    patchelf, state = fake_patchelf(tmp_path)
    added = gpu_wheel.link_cuda_libraries(site, str(patchelf))
    assert added == ["$ORIGIN/../nvidia/cuda_runtime/lib", "$ORIGIN/../nvidia/cudnn/lib",
                     "$ORIGIN/../nvidia/nccl/lib"]
    assert state.read_text() == "${ORIGIN}:" + ":".join(added)
    assert gpu_wheel.link_cuda_libraries(site, str(patchelf)) == []     # already linked


def test_link_names_a_missing_library(tmp_path):
    site = site_packages(tmp_path, [("cudnn", "libcudnn.so.8")])
    patchelf, state = fake_patchelf(tmp_path)
    with pytest.raises(RuntimeError, match=r"libnccl.so.2, libcudart.so.11.0 not found"):
        gpu_wheel.link_cuda_libraries(site, str(patchelf))
    assert state.read_text() == "${ORIGIN}"                                 # nothing changed
    with pytest.raises(RuntimeError, match="libmxnet.so not found"):
        gpu_wheel.link_cuda_libraries(tmp_path / "nowhere", str(patchelf))
