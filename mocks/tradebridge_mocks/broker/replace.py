"""``PATCH /v2/orders/{id}``: Alpaca's replace. A new order (a new id) takes the old one's place; the old one
becomes ``replaced`` with ``replaced_by`` set, the new one carries ``replaces``.

On the trade-updates stream a replace is ``replaced`` (the old order) then ``new`` (the new one, or
``accepted`` when it cannot be routed yet). The new order is checked like any submission (buying power,
qty available, wash trades) as if the old one were already gone, and is worked at once.

The body takes ``qty``, ``time_in_force``, ``limit_price``, ``stop_price``, ``trail`` (the new
``trail_price`` or ``trail_percent``, whichever the order uses) and ``client_order_id`` (a new one is
generated when absent). ``qty`` is the order's total: what the old order already filled stays with it, and
the new order is for the rest, so ``qty`` must exceed the filled quantity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradebridge_mocks.broker.engine import Refusal, decimal_field, invalid, money

if TYPE_CHECKING:
    from tradebridge_mocks.broker.engine import Order, PaperEngine

FIELDS = frozenset({"qty", "time_in_force", "limit_price", "stop_price", "trail", "client_order_id"})


def replace(engine: PaperEngine, order_id: str, body: Any) -> Order:
    from tradebridge_mocks.broker import session

    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise invalid(f"unknown field(s) for a replace: {', '.join(unknown)}")
    with engine.lock:
        session.play(engine)
        old = engine.order(order_id)
        if not old.is_open:
            raise Refusal(422, 42210000, f'order is not replaceable: it is already in "{old.status}" state')
        engine.check_not_suspended()
        new_body = _replacement_body(old, body)
        previous_status = old.status
        old.status = "pending_replace"  # out of the reservations and wash-trade checks while checking
        try:
            new = engine.build(new_body)
            new.order_class, new.parent = old.order_class, old.parent  # checked as the group's member
            session.check_auction_window(engine, new)
            engine.check_funds(new)
        except Refusal:
            old.status = previous_status
            raise
        stamp = engine.stamp()
        old.status = "replaced"
        old.replaced_at = old.updated_at = stamp
        old.replaced_by = new.id
        new.replaces = old.id
        _take_place_in_group(engine, old, new)
        engine.emit("replaced", old)
        if previous_status == "held":  # a held exit leg stays held until its entry fills
            new.status = "held"
            engine.account.orders[new.id] = new
            engine.account.client_ids[new.client_order_id] = new.id
        else:
            engine.enter(new)
        return new


def _take_place_in_group(engine: PaperEngine, old: Order, new: Order) -> None:
    """A replaced leg's successor is the leg now (moving a bracket's stop is what replace is mostly for)."""
    new.order_class, new.parent, new.legs = old.order_class, old.parent, old.legs
    new.position_intent = old.position_intent if old.parent else new.position_intent
    for child in new.legs:
        child.parent = new.id
    parent = engine.account.orders.get(old.parent) if old.parent else None
    if parent is not None:
        parent.legs = [new if leg is old else leg for leg in parent.legs]


def _replacement_body(old: Order, body: dict[str, Any]) -> dict[str, Any]:
    new: dict[str, Any] = {
        "symbol": old.symbol,
        "side": old.side,
        "type": old.type,
        "time_in_force": body.get("time_in_force", old.time_in_force),
        "extended_hours": old.extended_hours,
    }
    qty = decimal_field(body, "qty")
    if qty is not None:
        if qty <= old.filled_qty:
            raise invalid(
                f"qty must be greater than the filled qty (requested: {money(qty)}, "
                f"filled: {money(old.filled_qty)})"
            )
        new["qty"] = money(qty - old.filled_qty)
    elif old.qty is not None:
        new["qty"] = money(old.qty - old.filled_qty)
    else:
        new["notional"] = money(old.notional) if old.notional is not None else None
    for name, current in (("limit_price", old.limit_price), ("stop_price", old.stop_price)):
        value = body[name] if body.get(name) is not None else current
        if name in body and body[name] is not None and current is None:
            raise invalid(f"{name} is not allowed for {old.type}")
        if value is not None:
            new[name] = value if isinstance(value, str | int | float) else money(value)
    trail = body.get("trail")
    if trail is not None and old.type != "trailing_stop":
        raise invalid("trail is only allowed for trailing_stop")
    if old.type == "trailing_stop":
        if body.get("stop_price") is not None:
            raise invalid("stop_price is not allowed for trailing_stop (replace trail)")
        name = "trail_price" if old.trail_price is not None else "trail_percent"
        current = old.trail_price if old.trail_price is not None else old.trail_percent
        new[name] = trail if trail is not None else money(current) if current is not None else None
        new.pop("stop_price", None)  # recomputed from the high-water mark
    if body.get("client_order_id") is not None:
        new["client_order_id"] = body["client_order_id"]
    return new
