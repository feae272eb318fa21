"""The comparison the determinism tests rely on: run ids are ignored, any decision is not."""

from __future__ import annotations

import dataclasses
from typing import Any

from tradebridge_demo.outcome import fingerprint, outcome
from tradebridge_demo.report import BrokerOrder, DemoResult


def result(run_id: str, **changes: Any) -> DemoResult:
    records = [
        {
            "signal_id": f"{run_id}-{n}",
            "symbol": "AAPL",
            "direction": "long",
            "strength": 0.61,
            "price": 190.12,
            "timestamp": 1_735_828_260_000 + n * 60_000,
            "status": "filled",
            "reason": None,
            "order_id": f"00000000-0000-4000-8000-00000000000{n}",
            "qty": 6.0,
            "filled_qty": 6.0,
            "filled_avg_price": 190.13,
            "hops_ms": {"signal_to_ack": 0.4 * n},  # a latency: never part of the outcome
        }
        for n in (1, 2, 10)
    ]
    orders = [
        BrokerOrder(
            id=str(r["order_id"]),
            client_order_id=f"tb-{r['signal_id']}",
            symbol="AAPL",
            side="buy",
            status="filled",
            filled_qty=6.0,
            filled_avg_price=changes.get("fill_price", 190.13),
            filled_at_ns=1_735_828_320_000_000_000,
        )
        for r in records
    ]
    return DemoResult(
        config={"run_id": run_id, "seed": 7},
        flow={"records": records[::-1]},  # arrival order does not matter either
        engine={"refused_max_position": "2"},
        orders=orders,
        positions={"AAPL": 18.0},
        positions_start={},
        equity_start=100_000.0,
        equity_end=changes.get("equity_end", 100_012.34),
        unrealized_pl=1.5,
        duration_s=changes.get("duration_s", 9.0),
    )


def test_runs_differing_only_in_run_id_and_timing_have_one_fingerprint() -> None:
    a, b = outcome(result("a1b2c3d4")), outcome(result("ffff0000", duration_s=31.0))
    assert a == b and fingerprint(a) == fingerprint(b)
    assert [s["signal_id"] for s in a["signals"]] == ["1", "2", "10"]
    assert [o["client_order_id"] for o in a["orders"]] == ["tb-1", "tb-2", "tb-10"]
    assert a["pnl"] == 12.34 and a["risk_refusals"] == {"max_position": 2}


def test_any_decision_changes_the_outcome() -> None:
    base = outcome(result("a1b2c3d4"))
    for changed in (
        result("a1b2c3d4", fill_price=190.14),  # a cent on one fill price
        result("a1b2c3d4", equity_end=100_012.35),  # a cent of P&L
    ):
        assert outcome(changed) != base and fingerprint(outcome(changed)) != fingerprint(base)
    moved = result("a1b2c3d4")
    moved.orders[0] = dataclasses.replace(moved.orders[0], filled_at_ns=1)  # another fill time
    assert fingerprint(outcome(moved)) != fingerprint(base)
