"""The v1.1 envelope stamp end to end in Python: every publisher stamps ``sent_at_us``, subscribers keep a
transit histogram (stats and ``/metrics``), and count what they forgave (``legacy``, ``nan_tokens``)."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tradebridge.bus import BusOptions, TransitHistogram, ZMQPublisher, ZMQSubscriber
from tradebridge.bus import sync as bus_sync
from tradebridge.bus.stats import TRANSIT_BUCKETS_US
from tradebridge.contracts import now_us
from tradebridge.health import HealthCheck, HealthServer
from tradebridge.testing import free_port

from tests.bus.samples import bar, signal
from tests.health.conftest import request

ORIGINAL = (
    b'signal {"type": "SignalGenerated", "symbol": "AAPL", "direction": "long", "strength": 0.85, '
    b'"timestamp": 1729530000123, "features": [NaN, 2.0, -Infinity], "metadata": {"strategy": "ml"}}'
)
ORIGINAL_WARM = ORIGINAL.replace(b"[NaN, 2.0, -Infinity]", b"[1.0, 2.0, 3.0]").replace(b"123,", b"124,")


def test_buckets_are_powers_of_two_and_quantiles_their_upper_bounds() -> None:
    histogram = TransitHistogram()
    for micros in (0, 1, 2, 3, 4, 5, 1_000, 1 << 23, (1 << 23) + 1):
        histogram.observe(micros)
    buckets = histogram.cumulative_buckets()
    assert [count for _, count in buckets[:4]] == [2, 3, 5, 6]
    assert buckets[10] == (1024 / 1e6, 7) and buckets[23] == ((1 << 23) / 1e6, 8)
    assert histogram.count == 9  # the last is past every bucket: +Inf only
    assert (histogram.p50_us(), histogram.quantile_us(1.0)) == (4, None)
    assert len(TRANSIT_BUCKETS_US) == 24


def test_a_sender_ahead_of_us_is_counted_apart_and_an_empty_histogram_has_no_quantile() -> None:
    histogram = TransitHistogram()
    assert histogram.p99_us() is None
    histogram.observe(-5)
    assert (histogram.negative, histogram.count, histogram.p50_us()) == (1, 0, None)
    with pytest.raises(ValueError, match="quantile"):
        histogram.quantile_us(1.5)


def test_every_message_is_stamped_and_its_transit_observed() -> None:
    with (
        bus_sync.ZMQPublisher("tcp://127.0.0.1:*") as publisher,
        bus_sync.ZMQSubscriber(publisher.endpoint) as subscriber,
    ):
        subscriber.connect(["market", "signal"])
        publisher.wait_for_subscribers(2, timeout=10)
        before = now_us()
        for i in range(20):
            publisher.publish(bar(i))
        publisher.publish_many([signal(i) for i in range(20)])
        after = now_us()
        got = [subscriber.receive_one(timeout=10) for _ in range(40)]
        stats = subscriber.stats
    assert all(item is not None and before <= item[1].sent_at_us <= after for item in got)
    assert (stats.transit.count, stats.transit.negative) == (40, 0)
    p50, p99 = stats.transit.p50_us(), stats.transit.p99_us()
    assert p50 is not None and p99 is not None and p50 <= p99
    assert stats.as_dict()["transit"]["count"] == 40  # type: ignore[index]


def test_the_original_bridges_frames_are_read_with_allow_nan_tokens_and_counted() -> None:
    options = BusOptions(allow_nan_tokens=True, startup_grace=0)
    with (
        bus_sync.ZMQPublisher("tcp://127.0.0.1:*", options=options) as publisher,
        bus_sync.ZMQSubscriber(publisher.endpoint, options=options) as subscriber,
    ):
        subscriber.connect(["signal"])
        publisher.wait_for_subscribers(1, timeout=10)
        with publisher._core.lock:  # frames exactly as the original sends them
            publisher._core.socket.send(ORIGINAL)
            publisher._core.socket.send(ORIGINAL_WARM)
        first = subscriber.receive_one(timeout=10)
        second = subscriber.receive_one(timeout=10)
        stats = subscriber.stats
    assert first is not None and second is not None
    assert first[1].features == [None, 2.0, None] and first[1]["type"] == "Signal"
    assert second[1].timestamp == 1729530000124
    assert (stats.legacy, stats.nan_tokens, stats.malformed, stats.transit.count) == (2, 1, 0, 0)


def test_without_the_option_nan_frames_are_refused_counted_and_reading_goes_on() -> None:
    options = BusOptions(startup_grace=0)
    with (
        bus_sync.ZMQPublisher("tcp://127.0.0.1:*", options=options) as publisher,
        bus_sync.ZMQSubscriber(publisher.endpoint, options=options) as subscriber,
    ):
        subscriber.connect(["signal"])
        publisher.wait_for_subscribers(1, timeout=10)
        with publisher._core.lock:
            publisher._core.socket.send(ORIGINAL)
            publisher._core.socket.send(ORIGINAL_WARM)
        item = subscriber.receive_one(timeout=10)
        stats = subscriber.stats
    assert item is not None and item[1].timestamp == 1729530000124
    assert stats.malformed_by_code == {"invalid_json": 1}
    assert (stats.legacy, stats.nan_tokens) == (1, 0)


async def test_metrics_show_the_transit_histogram_of_a_tracked_subscriber() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    health = HealthCheck.healthy("strategy")
    server = HealthServer(health, port=0, host="127.0.0.1")
    await server.start()
    try:
        async with (
            ZMQSubscriber(endpoint, bind=True) as subscriber,
            ZMQPublisher(endpoint, bind=False) as publisher,
        ):
            await subscriber.connect(["market"])
            health.track("market_in", subscriber)
            # a bound subscriber sends its subscription while it receives (see wait_for_subscribers)
            receiving = asyncio.create_task(_receive(subscriber, 7))
            await publisher.wait_for_subscribers(1, timeout=10)
            for i in range(7):
                await publisher.publish(bar(i))
            assert await asyncio.wait_for(receiving, 10) == 7
            body = (await request(server.port, "GET", "/metrics")).body.decode()
    finally:
        await server.stop()
    families = {f.name: f for f in text_string_to_metric_families(body)}
    transit = families["tradebridge_bus_transit_seconds"]
    samples = {(s.name, s.labels.get("le")): s.value for s in transit.samples}
    assert samples[("tradebridge_bus_transit_seconds_count", None)] == 7
    assert samples[("tradebridge_bus_transit_seconds_bucket", "+Inf")] == 7
    assert all(s.labels["source"] == "market_in" for s in transit.samples)
    legacy = {s.labels["source"]: s.value for s in families["tradebridge_legacy"].samples}
    assert legacy == {"market_in": 0}


async def _receive(subscriber: ZMQSubscriber, n: int) -> int:
    got = 0
    async for _topic, _message in subscriber.receive():
        got += 1
        if got == n:
            break
    return got
