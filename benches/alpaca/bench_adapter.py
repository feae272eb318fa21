"""What the adapter's safety (validation, token bucket, timeouts, retry wrapper, typed records) costs per
call, against bare alpaca-py on the same in-process mock broker over loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import MarketOrderRequest
from tradebridge.alpaca import AlpacaPaperTrading
from tradebridge_mocks.broker import MockBroker

from benches.alpaca.conftest import MEDIANS


@pytest.fixture(scope="module")
def broker() -> Iterator[MockBroker]:
    with MockBroker(seed=1, initial_cash=Decimal(10**9)) as running:
        yield running


def clients(broker: MockBroker) -> dict[str, Any]:
    return {
        "tradebridge": AlpacaPaperTrading("bench", "bench", base_url=broker.url, rate_limit_per_minute=10**9),
        "alpaca-py": TradingClient("bench", "bench", paper=True, url_override=broker.url),
    }


def calls(client: Any) -> dict[str, Callable[[], object]]:
    if isinstance(client, AlpacaPaperTrading):
        return {
            "get_account": client.get_account_info,
            "market_order": lambda: client.place_order("AAPL", 1, "buy"),
        }
    return {
        "get_account": client.get_account,
        "market_order": lambda: client.submit_order(
            MarketOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="day")
        ),
    }


@pytest.mark.parametrize("operation", ["get_account", "market_order"])
@pytest.mark.parametrize("name", ["tradebridge", "alpaca-py"])
def test_call_latency(benchmark: Any, broker: MockBroker, name: str, operation: str) -> None:
    call = calls(clients(broker)[name])[operation]
    benchmark.group = operation
    benchmark.pedantic(call, rounds=200, warmup_rounds=10)
    MEDIANS[(operation, name)] = benchmark.stats.stats.median
