"""Clock modes. ``exchange``: NYSE hours and holidays (market orders held until the open, ``day`` orders
expire at the close, extended-hours limits trade 04:00-20:00, ``opg``/``cls`` only in their auctions);
``always-open``: trading at any hour, auctions only when asked; ``replay``: the bars move the clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderStatus
from alpaca.trading.requests import GetCalendarRequest, LimitOrderRequest, MarketOrderRequest
from tradebridge_mocks.broker import MockBroker
from tradebridge_mocks.broker.clock import NEW_YORK, Calendar

from tests.mocks.rest.conftest import call, client_for, refusal


def at(hour: int, minute: int = 0, day: date = date(2026, 3, 2)) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK)


def test_market_orders_wait_for_the_open_and_day_orders_expire_at_the_close(exchange: MockBroker) -> None:
    trading = client_for(exchange)
    clock = trading.get_clock()
    assert not clock.is_open and clock.next_open == at(9, 30) and clock.next_close == at(16)
    market = trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=2, side="buy", time_in_force="day"))
    assert market.status == OrderStatus.ACCEPTED
    low = float(exchange.state.prices.last("MSFT") - 10)
    resting = trading.submit_order(
        LimitOrderRequest(symbol="MSFT", qty=1, side="buy", time_in_force="day", limit_price=low)
    )
    gtc = trading.submit_order(
        LimitOrderRequest(symbol="MSFT", qty=1, side="buy", time_in_force="gtc", limit_price=low)
    )
    exchange.advance(2)  # prices move before the open: still nothing trades
    assert trading.get_order_by_id(market.id).status == OrderStatus.ACCEPTED

    assert exchange.set_time(at(9, 30)) == ["open"]
    assert trading.get_clock().is_open
    assert trading.get_order_by_id(market.id).status == OrderStatus.FILLED
    assert trading.get_order_by_id(resting.id).status == OrderStatus.NEW

    assert exchange.set_time(at(16)) == ["close"]
    assert trading.get_order_by_id(resting.id).status == OrderStatus.EXPIRED
    assert trading.get_order_by_id(gtc.id).status == OrderStatus.NEW


def test_extended_hours_limits_trade_before_the_open_and_others_do_not(exchange: MockBroker) -> None:
    trading = client_for(exchange)
    above = float(exchange.state.prices.quote("AAPL").ask + 1)
    extended = trading.submit_order(
        LimitOrderRequest(
            symbol="AAPL", qty=1, side="buy", time_in_force="day", limit_price=above, extended_hours=True
        )
    )
    regular = trading.submit_order(
        LimitOrderRequest(symbol="MSFT", qty=1, side="buy", time_in_force="day", limit_price=1000.0)
    )
    assert extended.status == OrderStatus.FILLED  # 08:00 is the pre-market session
    assert regular.status == OrderStatus.ACCEPTED
    exchange.set_time(at(3))  # never backwards
    assert exchange.state.engine.clock.now() == at(8)

    below = float(exchange.state.prices.last("AAPL") - 20)
    late = trading.submit_order(
        LimitOrderRequest(
            symbol="AAPL", qty=1, side="buy", time_in_force="day", limit_price=below, extended_hours=True
        )
    )
    assert exchange.set_time(at(17)) == ["open", "close"]
    assert trading.get_order_by_id(late.id).status == OrderStatus.NEW  # extended: alive until 20:00
    assert exchange.set_time(at(20)) == ["post_close"]
    assert trading.get_order_by_id(late.id).status == OrderStatus.EXPIRED


def test_auction_orders_trade_only_in_their_auction(exchange: MockBroker) -> None:
    trading = client_for(exchange)
    opg = trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=3, side="buy", time_in_force="opg"))
    cheap = trading.submit_order(
        LimitOrderRequest(symbol="MSFT", qty=1, side="buy", time_in_force="opg", limit_price=1.0)
    )
    assert opg.status == OrderStatus.ACCEPTED
    exchange.set_time(at(9, 30))
    filled = trading.get_order_by_id(opg.id)
    assert filled.status == OrderStatus.FILLED
    assert Decimal(filled.filled_avg_price or "0") == exchange.state.prices.last(
        "AAPL"
    )  # the cross, no spread
    assert trading.get_order_by_id(cheap.id).status == OrderStatus.CANCELED  # did not cross: not resting

    exchange.set_time(at(9, 29))  # no-op: the clock never goes back
    with pytest.raises(APIError) as error:
        trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="opg"))
    assert refusal(error)[:2] == (422, 42210000)

    cls = trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=3, side="sell", time_in_force="cls"))
    exchange.advance(5)
    assert trading.get_order_by_id(cls.id).status == OrderStatus.ACCEPTED  # waits for the closing cross
    exchange.set_time(at(15, 50))
    with pytest.raises(APIError) as error:
        trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="cls"))
    assert refusal(error)[:2] == (422, 42210000)
    exchange.set_time(at(16))
    closed = trading.get_order_by_id(cls.id)
    assert closed.status == OrderStatus.FILLED
    assert Decimal(closed.filled_avg_price or "0") == exchange.state.prices.last("AAPL")


def test_always_open_trades_at_any_hour_and_runs_auctions_on_request(broker: MockBroker) -> None:
    trading = client_for(broker)
    opg = trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="opg"))
    cls = trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="cls"))
    market = trading.submit_order(MarketOrderRequest(symbol="MSFT", qty=1, side="buy", time_in_force="day"))
    assert market.status == OrderStatus.FILLED
    assert opg.status == OrderStatus.NEW and cls.status == OrderStatus.NEW  # no fill outside an auction
    broker.advance(3)
    assert trading.get_order_by_id(opg.id).status == OrderStatus.NEW
    assert call(broker, "POST", "/admin/session", {"event": "open"})[1]["changed"] == [str(opg.id)]
    assert trading.get_order_by_id(opg.id).status == OrderStatus.FILLED
    assert trading.get_order_by_id(cls.id).status == OrderStatus.NEW
    assert call(broker, "POST", "/admin/expire")[1] == {"expired": []}  # the close crossed cls first
    assert trading.get_order_by_id(cls.id).status == OrderStatus.FILLED
    assert call(broker, "POST", "/admin/session", {"event": "noon"})[0] == 422
    status, body = call(broker, "POST", "/admin/clock", {"advance_s": 60})
    assert (status, body["code"]) == (409, 40910000)  # a wall clock is not set by hand


def test_the_calendar_is_nyse(trading: TradingClient) -> None:
    days = trading.get_calendar(GetCalendarRequest(start=date(2026, 11, 23), end=date(2026, 11, 30)))
    assert [d.date for d in days] == [date(2026, 11, d) for d in (23, 24, 25, 27, 30)]  # Thanksgiving 26th
    friday = days[3]
    assert friday.open == datetime(2026, 11, 27, 9, 30) and friday.close == datetime(2026, 11, 27, 13, 0)
    holidays = {date(2026, 1, 1), date(2026, 1, 19), date(2026, 2, 16), date(2026, 4, 3), date(2026, 5, 25)}
    holidays |= {
        date(2026, 6, 19),
        date(2026, 7, 3),
        date(2026, 9, 7),
        date(2026, 11, 26),
        date(2026, 12, 25),
    }
    year = {
        d.date
        for d in trading.get_calendar(GetCalendarRequest(start=date(2026, 1, 1), end=date(2026, 12, 31)))
    }
    weekdays = {date(2026, 1, 1) + timedelta(days=i) for i in range(365)}
    weekdays = {d for d in weekdays if d.weekday() < 5}
    assert weekdays - year == holidays and len(year) == 251
    full = trading.get_calendar()
    assert full[0].date == date(1970, 1, 2) and full[-1].date == date(2029, 12, 31)
    assert call_status(trading, "/calendar?start=yesterday") == 422


def call_status(trading: TradingClient, path: str) -> int:
    with pytest.raises(APIError) as error:
        trading.get(path)
    assert error.value.status_code is not None
    return error.value.status_code


def test_the_clock_on_a_holiday_and_a_weekend() -> None:
    calendar = Calendar()
    good_friday = datetime(2026, 4, 3, 12, 0, tzinfo=NEW_YORK)
    assert calendar.phase(good_friday) == "closed"
    assert calendar.next_edges(good_friday) == (
        datetime(2026, 4, 6, 9, 30, tzinfo=NEW_YORK),
        datetime(2026, 4, 6, 16, 0, tzinfo=NEW_YORK),
    )
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=NEW_YORK)
    assert calendar.phase(saturday) == "closed"
    assert [name for _, name in calendar.edges_between(saturday, saturday + timedelta(days=2))] == [
        "pre_open",
        "open",
    ]


def test_replay_clock_follows_the_bars() -> None:
    with MockBroker(seed=3, symbols=("AAPL",), clock="replay") as broker:
        trading = client_for(broker)
        start = broker.state.engine.clock.now()
        broker.advance(5)
        assert broker.state.engine.clock.now() == start + timedelta(minutes=5)  # bars start 2025-01-02 09:30
        order = trading.submit_order(
            MarketOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="day")
        )
        assert order.status == OrderStatus.FILLED
        assert order.submitted_at == start.astimezone(UTC) + timedelta(minutes=5)
        assert trading.get_clock().timestamp == start + timedelta(minutes=5)
