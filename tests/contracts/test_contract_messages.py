"""The Python message types: construction, the guide's dict-style access, what the encoder writes."""

from __future__ import annotations

import json
import math

import msgspec
import pytest
import tradebridge
from tradebridge.contracts import (
    CURRENT_VERSION,
    BarUpdate,
    Health,
    Heartbeat,
    OrderUpdate,
    Readiness,
    Signal,
    decode,
    encode,
    validate,
)
from tradebridge.errors import ContractError


def guide_signal() -> Signal:
    return Signal(
        symbol="AAPL",
        direction="long",
        strength=0.85,
        timestamp=1729530000123,
        features=[1.0, 2.0, 3.0],
        metadata={"strategy": "ml-predictor"},
    )


def test_the_guides_names_import_from_the_package_root() -> None:
    assert tradebridge.Signal is Signal
    assert tradebridge.BarUpdate is BarUpdate
    assert issubclass(tradebridge.ContractError, ValueError)


def test_decoded_messages_keep_the_guides_dict_access() -> None:
    bar = decode(
        b'{"type":"BarUpdate","symbol":"AAPL","open":150.0,"high":152.5,"low":149.5,'
        b'"close":151.0,"volume":1000000.0,"timestamp":1234567890}'
    )
    assert bar["type"] == "BarUpdate"
    assert (bar["symbol"], bar["open"], bar["timestamp"]) == ("AAPL", 150.0, 1234567890)
    assert bar.get("vwap") is None and bar.get("vwap", 0.0) == 0.0
    assert "close" in bar and "vwap" not in bar and "seq" not in bar
    with pytest.raises(KeyError):
        bar["vwap"]
    with pytest.raises(KeyError):
        bar["nonsense"]
    assert list(bar.keys())[:3] == ["type", "symbol", "open"]


def test_to_dict_is_exactly_the_wire_json() -> None:
    signal = guide_signal()
    assert signal.to_dict() == json.loads(encode(signal))


def test_encoder_writes_type_first_version_always_and_unset_never() -> None:
    wire = encode(guide_signal())
    assert wire.startswith(b'{"type":"Signal",')
    body = json.loads(wire)
    assert body["schema_version"] == CURRENT_VERSION == "1.1"
    assert not {"seq", "source", "sent_at_us", "signal_id", "price"} & body.keys()
    with_envelope = json.loads(encode(Heartbeat(component="engine", timestamp=1, seq=3, source="e-1")))
    assert (with_envelope["seq"], with_envelope["source"]) == (3, "e-1")


def test_nan_features_travel_as_null() -> None:
    signal = Signal(symbol="AAPL", direction="short", strength=0.1, timestamp=1, features=[math.nan, 1.5])
    assert json.loads(encode(signal))["features"] == [None, 1.5]
    assert decode(encode(signal), type=Signal).features == [None, 1.5]


def test_order_update_writes_null_filled_price() -> None:
    order = OrderUpdate(
        order_id="o-1",
        client_order_id="c-1",
        symbol="AAPL",
        side="buy",
        qty=10.0,
        filled_qty=0.0,
        filled_avg_price=None,
        status="new",
        timestamp=1,
    )
    assert json.loads(encode(order))["filled_avg_price"] is None
    assert decode(encode(order), type=OrderUpdate) == order


def test_http_bodies_have_no_type_and_the_guide_fields() -> None:
    health = Health(
        status="healthy",
        component="market-data",
        message="All systems operational",
        metrics={"uptime_seconds": "3600"},
        timestamp="2025-10-21T17:00:00Z",
    )
    body = json.loads(encode(health))
    assert "type" not in body and body["schema_version"] == "1.0"
    assert health["status"] == "healthy"
    ready = Readiness(ready=True, component="market-data", timestamp="2025-10-21T17:00:00Z")
    assert decode(encode(ready), type=Readiness) == ready
    with pytest.raises(KeyError):
        health["type"]


def test_validate_checks_constructed_messages() -> None:
    assert validate(guide_signal()) == guide_signal()
    with pytest.raises(ContractError) as caught:
        validate(Signal(symbol="AAPL", direction="long", strength=1.5, timestamp=1))
    assert (caught.value.code, caught.value.path) == ("out_of_range", "$.strength")


def test_structs_are_msgspec_structs_with_the_schema_constraints() -> None:
    schema = msgspec.json.schema(BarUpdate)
    properties = schema["$defs"]["BarUpdate"]["properties"]
    assert properties["open"]["exclusiveMinimum"] == 0
    assert properties["symbol"]["maxLength"] == 32
