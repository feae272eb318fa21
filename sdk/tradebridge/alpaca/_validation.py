"""Local order validation: everything Alpaca would refuse, refused before any HTTP call.

Each refusal is an :class:`OrderValidationError` with a stable ``code`` and the offending ``field``. The
rules are Alpaca's documented ones: a positive ``qty`` or ``notional`` (exactly one), positive finite
prices without sub-penny increments (two decimals from $1 up, four below), the prices each order type needs
and no others, the allowed time-in-force values, fractional and notional orders only as DAY market orders,
extended hours only for DAY limit orders, client order ids of at most 48 characters.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from tradebridge.errors import OrderValidationError

SYMBOL_RE = re.compile(r"^[A-Z][A-Z0-9]{0,9}(\.[A-Z0-9]{1,4})?$")
TIME_IN_FORCE = ("day", "gtc", "opg", "cls", "ioc", "fok")
MAX_CLIENT_ORDER_ID = 48


class OrderType(StrEnum):
    """The order types the adapter places (values are Alpaca's wire names)."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


_PRICES_NEEDED: dict[OrderType, frozenset[str]] = {
    OrderType.MARKET: frozenset(),
    OrderType.LIMIT: frozenset({"limit_price"}),
    OrderType.STOP: frozenset({"stop_price"}),
    OrderType.STOP_LIMIT: frozenset({"limit_price", "stop_price"}),
    OrderType.TRAILING_STOP: frozenset(),
}


@dataclass(frozen=True)
class OrderSpec:
    """A validated order, ready to send (or to return unsent from ``validate_only``)."""

    symbol: str
    side: str
    order_type: OrderType
    time_in_force: str
    client_order_id: str
    qty: Decimal | None = None
    notional: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool = False

    def to_request_body(self) -> dict[str, Any]:
        """The JSON Alpaca receives (what alpaca-py would send for the same request)."""
        body: dict[str, Any] = {
            "symbol": self.symbol,
            "side": self.side,
            "type": self.order_type.value,
            "time_in_force": self.time_in_force,
            "client_order_id": self.client_order_id,
        }
        for name in ("qty", "notional", "limit_price", "stop_price", "trail_price", "trail_percent"):
            value = getattr(self, name)
            if value is not None:
                body[name] = str(value)
        if self.extended_hours:
            body["extended_hours"] = True
        return body


def _fail(code: str, field: str, message: str) -> OrderValidationError:
    return OrderValidationError(code, message, field)


def _number(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise _fail("invalid_number", field, f"{field} must be a number, got {type(value).__name__}")
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise _fail("invalid_number", field, f"{field} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise _fail("invalid_number", field, f"{field} must be finite, got {value!r}")
    return number


def _positive(value: Any, field: str) -> Decimal:
    number = _number(value, field)
    if number <= 0:
        raise _fail("not_positive", field, f"{field} must be > 0, got {value!r}")
    return number


def check_price(value: Any, field: str) -> Decimal:
    """A positive price with no sub-penny increment Alpaca would refuse."""
    price = _positive(value, field)
    places = 2 if price >= 1 else 4
    if price != price.quantize(Decimal(1).scaleb(-places)):
        raise _fail(
            "sub_penny",
            field,
            f"{field} {value} has a sub-penny increment: Alpaca accepts {places} decimals for prices "
            f"{'>=' if places == 2 else '<'} $1",
        )
    return price


def _choice(value: Any, field: str, allowed: tuple[str, ...], code: str) -> str:
    text = getattr(value, "value", value)
    if not isinstance(text, str) or text.lower() not in allowed:
        raise _fail(code, field, f"{field} must be one of {', '.join(allowed)}, got {value!r}")
    return text.lower()


def order_type_of(value: Any) -> OrderType:
    try:
        return OrderType(getattr(value, "value", value).lower().replace(" ", "_"))
    except (ValueError, AttributeError):
        allowed = ", ".join(t.value for t in OrderType)
        raise _fail("invalid_order_type", "order_type", f"order_type must be one of {allowed}") from None


def validate_order(
    *,
    symbol: Any,
    qty: Any,
    side: Any,
    order_type: Any,
    limit_price: Any,
    stop_price: Any,
    time_in_force: Any,
    client_order_id: Any,
    notional: Any,
    trail_price: Any,
    trail_percent: Any,
    extended_hours: bool,
) -> OrderSpec:
    if not isinstance(symbol, str) or not SYMBOL_RE.match(symbol):
        raise _fail(
            "invalid_symbol",
            "symbol",
            f"symbol must be an upper-case ticker such as AAPL or BRK.B, got {symbol!r}",
        )
    side_ = _choice(side, "side", ("buy", "sell"), "invalid_side")
    type_ = order_type_of(order_type)
    tif = _choice(time_in_force, "time_in_force", TIME_IN_FORCE, "invalid_time_in_force")

    if (qty is None) == (notional is None):
        raise _fail("qty_or_notional", "qty", "give exactly one of qty or notional")
    qty_ = _positive(qty, "qty") if qty is not None else None
    notional_ = _positive(notional, "notional") if notional is not None else None
    if notional_ is not None:
        if notional_ != notional_.quantize(Decimal("0.01")):
            raise _fail("sub_penny", "notional", f"notional must have at most 2 decimals, got {notional!r}")
        if type_ is not OrderType.MARKET or tif != "day":
            raise _fail("notional_not_allowed", "notional", "notional orders must be DAY market orders")
    if (
        qty_ is not None
        and qty_ != qty_.to_integral_value()
        and (type_ is not OrderType.MARKET or tif != "day")
    ):
        raise _fail(
            "fractional_not_allowed", "qty", "fractional quantities are only allowed on DAY market orders"
        )

    given = {"limit_price": limit_price, "stop_price": stop_price}
    needed = _PRICES_NEEDED[type_]
    prices: dict[str, Decimal | None] = {}
    for field, value in given.items():
        if field in needed and value is None:
            raise _fail("missing_price", field, f"{type_.value} orders need {field}")
        if field not in needed and value is not None:
            raise _fail("unexpected_price", field, f"{type_.value} orders take no {field}")
        prices[field] = check_price(value, field) if value is not None else None

    trail_price_ = trail_percent_ = None
    if type_ is OrderType.TRAILING_STOP:
        if (trail_price is None) == (trail_percent is None):
            raise _fail(
                "missing_price",
                "trail_price",
                "trailing stops need exactly one of trail_price or trail_percent",
            )
        if trail_price is not None:
            trail_price_ = check_price(trail_price, "trail_price")
        else:
            trail_percent_ = _positive(trail_percent, "trail_percent")
            if trail_percent_ >= 100:
                raise _fail("invalid_trail", "trail_percent", "trail_percent must be below 100")
        if tif not in ("day", "gtc"):
            raise _fail("invalid_time_in_force", "time_in_force", "trailing stops accept only day or gtc")
    elif trail_price is not None or trail_percent is not None:
        field = "trail_price" if trail_price is not None else "trail_percent"
        raise _fail("unexpected_price", field, f"{type_.value} orders take no {field}")

    if tif in ("opg", "cls") and type_ not in (OrderType.MARKET, OrderType.LIMIT):
        raise _fail(
            "invalid_time_in_force", "time_in_force", f"{tif} is only allowed for market and limit orders"
        )
    if extended_hours and (type_ is not OrderType.LIMIT or tif != "day"):
        raise _fail("extended_hours_not_allowed", "extended_hours", "extended hours need a DAY limit order")

    if client_order_id is None:
        client_order_id = f"tb-{uuid.uuid4()}"
    if (
        not isinstance(client_order_id, str)
        or not 0 < len(client_order_id) <= MAX_CLIENT_ORDER_ID
        or not client_order_id.isprintable()
    ):
        raise _fail(
            "invalid_client_order_id",
            "client_order_id",
            f"client_order_id must be 1..{MAX_CLIENT_ORDER_ID} printable characters",
        )
    return OrderSpec(
        symbol=symbol,
        side=side_,
        order_type=type_,
        time_in_force=tif,
        client_order_id=client_order_id,
        qty=qty_,
        notional=notional_,
        limit_price=prices["limit_price"],
        stop_price=prices["stop_price"],
        trail_price=trail_price_,
        trail_percent=trail_percent_,
        extended_hours=bool(extended_hours),
    )
