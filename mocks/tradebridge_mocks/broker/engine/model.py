"""The paper account's data: orders, positions, the account, options, Alpaca's refusals and money format."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tradebridge_mocks.broker.prices import CENT

INITIAL_CASH = Decimal("100000")
SHORT_COLLAR = Decimal("1.03")
ZERO = Decimal(0)

ORDER_TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIME_IN_FORCE = ("day", "gtc", "opg", "cls", "ioc", "fok")
OPEN_STATUSES = frozenset({"new", "accepted", "pending_new", "partially_filled", "held"})
#: statuses an order never leaves (``pending_replace`` and ``held`` can go back to an open status)
TERMINAL_STATUSES = frozenset({"filled", "canceled", "expired", "rejected", "replaced"})
SYMBOL_RE = re.compile(r"^[A-Z][A-Z0-9]{0,9}(\.[A-Z0-9]{1,4})?$")
MAX_CLIENT_ORDER_ID = 48
#: keeps every product of a quantity and a price within Decimal's 28 digits (and any order absurd anyway)
MAX_MAGNITUDE = Decimal(10) ** 12
NUMERIC_RE = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


class Refusal(Exception):
    """An Alpaca error answer: HTTP status, Alpaca's numeric code (None for 401/429) and extra fields."""

    def __init__(self, status: int, code: int | None, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, **self.extra}
        if self.code is not None:
            body["code"] = self.code
        return body


def invalid(message: str) -> Refusal:
    return Refusal(422, 40010001, message)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def money(value: Decimal) -> str:
    """Alpaca's money strings: plain decimal notation, trailing zeros trimmed (``"100000"``, ``"100.1"``)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def decimal_field(body: dict[str, Any], name: str) -> Decimal | None:
    """A numeric field sent as a JSON number or a numeric string (alpaca-py sends numbers, Alpaca documents
    strings); anything else is Alpaca's 422."""
    raw = body.get(name)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise invalid(f"invalid {name}")
    if isinstance(raw, str) and not NUMERIC_RE.match(raw):
        raise invalid(f"invalid {name}")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise invalid(f"invalid {name}") from None
    if not value.is_finite() or abs(value) >= MAX_MAGNITUDE:
        raise invalid(f"invalid {name}")
    return value


def check_increment(name: str, price: Decimal) -> None:
    """Alpaca refuses sub-penny prices: at most 2 decimals from $1 up, 4 below."""
    if price <= 0:
        raise invalid(f"{name} must be > 0")
    places = 2 if price >= 1 else 4
    if price != price.quantize(Decimal(1).scaleb(-places)):
        raise Refusal(
            422,
            42210000,
            f"invalid {name} {price}. sub-penny increment does not fulfill minimum pricing criteria",
        )


@dataclass(slots=True)
class Order:
    id: str
    client_order_id: str
    symbol: str
    asset_id: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    trail_price: Decimal | None
    trail_percent: Decimal | None
    extended_hours: bool
    position_intent: str
    created_at: str
    status: str = "new"
    filled_qty: Decimal = ZERO
    filled_avg_price: Decimal | None = None
    hwm: Decimal | None = None
    elected: bool = False
    updated_at: str = ""
    submitted_at: str = ""
    filled_at: str | None = None
    canceled_at: str | None = None
    failed_at: str | None = None
    expired_at: str | None = None
    replaced_at: str | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    order_class: str = "simple"
    #: the exit legs of a bracket/oto entry, or the stop leg of an oco (:mod:`.legs`)
    legs: list[Order] = field(default_factory=list)
    #: the id of the order this one is a leg of
    parent: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def sign(self) -> int:
        return 1 if self.side == "buy" else -1

    def remaining(self, price: Decimal) -> Decimal:
        """Unfilled quantity; a notional order's quantity is fixed at its first fill price."""
        if self.qty is not None:
            return self.qty - self.filled_qty
        assert self.notional is not None
        return (self.notional / price).quantize(Decimal("0.000000001")) - self.filled_qty

    def to_json(self) -> dict[str, Any]:
        def opt(value: Decimal | None) -> str | None:
            return None if value is None else money(value)

        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "submitted_at": self.submitted_at,
            "filled_at": self.filled_at,
            "expired_at": self.expired_at,
            "expires_at": None,
            "canceled_at": self.canceled_at,
            "failed_at": self.failed_at,
            "replaced_at": self.replaced_at,
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": self.asset_id,
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": opt(self.notional),
            "qty": opt(self.qty),
            "filled_qty": money(self.filled_qty),
            "filled_avg_price": opt(self.filled_avg_price),
            "order_class": self.order_class,
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "position_intent": self.position_intent,
            "time_in_force": self.time_in_force,
            "limit_price": opt(self.limit_price),
            "stop_price": opt(self.stop_price),
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": [leg.to_json() for leg in self.legs] or None,
            "trail_percent": opt(self.trail_percent),
            "trail_price": opt(self.trail_price),
            "hwm": opt(self.hwm),
        }


@dataclass(slots=True)
class Position:
    symbol: str
    asset_id: str
    qty: Decimal
    avg_entry_price: Decimal
    lastday_price: Decimal

    def to_json(self, current: Decimal) -> dict[str, Any]:
        cost_basis = self.qty * self.avg_entry_price
        market_value = self.qty * current
        unrealized = market_value - cost_basis
        plpc = unrealized / abs(cost_basis) if cost_basis else ZERO
        intraday = self.qty * (current - self.lastday_price)
        intraday_base = abs(self.qty * self.lastday_price)
        return {
            "asset_id": self.asset_id,
            "symbol": self.symbol,
            "exchange": "NASDAQ",
            "asset_class": "us_equity",
            "asset_marginable": True,
            "qty": money(self.qty),
            "qty_available": money(self.qty),
            "avg_entry_price": money(self.avg_entry_price),
            "side": "long" if self.qty > 0 else "short",
            "market_value": money(market_value.quantize(CENT)),
            "cost_basis": money(cost_basis.quantize(CENT)),
            "unrealized_pl": money(unrealized.quantize(CENT)),
            "unrealized_plpc": money(plpc.quantize(Decimal("0.0000000001"))),
            "unrealized_intraday_pl": money(intraday.quantize(CENT)),
            "unrealized_intraday_plpc": money(
                (intraday / intraday_base).quantize(Decimal("0.0000000001")) if intraday_base else ZERO
            ),
            "current_price": money(current),
            "lastday_price": money(self.lastday_price),
            "change_today": money(
                ((current - self.lastday_price) / self.lastday_price).quantize(Decimal("0.0000000001"))
            ),
        }


@dataclass
class EngineOptions:
    seed: int = 0
    initial_cash: Decimal = INITIAL_CASH
    shorting_enabled: bool = True
    #: "immediate": a marketable order is filled inside its POST; "deferred": orders answer ``accepted``
    #: and are routed (``new``), filled, or ``rejected`` (buying power gone by then) on the next price
    #: update, as Alpaca's asynchronous paper engine does.
    fill_mode: str = "immediate"
    #: chance that a fill is partial (Alpaca paper: 10% of eligible orders); the rest fills on later ticks
    partial_fill_rate: float = 0.0


def asset_uuid(symbol: str) -> str:
    """A stable asset id per symbol (Alpaca's asset ids never change)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tradebridge-mock-asset:{symbol}"))


class OrderBook(dict[str, Order]):
    """Every order of the account, in submission order, plus an index of those not terminal yet: the
    engine re-works the open orders on every bar (1,000 a second in the soak) and sums them for buying
    power on every submission. Scanning every order the run ever placed instead cost ~0.44 ms a bar after
    2,500 orders (~10 us with the index), so the soak's broker answered slower every minute."""

    def __init__(self) -> None:
        super().__init__()
        self._live: dict[str, Order] = {}

    def __setitem__(self, order_id: str, order: Order) -> None:
        super().__setitem__(order_id, order)
        self._live[order_id] = order

    def open_orders(self) -> list[Order]:
        """The open orders, in submission order; terminal ones leave the index for good."""
        live = self._live
        done = [order_id for order_id, order in live.items() if order.status in TERMINAL_STATUSES]
        for order_id in done:
            del live[order_id]
        return [order for order in live.values() if order.is_open]


@dataclass
class Account:
    id: str
    number: str
    cash: Decimal
    last_equity: Decimal
    created_at: str
    positions: dict[str, Position] = field(default_factory=dict)
    orders: OrderBook = field(default_factory=OrderBook)  # insertion order = submission order
    client_ids: dict[str, str] = field(default_factory=dict)  # client_order_id -> order id, never freed
    #: ``FILL`` activities, oldest first (``routes.activities``)
    activities: list[dict[str, Any]] = field(default_factory=list)
    #: (epoch seconds of the minute, equity at its end): ``GET /v2/account/portfolio/history``
    equity_log: list[tuple[int, Decimal]] = field(default_factory=list)
    #: watchlist id -> watchlist (``routes.watchlists``), in creation order
    watchlists: dict[str, Any] = field(default_factory=dict)


def _one_cancels_other(a: Order, b: Order) -> bool:
    """Exits of one bracket, or both sides of an oco: only one of them can ever fill."""
    if a.order_class not in ("bracket", "oco") or a.order_class != b.order_class:
        return False
    return (a.parent or a.id) == (b.parent or b.id)


#: told every order state change (event, order, fill fields), under the engine's lock (``streams.trading``)
OrderListener = Callable[[str, "Order", dict[str, str]], None]
