"""benchmarks.profile_ops in its --tiny configuration: the JSON has every group with
non-negative times, and the group call counts match the net's graph. Correctness only."""
import importlib
import json

from gluon_densenet import count_weighted_layers, densenet_tiny


def _load_script():
    return importlib.import_module("benchmarks.profile_ops")


def test_tiny_profile_groups_match_graph(tmp_path, capsys):
    mod = _load_script()
    assert mod.main(["--tiny", "--out-dir", str(tmp_path)]) == 0
    runs = json.loads((tmp_path / "profile.json").read_text())["runs"]
    assert list(runs) == ["tiny_32px_b4"]
    data = runs["tiny_32px_b4"]
    groups = data["groups"]
    assert set(groups) == set(mod.GROUPS)
    for name, g in groups.items():
        assert g["ms_per_step"] >= 0 and g["share"] >= 0, (name, g)
        assert g["calls"] >= g["signatures"] >= 0, (name, g)
    assert abs(sum(g["share"] for g in groups.values()) - 1) < 1e-6
    assert abs(sum(g["ms_per_step"] for g in groups.values()) - data["sum_ms"]) < 1e-6

    # Call counts against the tiny net itself: (2, 2) blocks, bottleneck layers.
    net = densenet_tiny(classes=10, in_channels=3)
    net.initialize()
    convs = groups["conv1x1"]["calls"] + groups["conv3x3"]["calls"] + groups["conv7x7"]["calls"]
    assert groups["conv_other"]["calls"] == 0
    assert convs == count_weighted_layers(net) - 1          # all but the Dense classifier
    layers = sum(net.block_config)
    transitions = len(net.block_config) - 1
    assert groups["conv7x7"]["calls"] == 1
    assert groups["conv3x3"]["calls"] == layers
    assert groups["conv1x1"]["calls"] == layers + transitions
    assert groups["batchnorm"]["calls"] == groups["relu"]["calls"] == 2 * layers + transitions + 2
    assert groups["concat"]["calls"] == layers
    assert groups["pooling"]["calls"] == 1 + transitions + 1   # stem max, transitions, global
    assert groups["classifier"]["calls"] == 2                   # Flatten + FullyConnected
    ops = data["graph"]["ops"]
    assert ops["Convolution"] == convs and ops["FullyConnected"] == 1
    n_params = sum(1 for p in net.collect_params().values() if p.grad_req != "null")
    assert groups["optimizer"]["calls"] == n_params

    assert data["step"]["plain_ms"] > 0 and data["step"]["static_ms"] > 0
    assert data["data_batch"]["ms"] is None or data["data_batch"]["ms"] >= 0
    md = (tmp_path / "profile.md").read_text()
    assert "| group | calls | ms/step | share |" in md and "conv3x3" in md
    assert "sum of parts" in capsys.readouterr().out
