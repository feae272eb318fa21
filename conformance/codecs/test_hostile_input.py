"""Hostile input: whatever arrives, both codecs answer with a typed error (or a valid message), never a
crash, a hang or a panic, and they agree on the verdict for structurally damaged messages."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
import tradebridge.contracts as contracts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tradebridge.errors import CODES

from conformance.codecs.harness import PythonTestee, RustTestee
from conformance.codecs.test_cross_language_properties import bus_messages, json_values, plain

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
python = PythonTestee()


@SETTINGS
@given(
    payload=st.binary(max_size=300),
    message=st.sampled_from(["message", "signal", "health", "market_message"]),
)
def test_random_bytes_get_typed_errors(payload: bytes, message: str, rust_testee: RustTestee) -> None:
    for outcome in (python.decode(message, payload), rust_testee.decode(message, payload)):
        assert outcome.ok or outcome.code in CODES


@SETTINGS
@given(
    frame=st.binary(max_size=200)
    | st.builds(
        lambda t, b: t + b" " + b, st.sampled_from([b"market", b"signal", b"x"]), st.binary(max_size=100)
    )
)
def test_random_frames_get_typed_errors(frame: bytes, rust_testee: RustTestee) -> None:
    py, rs = python.decode_frame(frame), rust_testee.decode_frame(frame)
    assert py.ok or py.code in CODES
    assert rs.ok or rs.code in CODES
    assert py.ok == rs.ok


@SETTINGS
@given(message=bus_messages, data=st.data())
def test_damaged_messages_get_the_same_verdict(
    message: Any, data: st.DataObject, rust_testee: RustTestee
) -> None:
    document = plain(message)
    key = data.draw(st.sampled_from(sorted(document)), label="field")
    if data.draw(st.booleans(), label="drop"):
        del document[key]
    else:
        document[key] = data.draw(json_values, label="replacement")
    payload = json.dumps(document).encode()
    py, rs = python.decode("message", payload), rust_testee.decode("message", payload)
    assert (py.ok, py.code) == (rs.ok, rs.code), f"python {py.describe()} / rust {rs.describe()}"
    if not py.ok:
        assert py.path == rs.path or "[...]" in str(py.path)


@SETTINGS
@given(cut=st.integers(min_value=0), message=bus_messages)
def test_truncated_messages_are_refused_alike(cut: int, message: Any, rust_testee: RustTestee) -> None:
    """Mostly invalid_json; a cut inside a number can first leave a value out of range (`0.5` -> `0`)."""
    encoded = contracts.encode(message)
    payload = encoded[: cut % len(encoded)]
    py, rs = python.decode("message", payload), rust_testee.decode("message", payload)
    assert not py.ok and not rs.ok
    assert py.code == rs.code, f"python {py.describe()} / rust {rs.describe()}"


def test_oversized_and_deep_payloads_in_both(rust_testee: RustTestee) -> None:
    big = json.dumps(
        {"symbol": "AAPL", "direction": "long", "strength": 1, "timestamp": 1, "x": "y" * 2_000_000}
    )
    deep = (
        b'{"symbol":"A","direction":"long","strength":1,"timestamp":1,"metadata":{"a":'
        + b"[" * 5000
        + b"]" * 5000
        + b"}}"
    )
    for payload, code in ((big.encode(), "too_large"), (deep, "too_deep"), (b"{" * 1_000_000, "too_deep")):
        py, rs = python.decode("signal", payload), rust_testee.decode("signal", payload)
        assert py.code == rs.code == code


def test_the_size_limit_is_configurable(rust_testee: RustTestee) -> None:
    payload = contracts.encode(contracts.Heartbeat(component="engine", timestamp=1))
    for limit, ok in ((len(payload), True), (len(payload) - 1, False)):
        py = python.decode("heartbeat", payload, max_size=limit)
        rs = rust_testee.decode("heartbeat", payload, max_size=limit)
        assert py.ok == rs.ok == ok
        assert ok or py.code == rs.code == "too_large"
    assert msgspec.json.decode(payload)["type"] == "Heartbeat"


NOT_OBJECTS = [
    b"-",
    b"1x",
    b'"abc',
    b"[1,",
    b"tru",
    b"1",
    b"-1",
    b'"x"',
    b"0.5e",
    b'"\\x"',
    b"nan",
    b"true false",
]
NOT_OBJECTS += [
    b"1 2",
    b"null,",
    b"",
    b"1.",
    b"1.5.3",
    b"1e5x",
    b"-x",
    b"01",
    b"1E+",
    b"1e-7]",
    b"-0.0e+1",
    b"00",
]


@pytest.mark.parametrize("payload", NOT_OBJECTS, ids=[repr(p) for p in NOT_OBJECTS])
def test_documents_that_are_not_objects_get_the_same_code(payload: bytes, rust_testee: RustTestee) -> None:
    """msgspec refuses an array on sight and a scalar once read; the Rust codec reads exactly as far."""
    py, rs = python.decode("signal", payload), rust_testee.decode("signal", payload)
    assert py.code == rs.code and py.code in ("wrong_type", "invalid_json"), (py.describe(), rs.describe())
