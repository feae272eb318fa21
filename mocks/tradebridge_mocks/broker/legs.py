"""Alpaca's multi-leg order classes: ``bracket``, ``oto`` and ``oco``.

* ``bracket``: an entry plus a take-profit limit and a stop-loss stop (or stop-limit) on the other side. The
  exit legs are ``held`` until the entry fills completely, then routed (``new``); one exit filling cancels
  the other. Canceling the entry cancels its held legs.
* ``oto`` (one-triggers-other): an entry plus one exit (``take_profit`` *or* ``stop_loss``), held likewise.
* ``oco`` (one-cancels-other): two exits working at once, a ``limit`` order (the take profit) and its
  stop-loss leg; whichever fills cancels the other, and canceling either cancels both.

As Alpaca: brackets and OTO take ``day`` or ``gtc`` and no extended hours; a buy bracket's take profit must be
at least a cent above, and its stop loss at least a cent below, the base price (the entry's limit, or the
current ask for a market entry) — mirrored for a sell; refusals are 422 ``40010001``. The legs are listed
as orders of their own (``GET /v2/orders``) and under the parent's ``legs`` (``nested=true`` folds them).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradebridge_mocks.broker.engine import decimal_field, invalid
from tradebridge_mocks.broker.prices import CENT

if TYPE_CHECKING:
    from tradebridge_mocks.broker.engine import Order, PaperEngine

CLASSES = ("simple", "bracket", "oto", "oco")


def _leg_prices(body: dict[str, Any]) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """(take-profit limit, stop-loss stop, stop-loss limit) from the request."""
    take_profit, stop_loss = body.get("take_profit"), body.get("stop_loss")
    for name, part in (("take_profit", take_profit), ("stop_loss", stop_loss)):
        if part is not None and not isinstance(part, dict):
            raise invalid(f"{name} must be an object")
    tp = decimal_field(take_profit, "limit_price") if take_profit else None
    if take_profit is not None and tp is None:
        raise invalid("take_profit.limit_price is required")
    sl_stop = decimal_field(stop_loss, "stop_price") if stop_loss else None
    if stop_loss is not None and sl_stop is None:
        raise invalid("stop_loss.stop_price is required")
    sl_limit = decimal_field(stop_loss, "limit_price") if stop_loss else None
    return tp, sl_stop, sl_limit


def build(engine: PaperEngine, order: Order, body: dict[str, Any]) -> list[Order]:
    """Validate the legs of ``order`` (built from ``body``) and build them, unbooked ([] if simple)."""
    order_class = body.get("order_class") or "simple"
    if order_class not in CLASSES:
        raise invalid(f"invalid order_class: {order_class!r}")
    has_legs = body.get("take_profit") is not None or body.get("stop_loss") is not None
    if order_class == "simple":
        if has_legs:
            raise invalid("take_profit and stop_loss need order_class bracket, oto or oco")
        return []
    if order.time_in_force not in ("day", "gtc"):
        raise invalid(f"{order_class} orders must be DAY or GTC")
    if order.extended_hours:
        raise invalid(f"{order_class} orders cannot be extended hours orders")
    if order.qty is None or order.qty != order.qty.to_integral_value():
        raise invalid(f"{order_class} orders must be for whole shares (qty)")
    tp, sl_stop, sl_limit = _leg_prices(body)
    if order_class in ("bracket", "oco") and (tp is None or sl_stop is None):
        raise invalid(f"{order_class} orders need both take_profit and stop_loss")
    if order_class == "oto" and (tp is None) == (sl_stop is None):
        raise invalid("oto orders need exactly one of take_profit or stop_loss")
    if order_class == "oco":
        if order.type != "limit":
            raise invalid("oco orders must be limit orders (the take profit)")
        assert order.limit_price is not None and tp is not None
        if order.limit_price != tp:
            raise invalid("an oco order's limit_price must equal take_profit.limit_price")
        exit_side = order.side
    else:
        exit_side = "sell" if order.side == "buy" else "buy"
        quote = engine.prices.quote(order.symbol)
        base = order.limit_price or (quote.ask if order.side == "buy" else quote.bid)
        buy = order.side == "buy"
        sign = 1 if buy else -1
        if tp is not None and sign * (tp - base) < CENT:
            bound = ">= base_price + 0.01" if buy else "<= base_price - 0.01"
            raise invalid(f"take_profit.limit_price must be {bound}")
        if sl_stop is not None and sign * (base - sl_stop) < CENT:
            bound = "<= base_price - 0.01" if buy else ">= base_price + 0.01"
            raise invalid(f"stop_loss.stop_price must be {bound}")
    crossed = (
        tp is not None and sl_stop is not None and (tp <= sl_stop if exit_side == "sell" else tp >= sl_stop)
    )
    if crossed:
        raise invalid("take_profit.limit_price and stop_loss.stop_price are on the wrong sides of each other")

    def leg(kind: str, **prices: Decimal) -> Order:
        leg_body: dict[str, Any] = {
            "symbol": order.symbol,
            "qty": str(order.qty),
            "side": exit_side,
            "type": kind,
            "time_in_force": order.time_in_force,
            **{name: str(value) for name, value in prices.items()},
        }
        built = engine.build(leg_body)
        built.order_class = order_class
        built.parent = order.id
        built.position_intent = "sell_to_close" if exit_side == "sell" else "buy_to_close"
        return built

    legs = []
    if tp is not None and order_class != "oco":
        legs.append(leg("limit", limit_price=tp))
    if sl_stop is not None:
        if sl_limit is not None:
            legs.append(leg("stop_limit", stop_price=sl_stop, limit_price=sl_limit))
        else:
            legs.append(leg("stop", stop_price=sl_stop))
    order.order_class = order_class
    return legs


def book(engine: PaperEngine, order: Order, legs: list[Order]) -> None:
    """Register the legs before the parent is worked (its fill may route them at once)."""
    order.legs = legs
    for child in legs:
        child.status = "new" if order.order_class == "oco" else "held"
        engine.account.orders[child.id] = child
        engine.account.client_ids[child.client_order_id] = child.id


def group(engine: PaperEngine, order: Order) -> list[Order]:
    """The orders that cancel each other with ``order``: exits of one bracket, or both sides of an oco."""
    parent = engine.account.orders.get(order.parent) if order.parent else order
    if parent is None or parent.order_class == "simple":
        return []
    members = [parent, *parent.legs] if parent.order_class == "oco" else list(parent.legs)
    return [o for o in members if o is not order]


def on_filled(engine: PaperEngine, order: Order) -> None:
    """An order filled completely: route the held legs of an entry, or cancel the rest of an exit group."""
    if order.legs and order.order_class in ("bracket", "oto"):
        for child in order.legs:
            if child.status == "held":
                child.status = "new"
                child.updated_at = engine.stamp()
                engine.emit("new", child)
                engine.work(child)
        return
    if order.order_class in ("bracket", "oco"):
        for other in group(engine, order):
            if other.is_open:
                engine.cancel_order(other)


def on_canceled(engine: PaperEngine, order: Order) -> None:
    """Canceling an entry cancels its held legs; canceling an exit cancels its group."""
    if order.legs and order.order_class in ("bracket", "oto"):
        for child in order.legs:
            if child.status == "held":
                engine.cancel_order(child)
        return
    for other in group(engine, order):
        if other.is_open and other.status != "held":
            engine.cancel_order(other)
