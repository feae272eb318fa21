"""schemathesis (its engine: examples, coverage, fuzzing and stateful phases, every default check) against
``contracts/openapi/alpaca-mock.yaml`` and the running mock broker; zero failures required.

Some operations run without ``positive_data_acceptance``: they answer 4xx to schema-valid requests when the
account's *state* says so, exactly as Alpaca does, and no schema can express that: ``POST /v2/orders`` and
``PATCH``/``DELETE /v2/orders/{id}`` (a reused ``client_order_id``, a potential wash trade, an order no
longer open, buying power), the watchlists (an id or name that does not exist, a name already taken, a
symbol already listed), and the portfolio history (an intraday timeframe over more than 30 days is a 422:
a rule across two parameters). Every other check, including ``negative_data_rejection``, still runs on them.
"""

from __future__ import annotations

import collections
from typing import Any

import schemathesis
from schemathesis.engine import Status, events, from_schema
from tradebridge_mocks.broker import MockBroker

from conformance.broker.conftest import API_KEY, OPENAPI, SECRET_KEY

#: by operationId (an ``include-path`` holding ``:``, like ``/v2/watchlists:by_name``, makes schemathesis
#: 4.x drop the check from every operation)
STATE_DEPENDENT_422 = [
    "submitOrder",
    "cancelOrder",
    "replaceOrder",
    "getPortfolioHistory",
    "createWatchlist",
    "getWatchlist",
    "updateWatchlist",
    "addToWatchlist",
    "deleteWatchlist",
    "removeFromWatchlist",
    "getWatchlistByName",
    "updateWatchlistByName",
    "addToWatchlistByName",
    "deleteWatchlistByName",
    "removeFromWatchlistByName",
]
EXPECTED_CHECKS = {
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "missing_required_header",
    "ignored_auth",
    "unsupported_method",
    "max_response_time",
}


def run(base_url: str) -> tuple[collections.Counter[tuple[str, str]], list[str], list[str]]:
    config = schemathesis.Config.from_dict(
        {
            "base-url": base_url,
            "headers": {"APCA-API-KEY-ID": API_KEY, "APCA-API-SECRET-KEY": SECRET_KEY},
            "checks": {"enabled": True, "max_response_time": 5.0},
            "generation": {"max-examples": 15, "database": "none", "deterministic": True},
            "request-timeout": 10,
            "operations": [
                {
                    "include-operation-id": operation,
                    "checks": {"positive_data_acceptance": {"enabled": False}},
                }
                for operation in STATE_DEPENDENT_422
            ],
        }
    )
    schema = schemathesis.openapi.from_path(OPENAPI, config=config)
    checks: collections.Counter[tuple[str, str]] = collections.Counter()
    failures: list[str] = []
    errors: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    checks[(node.name, node.status.value)] += 1
                    if node.status is not Status.SUCCESS:
                        failures.append(f"{event.recorder.label} {node.name}: {node.failure_info}")
        elif isinstance(event, events.NonFatalError | events.FatalError):
            errors.append(str(getattr(event, "value", None) or getattr(event, "exception", event)))
    return checks, failures, errors


def test_mock_broker_conforms_to_its_openapi_document(broker: MockBroker, conformance_report: Any) -> None:
    checks, failures, errors = run(broker.url)
    conformance_report.record(
        "broker",
        "schemathesis",
        {f"{name}:{status}": count for (name, status), count in sorted(checks.items())},
    )
    assert errors == []
    assert failures == []
    ran = {name for name, _ in checks}
    assert ran >= EXPECTED_CHECKS, EXPECTED_CHECKS - ran
    assert sum(checks.values()) > 1000
    # the run really exercised orders: it created some, and the broker refused the rest with Alpaca's codes
    statuses = collections.Counter((r.method, r.path, r.status) for r in broker.requests)
    assert statuses[("POST", "/v2/orders", 200)] > 0
    assert statuses[("POST", "/v2/orders", 422)] > 0
    assert any(status == 401 for (_, _, status) in statuses)  # ignored_auth probes were refused
