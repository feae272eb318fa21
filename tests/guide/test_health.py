"""Guide section "4. Health Check Endpoints": the guide's Rust service (``crates/tradebridge-health/examples/
guide.rs``, built by ``make build``) answers ``/health``, ``/ready`` and ``/live`` as the guide shows, and the
guide's example bodies follow the contract schemas."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema
from tradebridge.testing import Service, free_port, rust_binary

SCHEMAS = Path(__file__).resolve().parents[2] / "contracts" / "v1"

# The guide's bodies, character for character, are the contract's golden vectors: read, not copied.
VECTORS = Path(__file__).resolve().parents[2] / "conformance" / "vectors"
GUIDE_HEALTH = json.loads((VECTORS / "health" / "y_guide_health_body.json").read_text())["input_text"]
GUIDE_READY = json.loads((VECTORS / "readiness" / "y_guide_ready_body.json").read_text())["input_text"]


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_guides_example_bodies_follow_the_contract() -> None:
    _validator("health").validate(json.loads(GUIDE_HEALTH))
    _validator("readiness").validate(json.loads(GUIDE_READY))


def test_the_guides_rust_service_answers_as_the_guide_shows() -> None:
    port = free_port()

    def metrics_shown(service: Service) -> bool:
        # the guide updates the metrics right after spawning the server: wait until they show
        _, body = service.get("/health")
        return isinstance(body, dict) and "messages_processed" in body["metrics"]

    service = Service(
        "guide", [rust_binary("examples/guide"), str(port)], health_port=port, ready=metrics_shown
    )
    with service:
        status, body = _get(f"http://127.0.0.1:{port}/health")
        health: dict[str, Any] = json.loads(body)
        ready_status, ready_body = _get(f"http://127.0.0.1:{port}/ready")
        live_status, live_body = _get(f"http://127.0.0.1:{port}/live")
    assert service.returncode() == 0, service.output()

    guide_health, guide_ready = json.loads(GUIDE_HEALTH), json.loads(GUIDE_READY)
    assert status == 200
    _validator("health").validate(health)
    assert {k: health[k] for k in ("status", "component", "message")} == {
        k: guide_health[k] for k in ("status", "component", "message")
    }
    assert set(health["metrics"]) >= set(guide_health["metrics"])
    assert health["metrics"]["websocket_connected"] == "true"
    assert health["metrics"]["messages_processed"] == "1234"
    assert int(health["metrics"]["uptime_seconds"]) >= 0

    ready = json.loads(ready_body)
    assert ready_status == 200
    _validator("readiness").validate(ready)
    assert (ready["ready"], ready["component"]) == (guide_ready["ready"], guide_ready["component"])

    assert (live_status, json.loads(live_body)) == (200, "alive")
