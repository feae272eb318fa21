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
    "FeatureError": "tradebridge.errors",
    # feature engine (Rust)
    "MarketBar": "tradebridge.features",
    "RustFeatureComputer": "tradebridge.features",
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
    # "X as X": an explicit re-export, so `from tradebridge import Signal` type-checks under mypy --strict
    from tradebridge.alpaca import AlpacaPaperTrading as AlpacaPaperTrading
    from tradebridge.alpaca import OrderType as OrderType
    from tradebridge.bus import ZMQPublisher as ZMQPublisher
    from tradebridge.bus import ZMQSubscriber as ZMQSubscriber
    from tradebridge.contracts import BarUpdate as BarUpdate
    from tradebridge.contracts import Decoder as Decoder
    from tradebridge.contracts import Encoder as Encoder
    from tradebridge.contracts import Health as Health
    from tradebridge.contracts import Heartbeat as Heartbeat
    from tradebridge.contracts import MarketMessage as MarketMessage
    from tradebridge.contracts import OrderUpdate as OrderUpdate
    from tradebridge.contracts import QuoteUpdate as QuoteUpdate
    from tradebridge.contracts import Readiness as Readiness
    from tradebridge.contracts import Signal as Signal
    from tradebridge.contracts import TradeUpdate as TradeUpdate
    from tradebridge.contracts import decode as decode
    from tradebridge.contracts import encode as encode
    from tradebridge.errors import BusError as BusError
    from tradebridge.errors import ContractError as ContractError
    from tradebridge.errors import FeatureError as FeatureError
    from tradebridge.errors import TradebridgeError as TradebridgeError
    from tradebridge.features import MarketBar as MarketBar
    from tradebridge.features import RustFeatureComputer as RustFeatureComputer
    from tradebridge.health import HealthCheck as HealthCheck
    from tradebridge.health import HealthServer as HealthServer
    from tradebridge.health import start_health_server as start_health_server
