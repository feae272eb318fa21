"""The bus feeds the health endpoints without knowing about HTTP: real ZeroMQ sockets on loopback, a real
health server, counters read at request time."""

from __future__ import annotations

import asyncio
import json

import zmq
import zmq.asyncio
from prometheus_client.parser import text_string_to_metric_families
from tradebridge.bus import ZMQPublisher, ZMQSubscriber
from tradebridge.contracts import Signal
from tradebridge.health import HealthCheck, HealthServer
from tradebridge.testing import free_port

from tests.health.conftest import request


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_subscriber_and_publisher_counters_reach_health_and_metrics() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    health = HealthCheck.healthy("strategy").not_ready("bus not connected")
    server = HealthServer(health, port=0, host="127.0.0.1")
    await server.start()
    context = zmq.asyncio.Context()
    rogue = context.socket(zmq.PUB)  # a peer that sends frames breaking the contract
    try:
        async with (
            ZMQSubscriber(endpoint, bind=True) as subscriber,
            ZMQPublisher(endpoint, bind=False) as publisher,
        ):
            await subscriber.connect(["signal"])
            rogue.connect(endpoint)
            health.track("signals_in", subscriber).track("signals_out", publisher).mark_ready()
            assert (await request(server.port, "GET", "/ready")).status == 200

            receiving = asyncio.create_task(_receive(subscriber, 5))
            await publisher.wait_for_subscribers(1, timeout=5, topic="signal")
            for i in range(5):
                await publisher.publish_signal(
                    Signal(symbol="AAPL", direction="long", strength=0.5, timestamp=1_700_000_000_000 + i)
                )
            assert await asyncio.wait_for(receiving, 5) == 5
            # the rogue peer's subscription must reach it before its frames are delivered
            for _ in range(200):
                await rogue.send(b"signal {not json")
                assert await subscriber.receive_one(timeout=0.01) is None  # skipped and counted
                if subscriber.stats.malformed:
                    break

            body = json.loads((await request(server.port, "GET", "/health")).body)
            assert body["metrics"]["signals_in_received"] == "5"
            assert int(body["metrics"]["signals_in_malformed"]) >= 1
            assert body["metrics"]["signals_in_gaps"] == "0"
            assert body["metrics"]["signals_out_published"] == "5"

            samples = _samples((await request(server.port, "GET", "/metrics")).body.decode())
            assert samples[("tradebridge_received_total", (("source", "signals_in"),))] == 5
            assert samples[("tradebridge_malformed_total", (("source", "signals_in"),))] >= 1
            assert samples[("tradebridge_dropped_total", (("source", "signals_in"),))] == 0
            assert samples[("tradebridge_published_total", (("source", "signals_out"),))] == 5
    finally:
        rogue.close(0)
        context.term()
        await server.stop()


async def _receive(subscriber: ZMQSubscriber, n: int) -> int:
    got = 0
    async for _topic, _message in subscriber.receive():
        got += 1
        if got == n:
            break
    return got
