"""``PaperEngine``: one paper account trading against a price book (see the package docstring)."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tradebridge_mocks.broker.clock import AlwaysOpenCalendar, Calendar, Clock, ReplayClock, WallClock
from tradebridge_mocks.broker.engine import orders, views
from tradebridge_mocks.broker.engine.model import (
    SHORT_COLLAR,
    ZERO,
    Account,
    EngineOptions,
    Order,
    OrderListener,
    Position,
    Refusal,
    invalid,
    money,
)
from tradebridge_mocks.broker.prices import CENT, PriceBook


class PaperEngine:
    """One paper account trading against a :class:`PriceBook`. Thread-safe (one lock around everything)."""

    def __init__(
        self,
        prices: PriceBook,
        options: EngineOptions | None = None,
        clock: Clock | None = None,
        calendar: Calendar | None = None,
    ) -> None:
        self.prices = prices
        self.options = options or EngineOptions()
        self.clock: Clock = clock or WallClock()
        self.calendar: Calendar = calendar or AlwaysOpenCalendar()
        self.lock = threading.RLock()
        self._rng = random.Random(f"broker:{self.options.seed}")
        self.account = self._new_account()
        self.listeners: list[OrderListener] = []
        #: the moment up to which session edges (open, close, ...) were played (:mod:`.session`)
        self.session_time = self.clock.now()
        #: ``GET/PATCH /v2/account/configurations`` (:mod:`.configuration`)
        self.configuration: dict[str, Any] = {}
        self.reset_configuration()

    def stamp(self) -> str:
        """Now on the broker's clock, in Alpaca's timestamp format."""
        return self.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def reset_configuration(self) -> None:
        self.configuration = {
            "dtbp_check": None,
            "pdt_check": None,
            "fractional_trading": True,
            "max_margin_multiplier": "1",
            "no_shorting": not self.options.shorting_enabled,
            "suspend_trade": False,
            "trade_confirm_email": "all",
            "ptp_no_exception_entry": False,
            "max_options_trading_level": 0,
        }

    def tradable_now(self, order: Order) -> bool:
        """Whether the clock lets ``order`` trade at this moment (auction orders trade only in auctions)."""
        if order.time_in_force in ("opg", "cls"):
            return False
        phase = self.calendar.phase(self.clock.now())
        if phase == "regular":
            return True
        return phase in ("pre", "post") and order.extended_hours

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
            created_at=self.stamp(),
            equity_log=[(int(self.clock.now().timestamp()) // 60 * 60, cash)],
        )

    def reset(self) -> None:
        with self.lock:
            self.account = self._new_account()
            self.reset_configuration()

    def position_qty(self, symbol: str) -> Decimal:
        position = self.account.positions.get(symbol)
        return position.qty if position else ZERO

    def _open_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self.account.orders.open_orders() if symbol in (None, o.symbol)]

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
                if o is not exclude and o.status != "held" and self._is_opening(o)
            ),
            ZERO,
        )
        return max(self.account.cash + 2 * short_mv - reserved, ZERO).quantize(CENT)

    # -------------------------------------------------------------------------------------- submission
    def submit(self, body: dict[str, Any]) -> Order:
        from tradebridge_mocks.broker import legs, session

        with self.lock:
            session.play(self)
            self.check_not_suspended()
            order = self._build(body)
            children = legs.build(self, order, body)
            session.check_auction_window(self, order)
            self._check_funds(order)
            legs.book(self, order, children)
            self.enter(order)
            self.record_equity()
            return order

    def enter(self, order: Order) -> None:
        """Book a checked order: ``new`` and worked at once, or ``accepted`` until routed (deferred mode, or
        the market is closed for it)."""
        deferred = self.options.fill_mode == "deferred"
        tradable = self.tradable_now(order)
        auction = order.time_in_force in ("opg", "cls")
        routed = not deferred and (tradable or (auction and self.calendar.always_open))
        order.status = "new" if routed else "accepted"
        self.account.orders[order.id] = order
        self.account.client_ids[order.client_order_id] = order.id
        self._emit(order.status, order)
        if not deferred and tradable:
            self._work(order)

    def check_not_suspended(self) -> None:
        if self.configuration["suspend_trade"]:
            raise Refusal(403, 40310000, "new orders are rejected by user request")

    def _build(self, body: dict[str, Any]) -> Order:
        return orders.build_order(self, body)

    def _check_funds(self, order: Order) -> None:
        orders.check_funds(self, order)

    def _check_wash_trade(self, order: Order) -> None:
        orders.check_wash_trade(self, order)

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
        if order.status == "held" or not self.tradable_now(order):
            return  # a held leg waits for its entry; others rest (``accepted`` if never routed)
        quote = self.prices.quote(order.symbol)
        last = quote.last
        if order.status == "accepted":  # deferred mode: routed now, against the account as it is now
            if self._is_opening(order):
                needed = self._opening_value(order, order.remaining(quote.ask))
                if needed > self.buying_power(exclude=order):
                    order.status = "rejected"
                    order.failed_at = order.updated_at = self.stamp()
                    self._emit("rejected", order)
                    return
            order.status = "new"
            order.updated_at = self.stamp()
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
        stamp = self.stamp()
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
        if order.status == "filled" and (order.legs or order.parent):
            from tradebridge_mocks.broker import legs

            legs.on_filled(self, order)

    def _cancel(self, order: Order) -> None:
        stamp = self.stamp()
        order.status = "canceled"
        order.canceled_at = order.updated_at = stamp
        self._emit("canceled", order)
        if order.legs or order.parent:
            from tradebridge_mocks.broker import legs

            legs.on_canceled(self, order)

    def work(self, order: Order) -> None:
        self._work(order)

    def on_prices(self, symbols: Iterable[str] | None = None) -> None:
        """Re-evaluate every open order of ``symbols`` (all when None) against the current quotes."""
        from tradebridge_mocks.broker import session

        with self.lock:
            if isinstance(self.clock, ReplayClock) and self.prices.symbols:
                # a replayed bar ends at its timestamp + one bar: that is "now" for the recorded day
                self.clock.set(datetime.fromtimestamp(self.prices.clock_ms() / 1000, UTC))
            session.play(self)
            self.on_prices_locked(symbols)

    def on_prices_locked(self, symbols: Iterable[str] | None = None) -> None:
        """:meth:`on_prices` for a caller already holding the lock and past the session's edges."""
        wanted = None if symbols is None else set(symbols)
        for order in self.account.orders.open_orders():
            if order.is_open and (wanted is None or order.symbol in wanted):
                self._work(order)
        self.record_equity()

    def record_equity(self) -> None:
        """Note the equity of this minute (the last value of a minute is the one kept)."""
        long_mv, short_mv = self.market_values()
        minute = int(self.clock.now().timestamp()) // 60 * 60
        log = self.account.equity_log
        equity = self.account.cash + long_mv + short_mv
        if log and log[-1][0] == minute:
            log[-1] = (minute, equity)
        else:
            log.append((minute, equity))

    # the session (auctions) and replace work on the engine under its lock through these
    def emit(self, event: str, order: Order, **fields: str) -> None:
        self._emit(event, order, **fields)

    def fill(self, order: Order, qty: Decimal, price: Decimal) -> None:
        self._fill(order, qty, price)

    def cancel_order(self, order: Order) -> None:
        self._cancel(order)

    def build(self, body: dict[str, Any]) -> Order:
        return self._build(body)

    def check_funds(self, order: Order) -> None:
        self._check_funds(order)

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
        nested: bool = False,
    ) -> list[Order]:
        """Alpaca's ``GET /v2/orders``; ``nested`` leaves the legs out (they are under their parent)."""
        with self.lock:
            selected = []
            for order in self.account.orders.values():
                if nested and order.parent is not None:
                    continue
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
        """The session's close (``POST /admin/expire``): the closing auction fills the ``cls`` orders it can,
        then open ``day`` (and auction) orders expire, as Alpaca's do at 16:00 ET."""
        from tradebridge_mocks.broker import session

        with self.lock:
            session.auction(self, "cls")
            return self.expire(lambda o: o.time_in_force in ("day", "opg", "cls"))

    def expire(self, which: Callable[[Order], bool]) -> list[Order]:
        expired = [o for o in self._open_orders() if which(o)]
        for order in expired:
            order.status = "expired"
            order.expired_at = order.updated_at = self.stamp()
            self._emit("expired", order)
        return expired

    def cancel_all(self, failing: Callable[[int], bool] | None = None) -> list[Order]:
        """Cancel every open order; ``failing(i)`` (an injected partial failure) leaves the i-th one open.
        Answers the orders it tried, in order (``is_open`` tells which failed)."""
        with self.lock:
            tried = self._open_orders()
            for index, order in enumerate(tried):
                if failing is not None and failing(index):
                    continue
                if order.is_open:  # a leg may have gone with its group already
                    self._cancel(order)
            return tried

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
            tradable = self.tradable_now(order)
            order.status = "new" if tradable else "accepted"
            self._emit(order.status, order)
            self._work(order)  # liquidations fill at the quote even in deferred mode
            return order

    def close_all(
        self, cancel_orders: bool, failing: Callable[[int], bool] | None = None
    ) -> list[tuple[str, int, dict[str, Any]]]:
        with self.lock:
            if cancel_orders:
                self.cancel_all()
            results: list[tuple[str, int, dict[str, Any]]] = []
            for index, symbol in enumerate(list(self.account.positions)):
                if failing is not None and failing(index):
                    results.append((symbol, 500, {"code": 50010000, "message": "Failed to liquidate"}))
                    continue
                try:
                    results.append((symbol, 200, self.close(symbol).to_json()))
                except Refusal as refusal:
                    results.append((symbol, refusal.status, refusal.body()))
            return results

    # --------------------------------------------------------------------------------------- account
    def account_json(self) -> dict[str, Any]:
        return views.account_json(self)

    def positions_json(self) -> list[dict[str, Any]]:
        with self.lock:
            return [p.to_json(self.prices.last(p.symbol)) for p in self.account.positions.values()]

    def position_json(self, symbol: str) -> dict[str, Any]:
        with self.lock:
            return self.position(symbol).to_json(self.prices.last(symbol))
