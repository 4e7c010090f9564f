"""A short real run: a DenseNet learns Fashion-MNIST from the shipped subset."""
import mxnet as mx

from gluon_densenet import densenet21_d2l
from gluon_densenet.data import load_data
from gluon_densenet.training import evaluate, train


def test_densenet_learns_shipped_subset_far_above_chance(tmp_path):
    train_iter, test_iter = load_data(128, resize=32, subset=True, seed=0)
    net = densenet21_d2l(classes=10, in_channels=1)
    history = train(net, train_iter, test_iter, epochs=2, lr=0.1, seed=0, progress=False,
                    checkpoint_dir=tmp_path / "ckpt")
    # Chance is 0.10 on the balanced 1,000-image test subset.
    assert history.last.test_acc > 0.6, history.summary()
    assert history.last.train_loss < history[0].train_loss
    # The saved parameters reproduce the accuracy in a fresh net.
    net.save_parameters(str(tmp_path / "net.params"))
    fresh = densenet21_d2l(classes=10, in_channels=1)
    fresh.load_parameters(str(tmp_path / "net.params"), ctx=mx.cpu())
    assert abs(evaluate(fresh, test_iter) - history.last.test_acc) < 1e-6
