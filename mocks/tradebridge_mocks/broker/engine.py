"""The paper account: orders, fills, positions and cash, following Alpaca's documented paper semantics.

Pure state, no HTTP: the server turns a :class:`Refusal` into Alpaca's error JSON with the same status and
code Alpaca uses. The arithmetic follows ``alpaca.md`` section 4: signed quantities (negative for shorts),
``cost_basis = qty * avg_entry_price``, ``market_value = qty * current_price``, ``unrealized_pl =
market_value - cost_basis``, cash moves by ``qty * price`` on every fill (short proceeds included), and
``equity = cash + long_market_value + short_market_value``.

Buying power uses cash semantics (multiplier 1): ``cash + short_market_value`` (short proceeds are
collateral, not spendable) minus what open opening orders reserve. A market buy is valued at the ask, a limit
buy at its limit, a short at ``max(limit, 1.03 * ask)`` as Alpaca's pre-trade check does.
"""

from __future__ import annotations

import random
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tradebridge_mocks.broker.prices import CENT, PriceBook

INITIAL_CASH = Decimal("100000")
SHORT_COLLAR = Decimal("1.03")
ZERO = Decimal(0)

ORDER_TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIME_IN_FORCE = ("day", "gtc", "opg", "cls", "ioc", "fok")
OPEN_STATUSES = frozenset({"new", "accepted", "pending_new", "partially_filled", "held"})
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
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": self.asset_id,
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": opt(self.notional),
            "qty": opt(self.qty),
            "filled_qty": money(self.filled_qty),
            "filled_avg_price": opt(self.filled_avg_price),
            "order_class": "simple",
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "position_intent": self.position_intent,
            "time_in_force": self.time_in_force,
            "limit_price": opt(self.limit_price),
            "stop_price": opt(self.stop_price),
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": None,
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


@dataclass
class Account:
    id: str
    number: str
    cash: Decimal
    last_equity: Decimal
    created_at: str
    positions: dict[str, Position] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)  # insertion order = submission order
    client_ids: dict[str, str] = field(default_factory=dict)  # client_order_id -> order id, never freed


#: told every order state change (event, order, fill fields), under the engine's lock (``streams.trading``)
OrderListener = Callable[[str, "Order", dict[str, str]], None]


class PaperEngine:
    """One paper account trading against a :class:`PriceBook`. Thread-safe (one lock around everything)."""

    def __init__(self, prices: PriceBook, options: EngineOptions | None = None) -> None:
        self.prices = prices
        self.options = options or EngineOptions()
        self.lock = threading.RLock()
        self._rng = random.Random(f"broker:{self.options.seed}")
        self.account = self._new_account()
        self.listeners: list[OrderListener] = []

    def _emit(self, event: str, order: Order, **fields: str) -> None:
        for listener in self.listeners:
            listener(event, order, fields)

    # ----------------------------------------------------------------------------------------- helpers
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _new_account(self) -> Account:
        cash = self.options.initial_cash
        return Account(
            id=self._uuid(),
            number=f"PA{self._rng.randrange(10**9):09d}",
            cash=cash,
            last_equity=cash,
            created_at=now_iso(),
        )

    def reset(self) -> None:
        with self.lock:
            self.account = self._new_account()

    def position_qty(self, symbol: str) -> Decimal:
        position = self.account.positions.get(symbol)
        return position.qty if position else ZERO

    def _open_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self.account.orders.values() if o.is_open and symbol in (None, o.symbol)]

    def _opening_value(self, order: Order, qty: Decimal) -> Decimal:
        """What an opening order reserves: buys at their limit (or the ask), shorts at the 3% collar."""
        quote = self.prices.quote(order.symbol)
        if order.side == "buy":
            price = order.limit_price or max(order.stop_price or ZERO, quote.ask)
            return qty * price
        return qty * max(order.limit_price or ZERO, SHORT_COLLAR * quote.ask)

    def _is_opening(self, order: Order) -> bool:
        held = self.position_qty(order.symbol)
        return held == 0 or (held > 0) == (order.side == "buy")

    def market_values(self) -> tuple[Decimal, Decimal]:
        long_mv = short_mv = ZERO
        for position in self.account.positions.values():
            value = position.qty * self.prices.last(position.symbol)
            if value > 0:
                long_mv += value
            else:
                short_mv += value
        return long_mv, short_mv

    def buying_power(self, exclude: Order | None = None) -> Decimal:
        _, short_mv = self.market_values()
        reserved = sum(
            (
                self._opening_value(o, o.remaining(self.prices.quote(o.symbol).ask))
                for o in self._open_orders()
                if o is not exclude and self._is_opening(o)
            ),
            ZERO,
        )
        return max(self.account.cash + short_mv - reserved, ZERO).quantize(CENT)

    # -------------------------------------------------------------------------------------- submission
    def submit(self, body: dict[str, Any]) -> Order:
        with self.lock:
            order = self._build(body)
            self._check_funds(order)
            deferred = self.options.fill_mode == "deferred"
            order.status = "accepted" if deferred else "new"
            self.account.orders[order.id] = order
            self.account.client_ids[order.client_order_id] = order.id
            self._emit(order.status, order)
            if not deferred:
                self._work(order)
            return order

    def _build(self, body: dict[str, Any]) -> Order:
        if not isinstance(body, dict):
            raise invalid("request body must be a JSON object")
        symbol = body.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise invalid("symbol is required")
        if not SYMBOL_RE.match(symbol):
            raise invalid(f'asset "{symbol}" not found')
        side = body.get("side")
        if side not in ("buy", "sell"):
            raise invalid("side must be buy or sell")
        order_type = body.get("type", body.get("order_type"))
        if order_type not in ORDER_TYPES:
            raise invalid(f"invalid order type: {order_type!r}")
        tif = body.get("time_in_force")
        if tif not in TIME_IN_FORCE:
            raise invalid(f"invalid time_in_force: {tif!r}")
        order_class = body.get("order_class") or "simple"
        if order_class != "simple":
            raise invalid(f"order_class {order_class!r} is not supported by the mock broker")
        extended = body.get("extended_hours", False)
        if not isinstance(extended, bool):
            raise invalid("extended_hours must be a boolean")
        if extended and (order_type != "limit" or tif != "day"):
            raise invalid("extended hours order must be DAY limit orders")

        qty = decimal_field(body, "qty")
        notional = decimal_field(body, "notional")
        if (qty is None) == (notional is None):
            raise invalid("qty or notional is required" if qty is None else "qty and notional are exclusive")
        if qty is not None and qty <= 0:
            raise invalid("qty must be > 0")
        if notional is not None:
            if notional <= 0:
                raise invalid("notional must be > 0")
            if order_type != "market" or tif != "day":
                raise invalid("notional orders must be DAY market orders")
        if qty is not None and qty != qty.to_integral_value() and (order_type != "market" or tif != "day"):
            raise invalid("fractional orders must be DAY market orders")

        limit_price = decimal_field(body, "limit_price")
        stop_price = decimal_field(body, "stop_price")
        trail_price = decimal_field(body, "trail_price")
        trail_percent = decimal_field(body, "trail_percent")
        needs_limit = order_type in ("limit", "stop_limit")
        needs_stop = order_type in ("stop", "stop_limit")
        if needs_limit != (limit_price is not None):
            raise invalid(f"limit_price is {'required' if needs_limit else 'not allowed'} for {order_type}")
        if needs_stop != (stop_price is not None):
            raise invalid(f"stop_price is {'required' if needs_stop else 'not allowed'} for {order_type}")
        if order_type == "trailing_stop":
            if (trail_price is None) == (trail_percent is None):
                raise invalid("exactly one of trail_price or trail_percent is required")
            if tif not in ("day", "gtc"):
                raise invalid("trailing stop orders must be DAY or GTC")
        elif trail_price is not None or trail_percent is not None:
            raise invalid("trail_price and trail_percent are only allowed for trailing_stop")
        for name, price in (("limit_price", limit_price), ("stop_price", stop_price)):
            if price is not None:
                check_increment(name, price)
        if trail_price is not None and trail_price <= 0:
            raise invalid("trail_price must be > 0")
        if trail_percent is not None and not ZERO < trail_percent < 100:
            raise invalid("trail_percent must be between 0 and 100")

        client_order_id = body.get("client_order_id")
        if client_order_id is None:
            client_order_id = self._uuid()
        if not isinstance(client_order_id, str) or not 0 < len(client_order_id) <= MAX_CLIENT_ORDER_ID:
            raise invalid(f"client_order_id must be a string of at most {MAX_CLIENT_ORDER_ID} characters")
        if client_order_id in self.account.client_ids:
            raise invalid("client_order_id must be unique")

        held = self.position_qty(symbol)
        if side == "buy":
            intent = "buy_to_close" if held < 0 else "buy_to_open"
        else:
            intent = "sell_to_close" if held > 0 else "sell_to_open"
        stamp = now_iso()
        order = Order(
            id=self._uuid(),
            client_order_id=client_order_id,
            symbol=symbol,
            asset_id=asset_uuid(symbol),
            side=side,
            type=order_type,
            time_in_force=tif,
            qty=qty,
            notional=notional,
            limit_price=limit_price,
            stop_price=stop_price,
            trail_price=trail_price,
            trail_percent=trail_percent,
            extended_hours=extended,
            position_intent=intent,
            created_at=stamp,
            updated_at=stamp,
            submitted_at=stamp,
        )
        if order_type == "trailing_stop":
            order.hwm = self.prices.last(symbol)
            order.stop_price = self._trail_stop(order)
        return order

    def _check_funds(self, order: Order) -> None:
        symbol = order.symbol
        held = self.position_qty(symbol)
        quote = self.prices.quote(symbol)
        qty = order.qty if order.qty is not None else order.remaining(quote.ask)
        if self._is_opening(order):
            if order.side == "sell" and held == 0:
                if not self.options.shorting_enabled:
                    raise Refusal(403, 40310000, "account is not allowed to short")
                if qty != qty.to_integral_value():
                    raise Refusal(403, 40310000, "fractional orders cannot be sold short")
            self._check_wash_trade(order)
            cost = self._opening_value(order, qty)
            available = self.buying_power()
            if cost > available:
                raise Refusal(
                    403,
                    40310000,
                    "insufficient buying power",
                    buying_power=money(available),
                    cost_basis=money(cost.quantize(CENT)),
                )
            return
        # a closing order may not exceed what is held minus what other closing orders already hold,
        # and may not flip the position in one order
        held_for_orders = sum(
            (o.remaining(quote.ask) for o in self._open_orders(symbol) if o.side == order.side), ZERO
        )
        available = abs(held) - held_for_orders
        if qty > available:
            raise Refusal(
                403,
                40310000,
                "insufficient qty available for order "
                f"(requested: {money(qty)}, available: {money(available)})",
                available=money(available),
                existing_qty=money(abs(held)),
                held_for_orders=money(held_for_orders),
                symbol=symbol,
            )
        self._check_wash_trade(order)

    def _check_wash_trade(self, order: Order) -> None:
        """Alpaca refuses an order that could trade against the account's own resting opposite order."""
        for other in self._open_orders(order.symbol):
            if other.side == order.side or other.type not in ("market", "limit"):
                continue
            if order.type in ("stop", "stop_limit", "trailing_stop"):
                continue  # not live until elected
            buy, sell = (order, other) if order.side == "buy" else (other, order)
            # a market order crosses anything; two limits cross when the bid reaches the offer
            if buy.limit_price is None or sell.limit_price is None or buy.limit_price >= sell.limit_price:
                raise Refusal(422, 42210000, "potential wash trade detected. use complex orders")

    # ------------------------------------------------------------------------------------------- fills
    @staticmethod
    def _trail_stop(order: Order) -> Decimal:
        assert order.hwm is not None
        if order.trail_price is not None:
            offset = order.trail_price
        else:
            assert order.trail_percent is not None
            offset = order.hwm * order.trail_percent / 100
        stop = order.hwm - offset if order.side == "sell" else order.hwm + offset
        return max(stop.quantize(CENT), CENT)

    def _work(self, order: Order) -> None:
        """Give one open order its chance to fill at the current quote."""
        quote = self.prices.quote(order.symbol)
        last = quote.last
        if order.status == "accepted":  # deferred mode: routed now, against the account as it is now
            if self._is_opening(order):
                needed = self._opening_value(order, order.remaining(quote.ask))
                if needed > self.buying_power(exclude=order):
                    order.status = "rejected"
                    order.failed_at = order.updated_at = now_iso()
                    self._emit("rejected", order)
                    return
            order.status = "new"
            order.updated_at = now_iso()
            self._emit("new", order)
        if order.type == "trailing_stop" and not order.elected:
            assert order.hwm is not None
            if (order.side == "sell" and last > order.hwm) or (order.side == "buy" and last < order.hwm):
                order.hwm = last
                order.stop_price = self._trail_stop(order)
        if order.type in ("stop", "stop_limit", "trailing_stop") and not order.elected:
            assert order.stop_price is not None
            if (order.side == "buy" and last >= order.stop_price) or (
                order.side == "sell" and last <= order.stop_price
            ):
                order.elected = True
        price = quote.ask if order.side == "buy" else quote.bid
        marketable = order.type == "market" or order.elected
        if order.type in ("limit", "stop_limit"):
            assert order.limit_price is not None
            within = price <= order.limit_price if order.side == "buy" else price >= order.limit_price
            marketable = within and (order.type == "limit" or order.elected)
        if not marketable:
            if order.time_in_force in ("ioc", "fok"):
                self._cancel(order)
            return
        remaining = order.remaining(price)
        qty = remaining
        if order.time_in_force != "fok" and self._rng.random() < self.options.partial_fill_rate:
            partial = (remaining * Decimal(str(self._rng.uniform(0.1, 0.9)))).to_integral_value()
            if 0 < partial < remaining:
                qty = partial
        self._fill(order, qty, price)
        if order.is_open and order.time_in_force == "ioc":
            self._cancel(order)

    def _fill(self, order: Order, qty: Decimal, price: Decimal) -> None:
        if order.qty is None and order.filled_qty == 0:
            order.qty = order.remaining(price)  # notional -> shares at the fill price
            qty = order.qty
        account = self.account
        signed = qty * order.sign
        position = account.positions.get(order.symbol)
        if position is None:
            position = Position(order.symbol, order.asset_id, ZERO, ZERO, self.prices.last(order.symbol))
            account.positions[order.symbol] = position
        held = position.qty
        if held == 0 or (held > 0) == (signed > 0):
            position.avg_entry_price = (abs(held) * position.avg_entry_price + qty * price) / (
                abs(held) + qty
            )
            position.avg_entry_price = position.avg_entry_price.quantize(Decimal("0.0001")).normalize()
        elif abs(signed) > abs(
            held
        ):  # cannot happen through submit (flips are refused); keep it exact anyway
            position.avg_entry_price = price
        position.qty = held + signed
        if position.qty == 0:
            del account.positions[order.symbol]
        account.cash -= signed * price
        total = order.filled_qty + qty
        previous = (order.filled_avg_price or ZERO) * order.filled_qty
        order.filled_avg_price = ((previous + qty * price) / total).quantize(Decimal("0.0001")).normalize()
        order.filled_qty = total
        stamp = now_iso()
        order.updated_at = stamp
        assert order.qty is not None
        if order.filled_qty >= order.qty:
            order.status = "filled"
            order.filled_at = stamp
        else:
            order.status = "partially_filled"
        self._emit(
            "fill" if order.status == "filled" else "partial_fill",
            order,
            price=money(price),
            qty=money(qty),
            position_qty=money(self.position_qty(order.symbol)),
        )

    def _cancel(self, order: Order) -> None:
        stamp = now_iso()
        order.status = "canceled"
        order.canceled_at = order.updated_at = stamp
        self._emit("canceled", order)

    def on_prices(self, symbols: Iterable[str] | None = None) -> None:
        """Re-evaluate every open order of ``symbols`` (all when None) against the current quotes."""
        with self.lock:
            wanted = None if symbols is None else set(symbols)
            for order in list(self.account.orders.values()):
                if order.is_open and (wanted is None or order.symbol in wanted):
                    self._work(order)

    # ----------------------------------------------------------------------------------- order queries
    def order(self, order_id: str) -> Order:
        with self.lock:
            order = self.account.orders.get(order_id)
            if order is None:
                raise Refusal(404, 40410000, "order not found")
            return order

    def order_by_client_id(self, client_order_id: str) -> Order:
        with self.lock:
            order_id = self.account.client_ids.get(client_order_id)
            if order_id is None:
                raise Refusal(404, 40410000, "order not found")
            return self.account.orders[order_id]

    def list_orders(
        self,
        status: str = "open",
        limit: int = 50,
        direction: str = "desc",
        side: str | None = None,
        symbols: set[str] | None = None,
        after: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Order]:
        with self.lock:
            selected = []
            for order in self.account.orders.values():
                if status == "open" and not order.is_open:
                    continue
                if status == "closed" and order.is_open:
                    continue
                if side and order.side != side:
                    continue
                if symbols and order.symbol not in symbols:
                    continue
                submitted = datetime.strptime(order.submitted_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
                if after and submitted <= after:
                    continue
                if until and submitted >= until:
                    continue
                selected.append(order)
            if direction == "desc":
                selected.reverse()
            return selected[:limit]

    def cancel(self, order_id: str) -> None:
        with self.lock:
            order = self.order(order_id)
            if not order.is_open:
                raise Refusal(422, 42210000, f'order is already in "{order.status}" state')
            self._cancel(order)

    def expire_day_orders(self) -> list[Order]:
        """The session's close: open ``day`` (and auction) orders expire, as Alpaca's do at 16:00 ET."""
        with self.lock:
            expired = [o for o in self._open_orders() if o.time_in_force in ("day", "opg", "cls")]
            for order in expired:
                order.status = "expired"
                order.expired_at = order.updated_at = now_iso()
                self._emit("expired", order)
            return expired

    def cancel_all(self) -> list[Order]:
        with self.lock:
            canceled = self._open_orders()
            for order in canceled:
                self._cancel(order)
            return canceled

    # ------------------------------------------------------------------------------------- positions
    def position(self, symbol: str) -> Position:
        with self.lock:
            position = self.account.positions.get(symbol)
            if position is None:
                raise Refusal(404, 40410000, "position does not exist")
            return position

    def close(self, symbol: str, qty: Decimal | None = None, percentage: Decimal | None = None) -> Order:
        """Liquidate all or part of a position at market (Alpaca's ``DELETE /v2/positions/{symbol}``)."""
        with self.lock:
            held = self.position(symbol).qty
            if qty is not None and percentage is not None:
                raise invalid("only one of qty or percentage may be given")
            if percentage is not None:
                if not ZERO < percentage <= 100:
                    raise invalid("percentage must be in (0, 100]")
                qty = (abs(held) * percentage / 100).quantize(Decimal("0.000000001"))
            elif qty is None:
                qty = abs(held)
            if qty <= 0:
                raise invalid("qty must be > 0")
            body = {
                "symbol": symbol,
                "qty": str(qty),
                "side": "sell" if held > 0 else "buy",
                "type": "market",
                "time_in_force": "day",
            }
            order = self._build(body)
            self._check_funds(order)
            self.account.orders[order.id] = order
            self.account.client_ids[order.client_order_id] = order.id
            self._emit("new", order)
            self._work(order)  # liquidations fill at the quote even in deferred mode
            return order

    def close_all(self, cancel_orders: bool) -> list[tuple[str, int, dict[str, Any]]]:
        with self.lock:
            if cancel_orders:
                self.cancel_all()
            results: list[tuple[str, int, dict[str, Any]]] = []
            for symbol in list(self.account.positions):
                try:
                    results.append((symbol, 200, self.close(symbol).to_json()))
                except Refusal as refusal:
                    results.append((symbol, refusal.status, refusal.body()))
            return results

    # --------------------------------------------------------------------------------------- account
    def account_json(self) -> dict[str, Any]:
        with self.lock:
            account = self.account
            long_mv, short_mv = self.market_values()
            equity = account.cash + long_mv + short_mv
            buying_power = money(self.buying_power())
            return {
                "id": account.id,
                "account_number": account.number,
                "status": "ACTIVE",
                "crypto_status": "ACTIVE",
                "currency": "USD",
                "buying_power": buying_power,
                "regt_buying_power": buying_power,
                "non_marginable_buying_power": buying_power,
                "options_buying_power": buying_power,
                "cash": money(account.cash.quantize(CENT)),
                "accrued_fees": "0",
                "pending_transfer_in": "0",
                "pending_transfer_out": "0",
                "portfolio_value": money(equity.quantize(CENT)),
                "equity": money(equity.quantize(CENT)),
                "last_equity": money(account.last_equity),
                "long_market_value": money(long_mv.quantize(CENT)),
                "short_market_value": money(short_mv.quantize(CENT)),
                "initial_margin": money((long_mv - short_mv).quantize(CENT)),
                "maintenance_margin": money(((long_mv - short_mv) * Decimal("0.3")).quantize(CENT)),
                "last_maintenance_margin": "0",
                "sma": "0",
                "multiplier": "1",
                "shorting_enabled": self.options.shorting_enabled,
                "trading_blocked": False,
                "transfers_blocked": False,
                "account_blocked": False,
                "trade_suspended_by_user": False,
                "created_at": account.created_at,
                "options_approved_level": 0,
                "options_trading_level": 0,
                # Alpaca dropped the PDT fields from its schema on 2026-07-06 (alpaca.md); clients written
                # before still read them, so they carry what a cash account without day trades reports
                "pattern_day_trader": False,
                "daytrade_count": 0,
                "daytrading_buying_power": "0",
                "bod_dtbp": "0",
                "effective_buying_power": buying_power,
                "balance_asof": account.created_at[:10],
                "crypto_tier": 0,
                "intraday_adjustments": "0",
                "pending_reg_taf_fees": "0",
                "admin_configurations": {},
                "user_configurations": None,
            }

    def positions_json(self) -> list[dict[str, Any]]:
        with self.lock:
            return [p.to_json(self.prices.last(p.symbol)) for p in self.account.positions.values()]

    def position_json(self, symbol: str) -> dict[str, Any]:
        with self.lock:
            return self.position(symbol).to_json(self.prices.last(symbol))
