"""Execute chapters as full runs and store their outputs in the paired .ipynb (the pages).

    python scripts/execute_notebooks.py [notebooks/01_dense_blocks.py ...]

The committed .ipynb files carry these outputs, so readers on the web see the real
figures. Experiments go through ``run_or_load``: a chapter whose settings are unchanged
reuses its committed ``notebooks/results/*.json`` (set GLUON_DENSENET_RERUN=1 to redo
them: ``make full-runs``). Chapter 3 trains in the page itself, so it always re-trains.
CI executes the same chapters in smoke mode under nbval, which skips the cells tagged
``nbval-ignore-output`` (those whose output differs between the modes).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def _strip_execution_metadata(path: Path) -> None:
    """Drop nbconvert's per-cell timestamps so re-running gives small diffs."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


def main(argv: list[str]) -> int:
    sources = [Path(a).resolve() for a in argv] or sorted((ROOT / "notebooks").glob("*.py"))
    env = dict(os.environ, MPLBACKEND="module://matplotlib_inline.backend_inline")
    env.setdefault("GLUON_DENSENET_SMOKE", "0")
    for src in sources:
        start = time.time()
        subprocess.run([sys.executable, "-m", "jupytext", "--quiet", "--to", "ipynb",
                        "--execute", "--set-kernel", "python3", src.name],
                       check=True, env=env, cwd=src.parent)
        _strip_execution_metadata(src.with_suffix(".ipynb"))
        print(f"{src.name}: {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
