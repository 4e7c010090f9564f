"""Fashion-MNIST: locating, downloading, verifying, loading and batching.

Files are checked by the sha1 of their *decompressed* content, so the same
check accepts the official ``.gz`` downloads, re-compressed copies and
uncompressed files alike. Verification happens while loading, on the bytes
already in memory (about 0.02 s for the 47 MB training images, next to
~0.2 s for gunzip), so nothing is ever re-read just to be hashed and no stamp
files are written next to the data (which may sit on a read-only mount).
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import mxnet as mx
import numpy as np

from .download import download_file
from .errors import CorruptDataError, DatasetNotFoundError, DownloadError
from .idx import parse_idx, read_idx_payload

__all__ = [
    "CLASS_NAMES",
    "FileSpec",
    "SplitSpec",
    "FILES",
    "SUBSET_FILES",
    "SUBSET_DIR",
    "MIRRORS",
    "SPLITS",
    "DATA_ENV_VAR",
    "MIRRORS_ENV_VAR",
    "default_data_dir",
    "resolve_mirrors",
    "find_file",
    "verify_file",
    "load_fashion_mnist",
    "stratified_limit",
    "ArrayLoader",
    "load_data",
    "get_fashion_mnist_labels",
]

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

DATA_ENV_VAR = "GLUON_DENSENET_DATA"
MIRRORS_ENV_VAR = "GLUON_DENSENET_MIRRORS"
SPLITS: tuple[str, ...] = ("train", "test")
SOURCE_URL = "https://github.com/zalandoresearch/fashion-mnist#get-the-data"


@dataclass(frozen=True)
class FileSpec:
    """One IDX file: base name (without ``.gz``), sha1 of the decompressed
    content, and the number of examples it holds."""

    name: str
    sha1: str
    count: int

    @property
    def gz_name(self) -> str:
        return self.name + ".gz"


@dataclass(frozen=True)
class SplitSpec:
    images: FileSpec
    labels: FileSpec


# One row per IDX file: split, kind, official name, then the sha1 of its decompressed
# content in the official dataset and in the subset shipped in
# gluon_densenet/assets/fashion-mnist-subset (made by scripts/make_fashion_mnist_subset.py).
# A single table, so that each name is written once; FILES and SUBSET_FILES are built from it.
_FILE_TABLE: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "train",
        "images",
        "train-images-idx3-ubyte",
        "0e814e1327d7e388f8145c3512c7d36760939d54",
        "0affcbddae4834fa80d9e6a8c892069c8882c289",
    ),
    (
        "train",
        "labels",
        "train-labels-idx1-ubyte",
        "4bccf37222e01638381eaa326bf730337a597267",
        "5e6531782e56859ec3c66c04d2499dcb20704ddb",
    ),
    (
        "test",
        "images",
        "t10k-images-idx3-ubyte",
        "497e24f45080bf9c51dfb6056884f71e3fb28512",
        "ec55237f9355a3c9e938fb7e3c2b3e99ff4c6684",
    ),
    (
        "test",
        "labels",
        "t10k-labels-idx1-ubyte",
        "958122e8b4b97fd4e71eca2d08ef754ed77c3ad9",
        "99e8650edbf820be06ae65f390c6cad5ad56d36e",
    ),
)


def _split_specs(column: int, counts: Mapping[str, int]) -> dict[str, SplitSpec]:
    """Build an expected-file table from one sha1 column of :data:`_FILE_TABLE`.

    Args:
        column: 0 for the official dataset's sha1s, 1 for the shipped subset's.
        counts: Number of examples in each split.

    Returns:
        ``{split: SplitSpec}`` for every split.
    """
    kinds: dict[str, dict[str, FileSpec]] = {split: {} for split in SPLITS}
    for split, kind, name, *sha1s in _FILE_TABLE:
        kinds[split][kind] = FileSpec(name, sha1s[column], counts[split])
    return {split: SplitSpec(**specs) for split, specs in kinds.items()}


# Official Fashion-MNIST.
FILES: dict[str, SplitSpec] = _split_specs(0, {"train": 60000, "test": 10000})
# The stratified subset shipped with the package (500 / 100 images per class).
SUBSET_FILES: dict[str, SplitSpec] = _split_specs(1, {"train": 5000, "test": 1000})

SUBSET_DIR: Path = Path(__file__).resolve().parent.parent / "assets" / "fashion-mnist-subset"

MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/gluon/dataset/fashion-mnist/",
)


# --------------------------------------------------------------------------- paths


def default_data_dir(path: str | os.PathLike | None = None) -> Path:
    """Where the full dataset lives.

    Args:
        path: Directory to use; ``None`` or ``""`` means ``$GLUON_DENSENET_DATA`` if
            set, else ``<MXNet's data directory>/datasets/fashion-mnist``, where MXNet's
            data directory is :func:`mxnet.base.data_dir` (``$MXNET_HOME``, by default
            ``~/.mxnet``).

    Returns:
        The directory as an absolute path (``~`` expanded).
    """
    if path is None or os.fspath(path) == "":
        path = os.environ.get(DATA_ENV_VAR) or None
    if path is None:
        path = os.path.join(mx.base.data_dir(), "datasets", "fashion-mnist")
    return Path(path).expanduser().absolute()


def resolve_mirrors(mirrors: Sequence[str] | str | None = None) -> list[str]:
    """Mirror base URLs: ``mirrors`` if given (a list or a comma-separated string),
    else ``$GLUON_DENSENET_MIRRORS`` (comma-separated), else :data:`MIRRORS`."""
    if mirrors is None:
        mirrors = os.environ.get(MIRRORS_ENV_VAR) or None
    if mirrors is None:
        return list(MIRRORS)
    if isinstance(mirrors, str):
        mirrors = mirrors.split(",")
    return [m.strip() for m in mirrors if m and m.strip()]


def find_file(directory: str | os.PathLike, spec: FileSpec | str) -> Path | None:
    """``directory/name.gz`` or ``directory/name`` (uncompressed), whichever exists
    (``.gz`` preferred), else ``None``."""
    name = spec.name if isinstance(spec, FileSpec) else spec.removesuffix(".gz")
    for candidate in (Path(directory) / (name + ".gz"), Path(directory) / name):
        if candidate.is_file():
            return candidate
    return None


# --------------------------------------------------------------------------- verify / load


def _check_payload(payload: bytes, spec: FileSpec, path: Path, *, origin: str) -> np.ndarray:
    arr = parse_idx(payload, path)  # structural problems first: their messages are more specific
    digest = hashlib.sha1(payload).hexdigest()
    if digest != spec.sha1:
        raise CorruptDataError(
            f"{path}: checksum mismatch (sha1 of the decompressed content is {digest}, "
            f"expected {spec.sha1} for {spec.name}). {origin}"
        )
    if arr.shape[0] != spec.count:
        raise CorruptDataError(
            f"{path}: holds {arr.shape[0]} examples, expected {spec.count}. {origin}"
        )
    return arr


def _local_origin(path: Path) -> str:
    return (
        f"The file is damaged or is not the right file: delete {path} and download it "
        f"again (or copy it again from where you got it)."
    )


def verify_file(path: str | os.PathLike, spec: FileSpec) -> np.ndarray:
    """Read ``path``, check it against ``spec`` and return its array.

    Raises :class:`CorruptDataError` on a damaged file or a checksum mismatch.
    """
    path = Path(path)
    return _check_payload(read_idx_payload(path), spec, path, origin=_local_origin(path))


def _download_verifier(spec: FileSpec):
    def verify(tmp: Path) -> None:
        try:
            payload = read_idx_payload(tmp)
        except CorruptDataError as exc:
            raise ValueError("not a valid gzip file") from exc
        digest = hashlib.sha1(payload).hexdigest()
        if digest != spec.sha1:
            raise ValueError(f"sha1 of the decompressed content is {digest}, expected {spec.sha1}")

    return verify


def _validate_split(split: str, files: Mapping[str, SplitSpec]) -> SplitSpec:
    if split not in files:
        raise ValueError(
            f"unknown split {split!r}; valid splits are: {', '.join(map(repr, files))}"
        )
    return files[split]


def _not_found_message(
    directory: Path, split: str, missing: list[FileSpec], errors: list[str], mirrors: Sequence[str]
) -> str:
    lines = [
        f"Fashion-MNIST ({split} split) is not in {directory}"
        + (" and could not be downloaded." if errors else " (and download=False).")
    ]
    lines.append("Missing files (each may be gzipped or uncompressed):")
    lines += [f"  {directory / spec.gz_name}" for spec in missing]
    if errors:
        lines.append("Download attempts:")
        for err in errors:
            lines += ["  " + line for line in err.splitlines()]
    lines.append("To fix this, do one of:")
    lines.append(f"  - put {', '.join(s.gz_name for s in missing)} into {directory}")
    lines.append(
        f"    (from {SOURCE_URL}, or from a mirror: {', '.join(mirrors) or 'none configured'});"
    )
    lines.append(
        f"  - set {DATA_ENV_VAR} (or pass --data-dir / data_dir=) to a directory that has them;"
    )
    lines.append(
        "  - use subset=True (gluon-densenet train --shipped) to work offline with the "
        "5,000/1,000-image subset shipped with gluon_densenet."
    )
    return "\n".join(lines)


def stratified_limit(
    labels: np.ndarray, limit: int, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Pick ``limit`` examples taking the classes in turn.

    Each example gets a rank within its class: its position in the class (in
    dataset order), or, with ``rng``, its position in a random permutation of the
    class, drawn as ``rng.permutation(members)`` for each class in ascending
    class order. The examples of rank 0 of every class come first, then those of
    rank 1, and so on, so class counts differ by at most one while every class has
    examples left; with ``limit = k * n_classes`` and at least ``k`` examples in
    every class, exactly ``k`` per class are picked.

    Args:
        labels: Integer class labels, shape ``(N,)``.
        limit: How many examples to keep; ``limit >= N`` keeps all of them.
        rng: Random generator for a random choice within each class; ``None``
            takes the first examples of each class.

    Returns:
        Indices of the picked examples, ascending (``arange(N)`` if ``limit >= N``;
        ``rng`` is then not used).

    Raises:
        ValueError: ``limit`` is negative.
    """
    labels = np.asarray(labels)
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if limit >= labels.shape[0]:
        return np.arange(labels.shape[0])
    rank = np.empty(labels.shape[0], dtype=np.int64)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if rng is not None:
            members = rng.permutation(members)
        rank[members] = np.arange(members.shape[0])
    picked = np.lexsort((labels, rank))[:limit]  # by rank, then class
    return np.sort(picked)


def load_fashion_mnist(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    subset: bool = False,
    *,
    limit: int | None = None,
    mirrors: Sequence[str] | str | None = None,
    files: Mapping[str, SplitSpec] | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split as ``(images uint8 (N, 28, 28), labels int32 (N,))``.

    ``subset=True`` reads the small subset shipped with the package (5,000
    train / 1,000 test images; ``data_dir`` and ``download`` are then unused).
    Otherwise files are looked up in :func:`default_data_dir` and, if missing
    and ``download`` is true, fetched from :func:`resolve_mirrors`.
    ``limit`` keeps at most that many examples, classes balanced
    (:func:`stratified_limit`). ``files`` overrides the expected-file table.

    Raises :class:`DatasetNotFoundError` (files absent / download failed),
    :class:`CorruptDataError` (damaged file, checksum mismatch) and
    ``ValueError`` (unknown split).
    """
    if files is None:
        files = SUBSET_FILES if subset else FILES
    spec = _validate_split(split, files)
    if subset:
        directory = SUBSET_DIR
        download = False
    else:
        directory = default_data_dir(data_dir)
    mirror_list = resolve_mirrors(mirrors)

    paths: dict[str, Path] = {}
    missing: list[FileSpec] = []
    for kind in ("images", "labels"):
        fspec: FileSpec = getattr(spec, kind)
        found = find_file(directory, fspec)
        if found is None:
            missing.append(fspec)
        else:
            paths[kind] = found

    if missing and subset:
        raise DatasetNotFoundError(
            f"The Fashion-MNIST subset shipped with gluon_densenet is incomplete: "
            f"{', '.join(s.gz_name for s in missing)} missing from {directory}. "
            "Reinstall the package, or regenerate the files with "
            "scripts/make_fashion_mnist_subset.py."
        )
    if missing:
        errors: list[str] = []
        if download:
            still_missing = []
            for fspec in missing:
                if errors:  # one file already failed: the split cannot load, stop here
                    still_missing.append(fspec)
                    continue
                try:
                    download_file(
                        fspec.gz_name,
                        mirror_list,
                        directory,
                        verify=_download_verifier(fspec),
                        progress=progress,
                    )
                except DownloadError as exc:
                    errors.append(str(exc))
                    still_missing.append(fspec)
            if not mirror_list:
                errors.append(f"no mirrors configured ({MIRRORS_ENV_VAR} is empty)")
            missing = still_missing
        if missing:
            raise DatasetNotFoundError(
                _not_found_message(directory, split, missing, errors, mirror_list)
            )
        for kind in ("images", "labels"):
            if kind not in paths:
                paths[kind] = find_file(directory, getattr(spec, kind))  # type: ignore[assignment]

    images = verify_file(paths["images"], spec.images)
    labels = verify_file(paths["labels"], spec.labels)
    if images.ndim != 3 or labels.ndim != 1:
        raise CorruptDataError(
            f"{paths['images']} / {paths['labels']}: expected an image file and a label file, "
            f"got arrays of shape {images.shape} and {labels.shape}"
        )
    if images.shape[0] != labels.shape[0]:
        raise CorruptDataError(
            f"{paths['images']} has {images.shape[0]} images but {paths['labels']} has "
            f"{labels.shape[0]} labels; delete both and download them again."
        )
    labels = labels.astype(np.int32)
    if limit is not None:
        keep = stratified_limit(labels, limit)
        images, labels = images[keep], labels[keep]
    return images, labels


def get_fashion_mnist_labels(labels) -> list[str]:
    """Class names for integer labels: a list, a NumPy array or an NDArray
    (d2l-compatible helper)."""
    if hasattr(labels, "asnumpy"):
        labels = labels.asnumpy()
    return [CLASS_NAMES[int(i)] for i in np.asarray(labels).reshape(-1)]


# --------------------------------------------------------------------------- batching


def _is_index(x: object) -> bool:
    """An integer (NumPy's too) that is not a bool."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


class ArrayLoader:
    """Mini-batches of ``(X, y)`` NDArrays from in-memory uint8 images.

    ``X``: float32 ``(B, 1, S, S)`` in [0, 1] with ``S = resize or 28``;
    ``y``: float32 ``(B,)``. Both on ``ctx`` (default ``mx.cpu()``).

    With ``shuffle=True`` each epoch (each ``iter()``) uses a fresh
    permutation drawn from a generator seeded by ``(seed, epoch)``, so runs are
    reproducible and epochs differ. ``set_epoch`` picks the next epoch number
    (e.g. when resuming). All work is done per batch, vectorised. :meth:`shard` gives
    one worker's part of every epoch for distributed training.
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
    ) -> None:
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.ndim != 3:
            raise ValueError(f"images must have shape (N, H, W), got {images.shape}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must have shape ({images.shape[0]},), got {labels.shape}")
        if not _is_index(batch_size) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if resize is not None:
            if not _is_index(resize):
                raise ValueError(f"resize must be None or an integer >= 28, got {resize!r}")
            if resize < 28:
                raise ValueError(
                    f"resize={resize} is too small: the minimum is 28 (the native size); "
                    f"use resize=None for 28x28 inputs"
                )
        if last_batch not in ("keep", "discard"):
            raise ValueError(f"last_batch must be 'keep' or 'discard', got {last_batch!r}")
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
            rank: this worker, in ``[0, count)``.
            count: the number of workers.
            even: ``True`` (for training): ``N // count`` examples each, so that every
                worker has batches of the same sizes; the ``N % count`` examples left over
                change from epoch to epoch. ``False`` (for
                evaluation): every ``count``-th example from ``rank`` on, all of them used.

        Returns:
            A new loader over the same arrays (nothing is copied).

        Raises:
            ValueError: ``rank`` outside ``[0, count)``, or fewer examples than workers.
        """
        if not (_is_index(count) and count >= 1 and _is_index(rank) and 0 <= rank < count):
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
        """Number of examples an epoch yields (this worker's, for a shard; before
        ``last_batch``)."""
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
        """Make the next ``iter()`` use the permutation of ``epoch``."""
        self.epoch = int(epoch)

    def order(self, epoch: int | None = None) -> np.ndarray:
        """Example order for ``epoch`` (default: the next epoch)."""
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

    def _batch(self, idx: np.ndarray) -> tuple[mx.nd.NDArray, mx.nd.NDArray]:
        x = self.images[idx][:, None, :, :]  # (B, 1, H, W) uint8, one vectorised gather
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
        self.epoch += 1
        n_batches = len(self)
        for i in range(n_batches):
            yield self._batch(order[i * self.batch_size : (i + 1) * self.batch_size])

    def __repr__(self) -> str:
        return (
            f"ArrayLoader(num_examples={self.num_examples}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, seed={self.seed}, resize={self.resize}, "
            f"last_batch={self.last_batch!r}"
            + (f", shard={self.shard_rank}/{self.shard_count}" if self.shard_count > 1 else "")
            + ")"
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
    """Fashion-MNIST as ``(train_loader, test_loader)``, like d2l's
    ``load_data_fashion_mnist``: training batches shuffled (seeded), test
    batches in order. Batches are ``X`` float32 ``(B, 1, S, S)`` in [0, 1],
    ``y`` float32 ``(B,)``. ``limit``/``test_limit`` cap the example counts
    (class-balanced) for quick runs; ``test_limit`` defaults to ``limit``.
    """
    if test_limit is None:
        test_limit = limit
    # Validate loader arguments before touching the disk or the network.
    ArrayLoader(
        np.zeros((1, 28, 28), np.uint8),
        np.zeros(1),
        batch_size,
        resize=resize,
        last_batch=last_batch,
    )
    train_x, train_y = load_fashion_mnist(
        "train", data_dir, download=download, subset=subset, limit=limit
    )
    test_x, test_y = load_fashion_mnist(
        "test", data_dir, download=download, subset=subset, limit=test_limit
    )
    train = ArrayLoader(
        train_x,
        train_y,
        batch_size,
        shuffle=True,
        seed=seed,
        resize=resize,
        last_batch=last_batch,
        ctx=ctx,
    )
    test = ArrayLoader(
        test_x,
        test_y,
        batch_size,
        shuffle=False,
        seed=seed,
        resize=resize,
        last_batch="keep",
        ctx=ctx,
    )
    return train, test
