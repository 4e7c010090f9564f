import mxnet as mx

from gluon_densenet.densenet import densenet121, densenet21_d2l
from gluon_densenet.summary import count_parameters, format_summary, summary


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
