"""The demo's consistency checks catch what they claim to catch (and pass on consistent numbers)."""

from __future__ import annotations

from typing import Any

import pytest
from tradebridge.health import HealthCheck
from tradebridge_demo.observer import SeenSignal
from tradebridge_demo.report import (
    BrokerOrder,
    DemoResult,
    fill_seen_ms,
    histogram_summary,
    observed_flow,
    percentile,
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
        "flow": {
            "bars": 100,
            "signals": 3,
            "records": [
                record("r-1", "o1", "filled", 5.0),
                record("r-2", "o2", "filled", 3.0),
                record("r-3", "tb-r-3", "rejected", 0.0),
            ],
            "latency_ms": {"signal_to_ack": [1.0, 2.0]},
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
    flow = {
        **result().flow,
        "signals": 4,
        "records": [*result().flow["records"], record("r-4", None, None, 0)],
    }  # type: ignore[arg-type]
    checks = {c.name: c for c in result(flow=flow).run_checks()}
    assert not checks["no signal lost without a counted reason"].ok


def test_a_signal_published_but_never_seen_on_the_bus_fails() -> None:
    engine = {"signals_received": "4", "orders_submitted": "2", "refused_total": "2"}
    checks = {c.name: c for c in result(flow={**result().flow, "signals": 4}, engine=engine).run_checks()}
    check = checks["no signal lost without a counted reason"]
    assert not check.ok and "published 4, seen on the bus 3" in check.detail


def test_positions_held_before_the_run_are_not_counted_as_fills() -> None:
    r = result(positions={"AAPL": 12.0, "MSFT": 4.0}, positions_start={"AAPL": 10.0, "MSFT": 4.0})
    assert all(c.ok for c in r.run_checks())
    r = result(positions={"AAPL": 12.0}, positions_start={"AAPL": 12.0})
    assert not {c.name: c for c in r.run_checks()}["broker positions equal the fills"].ok


def seen(signal_id: str, source: str | None, seq: int | None, at: int, **outcome: object) -> SeenSignal:
    found = SeenSignal(signal_id, "AAPL", "long", 0.7, 100.0, source, seq, seen_ns=at)
    for name, value in outcome.items():
        setattr(found, name, value)
    return found


def test_hops_are_joined_with_the_publish_time_on_source_and_seq() -> None:
    published = {("py-a", 1): 1_000_000_000, ("py-a", 2): 1_003_000_000, ("py-b", 1): 9}
    signals = [
        # filled: every hop
        seen("r-1", "py-a", 1, 1_002_000_000, ack_ns=1_003_000_000, fill_ns=1_043_000_000, status="filled"),
        # refused: no acknowledgement, no fill
        seen("r-2", "py-a", 2, 1_003_250_000, status="rejected"),
        # a bar with no send time in the log (another publisher's seq must not be confused)
        seen("r-3", "py-c", 1, 1_010_000_000, ack_ns=1_011_000_000, status="canceled"),
    ]
    flow = observed_flow(signals, published)
    first, second, third = flow["records"]
    assert first["hops_ms"] == pytest.approx(
        {"published_to_signal": 2.0, "signal_to_ack": 1.0, "ack_to_fill": 40.0, "published_to_fill": 43.0}
    )
    assert second["hops_ms"] == pytest.approx({"published_to_signal": 0.25})
    assert third["hops_ms"] == pytest.approx({"signal_to_ack": 1.0})
    assert flow["unpublished_signals"] == 1
    assert flow["latency_ms"]["published_to_signal"] == [2.0, 0.25]
    assert not any(key.endswith("_ns") for key in first)  # clock readings stay out of the report

    r = result(flow={**result().flow, **flow, "signals": 3})
    r.run_checks()
    latency = r.summary()["latency"]
    assert list(latency) == [
        "published_to_signal",
        "features",
        "signal_to_engine",
        "signal_to_ack",
        "ack_to_fill",
        "fill_seen",
        "published_to_fill",
    ]
    assert (latency["published_to_signal"]["count"], latency["published_to_fill"]["p99_ms"]) == (2, 43.0)
    rendered = r.render()
    assert "upstream event -> signal seen (bus)" in rendered
    assert "upstream event -> fill seen (total)" in rendered


def test_fill_seen_runs_from_the_brokers_fill_time_to_the_update_on_the_bus() -> None:
    signals = [
        seen("f-1", "py-a", 1, 1_000_000_000, ack_ns=1_001_000_000, fill_ns=1_050_500_000, status="filled"),
        seen("f-2", "py-a", 2, 1_000_000_000, ack_ns=1_001_000_000, status="canceled"),  # never filled
        seen("f-3", "py-a", 3, 1_000_000_000, ack_ns=1_001_000_000, fill_ns=1_070_000_000, status="filled"),
    ]
    for s, order_id in zip(signals, ("o-1", "o-2", "o-3"), strict=True):
        s.order_id = order_id
    orders = [
        BrokerOrder("o-1", "tb-f-1", "AAPL", "buy", "filled", 1.0, 10.0, filled_at_ns=1_049_000_000),
        BrokerOrder("o-2", "tb-f-2", "AAPL", "buy", "canceled", 0.0, None),
        BrokerOrder("o-3", "tb-f-3", "AAPL", "buy", "filled", 1.0, 10.0),  # no fill time at the broker
    ]
    assert fill_seen_ms(signals, orders) == [1.5]


def test_the_features_latency_comes_from_the_strategys_metrics_page() -> None:
    health = HealthCheck.healthy("strategy")
    stage = health.telemetry.latency("features")
    for _ in range(90):
        stage.observe(0.000_007)  # in the first bucket (<= 10 us)
    for _ in range(10):
        stage.observe(0.000_040)  # in the (25 us, 50 us] bucket
    page = health.telemetry.render().decode()
    summary = histogram_summary(page, "features")
    assert summary["count"] == 100
    # as Prometheus's histogram_quantile: linear inside the bucket that holds the rank
    assert summary["p50_ms"] == pytest.approx(0.010 * 50 / 90)
    assert summary["p99_ms"] == pytest.approx(0.025 + 0.025 * 9 / 10)
    assert histogram_summary(page, "decode") == {"count": 0, "p50_ms": None, "p99_ms": None}
    r = result(flow={**result().flow, "features_latency": summary})
    assert r.summary()["latency"]["features"]["count"] == 100
    assert "features in the strategy (/metrics)" in r.render()


def test_a_run_whose_bars_were_not_seen_reports_the_hop_as_empty() -> None:
    flow = observed_flow([seen("r-1", "py-a", 0, 5)], {})
    assert flow["latency_ms"]["published_to_signal"] == [] and flow["unpublished_signals"] == 1
    r = result(flow={**result().flow, **flow})
    assert r.summary()["latency"]["published_to_signal"] == {"count": 0, "p50_ms": None, "p99_ms": None}
