"""Exceptions raised by the data layer.

Each one subclasses the built-in exception a caller would naturally catch,
so ``except FileNotFoundError`` / ``except OSError`` / ``except ValueError``
keep working, while the messages say what to do next.
"""

from __future__ import annotations

__all__ = ["CorruptDataError", "DownloadError", "DatasetNotFoundError"]


class CorruptDataError(ValueError):
    """A data file exists but its content is wrong (bad header, truncated,
    broken gzip stream, checksum mismatch)."""


class DownloadError(OSError):
    """No mirror delivered a verified copy of a file.

    ``attempts`` holds ``(url, reason)`` pairs, one per mirror tried, in order.
    """

    def __init__(self, message: str, attempts: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.attempts: list[tuple[str, str]] = list(attempts or [])

    def __str__(self) -> str:  # OSError.__str__ would mangle a one-arg message
        return str(self.args[0]) if self.args else ""


class DatasetNotFoundError(FileNotFoundError):
    """The dataset files are neither on disk nor downloadable."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
