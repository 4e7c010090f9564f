"""Matplotlib figures: training curves, confusion matrices and image grids.

No backend is forced, so inline plotting in Jupyter keeps working; without a display,
matplotlib itself falls back to its non-interactive Agg backend, and :func:`use_agg` forces
that backend explicitly (the CLI does, before it saves a figure).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .training.metrics import confusion_matrix

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .training.history import History

__all__ = ["accuracy_errorbars", "epoch_axis", "live_plot", "plot_confusion_matrix",
           "plot_history", "reuse_heatmaps", "show_images", "stacked_bars", "use_agg"]


def use_agg() -> None:
    """Switch matplotlib to the non-interactive Agg backend (for scripts/CLI)."""
    import matplotlib

    matplotlib.use("Agg")


def _pyplot():
    import matplotlib.pyplot as plt  # on the first figure: importing this module stays light

    return plt


def _save(fig: Figure, path: str | os.PathLike | None) -> None:
    if path is not None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=120, bbox_inches="tight")


def _records(history: History | dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(history, dict):
        return list(history.get("records", []))
    return history.to_dict()["records"]


def epoch_axis(ax: Axes) -> None:
    """Label ``ax``'s x axis "epoch", with ticks on whole epochs only, and add a grid."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)


def plot_history(
    history: History | dict[str, Any],
    path: str | os.PathLike | None = None,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """Training loss, train accuracy and test accuracy against epoch.

    ``ax=None`` draws two panels (loss | accuracy); a pair of Axes is used the
    same way; a single Axes gets all three curves (d2l style). ``history`` is
    a :class:`~gluon_densenet.training.History` or its ``to_dict()``. Saved as
    PNG if ``path`` is given (parent directories are created). Returns the figure.
    """
    recs = _records(history)
    epochs = [r["epoch"] for r in recs]
    loss = [r["train_loss"] for r in recs]
    train_acc = [r["train_acc"] for r in recs]
    test_acc = [np.nan if r["test_acc"] is None else r["test_acc"] for r in recs]
    has_test = any(r["test_acc"] is not None for r in recs)

    if ax is None:
        plt = _pyplot()
        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    elif isinstance(ax, Sequence):
        ax_loss, ax_acc = ax
        fig = ax_loss.figure
    else:
        ax_loss = ax_acc = ax
        fig = ax.figure

    marker = "o" if len(epochs) <= 30 else None
    ax_loss.plot(epochs, loss, marker=marker, label="train loss")
    ax_acc.plot(epochs, train_acc, marker=marker, linestyle="--", label="train acc")
    if has_test:
        ax_acc.plot(epochs, test_acc, marker=marker, linestyle="-.", label="test acc")
    for a in {id(ax_loss): ax_loss, id(ax_acc): ax_acc}.values():
        epoch_axis(a)
        a.legend()
    if ax_loss is not ax_acc:
        ax_loss.set_ylabel("loss")
        ax_acc.set_ylabel("accuracy")
        ax_loss.set_title("training loss")
        ax_acc.set_title("accuracy")
    if epochs:
        ax_acc.set_xlim(min(epochs) - 0.2, max(epochs) + 0.2)
    _save(fig, path)
    return fig


def live_plot(path: str | os.PathLike | None = None) -> Callable[[History], None]:
    """An ``on_epoch_end`` callback for :func:`~gluon_densenet.training.train` that
    redraws the curves after every epoch: in place in Jupyter, and/or to ``path``.

    Example: ``train(net, train_iter, test_iter, epochs=10, on_epoch_end=live_plot())``.
    """

    def callback(history: History) -> None:
        fig = plot_history(history, path=path)
        try:
            from IPython import get_ipython
            from IPython.display import clear_output, display
        except ImportError:  # pragma: no cover - IPython ships with Jupyter
            get_ipython = None
        if get_ipython is not None and get_ipython() is not None:
            clear_output(wait=True)
            display(fig)
        _pyplot().close(fig)

    return callback


def stacked_bars(parts: Any, ylabel: str, title: str, figsize: tuple[float, float] = (9, 3.8),
                 path: str | os.PathLike | None = None) -> Figure:
    """One bar per column of the DataFrame ``parts``, stacked from its rows in order (e.g.
    rows stem, stage 1, transition 1, ...; columns the networks). Rows that are zero or
    missing everywhere are left out of the bars and the legend but keep their colour
    slot, so a part has the same colour in every chart of the same rows."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=figsize)
    values = parts.fillna(0)
    bottom = np.zeros(values.shape[1])
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, len(values)))
    for (part, row), colour in zip(values.iterrows(), colours, strict=True):
        heights = row.to_numpy(dtype=float)
        if heights.any():
            ax.bar([str(c) for c in values.columns], heights, bottom=bottom, label=part,
                   color=colour, width=0.6)
            bottom += heights
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    return fig


def reuse_heatmaps(grids: dict[str, Sequence[Any]], consumers: Sequence[str], title: str,
                   path: str | os.PathLike | None = None) -> Figure:
    """The paper's Figure 5: one heat map per dense block (columns) for each net (rows).

    ``grids[net][b]`` is block *b*'s normalised ``(L+1, L+1)`` map, ``[source, target]``
    with NaN where the target does not read the source
    (:meth:`gluon_densenet.analysis.feature_reuse.ReuseMap.normalized`); the last target is
    the block's reader, named by ``consumers[b]`` (``"transition 1"``, ``"classifier"``)."""
    plt = _pyplot()
    rows, cols = len(grids), len(consumers)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols + 1, 2.5 * rows + 0.6),
                             squeeze=False)
    image = None
    for r, (label, blocks) in enumerate(grids.items()):
        for b, (grid, consumer) in enumerate(zip(blocks, consumers, strict=True)):
            grid = np.asarray(grid, dtype=float)
            layers = grid.shape[1] - 1
            ax = axes[r, b]
            image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=0, vmax=1)
            ax.axvline(layers - 0.5, color="white", linewidth=2)
            ax.set_xticks(range(layers + 1),
                          labels=[str(t) for t in range(1, layers + 1)] + [consumer[0].upper()])
            ax.set_yticks(range(layers + 1), labels=["in"] + [str(s) for s in range(1, layers + 1)])
            ax.set_title(f"{label}: block {b + 1}", fontsize=9)
            if r == rows - 1:
                ax.set_xlabel(f"target layer ({consumer[0].upper()} = {consumer})", fontsize=8)
            if b == 0:
                ax.set_ylabel("source (in = block input)", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.colorbar(image, ax=axes, shrink=0.8, label="mean |weight| / target's largest")
    _save(fig, path)
    return fig


def accuracy_errorbars(ax: Axes, table: Any, x: str, xticks: Sequence[float],
                       xlabel: str, acc: str = "val_acc", std: str = "std",
                       px: str = "px") -> None:
    """One point per net (a row of the DataFrame ``table``, indexed by the net's label):
    mean accuracy ``acc`` ± ``std`` against column ``x`` on a log axis with ticks at
    ``xticks``; the marker shows the input size (column ``px``), the colour the net."""
    plt = _pyplot()
    markers = dict(zip(sorted(table[px].unique()), "osD^v<>", strict=False))
    for (label, row), colour in zip(table.iterrows(), plt.get_cmap("tab10").colors,
                                    strict=False):
        ax.errorbar(row[x], row[acc], yerr=row[std], fmt=markers[row[px]], color=colour,
                    capsize=3, markersize=7, label=f"{label} ({row[px]:.0f} px input)")
    ax.set_xscale("log")
    ax.set_xticks(xticks, labels=[_short_number(t) for t in xticks])
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.grid(True, alpha=0.3)


def _short_number(value: float) -> str:
    """200000 → '200k', 1000000 → '1M', 5.0 → '5'."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def plot_confusion_matrix(
    labels: Any,
    preds: Any,
    class_names: Sequence[str],
    ax: Axes | None = None,
    normalize: bool = False,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Heat map of the confusion matrix (rows: true class, columns: predicted).

    With ``normalize`` each row is divided by its total (per-class recall).
    """
    n = len(class_names)
    cm = confusion_matrix(labels, preds, n).astype(float)
    if normalize:
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    if ax is None:
        plt = _pyplot()
        size = max(4.0, 0.6 * n + 1.5)
        fig, ax = plt.subplots(figsize=(size, size))
    else:
        fig = ax.figure
    im = ax.imshow(cm, cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), labels=list(class_names), rotation=45, ha="right")
    ax.set_yticks(range(n), labels=list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 20:
        thresh = cm.max() / 2 if cm.size else 0
        for i in range(n):
            for j in range(n):
                text = f"{cm[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > thresh else "black")
    _save(fig, path)
    return fig


def _to_numpy_images(images: Any) -> np.ndarray:
    """(N,H,W), (N,1,H,W), (N,3,H,W) or (N,H,W,C) -> (N,H,W) or (N,H,W,3)."""
    if hasattr(images, "asnumpy"):
        images = images.asnumpy()
    elif isinstance(images, (list, tuple)):
        images = np.stack([i.asnumpy() if hasattr(i, "asnumpy") else np.asarray(i) for i in images])
    a = np.asarray(images)
    if a.ndim == 2:
        a = a[None]
    if a.ndim == 4:
        if a.shape[1] in (1, 3) and a.shape[-1] not in (1, 3):  # NCHW
            a = a.transpose(0, 2, 3, 1)
        if a.shape[-1] == 1:
            a = a[..., 0]
    if a.ndim not in (3, 4):
        raise ValueError(f"expected images shaped (N,H,W) or (N,C,H,W), got {a.shape}")
    return a


def show_images(
    images: Any,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    scale: float = 1.5,
    path: str | os.PathLike | None = None,
) -> Figure:
    """A grid of images (numpy or NDArray; (N,H,W), (N,1,H,W) or (N,3,H,W)).

    One Axes per image (empty grid cells are removed); grayscale images use
    the ``gray`` colour map. Returns the figure. Stands in for d2l's
    ``show_images``: d2l 1.0.3's MXNet module first defines it as a
    ``NotImplementedError`` stub (a later generic definition replaces it) and is
    written for ``mx.np`` arrays, not the legacy ``mx.nd`` ones used here.
    """
    imgs = _to_numpy_images(images)
    n = len(imgs)
    if n == 0:
        raise ValueError("show_images: no images")
    if titles is not None and len(titles) < n:
        raise ValueError(f"{len(titles)} titles for {n} images")
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    plt = _pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * scale, nrows * scale), squeeze=False)
    for k, a in enumerate(axes.ravel()):
        if k >= n:
            a.remove()
            continue
        img = imgs[k]
        a.imshow(img, cmap="gray" if img.ndim == 2 else None)
        a.axis("off")
        if titles is not None:
            a.set_title(str(titles[k]), fontsize=8)
    _save(fig, path)
    return fig
