"""The streams' shared state: open connections, per-key limits, standing faults, counters, the tick clock.

Every connection owns a send queue drained by its own task, so a slow reader never stalls the clock or the
other connections: frames pile up in its queue instead, and past ``slow_client_bytes`` the connection gets
Alpaca's 407 and is closed. The hub lives on the broker's event loop; the order engine may report changes
from any thread (a test calling ``MockBroker.advance``), which are handed over with ``call_soon_threadsafe``
so events reach the sockets in the order they happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import Counter
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tradebridge_mocks.broker.streams.codec import MALFORMED_BINARY, MALFORMED_TEXT, encode
from tradebridge_mocks.broker.streams.options import FaultError, StreamFault, StreamOptions

if TYPE_CHECKING:
    from tradebridge_mocks.broker.server import BrokerState
    from tradebridge_mocks.broker.streams.data import MarketTape

log = logging.getLogger("tradebridge_mocks.broker.streams")

_CLOSE = object()  # queue sentinel: send what came before, then close


class Connection:
    """One accepted WebSocket of either stream, with its send queue."""

    def __init__(
        self, hub: StreamHub, stream: str, request: web.Request, ws: web.WebSocketResponse, binary: bool
    ) -> None:
        self.hub = hub
        self.stream = stream
        self.ws = ws
        self.binary = binary
        self.transport = request.transport
        self.peer = request.remote or "?"
        self.key: str | None = None  # the API key once authenticated (never logged)
        self.authenticated = False
        self.muted_until = 0.0  # loop time; math.inf = until clear
        self.closed = False
        self.close_code = 0
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._queued_bytes = 0
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    def ready(self) -> bool:
        return False

    def muted(self) -> bool:
        return self.muted_until > asyncio.get_running_loop().time()

    def send(self, frame: bytes | str) -> None:
        """Queue one encoded frame; past the slow-client bound, answer 407 and close instead."""
        if self.closed:
            return
        self._queued_bytes += len(frame)
        delay = self.hub.delay_ms[self.stream]
        # a delay is latency, not a throughput cap: each frame is due ``delay`` after it was queued
        due = asyncio.get_running_loop().time() + delay / 1000 if delay else 0.0
        self._queue.put_nowait((frame, due))
        if self._queued_bytes > self.hub.options.slow_client_bytes:
            self.hub.count(self.stream, "error_407")
            log.warning("%s stream: slow client %s, closing (407)", self.stream, self.peer)
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queued_bytes = 0
            self.send_error_and_close(407, "slow client")

    def send_error_and_close(self, code: int, msg: str) -> None:
        """Alpaca's error frame, then the close (1008: policy) once it is written."""
        if self.closed:
            return
        if self.stream == "data":
            frame = encode([{"T": "error", "code": code, "msg": msg}], self.binary)
        else:
            frame = encode({"stream": "error", "data": {"code": code, "error_message": msg}}, False)
        self._queue.put_nowait((frame, 0.0))
        self.close_code = 1008
        self._queue.put_nowait(_CLOSE)
        self.closed = True

    def send_malformed(self) -> None:
        self.send(MALFORMED_BINARY if self.binary else MALFORMED_TEXT)

    def abort(self) -> None:
        """Cut the connection without a close frame, as a network failure does."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    async def _send_loop(self) -> None:
        while True:
            item = await self._queue.get()
            if item is _CLOSE:
                with contextlib.suppress(Exception):
                    await self.ws.close(code=self.close_code or 1000)
                return
            frame, due = item
            self._queued_bytes -= len(frame)
            if due:
                self.hub.count(self.stream, "frames_delayed")
                wait = due - asyncio.get_running_loop().time()
                if wait > 0:
                    await asyncio.sleep(wait)
            if self.muted():
                self.hub.count(self.stream, "frames_muted")
                continue
            try:
                if isinstance(frame, bytes):
                    await self.ws.send_bytes(frame)
                else:
                    await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return  # the peer is gone; the handler's receive loop notices and unregisters
            self.hub.count(self.stream, "frames_sent")

    async def finish(self) -> None:
        """Close after the queued frames (if not closed already) and wait for the sender."""
        if self.transport is None or self.transport.is_closing():  # cut: no close handshake to wait for
            self.closed = True
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
            return
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(_CLOSE)
        try:
            await asyncio.wait_for(asyncio.shield(self._sender), self.hub.close_grace)
        except (TimeoutError, asyncio.CancelledError):
            self._sender.cancel()
            self.abort()
        if not self.ws.closed:
            with contextlib.suppress(Exception):
                await self.ws.close()


class StreamHub:
    """Both streams of one broker: registry, limits, faults, counters, the tick clock and trade updates."""

    def __init__(self, state: BrokerState, options: StreamOptions) -> None:
        from tradebridge_mocks.broker.streams.data import MarketTape

        self.state = state
        self.options = options
        self.connections: dict[str, set[Connection]] = {"data": set(), "trading": set()}
        self.keys: Counter[str] = Counter()  # authenticated data connections per API key
        self.refuse_auth: Counter[str] = Counter()
        self.delay_ms: dict[str, float] = {"data": 0.0, "trading": 0.0}
        self.counters: dict[str, Counter[str]] = {"data": Counter(), "trading": Counter()}
        self.tape: MarketTape = MarketTape(state)
        self.close_grace = 2.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._repeats: dict[str, list[asyncio.Task[None]]] = {"data": [], "trading": []}
        state.engine.listeners.append(self._on_order_event)

    # ----------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.options.interval > 0:
            self._spawn(self._clock(self.options.interval))
        for fault in self.options.faults:
            self.apply(fault)

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.state.engine.listeners.remove(self._on_order_event)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for connections in self.connections.values():
            for connection in list(connections):
                connection.abort()

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _clock(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.tick()
            except Exception:  # one bad tick must not stop the stream for good
                log.exception("stream tick failed")

    def tick(self) -> None:
        """Print the current market to every subscribed data connection (the clock calls this)."""
        from tradebridge_mocks.broker.streams.data import DataConnection

        subscribers = [
            c
            for c in self.connections["data"]
            if isinstance(c, DataConnection) and c.authenticated and c.has_subscriptions()
        ]
        if not subscribers:
            self.tape.observe_only()
            return
        batch = self.tape.tick(subscribers)
        for connection in subscribers:
            connection.send_batch(batch)

    # ------------------------------------------------------------------------------------ registry
    def register(self, connection: Connection) -> None:
        self.connections[connection.stream].add(connection)
        self.count(connection.stream, "connections")

    def unregister(self, connection: Connection) -> None:
        if connection in self.connections[connection.stream]:
            self.connections[connection.stream].discard(connection)
            if connection.stream == "data" and connection.authenticated and connection.key is not None:
                self.keys[connection.key] -= 1
                if self.keys[connection.key] <= 0:
                    del self.keys[connection.key]

    def count(self, stream: str, name: str, n: int = 1) -> None:
        self.counters[stream][name] += n

    def take_refusal(self, stream: str) -> bool:
        if self.refuse_auth[stream] > 0:
            self.refuse_auth[stream] -= 1
            self.count(stream, "auth_refused_injected")
            return True
        return False

    def stats(self) -> dict[str, Any]:
        return {
            stream: {
                "open": len(self.connections[stream]),
                "authenticated": sum(1 for c in self.connections[stream] if c.authenticated),
                # subscribed to something (data) or listening to trade_updates (trading)
                "ready": sum(1 for c in self.connections[stream] if c.ready()),
                **dict(self.counters[stream]),
            }
            for stream in self.connections
        }

    # -------------------------------------------------------------------------------------- faults
    def apply(self, fault: StreamFault) -> None:
        """Play ``fault`` now (on the loop's thread); repeated faults keep playing until ``clear``."""
        stream, action = fault.stream, fault.action
        self.count(stream, f"fault_{action}")
        if action == "clear":
            self.refuse_auth[stream] = 0
            self.delay_ms[stream] = 0.0
            for task in self._repeats[stream]:
                task.cancel()
            self._repeats[stream].clear()
            for connection in self.connections[stream]:
                connection.muted_until = 0.0
            return
        if action == "refuse_auth":
            self.refuse_auth[stream] += fault.count
            return
        if action == "delay":
            self.delay_ms[stream] = fault.ms
            return
        if fault.every_ms:
            self._repeats[stream].append(self._spawn(self._repeat(fault)))
            return
        self._play_once(fault)

    def _play_once(self, fault: StreamFault) -> None:
        connections = list(self.connections[fault.stream])
        if fault.action == "drop":
            for connection in connections:
                self.unregister(connection)  # before the client can reconnect (406 must not see a ghost)
                connection.abort()
        elif fault.action == "mute":
            until = math.inf if not fault.ms else asyncio.get_running_loop().time() + fault.ms / 1000
            for connection in connections:
                connection.muted_until = until
        elif fault.action == "malformed":
            for connection in connections:
                for _ in range(fault.count):
                    connection.send_malformed()

    async def _repeat(self, fault: StreamFault) -> None:
        while True:
            await asyncio.sleep(fault.every_ms / 1000)
            self._play_once(fault)

    def inject(self, fault: StreamFault) -> None:
        """Thread-safe :meth:`apply` (``MockBroker.stream_fault``)."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the streams are not running")
        asyncio.run_coroutine_threadsafe(self._apply_async(fault), loop).result(5)

    async def _apply_async(self, fault: StreamFault) -> None:
        self.apply(fault)

    # ------------------------------------------------------------------------------- trade updates
    def _on_order_event(self, event: str, order: Any, extra: dict[str, str]) -> None:
        """Called by the engine, under its lock, on every order state change."""
        from tradebridge_mocks.broker.streams.trading import trade_update

        loop = self._loop
        if loop is None or loop.is_closed():
            return
        # nobody listening: no snapshot to take (list() copies the set atomically under the GIL)
        if not any(c.ready() for c in list(self.connections["trading"])):
            return
        try:
            message = trade_update(event, order, extra)  # the order's REST JSON now, inside the engine's lock
            loop.call_soon_threadsafe(self._publish_trade_update, message)
        except Exception:  # a stream problem must never fail the order that caused the event
            log.exception("trade update %s of order %s not published", event, getattr(order, "id", "?"))

    def _publish_trade_update(self, message: dict[str, Any]) -> None:
        from tradebridge_mocks.broker.streams.trading import TradingConnection

        self.count("trading", "trade_updates")
        for connection in self.connections["trading"]:
            if isinstance(connection, TradingConnection) and connection.listens("trade_updates"):
                connection.send_json(message)


HUB_KEY = web.AppKey("stream_hub", StreamHub)


async def admin_stream_faults(request: web.Request) -> web.Response:
    """``POST /admin/streams/faults`` with one fault object or ``{"faults": [...]}``; answers the counters."""
    import json

    hub = request.app[HUB_KEY]
    try:
        body = await request.json()
        items = body["faults"] if isinstance(body, dict) and "faults" in body else [body]
        if not isinstance(items, list):
            raise FaultError("faults must be a list")
        faults = [StreamFault.from_json(item) for item in items]
    except FaultError as exc:
        return _error(400, exc.code, str(exc))
    except (ValueError, TypeError) as exc:  # not JSON, or a field of the wrong type
        return _error(400, FaultError.code, f"invalid fault: {exc}")
    for fault in faults:
        hub.apply(fault)
    return web.Response(text=json.dumps(hub.stats()), content_type="application/json")


async def admin_streams(request: web.Request) -> web.Response:
    """``GET /admin/streams``: open connections and counters per stream."""
    import json

    return web.Response(text=json.dumps(request.app[HUB_KEY].stats()), content_type="application/json")


def _error(status: int, code: int, message: str) -> web.Response:
    import json

    return web.Response(
        status=status, text=json.dumps({"code": code, "message": message}), content_type="application/json"
    )
