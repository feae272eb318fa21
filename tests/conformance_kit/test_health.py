"""``tradebridge conformance health URL``, schemathesis and the hand-written rules, against the SDK's real
health server, the Rust one (``health-probe-server``) and servers that break the contract on purpose."""

from __future__ import annotations

import http.server
import json
import sys
import threading
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tradebridge.conformance.cli import main
from tradebridge.contracts import Health, Readiness, encode
from tradebridge.health import HealthCheck, HealthServer, HealthStatus
from tradebridge.testing import Service, free_port, rust_binary

STATES = [("healthy", True), ("degraded", False), ("unhealthy", True)]


@pytest.fixture
def health() -> Iterator[tuple[HealthCheck, str]]:
    check = HealthCheck.healthy("market-data")
    server = HealthServer(check, port=0, host="127.0.0.1")
    server.start_in_thread()
    yield check, server.url
    server.close()


@pytest.fixture
def rust_probe() -> Iterator[Service]:
    """The Rust crate's server in its own process, its state driven over stdin."""
    argv: list[str | Path] = [
        rust_binary("health-probe-server"),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--component",
        "engine",
    ]
    with Service("health-probe-server", argv, ready_line=r"listening (\S+)", stdin=True) as service:
        yield service


def set_unhealthy(service: Service, url: str) -> None:
    assert service.stdin is not None
    service.stdin.write(b"status unhealthy broker unreachable\n")
    service.stdin.flush()

    def unhealthy(_: Service) -> bool:
        try:
            urllib.request.urlopen(url + "/health", timeout=2).close()
        except urllib.error.HTTPError as exc:
            return exc.code == 503
        return False

    service.wait(unhealthy, "unhealthy", timeout=10)


def health_report(url: str, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    report = tmp_path / "health.json"
    code = main(["health", url, "--json", str(report), "--junit", str(tmp_path / "health.xml"),
                 "--html", str(tmp_path / "health.html"), *extra])  # fmt: skip
    return code, json.loads(report.read_text())


@pytest.mark.parametrize(("status", "ready"), STATES)
def test_the_sdk_health_server_is_conformant_in_every_state(
    health: tuple[HealthCheck, str], status: str, ready: bool, tmp_path: Path
) -> None:
    check, url = health
    check.set_status(HealthStatus(status), "state under test")
    if not ready:
        check.not_ready("warming up")
    code, body = health_report(url, tmp_path)
    assert code == 0, body
    schemathesis = body["schemathesis"]
    assert isinstance(schemathesis, dict) and schemathesis["stop_reason"] == "completed"
    # the engine ran its checks on every response, not just a probe or two
    assert {"response_schema_conformance", "status_code_conformance", "unsupported_method"} <= set(
        schemathesis["checks"]
    )
    suite = ET.parse(tmp_path / "health.xml").getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests") or 0) >= 15


def test_the_rust_health_server_is_conformant(rust_probe: Service, tmp_path: Path) -> None:
    assert rust_probe.ready_match is not None
    url = "http://" + rust_probe.ready_match.group(1)
    code, body = health_report(url, tmp_path)
    assert code == 0, body
    set_unhealthy(rust_probe, url)
    code, body = health_report(url, tmp_path)
    assert code == 0, body
    assert body["checks"]["GET /health"] is None


class ContractServer(http.server.BaseHTTPRequestHandler):
    """Every hand-written rule holds (valid bodies, 405 on POST, 404 elsewhere, HEAD like GET); the bug is
    that it answers every other undeclared method as if it were GET: only schemathesis tries them."""

    def _answer(self, body: bool) -> None:
        pages = {
            "/health": ("application/json", encode(Health(status="healthy", component="c", message="",
                                                          metrics={}, timestamp="2026-01-01T00:00:00Z"))),
            "/ready": ("application/json", encode(Readiness(ready=True, component="c",
                                                            timestamp="2026-01-01T00:00:00Z"))),
            "/live": ("application/json", b'"alive"'),
            "/metrics": ("text/plain; version=0.0.4", b"tradebridge_uptime_seconds 1\n"
                         b"tradebridge_health_status 1\ntradebridge_ready 1\n"),
        }  # fmt: skip
        content_type, page = pages.get(self.path, ("text/plain", b"not found"))
        self.send_response(200 if self.path in pages else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        if body:
            self.wfile.write(page)

    def do_GET(self) -> None:
        self._answer(True)

    def do_HEAD(self) -> None:
        self._answer(False)

    def do_POST(self) -> None:
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_TRACE = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass  # the test output is the verdict, not the access log


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
        pass


def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def method_blind_server() -> Iterator[str]:
    yield from serving(ContractServer)


@pytest.fixture
def wrong_server() -> Iterator[str]:
    yield from serving(WrongHandler)


def test_schemathesis_catches_what_the_rules_miss(
    method_blind_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the control: the hand-written rules alone pass this server
    assert main(["health", method_blind_server, "--rules-only"]) == 0
    code, body = health_report(method_blind_server, tmp_path)
    assert code == 1
    failures = body["schemathesis"]["failures"]
    named = {(failure["check"], failure["operation"]) for failure in failures}
    # exactly the planted bug, on each operation, and nothing else
    assert named == {
        ("unsupported_method", f"GET {path}") for path in ("/health", "/ready", "/live", "/metrics")
    }
    assert all(failure["reproduce"].startswith("curl -X ") for failure in failures)
    out = capsys.readouterr().out
    assert "FAIL  schemathesis unsupported_method on GET /health" in out and "reproduce: curl -X " in out
    # the same failure, named with its operation and its curl line, in the JUnit and HTML reports
    failed = [
        case for case in ET.parse(tmp_path / "health.xml").getroot() if case.find("failure") is not None
    ]
    unsupported = next(case for case in failed if case.get("name") == "unsupported_method")
    text = unsupported.find("failure").text or ""  # type: ignore[union-attr]
    assert "GET /health" in text and "reproduce: curl -X " in text
    page = (tmp_path / "health.html").read_text()
    assert "unsupported_method failed on GET /health" in page and "reproduce: curl -X " in page


def test_a_non_conformant_server_fails_with_each_problem_named(
    wrong_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, body = health_report(wrong_server, tmp_path)
    assert code == 1
    out = capsys.readouterr().out
    assert "FAIL  GET /health: body refused by the contract: missing_field at $.timestamp" in out
    assert "FAIL  GET /no-such-path" in out and "FAIL  POST /health" in out
    checks = {failure["check"] for failure in body["schemathesis"]["failures"]}
    assert "response_schema_conformance" in checks, checks


def test_without_the_kit_extra_the_error_names_it(
    health: tuple[HealthCheck, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # what an SDK installed without [kit] sees: schemathesis cannot be imported
    monkeypatch.setitem(sys.modules, "schemathesis", None)
    _, url = health
    assert main(["health", url]) == 2
    assert "pip install 'tradebridge[kit]'" in capsys.readouterr().err
    assert main(["health", url, "--rules-only"]) == 0


def test_nothing_listening_cannot_be_judged() -> None:
    assert main(["health", f"http://127.0.0.1:{free_port()}", "--timeout", "1"]) == 2
