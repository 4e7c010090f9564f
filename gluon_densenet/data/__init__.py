"""Data layer: IDX files, verified downloads, Fashion-MNIST and its batch loader.

Modules: :mod:`.idx` (the file format), :mod:`.download` (mirrors), :mod:`.fashion_mnist`
(the data set's files, verified, as arrays), :mod:`.loader` (batches, shards),
:mod:`.augment` (training-time crops and flips).

Typical use::

    from gluon_densenet.data import load_data
    train_iter, test_iter = load_data(batch_size=256, resize=96, subset=True)
    for X, y in train_iter:   # X: float32 (B, 1, 96, 96) in [0, 1]; y: float32 (B,)
        ...
"""

from .augment import CropFlip
from .download import download_file
from .errors import CorruptDataError, DatasetNotFoundError, DownloadError
from .fashion_mnist import (
    CLASS_NAMES,
    DATA_ENV_VAR,
    FILES,
    MIRRORS,
    MIRRORS_ENV_VAR,
    SPLITS,
    SUBSET_DIR,
    SUBSET_FILES,
    FileSpec,
    SplitSpec,
    default_data_dir,
    find_file,
    get_fashion_mnist_labels,
    load_fashion_mnist,
    resolve_mirrors,
    stratified_limit,
    verify_file,
)
from .idx import parse_idx, payload_sha1, read_idx, read_idx_payload, write_idx
from .loader import ArrayLoader, DataSplits, load_data, load_splits, validation_split

__all__ = [
    "ArrayLoader",
    "CLASS_NAMES",
    "CropFlip",
    "CorruptDataError",
    "DataSplits",
    "DATA_ENV_VAR",
    "DatasetNotFoundError",
    "DownloadError",
    "FILES",
    "FileSpec",
    "MIRRORS",
    "MIRRORS_ENV_VAR",
    "SPLITS",
    "SUBSET_DIR",
    "SUBSET_FILES",
    "SplitSpec",
    "default_data_dir",
    "download_file",
    "find_file",
    "get_fashion_mnist_labels",
    "load_data",
    "load_fashion_mnist",
    "load_splits",
    "parse_idx",
    "payload_sha1",
    "read_idx",
    "read_idx_payload",
    "resolve_mirrors",
    "stratified_limit",
    "validation_split",
    "verify_file",
    "write_idx",
]
