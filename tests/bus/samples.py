"""Sample messages of every bus type (used by the bus tests, the transport conformance and the benches)."""

from __future__ import annotations

from typing import Any

from tradebridge.contracts import BarUpdate, Heartbeat, OrderUpdate, QuoteUpdate, Signal, TradeUpdate


def bar(i: int = 0, symbol: str = "AAPL") -> BarUpdate:
    close = 100.0 + i * 0.01
    return BarUpdate(
        symbol=symbol,
        open=close,
        high=close + 0.5,
        low=close - 0.5,
        close=close,
        volume=1000.0 + i,
        timestamp=1_735_828_200_000 + 60_000 * i,
    )


def signal(i: int = 0, features: int = 3) -> Signal:
    return Signal(
        symbol="AAPL",
        direction="long" if i % 2 == 0 else "short",
        strength=0.85,
        timestamp=1_729_530_000_123 + i,
        features=[float(k) for k in range(features)],
        metadata={"strategy": "ml-predictor"},
    )


def one_of_each() -> list[Any]:
    """One message of every bus type, on all four topics."""
    return [
        bar(),
        TradeUpdate(symbol="MSFT", price=410.25, size=100.0, timestamp=1_735_828_200_001, trade_id="t-1"),
        QuoteUpdate(
            symbol="BTC/USD",
            bid_price=97000.5,
            bid_size=0.25,
            ask_price=97001.0,
            ask_size=1.5,
            timestamp=1_735_828_200_002,
        ),
        signal(),
        OrderUpdate(
            order_id="ord-1",
            client_order_id="cli-1",
            symbol="AAPL",
            side="buy",
            qty=10.0,
            filled_qty=10.0,
            filled_avg_price=151.02,
            status="filled",
            timestamp=1_735_828_200_003,
            order_type="market",
        ),
        Heartbeat(component="execution-engine", timestamp=1_735_828_200_004, status="healthy"),
    ]
