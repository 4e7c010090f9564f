"""Where the exercise chapters keep their numbers, and what each number came from.

A full run writes ``notebooks/results/<name>`` (committed: the page a reader sees shows
it); a smoke run writes ``notebooks/runs/<name>`` (git-ignored), so CI never overwrites
the committed figures. :func:`run_or_load` is the one entry point of a chapter's
experiment: in smoke mode it always computes; in a full run it reuses the committed
result when the chapter's settings are unchanged, so re-rendering a page does not
redo an hour of training. Every result carries :func:`run_metadata` (date, machine,
load), which :func:`describe_run` turns into the label printed above its figures.
Paths are relative to the notebook's directory by default.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..atomic_files import read_json, write_json
from .smoke import env_flag, smoke_mode

__all__ = ["FULL_DIR", "RERUN_ENV", "SMOKE_DIR", "SMOKE_LABEL", "describe_run", "load_result",
           "output_path", "results_path", "run_metadata", "run_or_load", "write_json"]

FULL_DIR = "results"
SMOKE_DIR = "runs"
RERUN_ENV = "GLUON_DENSENET_RERUN"
SMOKE_LABEL = "SMOKE RUN"   # how describe_run marks a CI-only result (the web book refuses it)


def output_path(name: str, root: str | Path = ".", smoke: bool | None = None) -> Path:
    """Where this run should write ``name``: ``runs/`` in smoke mode, else ``results/``."""
    smoke = smoke_mode() if smoke is None else smoke
    return Path(root) / (SMOKE_DIR if smoke else FULL_DIR) / name


def results_path(name: str, root: str | Path = ".") -> Path:
    """The committed full-run file ``results/<name>`` (which may not exist yet)."""
    return Path(root) / FULL_DIR / name


def load_result(path: str | Path) -> Any | None:
    """The JSON at ``path``, or ``None`` if there is no such file (no full run yet)."""
    return read_json(path) if Path(path).exists() else None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_metadata() -> dict[str, Any]:
    """What a reader needs to judge a figure: UTC date, mode, CPU, core count, GPUs MXNet
    can use, MXNet version and the 1-minute load average (other jobs slow timings)."""
    import mxnet as mx

    from ..runtime.devices import try_all_gpus

    gpus = [str(c) for c in try_all_gpus() if c.device_type == "gpu"]
    return {"date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "smoke": smoke_mode(), "cpu": _cpu_model(), "cores": os.cpu_count(),
            "gpus": gpus, "mxnet": mx.__version__, "load_before": os.getloadavg()[0]}


def describe_run(result: dict[str, Any]) -> str:
    """One line saying what produced ``result``: smoke or full run, when, on what."""
    meta = result.get("meta")
    if meta is None:
        return "(a result without run metadata)"
    kind = (f"{SMOKE_LABEL} for CI (shipped subset, a few steps): these numbers are not results"
            if meta["smoke"] else "Full run")
    device = ", ".join(meta["gpus"]) if meta["gpus"] else f"{meta['cores']}-core CPU"
    load = f"load average {meta['load_before']:.1f} before"
    if "load_after" in meta:                      # a finished run (run_or_load)
        load += f", {meta['load_after']:.1f} after, {meta['wall_s'] / 60:.1f} min"
    return f"{kind}: {meta['date']}, {device} ({meta['cpu']}), MXNet {meta['mxnet']}, {load}."


def _canonical(config: Any) -> Any:
    return json.loads(json.dumps(config))


def run_or_load(name: str, config: dict[str, Any], compute: Callable[[], dict[str, Any]],
                root: str | Path = ".") -> dict[str, Any]:
    """The chapter's experiment ``name`` with settings ``config``.

    Smoke mode: run ``compute()`` and write ``runs/<name>``. Full mode: return the
    committed ``results/<name>`` if its ``config`` equals this one and
    ``GLUON_DENSENET_RERUN`` is not set; otherwise run ``compute()`` and write
    ``results/<name>``. The returned dict is ``compute()``'s plus ``"config"`` and
    ``"meta"`` (:func:`run_metadata` with ``load_after`` and ``wall_s``).
    """
    config = _canonical(config)
    if not smoke_mode() and not env_flag(RERUN_ENV):
        committed = load_result(results_path(name, root))
        if committed is not None and committed.get("config") == config:
            return committed
    meta = run_metadata()
    start = time.perf_counter()
    result = compute()
    meta.update(load_after=os.getloadavg()[0], wall_s=round(time.perf_counter() - start, 1))
    result = {**result, "config": config, "meta": meta}
    write_json(output_path(name, root), result)
    return result
