"""The mock broker re-works its open orders on every bar and sums them for buying power on every order: both
look at an index of the orders not terminal yet, so a long run (the soak: thousands of orders at 1,000
bars/s) does not make every bar cost more than the last."""

from __future__ import annotations

from decimal import Decimal

from tradebridge_mocks.broker.engine.core import PaperEngine
from tradebridge_mocks.broker.engine.model import Order
from tradebridge_mocks.broker.server import BrokerConfig, make_state

SYMBOLS = ["AAPL", "MSFT"]


def _engine() -> PaperEngine:
    return make_state(BrokerConfig(seed=7, symbols=SYMBOLS, fill_mode="deferred")).engine


def _order(symbol: str, side: str, **extra: str) -> dict[str, str]:
    return {"symbol": symbol, "qty": "1", "side": side, "type": "market", "time_in_force": "day", **extra}


def test_filled_orders_leave_the_index_and_open_ones_stay_in_submission_order() -> None:
    engine = _engine()
    for i in range(300):
        symbol = SYMBOLS[i % 2]
        engine.submit(_order(symbol, "buy" if i % 4 < 2 else "sell"))
        engine.on_prices([symbol])  # deferred mode: routed and filled on the next price
    assert all(o.status == "filled" for o in engine.account.orders.values())
    far = str((engine.prices.last("AAPL") / 2).quantize(Decimal("0.01")))
    resting = [engine.submit(_order("AAPL", "buy", type="limit", limit_price=far)) for _ in range(2)]
    engine.on_prices(["AAPL"])
    assert [o.status for o in resting] == ["new", "new"]

    assert engine.account.orders.open_orders() == resting
    assert len(engine.account.orders._live) == 2, "filled orders are dropped from the index"
    assert len(engine.account.orders) == 302, "every order is still listed (GET /v2/orders?status=all)"
    engine.cancel(resting[0].id)
    assert engine.account.orders.open_orders() == resting[1:]


def test_an_order_between_two_open_states_is_kept() -> None:
    """A replace parks the old order in ``pending_replace`` (not open) while checking the new one, and puts
    its status back if the replacement is refused: it must still be worked afterwards."""
    engine = _engine()
    far = str((engine.prices.last("MSFT") / 2).quantize(Decimal("0.01")))
    order: Order = engine.submit(_order("MSFT", "buy", type="limit", limit_price=far))
    engine.on_prices(["MSFT"])
    order.status = "pending_replace"
    assert engine.account.orders.open_orders() == []
    order.status = "new"
    assert engine.account.orders.open_orders() == [order]
