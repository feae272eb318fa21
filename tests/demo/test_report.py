"""The demo's consistency checks catch what they claim to catch (and pass on consistent numbers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tradebridge.demo.report import (
    BrokerOrder,
    DemoResult,
    join_publish_times,
    percentile,
    read_timing_log,
)


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


def test_publish_times_are_joined_on_source_and_seq() -> None:
    strategy = {
        "bars": 4,
        "signals": 2,
        "latency_ms": {"bar_to_features": [0.01] * 4, "bar_to_fill": [40.0]},
        "bar_receipts": {
            "py-a": [[0, 1_000_500_000], [1, 1_002_000_000], [2, 1_003_250_000]],
            "py-b": [[0, 1_010_000_000]],  # another publisher, same seq: must not be confused
        },
        "records": [
            {"signal_id": "r-1", "bar_source": "py-a", "bar_seq": 1, "hops_ms": {"bar_to_fill": 40.0}},
            {"signal_id": "r-2", "bar_source": "py-a", "bar_seq": 2, "hops_ms": {"signal_to_ack": 1.0}},
        ],
    }
    published = {("py-a", 0): 1_000_000_000, ("py-a", 1): 1_001_000_000, ("py-a", 2): 1_003_000_000}
    joined = join_publish_times(strategy, published)
    assert joined["latency_ms"]["published_to_received"] == [0.5, 1.0, 0.25]
    assert joined["unpublished_bars"] == 1  # py-b's bar: no send time in the log
    assert "bar_receipts" not in joined and joined["latency_ms"]["bar_to_features"] == [0.01] * 4
    first, second = joined["records"]
    assert first["hops_ms"] == {"bar_to_fill": 40.0, "published_to_received": 1.0, "published_to_fill": 41.0}
    assert second["hops_ms"] == {"signal_to_ack": 1.0, "published_to_received": 0.25}  # not filled
    assert joined["latency_ms"]["published_to_fill"] == [41.0]
    assert strategy["records"][0]["hops_ms"] == {"bar_to_fill": 40.0}  # the input is left alone

    r = result(strategy={**result().strategy, **joined})
    r.run_checks()
    latency = r.summary()["latency"]
    assert list(latency) == [
        "published_to_received",
        "bar_to_features",
        "features_to_signal",
        "signal_to_engine",
        "signal_to_ack",
        "ack_to_fill",
        "bar_to_fill",
        "published_to_fill",
    ]
    assert (latency["published_to_received"]["count"], latency["published_to_received"]["p50_ms"]) == (3, 0.5)
    assert latency["published_to_fill"]["p99_ms"] == 41.0
    rendered = r.render()
    assert "bar published -> bar received (bus)" in rendered
    assert "bar published -> fill seen (total)" in rendered


def test_a_run_without_a_timing_log_reports_the_hop_as_empty(tmp_path: Path) -> None:
    assert read_timing_log(tmp_path / "missing.csv") == {}
    joined = join_publish_times({"bar_receipts": {"py-a": [[0, 5]]}, "records": []}, {})
    assert joined["latency_ms"]["published_to_received"] == [] and joined["unpublished_bars"] == 1
    r = result(strategy={**result().strategy, **joined})
    assert r.summary()["latency"]["published_to_received"] == {"count": 0, "p50_ms": None, "p99_ms": None}


def test_timing_log_is_read_by_source_and_seq(tmp_path: Path) -> None:
    log = tmp_path / "timing.csv"
    log.write_text("source,seq,symbol,published_ns\npy-a,0,AAPL,17\npy-a,1,MSFT,18\n")
    assert read_timing_log(log) == {("py-a", 0): 17, ("py-a", 1): 18}
