"""Our adapter against the running mock broker over loopback: the guide's flow, retries and rate limits
under injected faults, and proof that no order is ever submitted twice."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from decimal import Decimal

import pytest
from tradebridge.alpaca import (
    AlpacaPaperTrading,
    BrokerUnavailableError,
    InsufficientFundsError,
    NotFoundError,
    OrderRejectedError,
    OrderType,
    RetryPolicy,
)
from tradebridge.contracts import BarUpdate
from tradebridge.errors import BrokerError, RateLimitError
from tradebridge.testing import free_port
from tradebridge_mocks.broker import Fault, MockBroker
from tradebridge_mocks.market import Market

from tests.alpaca.conftest import API_KEY, FAST_RETRY, SECRET_KEY


def orders_in_broker(broker: MockBroker) -> list[str]:
    return [o.client_order_id for o in broker.state.engine.account.orders.values()]


def test_the_guides_flow(broker: MockBroker, adapter: AlpacaPaperTrading) -> None:
    metrics = adapter.get_portfolio_metrics()
    assert (metrics.cash, metrics.total_pl, metrics.positions_count) == (100000, 0, 0)

    order = adapter.place_order(
        symbol="AAPL", qty=10, side="buy", order_type=OrderType.LIMIT, limit_price=1.0, time_in_force="gtc"
    )
    assert order["status"] == "new" and order["id"]
    assert [o.id for o in adapter.get_orders()] == [order["id"]]
    assert adapter.cancel_order(order["id"]) is True
    assert adapter.get_order(order["id"]).status == "canceled"

    bought = adapter.place_order("AAPL", 10, "buy", OrderType.MARKET)
    shorted = adapter.place_order("MSFT", 5, "sell")
    assert bought.status == shorted.status == "filled"
    broker.set_price("AAPL", float(bought.filled_avg_price + 2))  # +2 a share on the long
    broker.set_price("MSFT", float(shorted.filled_avg_price + 1))  # -1 a share on the short

    positions = {p.symbol: p for p in adapter.get_positions()}
    aapl, msft = positions["AAPL"], positions["MSFT"]
    assert (aapl.qty, aapl.side, aapl.unrealized_pl) == (10, "long", Decimal(20))
    assert (msft.qty, msft.side, msft.unrealized_pl) == (-5, "short", Decimal(-5))
    assert msft.unrealized_pl_pct == (Decimal(-5) / (5 * shorted.filled_avg_price) * 100).quantize(
        Decimal("0.0001")
    )
    assert msft.cost_basis == -5 * shorted.filled_avg_price and msft.market_value == -5 * msft.current_price

    metrics = adapter.get_portfolio_metrics()
    assert metrics.positions_count == 2 and metrics.total_pl == Decimal(15)
    assert metrics.total_equity == metrics.cash + metrics.long_market_value + metrics.short_market_value
    assert metrics.day_pl == metrics.total_equity - 100000

    quote = adapter.get_latest_quote("AAPL")
    assert quote["ask_price"] - quote["bid_price"] == pytest.approx(0.02)

    closed = adapter.close_position("AAPL", qty=4)
    assert closed.side == "sell" and closed.qty == 4
    results = adapter.close_all_positions()
    assert sorted((r.symbol, r.ok) for r in results) == [("AAPL", True), ("MSFT", True)]
    assert adapter.get_positions() == []
    with pytest.raises(NotFoundError) as info:
        adapter.get_position("AAPL")
    assert (info.value.status_code, info.value.code) == (404, 40410000)


def test_close_all_cancels_open_orders(adapter: AlpacaPaperTrading) -> None:
    adapter.place_order("AAPL", 2, "buy")
    resting = adapter.place_order("GOOGL", 1, "buy", OrderType.LIMIT, limit_price=1.0)
    adapter.close_all_positions()
    assert adapter.get_order(resting.id).status == "canceled"
    assert adapter.get_orders() == [] and adapter.get_positions() == []


def test_historical_bars_are_bar_update_contracts(adapter: AlpacaPaperTrading) -> None:
    bars = adapter.get_historical_bars("AAPL", start=datetime(2025, 1, 1), timeframe="1Min")
    reference = Market(["AAPL"], seed=7).walk("AAPL").next_bars(5)
    assert all(isinstance(b, BarUpdate) for b in bars)
    assert [b.close for b in bars] == list(reference.close)
    assert [b.timestamp for b in bars] == list(reference.timestamp)
    assert bars[0]["type"] == "BarUpdate" and bars[0]["symbol"] == "AAPL"
    (daily,) = adapter.get_historical_bars("AAPL", start=datetime(2025, 1, 1), end=datetime(2025, 1, 3))
    assert daily.close == reference.close[-1] and daily.high == reference.high.max()


def test_broker_refusals_become_typed_errors(adapter: AlpacaPaperTrading) -> None:
    with pytest.raises(InsufficientFundsError) as info:
        adapter.place_order("AAPL", 1_000_000, "buy")
    assert (info.value.status_code, info.value.code, info.value.message) == (
        403,
        40310000,
        "insufficient buying power",
    )
    assert info.value.details["buying_power"] == "100000"  # type: ignore[attr-defined]
    adapter.place_order("AAPL", 1, "buy", client_order_id="mine-1")
    with pytest.raises(OrderRejectedError) as dup:
        adapter.place_order("AAPL", 1, "buy", client_order_id="mine-1")
    assert (dup.value.status_code, dup.value.code) == (422, 40010001)
    assert len(adapter.get_orders("all")) == 1


def test_after_commit_failures_never_duplicate_an_order(
    broker: MockBroker, adapter: AlpacaPaperTrading
) -> None:
    # the order is created, then the answer is lost (503), twice in a row: the adapter retries with the same
    # client_order_id, the broker refuses the duplicate, the adapter finds the first order
    broker.inject(Fault(status=503, when="after", method="POST", path="/v2/orders", count=2))
    order = adapter.place_order("AAPL", 3, "buy")
    assert order.status == "filled" and order.qty == 3
    assert orders_in_broker(broker) == [order.client_order_id]
    posts = [r for r in broker.requests if r.method == "POST"]
    # the second attempt was also refused as a duplicate, but that answer was lost too
    assert [r.status for r in posts] == [503, 503, 422]
    assert [r.path for r in broker.requests][-1] == "/v2/orders:by_client_order_id"
    assert adapter.get_position("AAPL").qty == 3


def test_before_commit_failures_are_retried(broker: MockBroker, adapter: AlpacaPaperTrading) -> None:
    broker.inject(Fault(status=502, when="before", method="POST", path="/v2/orders", count=2))
    order = adapter.place_order("MSFT", 2, "buy")
    assert order.status == "filled"
    assert [r.status for r in broker.requests if r.method == "POST"] == [502, 502, 200]
    assert orders_in_broker(broker) == [order.client_order_id]
    stats = adapter.stats
    assert (stats["trading_requests"], stats["trading_retries"], stats["data_requests"]) == (3, 2, 0)
    assert stats["trading_backoff_seconds"] > 0


def test_random_faults_many_orders_no_duplicates() -> None:
    with MockBroker(seed=5, error_rate=0.3) as broker:
        adapter = AlpacaPaperTrading(
            API_KEY,
            SECRET_KEY,
            base_url=broker.url,
            rate_limit_per_minute=None,
            retry=RetryPolicy(max_attempts=9, base_delay=0.001, max_delay=0.004),
        )
        placed = [adapter.place_order("AAPL", 1, "buy") for _ in range(25)]
        faults = sum(1 for r in broker.requests if r.status >= 500)
        assert faults > 5  # the faults did happen
        assert len({o.id for o in placed}) == 25
        assert sorted(orders_in_broker(broker)) == sorted(o.client_order_id for o in placed)
        broker.state.config.error_rate = 0.0
        assert adapter.get_position("AAPL").qty == 25


def test_exhausted_retries_raise_broker_error_and_leave_no_order(broker: MockBroker) -> None:
    adapter = AlpacaPaperTrading(
        API_KEY,
        SECRET_KEY,
        base_url=broker.url,
        retry=RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002),
    )
    broker.inject(Fault(status=500, when="before", count=10))
    with pytest.raises(BrokerError) as info:
        adapter.get_account_info()
    assert info.value.status_code == 500 and info.value.code == 50010000
    assert len(broker.requests) == 3


def test_server_rate_limit_is_waited_out_with_the_reset_header() -> None:
    with MockBroker(seed=2, rate_limit=4, rate_window=1.0) as broker:
        adapter = AlpacaPaperTrading(
            API_KEY, SECRET_KEY, base_url=broker.url, rate_limit_per_minute=None, retry=FAST_RETRY
        )
        started = time.monotonic()
        for _ in range(6):
            adapter.get_account_info()
        statuses = [r.status for r in broker.requests]
        assert statuses.count(429) >= 1 and statuses.count(200) == 6
        assert time.monotonic() - started < 4.0


def test_server_rate_limit_exhausted_raises_rate_limit_error() -> None:
    with MockBroker(seed=2, rate_limit=1, rate_window=60.0) as broker:
        adapter = AlpacaPaperTrading(
            API_KEY,
            SECRET_KEY,
            base_url=broker.url,
            rate_limit_per_minute=None,
            retry=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002, budget=0.01),
        )
        adapter.get_account_info()
        with pytest.raises(RateLimitError) as info:
            adapter.get_account_info()
        assert info.value.status_code == 429


def test_client_side_limiter_keeps_under_the_broker_limit() -> None:
    # the broker allows 5 requests per 0.5 s window; 360/min with a burst of 1 is at most 4 per window
    with MockBroker(seed=2, rate_limit=5, rate_window=0.5) as broker:
        unlimited = AlpacaPaperTrading(
            API_KEY,
            SECRET_KEY,
            base_url=broker.url,
            rate_limit_per_minute=None,
            retry=RetryPolicy(max_attempts=1),
        )
        with pytest.raises(RateLimitError):
            for _ in range(12):
                unlimited.get_account_info()
        time.sleep(0.6)
        broker.state.requests.clear()
        limited = AlpacaPaperTrading(
            API_KEY,
            SECRET_KEY,
            base_url=broker.url,
            rate_limit_per_minute=360,
            rate_limit_burst=1,
            retry=RetryPolicy(max_attempts=1),
        )
        for _ in range(12):
            limited.get_account_info()
        assert [r.status for r in broker.requests] == [200] * 12


def test_timeouts_and_unreachable_brokers(broker: MockBroker) -> None:
    port = free_port()
    adapter = AlpacaPaperTrading(
        API_KEY,
        SECRET_KEY,
        base_url=f"http://127.0.0.1:{port}",
        retry=RetryPolicy(max_attempts=2, base_delay=0.001),
    )
    with pytest.raises(BrokerUnavailableError):
        adapter.get_account_info()
    with pytest.raises(BrokerUnavailableError):
        adapter.place_order("AAPL", 1, "buy")

    broker.state.config.latency_ms = 800
    slow = AlpacaPaperTrading(
        API_KEY, SECRET_KEY, base_url=broker.url, timeout=0.1, retry=RetryPolicy(max_attempts=1)
    )
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError, match="timed out"):
        slow.get_account_info()
    assert time.monotonic() - started < 0.6  # the 0.1 s timeout, not the 0.8 s answer


def test_timeout_on_submit_finds_the_order_that_went_through(broker: MockBroker) -> None:
    # the POST is handled but answered too late (the client times out): with no retries left, the adapter
    # asks the broker by client_order_id and returns the order that went through
    broker.inject(Fault(status=0, when="after", method="POST", path="/v2/orders", delay_ms=400))
    adapter = AlpacaPaperTrading(
        API_KEY, SECRET_KEY, base_url=broker.url, timeout=0.15, retry=RetryPolicy(max_attempts=1)
    )
    order = adapter.place_order("GOOGL", 2, "buy")
    assert order.qty == 2 and order.status == "filled"
    assert orders_in_broker(broker) == [order.client_order_id]

    # with retries, the resent POST is refused as a duplicate and the first order is found the same way
    broker.inject(Fault(status=0, when="after", method="POST", path="/v2/orders", delay_ms=400))
    retrying = AlpacaPaperTrading(API_KEY, SECRET_KEY, base_url=broker.url, timeout=0.15, retry=FAST_RETRY)
    second = retrying.place_order("GOOGL", 1, "buy")
    assert second.qty == 1
    assert orders_in_broker(broker) == [order.client_order_id, second.client_order_id]
    assert [r.status for r in broker.requests if r.method == "POST"][-1] == 422


def test_secrets_never_leak(broker: MockBroker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = AlpacaPaperTrading(API_KEY, SECRET_KEY, base_url=broker.url, retry=FAST_RETRY)
    broker.inject(Fault(status=503, when="before", count=2))
    adapter.get_account_info()
    texts = [repr(adapter), str(adapter), caplog.text]
    for call in (
        lambda: adapter.place_order("AAPL", 10_000_000, "buy"),
        lambda: adapter.get_position("MSFT"),
        lambda: AlpacaPaperTrading(
            API_KEY, SECRET_KEY, base_url=f"http://127.0.0.1:{free_port()}", retry=FAST_RETRY
        ).get_clock(),
    ):
        with pytest.raises(Exception) as info:
            call()
        texts += [str(info.value), repr(info.value), "".join(info.getrepr(chain=True).__str__())]
    joined = "\n".join(texts)
    assert SECRET_KEY not in joined and API_KEY not in joined
