"""Constrained value types shared by every contract v1 message.

Each alias carries its constraint as ``msgspec.Meta`` so that msgspec enforces it in C while decoding and
``msgspec.json.schema`` reports it (the drift check compares that report with ``contracts/v1``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

__all__ = [
    "CURRENT_VERSION",
    "FLOAT_MAX",
    "MAX_SAFE_INTEGER",
    "ClientOrderId",
    "Component",
    "Direction",
    "Exchange",
    "FeatureValue",
    "Features",
    "HealthStatus",
    "Millis",
    "OrderStatus",
    "OrderTypeName",
    "Price",
    "Quantity",
    "Rfc3339",
    "SchemaVersion",
    "Seq",
    "Side",
    "Size",
    "Source",
    "Strength",
    "Symbol",
    "TimeInForce",
]

CURRENT_VERSION = "1.0"
# Largest finite double: a `maximum` at this bound rejects 1e400 (which parsers read as Infinity).
FLOAT_MAX = 1.7976931348623157e308
# Integers above 2**53 - 1 lose precision in JavaScript and in any peer that parses numbers as doubles.
MAX_SAFE_INTEGER = 2**53 - 1

SYMBOL_PATTERN = "^[A-Z0-9][A-Z0-9./:-]*$"
VERSION_PATTERN = "^1\\.[0-9]+$"
RFC3339_PATTERN = (
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
)

SchemaVersion = Annotated[str, Meta(pattern=VERSION_PATTERN)]
Seq = Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)]
Source = Annotated[str, Meta(min_length=1, max_length=64)]
Symbol = Annotated[str, Meta(min_length=1, max_length=32, pattern=SYMBOL_PATTERN)]
Millis = Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)]
Price = Annotated[float, Meta(gt=0, le=FLOAT_MAX)]
Size = Annotated[float, Meta(ge=0, le=FLOAT_MAX)]
Quantity = Annotated[float, Meta(gt=0, le=FLOAT_MAX)]
Strength = Annotated[float, Meta(ge=0, le=1)]
FeatureValue = Annotated[float, Meta(ge=-FLOAT_MAX, le=FLOAT_MAX)]
MAX_FEATURES = 4096
Features = Annotated[list[FeatureValue | None], Meta(max_length=MAX_FEATURES)]
Exchange = Annotated[str, Meta(min_length=1, max_length=16)]
Component = Annotated[str, Meta(min_length=1, max_length=64)]
ClientOrderId = Annotated[str, Meta(min_length=1, max_length=128)]
Rfc3339 = Annotated[str, Meta(pattern=RFC3339_PATTERN)]

Direction = Literal["long", "short"]
Side = Literal["buy", "sell"]
HealthStatus = Literal["healthy", "degraded", "unhealthy"]
OrderTypeName = Literal["market", "limit", "stop", "stop_limit", "trailing_stop"]
TimeInForce = Literal["day", "gtc", "opg", "cls", "ioc", "fok"]
OrderStatus = Literal[
    "new",
    "accepted",
    "pending_new",
    "partially_filled",
    "filled",
    "canceled",
    "expired",
    "rejected",
    "pending_cancel",
    "replaced",
    "done_for_day",
    "stopped",
    "suspended",
    "calculated",
    "accepted_for_bidding",
    "pending_replace",
]
