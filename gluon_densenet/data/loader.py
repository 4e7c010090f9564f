"""Mini-batches from in-memory image arrays, shuffled per epoch and shardable.

Used instead of ``gluon.data.DataLoader``, which gathers each batch one example at a
time, and of ``Dataset.shard``, whose fixed contiguous shards are not dealt afresh
each epoch.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from typing import NamedTuple

import mxnet as mx
import numpy as np

from ..validation import did_you_mean, is_int
from .fashion_mnist import load_fashion_mnist, stratified_limit

__all__ = ["ArrayLoader", "DataSplits", "load_data", "load_splits", "validation_split"]

_LAST_BATCH: tuple[str, ...] = ("keep", "discard")


class ArrayLoader:
    """Mini-batches of ``(X, y)`` NDArrays from in-memory uint8 images.

    ``X`` is float32 ``(B, 1, S, S)`` in [0, 1] with ``S = resize or H``; ``y`` is
    float32 ``(B,)``. With ``shuffle``, each epoch (each ``iter()``) uses a fresh
    permutation drawn from a generator seeded by ``(seed, epoch)``, so runs are
    reproducible and epochs differ. :meth:`shard` gives one worker's part of every
    epoch for distributed training.

    Args:
        images: uint8 ``(N, H, W)``.
        labels: ``(N,)`` class indices.
        batch_size: Examples per batch.
        shuffle: Draw a new order each epoch.
        seed: Seed of the shuffling.
        resize: Side length to resize images to (bilinear), at least 28; ``None``
            keeps them as they are.
        last_batch: ``"keep"`` the last, smaller batch or ``"discard"`` it.
        ctx: Context of the batches; default ``mx.cpu()``.
        augment: For training, ``augment(images, rng)`` changes each batch's uint8
            ``(B, H, W)`` images before they are converted (e.g.
            :class:`~.augment.CropFlip`); ``rng`` is seeded by ``(seed, epoch)`` and the
            shard, so runs are reproducible.

    Raises:
        ValueError: An argument is out of range or of the wrong type.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        resize: int | None = None,
        last_batch: str = "keep",
        ctx: mx.Context | None = None,
        augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
    ) -> None:
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.ndim != 3:
            raise ValueError(f"images must have shape (N, H, W), got {images.shape}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must have shape ({images.shape[0]},), got {labels.shape}")
        _check_options(batch_size, resize, last_batch)
        self.images = images
        self.labels = labels.astype(np.float32)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.resize = (
            None if resize is None or resize == images.shape[1] == images.shape[2] else int(resize)
        )
        self.last_batch = last_batch
        self.ctx = ctx if ctx is not None else mx.cpu()
        self.augment = augment
        self.epoch = 0
        self.shard_rank, self.shard_count, self.shard_even = 0, 1, True

    def shard(self, rank: int, count: int, even: bool = True) -> ArrayLoader:
        """Worker ``rank``'s part of every epoch when ``count`` workers share the data.

        Every worker draws the same permutation of all the examples for an epoch (the
        ``(seed, epoch)`` generator) and takes its own part of it, so the shards of an
        epoch are disjoint and each epoch deals the examples out afresh. With ``even``,
        batch ``i`` of the ``count`` workers put together is batch ``i`` of this loader
        with ``count * batch_size`` examples per batch.

        Args:
            rank: This worker, in ``[0, count)``.
            count: The number of workers.
            even: ``True`` (for training): ``N // count`` examples each, so that every
                worker has batches of the same sizes; the ``N % count`` examples left
                over change from epoch to epoch. ``False`` (for evaluation): every
                ``count``-th example from ``rank`` on, all of them used.

        Returns:
            A new loader over the same arrays (nothing is copied).

        Raises:
            ValueError: ``rank`` outside ``[0, count)``, or fewer examples than workers.
        """
        if not (is_int(count) and count >= 1 and is_int(rank) and 0 <= rank < count):
            raise ValueError(f"shard needs 0 <= rank < count, got rank={rank!r}, "
                             f"count={count!r}; pass the kvstore's rank and num_workers")
        if self.images.shape[0] < count:
            raise ValueError(f"{self.images.shape[0]} examples cannot be shared by {count} "
                             "workers; use fewer workers or more data")
        part = copy.copy(self)
        part.shard_rank, part.shard_count, part.shard_even = int(rank), int(count), bool(even)
        return part

    @property
    def num_examples(self) -> int:
        """Examples an epoch yields, before ``last_batch`` (this worker's, for a shard)."""
        n, count = int(self.images.shape[0]), self.shard_count
        if count == 1:
            return n
        return n // count if self.shard_even else len(range(self.shard_rank, n, count))

    @property
    def image_size(self) -> int:
        """Side length ``S`` of the batches' images."""
        return int(self.resize or self.images.shape[1])

    def __len__(self) -> int:
        n, b = self.num_examples, self.batch_size
        return n // b if self.last_batch == "discard" else -(-n // b)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` use the permutation of ``epoch`` (e.g. when resuming)."""
        self.epoch = int(epoch)

    def order(self, epoch: int | None = None) -> np.ndarray:
        """Indices of the examples of ``epoch`` (default: the next epoch), in batch order."""
        epoch = self.epoch if epoch is None else epoch
        n = int(self.images.shape[0])
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(n)
        else:
            order = np.arange(n)
        if self.shard_count == 1:
            return order
        rank, count, batch = self.shard_rank, self.shard_count, self.batch_size
        if not self.shard_even:
            return order[rank::count]
        # Batch i of every worker together is batch i of one loader with count x batch_size.
        full = n // (count * batch) * count * batch
        head = order[:full].reshape(-1, count, batch)[:, rank, :].ravel()
        tail = (n - full) // count
        return np.concatenate([head, order[full + rank * tail:full + (rank + 1) * tail]])

    def _batch(self, idx: np.ndarray,
               rng: np.random.Generator | None = None) -> tuple[mx.nd.NDArray, mx.nd.NDArray]:
        """The batch of the examples ``idx``, gathered (augmented) and converted at once."""
        x = self.images[idx]
        if self.augment is not None and rng is not None:
            x = self.augment(x, rng)
        x = x[:, None, :, :]  # (B, 1, H, W) uint8
        X = mx.nd.array(x, ctx=self.ctx, dtype=np.float32) / 255.0
        if self.resize is not None:
            X = mx.nd.contrib.BilinearResize2D(
                X, height=self.resize, width=self.resize, align_corners=False
            )
            X = mx.nd.clip(X, 0.0, 1.0)
        y = mx.nd.array(self.labels[idx], ctx=self.ctx, dtype=np.float32)
        return X, y

    def __iter__(self) -> Iterator[tuple[mx.nd.NDArray, mx.nd.NDArray]]:
        order = self.order()
        rng = (np.random.default_rng([self.seed, self.epoch, 1, self.shard_rank])
               if self.augment is not None else None)
        self.epoch += 1
        for i in range(len(self)):
            yield self._batch(order[i * self.batch_size : (i + 1) * self.batch_size], rng)

    def __repr__(self) -> str:
        return (
            f"ArrayLoader(num_examples={self.num_examples}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, seed={self.seed}, resize={self.resize}, "
            f"last_batch={self.last_batch!r}"
            + (f", augment={self.augment!r}" if self.augment is not None else "")
            + (f", shard={self.shard_rank}/{self.shard_count}" if self.shard_count > 1 else "")
            + ")"
        )


def _check_options(batch_size: int, resize: int | None, last_batch: str) -> None:
    """Raise ``ValueError`` unless the batching options of :class:`ArrayLoader` are valid."""
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if resize is not None:
        if not is_int(resize):
            raise ValueError(f"resize must be None or an integer >= 28, got {resize!r}")
        if resize < 28:
            raise ValueError(
                f"resize={resize} is too small: the minimum is 28 (the native size); "
                f"use resize=None for 28x28 inputs"
            )
    if last_batch not in _LAST_BATCH:
        raise ValueError(
            f"unknown last_batch {last_batch!r}; {did_you_mean(last_batch, _LAST_BATCH)}"
            "use 'keep' or 'discard'"
        )


def load_data(
    batch_size: int,
    resize: int | None = None,
    subset: bool = False,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    download: bool = True,
    *,
    limit: int | None = None,
    test_limit: int | None = None,
    last_batch: str = "keep",
    ctx: mx.Context | None = None,
) -> tuple[ArrayLoader, ArrayLoader]:
    """Fashion-MNIST as a training and a test loader, like d2l's ``load_data_fashion_mnist``.

    Training batches are shuffled (seeded), test batches come in order and all are kept.
    Arguments are checked before the disk or the network is touched.

    Args:
        batch_size: Examples per batch.
        resize: Side length of the images (at least 28); ``None`` keeps 28.
        subset: Use the small subset shipped with the package.
        data_dir: Directory of the full dataset (see :func:`default_data_dir`).
        seed: Seed of the training shuffle.
        download: Fetch missing files from the mirrors.
        limit: Keep at most this many training examples, classes balanced.
        test_limit: The same for the test split; default ``limit``.
        last_batch: ``"keep"`` or ``"discard"`` the last, smaller training batch.
        ctx: Context of the batches; default ``mx.cpu()``.

    Returns:
        ``(train_loader, test_loader)``, batches ``X`` float32 ``(B, 1, S, S)`` in
        [0, 1] and ``y`` float32 ``(B,)``.

    Raises:
        ValueError: Invalid batching options.
        DatasetNotFoundError: The files are absent and cannot be downloaded.
        CorruptDataError: A file is damaged or fails its checksum.
    """
    if test_limit is None:
        test_limit = limit
    _check_options(batch_size, resize, last_batch)
    train_x, train_y = load_fashion_mnist(
        "train", data_dir, download=download, subset=subset, limit=limit
    )
    test_x, test_y = load_fashion_mnist(
        "test", data_dir, download=download, subset=subset, limit=test_limit
    )
    common = {"seed": seed, "resize": resize, "ctx": ctx}
    train = ArrayLoader(train_x, train_y, batch_size, shuffle=True, last_batch=last_batch, **common)
    test = ArrayLoader(test_x, test_y, batch_size, shuffle=False, last_batch="keep", **common)
    return train, test


def validation_split(labels: np.ndarray, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Hold out ``size`` examples, classes balanced, chosen at random with a fixed seed.

    Within each class the examples are put in a random order drawn from
    ``np.random.default_rng(seed)``; the validation split takes the classes in turn
    (:func:`~.fashion_mnist.stratified_limit`), so its class counts differ by at most one.

    Args:
        labels: Integer class labels, shape ``(N,)``.
        size: Examples to hold out, ``0 < size < N``.
        seed: Seed of the choice; the same seed gives the same split.

    Returns:
        ``(train_indices, validation_indices)``: disjoint, ascending, together ``arange(N)``.

    Raises:
        ValueError: ``size`` is not an integer in ``(0, N)``.
    """
    labels = np.asarray(labels)
    n = int(labels.shape[0])
    if not is_int(size) or not 0 < size < n:
        raise ValueError(f"a validation split of {size!r} examples needs 0 < size < {n} "
                         "(the training examples there are); pass a smaller size")
    held = stratified_limit(labels, int(size), rng=np.random.default_rng(seed))
    keep = np.ones(n, dtype=bool)
    keep[held] = False
    return np.flatnonzero(keep), held


class DataSplits(NamedTuple):
    """Training, validation and test loaders (:func:`load_splits`)."""

    train: ArrayLoader
    validation: ArrayLoader
    test: ArrayLoader

    def describe(self) -> str:
        """One line: the images of each split and the validation split's class counts."""
        train_n, valid_n = self.train.num_examples, self.validation.num_examples
        per_class = np.bincount(self.validation.labels.astype(int)).tolist()
        return (f"of {train_n + valid_n:,} training images, {valid_n:,} held out for validation "
                f"(per class: {per_class}), {train_n:,} trained on; "
                f"{self.test.num_examples:,} test images, used once")


def load_splits(
    batch_size: int,
    validation: int = 6000,
    resize: int | None = None,
    subset: bool = False,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    download: bool = True,
    *,
    split_seed: int = 0,
    limit: int | None = None,
    test_limit: int | None = None,
    ctx: mx.Context | None = None,
    augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
) -> DataSplits:
    """Fashion-MNIST's training images split into training and validation, and its test set.

    Make every choice (architecture, settings, epochs) on the validation split and
    report the test split once, for the chosen settings. The split is class-balanced
    and fixed by ``split_seed`` (:func:`validation_split`), independent of ``seed``,
    the training shuffle's seed, so runs with different seeds share one validation set.

    Args:
        batch_size: Examples per batch.
        validation: Training examples held out for validation (10 % of 60,000 by default).
        resize: Side length of the images (at least 28); ``None`` keeps 28.
        subset: Use the small subset shipped with the package.
        data_dir: Directory of the full dataset.
        seed: Seed of the training shuffle.
        download: Fetch missing files from the mirrors.
        split_seed: Seed of the validation split.
        limit: Keep at most this many training examples (classes balanced) before splitting.
        test_limit: The same for the test split; default ``limit``.
        ctx: Context of the batches; default ``mx.cpu()``.
        augment: Augmentation of the training batches (:class:`ArrayLoader`), e.g.
            :class:`~.augment.CropFlip`; validation and test batches are never augmented.

    Returns:
        :class:`DataSplits`; training batches shuffled (seeded), the others in order.

    Raises:
        ValueError: Invalid batching options or validation size.
        DatasetNotFoundError: The files are absent and cannot be downloaded.
        CorruptDataError: A file is damaged or fails its checksum.
    """
    if test_limit is None:
        test_limit = limit
    _check_options(batch_size, resize, "keep")
    if not is_int(validation) or validation < 1:
        raise ValueError(f"validation must be a positive number of examples, got {validation!r}")
    x, y = load_fashion_mnist("train", data_dir, download=download, subset=subset, limit=limit)
    train_idx, valid_idx = validation_split(y, validation, seed=split_seed)
    test_x, test_y = load_fashion_mnist(
        "test", data_dir, download=download, subset=subset, limit=test_limit
    )
    common = {"resize": resize, "ctx": ctx, "seed": seed}
    return DataSplits(
        ArrayLoader(x[train_idx], y[train_idx], batch_size, shuffle=True, augment=augment,
                    **common),
        ArrayLoader(x[valid_idx], y[valid_idx], batch_size, **common),
        ArrayLoader(test_x, test_y, batch_size, **common),
    )
