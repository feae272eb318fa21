"""The mock broker as a process (``tradebridge mock-broker``) and following BarUpdates on a real bus."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal

import pytest
import zmq
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockLatestTradeRequest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderStatus
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest
from tradebridge.contracts import BarUpdate, encode_frame
from tradebridge.testing import Service, free_port
from tradebridge_mocks.broker import MockBroker
from tradebridge_mocks.market import Market

from tests.alpaca.conftest import API_KEY, SECRET_KEY, with_timeout


def start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tradebridge.cli", "mock-broker", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def cli_broker() -> Iterator[tuple[Service, str, int]]:
    health_port = free_port()
    argv = [sys.executable, "-m", "tradebridge.cli", "mock-broker", "--port", "0", "--seed", "4",
            "--symbols", "AAPL", "MSFT", "--bar-interval", "0.05", "--rate-limit", "0",
            "--health-port", str(health_port)]  # fmt: skip
    # it prints its URL (the port it got) once it listens
    with Service("mock-broker", argv, ready_line=r"^(http://127\.0\.0\.1:\d+)\s*$") as process:
        assert process.ready_match is not None
        yield process, process.ready_match.group(1), health_port


def test_cli_serves_the_seeded_walk_and_stops_cleanly(
    cli_broker: tuple[Service, str, int],
) -> None:
    process, url, health_port = cli_broker
    trading = with_timeout(TradingClient(API_KEY, SECRET_KEY, paper=True, url_override=url))
    data = with_timeout(StockHistoricalDataClient(API_KEY, SECRET_KEY, url_override=url))
    assert trading.get_account().cash == "100000"
    walk = Market(["AAPL"], seed=4).walk("AAPL")
    path = {round(walk.last_close, 2), *walk.next_bars(400).close.tolist()}  # start price, then closes

    seen: list[float] = []

    def moved() -> bool:
        price = data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="AAPL"))["AAPL"].price
        seen.append(price)
        return len(set(seen)) >= 3

    wait_for(moved)  # one bar every 50 ms: the price walks
    assert set(seen) <= path  # and it walks exactly the shared seeded path

    order = trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="day"))
    assert order.status == OrderStatus.FILLED
    health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{health_port}/health", timeout=5).read())
    assert health["status"] == "healthy" and health["metrics"]["broker_orders"] == "1"

    assert process.stop(grace=10) == 0
    assert SECRET_KEY not in process.output()


def test_cli_reports_a_port_it_cannot_bind() -> None:
    with MockBroker() as taken:
        port = taken.url.rsplit(":", 1)[1]
        process = start_cli("--port", port)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err


def test_cli_reports_a_bad_market_endpoint() -> None:
    process = start_cli("--port", "0", "--market-endpoint", "not-an-endpoint")
    out, err = process.communicate(timeout=20)
    assert process.returncode == 1 and out == ""
    assert err.strip().splitlines()[-1].startswith("mock-broker: cannot connect to the market endpoint")


def test_cli_rejects_bad_options() -> None:
    process = start_cli("--rate-limit", "fast")
    _, err = process.communicate(timeout=20)
    assert process.returncode == 2 and "N/min" in err


def test_following_the_bus_fills_at_the_bars_a_strategy_sees() -> None:
    port = free_port()
    context = zmq.Context()
    publisher = context.socket(zmq.PUB)
    publisher.setsockopt(zmq.LINGER, 0)
    publisher.bind(f"tcp://127.0.0.1:{port}")
    walk = Market(["AAPL"], seed=10).walk("AAPL")
    generated = walk.next_bars(3)
    bars = [
        BarUpdate(
            symbol="AAPL",
            open=float(generated.open[i]),
            high=float(generated.high[i]),
            low=float(generated.low[i]),
            close=float(generated.close[i]),
            volume=float(generated.volume[i]),
            timestamp=int(generated.timestamp[i]),
        )
        for i in range(3)
    ]
    try:
        with MockBroker(seed=10, market_endpoint=f"tcp://127.0.0.1:{port}") as broker:
            prices = broker.state.prices

            def publish_until_seen(bar: BarUpdate) -> None:
                def seen() -> bool:
                    publisher.send(encode_frame(bar))  # repeated: the subscriber may still be joining
                    return bool(prices.bars("AAPL")) and prices.bars("AAPL")[-1].timestamp_ms == bar.timestamp

                wait_for(seen)

            publisher.send(b"market {not json")  # garbage on the bus is logged and skipped
            publish_until_seen(bars[0])
            trading = with_timeout(TradingClient(API_KEY, SECRET_KEY, paper=True, url_override=broker.url))
            order = trading.submit_order(
                MarketOrderRequest(symbol="AAPL", qty=2, side="buy", time_in_force="day")
            )
            close = Decimal(repr(bars[0].close))
            assert Decimal(order.filled_avg_price) == close + Decimal("0.01")  # the ask over the bar's close

            # seed 10 closes at 375.87, 376.71, 376.76: a sell limit at 376.75 rests until the third bar's bid
            assert [b.close for b in bars] == [375.87, 376.71, 376.76]
            resting = trading.submit_order(
                LimitOrderRequest(symbol="AAPL", qty=1, side="sell", time_in_force="gtc", limit_price=376.75)
            )
            assert resting.status == OrderStatus.NEW
            publish_until_seen(bars[1])
            assert trading.get_order_by_id(resting.id).status == OrderStatus.NEW  # bid 376.70
            publish_until_seen(bars[2])
            filled = trading.get_order_by_id(resting.id)
            assert filled.status == OrderStatus.FILLED and filled.filled_avg_price == "376.75"
            assert [b.timestamp_ms for b in prices.bars("AAPL")] == [b.timestamp for b in bars]
    finally:
        publisher.close(0)
        context.term()
