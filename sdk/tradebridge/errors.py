"""One error tree for the whole SDK.

Every exception tradebridge raises on purpose derives from :class:`TradebridgeError`, so a service can catch
"anything tradebridge refused" in one place, and each area's errors also derive from the builtin a Python
programmer would expect (``ValueError`` for bad input, ``ConnectionError`` for transport trouble).

Errors that cross a language boundary carry a stable ``code`` (a snake_case string that never changes
meaning once released; the Rust crates use the same strings) so that tests, logs and the conformance
harness compare codes, never message texts. Those codes are catalogued once, in Rust (``ErrorCode::ALL`` in
``tradebridge-contracts``); :data:`CODES` is read from there, so the two languages cannot disagree. (The
Alpaca adapter's ``OrderValidationError.code`` and ``BrokerError.code`` are local validation reasons and
Alpaca's own numbers, not part of the catalogue.)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar, Final

from tradebridge._native import error_codes

__all__ = [
    "CODES",
    "AlpacaError",
    "BrokerError",
    "BusError",
    "ConfigurationError",
    "ContractError",
    "CredentialsError",
    "FeatureError",
    "FeatureTypeError",
    "InternalError",
    "LiveTradingRefusedError",
    "OrderValidationError",
    "RateLimitError",
    "TradebridgeError",
]

CODES: Final[Mapping[str, str]] = MappingProxyType(dict(error_codes()))
"""Every stable error code -> its one-line description, in catalogue order (read-only)."""


class TradebridgeError(Exception):
    """Base of every error tradebridge raises on purpose."""


class ContractError(TradebridgeError, ValueError):
    """A message does not follow its contract.

    ``code`` is stable across releases and identical in Python and Rust; ``path`` is a JSON path into the
    offending document (``$`` for the whole document, ``$.features[3]`` for one element).
    """

    def __init__(self, code: str, message: str, path: str = "$") -> None:
        super().__init__(f"{code} at {path}: {message}")
        self.code = code
        self.path = path
        self.detail = message

    def __reduce__(self) -> tuple[type[ContractError], tuple[str, str, str]]:
        return (type(self), (self.code, self.detail, self.path))


class FeatureError(TradebridgeError, ValueError):
    """The feature engine (``tradebridge.features``) refused a bar, a period, a buffer or a saved state.

    ``code`` is one of :data:`CODES` (``out_of_range``, ``invalid_value``, ``wrong_type``); ``field`` names
    the offending bar field or argument (``"close"``, ``"rsi_period"``, ``"out"``) when there is one.
    """

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.detail = message

    def __reduce__(self) -> tuple[type[FeatureError], tuple[str, str, str | None]]:
        return (type(self), (self.code, self.detail, self.field))


class FeatureTypeError(FeatureError, TypeError):
    """A :class:`FeatureError` about a value of the wrong type (code ``wrong_type``); also a ``TypeError``,
    which is what Python code expects to catch for one."""


class InternalError(TradebridgeError, RuntimeError):
    """A bug inside tradebridge, such as a Rust panic stopped at the Python boundary (code ``internal``).

    The object whose method raised it may be inconsistent: reset or recreate it.
    """

    code: ClassVar[str] = "internal"


class BusError(TradebridgeError, ConnectionError):
    """The message bus could not do what was asked (bind, connect, send, a closed socket)."""


class ConfigurationError(TradebridgeError, ValueError):
    """A setting is missing or invalid (an endpoint, a port, a limit)."""


class AlpacaError(TradebridgeError):
    """Base of the Alpaca adapter's errors."""


class CredentialsError(AlpacaError, ConfigurationError):
    """Alpaca credentials are missing; the message names the variables to set, never their values."""


class LiveTradingRefusedError(AlpacaError, ConfigurationError):
    """A non-paper (live or unknown) endpoint was configured; refused before any request."""


class OrderValidationError(AlpacaError, ValueError):
    """An order was refused by local validation before any HTTP call.

    ``field`` names the offending argument, ``code`` is a stable snake_case reason.
    """

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


class BrokerError(AlpacaError):
    """The broker answered with an error; carries Alpaca's HTTP status, numeric code and message."""

    def __init__(self, status_code: int, code: int | None, message: str) -> None:
        super().__init__(
            f"HTTP {status_code}" + (f" code {code}" if code is not None else "") + f": {message}"
        )
        self.status_code = status_code
        self.code = code
        self.message = message


class RateLimitError(BrokerError):
    """The broker kept answering 429 after the adapter's retries."""
