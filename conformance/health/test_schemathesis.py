"""schemathesis (its engine: probing, coverage and fuzzing phases, every check) against the OpenAPI
document, for the Rust and the Python server, in each health state; zero failures required. The run is the
shipped kit's (``tradebridge conformance health``): our servers are judged exactly as a user's are."""

from __future__ import annotations

from typing import Any

import pytest
from tradebridge.conformance.openapi import HEALTH_OPENAPI, run_openapi

from conformance.health.conftest import OPENAPI, PythonServer, ServerUnderTest, start_server

STATES = {
    "healthy": ("healthy", "All systems operational", True),
    "degraded-not-ready": ("degraded", "feed lagging by 3 s", False),
    "unhealthy": ("unhealthy", "broker unreachable", True),
}


def test_the_kit_runs_the_checkout_s_document() -> None:
    # one copy: contracts/openapi/health.openapi.yaml is the package data the wheel ships
    assert OPENAPI.resolve() == HEALTH_OPENAPI.resolve()


EXPECTED_CHECKS = {
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "unsupported_method",
    "allow_header_conformance",
    "max_response_time",
}


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("implementation", ["python", "rust"])
def test_schemathesis_finds_nothing(implementation: str, state: str, conformance_report: Any) -> None:
    server: ServerUnderTest = start_server(implementation)
    try:
        status, message, ready = STATES[state]
        server.set_status(status, message)
        server.set_ready(ready, "indicators warming up")
        result = run_openapi(server.url)
    finally:
        server.close()
    conformance_report.record("health.schemathesis", f"{implementation}/{state}", result.to_json())
    assert result.stop_reason == "completed", result
    assert not result.errors, result.errors
    assert not result.failures, "\n".join(f"{f.check} {f.operation}: {f.message}" for f in result.failures)
    assert set(result.checks) >= EXPECTED_CHECKS, sorted(EXPECTED_CHECKS - set(result.checks))
    assert result.conformant


def test_schemathesis_catches_a_body_that_breaks_the_contract() -> None:
    """Negative control: the harness must fail a server whose body violates the health schema."""
    server = PythonServer("market-data")
    try:
        server.health._component = "x" * 65  # longer than the contract allows; the constructor refuses it
        result = run_openapi(server.url)
    finally:
        server.close()
    assert "response_schema_conformance" in result.failing_checks(), result
