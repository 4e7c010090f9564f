"""Tests for gluon_densenet.analysis.memory: analytic activation bytes and the subprocess probe."""
from __future__ import annotations

import pytest

from gluon_densenet import DenseNet, count_parameters, get_model
from gluon_densenet.analysis.measure import MIB
from gluon_densenet.analysis.memory import (
    activation_rows,
    bytes_by,
    measure_peak,
    parameter_bytes,
    planned_bytes,
)


def tiny() -> DenseNet:
    return DenseNet((2, 2), growth_rate=4, init_features=8, bn_size=None, stem="cifar",
                    classes=10, in_channels=3)


def test_groups_follow_the_architecture():
    rows = activation_rows(tiny(), (2, 3, 8, 8))
    assert list(bytes_by(rows)) == ["stem", "stage 1", "transition 1", "stage 2", "head"]
    assert rows[-1].shape == (2, 10)


def test_concat_outputs_grow_with_each_layer():
    rows = activation_rows(tiny(), (2, 3, 8, 8))
    concat = [r for r in rows if r.op == "Concat" and r.group == "stage 1"]
    # 8 stem channels + 4 per layer, 2 images of 8x8, float32 (channel counts that are
    # not multiples of 16 are concatenated as (N, C, H*W) views, see blocks.concat_channels)
    assert [r.shape[:2] for r in concat] == [(2, 12), (2, 16)]
    assert [r.bytes for r in concat] == [2 * 12 * 64 * 4, 2 * 16 * 64 * 4]


def test_totals_by_group_and_by_op_agree():
    rows = activation_rows(get_model("resnet18_v1", classes=10), (1, 3, 32, 32))
    assert sum(bytes_by(rows, "group").values()) == sum(bytes_by(rows, "op").values())
    assert {"stem", "stage 1", "stage 4", "head"} <= set(bytes_by(rows))
    assert "elemwise_add" in bytes_by(rows, "op")


def test_parameter_bytes_match_the_parameter_count():
    net = tiny()
    net.initialize()
    assert parameter_bytes(net, (1, 3, 8, 8)) == 4 * count_parameters(net)


def test_planned_bytes_share_storage_and_grow_with_the_batch():
    net = get_model("resnet18_v1", classes=10)
    counted = sum(r.bytes for r in activation_rows(net, (64, 3, 64, 64)))
    one, two = planned_bytes(net, (64, 3, 64, 64)), planned_bytes(net, (128, 3, 64, 64))
    assert one % MIB == 0 and 0.5 * counted < one < counted      # buffers are shared
    assert abs(two - 2 * one) <= 2 * MIB                         # whole MiB, rounded down


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model"):
        get_model("resnet1000")


def test_measure_peak_in_a_subprocess():
    m = measure_peak("resnet18_v1", size=32, batch_size=2, gpu=False, repeats=3)
    assert m.device == "cpu" and m.size == 32 and m.batch_size == 2
    assert len(m.step_times_s) == 3 and m.step_s == sorted(m.step_times_s)[1]
    assert 10 < m.baseline_mib <= m.peak_mib < 64 * 1024
    assert m.train_mib == pytest.approx(m.peak_mib - m.baseline_mib)
    assert m.as_dict()["train_mib"] == m.train_mib
    assert m.memory_efficient is False


def test_measure_peak_can_take_the_memory_efficient_step():
    m = measure_peak("densenet_tiny", size=32, batch_size=2, gpu=False, memory_efficient=True)
    assert m.memory_efficient is True and m.model == "densenet_tiny"
    assert m.peak_mib >= m.baseline_mib and m.step_s > 0 and m.first_step_s > 0
    assert m.step_times_s == [m.step_s]                          # repeats=1: the second step


def test_measure_peak_needs_a_timed_step():
    with pytest.raises(ValueError, match="repeats"):
        measure_peak("densenet_tiny", size=32, batch_size=2, gpu=False, repeats=0)
