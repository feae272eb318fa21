"""Publishing a capture again: :class:`Replayer` (``tradebridge replay``).

The captured frames go out byte for byte as they were received, on an XPUB socket that binds (like the mock
publisher) or connects. Row groups are read lazily, the next one in a background thread while the current
one is published, so a capture of any size replays in constant memory, and a corrupt row group stops the
replay only when it is reached: everything before it has been published.

Replay blocks rather than drops: the socket sets ``ZMQ_XPUB_NODROP``, so when a subscriber's queue is full
(``send_hwm`` frames) sending waits for it instead of discarding frames as a plain PUB would. One slow
subscriber therefore slows the replay for all; that is the price of a replay that loses nothing. The end
waits too: the last frames still queued when the capture is exhausted (up to ``send_hwm`` of them, which a
slow strategy may take seconds to make room for) are handed over before the replay ends, however long that
takes, unless ``linger`` bounds it; a replay never ends by discarding what a subscriber has not taken yet.
"""

from __future__ import annotations

import math
import operator
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import zmq

from tradebridge.bus.sync import SubscriberTimeoutError
from tradebridge.capture._worker import Worker
from tradebridge.capture.errors import CaptureError
from tradebridge.capture.format import Segment, list_segments, open_segment

__all__ = ["ReplayResult", "Replayer", "to_ns"]

#: longest single sleep or send wait, so that stop() is seen promptly
_SLICE_S: Final = 0.1
_SUBSCRIBE: Final = 1
#: one row group as sent: its frames, and their receive times when pacing
_Chunk = tuple[list[bytes], "np.ndarray[Any, Any] | None"]
_UNSUBSCRIBE: Final = 0


def to_ns(moment: int | float | datetime | None) -> int | None:
    """Unix nanoseconds from a datetime (naive means UTC), or an int of nanoseconds as is."""
    if moment is None or isinstance(moment, int):
        return moment
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            from datetime import UTC

            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1_000_000) * 1000
    raise CaptureError("invalid_option", f"a time bound is a datetime or Unix nanoseconds, got {moment!r}")


@dataclass(slots=True)
class ReplayResult:
    published: int  # frames sent, over all passes
    passes: int  # complete passes over the capture
    elapsed: float  # seconds from the first frame sent until the subscribers took the last one
    endpoint: str
    #: False when a stop() ended the wait for the subscribers to take the last frames
    flushed: bool = True


class Replayer(Worker[ReplayResult]):
    """Publishes the frames of a capture (a file or a folder of segments) on ``endpoint``.

    ``speed``: 1.0 replays at the recorded pace (the gaps between receive times), 10.0 ten times faster,
    None as fast as the subscribers take them. Filters: ``topics``, ``symbols`` and a receive-time range
    ``[start, end)``. ``loop=True`` starts again at the end until :meth:`stop`.

    In a background thread (the demo's way); leaving the block stops the replay, so wait inside it::

        with Replayer("captures/today", "tcp://127.0.0.1:5555", speed=None, wait_for_subscribers=1) as r:
            r.wait()  # until every frame went out

    or in the calling thread: ``Replayer(path, endpoint).run()``. A capture problem raises
    :class:`CaptureError` naming the file and row group, after everything before it was published.

    ``linger``: how long the end of the replay waits for subscribers to take the frames still queued; None
    (the default) waits as long as a subscriber is connected, so a backtest at ``speed=None`` never loses
    its last frames to a strategy slower than the replay. :meth:`stop` ends that wait (``flushed`` is then
    False; what is queued keeps going out while the process lives). A number of seconds bounds the wait,
    and ZeroMQ discards what is still queued when it runs out.
    """

    _thread_name = "tradebridge-replay"

    def __init__(
        self,
        path: Path | str,
        endpoint: str = "tcp://127.0.0.1:5555",
        *,
        bind: bool = True,
        speed: float | None = 1.0,
        topics: Iterable[str] | None = None,
        symbols: Iterable[str] | None = None,
        start: int | datetime | None = None,
        end: int | datetime | None = None,
        loop: bool = False,
        wait_for_subscribers: int = 0,
        wait_timeout: float = 30.0,
        send_hwm: int = 100_000,
        linger: float | None = None,
        context: zmq.Context[Any] | None = None,
    ) -> None:
        super().__init__()
        if speed is not None and not (speed > 0 and math.isfinite(speed)):
            raise CaptureError(
                "invalid_option", f"speed must be a finite number > 0 (or None for max), got {speed}"
            )
        if min(wait_for_subscribers, send_hwm, wait_timeout, 0 if linger is None else linger) < 0:
            raise CaptureError(
                "invalid_option", "wait_for_subscribers, send_hwm, linger and wait_timeout must be >= 0"
            )
        self.path = Path(path)
        self.speed = speed
        self.topics = tuple(topics or ())
        self.symbols = tuple(symbols or ())
        self.start_ns = to_ns(start)
        self.end_ns = to_ns(end)
        if self.start_ns is not None and self.end_ns is not None and self.end_ns <= self.start_ns:
            raise CaptureError("invalid_option", "the time range is empty: end must be after start")
        self.loop = loop
        self.wait_for_subscribers = wait_for_subscribers
        self.wait_timeout = wait_timeout
        self._endpoint = endpoint
        self._bind = bind
        self._send_hwm = send_hwm
        self._linger_ms = -1 if linger is None else int(linger * 1000)
        self._context = context
        self._owned_context: zmq.Context[Any] | None = None
        self._socket: zmq.Socket[bytes] | None = None
        self._segments: list[Path] = []
        self._first: Segment | None = None
        self._subscriptions = 0
        #: frames sent so far (read from any thread)
        self.published = 0

    @property
    def endpoint(self) -> str:
        """The endpoint as bound (``tcp://127.0.0.1:*`` resolves to the port the kernel picked)."""
        return self._endpoint

    # -- life cycle ------------------------------------------------------------------------------------------
    def _open(self) -> None:
        """Find the capture and open its first file (refused before binding), then bind or connect."""
        if self._socket is not None or self.result is not None:
            raise CaptureError("invalid_option", "this Replayer has already been started")
        self._segments = list_segments(self.path)
        self._first = open_segment(self._segments[0])
        if self._context is None:
            self._owned_context = zmq.Context()
        context = self._context or self._owned_context
        assert context is not None
        sock: zmq.Socket[bytes] = context.socket(zmq.XPUB)
        sock.setsockopt(zmq.SNDHWM, self._send_hwm)
        sock.setsockopt(zmq.XPUB_NODROP, 1)  # a full queue makes send wait, never drop
        sock.setsockopt(zmq.XPUB_VERBOSER, 1)  # every (un)subscription, for wait_for_subscribers
        sock.setsockopt(zmq.LINGER, self._linger_ms)
        endpoint = self._endpoint
        if self._bind and endpoint.startswith("tcp://") and endpoint.endswith(":0"):
            endpoint = endpoint[:-1] + "*"
        try:
            if self._bind:
                sock.bind(endpoint)
                last = sock.getsockopt(zmq.LAST_ENDPOINT)
                endpoint = last.decode() if isinstance(last, bytes) else str(last)
            else:
                sock.connect(endpoint)
        except zmq.ZMQError as exc:
            sock.close(0)
            self._close_context()
            verb = "bind" if self._bind else "connect"
            raise CaptureError("invalid_option", f"cannot {verb} {endpoint}: {exc.strerror}") from None
        self._endpoint = endpoint
        self._socket = sock

    def _work(self) -> None:
        self._guarded()

    def _describe(self) -> str:
        return f"replay of {self.path}"

    def stats(self) -> dict[str, int]:
        """Counters so far, safe from any thread: frames published, subscriptions seen."""
        return {"published": self.published, "subscriptions": self._subscriptions}

    def __repr__(self) -> str:
        return f"Replayer({str(self.path)!r}, {self.endpoint!r}, published={self.published})"

    def _close_context(self) -> None:
        context, self._owned_context = self._owned_context, None
        if context is not None:
            context.term()

    # -- the replay ------------------------------------------------------------------------------------------
    def _guarded(self) -> None:
        started = time.monotonic()
        first_sent: list[float] = []
        passes = 0
        try:
            self._await_subscribers()
            while not self._stopping.is_set():
                sent = self._one_pass(first_sent)
                if self._stopping.is_set():
                    break
                passes += 1
                if not self.loop or sent == 0:
                    break
        except BaseException as exc:
            if isinstance(exc, CaptureError):
                exc = CaptureError(
                    exc.code,
                    f"{exc.detail} (replay stopped after {self.published} published frames)",
                    path=exc.path,
                    row_group=exc.row_group,
                )
            self._error = exc
        finally:
            flushed = self._close_flushing()
            self.result = ReplayResult(
                published=self.published,
                passes=passes,
                elapsed=time.monotonic() - (first_sent[0] if first_sent else started),
                endpoint=self._endpoint,
                flushed=flushed,
            )

    def _close_flushing(self) -> bool:
        """Close the socket and wait until the queued frames reached the subscribers (the socket's linger:
        unbounded by default); False when :meth:`stop` ended the wait first.

        ``zmq_ctx_term`` cannot be interrupted, so it runs in a daemon thread that this one waits for in
        slices: a stop() is seen at once, and the frames keep going out in the background meanwhile."""
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()  # the linger set at open applies
        context, self._owned_context = self._owned_context, None
        if context is None:
            return True  # a caller's context: its term() is where the frames are waited for
        closer = threading.Thread(target=context.term, name="tradebridge-replay-flush", daemon=True)
        closer.start()
        while closer.is_alive():
            closer.join(_SLICE_S)
            if closer.is_alive() and self._stopping.is_set():
                return False
        return True

    def _drain_subscriptions(self) -> None:
        sock = self._socket
        assert sock is not None
        while True:
            try:
                note = sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if note and note[0] == _SUBSCRIBE:
                self._subscriptions += 1
            elif note and note[0] == _UNSUBSCRIBE:
                self._subscriptions -= 1

    def _await_subscribers(self) -> None:
        wanted = self.wait_for_subscribers
        if not wanted:
            return
        sock = self._socket
        assert sock is not None
        deadline = time.monotonic() + self.wait_timeout
        self._drain_subscriptions()
        while self._subscriptions < wanted and not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SubscriberTimeoutError(
                    f"{self._subscriptions} of {wanted} subscriber(s) on {self._endpoint} "
                    f"after {self.wait_timeout:g} s"
                )
            sock.poll(max(1, int(min(remaining, _SLICE_S) * 1000)))
            self._drain_subscriptions()

    def _tables(self) -> Iterator[_Chunk]:
        """Each row group of each segment, filtered, as frames and receive times, the next one read ahead in
        a worker thread (decompressing and making the frames' bytes objects overlap with sending)."""
        columns = ["payload"]
        if self.speed is not None or self.start_ns is not None or self.end_ns is not None:
            columns.append("recv_ns")  # --max without a time range never looks at it
        if self.topics:
            columns.append("topic")
        if self.symbols:
            columns.append("symbol")

        def groups() -> Iterator[tuple[Segment, int]]:
            for index, path in enumerate(self._segments):
                segment = self._first if index == 0 and self._first is not None else open_segment(path)
                for group in range(segment.row_groups):
                    yield segment, group

        def read(item: tuple[Segment, int]) -> _Chunk:
            segment, group = item
            if self._skip(segment, group):
                return [], None
            table = self._filter(segment.read(group, columns))
            stamps = table.column("recv_ns").to_numpy() if self.speed is not None else None
            return table.column("payload").to_pylist(), stamps

        with ThreadPoolExecutor(1, thread_name_prefix="tradebridge-replay-read") as pool:
            pending: Future[_Chunk] | None = None
            items = groups()
            while not self._stopping.is_set():
                try:
                    item = next(items)  # a segment's footer is opened here, in order
                except StopIteration:
                    break
                except CaptureError:
                    if pending is not None:  # what precedes a bad segment still goes out
                        yield pending.result()
                    raise
                upcoming = pool.submit(read, item)
                if pending is not None:
                    yield pending.result()
                pending = upcoming
            else:
                return
            if pending is not None:
                yield pending.result()

    def _skip(self, segment: Segment, group: int) -> bool:
        """True when the row group's receive-time statistics put it wholly outside the time range."""
        if self.start_ns is None and self.end_ns is None:
            return False
        column = segment.file.schema_arrow.get_field_index("recv_ns")
        stats = segment.file.metadata.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max:
            return False
        return (self.start_ns is not None and stats.max < self.start_ns) or (
            self.end_ns is not None and stats.min >= self.end_ns
        )

    def _filter(self, table: pa.Table) -> pa.Table:
        masks = []
        if self.topics:
            masks.append(pc.is_in(table.column("topic"), pa.array(self.topics, pa.string())))
        if self.symbols:
            masks.append(pc.is_in(table.column("symbol"), pa.array(self.symbols, pa.string())))
        if self.start_ns is not None:
            masks.append(pc.greater_equal(table.column("recv_ns"), self.start_ns))
        if self.end_ns is not None:
            masks.append(pc.less(table.column("recv_ns"), self.end_ns))
        if not masks:
            return table
        mask = masks[0]
        for more in masks[1:]:
            mask = pc.and_(mask, more)
        return table.filter(pc.fill_null(mask, False))

    def _one_pass(self, first_sent: list[float]) -> int:
        """Publish every selected frame once; how many were sent."""
        sent = 0
        origin: int | None = None  # the receive time of the pass's first frame
        t0 = 0.0
        for frames, stamps in self._tables():
            if not frames:
                continue
            self._drain_subscriptions()
            if not first_sent:
                first_sent.append(time.monotonic())
            if self.speed is None or stamps is None:
                self._send_all(frames)
            else:
                if origin is None:
                    origin, t0 = int(stamps[0]), time.monotonic()
                due = ((stamps - origin) / (self.speed * 1e9) + t0).tolist()
                self._send_paced(frames, due)
            sent += len(frames)
            if self._stopping.is_set():
                break
        return sent

    def _send_all(self, frames: list[bytes]) -> None:
        sock = self._socket
        assert sock is not None
        send, noblock, again = sock.send, zmq.NOBLOCK, zmq.Again
        remaining = iter(frames)
        frame = b""
        unsent = 0  # the frame taken from the iterator when stop() came during a wait
        try:
            while True:
                try:
                    for frame in remaining:  # the hot loop: nothing but the send
                        send(frame, noblock)
                    return
                except again:
                    if not self._send_waiting(frame):
                        unsent = 1
                        return
        finally:
            self.published += len(frames) - operator.length_hint(remaining) - unsent

    def _send_paced(self, frames: list[bytes], due: list[float]) -> None:
        sock = self._socket
        assert sock is not None
        send, noblock, again = sock.send, zmq.NOBLOCK, zmq.Again
        monotonic, sleep, stopping = time.monotonic, time.sleep, self._stopping.is_set
        now = monotonic()
        done = 0
        try:
            for frame, when in zip(frames, due, strict=True):
                if when > now:
                    now = monotonic()
                    while when > now:  # in slices, so that stop() is seen during a long quiet spell
                        if stopping():
                            return
                        sleep(min(when - now, _SLICE_S))
                        now = monotonic()
                try:
                    send(frame, noblock)
                except again:
                    if not self._send_waiting(frame):
                        return
                done += 1
        finally:
            self.published += done

    def _send_waiting(self, frame: bytes) -> bool:
        """Send ``frame`` once a subscriber's queue has room (NODROP said it was full); False if stopped."""
        sock = self._socket
        assert sock is not None
        while not self._stopping.is_set():
            if sock.poll(int(_SLICE_S * 1000), zmq.POLLOUT):
                try:
                    sock.send(frame, zmq.NOBLOCK)
                    return True
                except zmq.Again:
                    continue
            self._drain_subscriptions()
        return False
