"""HealthCheck: the guide's builder, the bodies it produces, readiness rules, tracked sources."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from tradebridge.bus.stats import SequenceTracker, SubscriberStats
from tradebridge.health import HealthCheck, HealthStatus, read_stats, rfc3339_seconds

GUIDE_MOMENT = datetime(2025, 10, 21, 17, 0, 0, 123456, tzinfo=UTC)


def test_guide_builder_gives_the_guide_health_body() -> None:
    health = (
        HealthCheck.healthy("market-data")
        .with_metric("websocket_connected", "true")
        .with_metric("messages_processed", "1234")
    )
    assert health.health_body(GUIDE_MOMENT) == {
        "status": "healthy",
        "component": "market-data",
        "message": "All systems operational",
        "metrics": {"websocket_connected": "true", "messages_processed": "1234", "uptime_seconds": "0"},
        "timestamp": "2025-10-21T17:00:00Z",
    }
    assert health.readiness_body(GUIDE_MOMENT) == {
        "ready": True,
        "component": "market-data",
        "timestamp": "2025-10-21T17:00:00Z",
    }


def test_metric_values_become_strings_booleans_json_style() -> None:
    health = HealthCheck.healthy("svc").with_metric("connected", True).with_metric("count", 7)
    health.with_metric("ratio", 0.5).with_metric("closed", False)
    assert health.metrics == {"connected": "true", "count": "7", "ratio": "0.5", "closed": "false"}
    health.remove_metric("count")
    assert "count" not in health.metrics


def test_timestamps_are_utc_whole_seconds() -> None:
    assert rfc3339_seconds(datetime(2000, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)) == "2000-02-29T23:59:59Z"
    assert rfc3339_seconds().endswith("Z")
    assert len(rfc3339_seconds()) == 20


def test_states_and_messages() -> None:
    health = HealthCheck.healthy("svc")
    assert health.degraded("feed lagging 3 s") is health
    assert (health.status, health.message, health.ready) == (HealthStatus.DEGRADED, "feed lagging 3 s", True)
    health.unhealthy("broker unreachable")
    assert health.status is HealthStatus.UNHEALTHY
    assert health.ready is False
    assert health.readiness_body()["reason"] == "unhealthy: broker unreachable"
    health.recovered()
    assert (health.status, health.message, health.ready) == (
        HealthStatus.HEALTHY,
        "All systems operational",
        True,
    )


def test_not_ready_has_a_reason_and_ready_has_none() -> None:
    health = HealthCheck.healthy("strategy").not_ready("indicators warming up (12/50 bars)")
    body = health.readiness_body()
    assert body["ready"] is False
    assert body["reason"] == "indicators warming up (12/50 bars)"
    assert health.health_body()["status"] == "healthy"  # not ready is not unhealthy
    assert "reason" not in health.mark_ready().readiness_body()


@pytest.mark.parametrize("component", ["", "x" * 65])
def test_component_must_fit_the_contract(component: str) -> None:
    with pytest.raises(ValueError, match="component"):
        HealthCheck(component)


def test_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError):
        HealthCheck.healthy("svc").set_status("sick", "no such state")


def test_counters_show_in_health_once_they_count_and_explicit_metrics_win() -> None:
    health = HealthCheck.healthy("svc")
    assert set(health.health_body()["metrics"]) == {"uptime_seconds"}
    health.telemetry.messages_processed.inc(3)
    health.telemetry.sequence_gaps.inc()
    metrics = health.health_body()["metrics"]
    assert metrics["messages_processed"] == "3"
    assert metrics["sequence_gaps"] == "1"
    assert "malformed_messages" not in metrics
    health.with_metric("messages_processed", "1234")
    assert health.health_body()["metrics"]["messages_processed"] == "1234"
    with pytest.raises(ValueError):
        health.telemetry.messages_processed.inc(-1)


def test_tracked_subscriber_stats_are_read_at_each_request() -> None:
    stats = SubscriberStats()
    tracker = SequenceTracker(stats)
    health = HealthCheck.healthy("strategy").track("market", stats)
    for seq in (0, 1, 4):
        tracker.observe("market", seq, "pub-1")
    stats.malformed += 2
    metrics = health.health_body()["metrics"]
    assert metrics["market_received"] == "3"
    assert metrics["market_gaps"] == "1"
    assert metrics["market_dropped"] == "2"
    assert metrics["market_malformed"] == "2"
    assert not any(key.startswith("market_topics") for key in metrics), "nested maps are left out"
    health.untrack("market")
    assert "market_received" not in health.health_body()["metrics"]


def test_stat_sources_of_every_shape() -> None:
    class WithStats:
        def __init__(self) -> None:
            self.stats = SubscriberStats(received=5)

    assert read_stats({"a": 1, "b": 2.5, "flag": True, "name": "x", "nan": float("nan")}) == {
        "a": 1,
        "b": 2.5,
    }
    assert read_stats(lambda: {"sent": 9}) == {"sent": 9}
    assert read_stats(WithStats())["received"] == 5
    with pytest.raises(TypeError, match="cannot read stats"):
        read_stats(42)
    with pytest.raises(TypeError):
        HealthCheck.healthy("svc").track("bad", object())


def test_a_failing_source_does_not_break_the_body() -> None:
    calls = []

    def flaky() -> dict[str, int]:
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("source broke")
        return {"n": 1}

    health = HealthCheck.healthy("svc").track("flaky", flaky)
    body = health.health_body()
    assert "flaky_n" not in body["metrics"]
    assert body["status"] == "healthy"


def test_updates_from_another_thread_while_reading() -> None:
    health = HealthCheck.healthy("svc")
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            health.with_metric(f"m{i % 50}", i)
            health.telemetry.messages_processed.inc()
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(2000):
            body = health.health_body()
            assert body["metrics"]["uptime_seconds"].isdigit()
    finally:
        stop.set()
        thread.join()
    assert health.telemetry.messages_processed.value > 0
