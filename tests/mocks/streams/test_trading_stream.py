"""Trade updates seen through the unmodified alpaca-py ``TradingStream`` (both ``raw_data`` modes): every
order state change arrives, and each ``order`` snapshot is what ``GET /v2/orders/{id}`` answered at that
moment."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import TradeEvent
from alpaca.trading.models import TradeUpdate
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest
from alpaca.trading.stream import TradingStream
from tradebridge_mocks.broker import MockBroker

from tests.alpaca.conftest import with_timeout
from tests.mocks.streams.conftest import API_KEY, FAST, SECRET_KEY, ClientThread, wait_for


def rest_order(broker: MockBroker, order_id: str) -> dict[str, Any]:
    """The REST JSON of an order, as the wire carries it (the stream's snapshots are compared to this)."""
    request = urllib.request.Request(
        f"{broker.url}/v2/orders/{order_id}",
        headers={"APCA-API-KEY-ID": API_KEY, "APCA-API-SECRET-KEY": SECRET_KEY},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


def as_envelope(item: Any) -> dict[str, Any]:
    """Both modes as the wire dict: raw mode hands over the envelope, parsed mode a ``TradeUpdate``."""
    if isinstance(item, dict):
        assert item["stream"] == "trade_updates"
        return item["data"]  # type: ignore[no-any-return]
    assert isinstance(item, TradeUpdate)
    return {"event": item.event, "order_id": str(item.order.id), "model": item}


def events_of(items: list[Any], order_id: str) -> list[dict[str, Any]]:
    out = []
    for item in items:
        data = as_envelope(item)
        oid = data["order"]["id"] if "order" in data else data["order_id"]
        if oid == order_id:
            out.append(data)
    return out


def trading_stream(broker: MockBroker, raw: bool) -> ClientThread:
    stream = TradingStream(
        API_KEY, SECRET_KEY, paper=True, raw_data=raw, url_override=broker.ws_url + "/stream"
    )
    client = ClientThread(stream)
    stream.subscribe_trade_updates(client.handler)
    return client


def listening(broker: MockBroker, n: int = 1) -> None:
    wait_for(lambda: broker.streams.stats()["trading"]["ready"] == n, what="the client listening")


@pytest.fixture
def partial_broker() -> Any:
    """Every fill partial at first (Alpaca paper fills ~10% of orders in parts), no bar clock."""
    with MockBroker(seed=5, symbols=("AAPL",), partial_fill_rate=1.0, streams=FAST) as running:
        running.advance(2)
        yield running


@pytest.mark.parametrize("raw", [False, True], ids=["models", "raw"])
def test_full_order_lifecycle_with_rest_snapshots(partial_broker: MockBroker, raw: bool) -> None:
    broker = partial_broker
    trading = with_timeout(TradingClient(API_KEY, SECRET_KEY, paper=True, url_override=broker.url))
    last = broker.state.prices.last("AAPL")
    client = trading_stream(broker, raw)
    snapshots: list[tuple[str, dict[str, Any]]] = []  # (event, what GET answered right after it)
    with client:
        listening(broker)
        # a buy limit below the market rests: "new"
        order = trading.submit_order(
            LimitOrderRequest(
                symbol="AAPL", qty=10, side="buy", time_in_force="day", limit_price=float(last - 5)
            )
        )
        order_id = str(order.id)
        client.wait(lambda items: len(events_of(items, order_id)) == 1, what="new")
        snapshots.append(("new", rest_order(broker, order_id)))
        broker.set_price("AAPL", last - 6)  # marketable now; the first fill is partial
        client.wait(lambda items: len(events_of(items, order_id)) == 2, what="partial_fill")
        snapshots.append(("partial_fill", rest_order(broker, order_id)))
        broker.state.engine.options.partial_fill_rate = 0.0
        broker.set_price("AAPL", last - 6)  # the rest fills on the next price update
        client.wait(lambda items: len(events_of(items, order_id)) == 3, what="fill")
        snapshots.append(("fill", rest_order(broker, order_id)))
        # and a cancel
        resting = trading.submit_order(
            LimitOrderRequest(
                symbol="AAPL", qty=1, side="buy", time_in_force="gtc", limit_price=float(last - 20)
            )
        )
        trading.cancel_order_by_id(resting.id)
        client.wait(lambda items: len(events_of(items, str(resting.id))) == 2, what="new, canceled")
        canceled = rest_order(broker, str(resting.id))
        items = client.items()

    updates = events_of(items, order_id)
    assert [u["event"] for u in updates] == ["new", "partial_fill", "fill"]
    if raw:
        for (event, rest), update in zip(snapshots, updates, strict=True):
            assert update["event"] == event
            assert update["order"] == rest  # the REST JSON at that moment, key for key
            assert update["timestamp"] == rest["updated_at"]
        partial, fill = updates[1], updates[2]
        position = Decimal(partial["position_qty"])
        assert Decimal(partial["qty"]) == position == Decimal(snapshots[1][1]["filled_qty"]) < 10
        assert Decimal(fill["qty"]) == 10 - position and Decimal(fill["position_qty"]) == 10
        assert Decimal(fill["price"]) == (last - 6) + Decimal("0.01")  # at the ask
        assert partial["execution_id"] != fill["execution_id"]
        assert [u["event"] for u in events_of(items, str(resting.id))] == ["new", "canceled"]
        assert events_of(items, str(resting.id))[-1]["order"] == canceled
    else:
        for (event, rest), update in zip(snapshots, updates, strict=True):
            model: TradeUpdate = update["model"]
            assert model.event == TradeEvent(event)
            assert model.order == trading.get_order_by_id(order_id).__class__(**rest)  # same parsed Order
        fill_model: TradeUpdate = updates[2]["model"]
        assert fill_model.position_qty == 10 and fill_model.price == float(last - 6) + 0.01
        assert [u["event"] for u in events_of(items, str(resting.id))] == [
            TradeEvent.NEW,
            TradeEvent.CANCELED,
        ]


def test_immediate_fill_and_deferred_rejection() -> None:
    """Immediate mode: a market order is ``new`` then ``fill`` inside its POST. Deferred mode: ``accepted``,
    then ``rejected`` when the price moved past the buying power before routing, as Alpaca's paper does."""
    with MockBroker(seed=3, symbols=("MSFT",), fill_mode="deferred", streams=FAST) as broker:
        broker.advance(1)
        trading = with_timeout(TradingClient(API_KEY, SECRET_KEY, paper=True, url_override=broker.url))
        client = trading_stream(broker, raw=True)
        with client:
            listening(broker)
            ask = broker.state.prices.quote("MSFT").ask
            qty = int(Decimal(100_000) * Decimal("0.99") / ask)
            order = trading.submit_order(
                MarketOrderRequest(symbol="MSFT", qty=qty, side="buy", time_in_force="day")
            )
            broker.set_price("MSFT", ask * Decimal("1.05"))
            updates = client.wait(
                lambda items: len(found := events_of(items, str(order.id))) == 2 and found, what="rejected"
            )
            rejected = rest_order(broker, str(order.id))
            broker.state.engine.options.fill_mode = "immediate"
            small = trading.submit_order(
                MarketOrderRequest(symbol="MSFT", qty=1, side="buy", time_in_force="day")
            )
            fills = client.wait(
                lambda items: len(found := events_of(items, str(small.id))) == 2 and found, what="new, fill"
            )
            filled = rest_order(broker, str(small.id))
    assert [u["event"] for u in updates] == ["accepted", "rejected"]
    assert updates[0]["order"]["status"] == "accepted" and updates[1]["order"] == rejected
    assert [u["event"] for u in fills] == ["new", "fill"]
    assert fills[0]["order"]["status"] == "new" and fills[0]["order"]["filled_qty"] == "0"
    assert fills[1]["order"] == filled and fills[1]["position_qty"] == "1"


def test_events_go_to_every_listener_and_not_to_who_stopped_listening() -> None:
    with MockBroker(seed=3, symbols=("MSFT",), streams=replace(FAST, connection_limit=1)) as broker:
        trading = with_timeout(TradingClient(API_KEY, SECRET_KEY, paper=True, url_override=broker.url))
        first, second = trading_stream(broker, raw=True), trading_stream(broker, raw=True)
        with first, second:  # the data stream's one-connection limit does not apply to trade updates
            listening(broker, 2)
            order = trading.submit_order(
                MarketOrderRequest(symbol="MSFT", qty=1, side="buy", time_in_force="day")
            )
            for client in (first, second):
                client.wait(lambda items: len(events_of(items, str(order.id))) == 2, what="new, fill")


def test_day_orders_expire_at_the_session_close(broker: MockBroker) -> None:
    trading = with_timeout(TradingClient(API_KEY, SECRET_KEY, paper=True, url_override=broker.url))
    low = float(broker.state.prices.last("AAPL") - 10)
    client = trading_stream(broker, raw=True)
    with client:
        listening(broker)
        day = trading.submit_order(
            LimitOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="day", limit_price=low)
        )
        gtc = trading.submit_order(
            LimitOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="gtc", limit_price=low)
        )
        request = urllib.request.Request(broker.url + "/admin/expire", method="POST")
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert json.loads(answer.read()) == {"expired": [str(day.id)]}
        updates = client.wait(
            lambda items: len(found := events_of(items, str(day.id))) == 2 and found, what="new, expired"
        )
        expired = rest_order(broker, str(day.id))
    assert [u["event"] for u in updates] == ["new", "expired"]
    assert updates[1]["order"] == expired and expired["status"] == "expired" and expired["expired_at"]
    assert [u["event"] for u in events_of(client.items(), str(gtc.id))] == ["new"]  # gtc stays
