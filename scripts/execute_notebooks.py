"""Execute chapters as full runs and store their outputs in the paired .ipynb (the pages).

    python scripts/execute_notebooks.py [notebooks/01_dense_blocks.py ...]

The committed .ipynb files carry these outputs, so readers on the web see the real
figures. Experiments go through ``run_or_load``: a chapter whose settings are unchanged
reuses its committed ``notebooks/results/*.json`` (set GLUON_DENSENET_RERUN=1 to redo
them: ``make full-runs``). Chapter 3 trains in the page itself, so it always re-trains.
CI executes the same chapters in smoke mode under nbval, which skips the cells tagged
``nbval-ignore-output`` (those whose output differs between the modes).

Each chapter's wall time is printed and recorded in ``notebooks/page_times.json``
(with the date, the load average and whether experiments were redone); a run time
stated in a page's prose must equal it (``tests/test_prose_figures.py``).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from gluon_densenet.chapters.smoke import env_flag, smoke_mode

ROOT = Path(__file__).resolve().parents[1]
PAGE_TIMES = ROOT / "notebooks" / "page_times.json"


def _strip_execution_metadata(path: Path) -> None:
    """Drop nbconvert's per-cell timestamps so re-running gives small diffs."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


def _record_time(stem: str, wall_s: float, load_before: float) -> None:
    """Add this run of chapter ``stem`` to :data:`PAGE_TIMES` (full runs only)."""
    from gluon_densenet.atomic_files import read_json, write_json

    times = read_json(PAGE_TIMES) if PAGE_TIMES.exists() else {}
    times[stem] = {"wall_s": round(wall_s), "rerun": env_flag("GLUON_DENSENET_RERUN"),
                   "date": time.strftime("%Y-%m-%d", time.gmtime()),
                   "load_before": round(load_before, 1), "load_after": round(os.getloadavg()[0], 1)}
    write_json(PAGE_TIMES, dict(sorted(times.items())))


def main(argv: list[str]) -> int:
    sources = [Path(a).resolve() for a in argv] or sorted((ROOT / "notebooks").glob("*.py"))
    env = dict(os.environ, MPLBACKEND="module://matplotlib_inline.backend_inline")
    env.setdefault("GLUON_DENSENET_SMOKE", "0")
    for src in sources:
        start, load_before = time.time(), os.getloadavg()[0]
        subprocess.run([sys.executable, "-m", "jupytext", "--quiet", "--to", "ipynb",
                        "--execute", "--set-kernel", "python3", src.name],
                       check=True, env=env, cwd=src.parent)
        _strip_execution_metadata(src.with_suffix(".ipynb"))
        wall_s = time.time() - start
        print(f"{src.name}: {wall_s:.0f} s")
        if not smoke_mode():        # the chapters' own switch: env was built from os.environ
            _record_time(src.stem, wall_s, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
