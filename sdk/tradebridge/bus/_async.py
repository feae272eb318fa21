"""asyncio shells over the bus cores: the guide's ``ZMQPublisher`` and ``ZMQSubscriber``.

An asyncio publisher or subscriber belongs to the event loop that connected it: its asyncio socket is
registered with that loop. Using it from another loop, or from a thread without one, raises
:class:`BusError` at once (instead of a libzmq crash later). ``stats`` is readable from any thread, and
``stop()`` may be called from any thread (it is handed to the owning loop). Threads that share one
publisher want :mod:`tradebridge.bus.sync`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import Any, Self, cast

import zmq
import zmq.asyncio

from tradebridge.bus._core import HealthStatusName
from tradebridge.bus._publisher import PublisherCore
from tradebridge.bus._security import Curve, CurveStats
from tradebridge.bus._subscriber import SubscriberCore
from tradebridge.bus.options import BusOptions
from tradebridge.bus.stats import PublisherStats, SubscriberStats
from tradebridge.contracts import Signal
from tradebridge.errors import BusError

__all__ = ["ZMQPublisher", "ZMQSubscriber"]

#: messages delivered back to back before ``receive()`` lets other tasks run
_FAIRNESS_BATCH = 256


_get_ident = threading.get_ident


def _check_loop(owner: asyncio.AbstractEventLoop | None, what: str) -> None:
    """Refuse use from anywhere but the loop that connected (a cheap C call on the hot path)."""
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not owner and owner is not None:
        raise BusError(
            f"this {what} belongs to the event loop that connected it; use it from that loop "
            "(or tradebridge.bus.sync from threads)"
        )


class _Sockets:
    """An owned (or borrowed) asyncio context and one socket, plus a blocking view of the same socket.

    Sending on PUB never blocks (libzmq drops at the high-water mark instead), and a receive that finds a
    frame waiting needs no event-loop round trip, so both go through the plain socket; only a receive that
    must wait awaits the asyncio socket.
    """

    def __init__(self, kind: int, context: zmq.Context[Any] | None) -> None:
        self.owns_context = context is None
        self.context: zmq.asyncio.Context = (
            zmq.asyncio.Context() if context is None else zmq.asyncio.Context.shadow(context.underlying)
        )
        self.async_socket: zmq.asyncio.Socket = self.context.socket(kind)
        self.socket: zmq.Socket[bytes] = zmq.Socket.shadow(self.async_socket.underlying)

    def close(self, linger_ms: int) -> None:
        self.async_socket.close(linger=linger_ms)
        if self.owns_context:
            self.context.term()


class ZMQPublisher:
    """Publishes contract messages on ``endpoint``, numbered per topic (asyncio).

    ``async with ZMQPublisher("tcp://127.0.0.1:5556") as pub: await pub.publish_signal(signal)``, or
    ``await pub.connect()`` ... ``await pub.close()``. The publisher binds by default (``bind=False`` to
    connect to a proxy or a bound subscriber). ``source`` is this instance's id in every message (a new
    random one per instance, so subscribers see restarts); ``context`` shares an existing ``zmq.Context``.
    """

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
        self._core.on_hold = self._flush_in_background
        self._context = context
        self._sockets: _Sockets | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop that connected: the only user
        # its thread: the publish hot path checks this (a C call) rather than the running loop (3x dearer);
        # a thread runs one loop at a time, so the threads only differ if the loops do
        self._thread: int | None = None
        self._flusher: asyncio.Task[None] | None = None  # sends held messages when a subscriber comes

    @property
    def endpoint(self) -> str:
        """The endpoint; once bound, ``tcp://127.0.0.1:*`` shows the port the kernel picked."""
        return self._core.endpoint

    @property
    def source(self) -> str:
        return self._core.source

    @property
    def stats(self) -> PublisherStats:
        """Messages published (in total and per topic), subscriptions seen, and what the start-up hold
        holds or dropped: a snapshot, safe to take from any thread (see ``BusOptions.startup_grace``)."""
        return self._core.snapshot()

    @property
    def curve_stats(self) -> CurveStats:
        """What CURVE refused on this socket (``curve=``): clients not on the allow-list (``denied``) and
        handshakes libzmq failed (``handshake_failed``: plaintext peers, wrong keys); zeros without it."""
        return self._core.curve_stats()

    @property
    def published(self) -> int:
        """Messages handed to ZeroMQ so far."""
        return self._core.published

    async def connect(self) -> None:
        """Create the socket and bind (or connect) it; a second call does nothing."""
        if self._sockets is not None:
            _check_loop(self._loop, "publisher")
            return
        sockets = _Sockets(zmq.XPUB, self._context)
        try:
            self._core.attach(sockets.socket, sockets.context)
        except BaseException:
            sockets.close(0)
            raise
        self._sockets = sockets
        self._loop = asyncio.get_running_loop()
        self._thread = _get_ident()

    async def publish(self, message: Any) -> int:
        """Publish one contract message on its topic; returns the ``seq`` it was given."""
        if _get_ident() != self._thread:
            _check_loop(self._loop, "publisher")
        return self._core.fast_publish(message)  # the extension's path (see PublisherCore.fast_publish)

    async def publish_many(self, messages: Iterable[Any]) -> int:
        """Publish several messages in order without a pause in between; returns how many."""
        if _get_ident() != self._thread:
            _check_loop(self._loop, "publisher")
        return self._core.publish_many(messages)

    async def publish_signal(self, signal: Signal) -> int:
        """The guide's call: publish a :class:`~tradebridge.contracts.Signal` on topic ``signal``."""
        if not isinstance(signal, Signal):
            raise TypeError(f"publish_signal needs a Signal, got {type(signal).__name__}")
        return await self.publish(signal)

    async def publish_heartbeat(self, component: str, status: HealthStatusName | None = None) -> int:
        """Publish a :class:`~tradebridge.contracts.Heartbeat` for ``component`` on topic ``system``."""
        if _get_ident() != self._thread:
            _check_loop(self._loop, "publisher")
        return self._core.fast_publish(self._core.heartbeat(component, status))

    def subscriber_count(self, topic: str | None = None) -> int:
        """Subscriptions seen so far (see :meth:`wait_for_subscribers`)."""
        self._core.refresh()
        return self._core.subscriber_count(topic)

    async def wait_for_subscribers(
        self, n: int = 1, timeout: float = 10.0, *, topic: str | None = None
    ) -> int:
        """Wait until ``n`` subscriptions are in place, so the first messages reach them (no slow joiner).

        Counts the subscriptions ZeroMQ reports to this publisher; with ``topic``, only those that will
        receive that topic (so each subscriber counts once). Raises :class:`SubscriberTimeoutError` after
        ``timeout`` seconds. Returns the count reached.

        A subscriber sends its subscription when its own thread services the socket (in ``connect`` for a
        new connection; inside ``receive`` after a reconnect, or when it binds and we connect), so a
        subscriber in the same thread must already be receiving in another task.
        """
        if self._sockets is None:
            raise BusError("publisher is not connected: call connect() or use it as a context manager")
        _check_loop(self._loop, "publisher")
        core = self._core
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        core.drain_subscriptions()
        while (count := core.subscriber_count(topic)) < n:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise core.timeout_error(count, n, timeout)
            # short asyncio-aware polls: a notification can arrive without waking a long one (libzmq's
            # edge-triggered descriptor is shared with the sends), and draining costs nothing
            await self._sockets.async_socket.poll(timeout=max(1, int(min(remaining, 0.02) * 1000)))
            core.drain_subscriptions()
        return count

    def _flush_in_background(self) -> None:
        """The core held a first message: send it as soon as a subscriber comes, without a publish."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven without a loop: the next publish, stats or close flushes instead
            return
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._await_first_subscriber())

    async def _await_first_subscriber(self) -> None:
        """Wait while messages are held (up to the rest of the start-up grace), then end the hold."""
        core = self._core
        while (sockets := self._sockets) is not None and (remaining := core.hold_remaining()) > 0:
            # short polls, as in wait_for_subscribers: libzmq's edge-triggered descriptor can miss a wake-up
            await sockets.async_socket.poll(timeout=max(1, int(min(remaining, 0.02) * 1000)))
            core.drain_subscriptions()  # the first subscription sends what is held
        if self._sockets is not None:
            core.release()

    async def close(self) -> None:
        """Close the socket (waiting at most ``options.linger_ms`` to flush) and the owned context.

        Messages still held for a first subscriber wait for one for the rest of the start-up grace
        (``BusOptions.startup_grace``) and are then sent, or dropped and counted in ``stats.dropped``.
        """
        await self._close(wait_for_subscriber=True)

    async def _close(self, *, wait_for_subscriber: bool) -> None:
        if self._sockets is not None:
            _check_loop(self._loop, "publisher")
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.cancel()
        if self._sockets is not None:
            try:
                if wait_for_subscriber:
                    await self._await_first_subscriber()
            finally:
                sockets, self._sockets = self._sockets, None
                if sockets is not None:
                    with self._core.lock:
                        self._core.detach()
                    sockets.close(self._core.options.linger_ms)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # leaving on cancellation or Ctrl-C must not linger for a subscriber: what is held is dropped
        await self._close(wait_for_subscriber=exc_type is None or issubclass(exc_type, Exception))

    def __repr__(self) -> str:
        state = "connected" if self._sockets else "closed"
        return f"ZMQPublisher({self.endpoint!r}, source={self.source!r}, {state})"


class ZMQSubscriber:
    """Receives contract messages from ``endpoint`` (asyncio), counting loss and skipping bad frames.

    ``async with ZMQSubscriber(endpoint) as sub: await sub.connect(["market", "signal"])`` then
    ``async for topic, message in sub.receive(): ...``. Subscribers connect by default (``bind=True`` to
    bind, e.g. for many publishers). A malformed frame is counted in ``stats`` and skipped; with
    ``strict=True`` it raises :class:`~tradebridge.errors.ContractError` instead.
    """

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
        self._sockets: _Sockets | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop that connected: the only user
        self._stopping = False
        self._waiting: asyncio.Future[bytes] | None = None  # a pending recv, cancelled by stop()

    @property
    def endpoint(self) -> str:
        return self._core.endpoint

    @property
    def stats(self) -> SubscriberStats:
        """Counters: received, malformed, gaps, dropped, restarts; the same per topic in ``topics``."""
        return self._core.stats

    @property
    def curve_stats(self) -> CurveStats:
        """What CURVE refused on this socket (see the publisher's ``curve_stats``)."""
        return self._core.curve_stats()

    @property
    def topics(self) -> tuple[str, ...]:
        return self._core.topics

    async def connect(self, topics: Iterable[str] | None = None) -> None:
        """Subscribe to ``topics`` (all when None or empty) and connect; a second call does nothing."""
        if self._sockets is not None:
            _check_loop(self._loop, "subscriber")
            return
        sockets = _Sockets(zmq.SUB, self._context)
        try:
            self._core.attach(sockets.socket, topics, sockets.context)
        except BaseException:
            sockets.close(0)
            raise
        self._sockets = sockets
        self._loop = asyncio.get_running_loop()
        self._stopping = False

    async def _next_frame(self, sockets: _Sockets) -> bytes:
        try:
            return sockets.socket.recv(zmq.NOBLOCK)
        except zmq.Again:
            return await sockets.async_socket.recv()

    async def receive(self) -> AsyncIterator[tuple[str, Any]]:
        """Yield ``(topic, message)`` in arrival order until :meth:`stop` or :meth:`close`."""
        sockets = self._sockets
        if sockets is None:
            raise BusError("subscriber is not connected: call connect(topics) first")
        _check_loop(self._loop, "subscriber")
        handle = self._core.handle
        plain = sockets.socket
        streak = 0
        while not self._stopping:
            try:
                frame = plain.recv(zmq.NOBLOCK)
                streak += 1
                if streak >= _FAIRNESS_BATCH:
                    streak = 0
                    await asyncio.sleep(0)
            except zmq.Again:
                streak = 0
                self._waiting = waiting = cast("asyncio.Future[bytes]", sockets.async_socket.recv())
                try:
                    frame = await waiting
                except (asyncio.CancelledError, zmq.ZMQError):
                    if self._stopping or self._sockets is None:
                        return  # closed under us: the loop ends quietly, as the guide expects
                    raise
                finally:
                    self._waiting = None
            except zmq.ZMQError:
                if self._stopping or self._sockets is None:
                    return
                raise
            item = handle(frame)
            if item is not None:
                yield item

    async def receive_one(self, timeout: float | None = None) -> tuple[str, Any] | None:
        """The next valid ``(topic, message)``, or None if none arrives within ``timeout`` seconds."""
        sockets = self._sockets
        if sockets is None:
            raise BusError("subscriber is not connected: call connect(topics) first")
        _check_loop(self._loop, "subscriber")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            if deadline is None:
                frame = await self._next_frame(sockets)
            else:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                try:
                    frame = await asyncio.wait_for(self._next_frame(sockets), remaining)
                except TimeoutError:
                    return None
            item = self._core.handle(frame)
            if item is not None:
                return item

    def stop(self) -> None:
        """Make ``receive()`` end after the message it is delivering (or at once if it is waiting).
        Safe from any thread: from outside the owning loop, the wake-up is handed to that loop."""
        self._stopping = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop:
                loop.call_soon_threadsafe(self._wake)
                return
        self._wake()

    def _wake(self) -> None:
        if self._waiting is not None:
            self._waiting.cancel()

    async def close(self) -> None:
        """Stop receiving and close the socket (at once: a subscriber has nothing to flush) and the
        owned context."""
        if self._sockets is not None:
            _check_loop(self._loop, "subscriber")
        self.stop()
        sockets, self._sockets = self._sockets, None
        if sockets is not None:
            self._core.detach()
            sockets.close(0)  # a SUB only ever sends (un)subscriptions: nothing to flush

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "connected" if self._sockets else "not connected"
        return f"ZMQSubscriber({self.endpoint!r}, topics={list(self.topics)!r}, {state})"
