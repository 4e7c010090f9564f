"""Distributed training on MXNet's kvstore: names, shards, the launcher, and loopback jobs of
a scheduler, a server and two workers on 127.0.0.1 (each job takes a few seconds)."""
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

from gluon_densenet.data import ArrayLoader
from gluon_densenet.distributed import BatchShard, check_kvstore, create_kvstore
from gluon_densenet.distributed.launcher import LaunchError, describe_process, launch
from gluon_densenet.training import train
from tests.time_limits import limit

WORKER = Path(__file__).parent / "stand_ins" / "distributed_worker.py"
CLI = [sys.executable, "-m", "gluon_densenet"]
#: A loopback job that has not ended by then is hung (it takes 5 to 40 s on 2 quiet cores).
JOB_TIMEOUT_S = limit(600)


# ----------------------------------------------------------------------- names and shards
def test_an_unknown_kvstore_is_refused_with_the_closest_name():
    with pytest.raises(ValueError, match=r"unknown kvstore 'dist_synk'; did you mean 'dist_sync'"):
        check_kvstore("dist_synk")
    net = mx.gluon.nn.Dense(2)
    with pytest.raises(ValueError, match="unknown kvstore 'nccl'"):
        train(net, [(mx.nd.ones((2, 3)), mx.nd.zeros(2))], kvstore="nccl", progress=False)
    assert list(net.collect_params().values())[0]._data is None   # refused before any work


def test_a_dist_kvstore_outside_a_job_says_how_to_start_one(monkeypatch):
    for var in ("DMLC_ROLE", "DMLC_PS_ROOT_URI", "DMLC_PS_ROOT_PORT", "DMLC_NUM_SERVER",
                "DMLC_NUM_WORKER"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValueError, match=r"DMLC_ROLE.* not set; start it with "
                                         r"'gluon-densenet launch --workers 2"):
        create_kvstore("dist_sync")
    monkeypatch.setenv("DMLC_ROLE", "server")
    for var in ("DMLC_PS_ROOT_URI", "DMLC_PS_ROOT_PORT", "DMLC_NUM_SERVER", "DMLC_NUM_WORKER"):
        monkeypatch.setenv(var, "1")
    with pytest.raises(ValueError, match="DMLC_ROLE=server, not worker"):
        create_kvstore("dist_async")
    assert create_kvstore("device") == "device"          # Trainer makes it, when needed


def test_a_time_budget_is_refused_with_a_dist_kvstore():
    with pytest.raises(ValueError, match="time_budget_s cannot be used with a distributed"):
        train(mx.gluon.nn.Dense(2), [(mx.nd.ones((2, 3)), mx.nd.zeros(2))],
              kvstore="dist_sync", time_budget_s=5, progress=False)


def test_local_kvstore_trains_on_one_device():
    X, y = mx.nd.random.uniform(shape=(8, 3)), mx.nd.array([0, 1] * 4)
    history = train(mx.gluon.nn.Dense(2), [(X, y)], epochs=2, kvstore="local", progress=False)
    assert len(history) == 2 and np.isfinite(history.last.train_loss)


def _indices(loader):
    """The example indices of each batch (the images hold their own index)."""
    return [np.rint(X[:, 0, 0, 0].asnumpy() * 255).astype(int).tolist() for X, _ in loader]


def _indexed(n):
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 0, 0] = np.arange(n)
    return images, np.zeros(n)


@pytest.mark.parametrize("n", [64, 70, 101])
def test_training_shards_put_together_are_the_batches_of_one_loader(n):
    images, labels = _indexed(n)
    whole = ArrayLoader(images, labels, 2 * 8, shuffle=True, seed=3)
    one = ArrayLoader(images, labels, 8, shuffle=True, seed=3)
    shards = [one.shard(rank, 2) for rank in range(2)]
    for epoch in range(2):                                # each epoch deals the data afresh
        for loader in (whole, *shards):
            loader.set_epoch(epoch)
        parts = [_indices(s) for s in shards]
        assert len(parts[0]) == len(parts[1]) and shards[0].num_examples == n // 2
        assert [len(b) for b in parts[0]] == [len(b) for b in parts[1]]
        together = [a + b for a, b in zip(*parts, strict=True)]
        expected = _indices(whole)
        if n % 2:                          # the odd example out of the last batch is left out
            expected[-1] = [i for i in expected[-1] if i in together[-1]]
        assert together == expected
        assert len(set(sum(together, []))) == 2 * (n // 2)


def test_evaluation_shards_use_every_example_once():
    images, labels = _indexed(101)
    loader = ArrayLoader(images, labels, 16)
    seen = [i for r in range(3) for b in _indices(loader.shard(r, 3, even=False)) for i in b]
    assert sorted(seen) == list(range(101))
    with pytest.raises(ValueError, match="0 <= rank < count"):
        loader.shard(3, 3)
    with pytest.raises(ValueError, match="cannot be shared by 200 workers"):
        loader.shard(0, 200)


def test_any_iterable_is_shared_batch_by_batch_with_equal_counts():
    batches = list(range(7))
    shards = [list(BatchShard(batches, r, 3, even=True)) for r in range(3)]
    assert shards == [[0, 3], [1, 4], [2, 5]]
    assert list(BatchShard(batches, 0, 3, even=False)) == [0, 3, 6]


# ---------------------------------------------------------------------------- launcher
def _listening_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s, s.getsockname()[1]


def test_a_port_in_use_is_refused_before_anything_starts():
    s, port = _listening_port()
    with s, pytest.raises(LaunchError, match=f"port {port} on 127.0.0.1 cannot be used"):
        launch([sys.executable, "-c", "pass"], workers=1, port=port)
    with pytest.raises(LaunchError, match="--workers must be an integer >= 1"):
        launch([sys.executable, "-c", "pass"], workers=0)
    with pytest.raises(LaunchError, match="no command for the workers"):
        launch([], workers=1)


def _cli(*args):
    if args[0] == "launch":
        args = (args[0], "--timeout", str(JOB_TIMEOUT_S), *args[1:])
    return subprocess.run([*CLI, *args], capture_output=True, text=True,
                          timeout=JOB_TIMEOUT_S + limit(60))


@pytest.mark.parametrize("args, message", [
    (["train", "--kvstore", "dist_sync", "--smoke"], "start it with 'gluon-densenet launch"),
    (["train", "--kvstore", "dist_sink"], "invalid choice: 'dist_sink'"),
    (["launch", "--", "train", "--smoke"], "add --kvstore dist_sync"),
    (["launch", "--", "summary"], "launch runs 'train' on every worker"),
    (["launch", "--", "train", "--kvstore", "dist_sync", "--epochs", "0"],
     "--epochs must be at least 1"),
    (["train", "--scale-lr"], "--scale-lr multiplies --lr by the number of workers"),
])
def test_cli_refuses_a_distributed_mistake_in_one_line(args, message, tmp_path):
    result = _cli(*args, "--out", str(tmp_path / "run")) if args[0] == "train" else _cli(*args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert not (tmp_path / "run").exists()


def test_cli_launch_refuses_a_port_in_use():
    s, port = _listening_port()
    with s:
        result = _cli("launch", "--port", str(port), "--", "train", "--kvstore", "dist_sync")
    assert result.returncode == 2
    assert f"error: port {port} on 127.0.0.1 cannot be used" in result.stderr


# ------------------------------------------------------------------------ loopback jobs
def _job(tmp_path, *args, workers=2):
    """Launch the stand-in worker script; returns (result, prefixed output, seconds)."""
    out = tmp_path / "out.txt"
    start = time.monotonic()
    with open(out, "w") as f:
        result = launch([sys.executable, str(WORKER), str(tmp_path), "worker", *args],
                        workers=workers, servers=1, out=f, timeout=JOB_TIMEOUT_S)
    return result, out.read_text(), time.monotonic() - start


def _params(path):
    return {k: v.asnumpy() for k, v in mx.nd.load(str(path)).items()}


def _max_difference(a, b):
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


@pytest.mark.parametrize("kvstore, batches", [("dist_sync", None), ("dist_device_sync", None),
                                              ("dist_sync", "16,16,16,8")])
def test_two_dist_sync_workers_take_the_step_of_one_process_on_both_batches(
        tmp_path, kvstore, batches):
    """A net without BatchNorm (each worker normalises its own half of a batch, so a net with
    it takes another step than one process on the whole batch). With a list of batches
    16, 16, 16, 8 the workers' second step is 16 + 8 images: the global batch is summed."""
    more = ["--batches", batches] if batches else []
    result, output, _ = _job(tmp_path, "--kvstore", kvstore, *more)
    assert result.returncode == 0, output
    assert "[worker 0] rank 0 of 2" in output and "[worker 1] rank 1 of 2" in output
    single = subprocess.run([sys.executable, str(WORKER), str(tmp_path), "single", *more],
                            capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    reference = _params(tmp_path / "single.params")
    ranks = [_params(tmp_path / f"rank{r}.params") for r in range(2)]
    assert _max_difference(ranks[0], ranks[1]) == 0.0      # every worker made the same update
    difference = _max_difference(ranks[0], reference)
    print(f"largest difference from one process: {difference:.2e}")
    assert difference < 1e-5
    assert _max_difference(reference, _params_at_start(tmp_path, "plain")) > 1e-3  # it moved


def _params_at_start(tmp_path, net):
    """The parameters before the step (the same seeded initialisation)."""
    sys.path.insert(0, str(WORKER.parent))
    try:
        from distributed_worker import make_net
    finally:
        sys.path.remove(str(WORKER.parent))
    model = make_net(net)
    mx.random.seed(0)
    model.initialize(mx.init.Xavier())
    model(mx.nd.zeros((1, 1, 28, 28)))
    model.save_parameters(str(tmp_path / "start.params"))
    return _params(tmp_path / "start.params")


@pytest.mark.parametrize("how, status, said", [("kill", 137, "worker 1 was killed by SIGKILL"),
                                               ("exit", 3, "worker 1 exited with status 3")])
def test_a_failing_worker_stops_the_whole_job(tmp_path, how, status, said):
    result, output, _ = _job(tmp_path, "--kvstore", "dist_sync", "--fail", f"1:{how}")
    assert result.returncode == status
    assert result.message.startswith(said) and "stopped scheduler, server, worker 0" in \
        result.message                                       # not stopped by the timeout
    for label, pid in result.pids.items():                   # no process left behind
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert result.statuses[label] is not None
    assert not (tmp_path / "rank0.params").exists()          # worker 0 never finished


def test_dist_async_trains_and_checkpoints_without_optimizer_state(tmp_path):
    """With two devices and BatchNorm, whose statistics are averaged over the devices."""
    result, output, _ = _job(tmp_path, "--kvstore", "dist_async", "--net", "bn",
                             "--devices", "2")
    assert result.returncode == 0, output
    saved = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert saved == ["checkpoint.json", "epoch-0001.history.json", "epoch-0001.params"]


def test_cli_launch_trains_in_smoke_mode_and_resumes(tmp_path):
    run = tmp_path / "run"
    args = ["launch", "--workers", "2", "--servers", "1", "--", "train", "--kvstore",
            "dist_sync", "--smoke", "--quiet", "--out", str(run)]
    result = _cli(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "[worker 1] worker 1 of 2 (dist_sync): trains on its shard of 2,500 images" in lines
    assert any(line.startswith("[worker 0] worker 0 of 2 (dist_sync): global batch 256")
               for line in lines)
    assert not any(line.startswith("[worker 1] saved") for line in lines)
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.json",
                                                     "history.json", "history.png",
                                                     "model.params"]
    history = (run / "history.json").read_text()
    assert '"steps": 20' in history
    again = _cli(*args)
    assert again.returncode == 0
    assert "[worker 0] Resumed from" in again.stdout and "epoch 1 of 1 done" in again.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_killing_the_launcher_kills_its_processes(tmp_path):
    script = ("import sys; from gluon_densenet.distributed.launcher import launch; "
              "launch([sys.executable, '-c', 'import time; time.sleep(600)'], workers=2)")
    launcher = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    children = []
    deadline = time.monotonic() + limit(300)
    while len(children) < 4 and time.monotonic() < deadline:   # scheduler, server, 2 workers
        time.sleep(0.2)
        children = _children(launcher.pid)
    assert len(children) == 4
    launcher.kill()
    launcher.wait()
    deadline = time.monotonic() + limit(300)
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in children)


def _children(pid):
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines()
                          if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.append(int(status.parent.name))
    return found


def _alive(pid):
    """Running (a zombie, dead but not yet reaped by init, counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_every_role_can_run_the_train_command_as_tools_launch_py_does(tmp_path):
    """MXNet's tools/launch.py starts the scheduler and servers with the workers' command.
    Each worker gets one operator thread, as the launcher gives two workers on two cores."""
    from gluon_densenet.distributed.launcher import _free_ports

    env = {**os.environ, "DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_NUM_SERVER": "1",
           "DMLC_NUM_WORKER": "2", "DMLC_PS_ROOT_PORT": str(_free_ports(1, "127.0.0.1")[0]),
           "DMLC_NODE_HOST": "127.0.0.1", "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    command = [*CLI, "train", "--kvstore", "dist_sync", "--shipped", "--subset", "512",
               "--test-subset", "100", "--batch-size", "64", "--epochs", "1", "--quiet",
               "--out", str(tmp_path / "run")]
    roles = ("scheduler", "server", "worker", "worker")
    procs = [subprocess.Popen(command, env={**env, "DMLC_ROLE": role}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
             for role in roles]
    outputs = _outputs_or_what_they_were_doing(procs, roles, JOB_TIMEOUT_S)
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    assert outputs[0] == outputs[1] == ""                   # the nodes only served
    assert (tmp_path / "run" / "model.params").is_file()


def _outputs_or_what_they_were_doing(procs, labels, timeout):
    """Each process's output; a job not done by ``timeout`` fails the test with what each
    process was doing and, through SIGABRT and PYTHONFAULTHANDLER, its Python tracebacks."""
    outputs = [""] * len(procs)
    readers = [threading.Thread(target=lambda i=i: outputs.__setitem__(
        i, procs[i].communicate()[0])) for i in range(len(procs))]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout
    for reader in readers:
        reader.join(max(0.0, deadline - time.monotonic()))
    if not any(reader.is_alive() for reader in readers):
        return outputs
    doing = [f"{label} (pid {p.pid}): {describe_process(p.pid)}"
             for label, p in zip(labels, procs) if p.poll() is None]
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGABRT)
    for p, reader in zip(procs, readers):
        reader.join(limit(30))
        if reader.is_alive():
            p.kill()
            reader.join()
    said = "\n".join(f"--- {label}:\n{out}" for label, out in zip(labels, outputs))
    pytest.fail(f"the job had not ended after {timeout:.0f} s; what each process was doing:\n"
                + "\n".join(doing) + f"\n{said}")


def test_a_distributed_run_resumes_from_rank_0s_checkpoint(tmp_path):
    run = tmp_path / "run"
    args = ["launch", "--", "train", "--kvstore", "dist_sync", "--shipped", "--subset", "1000",
            "--test-subset", "200", "--quiet", "--out", str(run)]
    first = _cli(*args, "--epochs", "1")
    assert first.returncode == 0, first.stdout + first.stderr
    second = _cli(*args, "--epochs", "2")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "[worker 0] Resumed from" in second.stdout and "epoch 1 of 2 done" in second.stdout
    assert "[worker 1] Resumed" not in second.stdout           # rank 0 speaks for the run
    history = json.loads((run / "history.json").read_text())["records"]
    assert [r["epoch"] for r in history] == [1, 2] and history[1]["test_acc"] is not None
    other = _cli("launch", "--workers", "1", "--", *args[2:], "--epochs", "3")
    assert other.returncode == 2                               # the worker's status
    assert "[worker 0] error: " in other.stdout and "other settings (workers)" in other.stdout
    assert other.stderr.startswith("error: worker 0 exited with status 2; stopped scheduler")


def test_a_nan_loss_on_one_worker_stops_every_worker_alike(tmp_path):
    """Divergence is judged on the loss summed over workers, so no worker waits for one that
    stopped."""
    result, output, _ = _job(tmp_path, "--kvstore", "dist_sync", "--nan", "1")
    assert result.returncode == 1
    for rank in (0, 1):
        assert any(line.startswith(f"[worker {rank}] ") and
                   "TrainingDivergedError: Training diverged: loss is nan" in line
                   for line in output.splitlines()), output


# ----------------------------------------------------------------- loopback only, timeouts
def _listening_addresses(pid):
    """The addresses process ``pid`` listens on (TCP, IPv4 and IPv6), from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found = []
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:          # 0A: LISTEN
                found.append(_address(fields[1].split(":")[0]))
    return found


def _address(hex_address):
    """An address of /proc/net/tcp{,6}: 32-bit words in the host's byte order."""
    raw = bytes.fromhex(hex_address)
    words = [raw[i:i + 4][::-1] if sys.byteorder == "little" else raw[i:i + 4]
             for i in range(0, len(raw), 4)]
    return ipaddress.ip_address(b"".join(words))


def _loopback(address):
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


@pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="reads Linux's /proc")
@pytest.mark.parametrize("inherited", [{}, {"DMLC_NODE_HOST": "0.0.0.0",
                                            "DMLC_INTERFACE": "no-such-interface"}])
def test_every_node_of_a_launched_job_listens_on_loopback_only(tmp_path, inherited):
    """ps-lite would bind servers and workers to the first interface that is not loopback,
    or to an inherited DMLC_NODE_HOST (0.0.0.0: every interface) or DMLC_INTERFACE."""
    env = {k: v for k, v in os.environ.items() if k not in ("DMLC_NODE_HOST", "DMLC_INTERFACE")}
    env.update(inherited)
    hold = tmp_path / "hold"
    hold.mkdir()
    out = tmp_path / "out.txt"
    done = {}

    def job():
        with open(out, "w") as f:
            done["result"] = launch([sys.executable, str(WORKER), str(tmp_path), "worker",
                                     "--kvstore", "dist_sync", "--hold", str(hold)],
                                    workers=2, servers=1, env=env, out=f,
                                    timeout=JOB_TIMEOUT_S)
    runner = threading.Thread(target=job)
    runner.start()
    try:
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while not all((hold / f"rank{r}.ready").exists() for r in (0, 1)):
            assert runner.is_alive() and time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        nodes = [pid for pid in _children(os.getpid())
                 if b"import mxnet" in Path(f"/proc/{pid}/cmdline").read_bytes()
                 or str(WORKER).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(nodes) == 4                           # scheduler, server, two workers
        listening = {pid: _listening_addresses(pid) for pid in nodes}
        print({pid: [str(a) for a in addresses] for pid, addresses in listening.items()})
        assert all(listening.values()), f"a node listens nowhere, nothing checked: {listening}"
        assert all(_loopback(a) for addresses in listening.values() for a in addresses), \
            listening
        for pid in nodes:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            assert b"DMLC_NODE_HOST=127.0.0.1" in environ
            assert not any(v.startswith(b"DMLC_INTERFACE=") for v in environ)
    finally:
        (hold / "go").touch()
        runner.join()
    assert done["result"].returncode == 0, out.read_text()


def test_a_timed_out_job_says_what_each_process_was_doing(tmp_path):
    """The job is meant to time out here: its worker waits forever."""
    script = ("import time\nprint('started', flush=True)\n"
              "def waiting_for_something_that_never_comes():\n    time.sleep(3600)\n"
              "waiting_for_something_that_never_comes()\n")
    out = tmp_path / "out.txt"
    with open(out, "w") as f:
        result = launch([sys.executable, "-c", script], workers=1, out=f, timeout=8)
    text = out.read_text()
    assert result.returncode == 124, text
    assert "(what each was doing is printed above)" in result.message
    assert "[launch] timed out; what each process was doing:" in text
    for label in ("scheduler", "server", "worker 0"):
        pid = result.pids[label]
        line = next((ln for ln in text.splitlines()
                     if ln.startswith(f"[launch]   {label} (pid {pid}): ")), None)
        assert line is not None, text
        if sys.platform.startswith("linux"):
            assert "s of CPU" in line and " thread" in line, line
    assert "[launch]   worker 0 (pid" in text and "last output: started" in text
    worker_lines = [ln for ln in text.splitlines() if ln.startswith("[worker 0] ")]
    assert any("waiting_for_something_that_never_comes" in ln for ln in worker_lines), text
    assert all(status is not None for status in result.statuses.values())   # none left


def test_describe_process_reads_state_and_cpu_time():
    if not Path("/proc/self/stat").exists():
        assert describe_process(os.getpid()) == "no /proc entry"
        return
    assert describe_process(os.getpid()).startswith("running")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    try:
        deadline = time.monotonic() + limit(60)
        while not describe_process(sleeper.pid).startswith("sleeping"):
            assert time.monotonic() < deadline, describe_process(sleeper.pid)
            time.sleep(0.05)
        assert "s of CPU, 1 thread" in describe_process(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert describe_process(sleeper.pid) == "no /proc entry"
