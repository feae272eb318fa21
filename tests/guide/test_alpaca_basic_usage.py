"""Guide section "3. Alpaca Paper Trading Integration", example "Basic Usage", against the mock broker."""

from __future__ import annotations

import re
from datetime import UTC
from decimal import Decimal

import pytest
from tradebridge.contracts import BarUpdate
from tradebridge_mocks.broker import MockBroker


def test_basic_usage(alpaca_env: MockBroker, capsys: pytest.CaptureFixture[str]) -> None:
    # Setup outside the guide's code: AAPL trades at 149.50, so the guide's buy limit at 150.0 is marketable
    # and fills, and the position loop below has a position to print.
    alpaca_env.set_price("AAPL", 149.50)

    # ---- the guide, verbatim from here ----
    # fmt: off
    from tradebridge import AlpacaPaperTrading, OrderType

    # Initialize (forced paper trading for safety)
    client = AlpacaPaperTrading()

    # Get account and portfolio
    account = client.get_account_info()
    metrics = client.get_portfolio_metrics()

    print(f"Cash: ${metrics.cash}")
    print(f"P&L: ${metrics.total_pl} ({metrics.total_pl_pct}%)")
    print(f"Positions: {metrics.positions_count}")

    # Place order with validation
    order = client.place_order(
        symbol="AAPL",
        qty=10,
        side="buy",
        order_type=OrderType.LIMIT,
        limit_price=150.0,
        time_in_force="gtc"
    )

    print(f"Order placed: {order['id']} - Status: {order['status']}")

    # Get positions
    positions = client.get_positions()
    for pos in positions:
        print(f"{pos.symbol}: {pos.qty} @ ${pos.avg_entry_price}")
        print(f"  P&L: ${pos.unrealized_pl} ({pos.unrealized_pl_pct}%)")

    # Get historical data
    from datetime import datetime, timedelta
    bars = client.get_historical_bars(
        symbol="AAPL",
        start=datetime.now() - timedelta(days=10),
        end=datetime.now()
    )
    # fmt: on
    # ---- end of the guide's code ----

    lines = capsys.readouterr().out.splitlines()
    assert account.cash == Decimal("100000") and account.status == "ACTIVE"
    assert lines[:3] == ["Cash: $100000", "P&L: $0 (0%)", "Positions: 0"]
    assert re.fullmatch(r"Order placed: [0-9a-f-]{36} - Status: filled", lines[3]), lines[3]
    # filled at the ask (last + one cent), so the position is one cent per share under water
    assert lines[4:] == ["AAPL: 10 @ $149.51", "  P&L: $-0.10 (-0.0067%)"]

    # ten days of daily bars, deterministic for the broker's seed, inside the window asked for
    assert 9 <= len(bars) <= 11
    assert all(isinstance(bar, BarUpdate) and bar.symbol == "AAPL" for bar in bars)
    # (a day of slack either side: the guide's naive datetime.now() is local time, alpaca-py sends it as UTC)
    now_ms, day_ms = datetime.now(UTC).timestamp() * 1000, 86_400_000
    assert all(now_ms - 12 * day_ms <= bar.timestamp <= now_ms + day_ms for bar in bars)
    assert [b.timestamp for b in bars] == sorted({b.timestamp for b in bars})
    again = client.get_historical_bars("AAPL", start=datetime.now() - timedelta(days=10), end=datetime.now())
    assert [b.close for b in again[:5]] == [b.close for b in bars[:5]]
