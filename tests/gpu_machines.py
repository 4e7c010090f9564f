"""Simulated GPU machines: a stand-in ``nvidia-smi`` first on PATH, reporting what is given.

Used by the GPU-support, device and CLI tests. The machines are the cases the mxnet-cu112
wheel has to be judged on: an sm_80 and an sm_89 GPU (it runs), an sm_90 GPU (it does not),
a driver whose ``nvidia-smi`` predates the ``compute_cap`` field, and no GPU at all.
"""
from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

STAND_IN = Path(__file__).parent / "stand_ins" / "nvidia_smi.py"

A100 = {"index": 0, "uuid": "GPU-a1a1a1a1-0000-1111-2222-333344445555",
        "pci.bus_id": "00000000:07:00.0", "name": "NVIDIA A100-SXM4-40GB",
        "driver_version": "535.104.05", "memory.total": 40960, "compute_cap": "8.0"}
RTX4090 = {"index": 0, "uuid": "GPU-40904090-0000-1111-2222-333344445555",
           "pci.bus_id": "00000000:01:00.0", "name": "NVIDIA GeForce RTX 4090",
           "driver_version": "550.54.14", "memory.total": 24564, "compute_cap": "8.9"}
H100 = {"index": 0, "uuid": "GPU-h100h100-0000-1111-2222-333344445555",
        "pci.bus_id": "00000000:18:00.0", "name": "NVIDIA H100 80GB HBM3",
        "driver_version": "550.54.15", "memory.total": 81559, "compute_cap": "9.0"}
V100_OLD_DRIVER = {"index": 0, "uuid": "GPU-v100v100-0000-1111-2222-333344445555",
                   "pci.bus_id": "00000000:00:1E.0", "name": "Tesla V100-SXM2-16GB",
                   "driver_version": "470.82.01", "memory.total": 16160}
OLD_DRIVER_FIELDS = ["index", "uuid", "pci.bus_id", "name", "driver_version", "memory.total"]

#: name → the stand-in's spec (``None``: no nvidia-smi on PATH at all)
MACHINES = {
    "sm_80": {"gpus": [A100]},
    "sm_89": {"gpus": [RTX4090]},
    "sm_90": {"gpus": [H100]},
    "old driver": {"gpus": [V100_OLD_DRIVER], "fields": OLD_DRIVER_FIELDS},
    "no GPU (no nvidia-smi)": None,
    "no GPU (no driver)": {"gpus": [], "fail": [
        9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
           "Make sure that the latest NVIDIA driver is installed and running."]},
}


def second(gpu: dict, **changes) -> dict:
    """A copy of ``gpu`` as the machine's second GPU (next index, other bus and uuid)."""
    return {**gpu, "index": 1, "uuid": gpu["uuid"][:-4] + "9999",
            "pci.bus_id": "00000000:99:00.0", **changes}


def install(tmp_path: Path, monkeypatch, spec: dict | None) -> Path:
    """Put the stand-in ``nvidia-smi`` for ``spec`` first on PATH; keep libcuda out.

    Returns:
        The log file the stand-in appends its arguments to.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / "nvidia-smi"
    if spec is None:
        exe.unlink(missing_ok=True)
        # PATH keeps only what has no nvidia-smi in it (a real GPU machine's tools are hidden)
        dirs = [d for d in os.environ["PATH"].split(os.pathsep)
                if d and not (Path(d) / "nvidia-smi").exists()]
        monkeypatch.setenv("PATH", os.pathsep.join([str(bin_dir), *dirs]))
        return tmp_path / "nvidia-smi.json.log"
    spec_path = tmp_path / "nvidia-smi.json"
    spec_path.write_text(json.dumps(spec))
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STAND_IN}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("STAND_IN_NVIDIA_SMI", str(spec_path))
    monkeypatch.setenv("PATH", os.pathsep.join([str(bin_dir), os.environ["PATH"]]))
    return Path(str(spec_path) + ".log")
