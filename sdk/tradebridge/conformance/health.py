"""``tradebridge conformance health URL``: the guide's health API, judged against any running service.

Two judges. schemathesis (:mod:`tradebridge.conformance.openapi`) drives the shipped OpenAPI document:
every documented response checked against its schema, undocumented methods and statuses, fuzzed inputs.
The hand-written rules below add what the document states only in prose, for any state of a service:
``/health`` and ``/ready`` bodies valid under the contract (read with the SDK's codec, which is the
schema's reference), 503 exactly when unhealthy / not ready, ``/live`` answers ``"alive"``, ``/metrics`` is
Prometheus text with the documented families, ``HEAD`` answers like ``GET`` without a body, another method
gets 405 with ``Allow``, an unknown path 404.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from tradebridge.conformance.openapi import OpenApiRun, run_openapi
from tradebridge.contracts import Decoder, Health, Readiness
from tradebridge.errors import ContractError

METRIC_FAMILIES = ("tradebridge_uptime_seconds", "tradebridge_health_status", "tradebridge_ready")


@dataclass
class HealthRun:
    url: str
    checks: dict[str, str | None] = field(default_factory=dict)
    #: None when the run was asked for the hand-written rules only
    openapi: OpenApiRun | None = None

    @property
    def rules_conformant(self) -> bool:
        return bool(self.checks) and all(problem is None for problem in self.checks.values())

    @property
    def conformant(self) -> bool:
        return self.rules_conformant and (self.openapi is None or self.openapi.conformant)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "health", "url": self.url, "conformant": self.conformant, "checks": self.checks,
                "schemathesis": None if self.openapi is None else self.openapi.to_json()}  # fmt: skip


class Unreachable(Exception):
    """The service does not answer HTTP at all (the run cannot judge it)."""


def _request(
    base: urllib.parse.SplitResult, method: str, path: str, timeout: float
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(base.hostname or "127.0.0.1", base.port or 80, timeout=timeout)
    try:
        connection.request(method, base.path.rstrip("/") + path)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    except OSError as exc:
        raise Unreachable(f"{method} {path}: {exc}") from exc
    finally:
        connection.close()


def check_health(
    url: str, timeout: float = 5.0, schemathesis: bool = True, max_examples: int = 25
) -> HealthRun:
    """The rules, then (unless ``schemathesis`` is False) the schemathesis run; ``Unreachable`` when the
    service does not answer, ``KitExtraMissing`` when schemathesis is not installed."""
    run = check_rules(url, timeout)
    if schemathesis:
        run.openapi = run_openapi(url, max_examples=max_examples, timeout=2 * timeout)
    return run


def check_rules(url: str, timeout: float = 5.0) -> HealthRun:
    base = urllib.parse.urlsplit(url)
    run = HealthRun(url)

    def json_body(path: str, decoder: Decoder[Any], failing: Any) -> None:
        status, headers, body = _request(base, "GET", path, timeout)
        problem = None
        if not headers.get("content-type", "").startswith("application/json"):
            problem = f"content-type {headers.get('content-type')!r}, not application/json"
        else:
            try:
                value = decoder.decode(body)
            except ContractError as exc:
                problem = f"body refused by the contract: {exc.code} at {exc.path}: {exc.detail}"
            else:
                expected = 503 if failing(value) else 200
                if status != expected:
                    problem = f"status {status}, expected {expected} for this body"
        run.checks[f"GET {path}"] = problem

    json_body("/health", Decoder(Health), lambda value: value.status == "unhealthy")
    json_body("/ready", Decoder(Readiness), lambda value: not value.ready)

    status, _, body = _request(base, "GET", "/live", timeout)
    alive = status == 200 and body.strip() and json.loads(body) == "alive"
    run.checks["GET /live"] = None if alive else f'status {status}, body {body[:80]!r}, expected 200 "alive"'

    status, headers, body = _request(base, "GET", "/metrics", timeout)
    text = body.decode("utf-8", "replace")
    missing = [family for family in METRIC_FAMILIES if f"\n{family}" not in f"\n{text}"]
    problem = None
    if status != 200 or not headers.get("content-type", "").startswith("text/plain"):
        problem = f"status {status}, content-type {headers.get('content-type')!r}"
    elif missing:
        problem = f"missing metric families {missing}"
    run.checks["GET /metrics"] = problem

    get_status = _request(base, "GET", "/health", timeout)[0]
    status, _, body = _request(base, "HEAD", "/health", timeout)
    run.checks["HEAD /health"] = (
        None if status == get_status and not body else f"status {status}, {len(body)} bytes"
    )
    status, headers, _ = _request(base, "POST", "/health", timeout)
    allowed = "GET" in headers.get("allow", "")
    run.checks["POST /health"] = (
        None if status == 405 and allowed else f"status {status}, Allow {headers.get('allow')!r}"
    )
    status, _, _ = _request(base, "GET", "/no-such-path", timeout)
    run.checks["GET /no-such-path"] = None if status == 404 else f"status {status}, expected 404"
    return run
