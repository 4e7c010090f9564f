import json
import subprocess
import sys

import pytest

from gluon_densenet.cli import main


def test_summary_reports_layers_and_parameters(capsys):
    assert main(["summary", "--model", "densenet121", "--size", "224"]) == 0
    out = capsys.readouterr().out
    assert "121 weighted layers" in out and "7,978,856 learnable parameters" in out
    assert "(1, 1024, 7, 7)" in out          # the last dense block at 224 px


def test_summary_rejects_too_small_input():
    with pytest.raises(SystemExit, match="at least 29×29"):
        main(["summary", "--model", "densenet121", "--size", "28"])


def test_unknown_model_lists_valid_names():
    with pytest.raises(SystemExit, match="Did you mean 'densenet121'.*Valid names"):
        main(["summary", "--model", "densenet-121"])


def test_info_names_versions_devices_and_data(capsys, tmp_path):
    assert main(["info", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "MXNet 1.9.1" in out and "default device: cpu(0)" in out
    assert str(tmp_path) in out and "missing" in out


def test_train_smoke_writes_results_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--smoke", "--quiet", "--out", str(out), "--batch-size", "32"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "test accuracy:" in printed
    history = json.loads((out / "history.json").read_text())
    assert len(history["records"]) == 1
    assert (out / "model.params").stat().st_size > 0 and (out / "history.png").stat().st_size > 0
    # Same settings: the finished checkpoint is reused, no epoch is trained again.
    assert main(args) == 0
    # Other settings in the same directory are refused with a way out.
    with pytest.raises(SystemExit, match="other settings.*--out"):
        main(args[:-2] + ["--batch-size", "16"])


def test_train_rejects_small_resize_before_loading(tmp_path, monkeypatch):
    # No data and no reachable mirror: only a check made before loading can answer first.
    monkeypatch.setenv("GLUON_DENSENET_MIRRORS", "http://127.0.0.1:9/")
    with pytest.raises(SystemExit, match="--resize 32"):
        main(["train", "--resize", "28", "--data-dir", str(tmp_path / "empty"),
              "--out", str(tmp_path / "r")])


def test_train_offline_without_data_says_where_to_put_files(tmp_path, monkeypatch):
    monkeypatch.setenv("GLUON_DENSENET_MIRRORS", "http://127.0.0.1:9/")
    with pytest.raises(SystemExit) as err:
        main(["train", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r"), "--quiet"])
    assert str(tmp_path) in str(err.value) and "train-images-idx3-ubyte" in str(err.value)


def test_module_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "gluon_densenet", "--version"],
                          capture_output=True, text=True, check=True)
    assert "gluon-densenet 0.1.0" in done.stdout


def test_train_memory_efficient_flag(tmp_path, capsys):
    out = tmp_path / "me"
    assert main(["train", "--smoke", "--quiet", "--memory-efficient", "--out", str(out),
                 "--batch-size", "16"]) == 0
    assert json.loads((out / "config.json").read_text())["memory_efficient"] is True
    assert "test accuracy:" in capsys.readouterr().out
