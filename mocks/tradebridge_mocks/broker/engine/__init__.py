"""The paper account: orders, fills, positions and cash, following Alpaca's documented paper semantics.

Pure state, no HTTP: the server turns a :class:`Refusal` into Alpaca's error JSON with the same status and
code Alpaca uses. The arithmetic follows ``alpaca.md`` section 4: signed quantities (negative for shorts),
``cost_basis = qty * avg_entry_price``, ``market_value = qty * current_price``, ``unrealized_pl =
market_value - cost_basis``, cash moves by ``qty * price`` on every fill (short proceeds included), and
``equity = cash + long_market_value + short_market_value``.

Buying power uses cash semantics (multiplier 1): ``cash - short proceeds - short collateral``, i.e.
``cash + 2 * short_market_value`` (the proceeds of a short are not spendable, and the short ties up its own
value as collateral, exactly what its order reserved while it was open), minus what open opening orders
reserve. A market buy is valued at the ask, a limit buy at its limit, a short at ``max(limit, 1.03 * ask)``
as Alpaca's pre-trade check does.

When orders may trade is the clock's business (:mod:`.clock`, :mod:`.session`): an order that cannot trade
now (outside the session, or an ``opg``/``cls`` auction order) rests ``accepted`` (or ``new``) until it can.
"""

from tradebridge_mocks.broker.engine.core import PaperEngine
from tradebridge_mocks.broker.engine.model import (
    INITIAL_CASH,
    MAX_CLIENT_ORDER_ID,
    OPEN_STATUSES,
    ORDER_TYPES,
    SHORT_COLLAR,
    SYMBOL_RE,
    TIME_IN_FORCE,
    ZERO,
    Account,
    EngineOptions,
    Order,
    OrderListener,
    Position,
    Refusal,
    asset_uuid,
    check_increment,
    decimal_field,
    invalid,
    money,
    now_iso,
)
from tradebridge_mocks.broker.prices import CENT

__all__ = [
    "CENT",
    "INITIAL_CASH",
    "MAX_CLIENT_ORDER_ID",
    "OPEN_STATUSES",
    "ORDER_TYPES",
    "SHORT_COLLAR",
    "SYMBOL_RE",
    "TIME_IN_FORCE",
    "ZERO",
    "Account",
    "EngineOptions",
    "Order",
    "OrderListener",
    "PaperEngine",
    "Position",
    "Refusal",
    "asset_uuid",
    "check_increment",
    "decimal_field",
    "invalid",
    "money",
    "now_iso",
]
