"""Blocking twins of the bus classes, for scripts, threads and tools without an event loop.

Same names, arguments, framing, numbering and stats as :mod:`tradebridge.bus` (both are shells over
the cores of ``tradebridge.bus._core``); methods block instead of returning awaitables::

    from tradebridge.bus.sync import ZMQPublisher, ZMQSubscriber

    with ZMQPublisher("tcp://127.0.0.1:5556") as pub:
        pub.wait_for_subscribers(1, timeout=5)  # optional for the first subscriber (start-up hold)
        pub.publish_signal(signal)

The start-up hold (``BusOptions.startup_grace``) works the same, except that with no event loop there is
no background flush: held messages go out on the publisher's next ``publish``/``publish_many``,
``subscriber_count``, ``wait_for_subscribers``, ``stats`` read on its own thread, or ``close``.

Threads (libzmq sockets are not thread-safe; these classes make them so where it is cheap):

- A publisher may be shared by any number of threads: frame + send happen under one lock, so each topic's
  ``seq`` follows the order messages leave, and an uncontended lock costs well under a tenth of a
  ``publish``. Closing from another thread waits for the send in progress; a later ``publish`` raises
  :class:`BusClosedError`.
- A subscriber is read by one thread at a time (a second one is safe, but splits the messages). ``stop``
  and ``close`` may come from any thread: a thread blocked in ``receive`` notices within 100 ms
  (``receive`` ends, ``receive_one`` raises :class:`BusClosedError`); ``close`` waits for that instead of
  closing the socket under it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, Self

import zmq

from tradebridge.bus._core import BusClosedError, HealthStatusName, SubscriberTimeoutError
from tradebridge.bus._publisher import PublisherCore
from tradebridge.bus._security import Curve, CurveStats
from tradebridge.bus._subscriber import SubscriberCore
from tradebridge.bus.options import BusOptions
from tradebridge.bus.stats import PublisherStats, SubscriberStats
from tradebridge.contracts import Signal

__all__ = [
    "BusClosedError",
    "BusOptions",
    "SubscriberStats",
    "SubscriberTimeoutError",
    "ZMQPublisher",
    "ZMQSubscriber",
]


#: how often a waiting ``receive()`` looks at ``stop()`` and ``close()``
_STOP_CHECK_MS = 100
#: the longest a publisher's own wait on its socket holds the lock publishing threads need
_PUBLISHER_SLICE_MS = 5
#: frames a receiving thread takes off the socket (and decodes) per acquisition of its lock
_BATCH = 64


class _Socket:
    """An owned (or borrowed) context and one socket, closed together."""

    def __init__(self, kind: int, context: zmq.Context[Any] | None) -> None:
        self.owns_context = context is None
        self.context: zmq.Context[Any] = zmq.Context() if context is None else context
        self.socket: zmq.Socket[bytes] = self.context.socket(kind)

    def close(self, linger_ms: int) -> None:
        self.socket.close(linger=linger_ms)
        if self.owns_context:
            self.context.term()


class ZMQPublisher:
    """Blocking twin of :class:`tradebridge.bus.ZMQPublisher` (same arguments and behaviour)."""

    def __init__(
        self,
        endpoint: str = "tcp://127.0.0.1:5556",
        *,
        bind: bool = True,
        options: BusOptions | None = None,
        context: zmq.Context[Any] | None = None,
        source: str | None = None,
        curve: Curve | None = None,
    ) -> None:
        self._core = PublisherCore(endpoint, bind=bind, options=options, source=source, curve=curve)
        self._context = context
        self._socket: _Socket | None = None

    @property
    def endpoint(self) -> str:
        return self._core.endpoint

    @property
    def source(self) -> str:
        return self._core.source

    @property
    def stats(self) -> PublisherStats:
        """Messages published (in total and per topic), subscriptions seen, and what the start-up hold
        holds or dropped: a snapshot, safe to take from any thread (a health server's); only the
        publisher's own thread reads the socket for fresh subscriptions."""
        return self._core.snapshot()

    @property
    def curve_stats(self) -> CurveStats:
        """What CURVE refused on this socket (``curve=``): clients not on the allow-list (``denied``) and
        handshakes libzmq failed (``handshake_failed``: plaintext peers, wrong keys); zeros without it."""
        return self._core.curve_stats()

    @property
    def published(self) -> int:
        return self._core.published

    def connect(self) -> None:
        with self._core.lock:
            if self._socket is not None:
                return
            owned = _Socket(zmq.XPUB, self._context)
            try:
                self._core.attach(owned.socket, owned.context)
            except BaseException:
                owned.close(0)
                raise
            self._socket = owned
            if type(self).publish is ZMQPublisher.publish:
                # ``pub.publish`` becomes the extension's call itself rather than a Python method around
                # it (a tenth of a publish; benches/bus/bench_bus.py); a subclass's own publish stays
                vars(self)["publish"] = self._core.fast_publish

    def publish(self, message: Any) -> int:
        return self._core.fast_publish(message)  # the extension's path (see PublisherCore.fast_publish)

    def publish_many(self, messages: Iterable[Any]) -> int:
        return self._core.publish_many(messages)

    def publish_signal(self, signal: Signal) -> int:
        if not isinstance(signal, Signal):
            raise TypeError(f"publish_signal needs a Signal, got {type(signal).__name__}")
        return self.publish(signal)

    def publish_heartbeat(self, component: str, status: HealthStatusName | None = None) -> int:
        return self._core.fast_publish(self._core.heartbeat(component, status))

    def subscriber_count(self, topic: str | None = None) -> int:
        self._core.refresh()
        return self._core.subscriber_count(topic)

    def wait_for_subscribers(self, n: int = 1, timeout: float = 10.0, *, topic: str | None = None) -> int:
        core = self._core
        deadline = time.monotonic() + timeout
        core.drain_subscriptions()
        while (count := core.subscriber_count(topic)) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise core.timeout_error(count, n, timeout)
            core.poll_subscriptions(max(1, min(int(remaining * 1000), _PUBLISHER_SLICE_MS)))
        return count

    def close(self) -> None:
        """Close the socket (bounded linger). Messages still held for a first subscriber wait for one
        for the rest of the start-up grace, then are sent, or dropped and counted in ``stats.dropped``."""
        self._close(wait_for_subscriber=True)

    def _close(self, *, wait_for_subscriber: bool) -> None:
        if self._socket is None:
            return
        core = self._core
        try:
            while wait_for_subscriber and (remaining := core.hold_remaining()) > 0:
                # the first subscription sends what is held
                core.poll_subscriptions(max(1, min(int(remaining * 1000), _PUBLISHER_SLICE_MS)))
            core.release()
        except BusClosedError:
            pass  # another thread closed it meanwhile
        finally:
            with core.lock:  # waits for a send in progress on another thread
                owned, self._socket = self._socket, None
                vars(self).pop("publish", None)
                if owned is not None:
                    core.detach()
                    owned.close(core.options.linger_ms)

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # leaving on Ctrl-C (or SystemExit) must not linger for a subscriber: what is held is dropped
        self._close(wait_for_subscriber=exc_type is None or issubclass(exc_type, Exception))

    def __repr__(self) -> str:
        state = "connected" if self._socket else "closed"
        return f"ZMQPublisher({self.endpoint!r}, source={self.source!r}, {state})"


class ZMQSubscriber:
    """Blocking twin of :class:`tradebridge.bus.ZMQSubscriber` (same arguments and behaviour)."""

    def __init__(
        self,
        endpoint: str = "tcp://127.0.0.1:5555",
        *,
        bind: bool = False,
        options: BusOptions | None = None,
        context: zmq.Context[Any] | None = None,
        strict: bool = False,
        curve: Curve | None = None,
    ) -> None:
        self._core = SubscriberCore(endpoint, bind=bind, options=options, strict=strict, curve=curve)
        self._context = context
        self._socket: _Socket | None = None
        self._stopping = False
        self._closing = False  # close() was called: receivers leave and never take the lock again
        # held around every use of the socket (and the stats it updates); close() takes it to know that
        # no other thread is inside libzmq with this socket
        self._use = threading.Lock()
        # decoded messages taken off the socket in one batch and not yet delivered (stop() keeps them)
        self._pending: deque[tuple[str, Any]] = deque()
        self._rcvtimeo = -1  # the socket's RCVTIMEO, set only when it changes

    @property
    def endpoint(self) -> str:
        return self._core.endpoint

    @property
    def stats(self) -> SubscriberStats:
        return self._core.stats

    @property
    def curve_stats(self) -> CurveStats:
        """What CURVE refused on this socket (see the publisher's ``curve_stats``)."""
        return self._core.curve_stats()

    @property
    def topics(self) -> tuple[str, ...]:
        return self._core.topics

    def connect(self, topics: Iterable[str] | None = None) -> None:
        with self._use:
            if self._socket is not None:
                return
            owned = _Socket(zmq.SUB, self._context)
            try:
                self._core.attach(owned.socket, topics, owned.context)
            except BaseException:
                owned.close(0)
                raise
            self._socket = owned
            self._stopping = self._closing = False
            self._pending.clear()
            self._rcvtimeo = -1

    def _recv(self, socket: zmq.Socket[bytes], wait_ms: int) -> bytes | None:
        """One frame, waiting at most ``wait_ms`` (-1: for ever). A blocking recv with a receive timeout,
        not poll-then-recv: the poll costs a second wake-up, about 30 us a message on a round trip."""
        if wait_ms != self._rcvtimeo:
            socket.setsockopt(zmq.RCVTIMEO, wait_ms)
            self._rcvtimeo = wait_ms
        try:
            return socket.recv(zmq.NOBLOCK if wait_ms == 0 else 0)
        except zmq.Again:
            return None

    def _fill(self, socket: zmq.Socket[bytes], wait_ms: int) -> bool:
        """Under the lock, move what is queued (at most a batch) into ``_pending``, decoded; when nothing
        is, wait up to ``wait_ms`` for one frame. False when nothing came; :class:`BusClosedError` once
        closed. One lock and one trip into this method per batch, not per message, keeps ``receive``
        as fast as before it was safe to close from another thread."""
        pending = self._pending
        core = self._core
        with self._use:
            if self._socket is None:
                raise BusClosedError("subscriber is closed")
            if core.native:
                # the batch, or the wait for its first frame (GIL released), in one call to the extension
                if wait_ms != self._rcvtimeo:
                    socket.setsockopt(zmq.RCVTIMEO, wait_ms)
                    self._rcvtimeo = wait_ms
                return core.take(pending, _BATCH, wait_ms != 0) > 0
            handle = core.handle
            recv = socket.recv
            got = 0
            try:
                while got < _BATCH:
                    item = handle(recv(zmq.NOBLOCK))
                    got += 1
                    if item is not None:
                        pending.append(item)
            except zmq.Again:
                pass
            if got or wait_ms == 0:
                return got > 0
            frame = self._recv(socket, wait_ms)
            if frame is None:
                return False
            item = handle(frame)
            if item is not None:
                pending.append(item)
            return True

    def receive(self, idle_timeout: float | None = None) -> Iterator[tuple[str, Any]]:
        """Yield ``(topic, message)`` until :meth:`stop`/:meth:`close` (from any thread), or until nothing
        arrived for ``idle_timeout`` seconds (None: wait for ever; Ctrl-C still interrupts)."""
        socket = self._core.socket
        pending = self._pending
        idle_since: float | None = None  # when the current wait for a frame began
        while not self._stopping:
            if pending:
                try:
                    item = pending.popleft()
                except IndexError:  # another receiving thread took it
                    continue
                yield item
                continue
            try:
                # waits in short slices, so that stop() or close() from another thread ends the loop
                got = self._fill(socket, _STOP_CHECK_MS)
            except BusClosedError:
                return
            except zmq.ZMQError:
                if self._stopping or self._socket is None:
                    return
                raise
            if got:
                idle_since = None
                continue
            now = time.monotonic()  # a whole slice went by without a frame
            if idle_since is None:
                idle_since = now - _STOP_CHECK_MS / 1000
            if idle_timeout is not None and now - idle_since >= idle_timeout:
                return

    def receive_one(self, timeout: float | None = None) -> tuple[str, Any] | None:
        """The next valid ``(topic, message)``, or None if none arrives within ``timeout`` seconds;
        :class:`BusClosedError` if the subscriber is closed meanwhile (by another thread)."""
        socket = self._core.socket
        pending = self._pending
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if pending:
                try:
                    return pending.popleft()
                except IndexError:  # another receiving thread took it
                    continue
            if self._closing:
                raise BusClosedError("subscriber is closed")
            if deadline is None:
                wait_ms = _STOP_CHECK_MS
            else:
                remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
                # whole slices keep RCVTIMEO unchanged from call to call (setting it costs a syscall)
                wait_ms = min(remaining_ms, _STOP_CHECK_MS)
            if not self._fill(socket, wait_ms) and deadline is not None and wait_ms == remaining_ms:
                return None

    def stop(self) -> None:
        """Make ``receive()`` end after the current message (from another thread, within its poll)."""
        self._stopping = True

    def close(self) -> None:
        """Close the socket; safe from any thread: a receive in progress elsewhere ends first (within
        100 ms) and the socket is closed only once no thread is inside it."""
        self._stopping = self._closing = True
        with self._use:
            owned, self._socket = self._socket, None
            if owned is not None:
                self._core.detach()
                owned.close(0)  # a SUB only ever sends (un)subscriptions: nothing to flush

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "connected" if self._socket else "not connected"
        return f"ZMQSubscriber({self.endpoint!r}, topics={list(self.topics)!r}, {state})"
