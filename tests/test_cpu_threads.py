"""The operator-thread default (gluon_densenet.runtime.cpu_threads): set before MXNet is imported,
never over the user's choice, a warning when it came too late, shares for launched workers."""
import os
import subprocess
import sys
import warnings

import pytest

from gluon_densenet.distributed.launcher import launch
from gluon_densenet.runtime import cpu_threads

PROBE = ("import json, os, warnings\n{imports}\n"
         "from gluon_densenet.runtime import cpu_threads\n"
         "print(json.dumps({{'env': os.environ.get('MXNET_OMP_MAX_THREADS'),"
         " 'threads': cpu_threads.mxnet_threads(), 'cores': cpu_threads.physical_cores(),"
         " 'warning': cpu_threads.thread_warning()}}))")


def probe(imports: str, **env) -> dict:
    import json
    clean = {k: v for k, v in os.environ.items()
             if k not in (*cpu_threads.THREAD_VARIABLES, cpu_threads.DEFAULT_MARKER)}
    out = subprocess.run([sys.executable, "-c", PROBE.format(imports=imports)],
                         env={**clean, **env}, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_physical_cores_is_at_most_the_usable_cpus():
    assert 1 <= cpu_threads.physical_cores() <= len(os.sched_getaffinity(0))


def test_importing_the_package_first_gives_mxnet_every_core():
    r = probe("import gluon_densenet\nimport mxnet")
    assert r["env"] == str(r["cores"])
    assert r["threads"] == r["cores"]
    assert r["warning"] is None


def test_the_users_choice_wins():
    r = probe("import gluon_densenet\nimport mxnet", OMP_NUM_THREADS="1")
    assert r["env"] is None and r["threads"] == 1 and r["warning"] is None
    r = probe("import gluon_densenet\nimport mxnet", MXNET_OMP_MAX_THREADS="3")
    assert r["env"] == "3" and r["threads"] == 3


def test_mxnet_imported_first_keeps_its_default_and_says_how_to_fix_it():
    r = probe("import mxnet\nimport gluon_densenet")
    assert r["env"] is None
    if cpu_threads.physical_cores() < 2:
        pytest.skip("one core: MXNet's default already uses it")
    if r["threads"] >= r["cores"]:
        pytest.skip("MXNet's default uses every core on this CPU (not x86)")
    assert "MXNET_OMP_MAX_THREADS" in r["warning"] and "import gluon_densenet first" in \
        r["warning"]


def test_threads_from_environment_reads_the_variables_in_mxnets_order():
    rule = cpu_threads.threads_from_environment
    assert rule({"MXNET_OMP_MAX_THREADS": "3", "OMP_NUM_THREADS": "1"}) == 3
    assert rule({"OMP_NUM_THREADS": "5"}) == 5
    assert rule({"OMP_NUM_THREADS": "0"}) >= 1


def test_user_setting_leaves_out_the_package_default_also_in_child_processes():
    marker = cpu_threads.DEFAULT_MARKER
    setting = cpu_threads.user_thread_setting
    assert setting({"MXNET_OMP_MAX_THREADS": "2", marker: "2"}) == {}
    assert setting({"MXNET_OMP_MAX_THREADS": "1", marker: "2"}) == {"MXNET_OMP_MAX_THREADS": "1"}
    assert setting({"OMP_NUM_THREADS": "1"}) == {"OMP_NUM_THREADS": "1"}
    assert cpu_threads.without_package_default(
        {"MXNET_OMP_MAX_THREADS": "2", marker: "2", "PATH": "x"}) == {"PATH": "x"}
    # a child of a process that imported gluon_densenet sees the default as the default
    r = probe("import gluon_densenet\nimport os, subprocess, sys\n"
              "out = subprocess.run([sys.executable, '-c', 'import gluon_densenet.runtime."
              "cpu_threads as t; print(t.user_thread_setting())'], capture_output=True, "
              "text=True).stdout\n"
              "assert out.strip() == '{}', out")
    assert r["env"] == str(r["cores"])


def test_train_warns_when_mxnet_uses_fewer_threads_than_cores(monkeypatch):
    import mxnet as mx

    from gluon_densenet import densenet_tiny
    from gluon_densenet.training import train
    hint = "MXNet uses 1 of 2 CPU cores because ..."
    monkeypatch.setattr("gluon_densenet.training.checks.thread_warning", lambda: hint)
    X = mx.nd.random.uniform(shape=(4, 1, 32, 32))
    y = mx.nd.array([0, 1, 2, 3])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(densenet_tiny(classes=10, in_channels=1), [(X, y)], [(X, y)], epochs=1,
              ctx=mx.cpu(), progress=False, hybridize=False)
    assert hint in [str(w.message) for w in caught]


def _worker_threads(env: dict) -> dict:
    code = ("import os, mxnet; kv = mxnet.kv.create('dist_sync'); "   # joins the job
            "print('THREADS', os.environ.get('OMP_NUM_THREADS'), "
            "os.environ.get('MXNET_OMP_MAX_THREADS'))")
    lines = []

    class Out:
        def write(self, s):
            lines.append(s)

        def flush(self):
            pass
    result = launch([sys.executable, "-c", code], workers=2, servers=1, env=env, out=Out())
    assert result.returncode == 0, result.message
    return {tuple(line.split("THREADS ")[1].split()) for line in "".join(lines).splitlines()
            if "THREADS" in line}


def test_launched_workers_share_the_cores_or_keep_the_users_setting():
    clean = {k: v for k, v in os.environ.items()
             if k not in (*cpu_threads.THREAD_VARIABLES, cpu_threads.DEFAULT_MARKER)}
    share = str(max(1, cpu_threads.physical_cores() // 2))
    # the package's own default in the launcher's environment is replaced by the share
    default = {"MXNET_OMP_MAX_THREADS": "7", cpu_threads.DEFAULT_MARKER: "7"}
    assert _worker_threads({**clean, **default}) == {(share, share)}
    assert _worker_threads({**clean, "OMP_NUM_THREADS": "1"}) == {("1", "None")}
    # the user's OMP_NUM_THREADS beside an inherited package default: the user's wins
    assert _worker_threads({**clean, **default, "OMP_NUM_THREADS": "1"}) == {("1", "None")}


def test_a_childs_own_thread_choice_beats_an_inherited_default():
    marker = cpu_threads.DEFAULT_MARKER
    r = probe("import gluon_densenet\nimport mxnet", MXNET_OMP_MAX_THREADS="9",
              **{marker: "9"}, OMP_NUM_THREADS="1")
    assert r["env"] is None and r["threads"] == 1


def test_the_suite_and_its_subprocesses_wait_the_way_a_shared_machine_needs():
    """tests/conftest.py's short OpenMP spin reaches the tests' subprocesses (and kernels)."""
    user = os.environ.get("OMP_WAIT_POLICY")
    if user is None:
        assert os.environ["GOMP_SPINCOUNT"]
    out = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get("
                          "'GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'))"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == [os.environ.get("GOMP_SPINCOUNT", "None"), user or "None"]
    assert cpu_threads.SHARED_MACHINE_SPINCOUNT.isdigit()
