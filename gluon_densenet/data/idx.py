"""Reading and writing IDX files (the MNIST / Fashion-MNIST container).

Layout (all integers big-endian)::

    images: magic 2051 | count | rows | cols | count*rows*cols uint8
    labels: magic 2049 | count | count uint8

Files may be gzip-compressed or raw; compression is detected from the first
two bytes, not the file name. Anything malformed raises
:class:`~gluon_densenet.data.errors.CorruptDataError` naming the file.

Hand-written because MXNet's ``gluon.data.vision.FashionMNIST`` opens only gzip files
and skips the IDX header without checking it, so a damaged file gives no clear error.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import CorruptDataError

__all__ = [
    "IMAGE_MAGIC",
    "LABEL_MAGIC",
    "read_idx",
    "read_idx_payload",
    "parse_idx",
    "payload_sha1",
    "write_idx",
]

IMAGE_MAGIC = 2051  # 0x00000803: unsigned byte, 3 dimensions
LABEL_MAGIC = 2049  # 0x00000801: unsigned byte, 1 dimension
_GZIP_MAGIC = b"\x1f\x8b"

PathLike = str | os.PathLike


def _corrupt(path: PathLike, problem: str) -> CorruptDataError:
    """The error for a malformed file: what is wrong, and what to do."""
    return CorruptDataError(
        f"{os.fspath(path)}: {problem}. The file is damaged or is not an IDX file; "
        f"delete it and download it again (or copy it again from where you got it)."
    )


def read_idx_payload(path: PathLike) -> bytes:
    """The decompressed bytes of an IDX file.

    Args:
        path: The file, gzip-compressed or raw.

    Returns:
        Its content, decompressed if it was compressed.

    Raises:
        CorruptDataError: A broken gzip stream.
    """
    path = Path(path)
    data = path.read_bytes()
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise _corrupt(path, f"broken gzip stream ({exc})") from exc


def parse_idx(payload: bytes, source: PathLike = "<bytes>") -> np.ndarray:
    """Parse decompressed IDX bytes.

    Args:
        payload: The bytes.
        source: Where they come from, for error messages.

    Returns:
        A uint8 array: ``(count, rows, cols)`` for images, ``(count,)`` for labels.

    Raises:
        CorruptDataError: Short or unknown header, or a data size other than the
            header promises.
    """
    if len(payload) < 8:
        raise _corrupt(source, f"only {len(payload)} bytes, too short for an IDX header")
    magic, count = struct.unpack(">II", payload[:8])
    if magic == IMAGE_MAGIC:
        if len(payload) < 16:
            raise _corrupt(source, "image header truncated (needs 16 bytes)")
        rows, cols = struct.unpack(">II", payload[8:16])
        shape: tuple[int, ...] = (count, rows, cols)
        offset = 16
    elif magic == LABEL_MAGIC:
        shape = (count,)
        offset = 8
    else:
        raise _corrupt(
            source,
            f"bad magic number {magic} (expected {IMAGE_MAGIC} for images or "
            f"{LABEL_MAGIC} for labels)",
        )
    expected = int(np.prod(shape, dtype=np.int64))
    actual = len(payload) - offset
    if actual < expected:
        raise _corrupt(
            source,
            f"truncated: header promises {expected} data bytes {shape}, found {actual}",
        )
    if actual > expected:
        raise _corrupt(
            source,
            f"{actual - expected} unexpected bytes after the {expected} data bytes "
            f"the header promises {shape}",
        )
    return (
        np.frombuffer(payload, dtype=np.uint8, count=expected, offset=offset).reshape(shape).copy()
    )


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file into a uint8 array.

    Args:
        path: The file, gzip-compressed or raw.

    Returns:
        ``(count, rows, cols)`` for images, ``(count,)`` for labels.

    Raises:
        CorruptDataError: The file is malformed.
    """
    return parse_idx(read_idx_payload(path), path)


def payload_sha1(source: PathLike | bytes) -> str:
    """sha1 hex digest of an IDX file's *decompressed* content.

    The same for a ``.gz`` file and its uncompressed twin, whatever gzip settings
    produced the container.

    Args:
        source: The decompressed bytes, or a file (gzip or raw) to read them from.

    Returns:
        The digest, 40 hex digits.

    Raises:
        CorruptDataError: ``source`` is a file with a broken gzip stream.
    """
    payload = source if isinstance(source, bytes) else read_idx_payload(source)
    return hashlib.sha1(payload).hexdigest()


def write_idx(path: PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write an array as an IDX file.

    Gzip output uses ``mtime=0``, so identical input gives identical bytes.

    Args:
        path: The file to write.
        array: ``(N, rows, cols)`` images or ``(N,)`` labels, values in 0..255.
        compress: Gzip the file; ``None`` gzips when the name ends in ``.gz``.

    Returns:
        ``path``.

    Raises:
        ValueError: ``array`` has another number of dimensions, or values outside 0..255.
    """
    path = Path(path)
    arr = np.asarray(array)
    if arr.ndim not in (1, 3):
        raise ValueError(
            f"write_idx needs a 1-D (labels) or 3-D (images) array, got shape {arr.shape}"
        )
    if arr.dtype != np.uint8:
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError("write_idx: values must lie in 0..255")
        arr = arr.astype(np.uint8)
    if arr.ndim == 3:
        header = struct.pack(">IIII", IMAGE_MAGIC, *arr.shape)
    else:
        header = struct.pack(">II", LABEL_MAGIC, arr.shape[0])
    payload = header + np.ascontiguousarray(arr).tobytes()
    if compress is None:
        compress = path.name.endswith(".gz")
    with open(path, "wb") as fh:
        if compress:
            inner = path.name[:-3] if path.name.endswith(".gz") else path.name
            with gzip.GzipFile(
                filename=inner, mode="wb", fileobj=fh, compresslevel=9, mtime=0
            ) as gz:
                gz.write(payload)
        else:
            fh.write(payload)
    return path
