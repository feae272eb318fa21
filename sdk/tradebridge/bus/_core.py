"""The one implementation of the bus: framing, numbering, subscriptions, malformed frames, stats.

The asyncio classes (``tradebridge.bus``) and the blocking ones (``tradebridge.bus.sync``) are thin shells
over these cores, the way pyzmq's ``zmq.asyncio`` wraps ``zmq``: a core never waits, it only builds frames,
reads frames it is handed and does non-blocking socket work, so both shells share every rule.

Wire form v1 (DESIGN.md): one frame ``<topic> <json>``. The publisher writes the envelope fields ``seq``
(per topic, from 0), ``sent_at_us`` (v1.1: its wall clock in microseconds at framing) and ``source`` (this
instance's id) into every message it sends; a subscriber takes ``now - sent_at_us`` as the message's transit
(see :class:`tradebridge.bus.stats.TransitHistogram`). Across hosts that is only as good as their clock sync
(NTP: typically within a millisecond; PTP: microseconds); on one host it is exact.

Threads: a libzmq socket must never be used by two threads at once (libzmq aborts the process, or corrupts
memory). Every use of the publisher's socket happens under :attr:`PublisherCore.lock`, held around frame +
send only, so one publisher can be shared by many threads and each topic's ``seq`` follows the send order;
closing takes the same lock, so a publish racing a close raises :class:`BusClosedError` instead of
touching a closed socket. :meth:`PublisherCore.snapshot` reads plain counters without the lock (a health
server's thread), and reads the socket for fresh subscriptions only on the thread that connected it.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any, Final, Literal

import msgspec
import zmq
from msgspec import UNSET

from tradebridge.bus.options import BusOptions
from tradebridge.bus.stats import (
    TRANSIT_BUCKETS_US,
    PublisherStats,
    SequenceTracker,
    SubscriberStats,
    TransitHistogram,
)
from tradebridge.contracts import (
    ENVELOPE_FORMAT,
    TOPICS,
    Decoder,
    Heartbeat,
    MarketMessage,
    OrderUpdate,
    Signal,
    decode_frame,
    source_suffix,
    topic_of,
    without_envelope,
)
from tradebridge.errors import BusError, ContractError

__all__ = ["BusClosedError", "PublisherCore", "SubscriberCore", "SubscriberTimeoutError", "new_source_id"]

log = logging.getLogger("tradebridge.bus")

HealthStatusName = Literal["healthy", "degraded", "unhealthy"]

#: what each v1 topic carries (DESIGN.md section 1); checked against the contracts' own list at import
_TOPIC_TYPES: dict[str, Any] = {
    "market": MarketMessage,
    "signal": Signal,
    "order": OrderUpdate,
    "system": Heartbeat,
}
if set(_TOPIC_TYPES) != set(TOPICS):
    raise ImportError(f"tradebridge.bus knows topics {sorted(_TOPIC_TYPES)}, the contracts {sorted(TOPICS)}")

_SUBSCRIBE: Final = 1
_TRANSIT_TOP: Final = len(TRANSIT_BUCKETS_US)
_time_ns = time.time_ns  # a global name: one look-up less on every received message
#: how often a publisher holding messages for a first subscriber looks for one while publishing
_HOLD_LOOK_INTERVAL_S: Final = 0.001
_UNSUBSCRIBE: Final = 0
#: messages ``publish_many`` frames and sends per acquisition of the lock: the caller's iterator runs
#: outside it, and another thread (or ``close``) waits at most one chunk
_CHUNK: Final = 256
#: messages of a ``publish_many`` batch that share one ``sent_at_us`` (see ``_send_chunk``)
_STAMP_EVERY: Final = 16


class SubscriberTimeoutError(BusError, TimeoutError):
    """``wait_for_subscribers`` gave up before enough subscribers had subscribed."""


class BusClosedError(BusError):
    """The publisher or subscriber was closed (possibly by another thread) while, or before, being used."""


def new_source_id(prefix: str = "py") -> str:
    """A publisher instance id: readable (language, pid) and unique across restarts (random part)."""
    return f"{prefix}-{os.getpid()}-{secrets.token_hex(4)}"


def _not_connected(frame: bytes) -> None:
    raise BusError("publisher is not connected: call connect() or use it as a context manager")


def _closed(frame: bytes) -> None:
    raise BusClosedError("publisher is closed")


def _attach(socket: zmq.Socket[bytes], endpoint: str, bind: bool) -> str:
    """Bind or connect, turning libzmq's errors into one-line :class:`BusError` s; returns the endpoint.

    A bound ``tcp://host:*`` or ``:0`` resolves to the port the kernel picked, so tests can ask for one.
    """
    if bind and endpoint.startswith("tcp://") and endpoint.endswith(":0"):
        endpoint = endpoint[:-1] + "*"
    try:
        if bind:
            socket.bind(endpoint)
            resolved = socket.getsockopt(zmq.LAST_ENDPOINT)
            return resolved.decode() if isinstance(resolved, bytes) else str(resolved)
        socket.connect(endpoint)
        return endpoint
    except zmq.ZMQError as exc:
        verb = "bind" if bind else "connect"
        raise BusError(f"cannot {verb} {endpoint}: {exc.strerror}") from None


class PublisherCore:
    """Numbers and frames messages, holds them through the start-up grace, and keeps count of the
    subscriptions the XPUB socket reports.

    The socket is an XPUB with ``XPUB_VERBOSER``: it behaves exactly like PUB for subscribers and also hands
    us every (un)subscription, which is how ``wait_for_subscribers`` knows that a subscriber's filter is in
    place (its messages would otherwise vanish: the slow-joiner problem), and how the start-up hold knows
    when to let go.

    Start-up hold: until the first subscription arrives, and for at most ``options.startup_grace`` seconds
    after connecting, frames are queued here (at most ``options.startup_queue``; the oldest make room and
    are counted in ``dropped``) instead of being handed to a socket that would drop them. The first
    subscription flushes them in order; from then on ``publish`` sends straight to the socket (the hold
    costs nothing once a subscriber exists). When the grace ends with nobody subscribed, what is held is
    dropped and counted.
    """

    __slots__ = (
        "_body_suffix",
        "_counters",
        "_encode",
        "_endpoint",
        "_held",
        "_hold_deadline",
        "_next_look",
        "_owner",
        "_routes",
        "_send",
        "_socket",
        "_subscription_total",
        "_subscriptions",
        "bind",
        "dropped",
        "last_seq",
        "lock",
        "on_hold",
        "options",
        "published",
        "source",
    )

    def __init__(self, endpoint: str, *, bind: bool, options: BusOptions | None, source: str | None) -> None:
        self._endpoint = endpoint
        self.bind = bind
        self.options = options or BusOptions()
        self.source = source or new_source_id()
        if not 1 <= len(self.source) <= 64:
            raise ValueError("source must be 1..64 characters")
        # b',"source":"<id>"}' ends every body; json-encoded once so any id is safe
        self._body_suffix = source_suffix(self.source)
        self._counters: dict[str, list[int]] = {}  # topic -> [next seq]
        self._routes: dict[type, tuple[bytes, list[int]]] = {}
        # contract v1 JSON is msgspec's default encoding (tests/bus/test_framing.py checks it stays equal)
        self._encode = msgspec.json.Encoder().encode
        self._subscriptions: dict[bytes, int] = {}
        self._subscription_total = 0  # sum of _subscriptions, readable from any thread
        self._socket: zmq.Socket[bytes] | None = None
        self._send: Callable[[bytes], Any] = _not_connected  # socket.send, or _hold during the start-up grace
        self._owner = 0  # the thread that connected the socket: the one snapshot() lets read it
        #: held around every use of the socket (module docstring); a shell's own socket calls take it too
        self.lock = threading.Lock()
        self._held: deque[bytes] = deque()
        self._hold_deadline = 0.0
        self._next_look = 0.0  # when _hold next reads the socket's subscription notifications
        #: called (on the owner's thread) when a first frame is held, so a shell can flush in the background
        self.on_hold: Callable[[], None] | None = None
        self.published = 0
        self.dropped = 0  # frames the start-up hold had to drop (queue full, or nobody came in time)
        self.last_seq = -1  # the seq of the last frame built

    # -- socket ------------------------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        """The endpoint as bound (``tcp://127.0.0.1:*`` resolves to the real port once connected)."""
        return self._endpoint

    @property
    def socket(self) -> zmq.Socket[bytes]:
        if self._socket is None:
            if self._send is _closed:
                raise BusClosedError("publisher is closed")
            raise BusError("publisher is not connected: call connect() or use it as a context manager")
        return self._socket

    def attach(self, socket: zmq.Socket[bytes]) -> None:
        """Configure a fresh XPUB socket (made by the shell's context) and bind or connect it."""
        self.options.apply(socket, receiving=False)
        socket.setsockopt(zmq.XPUB_VERBOSER, 1)  # every subscribe and unsubscribe, from every peer
        self._endpoint = _attach(socket, self._endpoint, self.bind)
        self._socket = socket
        self._owner = threading.get_ident()
        grace = self.options.startup_grace
        if grace > 0 and self.options.startup_queue > 0 and self._subscription_total == 0:
            self._hold_deadline = time.monotonic() + grace
            self._send = self._hold
        else:
            self._send = socket.send

    def detach(self) -> None:
        """Forget the socket (the caller holds :attr:`lock`); whatever is still held is dropped (and
        counted), and a publish from now on raises :class:`BusClosedError`."""
        self.dropped += len(self._held)
        self._held.clear()
        self._subscriptions.clear()  # a socket made by a later connect() starts with none
        self._subscription_total = 0
        self._socket = None
        self._send = _closed

    # -- frames ------------------------------------------------------------------------------------------
    def frame(self, message: Any, sent_at_us: int | None = None) -> bytes:
        """``<topic> <json>`` with this publisher's next ``seq`` for the topic, ``sent_at_us`` (now, unless
        given) and its ``source``."""
        route = self._routes.get(message.__class__)
        if route is None:
            route = self._route(message)
        prefix, counter = route
        seq = counter[0]
        if message.seq is not UNSET or message.source is not UNSET or message.sent_at_us is not UNSET:
            # the envelope is ours to write: a republished message gets this publisher's numbering and
            # stamp (tested inline: a call per message costs more than the clock read)
            message = without_envelope(message)
        body = self._encode(message)
        counter[0] = seq + 1
        self.last_seq = seq
        if sent_at_us is None:
            sent_at_us = time.time_ns() // 1000
        # splice the envelope in before the closing brace instead of copying the message: cheaper, and
        # the caller's message is left as it was
        return ENVELOPE_FORMAT % (prefix, body[:-1], seq, sent_at_us, self._body_suffix)

    def _route(self, message: Any) -> tuple[bytes, list[int]]:
        """The frame prefix and the shared per-topic counter of a message class (cached per class)."""
        topic = topic_of(message)  # raises ContractError for anything that is not a bus message
        counter = self._counters.setdefault(topic, [0])
        route = self._routes[message.__class__] = (topic.encode("ascii") + b" ", counter)
        return route

    def publish(self, message: Any) -> int:
        """Frame and send one message (PUB never blocks: at the high-water mark libzmq drops); its seq.
        Safe from any thread: frame + send happen under :attr:`lock`."""
        with self.lock:
            self._send(self.frame(message))
            self.published += 1
            return self.last_seq

    def publish_many(self, messages: Iterable[Any]) -> int:
        """Frame and send each message in order; how many. Thread-safe as :meth:`publish`, one chunk of
        messages per acquisition of the lock (another thread's messages may come between chunks)."""
        count = 0
        remaining = iter(messages)
        while chunk := list(islice(remaining, _CHUNK)):
            with self.lock:
                count += self._send_chunk(chunk)
        with self.lock:
            if self._socket is not None:
                # keeps the subscription count fresh for snapshots from other threads, once per batch
                self._drain()
        return count

    def _send_chunk(self, chunk: list[Any]) -> int:
        frame = self.frame
        now_ns = time.time_ns
        sent = 0
        try:
            if self._send == self._hold:
                for message in chunk:  # one at a time while held: the hold may end inside the batch
                    self._send(frame(message))
                    sent += 1
                    if self._send != self._hold:
                        break
            send = self._send
            # One clock read per _STAMP_EVERY messages instead of one each: they are framed and sent
            # back to back under one lock, within about 10 us of their stamp (benches/bus/bench_transit.py
            # measures what it saves), which is below the transit histogram's resolution at the transits
            # a bus sees.
            stamp = 0
            for index, message in enumerate(chunk[sent:]):
                if not index % _STAMP_EVERY:
                    stamp = now_ns() // 1000
                send(frame(message, stamp))
                sent += 1
        finally:
            self.published += sent
        return sent

    # -- start-up hold -----------------------------------------------------------------------------------
    @property
    def holding(self) -> bool:
        """True while frames are held for a first subscriber (see the class docstring)."""
        return self._send == self._hold

    @property
    def held(self) -> int:
        return len(self._held)

    def hold_remaining(self) -> float:
        """Seconds a closing publisher should still wait for a first subscriber (0: nothing held)."""
        if not self._held or not self.holding:
            return 0.0
        return max(0.0, self._hold_deadline - time.monotonic())

    def _hold(self, frame: bytes) -> None:
        """``_send`` during the start-up grace: queue ``frame`` unless a subscriber (or the deadline) came."""
        now = time.monotonic()
        if now >= self._next_look:
            # looking costs a socket call: at most once a millisecond while publishing fast
            self._next_look = now + _HOLD_LOOK_INTERVAL_S
            self._drain()  # may end the hold
            if self._send != self._hold:
                self._send(frame)
                return
        if now >= self._hold_deadline:
            self._release()
            self._send(frame)
            return
        held = self._held
        if len(held) >= self.options.startup_queue:
            held.popleft()  # the newest matter most (market data): the oldest make room
            self.dropped += 1
        held.append(frame)
        if len(held) == 1 and self.on_hold is not None:
            self.on_hold()

    def release(self) -> None:
        """End the start-up hold: send what is held in order if anyone subscribed, else drop and count it.

        A held frame whose topic no subscription matches is counted as dropped (ZeroMQ would discard it).
        """
        with self.lock:
            self._release()

    def _release(self) -> None:
        socket = self._socket
        if socket is None:
            return
        self._send = send = socket.send
        held, self._held = self._held, deque()
        if not held:
            return
        if self._subscription_total == 0:
            self.dropped += len(held)
            return
        prefixes = [prefix for prefix, n in self._subscriptions.items() if n > 0]
        for frame in held:
            if any(frame.startswith(prefix) for prefix in prefixes):
                send(frame)
            else:
                self.dropped += 1

    # -- stats -------------------------------------------------------------------------------------------
    def heartbeat(self, component: str, status: HealthStatusName | None) -> Heartbeat:
        return Heartbeat(
            component=component,
            timestamp=time.time_ns() // 1_000_000,
            status=UNSET if status is None else status,
        )

    def timeout_error(self, count: int, n: int, timeout: float) -> SubscriberTimeoutError:
        return SubscriberTimeoutError(f"{count} of {n} subscriber(s) on {self.endpoint} after {timeout:g} s")

    def on_owner_thread(self) -> bool:
        return self._socket is not None and threading.get_ident() == self._owner

    def refresh(self) -> None:
        """Read pending subscription notifications, if this is the socket's own thread (else nothing)."""
        if self.on_owner_thread():
            with self.lock:
                if self._socket is not None:  # closed meanwhile
                    self._drain()

    def snapshot(self) -> PublisherStats:
        """The counters; safe from any thread: only the owner's thread reads the socket first. From another
        thread, ``subscriptions`` is as of the owner's last look (``publish_many``, ``subscriber_count``,
        ``wait_for_subscribers``, its own ``stats``, a publish during the start-up hold)."""
        self.refresh()
        counters = dict(self._counters)  # one C-level copy: the owner may add a topic meanwhile
        return PublisherStats(
            self.published,
            self._subscription_total,
            {topic: c[0] for topic, c in counters.items()},
            dropped=self.dropped,
            held=len(self._held),
        )

    def next_seq(self, topic: str) -> int:
        """The ``seq`` the next message on ``topic`` will carry."""
        counter = self._counters.get(topic)
        return 0 if counter is None else counter[0]

    # -- subscriptions -----------------------------------------------------------------------------------
    def drain_subscriptions(self) -> None:
        """Read every (un)subscription notification queued on the socket, without waiting.

        The first subscription ends the start-up hold and flushes what it held.
        """
        with self.lock:
            self._drain()

    def poll_subscriptions(self, timeout_ms: int) -> None:
        """Wait up to ``timeout_ms`` for a notification, then read them all (a blocking shell's wait: keep
        the slices short, publishers of other threads wait for the lock meanwhile)."""
        with self.lock:
            self.socket.poll(timeout=timeout_ms)
            self._drain()

    def _drain(self) -> None:
        socket = self.socket
        while True:
            try:
                note = socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            self.note_subscription(note)
        if self._subscription_total > 0 and self._send == self._hold:
            self._release()

    def note_subscription(self, note: bytes) -> None:
        if not note:
            return
        prefix = note[1:]
        if note[0] == _SUBSCRIBE:
            self._subscriptions[prefix] = self._subscriptions.get(prefix, 0) + 1
            self._subscription_total += 1
        elif note[0] == _UNSUBSCRIBE and self._subscriptions.get(prefix, 0) > 0:
            self._subscriptions[prefix] -= 1
            self._subscription_total -= 1

    def subscriber_count(self, topic: str | None = None) -> int:
        """Live subscriptions seen so far; with ``topic``, only those whose prefix filter matches it.

        ZeroMQ does not say which peer sent a subscription, so a subscriber to two topics counts twice
        when ``topic`` is None; asking for one topic counts each subscriber that will receive it once.
        """
        if topic is None:
            return self._subscription_total
        wanted = topic.encode()
        return sum(n for prefix, n in dict(self._subscriptions).items() if wanted.startswith(prefix))


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
        "_decoders",
        "_endpoint",
        "_exact_topics",
        "_malformed_log",
        "_max_frame",
        "_socket",
        "_tracker",
        "_transit",
        "_transit_counts",
        "bind",
        "options",
        "stats",
        "strict",
        "topics",
    )

    def __init__(self, endpoint: str, *, bind: bool, options: BusOptions | None, strict: bool) -> None:
        self._endpoint = endpoint
        self.bind = bind
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
            for topic, kind in _TOPIC_TYPES.items()
        }
        self._decoders = dict(self._all_decoders)
        self._socket: zmq.Socket[bytes] | None = None
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

    def attach(self, socket: zmq.Socket[bytes], topics: Iterable[str] | None) -> None:
        """Configure a fresh SUB socket, subscribe (all topics when ``topics`` is empty) and connect."""
        wanted = tuple(dict.fromkeys(topics or ()))
        for topic in wanted:
            if topic not in _TOPIC_TYPES:
                raise ValueError(f"unknown topic {topic!r}: one of {', '.join(_TOPIC_TYPES)}")
        self.options.apply(socket, receiving=True)
        for topic in wanted or ("",):
            # ZeroMQ filters by prefix; "market " (with the space) would be exact, but the guide's peers
            # subscribe to "market", so we do too and match exactly in ``handle``
            socket.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self._endpoint = _attach(socket, self._endpoint, self.bind)
        self.topics = wanted
        self._exact_topics = frozenset(t.encode() for t in wanted) if wanted else None
        self._closed = False
        self._decoders = {
            name: route for name, route in self._all_decoders.items() if not wanted or route[0] in wanted
        }
        self._socket = socket

    def detach(self) -> None:
        self._socket = None
        self._closed = True

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
