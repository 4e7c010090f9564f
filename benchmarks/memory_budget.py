"""The largest training batch that fits a fixed memory budget: the default fast path against
memory-efficient training (DenseNet-121, 224 px by default).

Each probe is a fresh process (``python -m benchmarks.run --worker``) that builds the net and
takes two training steps at one batch size. Where this user may create a cgroup-v1 memory
cgroup inside its own (usually as root), the probe runs in one limited to the budget and
fits when it finishes (the kernel kills it otherwise). Elsewhere it runs unlimited and fits
when its peak resident memory (``VmHWM``) is within the budget; the result says which.
The search doubles the batch until a probe fails, then bisects.

Run from the repository root:

    python -m benchmarks.memory_budget                    # 2 GiB, 224 px
    python -m benchmarks.memory_budget --budget-mib 1024 --size 224
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from benchmarks import common
from gluon_densenet.atomic_files import write_json

#: The contenders compared, as named in :mod:`benchmarks.run`.
CONTENDERS = ("gluon", "gluon_me")


def _own_memory_cgroup() -> Path | None:
    """This process's cgroup-v1 memory cgroup directory, if there is one."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
    return None


def _cgroup_parent(limit_mib: int) -> Path | None:
    """Where a memory-limited child cgroup can be made: inside this process's own cgroup-v1
    memory cgroup (so its limits still hold), when this user may; else None (cgroup v2's
    delegation rules are not handled: peak RSS is used there)."""
    parent = _own_memory_cgroup()
    if parent is None or not (parent / "memory.limit_in_bytes").exists() \
            or not os.access(parent, os.W_OK):
        return None
    try:                                    # one trial group: creation can still be refused
        _Cgroup(parent, limit_mib).remove()
    except OSError:
        return None
    return parent


class _Cgroup:
    """A cgroup-v1 memory cgroup under ``parent`` limited to ``limit_mib`` (with swap, where
    accounted), removed by :meth:`remove`."""

    def __init__(self, parent: Path, limit_mib: int):
        self.path = parent / f"gluon-densenet-budget-{uuid.uuid4().hex[:8]}"
        self.path.mkdir()
        limit = str(limit_mib * 1024 * 1024)
        try:
            (self.path / "memory.limit_in_bytes").write_text(limit)
            swap = self.path / "memory.memsw.limit_in_bytes"
            if swap.exists():
                swap.write_text(limit)
        except OSError:
            self.remove()
            raise

    def enter(self) -> None:
        """Move the calling process in (``preexec_fn`` of the probe)."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        try:
            self.path.rmdir()
        except OSError:
            pass


def probe(contender: str, batch: int, size: int, budget_mib: int, tiny: bool,
          cgroup: Path | None, timeout: float = 900) -> dict:
    """Two training steps of ``contender`` at ``batch`` in a fresh process under the budget.

    Args:
        contender: ``"gluon"`` or ``"gluon_me"`` (as in :mod:`benchmarks.run`).
        batch: the batch size tried.
        size: the input side in px.
        budget_mib: the memory budget.
        tiny: the tiny net instead of DenseNet-121.
        cgroup: the parent of a limited cgroup to run in, or None (judge by peak RSS).
        timeout: seconds before the probe is killed (it then does not fit).

    Returns:
        ``{"batch", "fits", "how"}``, with ``peak_rss_mib`` when the probe finished and
        ``error`` (the last line it printed) when it failed.
    """
    cfg = dict(contender=contender, task="train", size=size, batch=batch, iters=1, warmup=1,
               tiny=tiny)
    cmd = [sys.executable, "-m", "benchmarks.run", "--worker", json.dumps(cfg)]
    group = _Cgroup(cgroup, budget_mib) if cgroup else None
    how = "cgroup" if group else "peak RSS"
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=common.ROOT,
                              timeout=timeout, preexec_fn=group.enter if group else None)
    except subprocess.TimeoutExpired:
        return {"batch": batch, "fits": False, "how": how, "error": f"timeout after {timeout} s"}
    finally:
        if group:
            group.remove()
    result = next((json.loads(line[len("RESULT "):]) for line in proc.stdout.splitlines()
                   if line.startswith("RESULT ")), None)
    if result is None:
        last = (proc.stderr.strip().splitlines() or [f"status {proc.returncode}"])[-1]
        return {"batch": batch, "fits": False, "how": how,
                "error": f"status {proc.returncode}: {last[:200]}"}
    peak = result["peak_rss_mib"]
    return {"batch": batch, "fits": True if group else peak <= budget_mib,
            "peak_rss_mib": peak, "how": how}


def largest_batch(contender: str, size: int, budget_mib: int, tiny: bool,
                  cgroup: Path | None, start: int = 1, limit: int = 4096,
                  log: Callable[[str], object] = print) -> tuple[int, list[dict]]:
    """The largest batch of ``contender`` that fits the budget: doubling from ``start`` until
    a probe fails (or ``limit`` is passed), then bisecting.

    Returns:
        ``(batch, probes)``: the batch (0 if even ``start`` does not fit, or nothing up to
        ``limit`` was tried) and every probe's result in order.
    """
    probes: list[dict] = []

    def fits(batch: int) -> bool:
        r = probe(contender, batch, size, budget_mib, tiny, cgroup)
        probes.append(r)
        log(f"  {contender} batch {batch}: {'fits' if r['fits'] else 'does not fit'}"
            + (f" (peak {r['peak_rss_mib']:.0f} MiB)" if "peak_rss_mib" in r else "")
            + (f" ({r['error']})" if "error" in r and r["how"] != "cgroup" else ""))
        return r["fits"]

    good, bad = 0, None
    batch = start
    while batch <= limit:                          # double until it fails
        if fits(batch):
            good, batch = batch, batch * 2
        else:
            bad = batch
            break
    if bad is None:
        return good, probes
    while bad - good > 1:                          # then bisect
        mid = (good + bad) // 2
        if fits(mid):
            good = mid
        else:
            bad = mid
    return good, probes


def measure(size: int = 224, budget_mib: int = 2048, tiny: bool = False, start: int = 4,
            max_batch: int = 4096, log: Callable[[str], object] = print) -> dict:
    """The largest training batch of each contender within ``budget_mib``.

    Returns:
        ``{"size", "budget_mib", "method", "contenders": {name: {"largest_batch",
        "probes"}}, "ratio"}``, ratio = memory-efficient over default (None if the default
        fits no batch).
    """
    cgroup = _cgroup_parent(budget_mib)
    how = "cgroup v1 memory limit" if cgroup else "peak RSS within the budget"
    log(f"largest batch at {size} px within {budget_mib} MiB ({how})")
    out = {"size": size, "budget_mib": budget_mib, "method": how, "contenders": {}}
    for name in CONTENDERS:
        best, probes = largest_batch(name, size, budget_mib, tiny, cgroup, start=start,
                                     limit=max_batch, log=log)
        out["contenders"][name] = {"largest_batch": best, "probes": probes}
    base = out["contenders"]["gluon"]["largest_batch"]
    me = out["contenders"]["gluon_me"]["largest_batch"]
    out["ratio"] = me / base if base else None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--budget-mib", type=int, default=2048)
    ap.add_argument("--max-batch", type=int, default=4096, help="stop doubling here")
    common.add_common_options(ap, "tiny net, 32 px, 600 MiB, batches up to 4: a smoke test")
    args = ap.parse_args(argv)
    if args.tiny:
        args.size, args.budget_mib, args.max_batch = 32, 600, 4
    if args.budget_mib < 1:
        ap.error(f"--budget-mib must be >= 1, got {args.budget_mib}")
    result = measure(args.size, args.budget_mib, tiny=args.tiny, start=1 if args.tiny else 4,
                     max_batch=args.max_batch)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    path = args.out_dir / "memory_budget.json"
    write_json(path, result, indent=2)
    c = result["contenders"]
    print(f"largest batch under {args.budget_mib} MiB at {args.size} px: default "
          f"{c['gluon']['largest_batch']}, memory-efficient {c['gluon_me']['largest_batch']}"
          + (f" ({result['ratio']:.2f}x)" if result["ratio"] else ""))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
