"""The publisher's core: numbers and frames messages, holds them through the start-up grace, and counts
the subscriptions its XPUB socket reports (shared rules: ``tradebridge.bus._core``).

Threads: a libzmq socket must never be used by two threads at once (libzmq aborts the process, or corrupts
memory). Every use of the publisher's socket happens under :attr:`PublisherCore.lock`, held around frame +
send only, so one publisher can be shared by many threads and each topic's ``seq`` follows the send order;
closing takes the same lock, so a publish racing a close raises :class:`BusClosedError` instead of
touching a closed socket. :meth:`PublisherCore.snapshot` reads plain counters without the lock (a health
server's thread), and reads the socket for fresh subscriptions only on the thread that connected it.

Speed: where the extension module can serve the socket (``tradebridge._native.PublishIO``), a publish is
one call into it (route, envelope check, encode into a reused buffer, number, stamp and send, holding the
GIL, with the lock seen free: see ``bus_publish.rs`` for why that excludes every other use as the lock
would); anything unusual (the start-up hold, a closed socket, a republished message, a send that would
block) it hands to :meth:`PublisherCore.publish`, the Python path here, which does the same with pyzmq."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any, Final

import msgspec
import zmq
from msgspec import UNSET

from tradebridge._native import PublishIO
from tradebridge.bus import _native_io
from tradebridge.bus._core import (
    BusClosedError,
    HealthStatusName,
    SubscriberTimeoutError,
    new_source_id,
    release_curve,
    secure_attach,
)
from tradebridge.bus._security import Curve, CurveLease, CurveStats, curve_stats_of
from tradebridge.bus.options import BusOptions
from tradebridge.bus.stats import PublisherStats
from tradebridge.contracts import (
    ENVELOPE_FORMAT,
    BusMessage,
    Heartbeat,
    source_suffix,
    topic_of,
    without_envelope,
)
from tradebridge.errors import BusError

__all__ = ["PublisherCore"]

_SUBSCRIBE: Final = 1
#: how often a publisher holding messages for a first subscriber looks for one while publishing
_HOLD_LOOK_INTERVAL_S: Final = 0.001
_UNSUBSCRIBE: Final = 0
#: messages ``publish_many`` frames and sends per acquisition of the lock: the caller's iterator runs
#: outside it, and another thread (or ``close``) waits at most one chunk
_CHUNK: Final = 256
#: messages of a ``publish_many`` batch that share one ``sent_at_us`` (see ``_send_chunk``)
_STAMP_EVERY: Final = 16
#: where the extension reads a message's envelope fields (their slots, instead of three getattrs)
_ENVELOPE_SLOTS: Final = tuple(vars(BusMessage)[name] for name in ("seq", "source", "sent_at_us"))


def _not_connected(frame: bytes) -> None:
    raise BusError("publisher is not connected: call connect() or use it as a context manager")


def _closed(frame: bytes) -> None:
    raise BusClosedError("publisher is closed")


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
        "_curve_lease",
        "_encode",
        "_encode_into",
        "_endpoint",
        "_held",
        "_hold_deadline",
        "_io",
        "_next_look",
        "_owner",
        "_published",
        "_routes",
        "_send",
        "_socket",
        "_subscription_total",
        "_subscriptions",
        "bind",
        "curve",
        "dropped",
        "fast_publish",
        "last_seq",
        "lock",
        "on_hold",
        "options",
        "source",
    )

    def __init__(
        self,
        endpoint: str,
        *,
        bind: bool,
        options: BusOptions | None,
        source: str | None,
        curve: Curve | None = None,
    ) -> None:
        self._endpoint = endpoint
        self.bind = bind
        self.curve = curve  # CURVE keys (tradebridge.bus._security); None: plaintext
        self._curve_lease: CurveLease | None = None
        self.options = options or BusOptions()
        self.source = source or new_source_id()
        if not 1 <= len(self.source) <= 64:
            raise ValueError("source must be 1..64 characters")
        # b',"source":"<id>"}' ends every body; json-encoded once so any id is safe
        self._body_suffix = source_suffix(self.source)
        self._counters: dict[str, list[int]] = {}  # topic -> [next seq]
        self._routes: dict[type, tuple[bytes, list[int]]] = {}
        # contract v1 JSON is msgspec's default encoding (tests/bus/test_framing.py checks it stays equal)
        encoder = msgspec.json.Encoder()
        self._encode = encoder.encode
        self._encode_into = encoder.encode_into
        self._subscriptions: dict[bytes, int] = {}
        self._subscription_total = 0  # sum of _subscriptions, readable from any thread
        self._socket: zmq.Socket[bytes] | None = None
        # the extension's sends on the socket, when it can serve it
        self._io: PublishIO | None = None
        #: what the shells' ``publish`` calls: the extension's, which hands anything but the common case
        #: (held, closed, a class not routed yet, an envelope already set) to :meth:`publish`; or that
        self.fast_publish: Callable[[Any], int] = self.publish
        self._send: Callable[[bytes], Any] = _not_connected  # socket.send, or _hold during the start-up grace
        self._owner = 0  # the thread that connected the socket: the one snapshot() lets read it
        #: held around every use of the socket (module docstring); a shell's own socket calls take it too
        self.lock = threading.Lock()
        self._held: deque[bytes] = deque()
        self._hold_deadline = 0.0
        self._next_look = 0.0  # when _hold next reads the socket's subscription notifications
        #: called (on the owner's thread) when a first frame is held, so a shell can flush in the background
        self.on_hold: Callable[[], None] | None = None
        self._published = 0  # sent by publish(); the extension counts its own (see ``published``)
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

    def attach(self, socket: zmq.Socket[bytes], context: zmq.Context[Any] | None = None) -> None:
        """Configure a fresh XPUB socket (made by the shell's ``context``) and bind or connect it."""
        self.options.apply(socket, receiving=False)
        socket.setsockopt(zmq.XPUB_VERBOSER, 1)  # every subscribe and unsubscribe, from every peer
        self._endpoint = secure_attach(self, socket, context)
        self._socket = socket
        self._io = io = self._publish_io(socket)
        if io is not None:
            self.fast_publish = io.publish
        self._owner = threading.get_ident()
        grace = self.options.startup_grace
        if grace > 0 and self.options.startup_queue > 0 and self._subscription_total == 0:
            self._hold_deadline = time.monotonic() + grace
            self._send = self._hold
        else:
            self._send = socket.send
            if io is not None:
                io.direct = True

    def _publish_io(self, socket: zmq.Socket[bytes]) -> PublishIO | None:
        """The extension's sends on ``socket``, or None where the native path is off or unavailable."""
        library = _native_io._LIBRARY
        if library is None:
            return None
        kind = socket.getsockopt(zmq.TYPE)
        if not isinstance(kind, int):
            return None
        try:
            return PublishIO(
                library,
                socket.underlying,
                kind,
                self.lock,
                self._routes,
                self._encode_into,
                UNSET,
                self._body_suffix,
                self.publish,
                _ENVELOPE_SLOTS,
            )
        except OSError:  # the library or the socket's type did not check out: pyzmq serves this socket
            return None

    def detach(self) -> None:
        """Forget the socket (the caller holds :attr:`lock`); whatever is still held is dropped (and
        counted), and a publish from now on raises :class:`BusClosedError`."""
        self.dropped += len(self._held)
        self._held.clear()
        self._subscriptions.clear()  # a socket made by a later connect() starts with none
        self._subscription_total = 0
        self._socket = None
        self._send = _closed
        io, self._io = self._io, None
        self.fast_publish = self.publish
        if io is not None:
            io.close()  # before the shell closes the socket: the handle dies with it
            self._published += io.published
        release_curve(self)

    @property
    def published(self) -> int:
        """Messages handed to ZeroMQ so far (by this core, and by the extension for it)."""
        io = self._io
        return self._published + (io.published if io is not None else 0)

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
            self._published += 1
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
        by_python = 0  # of ``sent``, what the extension did not send (and count)
        try:
            if self._send == self._hold:
                for message in chunk:  # one at a time while held: the hold may end inside the batch
                    self._send(frame(message))
                    sent += 1
                    by_python += 1
                    if self._send != self._hold:
                        break
            io = self._io
            if io is not None and io.direct:  # each stamped by the extension (a clock read is ~20 ns)
                send = self._send
                while (sent := io.publish_batch(chunk, sent)) < len(chunk):
                    # a class not routed yet, or an envelope already set
                    send(frame(chunk[sent]))
                    by_python += 1
                    sent += 1
                return sent
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
                by_python += 1
        finally:
            self._published += by_python
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
        if self._io is not None:
            self._io.direct = True
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

    def curve_stats(self) -> CurveStats:
        """What CURVE refused on this publisher's socket (zeros without CURVE)."""
        return curve_stats_of(self._curve_lease)

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
