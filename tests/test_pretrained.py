"""Pretrained weights: the converters from MXNet's model zoo and torchvision, the model store,
the fine-tuning helpers. Every source is built here with random weights: no download."""
from __future__ import annotations

import hashlib
import http.server
import importlib.util
import os
import threading
import zipfile

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon
from mxnet.gluon.model_zoo import model_store, vision

import gluon_densenet
from gluon_densenet import densenet121, densenet264, densenet_tiny
from gluon_densenet.pretrained import (
    PRETRAINED_DEPTHS,
    PretrainedWeightsUnavailable,
    WeightMismatchError,
    freeze_features,
    from_model_zoo,
    from_torchvision,
    model_zoo_file,
    read_state_dict,
    replace_classifier,
    set_features_lr_mult,
    unfreeze_features,
)
from gluon_densenet.training.step import compute_gradients

TOLERANCE = 1e-4
HAS_TORCH = all(importlib.util.find_spec(m) for m in ("torch", "torchvision"))
needs_torch = pytest.mark.skipif(
    not HAS_TORCH and os.environ.get("CI") != "true",
    reason="torchvision tests skipped: torch and torchvision are not installed "
           "(make torch installs them; CI does)")


def _batch(size: int = 224, channels: int = 3, n: int = 2) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, channels, size, size)).astype("float32")


def _random_zoo(depth: int) -> gluon.HybridBlock:
    """A model-zoo DenseNet with random weights and non-trivial BatchNorm statistics (the
    zoo initialises lazily, so one forward first); a wrong mapping of running statistics
    would change the outputs."""
    mx.random.seed(depth)
    net = vision.get_model(f"densenet{depth}")
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 3, 224, 224)))
    rng = np.random.default_rng(depth)
    for name, p in net.collect_params().items():
        if name.endswith(("gamma", "running_var")):
            p.set_data(mx.nd.array(rng.uniform(0.5, 1.5, p.shape)))
        elif name.endswith(("beta", "running_mean")):
            p.set_data(mx.nd.array(rng.uniform(-0.2, 0.2, p.shape)))
    return net


def _max_diff(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


# --- MXNet's model zoo ------------------------------------------------------------------

@pytest.mark.parametrize("depth", PRETRAINED_DEPTHS)
def test_model_zoo_net_converts_with_equal_outputs(depth):
    zoo = _random_zoo(depth)
    x = mx.nd.array(_batch())
    ours = from_model_zoo(zoo, depth)
    assert ours.classes == 1000 and ours.block_config == zoo_spec(depth)
    assert _max_diff(ours(x).asnumpy(), zoo(x).asnumpy()) <= TOLERANCE


def zoo_spec(depth):
    return tuple(vision.densenet.densenet_spec[depth][2])


@pytest.mark.parametrize("fmt", ["save_parameters", "save_params (prefixed names)"])
def test_model_zoo_files_of_both_formats_load(tmp_path, fmt):
    zoo = _random_zoo(121)
    path = str(tmp_path / "zoo.params")
    if fmt == "save_parameters":
        zoo.save_parameters(path)
    else:                                # how the model zoo's files were written
        zoo.collect_params().save(path, strip_prefix=zoo.prefix)
    x = mx.nd.array(_batch())
    assert _max_diff(from_model_zoo(path, 121)(x).asnumpy(), zoo(x).asnumpy()) <= TOLERANCE


def test_a_model_zoo_net_of_another_depth_is_named(tmp_path):
    zoo = _random_zoo(169)
    with pytest.raises(WeightMismatchError, match="6-12-32-32 layers .* pass depth=169") as err:
        from_model_zoo(zoo, 121)
    # key by key, in the source's names and ours
    assert "features.8.24.1.0.gamma → features.8.net.24.0.gamma" in str(err.value)
    assert "features.9.2.weight: source (640, 1280, 1, 1), net (512, 1024, 1, 1)" in str(err.value)
    path = str(tmp_path / "old.params")
    zoo.collect_params().save(path, strip_prefix=zoo.prefix)
    with pytest.raises(WeightMismatchError, match="pass depth=169"):
        from_model_zoo(path, 121)


def test_model_zoo_mismatches_are_named_key_by_key(tmp_path):
    zoo = _random_zoo(121)
    arrays = {k: p.data() for k, p in zoo._collect_params_with_prefix().items()}
    del arrays["features.1.running_var"]
    arrays["features.0.weight"] = mx.nd.zeros((64, 3, 5, 5))
    arrays["features.99.weight"] = mx.nd.zeros((1,))
    path = str(tmp_path / "bad.params")
    mx.nd.save(path, arrays)
    with pytest.raises(WeightMismatchError) as err:
        from_model_zoo(path, 121)
    message = str(err.value)
    assert "1 missing (in the net, not in the source):\n    features.1.running_var" in message
    assert "1 extra (in the source, not in the net):\n    features.99.weight" in message
    assert "features.0.weight: source (64, 3, 5, 5), net (64, 3, 7, 7)" in message
    assert "Traceback" not in message and "MXNetError" not in message


def test_model_zoo_bad_sources_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="no parameter file at"):
        from_model_zoo(str(tmp_path / "missing.params"))
    (tmp_path / "notes.txt").write_text("not parameters")
    with pytest.raises(ValueError, match="is not an MXNet parameter file"):
        from_model_zoo(str(tmp_path / "notes.txt"))
    with pytest.raises(ValueError, match="not initialised"):
        from_model_zoo(vision.densenet121())
    lazy = vision.densenet121()
    lazy.initialize()
    with pytest.raises(ValueError, match="no shapes yet"):
        from_model_zoo(lazy)
    with pytest.raises(ValueError, match="has no DenseNet-264"):
        from_model_zoo(_random_zoo(121), 264)
    with pytest.raises(TypeError, match="source must be"):
        from_model_zoo(42)


def test_grey_input_equals_the_rgb_net_on_repeated_channels():
    zoo = _random_zoo(121)
    grey = _batch(channels=1)
    ours = from_model_zoo(zoo, 121, in_channels=1)
    assert ours.features[0].weight.shape == (64, 1, 7, 7)
    rgb = mx.nd.array(np.repeat(grey, 3, axis=1))
    assert _max_diff(ours(mx.nd.array(grey)).asnumpy(), zoo(rgb).asnumpy()) <= TOLERANCE
    with pytest.raises(ValueError, match="not in_channels=2"):
        from_model_zoo(zoo, 121, in_channels=2)


def test_new_classes_keep_the_features_and_replace_the_head():
    zoo = _random_zoo(121)
    ours = from_model_zoo(zoo, 121, classes=10, memory_efficient=True)
    assert ours.classes == 10 and ours.output.weight.shape == (10, 1024)
    assert ours.memory_efficient
    x = mx.nd.array(_batch())
    assert _max_diff(ours.features(x).asnumpy(), zoo.features(x).asnumpy()) <= TOLERANCE


def test_converters_are_exported_at_the_top():
    assert gluon_densenet.from_model_zoo is from_model_zoo
    assert gluon_densenet.from_torchvision is from_torchvision


# --- MXNet's model store: densenet121(pretrained=True) ------------------------------------

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def model_store_mirror(tmp_path, monkeypatch):
    """A stand-in for MXNet's model repository on 127.0.0.1: the zip of a random zoo
    DenseNet-121, registered under its own sha1 (the real one cannot be made here)."""
    zoo = _random_zoo(121)
    params = tmp_path / "made.params"
    zoo.collect_params().save(str(params), strip_prefix=zoo.prefix)
    sha1 = hashlib.sha1(params.read_bytes()).hexdigest()
    monkeypatch.setitem(model_store._model_sha1, "densenet121", sha1)
    name = f"densenet121-{sha1[:8]}"
    served = tmp_path / "repo" / "gluon" / "models"
    served.mkdir(parents=True)
    with zipfile.ZipFile(served / f"{name}.zip", "w") as zf:
        zf.write(params, f"{name}.params")
    handler = lambda *a, **k: _Quiet(*a, directory=str(tmp_path / "repo"), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("MXNET_GLUON_REPO", f"http://127.0.0.1:{server.server_port}/")
    yield zoo, name
    server.shutdown()
    server.server_close()


def test_pretrained_true_fetches_through_the_model_store(tmp_path, model_store_mirror, monkeypatch):
    zoo, name = model_store_mirror
    root = tmp_path / "models"
    net = densenet121(pretrained=True, root=root)
    assert (root / f"{name}.params").is_file()
    x = mx.nd.array(_batch())
    assert _max_diff(net(x).asnumpy(), zoo(x).asnumpy()) <= TOLERANCE
    # Fetched once: with the repository gone, the checked copy in root is used.
    monkeypatch.setenv("MXNET_GLUON_REPO", "http://127.0.0.1:9/")
    again = densenet121(pretrained=True, root=root, classes=10, in_channels=1)
    assert again.classes == 10 and again.in_channels == 1
    assert model_zoo_file(121, root) == str(root / f"{name}.params")


def test_offline_pretrained_names_the_file_and_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MXNET_GLUON_REPO", "http://127.0.0.1:9/")   # nothing listens there
    name = f"densenet121-{model_store.short_hash('densenet121')}"
    with pytest.raises(PretrainedWeightsUnavailable) as err:
        densenet121(pretrained=True, root=tmp_path)
    message = str(err.value)
    assert f"put {name}.params in {tmp_path}" in message
    assert f"http://127.0.0.1:9/gluon/models/{name}.zip" in message
    assert "it is not there" in message and "\n" not in message
    (tmp_path / f"{name}.params").write_bytes(b"a truncated copy")
    with pytest.raises(PretrainedWeightsUnavailable, match="fails MXNet's sha1 check"):
        densenet121(pretrained=True, root=tmp_path)


def test_cli_train_pretrained_fine_tunes_weights_from_the_model_store(tmp_path, model_store_mirror,
                                                                      monkeypatch, capsys):
    from gluon_densenet.cli import main
    _, name = model_store_mirror
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxnet-home"))
    out = tmp_path / "run"
    assert main(["train", "--model", "densenet121", "--pretrained", "--smoke", "--quiet",
                 "--batch-size", "16", "--out", str(out)]) == 0
    assert "parameters from ImageNet weights (new 10-class head)" in capsys.readouterr().out
    assert (tmp_path / "mxnet-home" / "models" / f"{name}.params").is_file()
    assert '"pretrained": true' in (out / "config.json").read_text()


def test_cli_pretrained_offline_or_without_weights_is_one_line(tmp_path, monkeypatch, capsys):
    from test_cli import error_line
    monkeypatch.setenv("MXNET_HOME", str(tmp_path / "mxnet-home"))
    monkeypatch.setenv("MXNET_GLUON_REPO", "http://127.0.0.1:9/")
    line = error_line(["train", "--model", "densenet121", "--pretrained", "--shipped",
                       "--out", str(tmp_path / "run")], capsys)
    assert line.startswith("error: --pretrained: cannot get ImageNet weights for densenet121")
    assert "mxnet-home/models" in line and not (tmp_path / "run").exists()
    line = error_line(["train", "--model", "densenet_tiny", "--pretrained",
                       "--out", str(tmp_path / "run")], capsys)
    assert "has ImageNet weights for densenet121, densenet161" in line
    assert "not densenet_tiny; pass --model densenet121" in line


def test_a_repository_without_the_file_is_explained(tmp_path, model_store_mirror):
    with pytest.raises(PretrainedWeightsUnavailable, match="the server did not answer 200 OK"):
        model_zoo_file(161, tmp_path)        # the stand-in repository serves 121 only: 404


def test_pretrained_depths_are_those_of_the_model_zoo():
    with pytest.raises(ValueError, match="MXNet's model zoo has no DenseNet-264"):
        gluon_densenet.pretrained.densenet(264, pretrained=True)
    with pytest.raises(TypeError, match=r"use gluon_densenet\.densenet121\(pretrained=True\)"):
        densenet264(pretrained=True)        # the models' builder: random weights only


def test_the_top_level_factories_are_the_pretrained_aware_ones():
    from gluon_densenet import models, pretrained
    for depth in PRETRAINED_DEPTHS:
        name = f"densenet{depth}"
        factory = getattr(gluon_densenet, name)
        assert factory is getattr(pretrained, name) is not getattr(models, name)
        assert factory.__name__ == factory.__qualname__ == name
        assert factory.__module__ == "gluon_densenet.pretrained.factories"
        assert "pretrained=True" in factory.__doc__
        assert getattr(models, name).__doc__.splitlines()[0] in factory.__doc__
    assert gluon_densenet.densenet is pretrained.densenet
    assert gluon_densenet.densenet264 is models.densenet264


def test_without_pretrained_the_factories_build_the_models_net():
    from gluon_densenet import models, pretrained
    ours = densenet121(classes=10, in_channels=1, memory_efficient=True, root="/nonexistent")
    theirs = models.densenet121(classes=10, in_channels=1, memory_efficient=True)
    assert type(ours) is type(theirs) is models.DenseNet
    assert [p.shape for p in ours.collect_params().values()] == [
        p.shape for p in theirs.collect_params().values()]
    assert ours.memory_efficient and ours.classes == 10
    assert pretrained.densenet(169, classes=3).block_config == (6, 12, 32, 32)
    with pytest.raises(ValueError, match="no DenseNet spec for depth 100"):
        pretrained.densenet(100)


# --- torchvision ------------------------------------------------------------------------

def _random_torchvision(depth: int):
    import torch
    import torchvision
    torch.manual_seed(depth)
    net = getattr(torchvision.models, f"densenet{depth}")()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.running_var.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
            m.running_mean.uniform_(-0.2, 0.2)
    return net.eval()


def _torch_out(net, x: np.ndarray) -> np.ndarray:
    import torch
    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


@needs_torch
@pytest.mark.parametrize("depth", PRETRAINED_DEPTHS)
def test_torchvision_converts_with_equal_outputs(depth):
    tv = _random_torchvision(depth)
    x = _batch()
    ours = from_torchvision(tv.state_dict(), depth)
    assert _max_diff(ours(mx.nd.array(x)).asnumpy(), _torch_out(tv, x)) <= TOLERANCE


@needs_torch
def test_torchvision_pth_with_old_style_keys(tmp_path):
    import torch
    tv = _random_torchvision(121)
    old = {}
    for key, value in tv.state_dict().items():      # norm1 → norm.1, as old checkpoints
        for part in ("norm1", "conv1", "norm2", "conv2"):
            key = key.replace(f".{part}.", f".{part[:-1]}.{part[-1]}.")
        old["module." + key] = value                  # and DataParallel's prefix
    assert any(".norm.1." in k for k in old)
    path = tmp_path / "old.pth"
    torch.save({"state_dict": old, "epoch": 90}, path)
    x = _batch(size=64)
    ours = from_torchvision(path, 121)
    assert _max_diff(ours(mx.nd.array(x)).asnumpy(), _torch_out(tv, x)) <= TOLERANCE
    assert _max_diff(from_torchvision(tv, 121)(mx.nd.array(x)).asnumpy(),
                     _torch_out(tv, x)) <= TOLERANCE    # the module itself


@needs_torch
def test_torchvision_mismatches_are_named():
    sd = _random_torchvision(169).state_dict()
    with pytest.raises(WeightMismatchError, match="6-12-32-32 layers .* pass depth=169") as err:
        from_torchvision(sd, 121)
    assert ("features.denseblock3.denselayer25.norm1.weight → features.8.net.24.0.gamma"
            in str(err.value))
    del sd["features.norm5.running_var"]
    sd["classifier.extra"] = sd["classifier.bias"]
    with pytest.raises(WeightMismatchError) as err:
        from_torchvision(sd, 169)
    assert "missing (in the net, not in the source):\n    features.11.running_var" in str(err.value)
    assert "extra (in the source, not in the net):\n    classifier.extra" in str(err.value)


def test_state_dict_keys_are_read_without_torch():
    arrays = {"module.features.denseblock1.denselayer1.norm.1.weight": np.ones(3),
              "module.features.norm0.num_batches_tracked": np.array(5)}
    read, label = read_state_dict(arrays)
    assert read.keys() == {"features.denseblock1.denselayer1.norm1.weight"}
    assert label == "the state_dict"
    with pytest.raises(TypeError, match="source must be"):
        read_state_dict([1, 2])
    with pytest.raises(FileNotFoundError):
        from_torchvision("no-such-file.pth")


# --- fine-tuning --------------------------------------------------------------------------

def _tiny(seed: int = 0, memory_efficient: bool = False):
    mx.random.seed(seed)
    net = densenet_tiny(classes=5, memory_efficient=memory_efficient)
    net.initialize(mx.init.Xavier())
    return net


def _step(net, lr=0.1, x=None):
    x = x if x is not None else mx.nd.array(_batch(size=32, n=8))
    y = mx.nd.array(np.arange(8) % 3)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
    compute_gradients(net, x, y, gluon.loss.SoftmaxCrossEntropyLoss())   # the package's step
    trainer.step(8)
    mx.nd.waitall()


def _snapshot(net):
    return {k: p.data().asnumpy().copy() for k, p in net._collect_params_with_prefix().items()}


def _changed(before, net):
    after = _snapshot(net)
    return {k for k in before if not np.array_equal(before[k], after[k])}


@pytest.mark.parametrize("hybridize, memory_efficient",
                         [(False, False), (True, False), (False, True)])
def test_frozen_features_are_a_fixed_function(hybridize, memory_efficient):
    net = _tiny(memory_efficient=memory_efficient)
    head = replace_classifier(net, 3)
    assert net.output is head and net.classes == 3 and head.weight.shape == (3, net.num_features)
    if hybridize:
        net.hybridize(static_alloc=True, static_shape=True)
    x = mx.nd.array(_batch(size=32, n=8))
    freeze_features(net)
    inference = net.features(x).asnumpy()
    with autograd.record():                            # training mode
        training = net.features(x).asnumpy()
    assert _max_diff(training, inference) == 0      # BatchNorm on its running statistics
    before = _snapshot(net)
    _step(net, x=x)
    assert _changed(before, net) == {"output.weight", "output.bias"}
    unfreeze_features(net)
    before = _snapshot(net)
    _step(net, x=x)
    changed = _changed(before, net)
    assert "features.0.weight" in changed and "features.1.running_mean" in changed
    assert net.features[1].running_mean.grad_req == "null"


def _bn_modes(net, x):
    """The features' outputs in training mode, and in inference mode."""
    with autograd.record():
        training = net.features(x).asnumpy()
    return training, net.features(x).asnumpy()


@pytest.mark.parametrize("hybridized", ["whole", "features only"])
def test_freezing_a_hybridized_net_rebuilds_its_graph(hybridized):
    net = _tiny()
    flags = {"static_alloc": True, "static_shape": True}
    (net if hybridized == "whole" else net.features).hybridize(**flags)
    x = mx.nd.array(_batch(size=32, n=8))
    training, inference = _bn_modes(net, x)    # cached graphs, BatchNorm on batch statistics
    assert _max_diff(training, inference) > 1e-3
    freeze_features(net)
    training, inference = _bn_modes(net, x)
    assert _max_diff(training, inference) == 0
    unfreeze_features(net)
    training, inference = _bn_modes(net, x)
    assert _max_diff(training, inference) > 1e-3
    hybridized_blocks = [net, net.features] if hybridized == "whole" else [net.features]
    for block in hybridized_blocks:           # still hybridized, with the same flags
        assert block._active and flags.items() <= dict(block._flags).items()
    assert net._active == (hybridized == "whole")


def test_features_learning_rate_multiplier():
    x = mx.nd.array(_batch(size=32, n=8))
    deltas = {}
    for mult in (1.0, 0.1):
        net = _tiny(seed=3)
        set_features_lr_mult(net, mult)
        before = _snapshot(net)
        _step(net, lr=0.5, x=x)
        after = _snapshot(net)
        deltas[mult] = {k: after[k] - before[k] for k in ("features.0.weight", "output.weight")}
    # plain SGD: the features move 0.1× as far, the head as far as before
    np.testing.assert_allclose(deltas[0.1]["features.0.weight"],
                               0.1 * deltas[1.0]["features.0.weight"], rtol=1e-3, atol=1e-7)
    np.testing.assert_allclose(deltas[0.1]["output.weight"], deltas[1.0]["output.weight"],
                               rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="≥ 0"):
        set_features_lr_mult(_tiny(), -1)


def test_replace_classifier_checks_classes():
    for bad in (0, 2.0, "10", True):
        with pytest.raises(ValueError, match="positive integer"):
            replace_classifier(_tiny(), bad)
    assert replace_classifier(_tiny(), np.int64(7)).weight.shape[0] == 7


def test_reading_a_pth_without_torch_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "weights.pth"
    path.write_bytes(b"not read")
    monkeypatch.setitem(__import__("sys").modules, "torch", None)    # import torch fails
    with pytest.raises(ImportError, match=r"needs PyTorch \(pip install torch\)"):
        from_torchvision(path)
