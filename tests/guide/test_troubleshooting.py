"""Guide section "Troubleshooting", "Alpaca API Error": ``ValueError: Alpaca credentials not found``."""

from __future__ import annotations

from pathlib import Path

import pytest
from tradebridge.errors import ConfigurationError, CredentialsError

from tests.guide.conftest import API_KEY, SECRET_KEY

CREDENTIAL_VARIABLES = ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "APCA_API_KEY_ID", "APCA_API_SECRET_KEY")


def test_missing_credentials_is_the_guides_value_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tradebridge import AlpacaPaperTrading

    monkeypatch.chdir(tmp_path)  # no .env here or above
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    # what a user who skipped step 3 sees, caught the way the guide names it
    with pytest.raises(ValueError, match="Alpaca credentials not found") as info:
        AlpacaPaperTrading()
    assert isinstance(info.value, CredentialsError) and isinstance(info.value, ConfigurationError)
    assert "ALPACA_API_KEY" in str(info.value) and "ALPACA_SECRET_KEY" in str(info.value)


def test_the_guides_solution_a_dotenv_file_fixes_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tradebridge import AlpacaPaperTrading

    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ALPACA_BASE_URL", raising=False)
    # the guide's `cat > .env << EOF ... EOF`, with our test keys
    (tmp_path / ".env").write_text(
        f"ALPACA_API_KEY={API_KEY}\n"
        f"ALPACA_SECRET_KEY={SECRET_KEY}\n"
        "ALPACA_BASE_URL=https://paper-api.alpaca.markets\n"
    )
    monkeypatch.chdir(tmp_path)

    client = AlpacaPaperTrading()  # constructing makes no request: nothing leaves loopback

    assert client.base_url == "https://paper-api.alpaca.markets"
    assert API_KEY not in repr(client) and SECRET_KEY not in repr(client)
