"""Tests for gluon_densenet.analysis.stats."""
import math

import pytest

from gluon_densenet.analysis.stats import mean_std, welch


def test_mean_std():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    m, s = mean_std([5.0])
    assert m == 5.0 and math.isnan(s)
    with pytest.raises(ValueError):
        mean_std([])


def test_welch_matches_a_hand_computation():
    a, b = [0.90, 0.91, 0.92], [0.88, 0.89, 0.87]
    w = welch(a, b)
    assert w.diff == pytest.approx(0.03)
    assert w.se == pytest.approx(math.sqrt(0.0001 / 3 + 0.0001 / 3))
    assert w.t == pytest.approx(0.03 / w.se)
    assert w.df == pytest.approx(4.0)
    assert w.p == pytest.approx(0.0213, abs=1e-3)     # scipy.stats.ttest_ind(equal_var=False)


def test_welch_needs_two_per_group():
    with pytest.raises(ValueError):
        welch([1.0], [1.0, 2.0])


def test_paired_matches_a_one_sample_test_of_the_differences():
    import math

    from scipy import stats as sps

    from gluon_densenet.analysis.stats import paired
    a, b = [0.90, 0.91, 0.88, 0.92], [0.89, 0.905, 0.87, 0.90]
    r = paired(a, b)
    diffs = [x - y for x, y in zip(a, b)]
    ref = sps.ttest_1samp(diffs, 0.0)
    assert r.diffs == tuple(diffs) and r.df == 3
    assert math.isclose(r.t, ref.statistic) and math.isclose(r.p, ref.pvalue)
    assert math.isclose(r.diff, sum(diffs) / 4)
    assert r.consistent and r.significant(alpha=0.05) == (ref.pvalue < 0.05)
    mixed = paired([0.90, 0.91, 0.88], [0.91, 0.90, 0.88])      # -, +, tie
    assert not mixed.consistent and not mixed.significant(alpha=1.0)


def test_paired_refuses_unmatched_runs():
    import pytest

    from gluon_densenet.analysis.stats import paired
    with pytest.raises(ValueError, match="equally long"):
        paired([0.9, 0.8], [0.9])
    assert paired([0.9], [0.8]).se != paired([0.9], [0.8]).se   # nan for one pair
