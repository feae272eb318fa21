"""The adapter's records: P&L arithmetic (shorts included), mapping access, and the bus contract."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tradebridge.alpaca import OrderInfo, PositionInfo
from tradebridge.contracts import OrderUpdate, decode_frame, encode_frame
from tradebridge.errors import ContractError

# A real Alpaca paper short (alpacahq/Alpaca-API#86), quoted in alpaca.md section 4.5.
SLM_SHORT = {
    "symbol": "SLM",
    "side": "short",
    "qty": "-2478",
    "avg_entry_price": "8.36",
    "cost_basis": "-20716.08",
    "current_price": "8.91",
    "market_value": "-22078.98",
    "unrealized_pl": "-1362.9",
    "unrealized_plpc": "-0.0657894736842105",
    "exchange": "NASDAQ",
    "asset_class": "us_equity",
    "asset_id": "062b2922-9e0b-4f99-bd72-57ab93d251dc",
}


@pytest.mark.parametrize("qty", ["-2478", "2478"])  # documented negative, or absolute as one report claims
def test_short_position_pnl_matches_alpacas_own_figures(qty: str) -> None:
    position = PositionInfo.from_json({**SLM_SHORT, "qty": qty})
    assert position.qty == Decimal(-2478) and position.side == "short"
    assert position.cost_basis == Decimal(SLM_SHORT["cost_basis"])
    assert position.market_value == Decimal(SLM_SHORT["market_value"])
    assert position.unrealized_pl == Decimal(SLM_SHORT["unrealized_pl"])
    assert position.unrealized_pl_pct == Decimal("-6.5789")  # percent
    assert position["symbol"] == "SLM" and dict(position)["qty"] == Decimal(-2478)


def test_long_position_and_a_position_without_current_price() -> None:
    long = PositionInfo.from_json(
        {"symbol": "AAPL", "side": "long", "qty": "10", "avg_entry_price": "100", "current_price": "110"}
    )
    assert (long.unrealized_pl, long.unrealized_pl_pct, long.market_value) == (100, Decimal("10.0000"), 1100)
    derived = PositionInfo.from_json(
        {"symbol": "AAPL", "side": "long", "qty": "4", "avg_entry_price": "50", "market_value": "180"}
    )
    assert derived.current_price == 45 and derived.unrealized_pl == -20


ORDER = {
    "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
    "client_order_id": "c1",
    "created_at": "2024-01-02T15:00:00.123456789Z",
    "updated_at": "2024-01-02T15:00:01Z",
    "submitted_at": "2024-01-02T15:00:00.125Z",
    "filled_at": None,
    "time_in_force": "gtc",
    "status": "partially_filled",
    "extended_hours": False,
    "symbol": "AAPL",
    "side": "buy",
    "type": "limit",
    "order_type": "limit",
    "qty": "10",
    "filled_qty": "4",
    "filled_avg_price": "99.5",
    "limit_price": "100",
}


def test_order_reads_like_the_guides_dict_and_becomes_an_order_update() -> None:
    order = OrderInfo.from_json(ORDER)
    assert order["id"] == ORDER["id"] and order["status"] == "partially_filled" and order.is_open
    assert order.created_at is not None and order.created_at.microsecond == 123456
    update = order.to_order_update()
    assert isinstance(update, OrderUpdate)
    topic, decoded = decode_frame(encode_frame(update))
    assert topic == "order" and decoded == update
    assert (update.order_id, update.qty, update.filled_qty) == (ORDER["id"], 10, 4)
    assert update.filled_avg_price == 99.5
    assert update.timestamp == 1704207601000 and update.limit_price == 100.0


def test_order_update_refuses_what_the_contract_refuses() -> None:
    with pytest.raises(ContractError):
        OrderInfo.from_json({**ORDER, "status": "held_by_martians"}).to_order_update()
    preview = OrderInfo.from_json(ORDER)
    with pytest.raises(ValueError):
        OrderInfo(**{**preview.to_dict(), "id": None}).to_order_update()
