"""The decoder's shortcuts refuse exactly what the full checks refuse.

Valid-looking payloads skip the bracket scan when they are too short to be both decodable and too deep,
symbols are checked once and remembered, and the single-type tag check lives in a union partner. Each
test here aims at the edge of one shortcut.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradebridge.contracts import BarUpdate, Decoder, MarketMessage, Signal, messages
from tradebridge.errors import ContractError

BAR: dict[str, Any] = {
    "type": "BarUpdate",
    "symbol": "A",
    "open": 1,
    "high": 1,
    "low": 1,
    "close": 1,
    "volume": 0,
    "timestamp": 0,
}
SIGNAL: dict[str, Any] = {"symbol": "A", "direction": "long", "strength": 0, "timestamp": 0}


def nested(depth: int, shape: str) -> Any:
    """``depth`` containers inside one another, alternating as ``shape`` says (``[`` or ``{``).

    The innermost one is empty, so the payload is as short as that depth allows.
    """
    if depth == 0:
        return 0
    value: Any = [] if shape[(depth - 1) % len(shape)] == "[" else {}
    for level in reversed(range(depth - 1)):
        value = [value] if shape[level % len(shape)] == "[" else {"": value}
    return value


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


def compact(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def outcome(kind: Any, payload: bytes, max_depth: int) -> str:
    try:
        Decoder(kind, max_depth=max_depth).decode(payload)
    except ContractError as exc:
        return exc.code
    return "ok"


@settings(max_examples=200, deadline=None)
@given(
    max_depth=st.integers(min_value=0, max_value=12),
    depth=st.integers(min_value=0, max_value=16),
    shape=st.sampled_from(["[", "{", "[{", "{["]),
    key=st.sampled_from(["", "x", "unknown_field"]),
)
def test_a_deep_unknown_field_is_refused_however_short_the_payload(
    max_depth: int, depth: int, shape: str, key: str
) -> None:
    """Compact payloads with the shortest values sit right at the length where the scan starts: the
    shortest too-deep one is exactly as long as the floor the decoder computed."""
    document = {**BAR, key: nested(depth, shape)}
    payload = compact(document)
    expected = "too_deep" if depth_of(document) > max_depth else "ok"
    for kind in (BarUpdate, MarketMessage):
        assert outcome(kind, payload, max_depth) == expected, payload


@settings(max_examples=200, deadline=None)
@given(
    max_depth=st.integers(min_value=0, max_value=12),
    depth=st.integers(min_value=0, max_value=16),
    shape=st.sampled_from(["[", "{", "[{"]),
    where=st.sampled_from(["metadata", "unknown"]),
    features=st.integers(min_value=0, max_value=3),
)
def test_a_deep_signal_is_refused_wherever_the_nesting_hides(
    max_depth: int, depth: int, shape: str, where: str, features: int
) -> None:
    document: dict[str, Any] = {**SIGNAL, "features": [0] * features}
    if where == "metadata":
        document["metadata"] = {"": nested(depth, shape)}
    else:
        document["x"] = nested(depth, shape)
    payload = compact(document)
    expected = "too_deep" if depth_of(document) > max_depth else "ok"
    assert outcome(Signal, payload, max_depth) == expected, payload


def test_a_deep_payload_that_fails_to_decode_is_still_too_deep() -> None:
    """Short enough to skip the scan before parsing: the error path scans before classifying."""
    for payload in (b"[" * 40, b'{"type":"BarUpdate","x":' + b"[" * 30, b"{" * 30 + b"}" * 30):
        assert outcome(BarUpdate, payload, 8) == "too_deep"
    assert outcome(BarUpdate, b"[" * 40, 64) == "wrong_type"


@pytest.mark.parametrize(
    "tail",
    [
        b',"x":"\xc3("}',  # in an unknown field's string, which msgspec skips unchecked
        b',"x":["\xff"]}',
        b',"\xff":1}',  # in an unknown key
        b',"x":{"\xe2\x82":1}}',
        b',"x":"\xed\xa0\x80"}',  # an encoded surrogate
    ],
)
def test_invalid_utf8_in_skipped_parts_is_refused(tail: bytes) -> None:
    payload = compact(BAR)[:-1] + tail
    for kind in (BarUpdate, MarketMessage):
        assert outcome(kind, payload, 64) == "invalid_utf8"


def test_invalid_utf8_outside_strings_is_refused_as_utf8() -> None:
    assert outcome(BarUpdate, compact(BAR)[:-1] + b',"x":1\xff}', 64) == "invalid_utf8"


def test_symbols_are_checked_every_time_they_are_new_and_the_memory_is_bounded() -> None:
    decoder = Decoder(BarUpdate)
    for bad in ("aapl", "", "-A", "A B", "A\n"):
        for _ in range(2):  # a refused symbol is never remembered
            with pytest.raises(ContractError) as caught:
                decoder.decode(compact({**BAR, "symbol": bad}))
            assert (caught.value.code, caught.value.path) == ("invalid_value", "$.symbol")
    for number in range(messages._VALID_SYMBOLS_LIMIT + 10):
        assert decoder.decode(compact({**BAR, "symbol": f"S{number}"})).symbol == f"S{number}"
    assert len(messages._VALID_SYMBOLS) <= messages._VALID_SYMBOLS_LIMIT
    assert decoder.decode(compact({**BAR, "symbol": "BRK.B"})).symbol == "BRK.B"
    with pytest.raises(ContractError):
        decoder.decode(compact({**BAR, "symbol": "brk.b"}))


def test_construction_still_checks_symbol_and_version() -> None:
    fields: dict[str, Any] = {k: v for k, v in BAR.items() if k != "type"}
    with pytest.raises(ContractError) as caught:
        BarUpdate(**{**fields, "symbol": "aapl"})
    assert caught.value.code == "invalid_value"
    with pytest.raises(ContractError) as caught:
        BarUpdate(**fields, schema_version="1")
    assert caught.value.code == "invalid_version"


def test_the_tag_partner_never_decodes() -> None:
    for version in ("1.0", "1.7"):
        payload = compact({"type": "\x00never", "schema_version": version})
        assert outcome(BarUpdate, payload, 64) == "unknown_type"
    assert outcome(BarUpdate, compact({"type": "\x00never", "schema_version": "3.0"}), 64) == (
        "unsupported_version"
    )
