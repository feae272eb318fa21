"""Per-message cost of the Python instruments next to ``prometheus_client``'s own (the baseline), and the
cost of rendering ``/health`` and ``/metrics`` bodies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import prometheus_client
import pytest
from tradebridge.contracts import Health
from tradebridge.health import LATENCY_BUCKETS_SECONDS, HealthCheck

from benches.health.conftest import MEDIANS


def _record(instrument: str, impl: str, benchmark: Any) -> None:
    MEDIANS[(instrument, impl)] = benchmark.stats.stats.median


@pytest.mark.parametrize("impl", ["tradebridge", "prometheus_client"])
def test_counter_inc(benchmark: Any, impl: str) -> None:
    if impl == "tradebridge":
        inc = HealthCheck.healthy("bench").telemetry.messages_processed.inc
    else:
        registry = prometheus_client.CollectorRegistry()
        inc = prometheus_client.Counter("bench_messages", "x", registry=registry).inc
    benchmark(inc)
    _record("counter.inc", impl, benchmark)


@pytest.mark.parametrize("impl", ["tradebridge", "prometheus_client"])
def test_histogram_observe(benchmark: Any, impl: str) -> None:
    observe: Callable[[float], None]
    if impl == "tradebridge":
        observe = HealthCheck.healthy("bench").telemetry.latency("decode").observe
    else:
        registry = prometheus_client.CollectorRegistry()
        observe = prometheus_client.Histogram(
            "bench_latency", "x", buckets=LATENCY_BUCKETS_SECONDS, registry=registry
        ).observe
    benchmark(observe, 0.00042)
    _record("histogram.observe", impl, benchmark)


def _busy_check() -> HealthCheck:
    health = HealthCheck.healthy("market-data").with_metric("websocket_connected", True)
    health.track("market", {"received": 10, "malformed": 0, "gaps": 1, "dropped": 3})
    health.telemetry.messages_processed.inc(1234)
    health.telemetry.latency("decode").observe(0.00003)
    return health


def test_render_health_body(benchmark: Any) -> None:
    health = _busy_check()
    encoder = msgspec.json.Encoder()
    body = benchmark(lambda: encoder.encode(Health(**health.health_body())))
    assert b'"market_received":"10"' in body


def test_render_metrics_page(benchmark: Any) -> None:
    page = benchmark(_busy_check().telemetry.render)
    assert b"tradebridge_received_total" in page
