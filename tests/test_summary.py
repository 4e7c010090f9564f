import mxnet as mx
import pytest

from gluon_densenet.models import (
    count_parameters,
    densenet21_d2l,
    densenet121,
    format_summary,
    summary,
)


def test_stage_summary_shapes_at_32px():
    net = densenet121(classes=10, in_channels=1)
    net.initialize()
    rows = summary(net, (1, 1, 32, 32), max_depth=2)
    by_name = {r.name: r for r in rows}
    assert by_name["features.4"].kind == "DenseBlock"
    assert by_name["features.4"].output_shape == (1, 64 + 6 * 32, 8, 8)
    assert rows[-1].output_shape == (1, 10)
    assert sum(r.params for r in rows) == count_parameters(net)


def test_leaf_summary_counts_all_parameters_and_keeps_hybridization():
    net = densenet21_d2l(in_channels=1)
    net.initialize()
    net.hybridize()
    rows = summary(net, (2, 1, 32, 32))
    assert all(r.kind in {"Conv2D", "BatchNorm", "Activation", "MaxPool2D", "AvgPool2D",
                          "GlobalAvgPool2D", "Flatten", "Dense"} for r in rows)
    assert sum(r.params for r in rows) == count_parameters(net)
    assert net._active
    text = format_summary(rows, (2, 1, 32, 32))
    assert f"{count_parameters(net):,}" in text.splitlines()[-1]


def _hybrid_state(net):
    """Every block's hybridization switch and flags (what static_alloc lives in)."""
    state = []
    net.apply(lambda b: state.append((getattr(b, "_active", None),
                                      tuple(getattr(b, "_flags", ())))))
    return state


@pytest.mark.parametrize("flags", [None, {}, {"static_alloc": True, "static_shape": True}])
def test_measuring_leaves_the_hybridization_exactly_as_it_was(flags):
    from gluon_densenet.analysis.memory import activation_rows
    from gluon_densenet.analysis.parameters import stage_parameters

    net = densenet21_d2l(in_channels=1)
    net.initialize()
    if flags is not None:
        net.hybridize(**flags)
    net(mx.nd.zeros((1, 1, 32, 32)))
    before = _hybrid_state(net)
    summary(net, (1, 1, 32, 32))
    format_summary(summary(net, (1, 1, 32, 32), max_depth=2))
    stage_parameters(net, (1, 1, 32, 32))
    activation_rows(net, (1, 1, 32, 32))
    assert _hybrid_state(net) == before
    if flags:
        assert flags.items() <= dict(net._flags).items()
