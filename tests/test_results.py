"""Tests for gluon_densenet.chapters.results."""
from gluon_densenet.chapters import load_result, output_path, results_path, write_json


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


def test_run_or_load_reuses_a_full_run_only_with_the_same_settings(tmp_path, monkeypatch):
    from gluon_densenet.chapters import describe_run, run_or_load
    calls = []

    def compute():
        calls.append(1)
        return {"acc": 0.5 + len(calls)}

    monkeypatch.setenv("GLUON_DENSENET_SMOKE", "0")
    monkeypatch.delenv("GLUON_DENSENET_RERUN", raising=False)
    first = run_or_load("r.json", {"epochs": 3, "blocks": (4, 4)}, compute, root=tmp_path)
    assert (tmp_path / "results" / "r.json").exists() and first["acc"] == 1.5
    assert first["config"] == {"epochs": 3, "blocks": [4, 4]}
    assert describe_run(first).startswith("Full run: ")
    again = run_or_load("r.json", {"epochs": 3, "blocks": (4, 4)}, compute, root=tmp_path)
    assert again == first and len(calls) == 1                 # reused, not recomputed
    changed = run_or_load("r.json", {"epochs": 4, "blocks": (4, 4)}, compute, root=tmp_path)
    assert changed["acc"] == 2.5 and len(calls) == 2          # settings changed: rerun
    monkeypatch.setenv("GLUON_DENSENET_RERUN", "1")
    run_or_load("r.json", {"epochs": 4, "blocks": (4, 4)}, compute, root=tmp_path)
    assert len(calls) == 3


def test_smoke_runs_always_compute_and_say_so(tmp_path, monkeypatch):
    from gluon_densenet.chapters import describe_run, run_or_load
    monkeypatch.setenv("GLUON_DENSENET_SMOKE", "1")
    r = run_or_load("r.json", {}, lambda: {"x": 1}, root=tmp_path)
    assert (tmp_path / "runs" / "r.json").exists() and not (tmp_path / "results").exists()
    assert describe_run(r).startswith("SMOKE RUN for CI") and "not results" in describe_run(r)
    assert r["meta"]["cores"] >= 1 and r["meta"]["wall_s"] >= 0


def test_a_page_label_needs_no_finished_run(monkeypatch):
    from gluon_densenet.chapters import describe_run, run_metadata
    monkeypatch.setenv("GLUON_DENSENET_SMOKE", "0")
    label = describe_run({"meta": run_metadata()})
    assert label.startswith("Full run: ") and "core CPU" in label and " min" not in label
