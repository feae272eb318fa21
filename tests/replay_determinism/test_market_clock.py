"""The mock broker's ``--clock market``: the bars move its clock, every moment trades, and an order fills at
the quote standing when it arrives, stamped with the bar's end, however long the wall clock took."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tradebridge_mocks.broker import MockBroker
from tradebridge_mocks.market import DEFAULT_START_MS

KEYS = {"APCA-API-KEY-ID": "k", "APCA-API-SECRET-KEY": "s", "Content-Type": "application/json"}


def call(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=KEYS)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def buy(broker: MockBroker, client_order_id: str) -> dict[str, Any]:
    order = {"symbol": "AAPL", "qty": "3", "side": "buy", "type": "market", "time_in_force": "day"}
    return dict(call(broker.url + "/v2/orders", "POST", {**order, "client_order_id": client_order_id}))


def bar_end(bars: int) -> str:
    moment = datetime.fromtimestamp(DEFAULT_START_MS / 1000, UTC) + timedelta(minutes=bars)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_orders_fill_at_the_standing_quote_on_the_bars_clock() -> None:
    options: dict[str, Any] = {"seed": 3, "symbols": ("AAPL",), "clock": "market", "fill_mode": "immediate"}
    with MockBroker(**options) as broker:
        assert call(broker.url + "/v2/account")["created_at"] == bar_end(0)
        broker.advance(1)
        time.sleep(0.3)  # wall time passes; the broker's does not
        close = broker.state.prices.last("AAPL")
        first = buy(broker, "a-1")
        assert first["status"] == "filled" and first["filled_at"] == first["submitted_at"] == bar_end(1)
        assert Decimal(first["filled_avg_price"]) == close + Decimal("0.01")  # the ask: close + half spread
        # 400 bars later it is past 16:00 in New York: the market clock still trades
        broker.advance(400)
        late = buy(broker, "a-2")
        assert late["status"] == "filled" and late["filled_at"] == bar_end(401)
        # the same seed and the same calls give the same order ids (the seeded generator, no time in them)
        with MockBroker(**options) as again:
            again.advance(1)
            assert buy(again, "a-1")["id"] == first["id"]
