"""Alpaca paper trading for tradebridge: ``AlpacaPaperTrading`` and ``OrderType`` (the guide's names).

Paper only, forced; validated orders; a client-side rate limit, timeouts, header-aware retries and
idempotent order submission on top of alpaca-py. See :class:`AlpacaPaperTrading`.
"""

from __future__ import annotations

from tradebridge.alpaca._config import (
    DATA_URL,
    LIVE_URL,
    PAPER_URL,
    BrokerUrlError,
    Credentials,
    CredentialsRefusedError,
    EndpointError,
    resolve_credentials,
)
from tradebridge.alpaca._errors import (
    AuthenticationError,
    BrokerUnavailableError,
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    NotFoundError,
    OrderRejectedError,
)
from tradebridge.alpaca._records import (
    AccountInfo,
    ClosePositionResult,
    OrderInfo,
    PortfolioMetrics,
    PositionInfo,
    Quote,
)
from tradebridge.alpaca._transport import GiveUp, RetryPolicy, TokenBucket
from tradebridge.alpaca._validation import OrderSpec, OrderType
from tradebridge.alpaca.client import AlpacaPaperTrading
from tradebridge.errors import (
    BrokerError,
    CredentialsError,
    LiveTradingRefusedError,
    OrderValidationError,
    RateLimitError,
)

__all__ = [
    "DATA_URL",
    "LIVE_URL",
    "PAPER_URL",
    "AccountInfo",
    "AlpacaPaperTrading",
    "AuthenticationError",
    "BrokerError",
    "BrokerUnavailableError",
    "BrokerUrlError",
    "ClosePositionResult",
    "Credentials",
    "CredentialsError",
    "CredentialsRefusedError",
    "DuplicateClientOrderIdError",
    "EndpointError",
    "GiveUp",
    "InsufficientFundsError",
    "LiveTradingRefusedError",
    "NotFoundError",
    "OrderInfo",
    "OrderRejectedError",
    "OrderSpec",
    "OrderType",
    "OrderValidationError",
    "PortfolioMetrics",
    "PositionInfo",
    "Quote",
    "RateLimitError",
    "RetryPolicy",
    "TokenBucket",
    "resolve_credentials",
]
