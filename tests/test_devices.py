"""Device helpers: a CPU-only build, a missing driver, and simulated CUDA machines whose GPUs
are described by a stand-in nvidia-smi (tests/gpu_machines.py)."""
import warnings

import mxnet as mx
import pytest

from gluon_densenet.cli import main
from gluon_densenet.runtime import devices
from gluon_densenet.runtime import gpus as gpu_support
from gluon_densenet.training import train
from tests import gpu_machines
from tests.gpu_machines import A100, H100, MACHINES, RTX4090, second


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    """No cached nvidia-smi answer, no real CUDA driver, no warning remembered."""
    devices._survey.cache_clear()
    monkeypatch.setattr(gpu_support, "_load_libcuda", lambda: None)
    monkeypatch.setattr(devices, "_warned", set())
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    yield
    devices._survey.cache_clear()


def cuda_wheel(monkeypatch, n_gpus, free=(30 * 2**30, 40 * 2**30)):
    """Pretend MXNet is the mxnet-cu112 wheel and sees ``n_gpus`` GPUs."""
    monkeypatch.setattr(devices.mx.context, "num_gpus", lambda: n_gpus)
    monkeypatch.setattr(devices, "mxnet_build", lambda: "cuda")
    monkeypatch.setattr(devices, "is_cu112_wheel", lambda: True)
    monkeypatch.setattr(devices.mx.context, "gpu_memory_info", lambda i: free)


def test_cpu_only_machine_falls_back(monkeypatch):
    monkeypatch.setattr(devices.mx.context, "num_gpus", lambda: 0)
    assert devices.try_gpu() == mx.cpu()
    assert devices.try_all_gpus() == [mx.cpu()]
    assert devices.gpu_memory_info() is None
    assert devices.gpu_status() == []
    assert "default device: cpu(0)" in devices.describe_devices()


def test_missing_driver_does_not_crash(monkeypatch):
    def broken():
        raise mx.base.MXNetError("CUDA: no CUDA-capable device is detected")
    monkeypatch.setattr(devices.mx.context, "num_gpus", broken)
    assert devices.num_gpus() == 0
    assert devices.try_gpu(1) == mx.cpu()


def test_unidentified_gpus_are_used(monkeypatch, tmp_path):
    """No nvidia-smi and no driver answer: MXNet's own count is trusted."""
    gpu_machines.install(tmp_path, monkeypatch, None)
    cuda_wheel(monkeypatch, 2, free=(2**30, 4 * 2**30))
    assert devices.try_all_gpus() == [mx.gpu(0), mx.gpu(1)]
    assert devices.try_gpu(1) == mx.gpu(1)
    assert devices.try_gpu(2) == mx.cpu()
    text = devices.describe_devices()
    assert "gpu(1) an unidentified GPU: usable, not identified" in text
    assert "1.0 GiB free" in text and "default device: gpu(0)" in text


@pytest.mark.parametrize("gpu, arch", [(A100, "sm_80"), (RTX4090, "sm_89")])
def test_a_gpu_the_wheel_runs_is_used(monkeypatch, tmp_path, gpu, arch):
    gpu_machines.install(tmp_path, monkeypatch, {"gpus": [gpu]})
    cuda_wheel(monkeypatch, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert devices.try_gpu() == mx.gpu(0)
        assert devices.try_all_gpus() == [mx.gpu(0)]
    assert devices.gpu_problem([0]) is None
    line = devices.describe_devices().splitlines()[1]
    assert line.startswith(f"gpu(0) {gpu['name']} ({arch}, ") and ": usable, " in line


def test_an_sm_90_gpu_is_skipped_with_one_warning(monkeypatch, tmp_path):
    gpu_machines.install(tmp_path, monkeypatch, {"gpus": [A100, second(H100)]})
    cuda_wheel(monkeypatch, 2)
    with pytest.warns(devices.UnusableGPUWarning) as caught:
        assert devices.try_all_gpus() == [mx.gpu(0)]
        assert devices.try_gpu(1) == mx.cpu()             # the same GPU: no second warning
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "\n" not in message
    assert message.startswith("gpu(1) NVIDIA H100 80GB HBM3 (sm_90, Hopper, 79.6 GiB) skipped: "
                              "the wheel's code stops at sm_86")
    assert "use the CPU, or build MXNet from source with sm_90 added" in message
    assert devices.gpu_memory_info(1) is None
    assert "cannot run this MXNet build" in devices.gpu_problem([0, 1])


def test_only_unusable_gpus_means_the_cpu(monkeypatch, tmp_path):
    gpu_machines.install(tmp_path, monkeypatch, MACHINES["sm_90"])
    cuda_wheel(monkeypatch, 1)
    with pytest.warns(devices.UnusableGPUWarning):
        assert devices.try_all_gpus() == [mx.cpu()]
    assert devices.describe_devices().splitlines()[-1] == "default device: cpu(0)"


def test_cuda_visible_devices_maps_mxnet_ids(monkeypatch, tmp_path):
    """With CUDA_VISIBLE_DEVICES=1, MXNet's gpu(0) is nvidia-smi's GPU 1."""
    gpu_machines.install(tmp_path, monkeypatch, {"gpus": [H100, second(A100)]})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    cuda_wheel(monkeypatch, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert devices.try_all_gpus() == [mx.gpu(0)]
    assert devices.gpu_status()[0].gpu.name == A100["name"]


def test_a_source_build_is_trusted(monkeypatch, tmp_path):
    gpu_machines.install(tmp_path, monkeypatch, MACHINES["sm_90"])
    cuda_wheel(monkeypatch, 1)
    monkeypatch.setattr(devices, "is_cu112_wheel", lambda: False)
    assert devices.try_all_gpus() == [mx.gpu(0)]
    assert "GPU code list is not checked" in devices.gpu_status()[0].verdict.why


def test_training_on_an_unusable_gpu_is_refused_before_work(monkeypatch, tmp_path):
    gpu_machines.install(tmp_path, monkeypatch, MACHINES["sm_90"])
    cuda_wheel(monkeypatch, 1)
    net = mx.gluon.nn.Dense(2)
    data = [(mx.nd.zeros((2, 3)), mx.nd.zeros((2,)))]
    with pytest.raises(ValueError, match=r"^gpu\(0\) NVIDIA H100 80GB HBM3 \(sm_90, Hopper, "
                                         r"79.6 GiB\) cannot run this MXNet build: .*; "
                                         r"use ctx=mx.cpu\(\)"):
        train(net, data, ctx=mx.gpu(0), epochs=1, progress=False)


def test_cli_refuses_an_unusable_gpu_in_one_line(monkeypatch, tmp_path, capsys):
    gpu_machines.install(tmp_path, monkeypatch, MACHINES["sm_90"])
    cuda_wheel(monkeypatch, 1)
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--devices", "gpu:0", "--out", str(tmp_path / "run")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: --devices gpu:0: gpu(0) NVIDIA H100 80GB HBM3 (sm_90, Hopper, "
                          "79.6 GiB) cannot run this MXNet build")
    assert err.rstrip().endswith("pass --devices cpu or other GPUs")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------- `gluon-densenet info`, machine by machine
def info(capsys) -> list[str]:
    assert main(["info"]) == 0
    out = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(out) if line.startswith("MXNet "))
    end = next(i for i, line in enumerate(out) if line.startswith("default device: "))
    return out[start:end + 1]


EXPECTED_ON_THE_CPU_BUILD = {
    "sm_80": ["nvidia-smi lists 1 GPU(s), driver 535.104.05:",
              "  GPU 0: NVIDIA A100-SXM4-40GB (sm_80, Ampere, 40.0 GiB): mxnet-cu112 1.9.1 can "
              "run it: the wheel has sm_80 code",
              "this CPU build uses none of them: MXNET_VARIANT=gpu scripts/install.sh installs "
              "mxnet-cu112"],
    "sm_89": ["nvidia-smi lists 1 GPU(s), driver 550.54.14:",
              "  GPU 0: NVIDIA GeForce RTX 4090 (sm_89, Ada, 24.0 GiB): mxnet-cu112 1.9.1 can "
              "run it: runs the wheel's sm_86 code (binary-compatible within compute "
              "capability 8.x)",
              "this CPU build uses none of them: MXNET_VARIANT=gpu scripts/install.sh installs "
              "mxnet-cu112"],
    "sm_90": ["nvidia-smi lists 1 GPU(s), driver 550.54.15:",
              "  GPU 0: NVIDIA H100 80GB HBM3 (sm_90, Hopper, 79.6 GiB): mxnet-cu112 1.9.1 "
              "cannot run it: the wheel's code stops at sm_86 and it has no PTX that the driver "
              "could compile for sm_90",
              "the CPU build is the right one here: use the CPU, or build MXNet from source "
              "with sm_90 added (README, section GPUs)"],
    "old driver": ["nvidia-smi lists 1 GPU(s), driver 470.82.01:",
                   "  GPU 0: Tesla V100-SXM2-16GB (sm_?, 15.8 GiB): mxnet-cu112 1.9.1 may run "
                   "it: compute capability unknown (nvidia-smi of driver 470.82.01 has no "
                   "compute_cap field, and libcuda.so.1 gave no answer)",
                   "this CPU build uses none of them: MXNET_VARIANT=gpu scripts/install.sh "
                   "installs mxnet-cu112"],
    "no GPU (no nvidia-smi)": ["no NVIDIA GPU: nvidia-smi is not installed"],
    "no GPU (no driver)": ["no NVIDIA GPU: nvidia-smi: NVIDIA-SMI has failed because it "
                           "couldn't communicate with the NVIDIA driver. Make sure that the "
                           "latest NVIDIA driver is installed and running."],
}


@pytest.mark.parametrize("name", list(EXPECTED_ON_THE_CPU_BUILD))
def test_info_on_the_cpu_build(monkeypatch, tmp_path, capsys, name):
    """This machine's real CPU-only MXNet, with each simulated nvidia-smi."""
    gpu_machines.install(tmp_path, monkeypatch, MACHINES[name])
    monkeypatch.setattr(devices, "mxnet_build", lambda: "cpu")
    monkeypatch.setattr(devices.mx.context, "num_gpus", lambda: 0)
    lines = info(capsys)
    assert lines == [f"MXNet {mx.__version__} (cpu build)", *EXPECTED_ON_THE_CPU_BUILD[name],
                     "default device: cpu(0)"]


EXPECTED_ON_THE_CUDA_WHEEL = {
    "sm_80": ("gpu(0) NVIDIA A100-SXM4-40GB (sm_80, Ampere, 40.0 GiB): usable, the wheel has "
              "sm_80 code; 30.0 GiB free", "gpu(0)"),
    "sm_89": ("gpu(0) NVIDIA GeForce RTX 4090 (sm_89, Ada, 24.0 GiB): usable, runs the wheel's "
              "sm_86 code (binary-compatible within compute capability 8.x); 30.0 GiB free",
              "gpu(0)"),
    "sm_90": ("gpu(0) NVIDIA H100 80GB HBM3 (sm_90, Hopper, 79.6 GiB): skipped, the wheel's "
              "code stops at sm_86 and it has no PTX that the driver could compile for sm_90; "
              "use the CPU, or build MXNet from source with sm_90 added (README, section GPUs)",
              "cpu(0)"),
    "old driver": ("gpu(0) Tesla V100-SXM2-16GB (sm_?, 15.8 GiB): usable, compute capability "
                   "unknown (nvidia-smi of driver 470.82.01 has no compute_cap field, and "
                   "libcuda.so.1 gave no answer); 30.0 GiB free", "gpu(0)"),
}


@pytest.mark.parametrize("name", list(EXPECTED_ON_THE_CUDA_WHEEL))
def test_info_on_the_cuda_wheel(monkeypatch, tmp_path, capsys, name):
    """A simulated mxnet-cu112 build that sees the machine's one GPU."""
    gpu_machines.install(tmp_path, monkeypatch, MACHINES[name])
    cuda_wheel(monkeypatch, 1)
    line, default = EXPECTED_ON_THE_CUDA_WHEEL[name]
    assert info(capsys) == [
        f"MXNet {mx.__version__} (cuda build), the mxnet-cu112 1.9.1 wheel: GPU code for sm_50, "
        "sm_60, sm_70, sm_80, sm_86, no PTX", line, f"default device: {default}"]
