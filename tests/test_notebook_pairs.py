"""Every chapter's text source and .ipynb hold the same cells, and the committed pages
show full runs."""
import json
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("*.py"))


def _cells(nb):
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in nb.cells]


def test_every_notebook_is_paired():
    py = {p.stem for p in SOURCES}
    ipynb = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert py == ipynb, f"unpaired: {sorted(py ^ ipynb)} (run jupytext --sync notebooks/*.py)"
    assert py, "no chapters found"


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_pair_is_in_sync(source):
    text = jupytext.read(source)
    ipynb = jupytext.read(source.with_suffix(".ipynb"))
    assert _cells(text) == _cells(ipynb), \
        f"{source.name} and its .ipynb differ: run `jupytext --sync {source}` (or make pages)"


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_committed_outputs_exist(source):
    nb = jupytext.read(source.with_suffix(".ipynb"))
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code), \
        f"{source.with_suffix('.ipynb').name} was not fully executed: run make pages"


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_committed_pages_are_full_runs(source):
    """A reader must never mistake a smoke figure for a result: no committed output may
    come from a smoke run (describe_run labels those "SMOKE RUN")."""
    nb = jupytext.read(source.with_suffix(".ipynb"))
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
            assert "SMOKE RUN" not in text and "smoke mode: True" not in text, \
                f"{source.with_suffix('.ipynb').name} shows smoke output: run make pages"


def test_committed_results_are_labelled_full_runs():
    results = sorted((NOTEBOOKS / "results").glob("*.json"))
    assert results, "no committed full-run results"
    for path in results:
        meta = json.loads(path.read_text())["meta"]
        assert meta["smoke"] is False, f"{path.name} is a smoke run"
        assert {"date", "cpu", "cores", "mxnet", "load_before", "load_after"} <= set(meta), path
