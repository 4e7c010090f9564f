"""Tests for gluon_densenet.plots and gluon_densenet.training.metrics."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gluon_densenet.plots import (  # noqa: E402
    live_plot,
    plot_confusion_matrix,
    plot_history,
    show_images,
)
from gluon_densenet.training import EpochRecord, History  # noqa: E402
from gluon_densenet.training.metrics import confusion_matrix  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _history(with_test: bool = True) -> History:
    return History([
        EpochRecord(e, 1.0 / e, 0.5 + 0.1 * e, (0.45 + 0.1 * e) if with_test else None,
                    100.0, 1.0, 0.1 / e)
        for e in range(1, 5)
    ])


def test_plot_history_writes_png(tmp_path):
    path = tmp_path / "nested" / "dir" / "history.png"
    fig = plot_history(_history(), path=path)
    assert path.is_file() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert len(fig.axes) == 2
    labels = [line.get_label() for line in fig.axes[1].get_lines()]
    assert labels == ["train acc", "test acc"]


def test_plot_history_single_axes_and_dict_input():
    fig, ax = plt.subplots()
    out = plot_history(_history(with_test=False).to_dict(), ax=ax)
    assert out is fig
    assert [line.get_label() for line in ax.get_lines()] == ["train loss", "train acc"]


def test_live_plot_callback_saves_and_closes(tmp_path):
    path = tmp_path / "live.png"
    callback = live_plot(path)
    h = _history()
    callback(History(h.records[:2]))
    callback(h)
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert plt.get_fignums() == []  # figures are closed, none accumulate


def test_confusion_matrix_hand_made():
    labels = [0, 0, 1, 1, 1, 2, 2, 2, 2]
    preds = [0, 1, 1, 1, 2, 2, 2, 0, 2]
    expected = np.array([
        [1, 1, 0],
        [0, 2, 1],
        [1, 0, 3],
    ])
    cm = confusion_matrix(labels, preds, 3)
    np.testing.assert_array_equal(cm, expected)
    assert cm.sum() == len(labels)
    # NDArray input (float labels as produced by the loaders) gives the same counts
    np.testing.assert_array_equal(
        confusion_matrix(mx.nd.array(labels), np.array(preds, dtype="float32"), 3), expected)
    # a class never seen still gets a row/column
    np.testing.assert_array_equal(confusion_matrix([0], [0], 2), [[1, 0], [0, 0]])
    accuracy = mx.metric.Accuracy()       # the diagonal is what MXNet counts as right
    accuracy.update([mx.nd.array(labels)], [mx.nd.array(preds)])
    assert accuracy.get()[1] == pytest.approx(6 / 9)
    assert np.trace(cm) / cm.sum() == pytest.approx(6 / 9)
    with pytest.raises(ValueError):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError):
        confusion_matrix([0, 1], [0], 3)


def test_plot_confusion_matrix(tmp_path):
    fig = plot_confusion_matrix([0, 1, 2, 2], [0, 2, 2, 2], ["a", "b", "c"], normalize=True,
                                path=tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes()[:8] == PNG_MAGIC
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert len(ax.texts) == 9


@pytest.mark.parametrize("shape", [(5, 8, 8), (5, 1, 8, 8), (5, 3, 8, 8)])
def test_show_images_axes_count(shape):
    imgs = np.random.rand(*shape).astype("float32")
    fig = show_images(imgs, titles=[f"t{i}" for i in range(5)], ncols=3, scale=1.0)
    assert len(fig.axes) == 5  # 2 rows x 3 cols, the empty cell removed
    assert fig.axes[4].get_title() == "t4"


def test_show_images_ndarray():
    fig = show_images(mx.nd.random.uniform(shape=(10, 1, 6, 6)), ncols=8)
    assert len(fig.axes) == 10
    assert fig.axes[0].get_images()[0].get_array().shape == (6, 6)
    with pytest.raises(ValueError):
        show_images(np.zeros((3, 8, 8)), titles=["only one"])


def test_training_curves_tick_whole_epochs_only():
    fig = plot_history(History(_history().records[:2]))
    for ax in fig.axes:
        fig.canvas.draw()
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_stacked_bars_stack_rows_and_skip_empty_parts(tmp_path):
    import pandas as pd

    from gluon_densenet.plots import stacked_bars
    parts = pd.DataFrame({"a": [1.0, 0.0, 2.0], "b": [3.0, 0.0, None]},
                         index=["stem", "unused", "stage 1"])
    fig = stacked_bars(parts, "MiB", "t", path=tmp_path / "bars.png")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["stem", "stage 1"]
    tops = {}
    for bar in ax.patches:
        x = round(bar.get_x() + bar.get_width() / 2)
        tops[x] = max(tops.get(x, 0.0), bar.get_y() + bar.get_height())
    assert tops == {0: 3.0, 1: 3.0}                      # a: 1 + 2, b: 3 + nothing
    assert (tmp_path / "bars.png").read_bytes()[:8] == PNG_MAGIC


def test_reuse_heatmaps_one_map_per_block_and_net(tmp_path):
    from gluon_densenet.plots import reuse_heatmaps
    grid = np.array([[1.0, 0.5, 1.0], [np.nan, 1.0, 0.2], [np.nan, np.nan, 0.9]])
    fig = reuse_heatmaps({"trained": [grid, grid], "untrained": [grid, grid]},
                         ["transition 1", "classifier"], "t", path=tmp_path / "maps.png")
    maps = [ax for ax in fig.axes if ax.get_images()]
    assert len(maps) == 4
    assert [t.get_text() for t in maps[1].get_xticklabels()] == ["1", "2", "C"]
    assert [t.get_text() for t in maps[0].get_yticklabels()] == ["in", "1", "2"]
    shown = maps[0].get_images()[0].get_array()
    assert shown.mask[1, 0] and not shown.mask[0, 0]     # NaN: the target does not read it
    assert (tmp_path / "maps.png").read_bytes()[:8] == PNG_MAGIC


def test_accuracy_errorbars_one_point_per_net_marker_by_input_size():
    import pandas as pd

    from gluon_densenet.plots import accuracy_errorbars
    table = pd.DataFrame({"params": [2e5, 7.6e5, 7.6e5], "val_acc": [0.88, 0.89, 0.9],
                          "std": [0.01, 0.002, 0.003], "px": [32, 32, 48]},
                         index=["small", "d2l-21", "48 px"])
    fig, ax = plt.subplots()
    accuracy_errorbars(ax, table, "params", [2e5, 5e5, 1e6], "parameters")
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["200k", "500k", "1M"]
    lines = [c.lines[0] for c in ax.containers]
    assert [ln.get_marker() for ln in lines] == ["o", "o", "s"]
    assert [ln.get_ydata()[0] for ln in lines] == [0.88, 0.89, 0.9]
    assert [t.get_text() for t in ax.legend().get_texts()][2] == "48 px (48 px input)"
