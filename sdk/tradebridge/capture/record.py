"""Recording a bus into a capture: :class:`Recorder` (``tradebridge record``).

Two threads. The receiving thread owns a plain SUB socket and does the least per frame. Where the extension
can serve pyzmq's socket (``tradebridge._native.CaptureReceiver``, as the bus's ``SocketIO``), frames never
become Python objects: one call receives them with the GIL released, stamps each, reads its topic and
envelope routing fields and appends them to Arrow column buffers. Elsewhere (``TRADEBRIDGE_NATIVE_BUS=0``,
another pyzmq backend) the thread takes the time and keeps each frame, and the writing thread reads the
envelopes (msgspec skips the rest of the JSON without building it) and builds the columns. Every
``row_group_rows`` frames (or after a quiet moment) the batch goes to the writing thread, which counts gaps
and writes a zstd row group; Parquet compression runs without the GIL, so the socket keeps being drained
meanwhile.

Nothing is dropped on our side: the socket's receive high-water mark is unlimited by default, so a slow
disk costs memory, not messages. Loss upstream (the publisher's own high-water mark) shows as gaps.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from errno import EINTR
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import zmq

from tradebridge._native import CaptureReceiver
from tradebridge.bus._native_io import _LIBRARY, raise_for
from tradebridge.capture._segments import Batch, CaptureWriter
from tradebridge.capture._worker import Worker
from tradebridge.capture.errors import CaptureError
from tradebridge.contracts import TOPICS

__all__ = ["RecordResult", "Recorder"]

#: how often the receiving thread looks at stop(), the duration and the open batch (busy or idle)
_LOOK_EVERY_MS: Final = 100
#: an open batch older than this is handed over even if not full (so a quiet bus still gets written)
_FLUSH_AFTER_S: Final = 1.0
#: receive natively where the extension can serve the socket (tests turn it off to compare the two paths)
_NATIVE = True
_TICK: Final = object()
_STOP: Final = object()


@dataclass(slots=True)
class RecordResult:
    """What a recording wrote (closed segments only) and saw."""

    path: Path
    messages: int  # rows in the closed segments
    received: int  # frames received (more than ``messages`` only when writing failed)
    gaps: int
    dropped: int
    out_of_order: int
    segments: list[Path] = field(default_factory=list)
    elapsed: float = 0.0  # seconds from connecting to the end


class Recorder(Worker[RecordResult]):
    """Records the frames published on ``endpoint`` into ``out``: a ``.parquet`` file, or a folder of
    segments rotated every ``segment_rows`` frames or ``segment_seconds`` seconds.

    In a background thread::

        with Recorder("tcp://127.0.0.1:5555", "captures/today", topics=["market"]) as recorder:
            ...  # run the system; recording stops when the block ends
        print(recorder.result.messages)

    or in the calling thread until ``count`` frames, ``duration`` seconds or :meth:`stop`:
    ``Recorder(endpoint, out, count=100_000).run()``.

    ``endpoint`` may be a list: one socket connects to every publisher (the market feed and a strategy's
    signals, say), so one capture holds a whole run in receive order; gaps are counted per stream as ever.

    The output is checked when recording starts: an unwritable path (or an existing capture) is refused
    with :class:`CaptureError` ``unwritable`` before connecting. A write that fails later (a full disk)
    stops the recording: :meth:`wait` / :meth:`run` raise ``write_failed`` naming how many messages the
    closed segments hold.
    """

    _thread_name = "tradebridge-record"

    def __init__(
        self,
        endpoint: str | Sequence[str],
        out: Path | str,
        *,
        topics: Iterable[str] | None = None,
        count: int | None = None,
        duration: float | None = None,
        segment_rows: int = 1_000_000,
        segment_seconds: float = 60.0,
        row_group_rows: int = 16_384,
        receive_hwm: int = 0,
        context: zmq.Context[Any] | None = None,
    ) -> None:
        super().__init__()
        wanted = tuple(dict.fromkeys(topics or ()))
        unknown = [t for t in wanted if t not in TOPICS]
        if unknown:
            raise CaptureError("invalid_option", f"unknown topic(s) {unknown}: one of {', '.join(TOPICS)}")
        for name, value in (("count", count), ("duration", duration)):
            if value is not None and not value > 0:
                raise CaptureError(
                    "invalid_option", f"{name} must be > 0 (or None for no limit), got {value}"
                )
        if segment_rows < 1 or row_group_rows < 1 or not segment_seconds > 0 or receive_hwm < 0:
            raise CaptureError(
                "invalid_option",
                "segment_rows, row_group_rows and segment_seconds must be > 0, receive_hwm >= 0",
            )
        endpoints = (endpoint,) if isinstance(endpoint, str) else tuple(dict.fromkeys(endpoint))
        if not endpoints or not all(endpoints):
            raise CaptureError("invalid_option", "at least one endpoint to record is needed")
        self.endpoints = endpoints
        #: the endpoints, comma-separated (as written into the capture's metadata)
        self.endpoint = ",".join(endpoints)
        self.out = Path(out)
        self.topics = wanted
        self.count = count
        self.duration = duration
        self.row_group_rows = row_group_rows
        self.receive_hwm = receive_hwm
        self._segment_rows = segment_rows
        self._segment_seconds = segment_seconds
        self._context = context
        self._writer_thread: threading.Thread | None = None
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._writer: CaptureWriter | None = None
        self._socket: zmq.Socket[bytes] | None = None
        self._owned_context: zmq.Context[Any] | None = None
        self._started = 0.0
        #: frames received so far (read from any thread)
        self.received = 0

    # -- life cycle ------------------------------------------------------------------------------------------
    def _open(self) -> None:
        """Check the output, open the first segment, connect the socket (all or nothing)."""
        if self._writer is not None:
            raise CaptureError("invalid_option", "this Recorder has already been started")
        started_ns = time.time_ns()
        writer = CaptureWriter(
            self.out,
            endpoint=self.endpoint,
            topics=self.topics,
            segment_rows=self._segment_rows,
            segment_seconds=self._segment_seconds,
            started_ns=started_ns,
        )
        writer.open()
        writer.warm_up()
        try:
            if self._context is None:
                self._owned_context = zmq.Context()
            context = self._context or self._owned_context
            assert context is not None
            sock: zmq.Socket[bytes] = context.socket(zmq.SUB)
            sock.setsockopt(zmq.RCVHWM, self.receive_hwm)
            sock.setsockopt(zmq.LINGER, 0)
            for topic in self.topics or ("",):
                sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
            for address in self.endpoints:
                try:
                    sock.connect(address)
                except zmq.ZMQError as exc:
                    sock.close(0)
                    raise CaptureError(
                        "invalid_option", f"cannot connect to {address}: {exc.strerror}"
                    ) from None
        except BaseException:
            writer.discard()
            self._close_context()
            raise
        self._writer = writer
        self._socket = sock
        self._started = time.monotonic()
        self._writer_thread = threading.Thread(target=self._write_loop, name="tradebridge-record-writer")
        self._writer_thread.start()

    def _work(self) -> None:
        self._guarded_receive()

    def _describe(self) -> str:
        return f"recording of {self.endpoint}"

    def stats(self) -> dict[str, int]:
        """Counters so far, safe from any thread (a health server's): frames received, and what the closed
        segments hold (messages, gaps, dropped)."""
        totals = self._writer.totals if self._writer is not None else None
        return {
            "received": self.received,
            "written": totals.messages if totals else 0,
            "segments": len(totals.segments) if totals else 0,
            "gaps": totals.gaps if totals else 0,
            "dropped": totals.dropped if totals else 0,
        }

    def __repr__(self) -> str:
        return f"Recorder({self.endpoint!r}, {str(self.out)!r}, received={self.received})"

    # -- receiving thread ------------------------------------------------------------------------------------
    def _guarded_receive(self) -> None:
        try:
            self._receive()
        finally:
            self._queue.put(_STOP)
            assert self._writer_thread is not None
            self._writer_thread.join()
            sock, self._socket = self._socket, None
            if sock is not None:
                sock.close(0)
            self._close_context()
            writer = self._writer
            assert writer is not None
            totals = writer.totals
            self.result = RecordResult(
                path=self.out,
                messages=totals.messages,
                received=self.received,
                gaps=totals.gaps,
                dropped=totals.dropped,
                out_of_order=totals.out_of_order,
                segments=list(totals.segments),
                elapsed=time.monotonic() - self._started,
            )
            if isinstance(self._error, CaptureError):  # the only error a recording sets
                self._error = CaptureError(
                    self._error.code,
                    f"{self._error.detail}; recording stopped: {totals.messages} of {self.received} "
                    f"received messages are in {len(totals.segments)} closed segment(s)",
                    path=self._error.path,
                )

    def _close_context(self) -> None:
        context, self._owned_context = self._owned_context, None
        if context is not None:
            context.term()

    def _receive(self) -> None:
        sock = self._socket
        assert sock is not None
        receiver = _native_receiver(sock, self.topics)
        if receiver is None:
            self._receive_frames()
            return
        try:
            self._receive_native(receiver)
        finally:
            receiver.close()

    def _receive_native(self, receiver: CaptureReceiver) -> None:
        """:meth:`_receive_frames` with the per-frame work in the extension: each call receives until the
        open batch is full, the next look is due or the socket's timeout (a quiet spell) passes."""
        sock = self._socket
        assert sock is not None
        time_ns, monotonic = time.time_ns, time.monotonic
        rows = self.row_group_rows
        limit = self.count if self.count is not None else math.inf
        deadline = self._started + self.duration if self.duration is not None else math.inf
        stopping = self._stopping.is_set
        put = self._queue.put
        fill, take = receiver.fill, receiver.take
        look_ns, flush_ns = _LOOK_EVERY_MS * 1_000_000, int(_FLUSH_AFTER_S * 1e9)
        sock.setsockopt(zmq.RCVTIMEO, _LOOK_EVERY_MS)
        received = 0
        next_look = time_ns() + look_ns
        while received < limit:
            room = rows - receiver.rows
            want = room if limit == math.inf else min(room, int(limit - received))
            kept, now, errno = fill(want, next_look)
            received += kept
            # the batch is full: its rows, or (back early, nothing else the matter) its bytes (a GiB)
            if kept == room or (not errno and kept < want and now < next_look):
                put(take())
            if errno and errno not in (zmq.EAGAIN, EINTR):
                raise_for(errno)
            if not errno and now < next_look:
                continue
            self.received = received
            left = deadline - monotonic()
            if stopping() or left <= 0:
                break
            first = receiver.first_ns
            if first is not None and now - first >= flush_ns:
                put(take())
            else:
                put(_TICK)
            if left * 1000 < _LOOK_EVERY_MS:
                sock.setsockopt(zmq.RCVTIMEO, max(1, int(left * 1000) + 1))
                next_look = now + max(1_000_000, int(left * 1e9))
            else:
                next_look = now + look_ns
        self.received = received
        if receiver.rows:
            put(take())

    def _receive_frames(self) -> None:
        """Stamp and keep each frame, nothing more: a blocking receive as a bare subscriber's (no per-frame
        poll), the stamp, two appends; parsing happens on the writing thread.

        What is not per frame (stop(), the duration, handing over a batch older than ``_FLUSH_AFTER_S``,
        rotating segments by age) happens in a look around, every ``_LOOK_EVERY_MS`` while frames arrive
        (the frame's own stamp says when) and after as long a quiet spell (the receive's timeout)."""
        sock = self._socket
        assert sock is not None
        recv = sock.recv
        time_ns, monotonic = time.time_ns, time.monotonic
        again = zmq.Again
        wanted = tuple(t.encode() + b" " for t in self.topics) if self.topics else None
        rows = self.row_group_rows
        limit = self.count if self.count is not None else math.inf
        deadline = self._started + self.duration if self.duration is not None else math.inf
        stopping = self._stopping.is_set
        put = self._queue.put
        look_ns, flush_ns = _LOOK_EVERY_MS * 1_000_000, int(_FLUSH_AFTER_S * 1e9)
        sock.setsockopt(zmq.RCVTIMEO, _LOOK_EVERY_MS)
        received = 0
        stamps: list[int] = []
        frames: list[bytes] = []
        next_look = time_ns() + look_ns
        while received < limit:
            try:
                frame = recv()
            except again:  # a quiet spell: look around now
                now = time_ns()
            else:
                now = time_ns()
                # ZeroMQ filters by prefix: "marketx ..." reaches a "market" subscription
                if wanted is None or frame.startswith(wanted):
                    stamps.append(now)
                    frames.append(frame)
                    received += 1
                    if len(frames) >= rows:
                        put((stamps, frames))
                        stamps, frames = [], []
                if now < next_look:
                    continue
            self.received = received
            left = deadline - monotonic()
            if stopping() or left <= 0:
                break
            if frames and now - stamps[0] >= flush_ns:
                put((stamps, frames))
                stamps, frames = [], []
            else:
                put(_TICK)
            if left * 1000 < _LOOK_EVERY_MS:  # the next look at the end of the duration, busy or not
                sock.setsockopt(zmq.RCVTIMEO, max(1, int(left * 1000) + 1))
                next_look = now + max(1_000_000, int(left * 1e9))
            else:
                next_look = now + look_ns
        self.received = received
        if frames:
            put((stamps, frames))

    # -- writing thread --------------------------------------------------------------------------------------
    def _write_loop(self) -> None:
        writer = self._writer
        assert writer is not None
        get = self._queue.get
        failed = False
        while (item := get()) is not _STOP:
            if failed:
                continue  # drain: the receiving thread stops at its next look at the flag
            try:
                if item is _TICK:
                    writer.tick()
                else:
                    batch: Batch = item  # type: ignore[assignment]
                    writer.write_batch(batch)
            except (OSError, pa.ArrowException) as exc:
                failed = True
                self._fail(exc)
        if failed:
            return
        try:
            writer.close()
        except (OSError, pa.ArrowException) as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
        self._error = CaptureError("write_failed", f"{self.out}: writing failed ({reason})", path=self.out)
        self._stopping.set()
        assert self._writer is not None
        self._writer.abandon()


def _native_receiver(sock: zmq.Socket[bytes], topics: tuple[str, ...]) -> CaptureReceiver | None:
    """The extension's receiver on ``sock``, or None where it cannot serve it (the pure-Python path then)."""
    if not _NATIVE or _LIBRARY is None:
        return None
    try:
        return CaptureReceiver(_LIBRARY, sock.underlying, zmq.SUB, [t.encode() for t in topics])
    except OSError:
        return None
