"""Fixtures of the guide tests: the guide's examples run against real parts on loopback.

The guide (``integration-guide.md``) is our interface: each test here runs one of its examples as written,
with ``from src.bridge import ...`` / ``from src.api.alpaca_paper_trading import ...`` read as
``from tradebridge import ...`` and its fixed ports replaced by free loopback ports. Any other change is
marked ``# GUIDE CHANGE:`` in the test with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tradebridge_mocks.broker import MockBroker

# What the guide's .env holds, pointed at the in-process mock broker instead of Alpaca's paper endpoint.
API_KEY = "PKGUIDETEST000000000"
SECRET_KEY = "guide-secret-never-printed-7d2e"


@pytest.fixture
def broker() -> Iterator[MockBroker]:
    """The mock broker (Alpaca's paper API) on a random loopback port, prices moved by hand only."""
    with MockBroker(seed=42, symbols=("AAPL", "MSFT")) as running:
        yield running


def use_broker(monkeypatch: pytest.MonkeyPatch, directory: Path, broker: MockBroker) -> None:
    """The guide's step 3 ("Configure Credentials") as environment variables naming ``broker``."""
    monkeypatch.chdir(directory)  # no developer .env is found from here
    for name in ("ALPACA_DATA_URL", "APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "APCA_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALPACA_API_KEY", API_KEY)
    monkeypatch.setenv("ALPACA_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("ALPACA_BASE_URL", broker.url)


@pytest.fixture
def alpaca_env(broker: MockBroker, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MockBroker:
    """The mock broker, with the guide's credentials variables pointing at it."""
    use_broker(monkeypatch, tmp_path, broker)
    return broker
