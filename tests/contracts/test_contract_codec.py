"""The Python codec's refusals: one ContractError per problem, with the stable code and a JSON path."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
from tradebridge.contracts import (
    AnyMessage,
    BarUpdate,
    Decoder,
    Encoder,
    Heartbeat,
    MarketMessage,
    QuoteUpdate,
    Signal,
    decode,
)
from tradebridge.errors import ContractError, TradebridgeError

BAR: dict[str, Any] = {
    "type": "BarUpdate",
    "symbol": "AAPL",
    "open": 150.0,
    "high": 152.5,
    "low": 149.5,
    "close": 151.0,
    "volume": 1000000.0,
    "timestamp": 1234567890,
}


def refusal(payload: bytes | str, kind: Any = MarketMessage, **options: Any) -> ContractError:
    with pytest.raises(ContractError) as caught:
        Decoder(kind, **options).decode(payload)
    return caught.value


def bar_with(**changes: Any) -> bytes:
    body = {**BAR, **changes}
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    ("payload", "code", "path"),
    [
        (b'{"type":"BarUpdate","symbol"', "invalid_json", "$"),
        (b"", "invalid_json", "$"),
        (b'{"type":"BarUpdate","symbol":"\xff"}', "invalid_utf8", "$"),
        (bar_with(open="150"), "wrong_type", "$.open"),
        (bar_with(close=...), "missing_field", "$.close"),
        (bar_with(type=...), "missing_field", "$.type"),
        (bar_with(type="OrderBookUpdate"), "unknown_type", "$.type"),
        (bar_with(type=5), "wrong_type", "$.type"),
        (bar_with(schema_version="2.1"), "unsupported_version", "$.schema_version"),
        (bar_with(schema_version="1"), "invalid_version", "$.schema_version"),
        (bar_with(low=0), "out_of_range", "$.low"),
        (bar_with(timestamp=-1), "out_of_range", "$.timestamp"),
        (bar_with(timestamp=2**53), "out_of_range", "$.timestamp"),
        (bar_with(symbol="aapl"), "invalid_value", "$.symbol"),
        (bar_with(symbol=""), "invalid_value", "$.symbol"),
        (bar_with(vwap=None), "wrong_type", "$.vwap"),
        (b"[1]", "wrong_type", "$"),
        (json.dumps(BAR).replace("152.5", "1e400").encode(), "out_of_range", "$.high"),
        (json.dumps(BAR).replace("152.5", "NaN").encode(), "invalid_json", "$"),
    ],
)
def test_refusals(payload: bytes, code: str, path: str) -> None:
    error = refusal(payload)
    assert (error.code, error.path) == (code, path), error


def test_an_unknown_major_wins_over_other_problems() -> None:
    error = refusal(b'{"schema_version":"7.0","type":"Whatever","price":"x"}')
    assert error.code == "unsupported_version"


def test_signal_enum_and_range_errors() -> None:
    base = {"symbol": "AAPL", "direction": "long", "strength": 0.5, "timestamp": 1}
    cases = [
        ({"direction": "neutral"}, "invalid_enum", "$.direction"),
        ({"direction": None}, "wrong_type", "$.direction"),
        ({"strength": 1.01}, "out_of_range", "$.strength"),
        ({"features": [1, "x"]}, "wrong_type", "$.features[1]"),
        ({"features": [0.0] * 4097}, "invalid_value", "$.features"),
        ({"metadata": "x"}, "wrong_type", "$.metadata"),
        ({"type": "SignalGenerated", "strength": 2}, "out_of_range", "$.strength"),  # the alias is read
        ({"type": "Signalgenerated"}, "unknown_type", "$.type"),
    ]
    for change, code, path in cases:
        error = refusal(json.dumps({**base, **change}), Signal)
        assert (error.code, error.path) == (code, path), (change, error)


def test_limits() -> None:
    payload = bar_with()
    assert refusal(payload, max_size=len(payload) - 1).code == "too_large"
    assert Decoder(MarketMessage, max_size=len(payload)).decode(payload)["symbol"] == "AAPL"
    deep = (
        b'{"symbol":"A","direction":"long","strength":0,"timestamp":1,"metadata":{"a":'
        + b"[" * 65
        + b"]" * 65
        + b"}}"
    )
    assert refusal(deep, Signal).code == "too_deep"
    assert refusal(b"[" * 200_000, Signal).code == "too_deep"
    brackets_in_a_string = json.dumps(
        {"symbol": "A", "direction": "long", "strength": 0, "timestamp": 1, "metadata": {"a": "[" * 100}}
    )
    assert decode(brackets_in_a_string, type=Signal).metadata == {"a": "[" * 100}
    assert refusal(b"x" * (1024 * 1024 + 1)).code == "too_large"


def test_inputs_may_be_bytes_str_bytearray_or_memoryview() -> None:
    payload = bar_with()
    for form in (payload, payload.decode(), bytearray(payload), memoryview(payload)):
        assert decode(form, type=MarketMessage)["close"] == 151.0
    assert refusal("\ud800").code == "invalid_utf8"
    with pytest.raises(ContractError) as caught:
        decode(12345)  # type: ignore[arg-type]
    assert caught.value.code == "wrong_type"


def test_single_type_decoders_insist_on_the_tag_except_for_signal() -> None:
    heartbeat = b'{"component":"engine","timestamp":1}'
    assert refusal(heartbeat, Heartbeat).code == "missing_field"
    assert refusal(bar_with(type="QuoteUpdate"), BarUpdate).code == "unknown_type"
    assert refusal(b'{"type":"\\u0000never"}', QuoteUpdate).code == "unknown_type"
    assert (
        decode(b'{"symbol":"A","direction":"long","strength":0,"timestamp":1}', type=Signal).direction
        == "long"
    )


def test_the_default_type_is_any_bus_message() -> None:
    assert isinstance(decode(bar_with()), BarUpdate)
    assert Decoder().type is AnyMessage
    assert "Decoder" in repr(Decoder(BarUpdate))


def test_encoder_object_matches_the_function() -> None:
    message = decode(bar_with(), type=BarUpdate)
    assert Encoder().encode(message) == decode.__globals__["encode"](message)


def test_errors_are_typed_picklable_and_readable() -> None:
    error = refusal(bar_with(low=0))
    assert isinstance(error, TradebridgeError) and isinstance(error, ValueError)
    assert str(error).startswith("out_of_range at $.low: ")
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.code, clone.path, clone.detail) == (error.code, error.path, error.detail)
