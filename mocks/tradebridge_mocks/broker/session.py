"""The trading session played on the engine: what happens at 04:00, 09:30, 16:00 and 20:00 New York.

:func:`play` walks the calendar's edges between the last moment played and the clock's now, in order, so a
manual or replay clock that jumps a week plays every open and close on the way. It runs under the engine's
lock before any order is submitted or worked, and from the runtime's session task (a wall clock moves on
its own):

* ``pre_open`` / ``open``: orders held ``accepted`` while the market was closed are routed and worked; at
  the open the opening auction fills ``opg`` orders at the opening price (limits only when marketable), and
  cancels the ``opg`` orders it could not fill;
* ``close``: the closing auction fills ``cls`` orders the same way; then ``day`` orders expire, except
  extended-hours ones, which may trade until 20:00;
* ``post_close``: the extended-hours ``day`` orders expire.

Auction windows follow Alpaca: ``opg`` orders are refused from 09:28 to 19:00 New York, ``cls`` orders from
15:50 to 19:00. In ``always-open`` mode there are no edges: ``POST /admin/session {"event": "open"}`` runs
the opening auction and ``POST /admin/expire`` the close.
"""

from __future__ import annotations

from datetime import time
from typing import TYPE_CHECKING

from tradebridge_mocks.broker.clock import NEW_YORK

if TYPE_CHECKING:
    from tradebridge_mocks.broker.engine import Order, PaperEngine

OPG_CUTOFF = time(9, 28)
CLS_CUTOFF = time(15, 50)
AUCTION_REOPENS = time(19, 0)


def play(engine: PaperEngine) -> list[str]:
    """Play the session edges up to now; the names of the edges played (for the admin API and tests)."""
    now = engine.clock.now()
    if now <= engine.session_time:
        return []
    edges = engine.calendar.edges_between(engine.session_time, now)
    played = []
    for _moment, name in edges:
        edge(engine, name)
        played.append(name)
    engine.session_time = now
    if edges:
        engine.on_prices_locked()
    return played


def edge(engine: PaperEngine, name: str) -> None:
    """One session edge (also ``POST /admin/session`` in always-open mode)."""
    if name == "open":
        auction(engine, "opg")
    elif name == "close":
        auction(engine, "cls")
        engine.expire(lambda o: o.time_in_force in ("day", "opg", "cls") and not o.extended_hours)
    elif name == "post_close":
        engine.expire(lambda o: o.time_in_force == "day")


def auction(engine: PaperEngine, tif: str) -> list[Order]:
    """The opening (``opg``) or closing (``cls``) cross: one price per symbol, the last trade. Orders that
    cross fill at it in full; the others are canceled, as an auction-only order does not rest."""
    crossed = []
    for order in [o for o in engine.account.orders.values() if o.is_open and o.time_in_force == tif]:
        price = engine.prices.last(order.symbol)
        limit = order.limit_price
        if limit is not None and (price > limit if order.side == "buy" else price < limit):
            engine.cancel_order(order)
            continue
        if order.status == "accepted":
            order.status = "new"
            order.updated_at = engine.stamp()
            engine.emit("new", order)
        engine.fill(order, order.remaining(price), price)
        crossed.append(order)
    return crossed


def check_auction_window(engine: PaperEngine, order: Order) -> None:
    """Alpaca refuses ``opg`` orders from 09:28 to 19:00 New York and ``cls`` orders from 15:50 to 19:00."""
    from tradebridge_mocks.broker.engine import Refusal

    if order.time_in_force not in ("opg", "cls") or engine.calendar.always_open:
        return
    if order.type not in ("market", "limit"):
        raise Refusal(422, 40010001, f"{order.time_in_force} orders must be market or limit orders")
    local = engine.clock.now().astimezone(NEW_YORK).time()
    cutoff = OPG_CUTOFF if order.time_in_force == "opg" else CLS_CUTOFF
    if cutoff <= local < AUCTION_REOPENS:
        kind = "market on open" if order.time_in_force == "opg" else "market on close"
        raise Refusal(
            422, 42210000, f"{kind} orders are not accepted from {cutoff:%H:%M} to {AUCTION_REOPENS:%H:%M} ET"
        )
