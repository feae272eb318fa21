"""Credentials and endpoints, and the rule that makes live trading impossible through this adapter.

Keys come from the arguments, then the environment, then a ``.env`` file (the environment wins over the
file), under our names (``ALPACA_API_KEY``/``ALPACA_SECRET_KEY``) or Alpaca's (``APCA_API_KEY_ID``/
``APCA_API_SECRET_KEY``). Keys are kept in :class:`Credentials`, whose repr never shows them.

The trading endpoint must be Alpaca's paper endpoint or a loopback address (our mock broker); anything else,
Alpaca's live endpoint above all, raises :class:`LiveTradingRefusedError` before a client even exists.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tradebridge.errors import ConfigurationError, CredentialsError, LiveTradingRefusedError

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"
_PAPER_HOSTS = frozenset({"paper-api.alpaca.markets"})
_DATA_HOSTS = frozenset({"data.alpaca.markets", "data.sandbox.alpaca.markets"})
KEY_VARIABLES = (("ALPACA_API_KEY", "ALPACA_SECRET_KEY"), ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"))


@dataclass(frozen=True)
class Credentials:
    """An Alpaca key pair; ``repr``/``str`` never show either part."""

    api_key: str = field(repr=False)
    secret_key: str = field(repr=False)

    def __repr__(self) -> str:
        return "Credentials(api_key=<hidden>, secret_key=<hidden>)"

    __str__ = __repr__


def read_settings(env_file: str | Path | None) -> dict[str, str]:
    """The environment over the ``.env`` file (``env_file=None`` searches from the working directory)."""
    from dotenv import dotenv_values, find_dotenv

    path = str(env_file) if env_file is not None else find_dotenv(usecwd=True)
    settings = {k: v for k, v in dotenv_values(path).items() if v is not None} if path else {}
    settings.update(os.environ)
    return settings


def resolve_credentials(
    api_key: str | None, secret_key: str | None, settings: Mapping[str, str]
) -> Credentials:
    if api_key is None and secret_key is None:
        for key_var, secret_var in KEY_VARIABLES:
            if settings.get(key_var) and settings.get(secret_var):
                return Credentials(settings[key_var], settings[secret_var])
    if api_key and secret_key:
        return Credentials(api_key, secret_key)
    raise CredentialsError(
        "Alpaca credentials not found: set ALPACA_API_KEY and ALPACA_SECRET_KEY (or APCA_API_KEY_ID and "
        "APCA_API_SECRET_KEY) in the environment or a .env file, or pass api_key= and secret_key="
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _describe(url: str) -> str:
    """The URL without any ``user:password@`` part, for error messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else repr(url)


def _origin(url: str, what: str) -> tuple[str, str]:
    """``(origin, host)`` of a configured endpoint: alpaca-py wants the bare origin (no ``/``, no ``/v2``)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{what} must be an http(s) URL, got {_describe(url)}")
    if parts.username or parts.password:
        raise ConfigurationError(f"{what} must not carry credentials in the URL")
    if parts.query or parts.fragment or parts.path.rstrip("/") not in ("", "/v2"):
        raise ConfigurationError(f"{what} must be a bare origin such as {PAPER_URL}, got {_describe(url)}")
    host = parts.hostname
    port = f":{parts.port}" if parts.port else ""
    shown_host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown_host}{port}", host


def paper_trading_url(url: str | None) -> str:
    """The trading origin to use; refuses every endpoint that is not paper or loopback."""
    if not url:
        return PAPER_URL
    origin, host = _origin(url, "ALPACA_BASE_URL")
    if host in _PAPER_HOSTS:
        if not origin.startswith("https://"):
            raise LiveTradingRefusedError(f"the paper endpoint must be used over https, got {_describe(url)}")
        return origin
    if _is_loopback(host):
        return origin
    live = " (Alpaca's LIVE endpoint)" if host == "api.alpaca.markets" else ""
    raise LiveTradingRefusedError(
        f"refusing trading endpoint {_describe(url)}{live}: this adapter trades on paper only; use "
        f"{PAPER_URL} or a loopback mock broker"
    )


def market_data_url(url: str | None, trading_url: str) -> str:
    """The data origin: given, or the mock's own origin when trading on loopback, or Alpaca's data API."""
    if not url:
        return trading_url if _is_loopback(urlsplit(trading_url).hostname or "") else DATA_URL
    origin, host = _origin(url, "ALPACA_DATA_URL")
    if host in _DATA_HOSTS or _is_loopback(host):
        return origin
    raise ConfigurationError(f"ALPACA_DATA_URL must be Alpaca's data API or loopback, got {_describe(url)}")
