"""tradebridge: message contracts, a ZeroMQ bus, Rust features and an Alpaca paper adapter.

The guide's names import from the package root (``from tradebridge import Signal, RustFeatureComputer``).
They are resolved lazily so that ``import tradebridge`` stays cheap: a strategy that only computes features
does not pay for pyzmq, and nobody pays for alpaca-py (and its pandas) until they touch the adapter.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> submodule that defines it
_EXPORTS: dict[str, str] = {
    # contracts
    "BarUpdate": "tradebridge.contracts",
    "TradeUpdate": "tradebridge.contracts",
    "QuoteUpdate": "tradebridge.contracts",
    "Signal": "tradebridge.contracts",
    "OrderUpdate": "tradebridge.contracts",
    "Heartbeat": "tradebridge.contracts",
    "Health": "tradebridge.contracts",
    "Readiness": "tradebridge.contracts",
    "MarketMessage": "tradebridge.contracts",
    "Encoder": "tradebridge.contracts",
    "Decoder": "tradebridge.contracts",
    "encode": "tradebridge.contracts",
    "decode": "tradebridge.contracts",
    # errors
    "TradebridgeError": "tradebridge.errors",
    "ContractError": "tradebridge.errors",
    "BusError": "tradebridge.errors",
    # feature engine (Rust)
    "MarketBar": "tradebridge._native",
    "RustFeatureComputer": "tradebridge._native",
    # bus
    "ZMQPublisher": "tradebridge.bus",
    "ZMQSubscriber": "tradebridge.bus",
    # alpaca
    "AlpacaPaperTrading": "tradebridge.alpaca",
    "OrderType": "tradebridge.alpaca",
    # health
    "HealthCheck": "tradebridge.health",
    "HealthServer": "tradebridge.health",
    "start_health_server": "tradebridge.health",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tradebridge' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from tradebridge._native import MarketBar, RustFeatureComputer
    from tradebridge.alpaca import AlpacaPaperTrading, OrderType
    from tradebridge.bus import ZMQPublisher, ZMQSubscriber
    from tradebridge.contracts import (
        BarUpdate,
        Decoder,
        Encoder,
        Health,
        Heartbeat,
        MarketMessage,
        OrderUpdate,
        QuoteUpdate,
        Readiness,
        Signal,
        TradeUpdate,
        decode,
        encode,
    )
    from tradebridge.errors import BusError, ContractError, TradebridgeError
    from tradebridge.health import HealthCheck, HealthServer, start_health_server
