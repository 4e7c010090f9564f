import pytest

from gluon_densenet.chapters import choose, smoke_mode


@pytest.mark.parametrize("value,expected", [("1", True), ("yes", True), ("", False),
                                            ("0", False), ("False", False)])
def test_smoke_mode_reads_environment(monkeypatch, value, expected):
    monkeypatch.setenv("GLUON_DENSENET_SMOKE", value)
    assert smoke_mode() is expected
    assert choose("small", "full") == ("small" if expected else "full")


def test_unset_means_full_run(monkeypatch):
    monkeypatch.delenv("GLUON_DENSENET_SMOKE", raising=False)
    assert choose(1, 10) == 10
