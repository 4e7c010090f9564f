"""Execute every chapter in smoke mode and store its outputs in the paired .ipynb.

    python scripts/execute_notebooks.py [notebooks/01_dense_blocks.py ...]

The committed .ipynb files carry these outputs: readers see results on the web and
nbval compares a fresh run against them. Set GLUON_DENSENET_SMOKE=0 to store a full run.
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
    env.setdefault("GLUON_DENSENET_SMOKE", "1")
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
