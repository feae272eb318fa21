"""The guide's example bodies, verbatim, against the contract schemas; and both servers reproduce them."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import schemathesis
import yaml

from conformance.health.conftest import OPENAPI, SCHEMAS, ServerUnderTest, start_server

# The guide's bodies, character for character, are the contract's golden vectors: read, not copied.
VECTORS = Path(__file__).resolve().parents[1] / "vectors"
GUIDE_HEALTH = json.loads((VECTORS / "health" / "y_guide_health_body.json").read_text())["input_text"]
GUIDE_READY = json.loads((VECTORS / "readiness" / "y_guide_ready_body.json").read_text())["input_text"]
GUIDE_LIVE = '"alive"'
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def _get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_guide_bodies_validate_against_the_schemas() -> None:
    _validator("health").validate(json.loads(GUIDE_HEALTH))
    _validator("readiness").validate(json.loads(GUIDE_READY))
    assert json.loads(GUIDE_LIVE) == "alive"


def test_schemas_refuse_what_the_contract_forbids() -> None:
    health = json.loads(GUIDE_HEALTH)
    for broken in (
        {**health, "status": "fine"},
        {**health, "metrics": {"uptime_seconds": 3600}},
        {**health, "timestamp": "yesterday"},
        {**health, "component": ""},
        {k: v for k, v in health.items() if k != "message"},
    ):
        assert not _validator("health").is_valid(broken), broken
    ready = json.loads(GUIDE_READY)
    assert not _validator("readiness").is_valid({**ready, "ready": "yes"})
    assert not _validator("readiness").is_valid({k: v for k, v in ready.items() if k != "component"})


def test_openapi_document_is_valid_openapi_3_1() -> None:
    schemathesis.openapi.from_path(OPENAPI).validate()  # against the OpenAPI 3.1 meta-schema
    broken = yaml.safe_load(OPENAPI.read_text())
    del broken["info"]["version"]
    with pytest.raises(Exception, match="version"):
        schemathesis.openapi.from_dict(broken).validate()


def test_openapi_document_references_the_contract_schemas() -> None:
    document: dict[str, Any] = yaml.safe_load(OPENAPI.read_text())
    assert document["openapi"].startswith("3.1")
    refs = {
        path: {
            code: response["content"]["application/json"]["schema"]
            for code, response in operation["get"]["responses"].items()
            if "application/json" in response.get("content", {})
        }
        for path, operation in document["paths"].items()
    }
    assert refs["/health"] == {code: {"$ref": "../v1/health.schema.json"} for code in ("200", "503")}
    assert refs["/ready"] == {code: {"$ref": "../v1/readiness.schema.json"} for code in ("200", "503")}
    # the examples the document carries are the guide's
    health_example = document["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]
    assert health_example["example"] == json.loads(GUIDE_HEALTH)
    ready_example = document["paths"]["/ready"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ready_example["example"] == json.loads(GUIDE_READY)


def test_servers_reproduce_the_guide_bodies(server: ServerUnderTest) -> None:
    server.set_metric("websocket_connected", "true")
    server.set_metric("messages_processed", "1234")
    status, content_type, raw = _get(f"{server.url}/health")
    assert (status, content_type) == (200, "application/json")
    body = json.loads(raw)
    _validator("health").validate(body)
    guide = json.loads(GUIDE_HEALTH)
    # Only the moment differs (time, uptime), and our encoders add the contract version, as every
    # tradebridge encoder does.
    assert TIMESTAMP.match(body.pop("timestamp"))
    assert body.pop("schema_version") == "1.0"
    assert body["metrics"].pop("uptime_seconds").isdigit()
    del guide["timestamp"], guide["metrics"]["uptime_seconds"]
    assert body == guide

    status, _, raw = _get(f"{server.url}/ready")
    ready = json.loads(raw)
    _validator("readiness").validate(ready)
    assert status == 200
    assert {k: v for k, v in ready.items() if k not in ("timestamp", "schema_version")} == {
        "ready": True,
        "component": "market-data",
    }
    assert _get(f"{server.url}/live")[::2] == (200, GUIDE_LIVE.encode())


@pytest.mark.parametrize("implementation", ["python", "rust"])
def test_every_state_validates_and_has_its_status_code(implementation: str) -> None:
    server = start_server(implementation, component="x" * 64)
    try:
        for status, message, ready, expected_health, expected_ready in (
            ("healthy", "All systems operational", True, 200, 200),
            ("degraded", "feed lagging by 3 s", True, 200, 200),
            ("healthy", "All systems operational", False, 200, 503),
            ("unhealthy", "broker unreachable", True, 503, 503),
        ):
            server.set_status(status, message)
            server.set_ready(ready, "warming up")
            code, _, raw = _get(f"{server.url}/health")
            body = json.loads(raw)
            _validator("health").validate(body)
            assert (code, body["status"], body["message"]) == (expected_health, status, message)
            code, _, raw = _get(f"{server.url}/ready")
            body = json.loads(raw)
            _validator("readiness").validate(body)
            assert (code, body["ready"]) == (expected_ready, expected_ready == 200)
            assert ("reason" in body) == (expected_ready == 503)
    finally:
        server.close()
