"""The capture file format: Apache Parquet, one row per bus frame, written by ``tradebridge record``.

Columns (one row per received frame, in receive order):

============== ========= ==================================================================================
column         type      meaning
============== ========= ==================================================================================
recv_ns        int64     when the recorder received the frame (``time.time_ns()``, Unix epoch, UTC)
topic          string    the frame's topic (the bytes before the first space)
source         string    the envelope's ``source`` (the publisher instance), null when absent
seq            int64     the envelope's ``seq`` (per topic and source), null when absent
type           string    the envelope's ``type`` (``BarUpdate``...), null when absent
symbol         string    the message's ``symbol``, null when absent (``Heartbeat``)
schema_version string    the envelope's contract version (``"1.0"`` when the frame has none, as decoders do)
payload        binary    the exact frame bytes as received: ``<topic> <json>``
============== ========= ==================================================================================

File metadata (Parquet key-value metadata, ``pyarrow.parquet.read_metadata(path).metadata``): the keys in
:data:`META_KEYS`. A segment's gap counts cover its own rows (a gap across two segments is counted in the
later one), so the counts of a folder's segments add up.

A long recording is a folder of segments ``part-00000.parquet``, ``part-00001.parquet``... A Parquet file is
readable only once its footer is written, so the open segment is written under a hidden name
(``.part-00003.parquet.partial``) and renamed when closed: a folder read by ``pyarrow.dataset``, pandas,
polars or DuckDB sees complete segments only, and a crash loses at most the open one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from tradebridge.capture.errors import CaptureError
from tradebridge.contracts import CURRENT_VERSION

__all__ = [
    "COLUMNS",
    "FORMAT_VERSION",
    "META_KEYS",
    "SCHEMA",
    "CaptureInfo",
    "Peek",
    "Segment",
    "capture_info",
    "list_segments",
    "open_segment",
    "segment_name",
]

#: the capture layout's own version; a reader refuses another major
FORMAT_VERSION: Final = "1.0"

SCHEMA: Final = pa.schema(
    [
        pa.field("recv_ns", pa.int64(), nullable=False),
        pa.field("topic", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("seq", pa.int64()),
        pa.field("type", pa.string()),
        pa.field("symbol", pa.string()),
        pa.field("schema_version", pa.string()),
        pa.field("payload", pa.binary(), nullable=False),
    ]
)
COLUMNS: Final = tuple(SCHEMA.names)

#: key-value metadata of every segment; the first group is written when a segment opens, the rest at close
META_KEYS: Final = {
    "tradebridge.capture_format": "capture layout version (FORMAT_VERSION)",
    "tradebridge.contract_version": "the contract version of the recording tradebridge (frames carry theirs)",
    "tradebridge.version": "the tradebridge package that recorded",
    "tradebridge.endpoint": "the bus endpoint recorded",
    "tradebridge.topics": "JSON list of the topics recorded ([] = all)",
    "tradebridge.host": "the recording machine's host name",
    "tradebridge.started": "when the recording started (RFC 3339, UTC)",
    "tradebridge.started_ns": "the same, in Unix nanoseconds",
    "tradebridge.segment": "this segment's index in the recording (0 for a single file)",
    "tradebridge.messages": "rows in this segment (written at close)",
    "tradebridge.closed": "when this segment was closed (RFC 3339, UTC)",
    "tradebridge.gaps": "sequence gaps seen in this segment's rows, per (topic, source) (written at close)",
    "tradebridge.dropped": "messages those gaps skipped (written at close)",
    "tradebridge.out_of_order": "seq that went backwards within one (topic, source) (written at close)",
    "tradebridge.streams": "JSON list: per (topic, source) the first and last seq, messages, gaps, dropped",
}

#: the contract version of a frame that names none (DESIGN.md: the guide's plain peers write 1.0)
ABSENT_VERSION: Final = "1.0"

_SEGMENT = re.compile(r"^part-(\d{5,})\.parquet$")
#: the integer and string types a reader accepts for each column (other writers may pick wider ones)
_INTEGER = (pa.types.is_integer,)
_STRING = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view, pa.types.is_dictionary)
_BINARY = (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_binary_view)
_COLUMN_KINDS: Final = {
    "recv_ns": _INTEGER,
    "topic": _STRING,
    "source": _STRING,
    "seq": _INTEGER,
    "type": _STRING,
    "symbol": _STRING,
    "schema_version": _STRING,
    "payload": _BINARY,
}


class Peek(msgspec.Struct, gc=False):
    """The envelope fields a capture keeps in columns; msgspec skips every other field without building it
    (``gc=False``: millions of them wait in a batch, and none holds a reference cycle)."""

    type: str | None = None
    symbol: str | None = None
    # bounded to int64, the column's type: a wilder number makes the envelope unreadable, not the batch
    seq: Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)] | None = None
    source: str | None = None
    schema_version: str | None = ABSENT_VERSION


def segment_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def partial_name(final: Path) -> Path:
    """Where a segment is written until it is closed: hidden, and not ``*.parquet``, so no reader sees it."""
    return final.with_name(f".{final.name}.partial")


def list_segments(path: Path | str) -> list[Path]:
    """The complete segments of a capture: ``[path]`` for a file, the ``part-*.parquet`` of a folder in order
    (open segments, hidden, are not listed)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise CaptureError("not_found", f"{path}: no such capture file or folder", path=path)
    segments = sorted(
        (p for p in path.iterdir() if _SEGMENT.match(p.name) and p.is_file()),
        key=lambda p: int(_SEGMENT.match(p.name).group(1)),  # type: ignore[union-attr]
    )
    if not segments:
        raise CaptureError(
            "empty", f"{path}: no complete segment (part-NNNNN.parquet) in this folder", path=path
        )
    return segments


def _major(version: str) -> str:
    return version.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class Segment:
    """One opened capture file: its reader, row groups and metadata (as text)."""

    path: Path
    file: pq.ParquetFile
    metadata: dict[str, str]

    @property
    def row_groups(self) -> int:
        return int(self.file.num_row_groups)

    @property
    def rows(self) -> int:
        return int(self.file.metadata.num_rows)

    def read(self, index: int, columns: list[str] | None = None) -> pa.Table:
        """Row group ``index`` (all columns, or ``columns``); :class:`CaptureError` ``corrupt`` names the file
        and row group when it cannot be read back."""
        try:
            return self.file.read_row_group(index, columns=columns)
        except (OSError, pa.ArrowException) as exc:
            raise CaptureError(
                "corrupt",
                f"{self.path}: row group {index} of {self.row_groups} is unreadable ({_reason(exc)}); "
                f"row groups 0..{index - 1} of this file read back",
                path=self.path,
                row_group=index,
            ) from None

    def iter_row_groups(self, columns: list[str] | None = None) -> Iterator[pa.Table]:
        for index in range(self.row_groups):
            yield self.read(index, columns)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def open_segment(path: Path) -> Segment:
    """Open one capture file, checking its footer, columns and versions (nothing is read yet)."""
    try:
        file = pq.ParquetFile(path, page_checksum_verification=True)
    except FileNotFoundError:
        raise CaptureError("not_found", f"{path}: no such capture file", path=path) from None
    except (OSError, pa.ArrowException) as exc:
        raise CaptureError(
            "truncated",
            f"{path}: no readable Parquet footer, so none of its row groups can be found "
            f"(the file was cut short, or is not a capture): {_reason(exc)}",
            path=path,
        ) from None
    raw = file.metadata.metadata or {}
    metadata = {
        key: value.decode("utf-8", "replace")
        for k, value in raw.items()
        if (key := k.decode("utf-8", "replace")).startswith("tradebridge.")
    }
    schema = file.schema_arrow
    for name, kinds in _COLUMN_KINDS.items():
        index = schema.get_field_index(name)
        if index < 0:
            raise CaptureError(
                "wrong_schema",
                f"{path}: not a tradebridge capture: column {name!r} is missing "
                f"(a capture has {', '.join(COLUMNS)})",
                path=path,
            )
        kind = schema.field(index).type
        if not any(test(kind) for test in kinds):
            raise CaptureError(
                "wrong_schema",
                f"{path}: column {name!r} is {kind}, a capture's is {SCHEMA.field(name).type}",
                path=path,
            )
    for key, supported in (
        ("tradebridge.capture_format", FORMAT_VERSION),
        ("tradebridge.contract_version", CURRENT_VERSION),
    ):
        found = metadata.get(key)
        if found is not None and _major(found) != _major(supported):
            raise CaptureError(
                "unsupported_version",
                f"{path}: {key} {found!r} has a major version this tradebridge cannot read "
                f"(it reads {_major(supported)}.x)",
                path=path,
            )
    return Segment(path, file, metadata)


@dataclass(slots=True)
class CaptureInfo:
    """What a capture's footers say, without reading its rows (``tradebridge.capture.capture_info``)."""

    path: Path
    segments: list[Path]
    messages: int
    gaps: int
    dropped: int
    out_of_order: int
    first_recv_ns: int | None
    last_recv_ns: int | None
    metadata: dict[str, str]  # the first segment's
    streams: list[dict[str, Any]] = field(default_factory=list)  # per segment and (topic, source)


def capture_info(path: Path | str) -> CaptureInfo:
    """Counts and metadata of a capture (a file or a folder of segments), from footers only."""
    segments = [open_segment(p) for p in list_segments(path)]
    gaps = dropped = out_of_order = 0
    streams: list[dict[str, Any]] = []
    first: int | None = None
    last: int | None = None
    for segment in segments:
        meta = segment.metadata
        gaps += int(meta.get("tradebridge.gaps", 0))
        dropped += int(meta.get("tradebridge.dropped", 0))
        out_of_order += int(meta.get("tradebridge.out_of_order", 0))
        streams.extend(json.loads(meta.get("tradebridge.streams", "[]")))
        column = segment.file.schema_arrow.get_field_index("recv_ns")
        for index in range(segment.row_groups):
            stats = segment.file.metadata.row_group(index).column(column).statistics
            if stats is not None and stats.has_min_max:
                first = stats.min if first is None else min(first, stats.min)
                last = stats.max if last is None else max(last, stats.max)
    return CaptureInfo(
        path=Path(path),
        segments=[s.path for s in segments],
        messages=sum(s.rows for s in segments),
        gaps=gaps,
        dropped=dropped,
        out_of_order=out_of_order,
        first_recv_ns=first,
        last_recv_ns=last,
        metadata=segments[0].metadata,
        streams=streams,
    )
