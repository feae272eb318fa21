"""Fixtures of the stream tests: a mock broker with a fast stream clock, the unmodified alpaca-py streaming
clients running on their own event loop in a thread, and a raw WebSocket client for protocol details."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import msgpack
import pytest
from tradebridge_mocks.broker import MockBroker, StreamOptions

API_KEY = "PKSTREAMKEY000000000"
SECRET_KEY = "sEcReT-stream-do-not-leak-77b2"

FAST = StreamOptions(interval=0.05, auth_timeout=5.0)


def wait_for(predicate: Callable[[], Any], timeout: float = 8.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"{what} not reached within {timeout} s")


class ClientThread:
    """An alpaca-py stream (``StockDataStream`` or ``TradingStream``) on its own loop in a thread.

    ``run()`` would own the loop through ``asyncio.run``, and ``stop()`` only takes effect between two 5 s
    receive timeouts of an idle stream; here the private ``_run_forever`` runs as a task that ``close()``
    stops at once (``stop_ws``, then cancel, then the socket closed), so every test ends in milliseconds.
    """

    def __init__(self, stream: Any, fast_reconnect: bool = True) -> None:
        self.stream = stream
        self.received: list[Any] = []
        self.lock = threading.Lock()
        if fast_reconnect:  # alpaca-py waits 1 s doubling to 30 s between reconnects (its #744)
            stream._reconnect_min_backoff = 0.05
            stream._reconnect_max_backoff = 0.2
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="alpaca-stream", daemon=True)
        self.error: BaseException | None = None

    async def handler(self, item: Any) -> None:
        with self.lock:
            self.received.append(item)

    def tagged(self, channel: str) -> Callable[[Any], Any]:
        """A handler that records ``(channel, item)``: parsed daily bars are ``Bar`` models too."""

        async def handler(item: Any) -> None:
            with self.lock:
                self.received.append((channel, item))

        return handler

    def items(self) -> list[Any]:
        with self.lock:
            return list(self.received)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # reported by close()
            self.error = exc

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        task = asyncio.create_task(self.stream._run_forever())
        stop = asyncio.create_task(self._stop.wait())
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        await self.stream.stop_ws()
        task.cancel()
        stop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self.stream.close()

    def start(self) -> ClientThread:
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def close(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        assert not self._thread.is_alive(), "the alpaca-py stream did not stop"
        if self.error is not None:
            raise self.error

    def __enter__(self) -> ClientThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait(self, predicate: Callable[[list[Any]], Any], timeout: float = 8.0, what: str = "items") -> Any:
        return wait_for(lambda: predicate(self.items()), timeout, what)


class RawClient:
    """A bare WebSocket client (aiohttp) that shows every frame as the server sent it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, binary: bool) -> None:
        self.ws = ws
        self.binary = binary

    async def send(self, message: Any) -> None:
        if self.binary:
            await self.ws.send_bytes(msgpack.packb(message))
        else:
            await self.ws.send_str(json.dumps(message))

    async def recv(self, timeout: float = 5.0) -> Any:
        msg = await self.ws.receive(timeout)
        if msg.type == aiohttp.WSMsgType.BINARY:
            if self.binary:
                return msgpack.unpackb(msg.data)
            return json.loads(msg.data)
        if msg.type == aiohttp.WSMsgType.TEXT:
            return json.loads(msg.data)
        return msg  # close / error: the caller checks

    async def recv_until(self, predicate: Callable[[Any], bool], timeout: float = 5.0) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError("expected frame not received")
            frame = await self.recv(left)
            if isinstance(frame, aiohttp.WSMessage):
                raise AssertionError(f"connection ended first: {frame}")
            if predicate(frame):
                return frame


@contextlib.asynccontextmanager
async def raw_client(url: str, binary: bool = False) -> Any:
    headers = {"Content-Type": "application/msgpack"} if binary else {}
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.ws_connect(url, headers=headers, autoclose=False) as ws,
    ):
        yield RawClient(ws, binary)


@pytest.fixture
def broker() -> Iterator[MockBroker]:
    """Prices move only when a test says so (no bar clock), so every printed trade can be checked."""
    with MockBroker(seed=11, symbols=("AAPL", "MSFT"), streams=FAST) as running:
        running.advance(3)
        yield running
