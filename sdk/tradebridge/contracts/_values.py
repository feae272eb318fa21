"""Constrained value types shared by every contract v1 message.

Each alias carries its constraint as ``msgspec.Meta``, and ``msgspec.json.schema`` reports it (the drift
check compares that report with ``contracts/v1``). Bounds and lengths msgspec enforces in C while decoding;
patterns (``extra_json_schema``) the messages' ``__post_init__`` checks. ``FeatureValue``'s finite bound is
stated for the schema only: msgspec's JSON parser already refuses what it would refuse (see the alias).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from msgspec import Meta

from tradebridge.errors import ContractError

__all__ = [
    "ABSENT_VERSION",
    "CURRENT_VERSION",
    "FLOAT_MAX",
    "KNOWN_VERSIONS",
    "MAX_SAFE_INTEGER",
    "ClientOrderId",
    "Component",
    "Direction",
    "Exchange",
    "FeatureValue",
    "Features",
    "HealthStatus",
    "Micros",
    "Millis",
    "OrderStatus",
    "OrderTypeName",
    "Price",
    "Quantity",
    "Rfc3339",
    "SchemaVersion",
    "Seq",
    "Side",
    "SignalId",
    "Size",
    "Source",
    "Strength",
    "Symbol",
    "TimeInForce",
    "check_rfc3339",
    "check_signal_id",
    "check_symbol",
    "check_version",
]

#: what encoders write on new messages (a decoded message keeps the version it came with)
CURRENT_VERSION = "1.1"
#: what a message without ``schema_version`` follows: the guide's plain peers, and every v1.0 writer
ABSENT_VERSION = "1.0"
# The versions written so far pass without a regex (every decode checks the version it reads).
KNOWN_VERSIONS = frozenset({ABSENT_VERSION, CURRENT_VERSION})
# Largest finite double: a `maximum` at this bound rejects 1e400 (which parsers read as Infinity).
FLOAT_MAX = 1.7976931348623157e308
# Integers above 2**53 - 1 lose precision in JavaScript and in any peer that parses numbers as doubles.
MAX_SAFE_INTEGER = 2**53 - 1

SYMBOL_PATTERN = "^[A-Z0-9][A-Z0-9./:-]*$"
VERSION_PATTERN = "^1\\.[0-9]+$"
SIGNAL_ID_PATTERN = "^[A-Za-z0-9._-]+$"
# An order for a signal is `tb-<signal_id>`, and Alpaca's client_order_id holds 48 characters.
MAX_SIGNAL_ID = 45
RFC3339_PATTERN = (
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
)

# Patterns are enforced by the check_* functions below (called from the Structs' __post_init__), not by
# msgspec: msgspec runs `pattern` through Python's re on every decode (two patterns tripled the decode
# time of a bar) and with re.search, whose `$` also matches before a trailing newline. The schema still
# states them (extra_json_schema), so the drift check keeps schema and code on the same constants.
SchemaVersion = Annotated[str, Meta(extra_json_schema={"pattern": VERSION_PATTERN})]
Seq = Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)]
Source = Annotated[str, Meta(min_length=1, max_length=64)]
Symbol = Annotated[str, Meta(min_length=1, max_length=32, extra_json_schema={"pattern": SYMBOL_PATTERN})]
Millis = Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)]
Micros = Annotated[int, Meta(ge=0, le=MAX_SAFE_INTEGER)]
SignalId = Annotated[
    str, Meta(min_length=1, max_length=MAX_SIGNAL_ID, extra_json_schema={"pattern": SIGNAL_ID_PATTERN})
]
Price = Annotated[float, Meta(gt=0, le=FLOAT_MAX)]
Size = Annotated[float, Meta(ge=0, le=FLOAT_MAX)]
Quantity = Annotated[float, Meta(gt=0, le=FLOAT_MAX)]
Strength = Annotated[float, Meta(ge=0, le=1)]
#: Finite. The schema states it, but msgspec does not check it as a ``ge``/``le`` bound: its JSON parser
#: already refuses a number outside the double range (``out_of_range`` at the value's path, vector
#: ``signal/n_feature_1e400``) and JSON has no NaN or infinity, so such a bound could never fail here. It
#: would cost about 6 ns a value, 12 values in every ``Signal`` of the demo.
FeatureValue = Annotated[float, Meta(extra_json_schema={"minimum": -FLOAT_MAX, "maximum": FLOAT_MAX})]
MAX_FEATURES = 4096
Features = Annotated[list[FeatureValue | None], Meta(max_length=MAX_FEATURES)]
Exchange = Annotated[str, Meta(min_length=1, max_length=16)]
Component = Annotated[str, Meta(min_length=1, max_length=64)]
ClientOrderId = Annotated[str, Meta(min_length=1, max_length=128)]
Rfc3339 = Annotated[str, Meta(extra_json_schema={"pattern": RFC3339_PATTERN})]

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

_SYMBOL = re.compile(SYMBOL_PATTERN)
_VERSION = re.compile(VERSION_PATTERN)
_SIGNAL_ID = re.compile(SIGNAL_ID_PATTERN)
_RFC3339 = re.compile(RFC3339_PATTERN)


def check_symbol(value: str) -> None:
    # Plain tickers (AAPL, A1) pass three C-level string tests; only punctuated or all-digit ones need re.
    if not (value.isascii() and value.isalnum() and value.isupper()) and _SYMBOL.fullmatch(value) is None:
        raise ContractError("invalid_value", f"symbol {value!r} does not match {SYMBOL_PATTERN}", "$.symbol")


def check_version(value: str) -> None:
    if value not in KNOWN_VERSIONS and _VERSION.fullmatch(value) is None:
        raise ContractError(
            "invalid_version", f"{value!r} does not match {VERSION_PATTERN}", "$.schema_version"
        )


def check_rfc3339(value: str) -> None:
    if _RFC3339.fullmatch(value) is None:
        raise ContractError("invalid_value", f"{value!r} is not an RFC 3339 date-time", "$.timestamp")


def check_signal_id(value: str) -> None:
    # Lengths are msgspec's (checked before this runs); ids are short, so the regex is the whole cost.
    if _SIGNAL_ID.fullmatch(value) is None:
        raise ContractError(
            "invalid_value", f"signal_id {value!r} does not match {SIGNAL_ID_PATTERN}", "$.signal_id"
        )
