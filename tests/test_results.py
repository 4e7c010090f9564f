"""Tests for gluon_densenet.notebook.results."""
from gluon_densenet.notebook import load_result, output_path, results_path, write_json


def test_smoke_runs_never_write_the_committed_results(tmp_path, monkeypatch):
    monkeypatch.setenv("GLUON_DENSENET_SMOKE", "1")
    assert output_path("a.json", tmp_path) == tmp_path / "runs" / "a.json"
    monkeypatch.setenv("GLUON_DENSENET_SMOKE", "0")
    assert output_path("a.json", tmp_path) == tmp_path / "results" / "a.json"
    assert output_path("a.json", tmp_path, smoke=True) == tmp_path / "runs" / "a.json"
    assert results_path("a.json", tmp_path) == tmp_path / "results" / "a.json"


def test_json_roundtrip(tmp_path):
    assert load_result(tmp_path / "missing.json") is None
    p = write_json(tmp_path / "deep" / "x.json", {"rows": [1, 2.5, None]})
    assert load_result(p) == {"rows": [1, 2.5, None]}
