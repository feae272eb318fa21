"""The Python health server (Rust threads under ``HealthServer``; aiohttp under ``AiohttpHealthServer``,
kept for ``application()``) holds against oversized, slow and numerous clients, and binds loopback unless
told otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tradebridge.health import AiohttpHealthServer, HealthCheck, HealthServer, HttpLimits
from tradebridge.testing import free_port

from tests.http_surfaces import checks
from tests.http_surfaces.raw import listening_addresses

CAP = 8
LIMITS = HttpLimits(max_connections=CAP, header_timeout=1.0, body_timeout=1.0, max_body_bytes=1024)


@pytest.fixture(params=["native", "aiohttp"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    health = HealthCheck.healthy("surface")
    kind = HealthServer if request.param == "native" else AiohttpHealthServer
    server = kind(health, limits=LIMITS)
    server.start_in_thread()
    try:
        yield server.port
    finally:
        server.close()


def test_oversized_head_is_refused(port: int) -> None:
    checks.oversized_head(port, "/health", statuses=(400, 431))  # aiohttp: 400, hyper: 431


def test_too_many_header_fields_are_refused(port: int) -> None:
    checks.too_many_headers(port, "/ready", statuses=(400, 431))


def test_declared_body_too_large_is_413(port: int) -> None:
    checks.declared_body_too_large(port, "GET", "/health", "/health")


def test_slow_body_is_answered_and_closed(port: int) -> None:
    # Rust answers at once (no endpoint reads a body) and closes; aiohttp waits out the body timeout: 408.
    checks.slow_body(port, "GET", "/health", "/live", statuses=(200, 408), body_timeout=LIMITS.body_timeout)


def test_slowloris_does_not_starve_probes(port: int) -> None:
    checks.slowloris_does_not_starve(port, "/health", n=CAP - 2, header_timeout=LIMITS.header_timeout)


def test_connection_cap_refuses_the_excess(port: int) -> None:
    checks.connection_cap(port, "/live", CAP)


def test_refused_connections_are_counted_in_metrics() -> None:
    health = HealthCheck.healthy("capped")
    with HealthServer(health, limits=LIMITS) as server:
        seen = checks.connection_cap(server.port, "/health", CAP)
        refused = checks.metric(server.port, "/metrics", "tradebridge_http_connections_refused_total")
        assert refused == seen
        assert server.connection_stats()["refused"] == refused


@pytest.mark.parametrize("kind", [HealthServer, AiohttpHealthServer])
def test_binds_loopback_unless_told(kind: type[HealthServer] | type[AiohttpHealthServer]) -> None:
    health = HealthCheck.healthy("bind")
    with kind(health) as server:
        assert listening_addresses(server.port) == {"127.0.0.1"}
    port = free_port()
    with kind(health, port=port, host="0.0.0.0") as server:
        assert listening_addresses(server.port) == {"0.0.0.0"}
