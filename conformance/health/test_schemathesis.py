"""schemathesis (its engine: probing, coverage and fuzzing phases, every check) against the OpenAPI
document, for the Rust and the Python server, in each health state; zero failures required."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from schemathesis.engine import Status, events, from_schema

from conformance.health.conftest import OPENAPI, PythonServer, ServerUnderTest, start_server

STATES = {
    "healthy": ("healthy", "All systems operational", True),
    "degraded-not-ready": ("degraded", "feed lagging by 3 s", False),
    "unhealthy": ("unhealthy", "broker unreachable", True),
}


@dataclass
class RunResult:
    checks: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop_reason: str = ""

    def checks_run(self) -> set[str]:
        return {name for name, _ in self.checks}


def run_schemathesis(base_url: str) -> RunResult:
    config = schemathesis.Config.from_dict(
        {
            "base-url": base_url,
            "checks": {
                "enabled": True,
                "max_response_time": 5.0,
                # 503 is this API's documented answer for "unhealthy" / "not ready" (what an orchestrator
                # acts on), not a server fault; status_code_conformance still fails it where undocumented.
                "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]},
            },
            "generation": {"max-examples": 25, "database": "none", "deterministic": True},
            "request-timeout": 10,
        }
    )
    schema = schemathesis.openapi.from_path(OPENAPI, config=config)
    result = RunResult()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    result.checks[(node.name, node.status.value)] += 1
                    if node.status is not Status.SUCCESS:
                        result.failures.append(f"{event.recorder.label} {node.name}: {node.failure_info}")
        elif isinstance(event, events.NonFatalError | events.FatalError):
            result.errors.append(str(getattr(event, "value", None) or getattr(event, "exception", event)))
        elif isinstance(event, events.EngineFinished):
            result.stop_reason = str(event.stop_reason)
    return result


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
        result = run_schemathesis(server.url)
    finally:
        server.close()
    conformance_report.record(
        "health.schemathesis",
        f"{implementation}/{state}",
        {
            "checks": {f"{name}:{status}": n for (name, status), n in sorted(result.checks.items())},
            "failures": result.failures,
            "errors": result.errors,
        },
    )
    assert result.stop_reason == "completed", result
    assert not result.errors, result.errors
    assert not result.failures, "\n".join(result.failures)
    assert result.checks_run() >= EXPECTED_CHECKS, sorted(EXPECTED_CHECKS - result.checks_run())


def test_schemathesis_catches_a_body_that_breaks_the_contract() -> None:
    """Negative control: the harness must fail a server whose body violates the health schema."""
    server = PythonServer("market-data")
    try:
        server.health._component = "x" * 65  # longer than the contract allows; the constructor refuses it
        result = run_schemathesis(server.url)
    finally:
        server.close()
    assert any("response_schema_conformance" in failure for failure in result.failures), result
