"""The Rust health server (crate ``tradebridge-health``, in the real ``health-probe-server`` binary) holds
against oversized, slow and numerous clients; the services that serve it (bus-proxy, market-data) bind
loopback unless ``--health-host`` says otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tradebridge.testing import Service, free_port, rust_binary

from conformance.health.conftest import ProbeProcess
from tests.http_surfaces import checks
from tests.http_surfaces.raw import listening_addresses

CAP = 8
HEADER_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    # The conformance kit's probe process: the binary exits at the end of its stdin, which this keeps open.
    probe = ProbeProcess(
        "rust",
        "surface",
        "--max-connections",
        str(CAP),
        "--header-timeout-ms",
        str(int(HEADER_TIMEOUT_S * 1000)),
    )
    try:
        yield int(probe.url.rsplit(":", 1)[1])
    finally:
        probe.close()


def test_oversized_head_is_431(port: int) -> None:
    checks.oversized_head(port, "/health", statuses=(431,))


def test_too_many_header_fields_are_431(port: int) -> None:
    checks.too_many_headers(port, "/ready", statuses=(431,))


def test_declared_body_too_large_is_413(port: int) -> None:
    checks.declared_body_too_large(port, "GET", "/health", "/health")


def test_slow_body_is_answered_at_once_and_closed(port: int) -> None:
    checks.slow_body(port, "GET", "/health", "/live", statuses=(200,), body_timeout=0.0)


def test_slowloris_does_not_starve_probes(port: int) -> None:
    checks.slowloris_does_not_starve(port, "/health", n=CAP - 2, header_timeout=HEADER_TIMEOUT_S)


def test_connection_cap_refuses_the_excess_and_counts_it(port: int) -> None:
    before = checks.metric(port, "/metrics", "tradebridge_http_connections_refused_total")
    refused = checks.connection_cap(port, "/health", CAP)
    after = checks.metric(port, "/metrics", "tradebridge_http_connections_refused_total")
    assert after == before + refused


@pytest.mark.parametrize("binary", ["bus-proxy", "market-data"])
def test_services_bind_health_on_loopback_unless_told(binary: str) -> None:
    for host, expected in ((None, {"127.0.0.1"}), ("0.0.0.0", {"0.0.0.0"})):
        health = free_port()
        if binary == "bus-proxy":
            argv = [str(rust_binary("bus-proxy")), "--frontend", f"tcp://127.0.0.1:{free_port()}"]
            argv += ["--backend", f"tcp://127.0.0.1:{free_port()}"]
        else:  # nothing to stream from: it keeps reconnecting, and serves its health port meanwhile
            argv = [str(rust_binary("market-data")), "--stream-url", f"ws://127.0.0.1:{free_port()}/v2/iex"]
            argv += ["--endpoint", f"tcp://127.0.0.1:{free_port()}"]
        argv += ["--health-port", str(health), *(["--health-host", host] if host else [])]
        with Service(binary, argv, ready=lambda s: s.get("/live")[0] == 200, health_port=health, grace=2):
            assert listening_addresses(health) == expected
