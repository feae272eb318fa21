"""``tradebridge conformance health URL`` against the SDK's real health server and a non-conformant one."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from tradebridge.conformance.cli import main
from tradebridge.health import HealthCheck, HealthServer, HealthStatus
from tradebridge.testing import free_port


@pytest.fixture
def health() -> Iterator[tuple[HealthCheck, str]]:
    check = HealthCheck.healthy("market-data")
    server = HealthServer(check, port=0, host="127.0.0.1")
    server.start_in_thread()
    yield check, server.url
    server.close()


@pytest.mark.parametrize(("status", "ready"), [("healthy", True), ("degraded", False), ("unhealthy", True)])
def test_the_sdk_health_server_is_conformant_in_every_state(
    health: tuple[HealthCheck, str], status: str, ready: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    check, url = health
    check.set_status(HealthStatus(status), "state under test")
    if not ready:
        check.not_ready("warming up")
    assert main(["health", url]) == 0, capsys.readouterr().out


class WrongHandler(http.server.BaseHTTPRequestHandler):
    """Says healthy with 503, writes a body missing `timestamp`, and serves every path."""

    def do_GET(self) -> None:
        body = b'{"status": "healthy", "component": "x", "message": "", "metrics": {}}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass  # the test output is the verdict, not the access log


def test_a_non_conformant_server_fails_with_each_problem_named(capsys: pytest.CaptureFixture[str]) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), WrongHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert main(["health", f"http://127.0.0.1:{server.server_address[1]}"]) == 1
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    out = capsys.readouterr().out
    assert "FAIL  GET /health: body refused by the contract: missing_field at $.timestamp" in out
    assert "FAIL  GET /no-such-path" in out and "FAIL  POST /health" in out


def test_nothing_listening_cannot_be_judged() -> None:
    assert main(["health", f"http://127.0.0.1:{free_port()}", "--timeout", "1"]) == 2
