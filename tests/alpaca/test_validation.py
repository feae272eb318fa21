"""Local order validation: every refusal has a code and a field, and nothing reaches the network."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import responses
from tradebridge.alpaca import PAPER_URL, AlpacaPaperTrading, OrderType
from tradebridge.errors import OrderValidationError

from tests.alpaca.conftest import API_KEY, SECRET_KEY

VALID: dict[str, Any] = {"symbol": "AAPL", "qty": 10, "side": "buy", "order_type": OrderType.MARKET}


@pytest.fixture
def client() -> AlpacaPaperTrading:
    return AlpacaPaperTrading(API_KEY, SECRET_KEY, rate_limit_per_minute=None)


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"symbol": "aapl"}, "invalid_symbol", "symbol"),
        ({"symbol": ""}, "invalid_symbol", "symbol"),
        ({"symbol": "AAPL; DROP"}, "invalid_symbol", "symbol"),
        ({"symbol": 42}, "invalid_symbol", "symbol"),
        ({"qty": 0}, "not_positive", "qty"),
        ({"qty": -5}, "not_positive", "qty"),
        ({"qty": float("nan")}, "invalid_number", "qty"),
        ({"qty": float("inf")}, "invalid_number", "qty"),
        ({"qty": True}, "invalid_number", "qty"),
        ({"qty": "ten"}, "invalid_number", "qty"),
        ({"qty": None}, "qty_or_notional", "qty"),
        ({"notional": 100}, "qty_or_notional", "qty"),
        ({"qty": None, "notional": -1}, "not_positive", "notional"),
        ({"qty": None, "notional": "10.001"}, "sub_penny", "notional"),
        (
            {"qty": None, "notional": 100, "order_type": "limit", "limit_price": 10},
            "notional_not_allowed",
            "notional",
        ),
        ({"qty": 1.5, "order_type": "limit", "limit_price": 10}, "fractional_not_allowed", "qty"),
        ({"side": "hold"}, "invalid_side", "side"),
        ({"order_type": "iceberg"}, "invalid_order_type", "order_type"),
        ({"time_in_force": "forever"}, "invalid_time_in_force", "time_in_force"),
        ({"order_type": OrderType.LIMIT}, "missing_price", "limit_price"),
        ({"order_type": OrderType.STOP}, "missing_price", "stop_price"),
        ({"order_type": OrderType.STOP_LIMIT, "stop_price": 10}, "missing_price", "limit_price"),
        ({"order_type": OrderType.TRAILING_STOP}, "missing_price", "trail_price"),
        (
            {"order_type": OrderType.TRAILING_STOP, "trail_price": 1, "trail_percent": 2},
            "missing_price",
            "trail_price",
        ),
        ({"limit_price": 10}, "unexpected_price", "limit_price"),
        (
            {"order_type": OrderType.LIMIT, "limit_price": 10, "stop_price": 9},
            "unexpected_price",
            "stop_price",
        ),
        ({"trail_percent": 2}, "unexpected_price", "trail_percent"),
        ({"order_type": OrderType.LIMIT, "limit_price": 0}, "not_positive", "limit_price"),
        ({"order_type": OrderType.LIMIT, "limit_price": -1}, "not_positive", "limit_price"),
        ({"order_type": OrderType.LIMIT, "limit_price": 150.123}, "sub_penny", "limit_price"),
        ({"order_type": OrderType.LIMIT, "limit_price": "0.12345"}, "sub_penny", "limit_price"),
        ({"order_type": OrderType.STOP, "stop_price": 1.001}, "sub_penny", "stop_price"),
        (
            {"order_type": OrderType.TRAILING_STOP, "trail_percent": 100},
            "invalid_trail",
            "trail_percent",
        ),
        (
            {"order_type": OrderType.TRAILING_STOP, "trail_price": 1, "time_in_force": "ioc"},
            "invalid_time_in_force",
            "time_in_force",
        ),
        (
            {"order_type": OrderType.STOP, "stop_price": 5, "time_in_force": "opg"},
            "invalid_time_in_force",
            "time_in_force",
        ),
        ({"extended_hours": True}, "extended_hours_not_allowed", "extended_hours"),
        ({"client_order_id": "x" * 49}, "invalid_client_order_id", "client_order_id"),
        ({"client_order_id": ""}, "invalid_client_order_id", "client_order_id"),
        ({"client_order_id": "line\nbreak"}, "invalid_client_order_id", "client_order_id"),
    ],
)
@responses.activate
def test_invalid_orders_are_refused_locally(
    client: AlpacaPaperTrading, changes: dict[str, Any], code: str, field: str
) -> None:
    with pytest.raises(OrderValidationError) as info:
        client.place_order(**{**VALID, **changes})
    assert (info.value.code, info.value.field) == (code, field)
    assert isinstance(info.value, ValueError)
    assert len(responses.calls) == 0


@pytest.mark.parametrize(
    ("changes", "body"),
    [
        ({}, {"type": "market", "qty": 10.0}),
        ({"qty": "0.5"}, {"type": "market", "qty": 0.5}),
        ({"qty": None, "notional": "250.50"}, {"type": "market", "notional": 250.5}),
        (
            {"order_type": OrderType.LIMIT, "limit_price": 150.0, "time_in_force": "GTC"},
            {"type": "limit", "limit_price": 150.0, "time_in_force": "gtc"},
        ),
        ({"order_type": "limit", "limit_price": "0.1234"}, {"type": "limit", "limit_price": 0.1234}),
        (
            {"order_type": "stop", "stop_price": 90, "side": "SELL"},
            {"type": "stop", "stop_price": 90.0, "side": "sell"},
        ),
        (
            {"order_type": "stop limit", "stop_price": 110, "limit_price": 111},
            {"type": "stop_limit", "stop_price": 110.0, "limit_price": 111.0},
        ),
        (
            {"order_type": OrderType.TRAILING_STOP, "trail_percent": 2.5, "side": "sell"},
            {"type": "trailing_stop", "trail_percent": 2.5},
        ),
        (
            {"order_type": OrderType.LIMIT, "limit_price": 10, "extended_hours": True},
            {"type": "limit", "extended_hours": True},
        ),
    ],
)
@responses.activate
def test_valid_orders_go_out_as_alpaca_expects(
    client: AlpacaPaperTrading, changes: dict[str, Any], body: dict[str, Any]
) -> None:
    order_json = {
        "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
        "client_order_id": "x",
        "created_at": "2024-01-02T15:00:00Z",
        "updated_at": "2024-01-02T15:00:00Z",
        "submitted_at": "2024-01-02T15:00:00Z",
        "time_in_force": "day",
        "status": "accepted",
        "extended_hours": False,
        "symbol": "AAPL",
        "side": "buy",
        "type": "market",
        "qty": "10",
    }
    responses.post(f"{PAPER_URL}/v2/orders", json=order_json)
    order = client.place_order(**{**VALID, **changes})
    assert order["id"] == order_json["id"] and order["status"] == "accepted"
    sent = json.loads(responses.calls[0].request.body)
    assert {k: sent[k] for k in body} == body
    assert sent["client_order_id"].startswith("tb-") and len(sent["client_order_id"]) <= 48


@responses.activate
def test_validate_only_returns_the_checked_order_unsent(client: AlpacaPaperTrading) -> None:
    order = client.place_order("AAPL", 100, "buy", OrderType.MARKET, validate_only=True)
    assert len(responses.calls) == 0
    assert order["id"] is None and order["status"] is None
    assert (order.validated, order.submitted) == (True, False)
    assert (order.symbol, order.qty, order.side, order.order_type) == ("AAPL", Decimal(100), "buy", "market")
    assert order.client_order_id.startswith("tb-")
    limit = client.place_order(
        "BRK.B", 1, "sell", OrderType.LIMIT, limit_price="0.5", validate_only=True, client_order_id="mine"
    )
    assert (limit.limit_price, limit.client_order_id) == (Decimal("0.5"), "mine")
    assert dict(limit)["symbol"] == "BRK.B"


def test_other_local_checks(client: AlpacaPaperTrading) -> None:
    with pytest.raises(OrderValidationError) as info:
        client.cancel_order("not-a-uuid")
    assert info.value.field == "order_id"
    with pytest.raises(OrderValidationError):
        client.get_orders(status="pending")
    with pytest.raises(OrderValidationError):
        client.close_position("AAPL", qty=1, percentage=50)
    with pytest.raises(OrderValidationError):
        client.close_position("AAPL", percentage=150)
    with pytest.raises(OrderValidationError):
        client.get_historical_bars("AAPL", start=None, timeframe="7Fortnight")  # type: ignore[arg-type]
