"""Running the mock broker: as ``tradebridge mock-broker`` or in-process (``MockBroker``, for pytest).

Prices move by one of three clocks, never two at once:

* ``--market-endpoint tcp://...``: the broker subscribes to the bus (topic ``market``) and every BarUpdate it
  receives becomes that symbol's latest bar, so fills agree exactly with the bars a strategy sees;
* otherwise ``--bar-interval S`` (> 0): every S seconds each known symbol takes the next bar of its seeded
  walk (the same bars ``tradebridge mock-publisher`` emits for the same ``--seed``);
* with neither, prices move only through ``POST /admin/advance`` and ``POST /admin/price`` (or
  ``MockBroker.advance()`` / ``set_price()``), which is what deterministic tests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from tradebridge.health import HttpStats, LimitedSite

from tradebridge_mocks.broker.clock import ManualClock
from tradebridge_mocks.broker.prices import Bar, to_price
from tradebridge_mocks.broker.server import (
    BrokerConfig,
    BrokerState,
    Fault,
    RequestRecord,
    build_app,
    make_state,
)
from tradebridge_mocks.broker.streams import StreamFault, StreamHub, install

log = logging.getLogger("tradebridge_mocks.broker")


async def _bar_clock(state: BrokerState, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        state.advance(1)


async def _session_clock(state: BrokerState, interval: float = 0.25) -> None:
    """A wall clock moves on its own: the session's edges (open, close, ...) are played as they pass."""
    from tradebridge_mocks.broker import session

    while True:
        await asyncio.sleep(interval)
        with state.engine.lock:
            session.play(state.engine)


class BusFollower:
    """Takes prices from the BarUpdates on the bus (the mock publisher's, or a real feed's).

    The socket connects in the constructor, so a malformed endpoint fails the broker's start-up (one-line
    reason, non-zero exit) instead of a background task dying quietly.
    """

    def __init__(self, state: BrokerState, endpoint: str) -> None:
        import zmq
        import zmq.asyncio

        self.state = state
        self.endpoint = endpoint
        self._context = zmq.asyncio.Context()
        self._socket = self._context.socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.SUBSCRIBE, b"market")
        try:
            self._socket.connect(endpoint)
        except zmq.ZMQError as exc:
            self.close()
            raise OSError(f"cannot connect to the market endpoint {endpoint!r}: {exc}") from None

    def close(self) -> None:
        self._socket.close(0)
        self._context.term()

    async def run(self) -> None:
        from tradebridge.contracts import BarUpdate, decode_frame
        from tradebridge.errors import ContractError

        log.info("following BarUpdates on %s", self.endpoint)
        try:
            while True:
                frame = await self._socket.recv()
                try:
                    topic, message = decode_frame(frame)
                except ContractError as exc:
                    log.warning("ignoring an invalid frame from %s: %s", self.endpoint, exc)
                    continue
                if topic != "market" or not isinstance(message, BarUpdate):
                    continue
                bar = Bar(
                    message.timestamp, message.open, message.high, message.low, message.close, message.volume
                )
                with self.state.engine.lock:
                    self.state.prices.apply_bar(message.symbol, bar)
                    self.state.engine.on_prices([message.symbol])
        finally:
            self.close()


def broker_stats(state: BrokerState) -> dict[str, int]:
    """Counters shown on ``/health`` and ``/metrics`` of ``--health-port``."""
    with state.engine.lock:
        account = state.engine.account
        return {
            "orders": len(account.orders),
            "open_orders": len(account.orders.open_orders()),
            "positions": len(account.positions),
            "requests": len(state.requests),
            "bars": sum(len(state.prices.bars(s)) for s in state.prices.symbols),
        }


async def _start_health(state: BrokerState, port: int, host: str, http: HttpStats) -> Any:
    from tradebridge.health import HealthCheck, start_health_server

    health = HealthCheck("mock-broker").with_metric("seed", state.config.seed)
    health.with_metric("price_source", "bus" if state.config.market_endpoint else "seeded walk")
    health.track("broker", lambda: broker_stats(state))
    # The broker port's connection cap at work: tradebridge_connections_refused_total{source="http"}.
    health.track("http", http.as_dict)
    return await start_health_server(port, health, host, in_thread=False)


class BrokerServer:
    """The aiohttp site plus the price clock, inside one running event loop."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.state = make_state(config)
        self.streams = StreamHub(self.state, config.streams)
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._health: Any = None
        self.site: LimitedSite | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    async def start(self) -> None:
        app = build_app(self.state)
        install(app, self.streams)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self.site = LimitedSite(self._runner, self.config.host, self.config.port, self.config.http_limits)
        await self.site.start()
        self.port = self.site.port
        await self.streams.start()
        if self.config.market_endpoint:
            follower = BusFollower(self.state, self.config.market_endpoint)
            self._tasks.append(asyncio.create_task(follower.run()))
        elif self.config.bar_interval > 0:
            self._tasks.append(asyncio.create_task(_bar_clock(self.state, self.config.bar_interval)))
        if not self.state.engine.calendar.always_open:
            self._tasks.append(asyncio.create_task(_session_clock(self.state)))
        if self.config.health_port:
            self._health = await _start_health(
                self.state, self.config.health_port, self.config.host, self.site.stats
            )

    async def stop(self) -> None:
        await self.streams.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._health is not None:
            await self._health.stop()
            self._health = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class MockBroker:
    """The mock broker on a background thread, for tests and scripts: ``with MockBroker() as broker: ...``.

    ``broker.url`` is the bare origin to give alpaca-py as ``url_override`` (trading and data alike).
    """

    def __init__(self, config: BrokerConfig | None = None, **options: Any) -> None:
        if config is None:
            config = BrokerConfig(**options)
        elif options:
            raise TypeError("give either a BrokerConfig or keyword options, not both")
        self._server = BrokerServer(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> BrokerConfig:
        return self._server.config

    @property
    def state(self) -> BrokerState:
        return self._server.state

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def ws_url(self) -> str:
        """``ws://host:port``: add ``/v2/iex`` (or ``/v2/sip``, ``/v2/test``) or ``/stream``."""
        return "ws" + self._server.url[4:]

    @property
    def streams(self) -> StreamHub:
        return self._server.streams

    def start(self) -> MockBroker:
        if self._thread is not None:
            raise RuntimeError("the mock broker is already running")
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._server.start())
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._server.stop())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="mock-broker", daemon=True)
        self._thread.start()
        started.wait(10)
        if failure:
            self._thread.join(5)
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> MockBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------------- test controls (thread-safe)
    def advance(self, bars: int = 1, symbols: list[str] | None = None) -> None:
        """Step the seeded walk ``bars`` bars and work the open orders against the new quotes."""
        self.state.advance(bars, symbols)

    def set_price(self, symbol: str, price: float | Decimal) -> None:
        """Move ``symbol``'s last trade (bid/ask follow at the half spread) and work its open orders."""
        with self.state.engine.lock:
            self.state.prices.set_price(symbol, to_price(float(price)))
            self.state.engine.on_prices([symbol])

    def inject(self, *faults: Fault) -> None:
        """Script failures for the next matching requests (see :class:`Fault`)."""
        self.state.faults.extend(faults)

    def expire_day_orders(self) -> list[str]:
        """Close the session: open ``day`` orders expire (``POST /admin/expire``); their ids."""
        return [o.id for o in self.state.engine.expire_day_orders()]

    def set_time(self, moment: datetime) -> list[str]:
        """Move a manual or replay clock (``clock_start`` given, or ``clock="replay"``) to ``moment`` and play
        the session's edges on the way (``POST /admin/clock``); the names of the edges played."""
        from tradebridge_mocks.broker import session

        engine = self.state.engine
        if not isinstance(engine.clock, ManualClock):
            raise RuntimeError("the broker runs on the wall clock: give clock_start to control time")
        with engine.lock:
            engine.clock.set(moment)
            return session.play(engine)

    def session_event(self, event: str) -> None:
        """Play one session edge now (``open``: the opening auction; ``close``; ``post_close``)."""
        from tradebridge_mocks.broker import session

        with self.state.engine.lock:
            session.edge(self.state.engine, event)
            self.state.engine.on_prices_locked()

    def stream_fault(self, *faults: StreamFault) -> None:
        """Play faults on the WebSocket streams now (see :class:`StreamFault`)."""
        for fault in faults:
            self._server.streams.inject(fault)

    @property
    def requests(self) -> list[RequestRecord]:
        return list(self.state.requests)
