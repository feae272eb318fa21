"""Contract v1 messages as msgspec Structs (the Python side of ``contracts/v1/*.schema.json``).

Bus messages are internally tagged (``"type": "BarUpdate"``, like serde's ``#[serde(tag = "type")]``) and
carry the envelope fields ``schema_version`` (always written), ``seq``, ``source`` and ``sent_at_us`` (written
only when set: the bus writes them). Decoded messages keep the guide's dict-style access:
``message["type"]``, ``message["symbol"]``.

Contract v1.1 added three optional fields (absent in everything a v1.0 peer writes, and ignored by a v1.0
reader): ``sent_at_us`` on every bus message, ``signal_id`` on Signal and OrderUpdate, ``price`` on Signal.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import msgspec
from msgspec import UNSET, Struct, UnsetType

from tradebridge._native import MessageChecks
from tradebridge.contracts._values import (
    ABSENT_VERSION,
    CURRENT_VERSION,
    ClientOrderId,
    Component,
    Direction,
    Exchange,
    Features,
    HealthStatus,
    Micros,
    Millis,
    OrderStatus,
    OrderTypeName,
    Price,
    Quantity,
    Rfc3339,
    SchemaVersion,
    Seq,
    Side,
    SignalId,
    Size,
    Source,
    Strength,
    Symbol,
    TimeInForce,
    check_rfc3339,
    check_signal_id,
    check_symbol,
    check_version,
)

__all__ = [
    "AnyMessage",
    "BarUpdate",
    "BusMessage",
    "Health",
    "Heartbeat",
    "MarketMessage",
    "OrderUpdate",
    "QuoteUpdate",
    "Readiness",
    "Signal",
    "TradeUpdate",
]


class _ItemAccess:
    """Dict-style reads, so code written for the guide's plain dicts keeps working on decoded messages."""

    __slots__ = ()
    __struct_fields__: ClassVar[tuple[str, ...]]

    def __getitem__(self, key: str) -> Any:
        if key == "type":
            tag = self.__struct_config__.tag  # type: ignore[attr-defined]
            if isinstance(tag, str):
                return tag
        elif key in self.__struct_fields__:
            value = getattr(self, key)
            if value is not UNSET:
                return value
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, UNSET) is not UNSET

    def keys(self) -> Iterator[str]:
        """The keys present on the wire, in wire order (``type`` first for bus messages)."""
        if isinstance(self.__struct_config__.tag, str):  # type: ignore[attr-defined]
            yield "type"
        for name in self.__struct_fields__:
            if getattr(self, name) is not UNSET:
                yield name

    def to_dict(self) -> dict[str, Any]:
        """The message as plain JSON-ready builtins, exactly as it is encoded."""
        result: dict[str, Any] = msgspec.to_builtins(self)
        return result


class BusMessage(_ItemAccess, Struct, kw_only=True, tag_field="type"):
    """Fields every bus message carries (the envelope).

    ``__post_init__`` (run by msgspec after decoding and on construction) checks the patterns; every
    other rule is a ``msgspec.Meta`` constraint, checked while decoding (see ``validate``).

    ``schema_version`` defaults to ``CURRENT_VERSION`` for a message built here; the codec's ``Decoder``
    turns that default into ``ABSENT_VERSION`` when a decoded document had no version (msgspec fills the
    same default object in, so the test is one identity comparison).
    """

    schema_version: SchemaVersion = CURRENT_VERSION
    seq: Seq | UnsetType = UNSET
    source: Source | UnsetType = UNSET
    #: microseconds since the Unix epoch when the publisher sent it (v1.1; the bus writes it)
    sent_at_us: Micros | UnsetType = UNSET

    # Native (tradebridge._native.MessageChecks): msgspec calls it for every decoded message, and a Python
    # __post_init__ cost more than the rest of the checks (a frame per message, benches/contracts). Each
    # check is a byte test there; what it does not pass goes to the check_* function, which raises. A
    # builtin method, not a function: `BusMessage.__post_init__(message)` calls it (no `self` binding).
    __post_init__ = MessageChecks(check_version).check  # type: ignore[misc]  # a builtin


# The symbol cache the Python __post_init__ kept (a set lookup was cheaper than check_symbol) is gone:
# the native byte test is cheaper than the lookup. It stays empty, so its bound holds trivially.
_VALID_SYMBOLS: set[str] = set()
_VALID_SYMBOLS_LIMIT = 4096


class _WithSymbol(BusMessage):
    symbol: Symbol

    __post_init__ = MessageChecks(check_version, check_symbol=check_symbol).check  # type: ignore[misc]


# Signal's and OrderUpdate's: symbol, version, then signal_id when set (the order the errors win in)
_WITH_SIGNAL_ID = MessageChecks(
    check_version, check_symbol=check_symbol, check_signal_id=check_signal_id, unset=UNSET
).check


class BarUpdate(_WithSymbol, tag="BarUpdate", gc=False):
    """One OHLCV bar. Prices are finite and > 0, volume >= 0, timestamp in epoch milliseconds."""

    symbol: Symbol
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Size
    timestamp: Millis
    vwap: Price | UnsetType = UNSET
    trade_count: Seq | UnsetType = UNSET


class TradeUpdate(_WithSymbol, tag="TradeUpdate", gc=False):
    """One market trade print."""

    symbol: Symbol
    price: Price
    size: Quantity
    timestamp: Millis
    trade_id: Source | UnsetType = UNSET
    exchange: Exchange | UnsetType = UNSET


class QuoteUpdate(_WithSymbol, tag="QuoteUpdate", gc=False):
    """Top of book. A side with no quote has price 0 and size 0, hence >= 0 rather than > 0."""

    symbol: Symbol
    bid_price: Size
    bid_size: Size
    ask_price: Size
    ask_size: Size
    timestamp: Millis


class Signal(_WithSymbol, tag="Signal"):
    """The guide's trading signal. ``type`` may be absent on decode (the guide's plain peers omit it), and
    the original bridge's tag ``SignalGenerated`` is read as ``Signal`` (see ``Decoder.legacy``).

    v1.1: ``signal_id`` (the publisher's id for it; an order placed for it is ``tb-<signal_id>``) and
    ``price`` (the reference price it was computed at) are typed fields, no longer ``metadata`` keys.
    """

    symbol: Symbol
    direction: Direction
    strength: Strength
    timestamp: Millis
    features: Features | None = None
    metadata: dict[str, Any] | None = None
    signal_id: SignalId | UnsetType = UNSET
    price: Price | UnsetType = UNSET

    __post_init__ = _WITH_SIGNAL_ID  # type: ignore[misc]


class OrderUpdate(_WithSymbol, tag="OrderUpdate"):
    """An execution report (Alpaca's order fields and statuses)."""

    order_id: ClientOrderId
    client_order_id: ClientOrderId
    symbol: Symbol
    side: Side
    qty: Quantity
    filled_qty: Size
    filled_avg_price: Price | None
    status: OrderStatus
    timestamp: Millis
    order_type: OrderTypeName | UnsetType = UNSET
    limit_price: Price | UnsetType = UNSET
    stop_price: Price | UnsetType = UNSET
    time_in_force: TimeInForce | UnsetType = UNSET
    reason: str | UnsetType = UNSET
    #: v1.1: the signal this order was placed for (its client_order_id is ``tb-<signal_id>``)
    signal_id: SignalId | UnsetType = UNSET

    __post_init__ = _WITH_SIGNAL_ID  # type: ignore[misc]


class Heartbeat(BusMessage, tag="Heartbeat", gc=False):
    """Liveness beacon on the ``system`` topic."""

    component: Component
    timestamp: Millis
    status: HealthStatus | UnsetType = UNSET


class _Body(_ItemAccess, Struct, kw_only=True):
    """HTTP bodies: not tagged (the guide's bodies have no ``type``), timestamps as RFC 3339 strings.

    v1.1 did not change them; their writers (the Python and the Rust health servers) still say 1.0.
    """

    schema_version: SchemaVersion = ABSENT_VERSION
    timestamp: Rfc3339

    def __post_init__(self) -> None:
        check_rfc3339(self.timestamp)
        if self.schema_version is not ABSENT_VERSION:
            check_version(self.schema_version)


class Health(_Body):
    """The ``/health`` body, field for field the guide's example."""

    status: HealthStatus
    component: Component
    message: str
    metrics: dict[str, str]
    timestamp: Rfc3339


class Readiness(_Body):
    """The ``/ready`` body."""

    ready: bool
    component: Component
    timestamp: Rfc3339
    reason: str | UnsetType = UNSET


MarketMessage = BarUpdate | TradeUpdate | QuoteUpdate
"""What travels on the ``market`` topic; decode it and branch on ``message["type"]`` or ``isinstance``."""

AnyMessage = BarUpdate | TradeUpdate | QuoteUpdate | Signal | OrderUpdate | Heartbeat
"""Every bus message (``type`` required, Signal included)."""
