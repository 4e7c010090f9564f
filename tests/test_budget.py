"""Tests for gluon_densenet.analysis.budget (tiny nets on the shipped subset)."""
import pytest

from gluon_densenet.analysis.budget import NetSpec, budgeted_run

TINY = NetSpec("tiny", (1, 1), growth_rate=8, init_features=16, resize=32)


def test_spec_builds_a_one_channel_ten_class_net():
    net = TINY.build()
    assert net.in_channels == 1 and net.classes == 10 and net.transition_pool == "avg"
    assert TINY.parameters() > 0
    assert NetSpec("m", (1, 1), transition_pool="max").build().transition_pool == "max"


def test_budgeted_run_plans_epochs_and_reports_a_row():
    r = budgeted_run(TINY, budget_s=60, batch_size=64, subset=True, limit=128, test_limit=64,
                     max_epochs=2)
    assert r.planned_epochs == 2 and len(r.history) == 2 and r.steps_per_epoch == 2
    assert r.epochs == pytest.approx(2.0) and not r.history.budget_exhausted
    row = r.row()
    assert row["label"] == "tiny" and row["params"] == TINY.parameters()
    assert 0.0 <= row["test_acc"] <= 1.0 and row["resize"] == 32
    assert r.to_dict()["history"]["time_budget_s"] == pytest.approx(r.history.time_budget_s)


def test_tight_budget_stops_early():
    r = budgeted_run(TINY, budget_s=1e-3, batch_size=16, subset=True, limit=160,
                     test_limit=32)
    assert r.planned_epochs == 1 and r.history.budget_exhausted
    assert r.epochs < 1


def test_fixed_epochs_skip_the_planner():
    r = budgeted_run(TINY, budget_s=60, batch_size=64, subset=True, limit=128, test_limit=64,
                     epochs=3)
    assert r.planned_epochs == 3 and len(r.history) == 3 and not r.history.budget_exhausted


def test_seeded_runs_go_seed_by_seed_and_pair_up():
    from gluon_densenet.analysis.budget import seeded_runs
    other = NetSpec("other", (1, 1), growth_rate=8, init_features=16, resize=32,
                    transition_pool="max")
    runs = seeded_runs([TINY, other], [0, 1], epochs=1, stop_s=60, batch_size=64,
                       subset=True, limit=128, test_limit=64)
    assert [(r["row"]["seed"], r["row"]["label"]) for r in runs] == \
        [(0, "tiny"), (0, "other"), (1, "tiny"), (1, "other")]
    assert all(r["row"]["epochs"] == pytest.approx(1.0) for r in runs)
    again = seeded_runs([TINY], [1], epochs=1, stop_s=60, batch_size=64, subset=True,
                        limit=128, test_limit=64)
    assert again[0]["row"]["test_acc"] == runs[2]["row"]["test_acc"]   # same seed, same run


def test_validation_runs_never_touch_the_test_set_until_asked():
    r = budgeted_run(TINY, budget_s=60, batch_size=64, subset=True, limit=320, test_limit=64,
                     epochs=1, validation=64, keep_net=True)
    row = r.row()
    assert r.evaluated_on == "validation" and row["test_acc"] is None
    assert 0.0 <= row["val_acc"] <= 1.0 and r.steps_per_epoch == 4   # 256 of 320 train
    once = r.evaluate_test()
    assert r.row()["test_acc"] == once and 0.0 <= once <= 1.0
    with pytest.raises(ValueError, match="keep_net"):
        budgeted_run(TINY, budget_s=60, batch_size=64, subset=True, limit=128, test_limit=64,
                     epochs=1).evaluate_test()
