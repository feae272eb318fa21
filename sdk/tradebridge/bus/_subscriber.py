"""The subscriber's core: turns received frames into ``(topic, message)``, keeping the stats and skipping
(or, when strict, raising on) what is malformed (shared rules: ``tradebridge.bus._core``).

Speed: where the extension module can serve the socket (``_native_io``), a subscriber takes each batch of
frames in one call (:meth:`SubscriberCore.take`); otherwise the shells receive with pyzmq and hand each
frame to :meth:`SubscriberCore.handle`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from collections.abc import Iterable
from typing import Any, Final

import zmq

from tradebridge.bus._core import TOPIC_TYPES, BusClosedError, release_curve, secure_attach
from tradebridge.bus._native_io import SocketIO, raise_for, socket_io
from tradebridge.bus._security import Curve, CurveLease, CurveStats, curve_stats_of
from tradebridge.bus.options import BusOptions
from tradebridge.bus.stats import TRANSIT_BUCKETS_US, SequenceTracker, SubscriberStats, TransitHistogram
from tradebridge.contracts import Decoder, Signal, decode_frame
from tradebridge.errors import BusError, ContractError

__all__ = ["SubscriberCore"]

log = logging.getLogger("tradebridge.bus")

_TRANSIT_TOP: Final = len(TRANSIT_BUCKETS_US)
_time_ns = time.time_ns  # a global name: one look-up less on every received message


class _MalformedLog:
    """Logs the first few malformed frames in full, then one summary line per interval: never a flood."""

    __slots__ = ("_burst", "_interval", "_logged", "_suppressed", "_window_start")

    def __init__(self, burst: int = 10, interval_s: float = 10.0) -> None:
        self._burst = burst
        self._interval = interval_s
        self._logged = 0
        self._suppressed = 0
        self._window_start = time.monotonic()

    def report(self, frame: bytes, error: ContractError) -> None:
        now = time.monotonic()
        if now - self._window_start >= self._interval:
            if self._suppressed:
                log.warning(
                    "skipped %d more malformed frames in the last %.0f s",
                    self._suppressed,
                    now - self._window_start,
                )
            self._window_start, self._logged, self._suppressed = now, 0, 0
        if self._logged < self._burst:
            self._logged += 1
            log.warning("skipping malformed frame (%s): %r", error, frame[:96])
        else:
            self._suppressed += 1


class SubscriberCore:
    """Turns received frames into ``(topic, message)``, keeping the stats and skipping what is malformed."""

    __slots__ = (
        "_all_decoders",
        "_closed",
        "_curve_lease",
        "_decoders",
        "_endpoint",
        "_exact_topics",
        "_frames",
        "_malformed_log",
        "_max_frame",
        "_socket",
        "_tracker",
        "_transit",
        "_transit_counts",
        "bind",
        "curve",
        "io",
        "options",
        "stats",
        "strict",
        "topics",
    )

    def __init__(
        self,
        endpoint: str,
        *,
        bind: bool,
        options: BusOptions | None,
        strict: bool,
        curve: Curve | None = None,
    ) -> None:
        self._endpoint = endpoint
        self.bind = bind
        self.curve = curve  # CURVE keys (tradebridge.bus._security); None: plaintext
        self._curve_lease: CurveLease | None = None
        self.options = options or BusOptions()
        self.strict = strict
        self.stats = SubscriberStats()
        self._tracker = SequenceTracker(self.stats, self.options.max_sources)
        limit = self.options.max_message_bytes
        self._max_frame = sys.maxsize if limit == -1 else limit
        self._malformed_log = _MalformedLog()
        self._exact_topics: frozenset[bytes] | None = None
        self._transit: TransitHistogram = self.stats.transit
        self._transit_counts = self._transit.counts
        # One decoder per topic for the subscriber's life (a reconnect keeps them): their ``legacy`` and
        # ``nan_tokens`` counters are the stats' own. Only a Signal can be forgiven either (the alias is a
        # Signal tag; ``NaN`` tokens are read only inside ``features``), hence the flag.
        allow_nan = self.options.allow_nan_tokens
        self._all_decoders: dict[bytes, tuple[str, Decoder[Any], bool]] = {
            topic.encode(): (topic, Decoder(kind, allow_nan_tokens=allow_nan), kind is Signal)
            for topic, kind in TOPIC_TYPES.items()
        }
        self._decoders = dict(self._all_decoders)
        self._socket: zmq.Socket[bytes] | None = None
        #: the extension's view of the socket (``_native_io``), when it can serve it: see :meth:`take`
        self.io: SocketIO | None = None
        self._frames: list[bytes] = []  # received by ``take`` and not handled yet
        self._closed = False
        self.topics: tuple[str, ...] = ()

    @property
    def endpoint(self) -> str:
        return self._endpoint

    @property
    def socket(self) -> zmq.Socket[bytes]:
        if self._socket is None:
            if self._closed:
                raise BusClosedError("subscriber is closed")
            raise BusError("subscriber is not connected: call connect(topics) first")
        return self._socket

    @property
    def connected(self) -> bool:
        return self._socket is not None

    def attach(
        self, socket: zmq.Socket[bytes], topics: Iterable[str] | None, context: zmq.Context[Any] | None = None
    ) -> None:
        """Configure a fresh SUB socket, subscribe (all topics when ``topics`` is empty) and connect."""
        wanted = tuple(dict.fromkeys(topics or ()))
        for topic in wanted:
            if topic not in TOPIC_TYPES:
                raise ValueError(f"unknown topic {topic!r}: one of {', '.join(TOPIC_TYPES)}")
        self.options.apply(socket, receiving=True)
        for topic in wanted or ("",):
            # ZeroMQ filters by prefix; "market " (with the space) would be exact, but the guide's peers
            # subscribe to "market", so we do too and match exactly in ``handle``
            socket.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self._endpoint = secure_attach(self, socket, context)
        self.topics = wanted
        self._exact_topics = frozenset(t.encode() for t in wanted) if wanted else None
        self._closed = False
        self._decoders = {
            name: route for name, route in self._all_decoders.items() if not wanted or route[0] in wanted
        }
        self._socket = socket
        self.io = socket_io(socket)
        self._frames.clear()

    def detach(self) -> None:
        io, self.io = self.io, None
        if io is not None:
            io.close()  # before the shell closes the socket: the handle dies with it
        self._socket = None
        self._closed = True
        release_curve(self)

    def curve_stats(self) -> CurveStats:
        """What CURVE refused on this subscriber's socket (zeros without CURVE)."""
        return curve_stats_of(self._curve_lease)

    def handle(self, frame: bytes) -> tuple[str, Any] | None:
        """The decoded ``(topic, message)``, or None for a frame to skip (counted; raised when strict).

        Fast path: a known topic's payload goes straight to its contract decoder. Anything that fails
        goes through :func:`decode_frame`, which names the exact error (``topic_mismatch`` and so on);
        a frame is never accepted here that ``decode_frame`` would refuse.
        """
        if len(frame) > self._max_frame:
            self._too_large(frame)
            return None
        space = frame.find(b" ")
        route = self._decoders.get(frame[:space]) if space > 0 else None
        if route is not None:
            decoder = route[1]
            try:
                message = decoder.decode(frame[space + 1 :])
            except ContractError:
                return self._refuse(frame)
            if route[2]:
                stats = self.stats
                stats.legacy = decoder.legacy
                stats.nan_tokens = decoder.nan_tokens
            sent = message.sent_at_us
            if sent.__class__ is int:  # a v1.0 peer's message has none: no transit, nothing invented
                # TransitHistogram.observe, inlined: this runs for every message
                micros = _time_ns() // 1000 - sent
                if micros > 0:
                    index = (micros - 1).bit_length()
                    self._transit_counts[index if index < _TRANSIT_TOP else _TRANSIT_TOP] += 1
                    self._transit.sum_us += micros
                else:
                    self._transit.observe(micros)
            self._tracker.observe(route[0], message.seq, message.source)
            return route[0], message
        exact = self._exact_topics
        if space > 0 and exact is not None and frame[:space] not in exact and frame[:space].isascii():
            self.stats.filtered += 1  # a topic ZeroMQ's prefix filter let through ("signals" for "signal")
            return None
        return self._refuse(frame)

    def take(self, io: SocketIO, pending: deque[tuple[str, Any]], limit: int) -> int:
        """Receive what is queued (at most ``limit`` frames, without waiting) through the extension, one
        call for the batch, and append each decoded ``(topic, message)`` to ``pending``; how many
        frames were taken (0: none queued). Raises pyzmq's errors, and, when strict, the refusal of a
        malformed frame: the frames after it stay here for the next call, as they would have stayed
        queued on the socket."""
        frames = self._frames
        error = 0 if frames else io.recv_batch(frames, limit)
        handle = self.handle
        append = pending.append
        count = 0
        try:
            for frame in frames:
                count += 1
                item = handle(frame)
                if item is not None:
                    append(item)
        finally:
            del frames[:count]
        if error:
            raise_for(error)
        return count

    def _too_large(self, frame: bytes) -> None:
        """A frame above ``options.max_message_bytes``: refused unparsed, counted as ``too_large``."""
        error = ContractError("too_large", f"frame is {len(frame)} bytes, the limit is {self._max_frame}")
        self.stats.refused(error.code)
        if self.strict:
            raise error
        self._malformed_log.report(frame, error)

    def _refuse(self, frame: bytes) -> tuple[str, Any] | None:
        try:
            topic, message = decode_frame(frame, allow_nan_tokens=self.options.allow_nan_tokens)
        except ContractError as exc:
            self.stats.refused(exc.code)
            if self.strict:
                raise
            self._malformed_log.report(frame, exc)
            return None
        # unreachable while the fast path and decode_frame agree; deliver rather than lose it
        self._tracker.observe(topic, message.seq, message.source)
        return topic, message
