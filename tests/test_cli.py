import json
import os
import subprocess
import sys
import types

import pytest

from gluon_densenet import atomic_files
from gluon_densenet.cli import main

# A fast run on the shipped subset: a 14k-parameter net, 64 training and 32 test images.
TINY = ["train", "--shipped", "--model", "densenet_tiny", "--subset", "64", "--test-subset", "32",
        "--batch-size", "32", "--quiet"]


def error_line(argv, capsys) -> str:
    """Run ``main(argv)``, expecting a bad-input exit; return its one ``error:`` line."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


def test_summary_reports_layers_and_parameters(capsys):
    assert main(["summary", "--model", "densenet121", "--size", "224"]) == 0
    out = capsys.readouterr().out
    assert "121 weighted layers" in out and "7,978,856 learnable parameters" in out
    assert "(1, 1024, 7, 7)" in out          # the last dense block at 224 px


def test_summary_rejects_too_small_input(capsys):
    line = error_line(["summary", "--model", "densenet121", "--size", "28"], capsys)
    assert "at least 29×29" in line and "--size 32" in line


def test_unknown_model_lists_valid_names(capsys):
    line = error_line(["summary", "--model", "densenet-121"], capsys)
    assert "did you mean 'densenet121'" in line and "valid names" in line


@pytest.mark.parametrize("args, expected", [
    (["--size", "0"], "--size must be at least 1"),
    (["--classes", "0"], "--classes must be at least 1"),
    (["--in-channels", "0"], "--in-channels must be at least 1"),
    (["--depth", "-1"], "--depth must be at least 0"),
    (["--model", "resnet18_v1", "--in-channels", "1"], "pass --in-channels 3"),
    (["--size", "big"], "argument --size: invalid int value: 'big'"),
])
def test_summary_rejects_bad_options(capsys, args, expected):
    assert expected in error_line(["summary", *args], capsys)


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
    assert "test accuracy:" in printed and "Resumed" not in printed
    history = json.loads((out / "history.json").read_text())
    assert len(history["records"]) == 1
    assert (out / "model.params").stat().st_size > 0 and (out / "history.png").stat().st_size > 0
    assert not [p.name for p in out.iterdir() if atomic_files.TMP_MARK in p.name]
    # Same settings: the finished checkpoint is reused, no epoch is trained again.
    assert main(args) == 0
    assert (f"Resumed from {out / 'checkpoints'}: epoch 1 of 1 done; the run is complete, "
            "nothing to train") in capsys.readouterr().out
    # Other settings in the same directory are refused with a way out.
    line = error_line(args[:-2] + ["--batch-size", "16"], capsys)
    assert "other settings (batch_size)" in line and "--out" in line and "--no-resume" in line


def test_train_rejects_small_resize_before_loading(tmp_path, monkeypatch, capsys):
    # No data and no reachable mirror: only a check made before loading can answer first.
    monkeypatch.setenv("GLUON_DENSENET_MIRRORS", "http://127.0.0.1:9/")
    line = error_line(["train", "--resize", "28", "--data-dir", str(tmp_path / "empty"),
                       "--out", str(tmp_path / "r")], capsys)
    assert "--resize 28 is too small for densenet21_d2l: it needs at least 29×29 px" in line
    assert "--resize 32" in line
    assert not (tmp_path / "r").exists()


def test_train_offline_without_data_says_where_to_put_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GLUON_DENSENET_MIRRORS", "http://127.0.0.1:9/")
    line = error_line(["train", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r"),
                       "--quiet"], capsys)
    assert str(tmp_path) in line and "train-images-idx3-ubyte" in line
    assert "--shipped" in line and "--data-dir" in line
    assert not (tmp_path / "r").exists()


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


# ------------------------------------------------------------------- bad input
BAD_TRAIN_OPTIONS = [
    (["--epochs", "0"], "--epochs must be at least 1, got 0"),
    (["--epochs", "-3"], "--epochs must be at least 1, got -3"),
    (["--epochs", "two"], "argument --epochs: invalid int value: 'two'"),
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0; pass e.g. --batch-size 128"),
    (["--lr", "0"], "--lr must be a finite number > 0, got 0.0"),
    (["--lr", "-0.1"], "--lr must be a finite number > 0, got -0.1"),
    (["--lr", "nan"], "--lr must be a finite number > 0, got nan"),
    (["--lr", "inf"], "--lr must be a finite number > 0, got inf"),
    (["--subset", "0"], "--subset must be at least 1, got 0"),
    (["--subset", "5001"],
     "--subset 5001 is more than the 5,000 training images of the shipped subset"),
    (["--test-subset", "0"], "--test-subset must be at least 1, got 0"),
    (["--test-subset", "1001"], "--test-subset 1001 is more than the 1,000 test images"),
    (["--resize", "20"], "--resize 20 is smaller than Fashion-MNIST's 28×28 images"),
    (["--model", "densenet-121"], "did you mean 'densenet121'?"),
    (["--model", "resnet18_v1"], "--model resnet18_v1 takes 3-channel images"),
    (["--optimizer", "sgdd"], "--optimizer 'sgdd': unknown optimizer 'sgdd'; did you mean 'sgd'?"),
    (["--schedule", "linear"], "argument --schedule: invalid choice: 'linear'"),
    (["--devices", "tpu"], "--devices 'tpu': cannot read 'tpu'"),
    (["--devices", "gpu:x"], "cannot read 'gpu:x'"),
    (["--devices", "cpu,"], "cannot read ''"),
    (["--devices", "cpu,cpu:0"], "cpu(0) is listed twice"),
    (["--devices", "gpu"], "--devices gpu: gpu(0) is not available: this MXNet build has 0 GPU(s) "
                           "(a CPU-only build); pass --devices cpu"),
    (["--devices", "gpu:0,gpu:1"], "gpu(0) is not available"),
    (["--devices", "cpu,gpu:1"], "pass --devices cpu"),
    (["--seed", "-1"], "--seed must be between 0 and 4294967295, got -1"),
    (["--no-such-option"], "unrecognized arguments: --no-such-option"),
]


@pytest.fixture
def run_dir(tmp_path):
    """A run directory that does not exist yet; the test checks that it never does."""
    out = tmp_path / "run"
    yield out
    assert not out.exists()


@pytest.mark.parametrize("args, expected", BAD_TRAIN_OPTIONS,
                         ids=[" ".join(a) for a, _ in BAD_TRAIN_OPTIONS])
def test_train_rejects_bad_option_before_any_work(args, expected, run_dir, capsys, monkeypatch):
    monkeypatch.setattr("gluon_densenet.runtime.devices.num_gpus", lambda: 0)   # a CPU-only build
    line = error_line([*TINY, "--out", str(run_dir), *args], capsys)
    assert expected in line


def test_subset_above_full_data_set(run_dir, capsys):
    line = error_line(["train", "--subset", "60001", "--out", str(run_dir)], capsys)
    assert "more than the 60,000 training images of Fashion-MNIST; pass --subset 60000" in line


def test_train_rejects_missing_data_dir(tmp_path, run_dir, capsys):
    line = error_line(["train", "--data-dir", str(tmp_path / "nope"), "--out", str(run_dir)],
                      capsys)
    assert f"--data-dir {tmp_path / 'nope'} does not exist" in line and "--shipped" in line


def test_train_rejects_run_directory_under_a_file(tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a directory\n")
    line = error_line([*TINY, "--out", str(blocker / "run")], capsys)
    assert f"{blocker} is a file, so no directory can be made under it" in line
    assert "pass --out" in line
    line = error_line([*TINY, "--out", str(blocker)], capsys)
    assert f"{blocker} exists and is not a directory" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_train_rejects_unwritable_run_directory(tmp_path, run_dir, capsys, monkeypatch):
    # A read-only directory, simulated (chmod does not stop root, who runs some CI).
    def read_only(dir=None, **kw):
        raise PermissionError(13, "Permission denied", dir)
    monkeypatch.setattr(atomic_files, "tempfile", types.SimpleNamespace(TemporaryFile=read_only))
    line = error_line([*TINY, "--out", str(run_dir)], capsys)
    assert f"{tmp_path} is not writable (Permission denied)" in line and "pass --out" in line


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="POSIX permissions; root writes into read-only directories")
def test_train_rejects_read_only_directory(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        line = error_line([*TINY, "--out", str(locked / "run")], capsys)
        assert f"{locked} is not writable" in line
        assert not (locked / "run").exists()
    finally:
        locked.chmod(0o755)


def test_bad_options_exit_2_in_a_real_process(tmp_path):
    for args in (["--batch-size", "0"], ["--epochs", "x"]):
        done = subprocess.run([sys.executable, "-m", "gluon_densenet", *TINY,
                               "--out", str(tmp_path / "run"), *args],
                              capture_output=True, text=True)
        assert done.returncode == 2
        assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("error: ")
        assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------- resuming
def test_resumed_run_says_from_which_epoch(tmp_path, capsys):
    out = tmp_path / "run"
    args = [*TINY, "--out", str(out)]
    assert main([*args, "--epochs", "1"]) == 0
    capsys.readouterr()
    assert TINY[-1] == "--quiet"
    assert main([*TINY[:-1], "--out", str(out), "--epochs", "2"]) == 0      # with progress
    printed = capsys.readouterr().out
    assert printed.count("Resumed from") == 1
    assert f"Resumed from {out / 'checkpoints'}: epoch 1 of 2 done\n" in printed
    assert "after 2 epoch(s)" in printed
    assert len(json.loads((out / "history.json").read_text())["records"]) == 2


@pytest.mark.parametrize("damage", ["truncated params", "garbled checkpoint.json",
                                    "garbled config.json"])
def test_damaged_checkpoint_is_one_line_and_no_resume_starts_over(tmp_path, capsys, damage):
    out = tmp_path / "run"
    args = [*TINY, "--out", str(out), "--epochs", "1"]
    assert main(args) == 0
    capsys.readouterr()
    ckdir = out / "checkpoints"
    if damage == "truncated params":
        params = ckdir / "epoch-0001.params"
        params.write_bytes(params.read_bytes()[:100])
    elif damage == "garbled checkpoint.json":
        (ckdir / "checkpoint.json").write_text('{"format": 1, "epo')
    else:
        (out / "config.json").write_text("not json")
    history_before = (out / "history.json").read_bytes()
    line = error_line(args, capsys)
    if damage == "garbled config.json":
        assert f"{out / 'config.json'} cannot be read" in line
    else:
        assert f"cannot resume from the checkpoint in {ckdir}: " in line
        assert "epoch-0001.params is damaged" in line or "checkpoint.json cannot be read" in line
        assert "delete that directory or pass --no-resume" in line
    assert (out / "history.json").read_bytes() == history_before     # nothing rewritten
    assert main([*args, "--no-resume"]) == 0
    assert main(args) == 0                                           # resumable again


# ------------------------------------------------- errors met while training
def test_errors_during_training_are_one_line(tmp_path, capsys, monkeypatch):
    import gluon_densenet.training as training
    from gluon_densenet.data import CorruptDataError

    def diverge(*args, **kwargs):
        raise training.TrainingDivergedError(1, 5, float("nan"), 0.1)
    monkeypatch.setattr(training, "train", diverge)
    line = error_line([*TINY, "--out", str(tmp_path / "a")], capsys)
    assert "Training diverged: loss is nan at epoch 1, batch 5" in line and "--lr 0.01" in line

    def corrupt(*args, **kwargs):
        raise CorruptDataError("/data/train-images-idx3-ubyte.gz: checksum mismatch.\n"
                               "Delete it and download it again.")
    monkeypatch.setattr("gluon_densenet.cli.train.load_data", corrupt)
    line = error_line([*TINY, "--out", str(tmp_path / "b")], capsys)
    assert line == ("error: /data/train-images-idx3-ubyte.gz: checksum mismatch. "
                    "Delete it and download it again.")
    assert not (tmp_path / "b").exists()


def test_interrupt_is_one_line_with_status_130(tmp_path, capsys, monkeypatch):
    import gluon_densenet.training as training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(training, "train", interrupted)
    with pytest.raises(SystemExit) as exc:
        main([*TINY, "--out", str(tmp_path / "run")])
    assert exc.value.code == 130
    err = capsys.readouterr().err
    assert err == ("error: interrupted; run the same command again to resume from the last "
                   "saved epoch\n")
