"""``PATCH /v2/orders/{id}`` through alpaca-py's unmodified ``replace_order_by_id``: a new order takes the
old one's place (``replaced`` -> ``replaced_by``, ``replaces``), checked like a submission, and the
trade-updates stream tells ``replaced`` then ``new``."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderStatus
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    TrailingStopOrderRequest,
)
from tradebridge_mocks.broker import MockBroker

from tests.mocks.rest.conftest import call, client_for, refusal
from tests.mocks.streams.conftest import FAST
from tests.mocks.streams.test_trading_stream import events_of, listening, trading_stream


def resting_buy(trading: TradingClient, broker: MockBroker, below: int = 5, qty: int = 10) -> str:
    limit = float(broker.state.prices.last("AAPL") - below)
    order = trading.submit_order(
        LimitOrderRequest(symbol="AAPL", qty=qty, side="buy", time_in_force="day", limit_price=limit)
    )
    assert order.status == OrderStatus.NEW
    return str(order.id)


def test_replace_creates_a_new_order_and_marks_the_old_one(
    trading: TradingClient, broker: MockBroker
) -> None:
    old_id = resting_buy(trading, broker)
    new_limit = float(broker.state.prices.last("AAPL") - 4)
    new = trading.replace_order_by_id(
        old_id, ReplaceOrderRequest(qty=12, limit_price=new_limit, client_order_id="moved-up")
    )
    assert str(new.id) != old_id and str(new.replaces) == old_id
    assert (
        new.status == OrderStatus.NEW
        and new.qty == "12"
        and Decimal(new.limit_price or "0") == Decimal(str(new_limit))
    )
    old = trading.get_order_by_id(old_id)
    assert old.status == OrderStatus.REPLACED and str(old.replaced_by) == str(new.id) and old.replaced_at
    assert str(trading.get_order_by_client_id("moved-up").id) == str(new.id)
    open_ids = [str(o.id) for o in trading.get_orders()]
    assert open_ids == [str(new.id)]


def test_a_replace_that_becomes_marketable_fills(trading: TradingClient, broker: MockBroker) -> None:
    old_id = resting_buy(trading, broker)
    above_ask = float(broker.state.prices.quote("AAPL").ask + 1)
    new = trading.replace_order_by_id(old_id, ReplaceOrderRequest(limit_price=above_ask))
    assert new.status == OrderStatus.FILLED and new.filled_qty == "10"
    assert trading.get_open_position("AAPL").qty == "10"


def test_invalid_replaces_are_refused_with_alpacas_codes(trading: TradingClient, broker: MockBroker) -> None:
    filled = trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="day"))
    with pytest.raises(APIError) as error:
        trading.replace_order_by_id(filled.id, ReplaceOrderRequest(qty=2))
    assert refusal(error)[:2] == (422, 42210000)

    old_id = resting_buy(trading, broker)
    with pytest.raises(APIError) as error:  # a stop price on a limit order
        trading.replace_order_by_id(old_id, ReplaceOrderRequest(stop_price=1.0))
    assert refusal(error)[:2] == (422, 40010001)
    with pytest.raises(APIError) as error:  # sub-penny
        trading.replace_order_by_id(old_id, ReplaceOrderRequest(limit_price=100.123))
    assert refusal(error)[:2] == (422, 42210000)
    with pytest.raises(APIError) as error:  # far beyond the buying power
        trading.replace_order_by_id(old_id, ReplaceOrderRequest(qty=10_000_000))
    status, code, message = refusal(error)
    assert (status, code, message) == (403, 40310000, "insufficient buying power")
    with pytest.raises(APIError) as error:  # a client order id already used (the filled order's)
        trading.replace_order_by_id(old_id, ReplaceOrderRequest(client_order_id=filled.client_order_id))
    assert refusal(error)[:2] == (422, 40010001)
    # every refusal left the old order as it was
    assert trading.get_order_by_id(old_id).status == OrderStatus.NEW
    assert call(broker, "PATCH", f"/v2/orders/{old_id}", {"side": "sell"})[0] == 422  # not replaceable
    assert call(broker, "PATCH", "/v2/orders/not-a-uuid", {"qty": 1})[0] == 422
    status, body = call(broker, "PATCH", "/v2/orders/00000000-0000-4000-8000-000000000000", {"qty": 1})
    assert (status, body["code"]) == (404, 40410000)


def test_replace_of_a_partial_fill_keeps_the_filled_part() -> None:
    with MockBroker(seed=5, symbols=("AAPL",), partial_fill_rate=1.0) as broker:
        broker.advance(2)
        trading = client_for(broker)
        order = trading.submit_order(
            MarketOrderRequest(symbol="AAPL", qty=100, side="buy", time_in_force="gtc")
        )
        assert order.status == OrderStatus.PARTIALLY_FILLED
        filled = Decimal(order.filled_qty or "0")
        with pytest.raises(APIError) as error:
            trading.replace_order_by_id(order.id, ReplaceOrderRequest(qty=int(filled)))
        assert refusal(error)[:2] == (422, 40010001)
        new = trading.replace_order_by_id(order.id, ReplaceOrderRequest(qty=150))
        assert Decimal(new.qty or "0") == 150 - filled
        old = trading.get_order_by_id(order.id)
        assert old.status == OrderStatus.REPLACED and Decimal(old.filled_qty or "0") == filled


def test_trailing_stop_replace_moves_the_trail(trading: TradingClient, broker: MockBroker) -> None:
    trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=5, side="buy", time_in_force="day"))
    stop = trading.submit_order(
        TrailingStopOrderRequest(symbol="AAPL", qty=5, side="sell", time_in_force="gtc", trail_price=2.0)
    )
    new = trading.replace_order_by_id(stop.id, ReplaceOrderRequest(trail=3.0))
    assert new.trail_price == "3" and Decimal(new.stop_price or "0") == Decimal(new.hwm or "0") - 3


def test_the_stream_tells_replaced_then_new() -> None:
    with MockBroker(seed=11, symbols=("AAPL",), streams=FAST) as broker:
        broker.advance(3)
        trading = client_for(broker)
        client = trading_stream(broker, raw=True)
        with client:
            listening(broker)
            old_id = resting_buy(trading, broker)
            new = trading.replace_order_by_id(old_id, ReplaceOrderRequest(qty=11))
            old_events = client.wait(
                lambda items: len(found := events_of(items, old_id)) == 2 and found, what="new, replaced"
            )
            new_events = client.wait(lambda items: events_of(items, str(new.id)), what="the new order's new")
    assert [e["event"] for e in old_events] == ["new", "replaced"]
    assert old_events[1]["order"]["replaced_by"] == str(new.id)
    assert [e["event"] for e in new_events] == ["new"] and new_events[0]["order"]["replaces"] == old_id
    assert client.items().index(
        next(i for i in client.items() if i["data"]["order"]["id"] == str(new.id))
    ) > (client.items().index(next(i for i in client.items() if i["data"]["event"] == "replaced")))
