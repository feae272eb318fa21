"""One source of truth: the schemas in ``contracts/v1``, the msgspec Structs and the Rust types agree.

Schemas are derived from both codecs (``msgspec.json.schema`` and schemars through ``contracts-testee``)
and reduced to comparable facts; any difference from the contract fails. The value rules in the derived
schemas come from the same objects that enforce them (msgspec ``Meta``, the Rust ``Rule`` types).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import msgspec
import pytest
import tradebridge.contracts as contracts
from tradebridge.errors import CODES

from conformance.codecs.harness import PYTHON_TYPES, SCHEMAS_DIR, RustTestee
from conformance.codecs.schema_facts import differences, message_facts

MESSAGES = [
    "bar_update",
    "trade_update",
    "quote_update",
    "signal",
    "order_update",
    "heartbeat",
    "health",
    "readiness",
]


def contract(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS_DIR / f"{name}.schema.json").read_text())
    return schema


@pytest.fixture(scope="module")
def rust_schemas(rust_testee: RustTestee) -> dict[str, Any]:
    schemas: dict[str, Any] = rust_testee.request("schemas")["value"]
    return schemas


def python_facts(name: str) -> dict[str, Any]:
    found = message_facts(msgspec.json.schema(PYTHON_TYPES[name]))
    if name == "signal":
        # msgspec's schema lists every tag as required; the SDK's Decoder lets Signal omit it (as the
        # contract says), which test_python_signal_tag_is_optional proves on the decoder itself.
        found["required"].remove("type")
    return found


def test_every_contract_file_has_both_implementations(rust_schemas: dict[str, Any]) -> None:
    files = {path.name.removesuffix(".schema.json") for path in SCHEMAS_DIR.glob("*.schema.json")}
    assert files - {"market_message"} == set(MESSAGES)
    assert set(rust_schemas) == set(MESSAGES)
    assert set(MESSAGES) <= set(PYTHON_TYPES)


@pytest.mark.parametrize("name", MESSAGES)
def test_python_structs_match_the_contract(name: str) -> None:
    assert differences(message_facts(contract(name)), python_facts(name), name) == []


@pytest.mark.parametrize("name", MESSAGES)
def test_rust_types_match_the_contract(name: str, rust_schemas: dict[str, Any]) -> None:
    assert differences(message_facts(contract(name)), message_facts(rust_schemas[name]), name) == []


def test_python_signal_tag_is_optional() -> None:
    plain = b'{"symbol":"AAPL","direction":"long","strength":0.5,"timestamp":1}'
    assert contracts.decode(plain, type=contracts.Signal)["type"] == "Signal"


def test_the_market_union_lists_the_three_market_schemas() -> None:
    union = contract("market_message")
    refs = sorted(variant["$ref"] for variant in union["oneOf"])
    assert refs == ["bar_update.schema.json", "quote_update.schema.json", "trade_update.schema.json"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s["required"].remove("close"),
        lambda s: s["$defs"]["price"].update(exclusiveMinimum=-1),
        lambda s: s["$defs"]["symbol"].update(maxLength=16),
        lambda s: s["properties"].update(vwap={"type": "string"}),
        lambda s: s["properties"].pop("trade_count"),
        lambda s: s["properties"]["type"].update(const="Bar"),
    ],
    ids=["required", "bound", "length", "type", "field", "tag"],
)
def test_a_drift_is_caught(mutate: Any, rust_schemas: dict[str, Any]) -> None:
    drifted = copy.deepcopy(contract("bar_update"))
    mutate(drifted)
    assert differences(message_facts(drifted), python_facts("bar_update"))
    assert differences(message_facts(drifted), message_facts(rust_schemas["bar_update"]))


def test_error_codes_are_the_same_everywhere(rust_testee: RustTestee) -> None:
    """The Rust binaries and the Python SDK (through the extension) read the same catalogue, in order."""
    assert rust_testee.request("codes")["value"] == list(CODES)
