"""Blocking twins of the bus classes, for scripts, threads and tools without an event loop.

Same names, arguments, framing, numbering and stats as :mod:`tradebridge.bus` (both are shells over
``tradebridge.bus._core``); methods block instead of returning awaitables::

    from tradebridge.bus.sync import ZMQPublisher, ZMQSubscriber

    with ZMQPublisher("tcp://127.0.0.1:5556") as pub:
        pub.wait_for_subscribers(1, timeout=5)  # optional for the first subscriber (start-up hold)
        pub.publish_signal(signal)

The start-up hold (``BusOptions.startup_grace``) works the same, except that with no event loop there is
no background flush: held messages go out on the publisher's next ``publish``/``publish_many``,
``subscriber_count``, ``wait_for_subscribers``, ``stats`` read on its own thread, or ``close``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, Self

import zmq

from tradebridge.bus._core import HealthStatusName, PublisherCore, SubscriberCore, SubscriberTimeoutError
from tradebridge.bus.options import BusOptions
from tradebridge.bus.stats import PublisherStats, SubscriberStats
from tradebridge.contracts import Signal

__all__ = ["BusOptions", "SubscriberStats", "SubscriberTimeoutError", "ZMQPublisher", "ZMQSubscriber"]


#: how often a waiting ``receive()`` looks at ``stop()``
_STOP_CHECK_MS = 100


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
    ) -> None:
        self._core = PublisherCore(endpoint, bind=bind, options=options, source=source)
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
    def published(self) -> int:
        return self._core.published

    def connect(self) -> None:
        if self._socket is not None:
            return
        owned = _Socket(zmq.XPUB, self._context)
        try:
            self._core.attach(owned.socket)
        except BaseException:
            owned.close(0)
            raise
        self._socket = owned

    def publish(self, message: Any) -> int:
        return self._core.publish(message)

    def publish_many(self, messages: Iterable[Any]) -> int:
        return self._core.publish_many(messages)

    def publish_signal(self, signal: Signal) -> int:
        if not isinstance(signal, Signal):
            raise TypeError(f"publish_signal needs a Signal, got {type(signal).__name__}")
        return self.publish(signal)

    def publish_heartbeat(self, component: str, status: HealthStatusName | None = None) -> int:
        return self._core.publish(self._core.heartbeat(component, status))

    def subscriber_count(self, topic: str | None = None) -> int:
        self._core.refresh()
        return self._core.subscriber_count(topic)

    def wait_for_subscribers(self, n: int = 1, timeout: float = 10.0, *, topic: str | None = None) -> int:
        core = self._core
        socket = core.socket
        deadline = time.monotonic() + timeout
        core.drain_subscriptions()
        while (count := core.subscriber_count(topic)) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise core.timeout_error(count, n, timeout)
            socket.poll(timeout=max(1, int(remaining * 1000)))
            core.drain_subscriptions()
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
                core.socket.poll(timeout=max(1, int(min(remaining, 0.1) * 1000)))
                core.drain_subscriptions()  # the first subscription sends what is held
            core.release()
        finally:
            owned, self._socket = self._socket, None
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
    ) -> None:
        self._core = SubscriberCore(endpoint, bind=bind, options=options, strict=strict)
        self._context = context
        self._socket: _Socket | None = None
        self._stopping = False
        self._rcvtimeo = -1  # the socket's RCVTIMEO, set only when it changes

    @property
    def endpoint(self) -> str:
        return self._core.endpoint

    @property
    def stats(self) -> SubscriberStats:
        return self._core.stats

    @property
    def topics(self) -> tuple[str, ...]:
        return self._core.topics

    def connect(self, topics: Iterable[str] | None = None) -> None:
        if self._socket is not None:
            return
        owned = _Socket(zmq.SUB, self._context)
        try:
            self._core.attach(owned.socket, topics)
        except BaseException:
            owned.close(0)
            raise
        self._socket = owned
        self._stopping = False
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

    def receive(self, idle_timeout: float | None = None) -> Iterator[tuple[str, Any]]:
        """Yield ``(topic, message)`` until :meth:`stop`/:meth:`close`, or until nothing arrived for
        ``idle_timeout`` seconds (None: wait for ever; Ctrl-C still interrupts)."""
        socket = self._core.socket
        handle = self._core.handle
        recv = socket.recv
        idle_since: float | None = None  # when the current wait for a frame began
        while not self._stopping:
            try:
                # a frame already queued needs no timeout bookkeeping (the common case under load)
                frame = recv(zmq.NOBLOCK)
            except zmq.Again:
                if idle_since is None:
                    idle_since = time.monotonic()
                try:
                    # waits in short slices, so that stop() from another thread ends the loop promptly
                    waited = self._recv(socket, _STOP_CHECK_MS)
                except zmq.ZMQError:
                    if self._stopping or self._socket is None:
                        return
                    raise
                if waited is None:
                    if idle_timeout is not None and time.monotonic() - idle_since >= idle_timeout:
                        return
                    continue
                frame, idle_since = waited, None
            except zmq.ZMQError:
                if self._stopping or self._socket is None:
                    return
                raise
            item = handle(frame)
            if item is not None:
                yield item

    def receive_one(self, timeout: float | None = None) -> tuple[str, Any] | None:
        """The next valid ``(topic, message)``, or None if none arrives within ``timeout`` seconds."""
        socket = self._core.socket
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if deadline is None:
                wait_ms = -1
            else:
                remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
                # whole slices keep RCVTIMEO unchanged from call to call (setting it costs a syscall)
                wait_ms = min(remaining_ms, _STOP_CHECK_MS)
            frame = self._recv(socket, wait_ms)
            if frame is None:
                if deadline is None or wait_ms == remaining_ms:
                    return None
                continue
            item = self._core.handle(frame)
            if item is not None:
                return item

    def stop(self) -> None:
        """Make ``receive()`` end after the current message (from another thread, within its poll)."""
        self._stopping = True

    def close(self) -> None:
        self._stopping = True
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
