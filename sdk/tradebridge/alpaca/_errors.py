"""Broker answers become typed errors carrying Alpaca's HTTP status, numeric code and message.

The texts are built only from the status and Alpaca's JSON body, never from the request, so no key can end
up in a message, a log line or a traceback (the original alpaca-py exception is not chained for the same
reason: it holds the request with its headers).
"""

from __future__ import annotations

import json
from typing import Any

import requests

from tradebridge.errors import AlpacaError, BrokerError, RateLimitError

__all__ = [
    "AuthenticationError",
    "BrokerUnavailableError",
    "DuplicateClientOrderIdError",
    "InsufficientFundsError",
    "NotFoundError",
    "OrderRejectedError",
    "from_api_error",
]


class AuthenticationError(BrokerError):
    """401: the broker does not accept the key pair."""


class NotFoundError(BrokerError):
    """404 (code 40410000): no such order, position or asset."""


class OrderRejectedError(BrokerError):
    """403 or 422: the broker refused the request (buying power, quantity, state, validation)."""


class InsufficientFundsError(OrderRejectedError):
    """403 40310000: insufficient buying power or quantity."""


class DuplicateClientOrderIdError(OrderRejectedError):
    """422 40010001: the client_order_id was used before, by a different order."""


class BrokerUnavailableError(AlpacaError, ConnectionError):
    """The broker could not be reached (connection refused, timeout) even after the retries."""


def _body(text: str) -> tuple[int | None, str, dict[str, Any]]:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None, text.strip()[:200] or "(empty body)", {}
    if not isinstance(parsed, dict):
        return None, str(parsed)[:200], {}
    code = parsed.get("code")
    message = str(parsed.get("message") or "(no message)")
    return (code if isinstance(code, int) else None), message, parsed


def from_api_error(exc: Any) -> BrokerError:
    """An alpaca-py ``APIError`` (or any object with ``status_code`` and the body as ``str``)."""
    status = int(getattr(exc, "status_code", 0) or 0)
    code, message, body = _body(str(exc))
    error: BrokerError
    if status == 429:
        error = RateLimitError(status, code, message)
    elif status == 401:
        error = AuthenticationError(status, code, message)
    elif status == 404:
        error = NotFoundError(status, code, message)
    elif status == 422 and code == 40010001 and "client_order_id" in message:
        error = DuplicateClientOrderIdError(status, code, message)
    elif status == 403 and code == 40310000 and "insufficient" in message:
        error = InsufficientFundsError(status, code, message)
    elif status in (403, 422):
        error = OrderRejectedError(status, code, message)
    else:
        error = BrokerError(status, code, message)
    error.details = {k: v for k, v in body.items() if k not in ("code", "message")}  # type: ignore[attr-defined]
    return error


def from_transport_error(exc: requests.RequestException) -> BrokerUnavailableError:
    kind = "timed out" if isinstance(exc, requests.Timeout) else "could not connect"
    request = getattr(exc, "request", None)
    where = ""
    if request is not None and getattr(request, "url", None):
        from urllib.parse import urlsplit

        parts = urlsplit(str(request.url))
        where = f" ({request.method} {parts.scheme}://{parts.hostname}:{parts.port or ''}{parts.path})"
    return BrokerUnavailableError(f"the broker {kind}{where}: {type(exc).__name__}")
