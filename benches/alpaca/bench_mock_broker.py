"""The mock broker's REST throughput: one keep-alive client sends a mix of Alpaca calls (account, orders,
positions, quotes, bars, clock, a submit and its cancel) back to back over loopback, against the same
client driving a bare aiohttp handler that returns a constant body. Prints requests/s, p50/p99 and the
ratio; the bar to clear is 2,000 requests/s with p99 under 10 ms."""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from tradebridge_mocks.broker import MockBroker

REQUESTS = 2_000
HEADERS = {"APCA-API-KEY-ID": "bench", "APCA-API-SECRET-KEY": "bench"}
RESULTS: dict[str, tuple[float, float, float]] = {}


class BareServer:
    """An aiohttp app with one handler answering a constant JSON body, on its own loop and thread."""

    def __init__(self) -> None:
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def constant(request: web.Request) -> web.Response:
            return web.Response(text='{"ok": true}', content_type="application/json")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", constant)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    def __enter__(self) -> BareServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


async def _drive(base: str, n: int) -> list[float]:
    """``n`` requests of the mix, one at a time on one keep-alive connection; each one's latency (s)."""
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(base, headers=HEADERS, connector=connector) as session:

        async def timed(method: str, path: str, **kwargs: Any) -> Any:
            started = time.perf_counter()
            async with session.request(method, path, **kwargs) as answer:
                body = await answer.read()
            latencies.append(time.perf_counter() - started)
            if answer.status >= 500:
                raise AssertionError(f"{method} {path}: {answer.status} {body[:200]!r}")
            return answer, body

        order = {"symbol": "AAPL", "qty": 1, "side": "buy", "type": "limit", "time_in_force": "day"}
        order["limit_price"] = 1.0
        while len(latencies) < n:
            await timed("GET", "/v2/account")
            await timed("GET", "/v2/stocks/quotes/latest", params={"symbols": "AAPL,MSFT"})
            await timed("GET", "/v2/orders")
            await timed("GET", "/v2/positions")
            answer, body = await timed("POST", "/v2/orders", json=order)
            if answer.headers.get("Content-Type", "").startswith("application/json") and b'"id"' in body:
                await timed("DELETE", f"/v2/orders/{json.loads(body)['id']}")
            await timed(
                "GET", "/v2/stocks/bars", params={"symbols": "AAPL", "timeframe": "1Min", "limit": "50"}
            )
            await timed("GET", "/v2/clock")
    return latencies[:n]


def _measure(base: str) -> tuple[float, float, float]:
    started = time.perf_counter()
    latencies = asyncio.run(_drive(base, REQUESTS))
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return REQUESTS / elapsed, quantiles[49] * 1000, quantiles[98] * 1000


@pytest.fixture(scope="module")
def broker() -> Iterator[MockBroker]:
    with MockBroker(seed=1, initial_cash=Decimal(10**9)) as running:
        running.advance(60)
        yield running


@pytest.mark.parametrize("target", ["bare-aiohttp", "mock-broker"])
def test_rest_throughput(benchmark: Any, broker: MockBroker, target: str) -> None:
    benchmark.group = "mock broker REST (mixed, one client)"
    if target == "mock-broker":
        RESULTS[target] = benchmark.pedantic(_measure, args=(broker.url,), rounds=1, iterations=1)
    else:
        with BareServer() as bare:
            RESULTS[target] = benchmark.pedantic(
                _measure, args=(f"http://127.0.0.1:{bare.port}",), rounds=1, iterations=1
            )
    rate, p50, p99 = RESULTS[target]
    print(f"\n{target}: {rate:,.0f} requests/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    if len(RESULTS) == 2:
        mock, bare_rate = RESULTS["mock-broker"][0], RESULTS["bare-aiohttp"][0]
        ratio = mock / bare_rate
        print(f"mock broker / bare aiohttp throughput: {ratio:.2f} (bar: 2,000 requests/s, p99 < 10 ms)")
