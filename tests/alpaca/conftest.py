"""Fixtures of the Alpaca adapter and mock broker tests: a mock broker on a random loopback port, the real
alpaca-py clients pointed at it, and our adapter with millisecond retry waits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from tradebridge.alpaca import AlpacaPaperTrading, RetryPolicy
from tradebridge_mocks.broker import MockBroker

API_KEY = "PKTESTKEY0000000000"
SECRET_KEY = "sEcReT-do-not-leak-4f1c9a"
FAST_RETRY = RetryPolicy(max_attempts=5, base_delay=0.002, max_delay=0.01, budget=3.0)


def with_timeout(client: Any, seconds: float = 5.0) -> Any:
    """alpaca-py has no timeout: a broken mock must fail the test, not hang it."""
    original = client._session.request

    def request(method: str, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", seconds)
        return original(method, url, **kwargs)

    client._session.request = request
    client._retry_wait = 0.01
    return client


@pytest.fixture
def broker() -> Iterator[MockBroker]:
    with MockBroker(seed=7, symbols=("AAPL", "MSFT", "GOOGL")) as running:
        running.advance(5)
        yield running


@pytest.fixture
def trading(broker: MockBroker) -> TradingClient:
    return with_timeout(TradingClient(API_KEY, SECRET_KEY, paper=True, url_override=broker.url))


@pytest.fixture
def data(broker: MockBroker) -> StockHistoricalDataClient:
    return with_timeout(StockHistoricalDataClient(API_KEY, SECRET_KEY, url_override=broker.url))


@pytest.fixture
def adapter(broker: MockBroker) -> AlpacaPaperTrading:
    return AlpacaPaperTrading(
        API_KEY, SECRET_KEY, base_url=broker.url, timeout=5.0, rate_limit_per_minute=None, retry=FAST_RETRY
    )


@pytest.fixture(autouse=True)
def _no_alpaca_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Tests never read the developer's real keys or .env."""
    for name in (
        "ALPACA_API_KEY",
        "ALPACA_SECRET_KEY",
        "APCA_API_KEY_ID",
        "APCA_API_SECRET_KEY",
        "ALPACA_BASE_URL",
        "ALPACA_DATA_URL",
        "APCA_API_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
