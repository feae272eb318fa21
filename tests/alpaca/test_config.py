"""Credentials and endpoints: where keys come from, and live trading refused before any request."""

from __future__ import annotations

from pathlib import Path

import pytest
import responses
from tradebridge.alpaca import PAPER_URL, AlpacaPaperTrading, Credentials
from tradebridge.errors import ConfigurationError, CredentialsError, LiveTradingRefusedError

from tests.alpaca.conftest import API_KEY, SECRET_KEY


@responses.activate
def test_missing_credentials_name_the_variables() -> None:
    with pytest.raises(CredentialsError) as info:
        AlpacaPaperTrading()
    message = str(info.value)
    for name in ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "APCA_API_KEY_ID", "APCA_API_SECRET_KEY"):
        assert name in message
    assert isinstance(info.value, ValueError)  # a configuration error is a ValueError too
    with pytest.raises(CredentialsError):
        AlpacaPaperTrading(api_key=API_KEY)  # a key without its secret
    assert len(responses.calls) == 0


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"ALPACA_API_KEY": "k1", "ALPACA_SECRET_KEY": "s1"}, ("k1", "s1")),
        ({"APCA_API_KEY_ID": "k2", "APCA_API_SECRET_KEY": "s2"}, ("k2", "s2")),
        (
            {
                "ALPACA_API_KEY": "k1",
                "ALPACA_SECRET_KEY": "s1",
                "APCA_API_KEY_ID": "k2",
                "APCA_API_SECRET_KEY": "s2",
            },
            ("k1", "s1"),
        ),
    ],
)
@responses.activate
def test_keys_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: tuple[str, str]
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    responses.get(
        f"{PAPER_URL}/v2/clock",
        json={
            "timestamp": "2024-01-02T10:00:00-05:00",
            "is_open": True,
            "next_open": "2024-01-03T09:30:00-05:00",
            "next_close": "2024-01-02T16:00:00-05:00",
        },
    )
    AlpacaPaperTrading(rate_limit_per_minute=None).get_clock()
    headers = responses.calls[0].request.headers
    assert (headers["APCA-API-KEY-ID"], headers["APCA-API-SECRET-KEY"]) == expected


@responses.activate
def test_keys_and_endpoint_from_a_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text(
        "ALPACA_API_KEY=file-key\nALPACA_SECRET_KEY=file-secret\nALPACA_BASE_URL=http://127.0.0.1:9\n"
    )
    client = AlpacaPaperTrading()
    assert client.base_url == client.data_url == "http://127.0.0.1:9"
    monkeypatch.setenv("ALPACA_BASE_URL", PAPER_URL)  # the environment wins over the file
    assert AlpacaPaperTrading().base_url == PAPER_URL


@pytest.mark.parametrize(
    "url",
    [
        "https://api.alpaca.markets",
        "https://api.alpaca.markets/v2",
        "https://broker-api.alpaca.markets",
        "https://paper-api.alpaca.markets.evil.example",
        "http://paper-api.alpaca.markets",
        "https://10.0.0.5",
        "http://192.168.1.10:8080",
    ],
)
@responses.activate
def test_non_paper_endpoints_are_refused_before_any_request(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(LiveTradingRefusedError) as info:
        AlpacaPaperTrading(API_KEY, SECRET_KEY, base_url=url)
    assert "paper" in str(info.value)
    monkeypatch.setenv("ALPACA_BASE_URL", url)
    with pytest.raises(LiveTradingRefusedError):
        AlpacaPaperTrading(API_KEY, SECRET_KEY)
    assert len(responses.calls) == 0


def test_live_endpoint_is_named_as_live() -> None:
    with pytest.raises(LiveTradingRefusedError, match="LIVE"):
        AlpacaPaperTrading(API_KEY, SECRET_KEY, base_url="https://api.alpaca.markets")
    with pytest.raises(LiveTradingRefusedError):
        AlpacaPaperTrading(API_KEY, SECRET_KEY, paper=False)


@pytest.mark.parametrize(
    ("url", "base", "data"),
    [
        (None, PAPER_URL, "https://data.alpaca.markets"),
        ("https://paper-api.alpaca.markets/", PAPER_URL, "https://data.alpaca.markets"),
        ("https://paper-api.alpaca.markets/v2", PAPER_URL, "https://data.alpaca.markets"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123", "http://127.0.0.1:8123"),
        ("http://localhost:8123/", "http://localhost:8123", "http://localhost:8123"),
        ("http://[::1]:8123", "http://[::1]:8123", "http://[::1]:8123"),
    ],
)
def test_accepted_endpoints_are_bare_origins(url: str | None, base: str, data: str) -> None:
    client = AlpacaPaperTrading(API_KEY, SECRET_KEY, base_url=url)
    assert (client.base_url, client.data_url) == (base, data)


def test_data_endpoint_rules() -> None:
    client = AlpacaPaperTrading(API_KEY, SECRET_KEY, data_url="https://data.sandbox.alpaca.markets")
    assert client.data_url == "https://data.sandbox.alpaca.markets"
    for bad in ("https://example.com", "ftp://127.0.0.1", "http://127.0.0.1:1/v2/stocks", "not a url"):
        with pytest.raises(ConfigurationError):
            AlpacaPaperTrading(API_KEY, SECRET_KEY, data_url=bad)
    with pytest.raises(ConfigurationError, match="credentials"):
        AlpacaPaperTrading(API_KEY, SECRET_KEY, base_url="http://user:pw@127.0.0.1:1")


def test_credentials_hide_their_values() -> None:
    credentials = Credentials(API_KEY, SECRET_KEY)
    for text in (repr(credentials), str(credentials), repr(AlpacaPaperTrading(API_KEY, SECRET_KEY))):
        assert API_KEY not in text and SECRET_KEY not in text
