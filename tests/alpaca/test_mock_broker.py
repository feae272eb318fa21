"""The mock broker seen through the unmodified alpaca-py clients, over loopback.

Each test drives the real ``TradingClient``/``StockHistoricalDataClient`` (pydantic models included, so every
answer is also checked against alpaca-py's parsing) and checks paper semantics: fills at the quote, resting
orders, shorts, partial closes, close-all and each refusal with Alpaca's status and code.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import numpy as np
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import (
    StockBarsRequest,
    StockLatestBarRequest,
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
)
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderStatus, PositionSide, QueryOrderStatus
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    StopOrderRequest,
    TrailingStopOrderRequest,
)
from tradebridge_mocks.broker import MockBroker
from tradebridge_mocks.market import Market

from tests.alpaca.conftest import API_KEY, SECRET_KEY, with_timeout


def market(symbol: str, qty: float, side: str, **extra: object) -> MarketOrderRequest:
    return MarketOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force="day", **extra)


def quote(data: StockHistoricalDataClient, symbol: str) -> tuple[Decimal, Decimal]:
    q = data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=symbol))[symbol]
    return Decimal(str(q.bid_price)), Decimal(str(q.ask_price))


def refusal(call: object) -> APIError:
    with pytest.raises(APIError) as info:
        call()  # type: ignore[operator]
    return info.value


def test_full_session_of_buys(trading: TradingClient, data: StockHistoricalDataClient) -> None:
    account = trading.get_account()
    assert (account.cash, account.equity, account.buying_power) == ("100000", "100000", "100000")
    fills = {}
    for symbol, qty in (("AAPL", 10), ("MSFT", 5), ("AAPL", 4)):
        _, ask = quote(data, symbol)
        order = trading.submit_order(market(symbol, qty, "buy"))
        assert order.status == OrderStatus.FILLED
        assert Decimal(order.filled_avg_price) == ask  # market buys fill at the ask
        assert Decimal(order.filled_qty) == qty
        fills.setdefault(symbol, []).append((qty, ask))

    positions = {p.symbol: p for p in trading.get_all_positions()}
    assert set(positions) == {"AAPL", "MSFT"}
    aapl = positions["AAPL"]
    assert aapl.qty == "14" and aapl.side == PositionSide.LONG
    expected_avg = sum(q * p for q, p in fills["AAPL"]) / 14
    assert Decimal(aapl.avg_entry_price) == expected_avg.quantize(Decimal("0.0001")).normalize()
    bid, ask = quote(data, "AAPL")
    last = (bid + ask) / 2  # half-spread quotes: the last trade is the mid
    assert Decimal(aapl.current_price) == last
    assert Decimal(aapl.unrealized_pl) == (14 * last - Decimal(aapl.cost_basis)).quantize(Decimal("0.01"))

    account = trading.get_account()
    spent = sum(q * p for legs in fills.values() for q, p in legs)
    assert Decimal(account.cash) == 100000 - spent
    assert Decimal(account.equity) == Decimal(account.cash) + Decimal(account.long_market_value)
    assert trading.get_order_by_client_id(order.client_order_id).id == order.id
    assert trading.get_order_by_id(order.id).status == OrderStatus.FILLED


def test_resting_limit_order_fills_when_the_price_reaches_it(
    broker: MockBroker, trading: TradingClient
) -> None:
    last = broker.state.prices.last("AAPL")
    limit = (last - 5).quantize(Decimal("0.01"))
    order = trading.submit_order(
        LimitOrderRequest(symbol="AAPL", qty=3, side="buy", time_in_force="gtc", limit_price=float(limit))
    )
    assert order.status == OrderStatus.NEW
    assert [o.id for o in trading.get_orders()] == [order.id]
    assert Decimal(trading.get_account().buying_power) == 100000 - 3 * limit  # reserved by the open order

    broker.set_price("AAPL", float(limit + Decimal("0.50")))  # ask above the limit: still resting
    assert trading.get_order_by_id(order.id).status == OrderStatus.NEW
    broker.set_price("AAPL", float(limit - Decimal("0.50")))  # ask = last + 0.01 <= limit: fills at the ask
    filled = trading.get_order_by_id(order.id)
    assert filled.status == OrderStatus.FILLED
    assert Decimal(filled.filled_avg_price) == limit - Decimal("0.49")
    assert trading.get_orders() == []


def test_resting_limit_order_is_canceled(trading: TradingClient) -> None:
    order = trading.submit_order(
        LimitOrderRequest(symbol="MSFT", qty=2, side="buy", time_in_force="day", limit_price=1.0)
    )
    assert order.status == OrderStatus.NEW
    trading.cancel_order_by_id(order.id)
    canceled = trading.get_order_by_id(order.id)
    assert canceled.status == OrderStatus.CANCELED and canceled.canceled_at is not None
    assert trading.get_orders() == []
    closed = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))
    assert [o.id for o in closed] == [order.id]
    assert Decimal(trading.get_account().buying_power) == 100000  # reservation released
    again = refusal(lambda: trading.cancel_order_by_id(order.id))
    assert (again.status_code, again.code) == (422, 42210000)
    assert again.message == 'order is already in "canceled" state'


def test_short_position_and_its_pnl(
    broker: MockBroker, trading: TradingClient, data: StockHistoricalDataClient
) -> None:
    bid, _ = quote(data, "MSFT")
    order = trading.submit_order(market("MSFT", 4, "sell"))
    assert order.status == OrderStatus.FILLED and Decimal(order.filled_avg_price) == bid
    assert order.position_intent.value == "sell_to_open"
    position = trading.get_open_position("MSFT")
    assert position.side == PositionSide.SHORT and position.qty == "-4"
    assert Decimal(position.cost_basis) == -4 * bid

    broker.set_price("MSFT", float(bid - 2))  # the price falls: a short gains
    position = trading.get_open_position("MSFT")
    assert Decimal(position.market_value) == -4 * (bid - 2)
    assert Decimal(position.unrealized_pl) == Decimal(8)
    assert Decimal(position.unrealized_plpc) > 0
    account = trading.get_account()
    assert Decimal(account.cash) == 100000 + 4 * bid  # short proceeds are cash
    assert Decimal(account.short_market_value) == -4 * (bid - 2)
    assert Decimal(account.equity) == 100000 + 8


def test_partial_closes_then_close_all(trading: TradingClient) -> None:
    trading.submit_order(market("AAPL", 10, "buy"))
    trading.submit_order(market("GOOGL", 6, "sell"))
    resting = trading.submit_order(
        LimitOrderRequest(symbol="MSFT", qty=1, side="buy", time_in_force="gtc", limit_price=1.0)
    )

    closed = trading.close_position("AAPL", ClosePositionRequest(qty="4"))
    assert closed.side.value == "sell" and closed.qty == "4" and closed.status == OrderStatus.FILLED
    assert trading.get_open_position("AAPL").qty == "6"
    closed = trading.close_position("GOOGL", ClosePositionRequest(percentage="50"))
    assert closed.side.value == "buy" and Decimal(closed.qty) == 3
    assert trading.get_open_position("GOOGL").qty == "-3"

    results = trading.close_all_positions(cancel_orders=True)
    assert sorted((r.symbol, r.status) for r in results) == [("AAPL", 200), ("GOOGL", 200)]
    assert all(r.body.status == OrderStatus.FILLED for r in results)
    assert trading.get_all_positions() == []
    assert trading.get_order_by_id(resting.id).status == OrderStatus.CANCELED
    account = trading.get_account()
    assert account.cash == account.equity and account.long_market_value == "0"
    assert Decimal(account.cash) < 100000  # the spread was paid on every round trip


def test_refusals_carry_alpacas_status_and_code(broker: MockBroker, trading: TradingClient) -> None:
    too_big = refusal(lambda: trading.submit_order(market("AAPL", 100_000, "buy")))
    assert (too_big.status_code, too_big.code, too_big.message) == (
        403,
        40310000,
        "insufficient buying power",
    )

    first = trading.submit_order(market("AAPL", 1, "buy", client_order_id="same-id"))
    dup = refusal(lambda: trading.submit_order(market("AAPL", 1, "buy", client_order_id="same-id")))
    assert (dup.status_code, dup.code, dup.message) == (422, 40010001, "client_order_id must be unique")
    filled = refusal(lambda: trading.cancel_order_by_id(first.id))
    assert (filled.status_code, filled.code) == (422, 42210000)
    assert filled.message == 'order is already in "filled" state'

    flip = refusal(lambda: trading.submit_order(market("AAPL", 5, "sell")))
    assert (flip.status_code, flip.code) == (403, 40310000)
    assert flip.message.startswith("insufficient qty available for order (requested: 5, available: 1)")

    missing = refusal(lambda: trading.get_open_position("MSFT"))
    assert (missing.status_code, missing.code, missing.message) == (404, 40410000, "position does not exist")
    unknown = refusal(lambda: trading.get_order_by_id("6f1c2d0e-7a0b-4e6e-9a57-2f3b1b9e0c11"))
    assert (unknown.status_code, unknown.code) == (404, 40410000)

    sub_penny = refusal(
        lambda: trading.submit_order(
            LimitOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="day", limit_price=100.123)
        )
    )
    assert (sub_penny.status_code, sub_penny.code) == (422, 42210000)
    assert "sub-penny increment" in sub_penny.message

    resting = trading.submit_order(
        LimitOrderRequest(symbol="MSFT", qty=1, side="sell", time_in_force="gtc", limit_price=9999.0)
    )
    assert resting.status == OrderStatus.NEW and resting.position_intent.value == "sell_to_open"
    wash = refusal(lambda: trading.submit_order(market("MSFT", 1, "buy")))
    assert (wash.status_code, wash.code) == (422, 42210000) and "wash trade" in wash.message
    below = trading.submit_order(  # a bid below the resting offer cannot trade with it: accepted
        LimitOrderRequest(symbol="MSFT", qty=1, side="buy", time_in_force="gtc", limit_price=1.0)
    )
    assert below.status == OrderStatus.NEW
    trading.cancel_orders()
    assert trading.get_orders() == []

    answer = requests.get(f"{broker.url}/v2/account", headers={"APCA-API-KEY-ID": API_KEY}, timeout=5)
    assert answer.status_code == 401 and answer.json() == {"message": "unauthorized."}
    bad_body = requests.post(
        f"{broker.url}/v2/orders",
        json={"symbol": "AAPL", "side": "buy", "type": "market", "time_in_force": "day", "qty": -1},
        headers={"APCA-API-KEY-ID": API_KEY, "APCA-API-SECRET-KEY": SECRET_KEY},
        timeout=5,
    )
    assert bad_body.status_code == 422 and bad_body.json()["code"] == 40010001


def test_shorting_disabled_is_refused() -> None:
    with MockBroker(seed=1, shorting_enabled=False) as broker:
        trading = with_timeout(TradingClient(API_KEY, SECRET_KEY, paper=True, url_override=broker.url))
        error = refusal(lambda: trading.submit_order(market("AAPL", 1, "sell")))
        assert (error.status_code, error.code, error.message) == (
            403,
            40310000,
            "account is not allowed to short",
        )


def test_stop_and_trailing_stop_orders_elect_on_the_price_stream(
    broker: MockBroker, trading: TradingClient
) -> None:
    trading.submit_order(market("AAPL", 4, "buy"))
    last = broker.state.prices.last("AAPL")
    stop = trading.submit_order(
        StopOrderRequest(symbol="AAPL", qty=2, side="sell", time_in_force="gtc", stop_price=float(last - 3))
    )
    trail = trading.submit_order(
        TrailingStopOrderRequest(symbol="AAPL", qty=2, side="sell", time_in_force="gtc", trail_price=2.0)
    )
    assert stop.status == trail.status == OrderStatus.NEW
    assert Decimal(trail.hwm) == last and Decimal(trail.stop_price) == last - 2

    broker.set_price("AAPL", float(last + 5))  # the high-water mark follows the price up
    trail = trading.get_order_by_id(trail.id)
    assert Decimal(trail.hwm) == last + 5 and Decimal(trail.stop_price) == last + 3
    broker.set_price("AAPL", float(last + 2))  # 3 below the high: the trailing stop sells
    assert trading.get_order_by_id(trail.id).status == OrderStatus.FILLED
    assert trading.get_order_by_id(stop.id).status == OrderStatus.NEW
    broker.set_price("AAPL", float(last - 3))
    filled = trading.get_order_by_id(stop.id)
    assert filled.status == OrderStatus.FILLED and Decimal(filled.filled_avg_price) == last - Decimal("3.01")
    assert trading.get_all_positions() == []


def test_partial_fills_complete_on_later_bars() -> None:
    with MockBroker(seed=3, partial_fill_rate=1.0) as broker:
        trading = with_timeout(TradingClient(API_KEY, SECRET_KEY, paper=True, url_override=broker.url))
        order = trading.submit_order(market("AAPL", 100, "buy"))
        assert order.status == OrderStatus.PARTIALLY_FILLED
        assert 0 < Decimal(order.filled_qty) < 100
        assert [o.id for o in trading.get_orders()] == [order.id]  # partially filled is open
        for _ in range(50):
            broker.advance(1)
            order = trading.get_order_by_id(order.id)
            if order.status == OrderStatus.FILLED:
                break
        assert order.status == OrderStatus.FILLED and order.filled_qty == "100"
        assert trading.get_open_position("AAPL").qty == "100"


def test_deferred_fill_mode_accepts_then_fills_or_rejects_on_the_next_bar() -> None:
    with MockBroker(seed=3, fill_mode="deferred") as broker:
        trading = with_timeout(TradingClient(API_KEY, SECRET_KEY, paper=True, url_override=broker.url))
        order = trading.submit_order(market("AAPL", 2, "buy"))
        assert order.status == OrderStatus.ACCEPTED and order.filled_qty == "0"
        assert [o.id for o in trading.get_orders()] == [order.id]  # accepted is open
        broker.advance(1)
        filled = trading.get_order_by_id(order.id)
        assert filled.status == OrderStatus.FILLED
        assert Decimal(filled.filled_avg_price) == broker.state.prices.quote("AAPL").ask

        # accepted while affordable; by the next bar the price has tripled: Alpaca rejects it then
        price = broker.state.prices.last("MSFT")
        shares = int(Decimal(trading.get_account().buying_power) * Decimal("0.8") / price)
        big = trading.submit_order(market("MSFT", shares, "buy"))
        assert big.status == OrderStatus.ACCEPTED
        broker.set_price("MSFT", float(price * 3))
        rejected = trading.get_order_by_id(big.id)
        assert rejected.status == OrderStatus.REJECTED and rejected.failed_at is not None
        assert rejected.filled_qty == "0"
        with pytest.raises(APIError):
            trading.get_open_position("MSFT")


def test_market_data_follows_the_shared_seeded_walk(
    broker: MockBroker, data: StockHistoricalDataClient
) -> None:
    expected = Market(["AAPL", "MSFT"], seed=7)
    reference = {s: expected.walk(s).next_bars(5) for s in ("AAPL", "MSFT")}
    bars = data.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols=["AAPL", "MSFT"], timeframe=TimeFrame.Minute, start=datetime(2025, 1, 1)
        )
    )
    for symbol, ref in reference.items():
        got = bars.data[symbol]
        assert [b.close for b in got] == list(ref.close)
        assert [b.open for b in got] == list(ref.open)
        assert [int(b.timestamp.timestamp() * 1000) for b in got] == list(ref.timestamp)
        assert all(b.vwap is not None and b.low <= b.vwap <= b.high for b in got)

    # limit counts bars across symbols and the client follows next_page_token
    paged = data.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols=["AAPL", "MSFT"],
            timeframe=TimeFrame.Minute,
            start=datetime(2025, 1, 1),
            limit=7,
        )
    )
    assert sum(len(v) for v in paged.data.values()) == 7
    five = data.get_stock_bars(
        StockBarsRequest(
            symbol_or_symbols="AAPL", timeframe=TimeFrame(5, TimeFrameUnit.Minute), start=datetime(2025, 1, 1)
        )
    )
    (bar,) = five.data["AAPL"]
    ref = reference["AAPL"]
    assert (bar.open, bar.close, bar.high, bar.low) == (
        ref.open[0],
        ref.close[-1],
        ref.high.max(),
        ref.low.min(),
    )
    assert bar.volume == pytest.approx(float(np.sum(ref.volume)))

    last_close = float(ref.close[-1])
    q = data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="AAPL"))["AAPL"]
    assert (q.bid_price, q.ask_price) == (pytest.approx(last_close - 0.01), pytest.approx(last_close + 0.01))
    t = data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="AAPL"))["AAPL"]
    assert t.price == last_close
    latest = data.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols="AAPL"))["AAPL"]
    assert latest.close == last_close


def test_same_seed_same_prices_and_fills() -> None:
    prices = []
    for _ in range(2):
        with MockBroker(seed=11) as broker:
            broker.advance(20)
            trading = with_timeout(TradingClient(API_KEY, SECRET_KEY, paper=True, url_override=broker.url))
            order = trading.submit_order(market("GOOGL", 3, "buy"))
            prices.append((order.filled_avg_price, trading.get_account().cash))
    assert prices[0] == prices[1]


def test_clock_and_assets(trading: TradingClient) -> None:
    clock = trading.get_clock()
    assert clock.next_open > clock.timestamp and clock.next_close > clock.timestamp
    asset = trading.get_asset("AAPL")
    assert asset.symbol == "AAPL" and asset.tradable and asset.easy_to_borrow
    missing = refusal(lambda: trading.get_asset("not-a-symbol"))
    assert missing.status_code == 404


def test_admin_api_drives_prices_and_faults_over_http(broker: MockBroker, trading: TradingClient) -> None:
    def admin(path: str, body: object) -> object:
        answer = requests.post(f"{broker.url}/admin/{path}", json=body, timeout=5)
        assert answer.status_code == 200
        return answer.json()

    before = broker.state.prices.last("MSFT")
    prices = admin("advance", {"bars": 3, "symbols": ["MSFT"]})
    assert isinstance(prices, dict) and Decimal(prices["MSFT"]) != before
    assert len(broker.state.prices.bars("MSFT")) == 8 and len(broker.state.prices.bars("AAPL")) == 5
    assert admin("price", {"symbol": "MSFT", "price": 77.7}) == {"symbol": "MSFT", "price": "77.70"}

    admin("faults", {"faults": [{"status": 502, "method": "GET", "path": "/v2/account"}]})
    failed = refusal(trading.get_account)
    assert failed.status_code == 502
    assert trading.get_account().cash == "100000"  # one fault, then normal service

    trading.submit_order(market("MSFT", 1, "buy"))
    log = requests.get(f"{broker.url}/admin/requests", timeout=5).json()
    assert [(r["method"], r["path"], r["status"]) for r in log][-1] == ("POST", "/v2/orders", 200)
    admin("reset", {})
    assert trading.get_all_positions() == [] and trading.get_account().cash == "100000"

    headers = {"APCA-API-KEY-ID": API_KEY, "APCA-API-SECRET-KEY": SECRET_KEY}
    missing = requests.get(f"{broker.url}/v2/nowhere", headers=headers, timeout=5)
    assert missing.status_code == 404 and missing.json()["code"] == 40410000
    wrong_method = requests.put(f"{broker.url}/v2/account", headers=headers, timeout=5)
    assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["Allow"]
