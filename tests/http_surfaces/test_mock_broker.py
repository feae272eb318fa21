"""The mock broker's HTTP port (aiohttp) holds against oversized, slow and numerous clients, counts what it
refuses on its health port's ``/metrics``, and binds loopback unless told otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from tradebridge.health import HttpLimits
from tradebridge.testing import Service, free_port
from tradebridge_mocks.broker import MockBroker

from tests.http_surfaces import checks
from tests.http_surfaces.raw import listening_addresses

CAP = 8
LIMITS = HttpLimits(max_connections=CAP, header_timeout=1.0, body_timeout=1.0, max_body_bytes=64 * 1024)


@pytest.fixture(scope="module")
def broker() -> Iterator[MockBroker]:
    with MockBroker(http_limits=LIMITS, health_port=free_port(), bar_interval=0) as broker:
        yield broker


@pytest.fixture
def port(broker: MockBroker) -> int:
    return int(broker.url.rsplit(":", 1)[1])


def test_oversized_head_is_refused(port: int) -> None:
    checks.oversized_head(port, "/admin/requests", statuses=(400, 431))


def test_too_many_header_fields_are_refused(port: int) -> None:
    checks.too_many_headers(port, "/admin/requests", statuses=(400, 431))


def test_declared_body_too_large_is_413_before_authentication(port: int) -> None:
    checks.declared_body_too_large(port, "POST", "/v2/orders", "/admin/requests")


def test_slow_order_body_gets_408(port: int) -> None:
    checks.slow_body(port, "POST", "/v2/orders", "/admin/requests", (408,), body_timeout=LIMITS.body_timeout)


def test_slowloris_does_not_starve_clients(port: int) -> None:
    checks.slowloris_does_not_starve(port, "/admin/requests", n=CAP - 2, header_timeout=LIMITS.header_timeout)


def test_connection_cap_refuses_the_excess_and_counts_it(broker: MockBroker, port: int) -> None:
    health_port = broker.config.health_port
    labels = {"source": "http"}
    before = checks.metric(health_port, "/metrics", "tradebridge_connections_refused_total", labels)
    refused = checks.connection_cap(port, "/admin/requests", CAP)
    after = checks.metric(health_port, "/metrics", "tradebridge_connections_refused_total", labels)
    assert after == before + refused


def test_cli_binds_loopback_by_default() -> None:
    port, health = free_port(), free_port()
    argv = [sys.executable, "-m", "tradebridge.cli", "mock-broker", "--port", str(port)]
    with Service("mock-broker", [*argv, "--health-port", str(health)], health_port=health, grace=2):
        assert listening_addresses(port) == {"127.0.0.1"}
        assert listening_addresses(health) == {"127.0.0.1"}


def test_binds_all_interfaces_when_told() -> None:
    with MockBroker(host="0.0.0.0", health_port=free_port(), bar_interval=0) as broker:
        port = int(broker.url.rsplit(":", 1)[1])
        assert listening_addresses(port) == {"0.0.0.0"}
        assert listening_addresses(broker.config.health_port) == {"0.0.0.0"}
