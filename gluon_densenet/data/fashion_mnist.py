"""Fashion-MNIST: the expected files, finding, downloading, verifying and loading them.

Files are checked by the sha1 of their *decompressed* content, so one check accepts
the official ``.gz`` downloads, re-compressed copies and uncompressed files alike.
The check runs on the bytes already read for loading, and writes nothing next to the
data, which may sit on a read-only mount.

MXNet's ``gluon.data.vision.FashionMNIST`` is not used: it downloads each file from a
single URL (``$MXNET_GLUON_REPO``, by default Apache's S3 bucket), checks the sha1 of
the compressed file, and has no subset to work offline with; hence :data:`MIRRORS`
and :data:`SUBSET_DIR`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import mxnet as mx
import numpy as np

from ..validation import did_you_mean
from .download import download_file
from .errors import CorruptDataError, DatasetNotFoundError, DownloadError
from .idx import parse_idx, payload_sha1, read_idx_payload

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
_KINDS: tuple[str, ...] = ("images", "labels")


@dataclass(frozen=True)
class FileSpec:
    """One expected IDX file.

    Attributes:
        name: Base name, without ``.gz``.
        sha1: sha1 hex digest of the decompressed content.
        count: Number of examples the file holds.
    """

    name: str
    sha1: str
    count: int

    @property
    def gz_name(self) -> str:
        """The compressed file's name, as on the mirrors."""
        return self.name + ".gz"


@dataclass(frozen=True)
class SplitSpec:
    """The image file and the label file of one split."""

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
    """The mirror base URLs to download from.

    Args:
        mirrors: A list, or a comma-separated string; ``None`` means
            ``$GLUON_DENSENET_MIRRORS`` (comma-separated) if set, else :data:`MIRRORS`.

    Returns:
        The URLs, stripped, blank ones left out.
    """
    if mirrors is None:
        mirrors = os.environ.get(MIRRORS_ENV_VAR) or None
    if mirrors is None:
        return list(MIRRORS)
    if isinstance(mirrors, str):
        mirrors = mirrors.split(",")
    return [m.strip() for m in mirrors if m and m.strip()]


def find_file(directory: str | os.PathLike, spec: FileSpec | str) -> Path | None:
    """Find one IDX file, gzipped or not.

    Args:
        directory: Where to look.
        spec: The file, or its name (with or without ``.gz``).

    Returns:
        ``directory/name.gz`` or ``directory/name``, whichever exists (``.gz``
        preferred), else ``None``.
    """
    name = spec.name if isinstance(spec, FileSpec) else spec.removesuffix(".gz")
    for candidate in (Path(directory) / (name + ".gz"), Path(directory) / name):
        if candidate.is_file():
            return candidate
    return None


def _find_split(directory: Path, spec: SplitSpec) -> tuple[dict[str, Path], dict[str, FileSpec]]:
    """Look for a split's image and label files.

    Returns:
        The paths found and the specs of the files missing, each keyed by kind.
    """
    found: dict[str, Path] = {}
    missing: dict[str, FileSpec] = {}
    for kind in _KINDS:
        fspec: FileSpec = getattr(spec, kind)
        path = find_file(directory, fspec)
        if path is None:
            missing[kind] = fspec
        else:
            found[kind] = path
    return found, missing


# --------------------------------------------------------------------------- verify


def _sha1_mismatch(payload: bytes, spec: FileSpec) -> str | None:
    """Why ``payload`` (decompressed IDX bytes) is not the file ``spec`` expects.

    Returns:
        ``None`` if its sha1 is ``spec.sha1``, else a phrase giving both digests.
    """
    digest = payload_sha1(payload)
    if digest == spec.sha1:
        return None
    return f"sha1 of the decompressed content is {digest}, expected {spec.sha1}"


def _check_payload(payload: bytes, spec: FileSpec, path: Path, *, origin: str) -> np.ndarray:
    """Parse decompressed IDX bytes and check them against ``spec``.

    Args:
        payload: The decompressed bytes.
        spec: The file they should be.
        path: Where they come from, for messages.
        origin: Sentence ending each message, saying what to do.

    Returns:
        The parsed uint8 array.

    Raises:
        CorruptDataError: Malformed IDX content, wrong sha1 or wrong example count.
    """
    arr = parse_idx(payload, path)  # structural problems first: their messages are more specific
    mismatch = _sha1_mismatch(payload, spec)
    if mismatch:
        raise CorruptDataError(
            f"{path}: checksum mismatch ({mismatch} for {spec.name}). {origin}"
        )
    if arr.shape[0] != spec.count:
        raise CorruptDataError(
            f"{path}: holds {arr.shape[0]} examples, expected {spec.count}. {origin}"
        )
    return arr


def verify_file(path: str | os.PathLike, spec: FileSpec) -> np.ndarray:
    """Read an IDX file and check it against ``spec``.

    Args:
        path: The file, gzipped or not.
        spec: What it should hold.

    Returns:
        Its uint8 array.

    Raises:
        CorruptDataError: The file is damaged or is not the file ``spec`` describes.
    """
    path = Path(path)
    origin = (
        f"The file is damaged or is not the right file: delete {path} and download it "
        f"again (or copy it again from where you got it)."
    )
    return _check_payload(read_idx_payload(path), spec, path, origin=origin)


def _download_verifier(spec: FileSpec) -> Callable[[Path], None]:
    """A ``verify`` for :func:`download_file` that accepts only the file ``spec`` expects."""

    def verify(tmp: Path) -> None:
        try:
            payload = read_idx_payload(tmp)
        except CorruptDataError as exc:
            raise ValueError("not a valid gzip file") from exc
        mismatch = _sha1_mismatch(payload, spec)
        if mismatch:
            raise ValueError(mismatch)

    return verify


# --------------------------------------------------------------------------- load


def _validate_split(split: str, files: Mapping[str, SplitSpec]) -> SplitSpec:
    """The spec of ``split``; raises ``ValueError`` naming the valid splits."""
    if split not in files:
        raise ValueError(
            f"unknown split {split!r}; {did_you_mean(split, files)}"
            f"valid splits are: {', '.join(map(repr, files))}"
        )
    return files[split]


def _not_found_message(
    directory: Path, split: str, missing: list[FileSpec], errors: list[str], mirrors: Sequence[str]
) -> str:
    """What is missing, what each download attempt said, and how to fix it."""
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


def _shipped_files(spec: SplitSpec) -> dict[str, Path]:
    """The image and label files of one split of the shipped subset.

    Raises:
        DatasetNotFoundError: One of them is missing from :data:`SUBSET_DIR`.
    """
    found, missing = _find_split(SUBSET_DIR, spec)
    if missing:
        raise DatasetNotFoundError(
            f"The Fashion-MNIST subset shipped with gluon_densenet is incomplete: "
            f"{', '.join(s.gz_name for s in missing.values())} missing from {SUBSET_DIR}. "
            "Reinstall the package, or regenerate the files with "
            "scripts/make_fashion_mnist_subset.py."
        )
    return found


def _download_missing(
    missing: Mapping[str, FileSpec], directory: Path, mirrors: list[str], progress: bool
) -> tuple[dict[str, Path], list[str]]:
    """Download missing files one after the other, stopping at the first failure.

    Returns:
        The downloaded files keyed by kind, and the download errors (empty if none).
    """
    fetched: dict[str, Path] = {}
    errors: list[str] = []
    for kind, fspec in missing.items():
        try:
            fetched[kind] = download_file(
                fspec.gz_name,
                mirrors,
                directory,
                verify=_download_verifier(fspec),
                progress=progress,
            )
        except DownloadError as exc:
            errors.append(str(exc))
            break  # the split cannot load without this file: try no more
    if not mirrors:
        errors.append(f"no mirrors configured ({MIRRORS_ENV_VAR} is empty)")
    return fetched, errors


def _local_files(
    spec: SplitSpec,
    split: str,
    directory: Path,
    download: bool,
    mirrors: list[str],
    progress: bool,
) -> dict[str, Path]:
    """The image and label files of ``split`` in ``directory``, downloaded if missing.

    Raises:
        DatasetNotFoundError: A file is missing and ``download`` is false or failed.
    """
    found, missing = _find_split(directory, spec)
    errors: list[str] = []
    if missing and download:
        fetched, errors = _download_missing(missing, directory, mirrors, progress)
        found.update(fetched)
        missing = {kind: fspec for kind, fspec in missing.items() if kind not in fetched}
    if missing:
        raise DatasetNotFoundError(
            _not_found_message(directory, split, list(missing.values()), errors, mirrors)
        )
    return found


def _read_split(paths: Mapping[str, Path], spec: SplitSpec) -> tuple[np.ndarray, np.ndarray]:
    """Read and verify a split's two files.

    Returns:
        ``(images uint8 (N, rows, cols), labels int32 (N,))``.

    Raises:
        CorruptDataError: A file is damaged, or the two do not belong together.
    """
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
    return images, labels.astype(np.int32)


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
    """Load one split of Fashion-MNIST, verified.

    Args:
        split: ``"train"`` or ``"test"``.
        data_dir: Directory of the full dataset (see :func:`default_data_dir`).
        download: Fetch missing files from the mirrors.
        subset: Read the small subset shipped with the package instead (5,000 train /
            1,000 test images); ``data_dir`` and ``download`` are then unused.
        limit: Keep at most this many examples, classes balanced
            (:func:`stratified_limit`).
        mirrors: Base URLs to download from (see :func:`resolve_mirrors`).
        files: Expected-file table to use instead of :data:`FILES` / :data:`SUBSET_FILES`.
        progress: Let MXNet's downloader print a line per attempt.

    Returns:
        ``(images uint8 (N, 28, 28), labels int32 (N,))``.

    Raises:
        DatasetNotFoundError: Files absent, or their download failed.
        CorruptDataError: A file is damaged or fails its checksum.
        ValueError: Unknown split.
    """
    if files is None:
        files = SUBSET_FILES if subset else FILES
    spec = _validate_split(split, files)
    if subset:
        paths = _shipped_files(spec)
    else:
        directory = default_data_dir(data_dir)
        paths = _local_files(spec, split, directory, download, resolve_mirrors(mirrors), progress)
    images, labels = _read_split(paths, spec)
    if limit is not None:
        keep = stratified_limit(labels, limit)
        images, labels = images[keep], labels[keep]
    return images, labels


def get_fashion_mnist_labels(labels: Sequence[int] | np.ndarray | mx.nd.NDArray) -> list[str]:
    """Class names for integer labels (d2l-compatible helper).

    Args:
        labels: A list, a NumPy array or an NDArray of class indices.

    Returns:
        One name from :data:`CLASS_NAMES` per label.
    """
    if hasattr(labels, "asnumpy"):
        labels = labels.asnumpy()
    return [CLASS_NAMES[int(i)] for i in np.asarray(labels).reshape(-1)]
