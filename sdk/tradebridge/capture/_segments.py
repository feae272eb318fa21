"""Writing a capture: Arrow tables from batches of received frames, row groups, segment rotation, gap counts.

Used by :class:`tradebridge.capture.Recorder` on its writer thread; nothing here touches a socket.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tradebridge import __version__
from tradebridge._native import CaptureBatch
from tradebridge.capture.errors import CaptureError
from tradebridge.capture.format import FORMAT_VERSION, SCHEMA, Peek, partial_name, segment_name
from tradebridge.contracts import CURRENT_VERSION

__all__ = ["Batch", "CaptureWriter", "StreamCounts"]

#: what the receiving thread hands over: receive times and frames, or the native receiver's columns
Batch = tuple[list[int], list[bytes]] | CaptureBatch

#: refuse to start with less free space than this: the first row group would not fit
_MIN_FREE_BYTES = 1 << 20
#: receive times and sequence numbers grow by small steps: delta encoding makes them about a byte a row
_DELTA_COLUMNS = {"recv_ns": "DELTA_BINARY_PACKED", "seq": "DELTA_BINARY_PACKED"}
#: strings repeat (topics, sources, symbols): dictionaries; payloads are unique per row: a dictionary page
#: would only cost time
_DICTIONARY_COLUMNS = [name for name in SCHEMA.names if name != "payload" and name not in _DELTA_COLUMNS]
#: min/max statistics let readers skip row groups (a time range, a symbol); a payload's would cost time on
#: every page of the largest column and serve no filter
_STATISTICS_COLUMNS = [name for name in SCHEMA.names if name != "payload"]
#: zstd level 1: half the time of the default level for the same size on bus frames (benches/capture)
_ZSTD_LEVEL = 1
#: data pages of 64 KiB rather than pyarrow's 1 MiB: each page is compressed on its own, and zstd's work on
#: a smaller input takes less fresh memory (whose zeroing by the kernel was a tenth of the write); about 7%
#: less writing CPU and a slightly smaller file on bus frames (measured with the capture bench's frames)
_DATA_PAGE_BYTES = 64 << 10


def _rfc3339(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class StreamCounts:
    """One ``(topic, source)`` stream's numbering, as seen in one segment (``last`` spans segments)."""

    first_seq: int | None = None
    last_seq: int | None = None
    messages: int = 0
    gaps: int = 0
    dropped: int = 0
    out_of_order: int = 0

    def as_dict(self, topic: str, source: str | None) -> dict[str, Any]:
        return {
            "topic": topic,
            "source": source,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "messages": self.messages,
            "gaps": self.gaps,
            "dropped": self.dropped,
            "out_of_order": self.out_of_order,
        }


@dataclass(slots=True)
class _Totals:
    messages: int = 0
    gaps: int = 0
    dropped: int = 0
    out_of_order: int = 0
    streams: dict[tuple[str, str], StreamCounts] = field(default_factory=dict)


class _GapCounter:
    """Counts gaps per ``(topic, source)`` from ``seq``, a whole batch at a time (numpy, not per row).

    The rules are the bus subscriber's (``tradebridge.bus.stats``): a skipped number is a gap; a number at or
    below the highest seen so far is out of order (and does not move the highest); a stream's first message
    is never a gap (joining late is not loss). A new ``source`` is a new stream.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], int] = {}

    def count_native(self, batch: CaptureBatch, start: int, stop: int, into: _Totals) -> None:
        """:meth:`count` over rows ``start..stop`` of a native batch, counted by the extension."""
        for topic, source, first, last, messages, gaps, dropped, backwards in batch.count_gaps(
            start, stop, self._last
        ):
            counts = into.streams.get((topic, source))
            if counts is None:
                counts = into.streams[(topic, source)] = StreamCounts(first_seq=first)
            counts.messages += messages
            counts.gaps += gaps
            counts.dropped += dropped
            counts.out_of_order += backwards
            counts.last_seq = last
            into.gaps += gaps
            into.dropped += dropped
            into.out_of_order += backwards

    def count(self, topic: pa.Array, source: pa.Array, seq: pa.Array, into: _Totals) -> None:
        valid = seq.is_valid().to_numpy(zero_copy_only=False)
        if not valid.any():
            return
        key = pc.binary_join_element_wise(topic, pc.fill_null(source, ""), "\x00")
        encoded = pc.dictionary_encode(key)
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        numbers = pc.fill_null(seq, 0).to_numpy(zero_copy_only=False)
        for k, name in enumerate(encoded.dictionary.to_pylist()):
            s = numbers[(indices == k) & valid]
            if not s.size:
                continue
            topic_name, _, source_name = name.partition("\x00")
            stream = (topic_name, source_name)
            counts = into.streams.get(stream)
            if counts is None:
                counts = into.streams[stream] = StreamCounts(first_seq=int(s[0]))
            previous = self._last.get(stream, int(s[0]) - 1)
            highest = np.maximum.accumulate(np.concatenate(([previous], s)))
            step = s - highest[:-1]
            skipped = step[step > 1] - 1
            backwards = int((step <= 0).sum())
            counts.messages += int(s.size)
            counts.gaps += int(skipped.size)
            counts.dropped += int(skipped.sum())
            counts.out_of_order += backwards
            into.gaps += int(skipped.size)
            into.dropped += int(skipped.sum())
            into.out_of_order += backwards
            self._last[stream] = int(highest[-1])
            counts.last_seq = self._last[stream]


#: the envelope of a frame whose JSON cannot be read: its columns are null, the frame itself is still kept
_UNREADABLE = Peek(schema_version=None)
_PEEK_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)


def build_table(batch: Batch, decoder: msgspec.json.Decoder[Peek]) -> pa.Table:
    """The rows of a batch: the topic before the first space, the envelope's routing fields (msgspec skips
    the rest of the JSON without building it), the frame as received.

    A native batch comes with its columns read (:class:`tradebridge._native.CaptureBatch`) and is wrapped
    as it is, unless it holds a frame the native reading leaves to this one (``odd``): then its envelopes
    are read here, as a Python batch's are."""
    if isinstance(batch, CaptureBatch):
        return _native_table(batch, decoder)
    stamps, frames = batch
    return _read_table(pa.array(stamps, pa.int64()), pa.array(frames, pa.binary()), decoder)


def _native_table(batch: CaptureBatch, decoder: msgspec.json.Decoder[Peek]) -> pa.Table:
    rows = batch.rows
    arrays = []
    for field_, (validity, offsets, data, nulls) in zip(SCHEMA, batch.columns(), strict=True):
        buffers = [validity, data] if offsets is None else [validity, offsets, data]
        wrapped = [None if b is None else pa.py_buffer(b) for b in buffers]
        arrays.append(pa.Array.from_buffers(field_.type, rows, wrapped, null_count=nulls))
    if batch.odd:
        return _read_table(arrays[0], arrays[-1], decoder)
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _read_table(stamps: pa.Array, payload: pa.Array, decoder: msgspec.json.Decoder[Peek]) -> pa.Table:
    """The whole batch is read in one call where it can be (:func:`_peek_batch`); a batch holding a frame that
    call cannot read the way the per-frame reading would (no topic, a newline in the JSON, an empty or
    unreadable body) is read frame by frame, with the same result."""
    fast = _peek_batch(payload, decoder)
    if fast is not None:
        topic, peeks = fast
    else:
        topic, peeks = _peek_each(payload.to_pylist(), decoder.decode)
    return pa.Table.from_arrays(
        [
            stamps,
            topic,
            pa.array([p.source for p in peeks], pa.string()),
            pa.array([p.seq for p in peeks], pa.int64()),
            pa.array([p.type for p in peeks], pa.string()),
            pa.array([p.symbol for p in peeks], pa.string()),
            pa.array([p.schema_version for p in peeks], pa.string()),
            payload,
        ],
        schema=SCHEMA,
    )


def _peek_batch(payload: pa.Array, decoder: msgspec.json.Decoder[Peek]) -> tuple[pa.Array, list[Peek]] | None:
    """Every frame's topic and envelope with no Python work per frame, or None when a frame needs reading on
    its own.

    The frames lie end to end in the Arrow array's data buffer: ``market {...}market {...}``. Blanking each
    topic and turning the space after it into a newline makes that buffer newline-delimited JSON, one line
    per body (``{...}`` then the next frame's blanks, which JSON reads as whitespace), and msgspec decodes all
    lines in one call. It is the per-frame result exactly when every frame has a topic and no line break of
    its own (msgspec ends a line at ``\\n`` and at ``\\r``), and every line decodes: a body that is empty (its
    line would be skipped), not JSON, or not an object makes the count or the decoding fail, and the batch
    is read frame by frame instead."""
    n = len(payload)
    if n == 0:
        return None
    data = payload.buffers()[2]
    if data is None:
        return None
    offsets = np.frombuffer(payload.buffers()[1], dtype=np.int32, count=n + 1)
    text = bytearray(memoryview(data)[offsets[0] : offsets[-1]])
    if text.find(b"\n") >= 0 or text.find(b"\r") >= 0:
        return None
    space = pc.find_substring(payload, " ").to_numpy(zero_copy_only=False)
    if space.min() < 1:  # no space, or an empty topic: the per-frame reading's cases
        return None
    view = np.frombuffer(text, dtype=np.uint8)
    starts = offsets[:-1] - offsets[0]
    for j in range(int(space.max())):
        view[starts[space > j] + j] = 0x20
    view[starts + space] = 0x0A
    del view  # the bytearray cannot be read while a numpy view holds its buffer
    try:
        peeks = decoder.decode_lines(text)
    except _PEEK_ERRORS:
        return None
    if len(peeks) != n:
        return None
    topics = pc.dictionary_encode(pc.list_element(pc.split_pattern(payload, " ", max_splits=1), 0))
    names = [t.decode("utf-8", "replace") for t in topics.dictionary.to_pylist()]
    topic = pa.DictionaryArray.from_arrays(topics.indices, pa.array(names, pa.string())).cast(pa.string())
    return topic, peeks


def _peek_each(frames: list[bytes], decode: Callable[[bytes], Peek]) -> tuple[pa.Array, list[Peek]]:
    topics: list[bytes] = []
    peeks: list[Peek] = []
    add_topic, add_peek = topics.append, peeks.append
    for frame in frames:
        space = frame.find(b" ")
        if space > 0:
            add_topic(frame[:space])
            try:
                add_peek(decode(frame[space + 1 :]))
            except _PEEK_ERRORS:
                add_peek(_UNREADABLE)
        else:
            add_topic(b"")
            add_peek(_UNREADABLE)
    names = {t: t.decode("utf-8", "replace") for t in set(topics)}
    return pa.array([names[t] for t in topics], pa.string()), peeks


class _OpenSegment:
    def __init__(self, final: Path, index: int, static: dict[str, str]) -> None:
        self.final = final
        self.index = index
        self.partial = partial_name(final)
        self.opened = time.monotonic()
        self.totals = _Totals()
        metadata = dict(static, **{"tradebridge.segment": str(index)})
        self.writer = pq.ParquetWriter(
            self.partial,
            SCHEMA.with_metadata(metadata),
            compression="zstd",
            compression_level=_ZSTD_LEVEL,
            use_dictionary=_DICTIONARY_COLUMNS,
            column_encoding=_DELTA_COLUMNS,
            write_statistics=_STATISTICS_COLUMNS,
            write_page_checksum=True,
            data_page_size=_DATA_PAGE_BYTES,
        )

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table, row_group_size=max(1, table.num_rows))
        self.totals.messages += table.num_rows

    def close(self) -> Path:
        """Write the footer with this segment's counts, make it durable, then give it its final name."""
        totals = self.totals
        streams = [c.as_dict(t, s or None) for (t, s), c in totals.streams.items()]
        self.writer.add_key_value_metadata(
            {
                "tradebridge.messages": str(totals.messages),
                "tradebridge.closed": _rfc3339(time.time_ns()),
                "tradebridge.gaps": str(totals.gaps),
                "tradebridge.dropped": str(totals.dropped),
                "tradebridge.out_of_order": str(totals.out_of_order),
                "tradebridge.streams": json.dumps(streams),
            }
        )
        self.writer.close()
        # fsync before the rename: a segment that has its final name is whole even after a power cut
        fd = os.open(self.partial, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.partial, self.final)
        return self.final

    def abandon(self) -> None:
        """Drop a segment that cannot be finished (no footer: unreadable anyway)."""
        with contextlib.suppress(Exception):
            self.writer.close()
        with contextlib.suppress(OSError):
            self.partial.unlink()


@dataclass(slots=True)
class WriterTotals:
    """What the closed segments hold (the recording's result)."""

    messages: int = 0
    gaps: int = 0
    dropped: int = 0
    out_of_order: int = 0
    segments: list[Path] = field(default_factory=list)


class CaptureWriter:
    """Writes batches into a single file (``out`` ending in ``.parquet``) or a folder of rotating segments.

    :meth:`open` creates the first segment at once, so an unwritable output is refused before recording.
    """

    def __init__(
        self,
        out: Path,
        *,
        endpoint: str,
        topics: tuple[str, ...],
        segment_rows: int,
        segment_seconds: float,
        started_ns: int,
    ) -> None:
        self.out = out
        self.single_file = out.suffix == ".parquet"
        self.segment_rows = segment_rows
        self.segment_seconds = segment_seconds
        self.totals = WriterTotals()
        self._counter = _GapCounter()
        self._decoder = msgspec.json.Decoder(Peek)
        self._segment: _OpenSegment | None = None
        self._next_index = 0
        self._static = {
            "tradebridge.capture_format": FORMAT_VERSION,
            "tradebridge.contract_version": CURRENT_VERSION,
            "tradebridge.version": __version__,
            "tradebridge.endpoint": endpoint,
            "tradebridge.topics": json.dumps(list(topics)),
            "tradebridge.host": socket.gethostname(),
            "tradebridge.started": _rfc3339(started_ns),
            "tradebridge.started_ns": str(started_ns),
        }

    # -- start -----------------------------------------------------------------------------------------------
    def open(self) -> None:
        """Check the output and open the first segment; :class:`CaptureError` ``unwritable`` if impossible."""
        out = self.out
        folder = out.parent if self.single_file else out
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if self.single_file and out.exists():
                raise CaptureError(
                    "unwritable", f"{out}: already exists; remove it or record elsewhere", path=out
                )
            if not self.single_file and any(p.name.endswith(".parquet") for p in out.iterdir()):
                raise CaptureError(
                    "unwritable",
                    f"{out}: this folder already holds a capture; record into a new one",
                    path=out,
                )
            free = os.statvfs(folder)
            if free.f_bavail * free.f_frsize < _MIN_FREE_BYTES:
                raise CaptureError("unwritable", f"{folder}: no space left to record into", path=folder)
            self._open_next()
        except CaptureError:
            raise
        except (OSError, pa.ArrowException) as exc:
            raise CaptureError("unwritable", f"{out}: cannot record here: {_reason(exc)}", path=out) from None

    def warm_up(self) -> None:
        """Build one table and count its gaps before recording: pyarrow imports pandas (its converters' shim)
        and looks up its compute kernels on first use, a third of a second that would otherwise stall the
        first batch."""
        table = build_table(([0], [b'market {"seq":0}']), self._decoder)
        _GapCounter().count(
            table.column("topic").chunk(0),
            table.column("source").chunk(0),
            table.column("seq").chunk(0),
            _Totals(),
        )

    def _open_next(self) -> _OpenSegment:
        final = self.out if self.single_file else self.out / segment_name(self._next_index)
        self._segment = _OpenSegment(final, self._next_index, self._static)
        self._next_index += 1
        return self._segment

    # -- batches ---------------------------------------------------------------------------------------------
    def write_batch(self, batch: Batch) -> None:
        table = self.table(batch)
        # a native batch without odd frames counts its own gaps (no Arrow kernels, no numpy)
        self.write(table, batch if isinstance(batch, CaptureBatch) and not batch.odd else None)

    def table(self, batch: Batch) -> pa.Table:
        return build_table(batch, self._decoder)

    def write(self, table: pa.Table, native: CaptureBatch | None = None) -> None:
        """Write ``table``, splitting it where a segment reaches ``segment_rows`` (a folder only); ``native``:
        the batch ``table`` was made of, to count its gaps."""
        done = 0
        while table.num_rows:
            segment = self._segment or self._open_next()
            room = table.num_rows if self.single_file else self.segment_rows - segment.totals.messages
            part, table = table.slice(0, room), table.slice(room)
            if native is not None:
                self._counter.count_native(native, done, done + part.num_rows, segment.totals)
            else:
                self._counter.count(
                    part.column("topic").combine_chunks(),
                    part.column("source").combine_chunks(),
                    part.column("seq").combine_chunks(),
                    segment.totals,
                )
            done += part.num_rows
            segment.write(part)
            if not self.single_file and segment.totals.messages >= self.segment_rows:
                self._close_segment()
        self.tick()

    def tick(self) -> None:
        """Close the open segment once it is ``segment_seconds`` old (only if it holds rows)."""
        segment = self._segment
        if (
            segment is not None
            and not self.single_file
            and segment.totals.messages
            and time.monotonic() - segment.opened >= self.segment_seconds
        ):
            self._close_segment()

    def _close_segment(self) -> None:
        segment, self._segment = self._segment, None
        if segment is None:
            return
        path = segment.close()
        totals = self.totals
        totals.segments.append(path)
        totals.messages += segment.totals.messages
        totals.gaps += segment.totals.gaps
        totals.dropped += segment.totals.dropped
        totals.out_of_order += segment.totals.out_of_order

    # -- end -------------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the open segment; an empty one is kept only when it would be the capture's only one."""
        segment = self._segment
        if segment is None:
            return
        if segment.totals.messages == 0 and self.totals.segments:
            self._segment = None
            segment.abandon()
            return
        self._close_segment()

    def discard(self) -> None:
        """Remove the open segment unfinished (recording did not start after all)."""
        segment, self._segment = self._segment, None
        if segment is not None:
            segment.abandon()

    def abandon(self) -> None:
        """After a write error: drop the open segment (a writer that failed mid-row-group cannot be trusted
        to finish a whole file); the segments closed before are untouched."""
        self.discard()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
