"""HealthServer over real loopback HTTP: endpoints, status codes, HEAD/404/405, malformed requests,
thread mode, port 0 and bind failures."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tradebridge.bus.stats import SubscriberStats
from tradebridge.health import (
    PROMETHEUS_CONTENT_TYPE,
    HealthCheck,
    HealthServer,
    HealthServerError,
    _telemetry,
    start_health_server,
)

from tests.health.conftest import raw_request, request

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
PATHS = ("/health", "/ready", "/live", "/metrics")


async def test_guide_bodies_over_http(server: HealthServer, health: HealthCheck) -> None:
    health.with_metric("websocket_connected", "true").with_metric("messages_processed", "1234")
    reply = await request(server.port, "GET", "/health")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    body = json.loads(reply.body)
    assert TIMESTAMP.match(body.pop("timestamp"))
    assert body.pop("schema_version") == "1.0"
    assert body == {
        "status": "healthy",
        "component": "market-data",
        "message": "All systems operational",
        "metrics": {"websocket_connected": "true", "messages_processed": "1234", "uptime_seconds": "0"},
    }
    ready = await request(server.port, "GET", "/ready")
    assert ready.status == 200
    ready_body = json.loads(ready.body)
    assert TIMESTAMP.match(ready_body.pop("timestamp"))
    assert ready_body.pop("schema_version") == "1.0"
    assert ready_body == {"ready": True, "component": "market-data"}
    live = await request(server.port, "GET", "/live")
    assert (live.status, live.body) == (200, b'"alive"')


async def test_status_codes_follow_the_state(server: HealthServer, health: HealthCheck) -> None:
    health.degraded("feed lagging")
    assert (await request(server.port, "GET", "/health")).status == 200
    assert (await request(server.port, "GET", "/ready")).status == 200
    health.unhealthy("broker unreachable")
    reply = await request(server.port, "GET", "/health")
    assert reply.status == 503
    assert json.loads(reply.body)["message"] == "broker unreachable"
    ready = await request(server.port, "GET", "/ready")
    assert ready.status == 503
    assert json.loads(ready.body)["reason"] == "unhealthy: broker unreachable"
    assert (await request(server.port, "GET", "/live")).status == 200, "liveness ignores health"
    health.recovered().not_ready("sockets not connected")
    ready = await request(server.port, "GET", "/ready")
    assert (ready.status, json.loads(ready.body)["reason"]) == (503, "sockets not connected")


async def test_uptime_is_filled_in_automatically(server: HealthServer, health: HealthCheck) -> None:
    health.telemetry._started -= 3600  # as if started an hour ago
    body = json.loads((await request(server.port, "GET", "/health")).body)
    assert body["metrics"]["uptime_seconds"] == "3600"


async def test_metrics_page_parses_and_has_every_family(server: HealthServer, health: HealthCheck) -> None:
    stats = SubscriberStats(received=10, malformed=1, gaps=2, dropped=5)
    health.track("market", stats)
    health.telemetry.messages_processed.inc(42)
    health.telemetry.malformed_messages.inc()
    health.telemetry.latency("decode").observe(0.00003)
    health.telemetry.latency("decode").observe(0.2)

    reply = await request(server.port, "GET", "/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"] == PROMETHEUS_CONTENT_TYPE
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(reply.body.decode())
        for s in family.samples
    }
    assert samples[("tradebridge_uptime_seconds", ())] >= 0
    assert samples[("tradebridge_messages_processed_total", ())] == 42
    assert samples[("tradebridge_malformed_messages_total", ())] == 1
    assert samples[("tradebridge_sequence_gaps_total", ())] == 0
    assert samples[("tradebridge_received_total", (("source", "market"),))] == 10
    assert samples[("tradebridge_gaps_total", (("source", "market"),))] == 2
    assert samples[("tradebridge_dropped_total", (("source", "market"),))] == 5
    assert samples[("tradebridge_latency_seconds_bucket", (("le", "2.5e-05"), ("stage", "decode")))] == 0
    assert samples[("tradebridge_latency_seconds_bucket", (("le", "5e-05"), ("stage", "decode")))] == 1
    assert samples[("tradebridge_latency_seconds_bucket", (("le", "+Inf"), ("stage", "decode")))] == 2
    assert samples[("tradebridge_latency_seconds_count", (("stage", "decode"),))] == 2
    assert samples[("tradebridge_health_status", (("status", "healthy"),))] == 1
    assert samples[("tradebridge_ready", ())] == 1
    # the live object is read at each scrape
    stats.received = 11
    again = (await request(server.port, "GET", "/metrics")).body.decode()
    assert 'tradebridge_received_total{source="market"} 11.0' in again


async def test_head_404_and_405(server: HealthServer) -> None:
    for path in PATHS:
        head = await request(server.port, "HEAD", path)
        assert head.status == 200, path
        assert head.body == b"", path
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"):
            reply = await request(server.port, method, path)
            assert reply.status == 405, (method, path)
            assert set(reply.headers["allow"].split(",")) == {"GET", "HEAD"}, (method, path)
        # a method HTTP does not know: aiohttp's parser refuses it before routing (the Rust one says 405)
        assert 400 <= (await request(server.port, "BREW", path)).status < 500
    for path in ("/", "/healthz", "/health/", "/%ff", "/" + "x" * 2000):
        reply = await request(server.port, "GET", path)
        assert reply.status == 404, path
    nf = await request(server.port, "GET", "/nope")
    assert json.loads(nf.body) == {"error": "not_found"}
    assert (await request(server.port, "GET", "/metrics?name[]=x&y")).status == 200


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("garbage", b"\x00\x01\x02 garbage \xff\xfe\r\n\r\n"),
        ("bad version", b"GET /health HTTP/9.9\r\n\r\n"),
        ("space in method", b"G T /health HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("bad header", b"GET /health HTTP/1.1\r\nHost x\r\n\r\n"),
        ("huge header", b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"),
        ("huge request line", b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("bad content-length", b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\n"),
    ],
)
async def test_malformed_requests_get_4xx(server: HealthServer, name: str, data: bytes) -> None:
    reply = await raw_request(server.port, data)
    assert 400 <= reply.status < 500, (name, reply)
    assert (await request(server.port, "GET", "/live")).status == 200, "still serving"


@pytest.mark.parametrize("in_thread", [True, False])
async def test_start_health_server_and_port_zero(health: HealthCheck, in_thread: bool) -> None:
    server = await start_health_server(0, health, host="127.0.0.1", in_thread=in_thread)
    try:
        assert server.running and server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert (await request(server.port, "GET", "/live")).status == 200
        with pytest.raises(HealthServerError, match="already started"):
            await server.start()
    finally:
        await server.stop()
    assert not server.running
    with pytest.raises(HealthServerError, match="not started"):
        _ = server.port


async def test_taken_port_is_a_typed_error(server: HealthServer) -> None:
    other = HealthServer(HealthCheck.healthy("other"), port=server.port, host="127.0.0.1")
    with pytest.raises(HealthServerError, match=str(server.port)) as caught:
        await other.start()
    assert isinstance(caught.value, OSError)
    with pytest.raises(HealthServerError, match="port"):
        HealthServer(HealthCheck.healthy("x"), port=70000)


def test_thread_mode_for_synchronous_programs() -> None:
    health = HealthCheck.healthy("sync-service")
    with HealthServer(health, port=0, host="127.0.0.1") as server:
        with urllib.request.urlopen(f"{server.url}/health", timeout=5) as reply:
            assert json.loads(reply.read())["component"] == "sync-service"
        health.unhealthy("down")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{server.url}/ready", timeout=5)
        assert caught.value.code == 503
        caught.value.close()  # an HTTPError is the response: it holds the connection until closed
        port = server.port
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "closed after the with block"


def test_thread_mode_reports_bind_failure() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = HealthServer(HealthCheck.healthy("x"), port=taken.getsockname()[1], host="127.0.0.1")
        with pytest.raises(HealthServerError, match="cannot bind"):
            server.start_in_thread()
        assert not server.running


async def test_in_loop_server_stops_a_threaded_one_too() -> None:
    server = HealthServer(HealthCheck.healthy("x"), host="127.0.0.1")
    server.start_in_thread()
    await server.stop()
    assert not server.running


async def test_concurrent_clients_all_answered(server: HealthServer) -> None:
    async def client(i: int) -> int:
        return (await request(server.port, "GET", PATHS[i % len(PATHS)])).status

    statuses = await asyncio.gather(*(client(i) for i in range(400)))
    assert statuses == [200] * 400


async def test_threaded_server_reads_tracked_sources_on_the_owning_loop() -> None:
    """A bus object's stats may touch its ZeroMQ socket: only the loop that tracked it may read them."""
    readers: list[int] = []

    def source() -> dict[str, int]:
        readers.append(threading.get_ident())
        return {"received": 7}

    health = HealthCheck.healthy("svc").track("bus", source)
    server = await start_health_server(0, health, host="127.0.0.1", in_thread=True)
    try:
        readers.clear()
        body = json.loads((await request(server.port, "GET", "/health")).body)
        metrics = (await request(server.port, "GET", "/metrics")).body.decode()
    finally:
        await server.stop()
    assert body["metrics"]["bus_received"] == "7"
    assert 'tradebridge_received_total{source="bus"} 7.0' in metrics
    assert readers and set(readers) == {threading.get_ident()}


async def test_a_stalled_service_loop_does_not_stall_health(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_telemetry, "SOURCE_READ_TIMEOUT_S", 0.2)
    health = HealthCheck.healthy("svc").track("bus", lambda: {"received": 1})
    server = HealthServer(health, port=0, host="127.0.0.1")
    server.start_in_thread()
    try:
        started = time.monotonic()
        # a blocking call inside the loop that owns the source: the server must answer without it
        with urllib.request.urlopen(f"{server.url}/health", timeout=5) as reply:
            body = json.loads(reply.read())
        assert time.monotonic() - started < 2
        assert "bus_received" not in body["metrics"]
        assert body["status"] == "healthy"
    finally:
        await server.stop()
