"""One run per directory: the lock of run_lock.py, the command line's refusal of a second run,
train()'s of a second loop into one checkpoint directory, and a killed run's lock."""
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import mxnet as mx
import pytest

from gluon_densenet.cli import main
from gluon_densenet.training import RunDirectoryInUse, run_directory_lock, train
from gluon_densenet.training.run_lock import LOCK_FILE, lock_holder
from tests.time_limits import limit

TINY = ["train", "--shipped", "--model", "densenet_tiny", "--subset", "64", "--test-subset", "32",
        "--batch-size", "32", "--quiet"]
#: Holds the lock of argv[1] until its stdin closes (or, with "kill", dies holding it).
HOLDER = """import os, signal, sys
from gluon_densenet.training.run_lock import run_directory_lock
with run_directory_lock(sys.argv[1]):
    print("locked", flush=True)
    if sys.argv[2:] == ["kill"]:
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()
"""


def _holder(directory, *how):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory), *how],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "locked\n"
    return proc


def _snapshot(directory):
    """Every file under ``directory``: its bytes and modification time."""
    return {p.relative_to(directory): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(Path(directory).rglob("*")) if p.is_file()}


def test_a_second_lock_is_refused_and_names_the_holder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with run_directory_lock(run):
        assert (run / LOCK_FILE).is_file()
        assert lock_holder(run).startswith(f"process {os.getpid()} (")
        with pytest.raises(RunDirectoryInUse, match=rf"run directory {run} is in use by "
                                                    rf"process {os.getpid()} \("):
            with run_directory_lock(run):
                pytest.fail("a second lock was granted")
        assert (run / LOCK_FILE).is_file()               # the refused one left it alone
    assert list(run.iterdir()) == []                       # let go: the lock file is gone
    with run_directory_lock(run):                          # and it can be taken again
        pass


def test_a_directory_made_only_for_the_lock_is_removed_again(tmp_path):
    with pytest.raises(KeyError), run_directory_lock(tmp_path / "new"):
        raise KeyError("a run refused after taking the lock")
    assert not (tmp_path / "new").exists()
    with run_directory_lock(tmp_path / "kept") as run:
        (run / "result.txt").write_text("kept")
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["result.txt"]


def test_another_process_holding_the_lock_is_named(tmp_path):
    holder = _holder(tmp_path)
    try:
        with pytest.raises(RunDirectoryInUse) as refused, run_directory_lock(tmp_path):
            pass
        assert refused.value.holder.startswith(f"process {holder.pid} (-c ")
        assert refused.value.directory == tmp_path
    finally:
        holder.communicate("", timeout=limit(120))
    assert holder.returncode == 0 and not (tmp_path / LOCK_FILE).exists()


def test_the_lock_of_a_killed_run_is_no_lock(tmp_path):
    holder = _holder(tmp_path, "kill")
    holder.wait(timeout=limit(120))
    assert holder.returncode == -signal.SIGKILL
    assert (tmp_path / LOCK_FILE).is_file()                # left behind, but not held
    with run_directory_lock(tmp_path):
        assert lock_holder(tmp_path).startswith(f"process {os.getpid()} ")
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_second_train_command_into_a_run_directory_in_use_ends_at_once(tmp_path, capsys):
    """The first run's files stay byte for byte as they were; once it ends, the directory
    can be used (here: resumed) again."""
    run = tmp_path / "run"
    assert main([*TINY, "--out", str(run)]) == 0
    before = _snapshot(run)
    capsys.readouterr()
    holder = _holder(run)                                 # a run using the directory
    try:
        with pytest.raises(SystemExit) as second:
            main([*TINY, "--out", str(run), "--epochs", "2"])
        during = {k: v for k, v in _snapshot(run).items() if k != Path(LOCK_FILE)}
    finally:
        holder.communicate("", timeout=limit(120))
    assert second.value.code == 2 and during == before
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err == (f"error: the run directory {run} is in use by process {holder.pid} "
                        f"(-c {run}); wait for that run to end, or pass another --out\n")
    assert main([*TINY, "--out", str(run), "--epochs", "2"]) == 0
    assert "Resumed from" in capsys.readouterr().out and not (run / LOCK_FILE).exists()


def _data():
    X = mx.nd.random.uniform(shape=(8, 1, 28, 28))
    return [(X, mx.nd.array([0, 1] * 4))]


def _net():
    return mx.gluon.nn.Dense(2, in_units=28 * 28)


def test_train_refuses_a_checkpoint_directory_another_loop_is_using(tmp_path):
    """A second train() into the directory of one still running (here in a thread of the same
    process: a notebook cell started twice) is refused before it touches anything."""
    ckpt = tmp_path / "checkpoints"
    in_epoch_end, release = threading.Event(), threading.Event()
    failures = []

    def first_loop():
        try:
            train(_net(), _data(), epochs=1, checkpoint_dir=ckpt, progress=False,
                  on_epoch_end=lambda history: (in_epoch_end.set(), release.wait()))
        except BaseException as err:          # reported below, in the test's own thread
            failures.append(err)
            in_epoch_end.set()
    runner = threading.Thread(target=first_loop)
    runner.start()
    try:
        assert in_epoch_end.wait(limit(300)) and not failures, failures
        before = _snapshot(ckpt)
        second = _net()
        with pytest.raises(RunDirectoryInUse, match=rf"{ckpt} is in use by process "
                                                    rf"{os.getpid()} "):
            train(second, _data(), epochs=2, checkpoint_dir=ckpt, progress=False)
        assert second.weight._data is None                 # refused before any work
        assert _snapshot(ckpt) == before
    finally:
        release.set()
        runner.join()
    assert not failures, failures
    assert (ckpt / "checkpoint.json").is_file() and not (ckpt / LOCK_FILE).exists()
    history = train(_net(), _data(), epochs=2, checkpoint_dir=ckpt, progress=False)
    assert [r.epoch for r in history] == [1, 2]            # free again: resumed
