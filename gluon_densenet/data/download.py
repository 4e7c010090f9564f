"""Download one file from a list of mirrors, atomically and verified.

The bytes go to a hidden temporary file in the target directory; only after
``verify`` accepts it is it ``os.replace``-d onto the final name. On any
failure (HTTP error, timeout, checksum mismatch, Ctrl-C) the temporary file
is removed, so the target directory never holds a partial or unverified file.
Standard library ``urllib`` only.
"""

from __future__ import annotations

import http.client
import os
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from .errors import DownloadError

__all__ = ["download_file", "mirror_url", "DEFAULT_TIMEOUT", "DEFAULT_RETRIES", "DEFAULT_RETRY_DELAY"]

DEFAULT_TIMEOUT = 30.0  # seconds, per socket operation (connect / each read)
DEFAULT_RETRIES = 2  # extra attempts per mirror for transient errors
DEFAULT_RETRY_DELAY = 1.0  # seconds before the first retry; doubles each time
_CHUNK = 1 << 16
_USER_AGENT = "gluon-densenet (python urllib)"


class _Transient(Exception):
    """A failure worth retrying on the same mirror."""


class _Permanent(Exception):
    """A failure that makes us move on to the next mirror at once."""


def mirror_url(base: str, filename: str) -> str:
    """Join a mirror base URL and a file name (``base`` may lack a trailing slash)."""
    return base.rstrip("/") + "/" + urllib.parse.quote(filename)


def _fetch(url: str, out, timeout: float, progress: bool, desc: str) -> None:
    """Stream ``url`` into the open binary file ``out``."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            received = 0
            with tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024,
                desc=desc, disable=not progress, leave=False,
            ) as bar:
                while True:
                    chunk = resp.read(_CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if total is not None and received < total:
                raise _Transient(f"connection closed after {received} of {total} bytes")
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code} {exc.reason}"
        # Server errors, throttling and request timeouts may pass; the rest will not.
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Transient(reason) from exc
        raise _Permanent(reason) from exc
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise _Transient(f"timed out after {timeout:g} s") from exc
        # file:// URLs report a missing file as URLError(FileNotFoundError)
        if isinstance(reason, FileNotFoundError):
            raise _Permanent(f"not found ({reason})") from exc
        # An unknown host name will not resolve on a second try (typically: offline).
        if isinstance(reason, socket.gaierror):
            raise _Permanent(f"cannot resolve host ({reason})") from exc
        raise _Transient(f"cannot connect ({reason})") from exc
    except (socket.timeout, TimeoutError) as exc:
        raise _Transient(f"timed out after {timeout:g} s") from exc
    except http.client.IncompleteRead as exc:
        raise _Transient(f"connection closed early ({len(exc.partial)} bytes in the last read)") from exc
    except http.client.HTTPException as exc:  # malformed response, protocol errors
        raise _Transient(f"bad HTTP response ({type(exc).__name__}: {exc})") from exc
    except (ConnectionError, OSError) as exc:
        raise _Transient(f"{type(exc).__name__}: {exc}") from exc


def _summarise(attempts: list[tuple[str, str]]) -> list[str]:
    """One line per failure, consecutive repeats folded into "(N attempts)"."""
    lines: list[str] = []
    previous, count = None, 0
    for item in attempts + [None]:  # sentinel flushes the last group
        if item == previous:
            count += 1
            continue
        if previous is not None:
            lines.append(f"  {previous[0]}: {previous[1]}" + (f" ({count} attempts)" if count > 1 else ""))
        previous, count = item, 1
    return lines


def download_file(
    filename: str,
    mirrors: Sequence[str],
    dest_dir: str | os.PathLike,
    *,
    verify: Callable[[Path], None] | None = None,
    retries: int = DEFAULT_RETRIES,
    timeout: float = DEFAULT_TIMEOUT,
    retry_delay: float | None = None,
    progress: bool = True,
) -> Path:
    """Download ``filename`` into ``dest_dir``, trying each mirror in turn.

    ``verify(tmp_path)`` must raise ``ValueError`` (e.g. ``CorruptDataError``)
    if the downloaded bytes are wrong; that mirror is then abandoned for the
    next one. Transient errors (timeouts, refused connections, HTTP 5xx) are
    retried ``retries`` more times per mirror. Returns ``dest_dir/filename``.

    Raises :class:`DownloadError` listing every mirror's failure if none works.
    """
    if not mirrors:
        raise DownloadError(f"no mirrors given to download {filename} from")
    if retry_delay is None:
        retry_delay = DEFAULT_RETRY_DELAY
    dest_dir = Path(dest_dir)
    target = dest_dir / filename
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the download directory {dest_dir}: {exc}") from exc

    attempts: list[tuple[str, str]] = []
    for base in mirrors:
        url = mirror_url(base, filename)
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(retry_delay * 2 ** (attempt - 1))
            try:
                fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=dest_dir)
            except OSError as exc:
                raise DownloadError(f"cannot write to {dest_dir}: {exc}", attempts) from exc
            tmp = Path(tmp_name)
            done = False
            try:
                with os.fdopen(fd, "wb") as out:
                    _fetch(url, out, timeout, progress, desc=filename)
                if verify is not None:
                    try:
                        verify(tmp)
                    except ValueError as exc:
                        raise _Permanent(f"downloaded file failed verification: {exc}") from exc
                os.replace(tmp, target)
                done = True
                return target
            except _Transient as exc:
                attempts.append((url, str(exc)))
            except _Permanent as exc:
                attempts.append((url, str(exc)))
                break  # next mirror
            finally:
                if not done:
                    try:
                        tmp.unlink()
                    except FileNotFoundError:
                        pass

    lines = "\n".join(_summarise(attempts))
    raise DownloadError(
        f"could not download {filename} from any of {len(mirrors)} mirror(s):\n{lines}",
        attempts,
    )
