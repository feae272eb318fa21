"""The mock broker under test, on a random loopback port, with the key pair the OpenAPI run sends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tradebridge_mocks.broker import MockBroker

OPENAPI = Path(__file__).resolve().parents[2] / "contracts" / "openapi" / "alpaca-mock.yaml"
API_KEY = "PKCONFORMANCE"
SECRET_KEY = "conformance-secret"


@pytest.fixture
def broker() -> Iterator[MockBroker]:
    with MockBroker(
        seed=3, symbols=("AAPL", "MSFT"), api_key=API_KEY, secret_key=SECRET_KEY, rate_limit=100_000
    ) as running:
        running.advance(10)
        yield running
