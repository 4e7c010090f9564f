"""A distributed job on this machine: MXNet's scheduler, servers and workers as processes on
127.0.0.1, their output streamed with a ``[role rank]`` prefix, and all of them stopped as
soon as one fails.

Every node listens on loopback only. ps-lite binds each node to ``DMLC_NODE_HOST``, else to
the address of ``DMLC_INTERFACE``, else to the first interface that is not loopback; its
ports take pushes from anyone without authentication, so the launcher sets
``DMLC_NODE_HOST=127.0.0.1`` for every node and drops a ``DMLC_INTERFACE`` it inherits.

ps-lite, under MXNet's kvstore, does not notice a dead node: the others wait for it forever
(a job with one worker killed stayed blocked until an outside timeout). So the launcher
watches every process; when one exits with an error or is killed, it stops the rest (SIGTERM
to each process group, SIGKILL after :data:`STOP_GRACE_S`) and returns that process's status.
On Linux each child also gets SIGKILL if the launcher itself is killed, so nothing is left
behind even then.

Ranks follow ports: ps-lite ranks nodes of one host by their port, so worker ``i`` gets the
``i``-th lowest of the free ports picked here (``PORT``) and its prefix is its kvstore rank.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ..runtime.cpu_threads import (
    THREAD_VARIABLES,
    physical_cores,
    user_thread_setting,
    without_package_default,
)

__all__ = ["HOST", "LaunchError", "LaunchResult", "describe_process", "launch", "worker_command"]

HOST = "127.0.0.1"
#: Seconds a process may take to exit after SIGTERM before it gets SIGKILL.
STOP_GRACE_S = 5.0
#: Seconds the scheduler and servers get to exit by themselves once every worker is done.
SHUTDOWN_S = 30.0
POLL_S = 0.05
#: The status of a job stopped by its timeout (as coreutils' ``timeout`` reports it).
EXIT_TIMEOUT = 124
#: What scheduler and servers run: importing mxnet with DMLC_ROLE set runs the node.
NODE_COMMAND = ("-c", "import mxnet")
#: A line of a node's output longer than this is cut (a crash report lists every module).
MAX_LINE_CHARS = 2000


class LaunchError(ValueError):
    """A job that cannot start (bad counts, a port in use); the message says the fix."""


@dataclass
class LaunchResult:
    """How a job ended.

    Attributes:
        returncode: 0 when every worker succeeded; else the failing process's status
            (128 + N when it was killed by signal N), 130 when interrupted.
        message: one line saying what happened (empty on success).
        pids: process id of each node, by label (``"worker 0"``); all of them have exited.
        statuses: each node's exit status, by label, as ``subprocess`` reports it
            (negative: killed by that signal).
    """

    returncode: int
    message: str = ""
    pids: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int | None] = field(default_factory=dict)


def worker_command(args: Sequence[str]) -> list[str]:
    """The command line of a worker running ``gluon-densenet ARGS`` with this Python."""
    return [sys.executable, "-m", "gluon_densenet", *args]


def _free_ports(count: int, host: str) -> list[int]:
    """``count`` distinct ports nobody listens on now, ascending (the OS picks them)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            sockets.append(s)
        return sorted(s.getsockname()[1] for s in sockets)
    finally:
        for s in sockets:
            s.close()


def _check_port(port: int, host: str) -> None:
    """Raise :class:`LaunchError` unless ``port`` can be bound on ``host``."""
    if not 1 <= port <= 65535:
        raise LaunchError(f"port {port} is not a TCP port; pass --port between 1024 and 65535, "
                          "or leave it out to pick a free one")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as err:
            raise LaunchError(f"port {port} on {host} cannot be used for the scheduler "
                              f"({err.strerror or err}); pass another --port, or leave it out "
                              "to pick a free one") from None


def _die_with(parent: int):
    """What a child runs before exec: SIGKILL when the launcher dies (Linux's
    PR_SET_PDEATHSIG), and exit at once if it died before that was set."""
    def arm() -> None:
        _PRCTL(1, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)
    return arm


try:                                             # Linux only; elsewhere no such guarantee
    import ctypes

    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):
    _PRCTL = None


class _Node:
    """One process of the job and the thread that streams its output."""

    def __init__(self, label: str, argv: Sequence[str], env: Mapping[str, str]):
        self.label = label
        self.proc = subprocess.Popen(
            list(argv), env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with(os.getpid()) if _PRCTL is not None else None)
        self.reader: threading.Thread | None = None
        self.last_line = ""

    def stream_to(self, out: TextIO, lock: threading.Lock) -> None:
        """Copy the output to ``out`` line by line, each line prefixed ``[label] ``; a
        carriage return (a progress bar's refresh) ends a line too."""
        def pump() -> None:
            pending = b""
            for chunk in iter(lambda: self.proc.stdout.read1(65536), b""):
                *lines, pending = re.split(rb"\r\n|\r|\n", pending + chunk)
                self._write(lines, out, lock)
            self._write([pending], out, lock)
        self.reader = threading.Thread(target=pump, name=f"output of {self.label}", daemon=True)
        self.reader.start()

    def _write(self, lines: list[bytes], out: TextIO, lock: threading.Lock) -> None:
        text = [t for t in (_cut(line.decode(errors="replace").rstrip()) for line in lines) if t]
        if text:
            self.last_line = text[-1]            # for the report of a timed-out job
            with lock:
                out.write("".join(f"[{self.label}] {t}\n" for t in text))
                out.flush()

    def stop(self, sig: int) -> None:
        """Send ``sig`` to the node's process group (it may have children)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass


def _cut(line: str) -> str:
    if len(line) <= MAX_LINE_CHARS:
        return line
    return f"{line[:MAX_LINE_CHARS]} ... ({len(line) - MAX_LINE_CHARS:,} more characters)"


_STATES = {"R": "running", "S": "sleeping", "D": "waiting for the disk", "T": "stopped",
           "t": "stopped by a debugger", "Z": "a zombie", "X": "dead", "I": "idle"}


def describe_process(pid: int) -> str:
    """What process ``pid`` is doing, from Linux's ``/proc``: its state, the kernel function
    it waits in, and the CPU time it has used (``"no /proc entry"`` elsewhere or once gone).

    Args:
        pid: a process id.

    Returns:
        E.g. ``"sleeping in do_epoll_wait, 3.2 s of CPU, 14 threads"``.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return "no /proc entry"
    state = _STATES.get(fields[0], f"in state {fields[0]}")
    try:
        wchan = Path(f"/proc/{pid}/wchan").read_text().strip()
    except OSError:
        wchan = ""
    where = f" in {wchan}" if wchan and wchan != "0" else ""
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    threads = int(fields[17])
    return f"{state}{where}, {cpu:.1f} s of CPU, {threads} thread{'s' * (threads != 1)}"


def _describe(status: int) -> str:
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"was killed by {name}"
    return f"exited with status {status}"


def _shell_status(status: int) -> int:
    """A process's status as a shell reports it: 128 + N for a kill by signal N."""
    return 128 - status if status < 0 else status


def launch(
    command: Sequence[str],
    workers: int,
    servers: int = 1,
    *,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    timeout: float | None = None,
) -> LaunchResult:
    """Run ``command`` as ``workers`` workers of a ``dist_*`` kvstore job on 127.0.0.1.

    The scheduler and ``servers`` servers run ``python -c "import mxnet"`` with their role;
    the workers run ``command`` (e.g. :func:`worker_command` of ``train --kvstore
    dist_sync``). All share ``DMLC_PS_ROOT_URI``, ``DMLC_PS_ROOT_PORT``,
    ``DMLC_NUM_SERVER``, ``DMLC_NUM_WORKER`` and ``DMLC_NODE_HOST`` (127.0.0.1: no node
    listens beyond loopback), and each gets ``DMLC_ROLE`` and ``PORT``.
    Workers get ``OMP_NUM_THREADS`` and ``MXNET_OMP_MAX_THREADS`` = physical cores // workers
    unless the user set one of them, so that they do not fight over the cores.

    Args:
        command: the workers' command line.
        workers: number of workers, >= 1.
        servers: number of servers, >= 1.
        port: the scheduler's port (default: a free one).
        env: the environment the nodes start from (default ``os.environ``).
        out: where the prefixed output goes (default ``sys.stdout``).
        timeout: seconds after which a job still running is stopped (status
            :data:`EXIT_TIMEOUT`), after ``out`` has been told what each process was
            doing and each Python process has printed its tracebacks; default none.

    Returns:
        The :class:`LaunchResult`; when a process fails, every other one has been stopped.

    Raises:
        LaunchError: a count below 1, an empty command, a timeout <= 0, or a port that
            cannot be bound, before anything is started.
    """
    for name, value in (("workers", workers), ("servers", servers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LaunchError(f"--{name} must be an integer >= 1, got {value!r}; "
                              f"pass e.g. --{name} {2 if name == 'workers' else 1}")
    if not command:
        raise LaunchError("no command for the workers; pass it after '--', "
                          "e.g. -- train --kvstore dist_sync --smoke")
    if timeout is not None and not timeout > 0:
        raise LaunchError(f"--timeout must be a number of seconds > 0, got {timeout}; "
                          "pass e.g. --timeout 3600, or leave it out for none")
    if port is not None:
        _check_port(port, HOST)
    ports = _free_ports(workers + servers + (port is None), HOST)
    root_port = port if port is not None else ports.pop(0)
    out = out if out is not None else sys.stdout
    base = dict(os.environ if env is None else env)
    base.update(DMLC_PS_ROOT_URI=HOST, DMLC_PS_ROOT_PORT=str(root_port),
                DMLC_NUM_SERVER=str(servers), DMLC_NUM_WORKER=str(workers),
                DMLC_NODE_HOST=HOST,             # every node listens on loopback only
                PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1")   # tracebacks on SIGABRT
    base.pop("DMLC_INTERFACE", None)
    base.pop("DMLC_RANK", None)                  # ps-lite would take it over the port order
    # Each worker gets its share of the cores, unless the user chose a thread count.
    threads = user_thread_setting(base)
    base = without_package_default(base)     # the user's choice, or a share of the cores
    if not threads:
        threads = dict.fromkeys(THREAD_VARIABLES, str(max(1, physical_cores() // workers)))
    plan = [("scheduler", [sys.executable, *NODE_COMMAND], {"DMLC_ROLE": "scheduler"})]
    plan += [(f"server {i}" if servers > 1 else "server", [sys.executable, *NODE_COMMAND],
              {"DMLC_ROLE": "server", "PORT": str(ports[workers + i])}) for i in range(servers)]
    plan += [(f"worker {i}", list(command),
              {"DMLC_ROLE": "worker", "PORT": str(ports[i]), **threads})
             for i in range(workers)]

    nodes: list[_Node] = []
    lock = threading.Lock()
    try:
        for label, argv, extra in plan:          # all started before any reader thread
            nodes.append(_Node(label, argv, {**base, **extra}))
        for node in nodes:
            node.stream_to(out, lock)
        return _supervise(nodes, None if timeout is None else time.monotonic() + timeout,
                          out, lock)
    except KeyboardInterrupt:
        _stop(nodes)
        return _result(nodes, 130, "interrupted; stopped every process of the job")
    finally:
        _stop(nodes)
        for node in nodes:
            if node.reader is not None:
                node.reader.join(timeout=STOP_GRACE_S)


def _supervise(nodes: list[_Node], deadline: float | None, out: TextIO,
               lock: threading.Lock) -> LaunchResult:
    """Wait for the job; on the first failure stop everything else.

    A failure is a node that exits with an error or is killed. The scheduler and servers
    end by themselves once the workers are done; one of them ending first, or not ending,
    is given :data:`SHUTDOWN_S` before the rest are stopped. At the deadline, what each
    process was doing goes to ``out`` (:func:`_report_stuck`) before all are stopped.
    """
    workers = [n for n in nodes if n.label.startswith("worker")]
    quiet_since = None
    while True:
        for node in nodes:
            status = node.proc.poll()
            if status not in (None, 0):
                others = [n.label for n in nodes if n is not node and n.proc.poll() is None]
                _stop(nodes)
                stopped = f"; stopped {', '.join(others)}" if others else ""
                return _result(nodes, _shell_status(status),
                               f"{node.label} {_describe(status)}{stopped}")
        running = [n.label for n in nodes if n.proc.poll() is None]
        if not running:
            return _result(nodes, 0, "")
        if deadline is not None and time.monotonic() > deadline:
            _report_stuck(nodes, out, lock)
            _stop(nodes)
            return _result(nodes, EXIT_TIMEOUT, f"the job had not ended by its timeout; "
                                                f"stopped {', '.join(running)} (what each "
                                                "was doing is printed above)")
        workers_done = all(n.proc.poll() == 0 for n in workers)
        node_ended = any(n.proc.poll() is not None for n in nodes if n not in workers)
        if workers_done or node_ended:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > SHUTDOWN_S:
                _stop(nodes)
                if workers_done:
                    return _result(nodes, 0, f"every worker succeeded; {', '.join(running)} "
                                             f"did not exit within {SHUTDOWN_S:.0f} s and "
                                             "was stopped")
                return _result(nodes, 1, f"{', '.join(running)} still running "
                                         f"{SHUTDOWN_S:.0f} s after the others ended; "
                                         "stopped them")
        time.sleep(POLL_S)


def _report_stuck(nodes: list[_Node], out: TextIO, lock: threading.Lock) -> None:
    """Say what every running node is doing, then send it SIGABRT: a Python process (started
    with ``PYTHONFAULTHANDLER``) prints the traceback of each of its threads."""
    running = [n for n in nodes if n.proc.poll() is None]
    with lock:
        out.write("[launch] timed out; what each process was doing:\n")
        for node in running:
            said = f"; last output: {node.last_line}" if node.last_line else "; no output yet"
            out.write(f"[launch]   {node.label} (pid {node.proc.pid}): "
                      f"{describe_process(node.proc.pid)}{said}\n")
        out.flush()
    for node in running:
        try:
            os.kill(node.proc.pid, signal.SIGABRT)
        except ProcessLookupError:
            pass
    _still_running_after(running, STOP_GRACE_S)      # time to print them before SIGTERM


def _stop(nodes: list[_Node]) -> None:
    """SIGTERM to every running node, SIGKILL to those still running after the grace."""
    running = [n for n in nodes if n.proc.poll() is None]
    for node in running:
        node.stop(signal.SIGTERM)
    for node in _still_running_after(running, STOP_GRACE_S):
        node.stop(signal.SIGKILL)
        node.proc.wait()


def _still_running_after(nodes: list[_Node], seconds: float) -> list[_Node]:
    """Wait up to ``seconds`` in all for ``nodes`` to exit; those that have not."""
    deadline = time.monotonic() + seconds
    left = []
    for node in nodes:
        try:
            node.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            left.append(node)
    return left


def _result(nodes: list[_Node], returncode: int, message: str) -> LaunchResult:
    return LaunchResult(returncode, message, {n.label: n.proc.pid for n in nodes},
                        {n.label: n.proc.poll() for n in nodes})
