"""Fixtures of the mock broker's REST tests: the real mock on a random loopback port, the unmodified
alpaca-py clients pointed at it, and a raw HTTP helper for the calls alpaca-py does not make."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from tradebridge_mocks.broker import MockBroker

from tests.alpaca.conftest import with_timeout

API_KEY = "PKRESTKEY00000000000"
SECRET_KEY = "sEcReT-rest-do-not-leak-91d0"
#: Monday 2 March 2026, 08:00 New York (pre-market): a plain trading day
MONDAY_PRE_MARKET = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)


def call(broker: MockBroker, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One raw request with the key pair; (status, decoded JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        broker.url + path,
        data=data,
        method=method,
        headers={
            "APCA-API-KEY-ID": API_KEY,
            "APCA-API-SECRET-KEY": SECRET_KEY,
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def refusal(error: pytest.ExceptionInfo[APIError]) -> tuple[int, int, str]:
    """(HTTP status, Alpaca code, message) of an alpaca-py APIError."""
    body = json.loads(str(error.value))
    assert error.value.status_code is not None
    return error.value.status_code, body["code"], body["message"]


@pytest.fixture
def broker() -> Iterator[MockBroker]:
    with MockBroker(seed=3, symbols=("AAPL", "MSFT")) as running:
        running.advance(3)
        yield running


@pytest.fixture
def exchange() -> Iterator[MockBroker]:
    """NYSE hours on a clock frozen at Monday 08:00 New York; tests move it with ``set_time``."""
    with MockBroker(
        seed=3, symbols=("AAPL", "MSFT"), clock="exchange", clock_start=MONDAY_PRE_MARKET
    ) as running:
        running.advance(3)
        yield running


def client_for(broker: MockBroker) -> TradingClient:
    return with_timeout(TradingClient(API_KEY, SECRET_KEY, paper=True, url_override=broker.url))


@pytest.fixture
def trading(broker: MockBroker) -> TradingClient:
    return client_for(broker)


@pytest.fixture
def data(broker: MockBroker) -> StockHistoricalDataClient:
    return with_timeout(StockHistoricalDataClient(API_KEY, SECRET_KEY, url_override=broker.url))
