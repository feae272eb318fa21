"""Bracket, OTO and OCO orders through alpaca-py: held exit legs routed when the entry fills, one exit
filling cancels the other, cancels travel through the group, Alpaca's price rules refuse bad legs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass, OrderStatus
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
)
from tradebridge_mocks.broker import MockBroker

from tests.mocks.rest.conftest import call, refusal


def bracket(trading: TradingClient, broker: MockBroker, **entry: object) -> tuple[str, str, str]:
    last = broker.state.prices.last("AAPL")
    request = MarketOrderRequest(
        symbol="AAPL",
        qty=10,
        side="buy",
        time_in_force="gtc",
        order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=float(last + 2)),
        stop_loss=StopLossRequest(stop_price=float(last - 2)),
        **entry,
    )
    order = trading.submit_order(request)
    assert order.order_class == OrderClass.BRACKET and order.legs is not None and len(order.legs) == 2
    take_profit, stop_loss = order.legs
    assert take_profit.type == "limit" and stop_loss.type == "stop"
    return str(order.id), str(take_profit.id), str(stop_loss.id)


def test_take_profit_fills_and_cancels_the_stop_loss(trading: TradingClient, broker: MockBroker) -> None:
    entry, take_profit, stop_loss = bracket(trading, broker)
    assert trading.get_order_by_id(entry).status == OrderStatus.FILLED
    assert trading.get_order_by_id(take_profit).status == OrderStatus.NEW  # routed once the entry filled
    assert trading.get_order_by_id(stop_loss).status == OrderStatus.NEW
    broker.set_price("AAPL", broker.state.prices.last("AAPL") + 3)
    assert trading.get_order_by_id(take_profit).status == OrderStatus.FILLED
    assert trading.get_order_by_id(stop_loss).status == OrderStatus.CANCELED
    assert trading.get_all_positions() == []
    nested = trading.get_orders(GetOrdersRequest(status="all", nested=True))
    assert [str(o.id) for o in nested] == [entry]


def test_stop_loss_fills_and_cancels_the_take_profit(trading: TradingClient, broker: MockBroker) -> None:
    _, take_profit, stop_loss = bracket(trading, broker)
    broker.set_price("AAPL", broker.state.prices.last("AAPL") - 3)
    assert trading.get_order_by_id(stop_loss).status == OrderStatus.FILLED
    assert trading.get_order_by_id(take_profit).status == OrderStatus.CANCELED


def test_legs_are_held_until_the_entry_fills_and_canceling_the_entry_cancels_them(
    trading: TradingClient, broker: MockBroker
) -> None:
    last = broker.state.prices.last("AAPL")
    order = trading.submit_order(
        LimitOrderRequest(
            symbol="AAPL",
            qty=5,
            side="buy",
            time_in_force="day",
            limit_price=float(last - 5),
            order_class=OrderClass.BRACKET,
            take_profit=TakeProfitRequest(limit_price=float(last)),
            stop_loss=StopLossRequest(stop_price=float(last - 8), limit_price=float(last - Decimal("8.5"))),
        )
    )
    assert order.status == OrderStatus.NEW and order.legs is not None
    assert [leg.status for leg in order.legs] == [OrderStatus.HELD, OrderStatus.HELD]
    assert order.legs[1].type == "stop_limit"
    broker.set_price("AAPL", last + 10)  # the take profit would cross, but it is held
    assert trading.get_order_by_id(order.legs[0].id).status == OrderStatus.HELD
    assert Decimal(trading.get_account().buying_power or "0") == Decimal("100000") - 5 * (last - 5)
    trading.cancel_order_by_id(order.id)
    assert [trading.get_order_by_id(leg.id).status for leg in order.legs] == [OrderStatus.CANCELED] * 2


def test_oto_and_oco(trading: TradingClient, broker: MockBroker) -> None:
    last = broker.state.prices.last("AAPL")
    oto = trading.submit_order(
        MarketOrderRequest(
            symbol="AAPL",
            qty=4,
            side="buy",
            time_in_force="day",
            order_class=OrderClass.OTO,
            stop_loss=StopLossRequest(stop_price=float(last - 3)),
        )
    )
    assert oto.legs is not None and len(oto.legs) == 1
    assert trading.get_order_by_id(oto.legs[0].id).status == OrderStatus.NEW
    trading.cancel_order_by_id(oto.legs[0].id)

    oco = trading.submit_order(
        LimitOrderRequest(
            symbol="AAPL",
            qty=4,
            side="sell",
            time_in_force="gtc",
            limit_price=float(last + 3),
            order_class=OrderClass.OCO,
            take_profit=TakeProfitRequest(limit_price=float(last + 3)),
            stop_loss=StopLossRequest(stop_price=float(last - 3)),
        )
    )
    assert oco.status == OrderStatus.NEW and oco.legs is not None and oco.legs[0].status == OrderStatus.NEW
    trading.cancel_order_by_id(oco.legs[0].id)  # one side canceled: both go
    assert trading.get_order_by_id(oco.id).status == OrderStatus.CANCELED


@pytest.mark.parametrize(
    ("order_class", "take_profit", "stop_loss", "tif"),
    [
        (OrderClass.BRACKET, -0.5, -2.0, "gtc"),  # take profit below the base price
        (OrderClass.BRACKET, 2.0, 1.0, "gtc"),  # stop loss above it
        (OrderClass.BRACKET, 2.0, -2.0, "ioc"),  # brackets are day or gtc
        (OrderClass.OTO, 2.0, -2.0, "day"),  # oto takes exactly one
    ],
)
def test_bad_legs_are_refused(
    trading: TradingClient,
    broker: MockBroker,
    order_class: OrderClass,
    take_profit: float | None,
    stop_loss: float | None,
    tif: str,
) -> None:
    ask = float(broker.state.prices.quote("AAPL").ask)
    with pytest.raises(APIError) as error:
        trading.submit_order(
            MarketOrderRequest(
                symbol="AAPL",
                qty=1,
                side="buy",
                time_in_force=tif,
                order_class=order_class,
                take_profit=None
                if take_profit is None
                else TakeProfitRequest(limit_price=round(ask + take_profit, 2)),
                stop_loss=None
                if stop_loss is None
                else StopLossRequest(stop_price=round(ask + stop_loss, 2)),
            )
        )
    assert refusal(error)[:2] == (422, 40010001)
    assert trading.get_orders() == []


def test_what_alpaca_py_would_not_send_is_refused_too(broker: MockBroker) -> None:
    ask = float(broker.state.prices.quote("AAPL").ask)
    base = {"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market", "time_in_force": "day"}
    for extra in (
        {"order_class": "bracket", "take_profit": {"limit_price": ask + 2}},  # a bracket needs both legs
        {"order_class": "bracket", "take_profit": 5, "stop_loss": {"stop_price": ask - 2}},
        {"order_class": "bracket", "take_profit": {}, "stop_loss": {"stop_price": ask - 2}},
        {"order_class": "triangle"},
        {"take_profit": {"limit_price": ask + 2}},  # legs on a simple order
        {"order_class": "oco", "take_profit": {"limit_price": ask + 2}, "stop_loss": {"stop_price": ask - 2}},
    ):
        status, body = call(broker, "POST", "/v2/orders", {**base, **extra})
        assert (status, body["code"]) == (422, 40010001), extra


def test_replacing_the_stop_loss_keeps_it_in_the_bracket(trading: TradingClient, broker: MockBroker) -> None:
    entry, take_profit, stop_loss = bracket(trading, broker)
    last = broker.state.prices.last("AAPL")
    moved = trading.replace_order_by_id(stop_loss, ReplaceOrderRequest(stop_price=float(last - 1)))
    parent = trading.get_order_by_id(entry)
    assert parent.legs is not None and [str(leg.id) for leg in parent.legs] == [take_profit, str(moved.id)]
    assert moved.order_class == OrderClass.BRACKET
    broker.set_price("AAPL", last + 3)
    assert trading.get_order_by_id(take_profit).status == OrderStatus.FILLED
    assert trading.get_order_by_id(moved.id).status == OrderStatus.CANCELED
