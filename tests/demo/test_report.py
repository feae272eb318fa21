"""The demo's consistency checks catch what they claim to catch (and pass on consistent numbers)."""

from __future__ import annotations

from typing import Any

import pytest
from tradebridge.demo.report import BrokerOrder, DemoResult, percentile


def test_percentile_interpolates() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile(list(map(float, range(101))), 99) == pytest.approx(99.0)


def record(signal_id: str, order_id: str | None, status: str, filled: float) -> dict[str, Any]:
    return {"signal_id": signal_id, "order_id": order_id, "status": status, "filled_qty": filled}


def result(**changes: Any) -> DemoResult:
    base: dict[str, Any] = {
        "config": {"symbols": ["AAPL"], "seed": 1},
        "strategy": {
            "bars": 100,
            "signals": 3,
            "records": [
                record("r-1", "o1", "filled", 5.0),
                record("r-2", "o2", "filled", 3.0),
                record("r-3", "tb-r-3", "rejected", 0.0),
            ],
            "latency_ms": {"bar_to_features": [0.01, 0.02]},
        },
        "engine": {
            "signals_received": "3",
            "orders_submitted": "2",
            "refused_total": "1",
            "refused_max_position": "1",
        },
        "orders": [
            BrokerOrder("o1", "tb-r-1", "AAPL", "buy", "filled", 5.0, 100.0),
            BrokerOrder("o2", "tb-r-2", "AAPL", "sell", "filled", 3.0, 101.0),
        ],
        "positions": {"AAPL": 2.0},
        "positions_start": {},
        "equity_start": 100_000.0,
        "equity_end": 100_003.0,
        "unrealized_pl": 1.0,
        "duration_s": 5.0,
    }
    base.update(changes)
    return DemoResult(**base)


def test_consistent_run_passes_every_check() -> None:
    r = result()
    assert all(c.ok for c in r.run_checks()), r.render()
    summary = r.summary()
    assert (summary["fills"], summary["pnl"], summary["risk_refusals"]) == (2, 3.0, {"max_position": 1})
    assert "[ok] broker positions equal the fills" in r.render()


def test_position_that_does_not_match_the_fills_fails() -> None:
    checks = {c.name: c for c in result(positions={"AAPL": 5.0}).run_checks()}
    assert not checks["broker positions equal the fills"].ok
    assert "fills +2 vs position change +5" in checks["broker positions equal the fills"].detail


def test_a_fill_nobody_ordered_fails() -> None:
    stranger = BrokerOrder("o9", "manual-1", "AAPL", "buy", "filled", 1.0, 100.0)
    r = result(orders=[*result().orders, stranger], positions={"AAPL": 3.0})
    checks = {c.name: c for c in r.run_checks()}
    assert not checks["every fill matches an order"].ok
    assert checks["broker positions equal the fills"].ok


def test_a_signal_without_a_counted_outcome_fails() -> None:
    engine = {"signals_received": "3", "orders_submitted": "2", "refused_total": "0"}
    checks = {c.name: c for c in result(engine=engine).run_checks()}
    assert not checks["no signal lost without a counted reason"].ok
    strategy = {
        **result().strategy,
        "signals": 4,
        "records": [*result().strategy["records"], record("r-4", None, None, 0)],
    }  # type: ignore[arg-type]
    checks = {c.name: c for c in result(strategy=strategy).run_checks()}
    assert not checks["no signal lost without a counted reason"].ok


def test_positions_held_before_the_run_are_not_counted_as_fills() -> None:
    r = result(positions={"AAPL": 12.0, "MSFT": 4.0}, positions_start={"AAPL": 10.0, "MSFT": 4.0})
    assert all(c.ok for c in r.run_checks())
    r = result(positions={"AAPL": 12.0}, positions_start={"AAPL": 12.0})
    assert not {c.name: c for c in r.run_checks()}["broker positions equal the fills"].ok
