"""Download one file from a list of mirrors with MXNet's downloader, verified.

Each mirror is tried in turn with :func:`mxnet.gluon.utils.download`, which
retries and writes through a temporary file renamed atomically. It writes into
a private temporary directory beside the target, where ``verify`` checks the
file; only then is it ``os.replace``-d onto the final name. The temporary
directory is always removed (MXNet leaves its partial files behind when a
transfer breaks), so on any failure (HTTP error, unreachable host, checksum
mismatch, Ctrl-C) the target directory holds no partial or unverified file and
an existing file there is left as it was.

MXNet's downloader uses ``requests``: only ``http://`` and ``https://`` mirrors
work, it retries every error (a 404 too) at once, and it sets no timeout, so a
server that accepts the connection and then stalls holds the download up.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path

import requests
from mxnet.gluon.utils import download as mx_download

from .errors import DownloadError

__all__ = ["download_file", "mirror_url", "DEFAULT_RETRIES"]

DEFAULT_RETRIES = 2  # extra attempts per mirror after the first


def mirror_url(base: str, filename: str) -> str:
    """Join a mirror base URL and a file name.

    Args:
        base: Mirror base URL, with or without a trailing slash.
        filename: File name, quoted for use in a URL.

    Returns:
        The file's URL on that mirror.
    """
    return base.rstrip("/") + "/" + urllib.parse.quote(filename)


def _reason(exc: Exception) -> str:
    """One line saying why MXNet's download failed (the error of its last attempt)."""
    if isinstance(exc, requests.ConnectionError):
        return f"cannot connect ({exc})"
    if type(exc) is RuntimeError:  # MXNet's own error for any status but 200; it omits the status
        return f"the server did not answer 200 OK ({exc})"
    return f"{type(exc).__name__}: {exc}"


def download_file(
    filename: str,
    mirrors: Sequence[str],
    dest_dir: str | os.PathLike,
    *,
    verify: Callable[[Path], None] | None = None,
    retries: int = DEFAULT_RETRIES,
    verify_ssl: bool = True,
    progress: bool = True,
) -> Path:
    """Download ``filename`` into ``dest_dir``, trying each mirror in turn.

    Args:
        filename: Name of the file on the mirrors and in ``dest_dir``.
        mirrors: Base URLs (``http://`` or ``https://``), tried in order until one
            delivers a file that ``verify`` accepts.
        dest_dir: Directory to write to; created if missing.
        verify: Called with the downloaded file's (temporary) path; it must raise
            ``ValueError`` (e.g. ``CorruptDataError``) if the content is wrong. That
            mirror is then abandoned, without retries, for the next one.
        retries: Extra attempts per mirror after the first, made by MXNet's
            downloader for any error.
        verify_ssl: Check HTTPS certificates.
        progress: Let MXNet print its ``Downloading ... from ...`` line for each
            attempt (to stdout); ``False`` keeps it quiet.

    Returns:
        ``dest_dir / filename``, holding the verified download.

    Raises:
        DownloadError: No mirror delivered a verified file (the message has one line
            per mirror saying why), ``mirrors`` is empty, or ``dest_dir`` cannot be
            written to. ``attempts`` holds the ``(url, reason)`` pairs.
        ValueError: ``retries`` is negative.
    """
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if not mirrors:
        raise DownloadError(f"no mirrors given to download {filename} from")
    dest_dir = Path(dest_dir)
    target = dest_dir / filename
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the download directory {dest_dir}: {exc}") from exc

    attempts: list[tuple[str, str]] = []
    for base in mirrors:
        url = mirror_url(base, filename)
        try:
            tmp_dir = Path(tempfile.mkdtemp(prefix=f".{filename}.", suffix=".part", dir=dest_dir))
        except OSError as exc:
            raise DownloadError(f"cannot write to {dest_dir}: {exc}", attempts) from exc
        tmp = tmp_dir / filename
        shown = contextlib.nullcontext() if progress else contextlib.redirect_stdout(io.StringIO())
        try:
            try:
                with shown:
                    # MXNet's retries counts attempts (at least one), ours counts extra ones.
                    mx_download(
                        url,
                        path=str(tmp),
                        overwrite=True,
                        retries=retries + 1,
                        verify_ssl=verify_ssl,
                    )
            except Exception as exc:  # MXNet re-raises whatever its last attempt raised
                tries = f" ({retries + 1} attempts)" if retries else ""
                attempts.append((url, _reason(exc) + tries))
                continue
            if verify is not None:
                try:
                    verify(tmp)
                except ValueError as exc:
                    attempts.append((url, f"downloaded file failed verification: {exc}"))
                    continue
            os.replace(tmp, target)
            return target
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)

    lines = "\n".join(f"  {url}: {reason}" for url, reason in attempts)
    raise DownloadError(
        f"could not download {filename} from any of {len(mirrors)} mirror(s):\n{lines}",
        attempts,
    )
