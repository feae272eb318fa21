"""The answer shapes that Alpaca's published OpenAPI documents require, as read against the running mock
(raw JSON, since alpaca-py's models would accept a missing field as ``None``). The mock passed a full
validation against those documents; these pin the points it depends on, errata included (see the README's
"Sources and errata"), so a refactor cannot drift from them unnoticed."""

from __future__ import annotations

from typing import Any

from tradebridge_mocks.broker import MockBroker

from tests.mocks.rest.conftest import call

#: the Order object's properties in the trading document: Alpaca sends every one, null when unset
ORDER_KEYS = {
    "id", "client_order_id", "created_at", "updated_at", "submitted_at", "filled_at", "expired_at",
    "canceled_at", "failed_at", "replaced_at", "replaced_by", "replaces", "asset_id", "symbol",
    "asset_class", "notional", "qty", "filled_qty", "filled_avg_price", "order_class", "order_type", "type",
    "side", "time_in_force", "limit_price", "stop_price", "status", "extended_hours", "legs",
    "trail_percent", "trail_price", "hwm",
}  # fmt: skip
BAR_KEYS = {"t", "o", "h", "l", "c", "v", "n", "vw"}
TRADE_KEYS = {"t", "x", "p", "s", "c", "i", "z"}
QUOTE_KEYS = {"t", "ax", "ap", "as", "bx", "bp", "bs", "c", "z"}


def order(broker: MockBroker, **fields: Any) -> dict[str, Any]:
    status, body = call(broker, "POST", "/v2/orders", {"time_in_force": "gtc", **fields})
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def test_every_order_answer_carries_every_documented_key_with_null_trail_fields(
    broker: MockBroker,
) -> None:
    last = float(broker.state.prices.last("AAPL"))
    plain = order(broker, symbol="AAPL", qty="1", side="buy", type="market", time_in_force="day")
    assert set(plain) >= ORDER_KEYS
    # erratum E1: the document types these as plain strings, but its own example (and the live API) has null
    assert (plain["trail_percent"], plain["trail_price"], plain["hwm"]) == (None, None, None)
    trailing = order(broker, symbol="AAPL", qty="1", side="sell", type="trailing_stop", trail_percent="5")
    assert trailing["trail_percent"] == "5" and isinstance(trailing["hwm"], str)
    assert trailing["trail_price"] is None
    bracket = order(
        broker,
        symbol="AAPL",
        qty="1",
        side="buy",
        type="limit",
        limit_price=f"{last * 0.5:.2f}",
        order_class="bracket",
        take_profit={"limit_price": f"{last * 1.5:.2f}"},
        stop_loss={"stop_price": f"{last * 0.4:.2f}"},
    )
    # erratum E2: the document's OrderStatus enum lacks "held", the status of exit legs awaiting the entry
    assert [leg["status"] for leg in bracket["legs"]] == ["held", "held"]
    assert all(set(leg) >= ORDER_KEYS for leg in bracket["legs"])


def test_bulk_deletes_answer_integer_statuses(broker: MockBroker) -> None:
    order(broker, symbol="MSFT", qty="2", side="buy", type="market", time_in_force="day")
    last = float(broker.state.prices.last("AAPL"))
    order(broker, symbol="AAPL", qty="1", side="buy", type="limit", limit_price=f"{last * 0.5:.2f}")
    status, canceled = call(broker, "DELETE", "/v2/orders")
    assert status == 207 and len(canceled) == 1
    assert set(canceled[0]) == {"id", "status"} and canceled[0]["status"] == 200
    status, closed = call(broker, "DELETE", "/v2/positions")
    assert status == 207 and closed
    for item in closed:
        # erratum E4: the document says string, its own example and alpaca-py say integer
        assert isinstance(item["status"], int) and item["symbol"] == item["body"]["symbol"]
        assert set(item["body"]) >= ORDER_KEYS


def test_refusals_carry_an_integer_code_and_a_message(broker: MockBroker) -> None:
    status, body = call(
        broker,
        "POST",
        "/v2/orders",
        {
            "symbol": "AAPL",
            "qty": "1",
            "side": "buy",
            "type": "limit",
            "limit_price": "1.001",
            "time_in_force": "day",
        },
    )
    # erratum E6: the document lists 422 without a body; Alpaca sends {code, message}
    assert status == 422 and set(body) == {"code", "message"} and isinstance(body["code"], int)


def test_market_data_objects_carry_the_documented_stock_keys(broker: MockBroker) -> None:
    _, bars = call(broker, "GET", "/v2/stocks/bars/latest?symbols=AAPL")
    _, trade = call(broker, "GET", "/v2/stocks/AAPL/trades/latest")
    _, quote = call(broker, "GET", "/v2/stocks/AAPL/quotes/latest")
    _, snap = call(broker, "GET", "/v2/stocks/AAPL/snapshot")
    # the documents' `x` on bars/quotes and `tks` on trades are crypto-only, so a stock answer leaves them out
    assert set(bars["bars"]["AAPL"]) == BAR_KEYS
    assert set(trade) == {"symbol", "trade"} and set(trade["trade"]) == TRADE_KEYS
    assert set(quote) == {"symbol", "quote"} and set(quote["quote"]) == QUOTE_KEYS
    assert {"latestTrade", "latestQuote", "minuteBar", "dailyBar", "prevDailyBar"} <= set(snap)
    assert set(snap["dailyBar"]) == BAR_KEYS and set(snap["latestQuote"]) == QUOTE_KEYS
