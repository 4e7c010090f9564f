import mxnet as mx

from gluon_densenet import devices


def test_cpu_only_machine_falls_back(monkeypatch):
    monkeypatch.setattr(devices.mx.context, "num_gpus", lambda: 0)
    assert devices.try_gpu() == mx.cpu()
    assert devices.try_all_gpus() == [mx.cpu()]
    assert devices.gpu_memory_info() is None
    assert "default device: cpu(0)" in devices.describe_devices()


def test_missing_driver_does_not_crash(monkeypatch):
    def broken():
        raise mx.base.MXNetError("CUDA: no CUDA-capable device is detected")
    monkeypatch.setattr(devices.mx.context, "num_gpus", broken)
    assert devices.num_gpus() == 0
    assert devices.try_gpu(1) == mx.cpu()


def test_gpus_are_listed_when_present(monkeypatch):
    monkeypatch.setattr(devices.mx.context, "num_gpus", lambda: 2)
    monkeypatch.setattr(devices.mx.context, "gpu_memory_info", lambda i: (2**30, 4 * 2**30))
    assert devices.try_all_gpus() == [mx.gpu(0), mx.gpu(1)]
    assert devices.try_gpu(1) == mx.gpu(1)
    assert devices.try_gpu(2) == mx.cpu()
    assert "gpu(1): 1.0 GiB free of 4.0 GiB" in devices.describe_devices()
