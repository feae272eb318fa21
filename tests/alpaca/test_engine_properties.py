"""Properties of the paper account under random order flow (the engine alone, no HTTP).

Whatever orders arrive and however prices move, the books must balance: equity is cash plus market values,
profit is exactly the sum over fills of ``signed qty * (current price - fill price)``, positions equal the
signed filled quantities, no position ever flips in one order, and buying power is never negative.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tradebridge_mocks.broker import EngineOptions, PaperEngine, PriceBook, Refusal

SYMBOLS = ("AAPL", "MSFT")

order_step = st.fixed_dictionaries(
    {
        "kind": st.just("order"),
        "symbol": st.sampled_from(SYMBOLS),
        "side": st.sampled_from(("buy", "sell")),
        "type": st.sampled_from(("market", "limit", "stop", "trailing_stop")),
        "qty": st.integers(1, 400),
        "offset": st.integers(-300, 300),  # cents from the last trade, for limit/stop prices
        "tif": st.sampled_from(("day", "gtc", "ioc")),
    }
)
price_step = st.fixed_dictionaries(
    {"kind": st.just("price"), "symbol": st.sampled_from(SYMBOLS), "move": st.integers(-500, 500)}
)
other_step = st.sampled_from(({"kind": "cancel_all"}, {"kind": "close_all"}, {"kind": "bar"}))


class RecordingEngine(PaperEngine):
    """The engine with every fill written down: (symbol, signed qty, price)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fills: list[tuple[str, Decimal, Decimal]] = []

    def _fill(self, order: Any, qty: Decimal, price: Decimal) -> None:
        before = order.filled_qty
        super()._fill(order, qty, price)
        self.fills.append((order.symbol, (order.filled_qty - before) * order.sign, price))


def body(engine: PaperEngine, step: dict[str, Any]) -> dict[str, Any]:
    last = engine.prices.last(step["symbol"])
    price = max(last + Decimal(step["offset"]) / 100, Decimal("1.00"))
    out: dict[str, Any] = {
        "symbol": step["symbol"],
        "side": step["side"],
        "type": step["type"],
        "qty": step["qty"],
        "time_in_force": step["tif"] if step["type"] != "trailing_stop" else "gtc",
    }
    if step["type"] == "limit":
        out["limit_price"] = str(price)
    elif step["type"] == "stop":
        out["stop_price"] = str(price)
    elif step["type"] == "trailing_stop":
        out["trail_price"] = "1.50"
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.one_of(order_step, order_step, price_step, other_step), max_size=40),
    seed=st.integers(0, 5),
    partial=st.sampled_from((0.0, 0.5)),
)
def test_the_books_always_balance(steps: list[dict[str, Any]], seed: int, partial: float) -> None:
    prices = PriceBook(seed, Decimal("0.01"), SYMBOLS)
    engine = RecordingEngine(prices, EngineOptions(seed=seed, partial_fill_rate=partial))
    initial = engine.account.cash
    fills = engine.fills
    for step in steps:
        held_before = {s: engine.position_qty(s) for s in SYMBOLS}
        try:
            if step["kind"] == "order":
                engine.submit(body(engine, step))
            elif step["kind"] == "price":
                last = prices.last(step["symbol"])
                prices.set_price(step["symbol"], max(last + Decimal(step["move"]) / 100, Decimal("1.00")))
                engine.on_prices([step["symbol"]])
            elif step["kind"] == "bar":
                for symbol in SYMBOLS:
                    prices.advance(symbol)
                engine.on_prices()
            elif step["kind"] == "cancel_all":
                engine.cancel_all()
            else:
                engine.close_all(cancel_orders=True)
        except Refusal as refusal:
            assert refusal.status in (403, 422)
        for symbol in SYMBOLS:  # a position never changes sign without passing through zero
            after = engine.position_qty(symbol)
            assert held_before[symbol] * after >= 0
        assert engine.buying_power() >= 0

    account = engine.account_json()
    cash = Decimal(account["cash"])
    equity = Decimal(account["equity"])
    assert equity == cash + Decimal(account["long_market_value"]) + Decimal(account["short_market_value"])
    expected_cash = initial - sum((q * p for _, q, p in fills), Decimal(0))
    assert cash == expected_cash.quantize(Decimal("0.01"))
    profit = sum((q * (prices.last(s) - p) for s, q, p in fills), Decimal(0))
    assert equity - initial == profit.quantize(Decimal("0.01"))
    for symbol in SYMBOLS:
        assert engine.position_qty(symbol) == sum((q for s, q, _ in fills if s == symbol), Decimal(0))
