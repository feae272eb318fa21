"""Credentials and endpoints, and the rule that makes live trading impossible through this adapter.

Both rules are shared with the Rust engine (``tradebridge-engine``'s ``broker::url`` and
``broker::credentials``) and proved identical by the vectors in ``conformance/vectors/broker_access/``,
whose README states them in full.

Credentials (:func:`resolve_credentials`): the process environment, then a ``.env`` file; within a source
the guide's names (``ALPACA_API_KEY``/``ALPACA_SECRET_KEY``) before Alpaca's (``APCA_API_KEY_ID``/
``APCA_API_SECRET_KEY``). The first source holding any of these decides, and in it the first family holding
any: a complete pair is used, half a pair is refused (``incomplete_pair``, ``mixed_pair``), never completed
from elsewhere. Keys live in :class:`Credentials`, whose repr never shows them.

Trading endpoint (:func:`paper_trading_url`): ``https://paper-api.alpaca.markets`` (port none or 443) or
``http(s)://`` a loopback host (a dotted-quad decimal literal in 127.0.0.0/8, ``[::1]`` or ``localhost``);
an optional ``/`` or ``/v2`` path is dropped. Anything else raises :class:`BrokerUrlError` with a stable
``code`` before a client, let alone a socket, exists. The check reads the raw text: URL parsers normalise
``127.1``, ``0x7f.0.0.1`` or ``PAPER-API.alpaca.markets`` into harmless-looking hosts, and resolvers
disagree about such forms, so they never reach one.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tradebridge.errors import ConfigurationError, CredentialsError, LiveTradingRefusedError

__all__ = [
    "CREDENTIAL_FAMILIES",
    "DATA_URL",
    "LIVE_URL",
    "PAPER_URL",
    "URL_CODES",
    "BrokerUrlError",
    "Credentials",
    "CredentialsRefusedError",
    "EndpointError",
    "broker_origin",
    "market_data_url",
    "paper_trading_url",
    "read_settings",
    "resolve_credentials",
]

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"
_PAPER_HOSTS = frozenset({"paper-api.alpaca.markets"})
_DATA_HOSTS = frozenset({"data.alpaca.markets", "data.sandbox.alpaca.markets"})

#: The two credential families, in precedence order: ``(key variable, secret variable)``.
CREDENTIAL_FAMILIES = (("ALPACA_API_KEY", "ALPACA_SECRET_KEY"), ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"))

#: Every refusal code of the endpoint rule, with what it means.
URL_CODES: Mapping[str, str] = {
    "malformed_url": "not http(s)://host[:port]",
    "bad_scheme": "http or https only, and https for Alpaca's hosts",
    "userinfo": "credentials in the URL are not accepted",
    "bad_path": "an origin only (an optional / or /v2, no query or fragment)",
    "bad_port": "port 1-65535 in decimal, and 443 for Alpaca's hosts",
    "non_canonical_ip": "IP literals must be dotted-quad decimal (IPv4) or exactly [::1]",
    "not_paper_host": "paper trading only",
}

_TRIMMED = " \t\n\r\f"
_DIGITS = frozenset("0123456789")
_HEX_DIGITS = frozenset("0123456789abcdef")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")


class EndpointError(ConfigurationError):
    """A configured endpoint was refused; ``code`` is one of :data:`URL_CODES` (the Rust engine's too)."""

    def __init__(self, code: str, what: str, url: str, advice: str) -> None:
        super().__init__(f"refusing {what} {_redacted(url)!r} [{code}]: {URL_CODES[code]}; {advice}")
        self.code = code


class BrokerUrlError(EndpointError, LiveTradingRefusedError):
    """The trading endpoint is not Alpaca paper or loopback (or not a plain origin)."""


class CredentialsRefusedError(CredentialsError):
    """No usable key pair; ``code`` is ``no_credentials``, ``incomplete_pair`` or ``mixed_pair``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} [{code}]")
        self.code = code


@dataclass(frozen=True)
class Credentials:
    """An Alpaca key pair and where it came from; ``repr``/``str`` never show either part of the pair."""

    api_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    #: ``"arguments"``, or ``"environment"``/``".env file"`` and the key's variable, e.g.
    #: ``"environment:ALPACA_API_KEY"``
    source: str = "arguments"

    def __repr__(self) -> str:
        return f"Credentials(api_key=<hidden>, secret_key=<hidden>, source={self.source!r})"

    __str__ = __repr__


def _env_file_values(env_file: str | Path | None) -> dict[str, str]:
    """The ``.env`` file's variables (``env_file=None`` searches upwards from the working directory)."""
    from dotenv import dotenv_values, find_dotenv

    path = str(env_file) if env_file is not None else find_dotenv(usecwd=True)
    if not path or not Path(path).is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def read_settings(env_file: str | Path | None) -> dict[str, str]:
    """The environment over the ``.env`` file, for the endpoint settings."""
    settings = _env_file_values(env_file)
    settings.update(os.environ)
    return settings


def resolve_credentials(
    env: Mapping[str, str] | None = None, env_file: str | Path | None = None
) -> Credentials:
    """The key pair from ``env`` (default: the process environment), else from the ``.env`` file
    (``env_file``, default: the nearest ``.env`` upwards from the working directory).

    Raises :class:`CredentialsRefusedError` (a :class:`~tradebridge.errors.CredentialsError`) with a stable
    ``code``: ``no_credentials``, ``incomplete_pair`` (a key without its secret, or the reverse) or
    ``mixed_pair`` (a key of one family with the secret of the other). Empty values count as unset.
    """
    sources = (("environment", os.environ if env is None else env), (".env file", None))
    for place, values in sources:
        found = values if values is not None else _env_file_values(env_file)

        def get(name: str, found: Mapping[str, str] = found) -> str | None:
            return found.get(name) or None

        for index, (key_var, secret_var) in enumerate(CREDENTIAL_FAMILIES):
            key, secret = get(key_var), get(secret_var)
            if key and secret:
                return Credentials(key, secret, f"{place}:{key_var}")
            if key or secret:
                raise _half_pair(place, index, has_key=key is not None, get=get)
    raise CredentialsRefusedError(
        "no_credentials",
        "Alpaca credentials not found: set ALPACA_API_KEY and ALPACA_SECRET_KEY (or APCA_API_KEY_ID and "
        "APCA_API_SECRET_KEY) in the environment or a .env file",
    )


def _half_pair(
    place: str, index: int, *, has_key: bool, get: Callable[[str], str | None]
) -> CredentialsRefusedError:
    """Family ``index`` holds only one half: "mixed" when another family holds exactly the other half."""
    key_var, secret_var = CREDENTIAL_FAMILIES[index]
    for other, (other_key, other_secret) in enumerate(CREDENTIAL_FAMILIES):
        wanted = other_secret if has_key else other_key
        if other != index and get(wanted):
            key, secret = (key_var, wanted) if has_key else (wanted, secret_var)
            return CredentialsRefusedError(
                "mixed_pair",
                f"credential variables of two families in the {place}: {key} with {secret}; "
                "a key and its secret must come as one pair",
            )
    present, missing = (key_var, secret_var) if has_key else (secret_var, key_var)
    return CredentialsRefusedError(
        "incomplete_pair", f"half a credential pair in the {place}: {present} is set but {missing} is not"
    )


def credentials_for(api_key: str | None, secret_key: str | None, env_file: str | Path | None) -> Credentials:
    """Explicit arguments (both, or neither and :func:`resolve_credentials` decides)."""
    if api_key is None and secret_key is None:
        return resolve_credentials(None, env_file)
    if api_key and secret_key:
        return Credentials(api_key, secret_key)
    raise CredentialsRefusedError(
        "incomplete_pair", "pass both api_key= and secret_key= (or neither, to read the environment)"
    )


def _redacted(url: str) -> str:
    """The URL cut to what is safe to print: no ``user:password@``, no query or fragment."""
    text = url.strip()
    head, sep, rest = text.partition("://")
    if not sep:
        head, rest = "", text
    else:
        head += sep
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    path = tail.split("?", 1)[0].split("#", 1)[0]
    return f"{head}{authority}{path}"[:120]


def _ascii_lower(text: str) -> str:
    # str.lower() folds non-ASCII look-alikes (KELVIN SIGN -> "k") into the hosts we compare against.
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def _ends_in_a_number(host: str) -> bool:
    """WHATWG's "this host is an IPv4 address" test: the last label (one trailing dot ignored) is decimal
    digits, or ``0x`` and hex digits."""
    trimmed = host[:-1] if host.endswith(".") else host
    last = trimmed.rsplit(".", 1)[-1]
    return (bool(last) and set(last) <= _DIGITS) or (last.startswith("0x") and set(last[2:]) <= _HEX_DIGITS)


def _dotted_quad(host: str) -> tuple[int, int, int, int] | None:
    """Four decimal octets, no leading zeros, no trailing dot: the one spelling every resolver reads alike."""
    labels = host.split(".")
    if len(labels) != 4:
        return None
    octets = []
    for label in labels:
        if not 1 <= len(label) <= 3 or not set(label) <= _DIGITS or (label != "0" and label.startswith("0")):
            return None
        if int(label) > 255:
            return None
        octets.append(int(label))
    return octets[0], octets[1], octets[2], octets[3]


def _parse_port(text: str) -> int | None:
    if not text or len(text) > 5 or not set(text) <= _DIGITS or text.startswith("0") or int(text) > 65535:
        raise _Refused("bad_port")
    return int(text)


class _Refused(Exception):
    def __init__(self, code: str) -> None:
        self.code = code


def _check_origin(url: str, named_hosts: frozenset[str]) -> str:
    """The normalised origin, or :class:`_Refused` with the rule's code (the same steps as the Rust side)."""
    text = url.strip(_TRIMMED)
    if not text or any(ord(c) < 0x20 or c in " \\\x7f" for c in text):
        raise _Refused("malformed_url")
    scheme, sep, rest = text.partition("://")
    if (
        not sep
        or not scheme
        or not ("a" <= _ascii_lower(scheme[0]) <= "z")
        or not set(scheme) <= _SCHEME_CHARS
    ):
        raise _Refused("malformed_url")
    scheme = _ascii_lower(scheme)
    if scheme not in ("http", "https"):
        raise _Refused("bad_scheme")
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        raise _Refused("userinfo")
    if tail not in ("", "/", "/v2", "/v2/"):
        raise _Refused("bad_path")
    port_text: str | None
    if authority.startswith("["):
        host, closed, after = authority[1:].partition("]")
        if not closed or (after and not after.startswith(":")):
            raise _Refused("malformed_url")
        port_text, bracketed = (after[1:] if after else None), True
    else:
        host, colon, port_text_or_empty = authority.partition(":")
        port_text, bracketed = (port_text_or_empty if colon else None), False
        if "[" in host or "]" in host:
            raise _Refused("malformed_url")
    if not host:
        raise _Refused("malformed_url")
    port = _parse_port(port_text) if port_text is not None else None
    if bracketed:
        if host == "::1":
            return f"{scheme}://[::1]" + (f":{port}" if port else "")
        try:
            # a zone id ("%eth0") is refused: ipaddress would take it, the Rust parser does not
            address = ipaddress.IPv6Address(host) if "%" not in host else None
        except ValueError:
            address = None
        if address is None:
            raise _Refused("malformed_url")
        raise _Refused("non_canonical_ip" if address == ipaddress.IPv6Address("::1") else "not_paper_host")
    host = _ascii_lower(host)
    if _ends_in_a_number(host):
        octets = _dotted_quad(host)
        if octets is None:
            raise _Refused("non_canonical_ip")
        if octets[0] != 127:
            raise _Refused("not_paper_host")
    elif host in named_hosts:
        if scheme != "https":
            raise _Refused("bad_scheme")
        if port not in (None, 443):
            raise _Refused("bad_port")
        return f"https://{host}"
    elif host != "localhost":
        raise _Refused("not_paper_host")
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def _is_loopback_origin(origin: str) -> bool:
    return origin.split("://", 1)[1].rsplit(":", 1)[0] not in _PAPER_HOSTS | _DATA_HOSTS


def broker_origin(url: str) -> str:
    """The paper-only rule itself: the normalised trading origin, or :class:`BrokerUrlError` with its code."""
    try:
        return _check_origin(url, _PAPER_HOSTS)
    except _Refused as refused:
        live = " (Alpaca's LIVE endpoint)" if "//api.alpaca." in _ascii_lower(url) else ""
        raise BrokerUrlError(
            refused.code,
            "trading endpoint",
            url,
            f"this adapter trades on paper only{live}: use {PAPER_URL} or a loopback mock broker",
        ) from None


def paper_trading_url(url: str | None) -> str:
    """The trading origin to use (unset or empty: Alpaca paper); see :func:`broker_origin`."""
    return broker_origin(url) if url else PAPER_URL


def market_data_url(url: str | None, trading_url: str) -> str:
    """The data origin: given, or the mock's own origin when trading on loopback, or Alpaca's data API."""
    if not url:
        return trading_url if _is_loopback_origin(trading_url) else DATA_URL
    try:
        return _check_origin(url, _DATA_HOSTS)
    except _Refused as refused:
        raise EndpointError(
            refused.code, "ALPACA_DATA_URL", url, "use Alpaca's data API or a loopback address"
        ) from None
