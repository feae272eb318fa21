"""The subscriber's core: turns received frames into ``(topic, message)``, keeping the stats and skipping
(or, when strict, raising on) what is malformed (shared rules: ``tradebridge.bus._core``).

Speed: the per-frame work is the extension's (``tradebridge._native.Receiver``, see
``crates/tradebridge-py/src/bus_recv.rs``): it takes a batch of frames off the socket in one call (where it
can serve the socket: ``_native_io``), routes each to its topic's validating decoder (the SDK's own
``Decoder``, called from there), and counts each decoded message in the Rust subscriber's own loss
accounting and transit histogram, which ``stats`` reads (:class:`~tradebridge.bus.stats.
NativeSubscriberStats`). What is not the common case (a frame too large, of a topic not routed, refused
by its decoder) comes back here, in order, and is handled by the rules below as before. Where the
extension cannot serve the socket, the shells receive with pyzmq and hand each frame to :meth:`handle`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

import zmq

from tradebridge._native import Receiver
from tradebridge.bus._core import TOPIC_TYPES, BusClosedError, release_curve, secure_attach
from tradebridge.bus._native_io import attach_receiver, raise_for
from tradebridge.bus._security import Curve, CurveLease, CurveStats, curve_stats_of
from tradebridge.bus.options import BusOptions
from tradebridge.bus.stats import NativeSubscriberStats
from tradebridge.contracts import Decoder, Signal, decode_frame
from tradebridge.errors import BusError, ContractError

__all__ = ["SubscriberCore"]

log = logging.getLogger("tradebridge.bus")


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
        "_malformed_log",
        "_max_frame",
        "_out",
        "_receiver",
        "_socket",
        "bind",
        "curve",
        "native",
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
        limit = self.options.max_message_bytes
        self._max_frame = sys.maxsize if limit == -1 else limit
        # the per-frame work and the counters (module docstring); raises for max_sources < 1
        self._receiver = Receiver(limit, ContractError, self.options.max_sources)
        self._malformed_log = _MalformedLog()
        self._exact_topics: frozenset[bytes] | None = None
        # One decoder per topic for the subscriber's life (a reconnect keeps them): their ``legacy`` and
        # ``nan_tokens`` counters are the stats' own. Only a Signal can be forgiven either (the alias is a
        # Signal tag; ``NaN`` tokens are read only inside ``features``), hence the Signal's decoder.
        allow_nan = self.options.allow_nan_tokens
        self._all_decoders: dict[bytes, tuple[str, Decoder[Any]]] = {
            topic.encode(): (topic, Decoder(kind, allow_nan_tokens=allow_nan))
            for topic, kind in TOPIC_TYPES.items()
        }
        forgiving = next(decoder for _, decoder in self._all_decoders.values() if decoder.type is Signal)
        self.stats = NativeSubscriberStats(self._receiver, forgiving)
        self._decoders = dict(self._all_decoders)
        self._receiver.route([(topic, decoder.decode) for topic, decoder in self._decoders.values()])
        self._socket: zmq.Socket[bytes] | None = None
        #: whether the extension serves the socket (:meth:`take`); otherwise the shells use pyzmq
        self.native = False
        self._out: list[tuple[str, Any]] = []  # what one ``take`` decoded, before it reaches ``pending``
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
            # subscribe to "market", so we do too and match exactly (a frame of another topic that the
            # prefix let through has no route, and is counted as ``filtered``)
            socket.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self._endpoint = secure_attach(self, socket, context)
        self.topics = wanted
        self._exact_topics = frozenset(t.encode() for t in wanted) if wanted else None
        self._closed = False
        self._decoders = {
            name: route for name, route in self._all_decoders.items() if not wanted or route[0] in wanted
        }
        self._receiver.route([(topic, decoder.decode) for topic, decoder in self._decoders.values()])
        self._socket = socket
        self.native = attach_receiver(self._receiver, socket)

    def detach(self) -> None:
        self.native = False
        self._receiver.detach()  # before the shell closes the socket: the handle dies with it
        self._socket = None
        self._closed = True
        release_curve(self)

    def curve_stats(self) -> CurveStats:
        """What CURVE refused on this subscriber's socket (zeros without CURVE)."""
        return curve_stats_of(self._curve_lease)

    def handle(self, frame: bytes) -> tuple[str, Any] | None:
        """The decoded ``(topic, message)``, or None for a frame to skip (counted; raised when strict).

        The extension decodes a known topic's payload with its contract decoder and counts it; anything
        else comes back to :meth:`_slow`, which names the exact error through :func:`decode_frame`
        (``topic_mismatch`` and so on): a frame is never accepted that ``decode_frame`` would refuse.
        """
        item = self._receiver.handle(frame)
        return item if item is not None else self._slow(frame)

    def take(self, pending: deque[tuple[str, Any]], limit: int, wait: bool) -> int:
        """Handle the frames held from the last call or, if none, what is queued (at most ``limit``;
        when ``wait``, the first waits as the socket's RCVTIMEO says), in one call to the extension, and
        append each decoded ``(topic, message)`` to ``pending``; how many frames were taken (0: none
        came). Raises pyzmq's errors, and, when strict, the refusal of a malformed frame: the frames
        after it stay held for the next call, as they would have stayed queued on the socket."""
        out = self._out
        try:
            taken, error, frame = self._receiver.take(out, limit, wait)
        finally:
            pending.extend(out)  # what was decoded before anything raised is delivered, not lost
            out.clear()
        if frame is not None:
            item = self._slow(frame)
            if item is not None:
                pending.append(item)
        if error:
            raise_for(error)
        return taken

    def _slow(self, frame: bytes) -> tuple[str, Any] | None:
        """A frame the extension left to us: too large, of a topic without a route, or refused."""
        if len(frame) > self._max_frame:
            self._too_large(frame)
            return None
        space = frame.find(b" ")
        exact = self._exact_topics
        if space > 0 and exact is not None and frame[:space] not in exact and frame[:space].isascii():
            self._receiver.filtered()  # a topic ZeroMQ's prefix filter let through ("signals" for "signal")
            return None
        return self._refuse(frame)

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
        self._receiver.observe(topic, message.seq, message.source)
        return topic, message
