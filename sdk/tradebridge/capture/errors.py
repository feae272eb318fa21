"""The one error of captures: a typed :class:`CaptureError` with a stable ``code``."""

from __future__ import annotations

from pathlib import Path

from tradebridge.errors import TradebridgeError

__all__ = ["CAPTURE_ERROR_CODES", "CaptureError"]

#: every ``CaptureError.code``; codes are never renamed once released (tests and scripts compare them)
CAPTURE_ERROR_CODES = frozenset(
    {
        "not_found",  # no file or folder at the path
        "empty",  # a folder without one complete segment
        "truncated",  # no readable Parquet footer: the file was cut short or is not Parquet
        "corrupt",  # a row group that cannot be read back (checksum, decompression, bad page)
        "wrong_schema",  # a Parquet file without the capture's columns (or with other types)
        "unsupported_version",  # a capture format or contract major version this tradebridge does not know
        "unwritable",  # recording refused at start: the output cannot be created or written
        "write_failed",  # recording stopped mid-run (a full disk, a file size limit): what was closed stays
        "invalid_option",  # a bad argument (speed, time range, sizes)
    }
)


class CaptureError(TradebridgeError, ValueError):
    """A capture could not be written or read.

    ``code`` is one of :data:`CAPTURE_ERROR_CODES`; ``path`` names the file (or folder) and ``row_group``
    the row group of that file, when the problem is in one.
    """

    def __init__(
        self, code: str, message: str, *, path: Path | str | None = None, row_group: int | None = None
    ) -> None:
        if code not in CAPTURE_ERROR_CODES:
            raise ValueError(f"unknown capture error code {code!r}")
        super().__init__(message)
        self.code = code
        self.path = None if path is None else Path(path)
        self.row_group = row_group
        self.detail = message

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.code, self.detail, self.path, self.row_group))


def _rebuild(code: str, message: str, path: Path | None, row_group: int | None) -> CaptureError:
    return CaptureError(code, message, path=path, row_group=row_group)
