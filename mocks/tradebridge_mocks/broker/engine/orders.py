"""Building and checking a submitted order: Alpaca's validation (422), permissions, buying power and qty
available (403), wash trades (422)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradebridge_mocks.broker.engine.model import (
    MAX_CLIENT_ORDER_ID,
    ORDER_TYPES,
    SYMBOL_RE,
    TIME_IN_FORCE,
    ZERO,
    Order,
    Refusal,
    _one_cancels_other,
    asset_uuid,
    check_increment,
    decimal_field,
    invalid,
    money,
)
from tradebridge_mocks.broker.prices import CENT

if TYPE_CHECKING:
    from tradebridge_mocks.broker.engine.core import PaperEngine


def build_order(engine: PaperEngine, body: dict[str, Any]) -> Order:
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
    fractional = notional is not None or (qty is not None and qty != qty.to_integral_value())
    if fractional and not engine.configuration["fractional_trading"]:
        raise Refusal(403, 40310000, "fractional trading is not enabled for this account")

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
        client_order_id = engine._uuid()
    if not isinstance(client_order_id, str) or not 0 < len(client_order_id) <= MAX_CLIENT_ORDER_ID:
        raise invalid(f"client_order_id must be a string of at most {MAX_CLIENT_ORDER_ID} characters")
    if client_order_id in engine.account.client_ids:
        raise invalid("client_order_id must be unique")

    held = engine.position_qty(symbol)
    if side == "buy":
        intent = "buy_to_close" if held < 0 else "buy_to_open"
    else:
        intent = "sell_to_close" if held > 0 else "sell_to_open"
    stamp = engine.stamp()
    order = Order(
        id=engine._uuid(),
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
        order.hwm = engine.prices.last(symbol)
        order.stop_price = engine._trail_stop(order)
    return order


def check_funds(engine: PaperEngine, order: Order) -> None:
    symbol = order.symbol
    held = engine.position_qty(symbol)
    quote = engine.prices.quote(symbol)
    qty = order.qty if order.qty is not None else order.remaining(quote.ask)
    if engine._is_opening(order):
        if order.side == "sell" and held == 0:
            if engine.configuration["no_shorting"]:
                raise Refusal(403, 40310000, "account is not allowed to short")
            if qty != qty.to_integral_value():
                raise Refusal(403, 40310000, "fractional orders cannot be sold short")
        engine._check_wash_trade(order)
        if held == 0:
            _check_no_resting_opposite_stop(engine, order)
        cost = engine._opening_value(order, qty)
        available = engine.buying_power()
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
        (
            o.remaining(quote.ask)
            for o in engine._open_orders(symbol)
            if o.side == order.side and o.status != "held" and not _one_cancels_other(o, order)
        ),
        ZERO,
    )
    available = abs(held) - held_for_orders
    if qty > available:
        raise Refusal(
            403,
            40310000,
            f"insufficient qty available for order (requested: {money(qty)}, available: {money(available)})",
            available=money(available),
            existing_qty=money(abs(held)),
            held_for_orders=money(held_for_orders),
            symbol=symbol,
        )
    engine._check_wash_trade(order)


def _check_no_resting_opposite_stop(engine: PaperEngine, order: Order) -> None:
    """An opening order beside an unelected opposite stop: once both fill, the stop's fill would flip the new
    position in one order, which Alpaca never does; the wash-trade refusal is Alpaca's answer to an
    opposite-side order while another is open (alpaca.md, "Wash trades")."""
    for other in engine._open_orders(order.symbol):
        if other.side != order.side and other.status != "held" and other.type in STOP_TYPES:
            raise Refusal(422, 42210000, "potential wash trade detected. use complex orders")


STOP_TYPES = ("stop", "stop_limit", "trailing_stop")


def check_wash_trade(engine: PaperEngine, order: Order) -> None:
    """Alpaca refuses an order that could trade against the account's own resting opposite order."""
    for other in engine._open_orders(order.symbol):
        if other.side == order.side or other.type not in ("market", "limit"):
            continue
        if order.type in ("stop", "stop_limit", "trailing_stop"):
            continue  # not live until elected
        buy, sell = (order, other) if order.side == "buy" else (other, order)
        # a market order crosses anything; two limits cross when the bid reaches the offer
        if buy.limit_price is None or sell.limit_price is None or buy.limit_price >= sell.limit_price:
            raise Refusal(422, 42210000, "potential wash trade detected. use complex orders")
