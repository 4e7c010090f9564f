"""Tests for gluon_densenet.results."""
from gluon_densenet.results import load_json, output_path, results_path, save_json


def test_smoke_runs_never_write_the_committed_results(tmp_path, monkeypatch):
    monkeypatch.setenv("GLUON_DENSENET_SMOKE", "1")
    assert output_path("a.json", tmp_path) == tmp_path / "runs" / "a.json"
    monkeypatch.setenv("GLUON_DENSENET_SMOKE", "0")
    assert output_path("a.json", tmp_path) == tmp_path / "results" / "a.json"
    assert output_path("a.json", tmp_path, smoke=True) == tmp_path / "runs" / "a.json"
    assert results_path("a.json", tmp_path) == tmp_path / "results" / "a.json"


def test_json_roundtrip(tmp_path):
    assert load_json(tmp_path / "missing.json") is None
    p = save_json({"rows": [1, 2.5, None]}, tmp_path / "deep" / "x.json")
    assert load_json(p) == {"rows": [1, 2.5, None]}
