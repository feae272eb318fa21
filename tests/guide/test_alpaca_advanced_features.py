"""Guide section "3. Alpaca Paper Trading Integration", example "Advanced Features", against the mock broker.

The guide's snippet continues "Basic Usage": ``client`` and ``OrderType`` come from there, so the test creates
them the same way first.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from tradebridge_mocks.broker import MockBroker


def test_advanced_features(alpaca_env: MockBroker, capsys: pytest.CaptureFixture[str]) -> None:
    from tradebridge import AlpacaPaperTrading, OrderType

    alpaca_env.set_price("AAPL", 151.25)
    client = AlpacaPaperTrading()
    # Setup outside the guide's code: a position for close_position("AAPL") to close, and a resting order
    # (and a second position) for close_all_positions() to cancel and close. The resting order is on MSFT:
    # one on AAPL would make closing AAPL a potential wash trade, which Alpaca (and the mock) refuse.
    client.place_order("AAPL", 5, "buy")
    client.place_order("MSFT", 2, "buy")
    resting = client.place_order("MSFT", 1, "buy", OrderType.LIMIT, limit_price=1.0)
    served_before = len(alpaca_env.requests)

    # ---- the guide, verbatim from here ----
    # fmt: off
    # Validate order without submitting
    order = client.place_order(
        symbol="AAPL",
        qty=100,
        side="buy",
        order_type=OrderType.MARKET,
        validate_only=True  # Don't actually place order
    )
    # fmt: on
    # ---- pause: the validated order reached no broker ----
    assert len(alpaca_env.requests) == served_before
    assert order["id"] is None and order["symbol"] == "AAPL" and order["qty"] == Decimal(100)
    # ---- the guide, verbatim again ----
    # fmt: off

    # Get latest quote
    quote = client.get_latest_quote("AAPL")
    print(f"Bid: ${quote['bid_price']}, Ask: ${quote['ask_price']}")
    print(f"Spread: ${quote['ask_price'] - quote['bid_price']}")

    # Close position
    client.close_position("AAPL")

    # Close all positions and cancel all orders
    client.close_all_positions()
    # fmt: on
    # ---- end of the guide's code ----

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Bid: $151.24, Ask: $151.26"
    # the quote's prices are floats (as the guide's subtraction needs), so the spread prints as a float
    assert lines[1].startswith("Spread: $0.0") and float(lines[1][len("Spread: $") :]) == pytest.approx(0.02)
    assert client.get_positions() == []
    assert client.get_order(resting["id"]).status == "canceled"
    assert client.get_orders() == []
