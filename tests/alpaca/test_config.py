"""Credentials and endpoints: where keys come from, and live trading refused before any request.

The rules themselves are proved against the Rust engine by ``conformance/broker_access``; these tests cover
the adapter's use of them."""

from __future__ import annotations

from pathlib import Path

import pytest
import responses
from tradebridge.alpaca import (
    PAPER_URL,
    AlpacaPaperTrading,
    BrokerUrlError,
    Credentials,
    CredentialsRefusedError,
    RetryPolicy,
    resolve_credentials,
)
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


def test_resolve_credentials_is_the_one_public_rule(tmp_path: Path) -> None:
    env_file = tmp_path / "keys.env"
    env_file.write_text("APCA_API_KEY_ID=file-key\nAPCA_API_SECRET_KEY=file-secret\n")
    found = resolve_credentials({}, env_file)
    assert (found.api_key, found.secret_key, found.source) == (
        "file-key",
        "file-secret",
        ".env file:APCA_API_KEY_ID",
    )
    both = {
        "APCA_API_KEY_ID": "k2",
        "APCA_API_SECRET_KEY": "s2",
        "ALPACA_API_KEY": "k1",
        "ALPACA_SECRET_KEY": "s1",
    }
    assert resolve_credentials(both, env_file).api_key == "k1"  # the guide's names first; env over file
    for env, code in (
        ({"ALPACA_API_KEY": "k1"}, "incomplete_pair"),
        ({"ALPACA_API_KEY": "k1", "APCA_API_SECRET_KEY": "s2"}, "mixed_pair"),
    ):
        with pytest.raises(CredentialsRefusedError) as info:
            resolve_credentials(env, env_file)
        assert info.value.code == code and isinstance(info.value, CredentialsError)
        assert "k1" not in str(info.value) and "s2" not in str(info.value)  # names, never values
    with pytest.raises(CredentialsRefusedError) as missing:
        resolve_credentials({}, tmp_path / "absent.env")
    assert missing.value.code == "no_credentials"
    assert "file-secret" not in repr(found) and "file-key" not in repr(found)


def test_the_adapter_refuses_a_mixed_pair_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ALPACA_API_KEY", "k1")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "s2")
    with pytest.raises(CredentialsError, match="mixed_pair"):
        AlpacaPaperTrading(env_file=tmp_path / "absent.env")


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://127.0.0.1.example.com", "not_paper_host"),
        ("http://127.1:8090", "non_canonical_ip"),
        ("https://paper-api.alpaca.markets:8443", "bad_port"),
        ("http://paper-api.alpaca.markets", "bad_scheme"),
        ("http://user:pw@127.0.0.1:1", "userinfo"),
        ("http://127.0.0.1:1/v2/orders", "bad_path"),
        ("paper-api.alpaca.markets", "malformed_url"),
    ],
)
def test_endpoint_refusals_carry_the_shared_code(url: str, code: str) -> None:
    with pytest.raises(BrokerUrlError) as info:
        AlpacaPaperTrading(API_KEY, SECRET_KEY, base_url=url)
    assert info.value.code == code and f"[{code}]" in str(info.value)
    assert isinstance(info.value, LiveTradingRefusedError)


@pytest.mark.parametrize(
    "options",
    [{"max_attempts": 0}, {"base_delay": -1.0}, {"max_delay": float("nan")}, {"budget": float("inf")}],
)
def test_retry_policies_are_validated(options: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError, match="RetryPolicy"):
        RetryPolicy(**options)  # type: ignore[arg-type]
