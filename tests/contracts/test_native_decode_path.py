"""The native decode path (``tradebridge._native.GuardedDecoder``, ``MessageChecks``) judges exactly as the
Python code it stands in front of.

``Decoder.decode`` runs the limits, msgspec and the absent-version fix-up natively and hands everything it
does not pass to ``Decoder._checked_decode``, the Python path. These tests compare the two on the same
payloads (every outcome, error code and path equal), the native limit test with ``codec._limit_errors``,
and the native pattern tests with the ``check_*`` functions.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradebridge import _native
from tradebridge.contracts import (
    AnyMessage,
    BarUpdate,
    Decoder,
    MarketMessage,
    OrderUpdate,
    Signal,
    codec,
)
from tradebridge.contracts._values import check_signal_id, check_symbol, check_version
from tradebridge.errors import ContractError

BAR: dict[str, Any] = {
    "type": "BarUpdate",
    "symbol": "AAPL",
    "open": 1.5,
    "high": 2,
    "low": 1,
    "close": 1.5,
    "volume": 10,
    "timestamp": 1,
}
SIGNAL: dict[str, Any] = {
    "type": "Signal",
    "symbol": "BRK.B",
    "direction": "long",
    "strength": 0.5,
    "timestamp": 1,
    "features": [1.0, None],
    "signal_id": "s-1",
}
# bytes that matter to the scans: brackets, quotes, escapes, non-ASCII and broken UTF-8
ALPHABET = b'{}[]"\\:,a1 \n\xc3\xa9\xff\xed\xa0\x80'


def outcome(run: Any, payload: Any) -> Any:
    try:
        message = run(payload)
    except ContractError as exc:
        return ("refused", exc.code, exc.path, str(exc))
    return ("decoded", type(message).__name__, codec.encode(message), message.schema_version)


def limits_pass(data: bytes, max_size: int, max_depth: int) -> bool:
    try:
        codec._limit_errors(data, max_size, max_depth)
    except ContractError:
        return False
    return True


def mutations(seed: int, count: int) -> list[bytes]:
    """Valid documents with bytes replaced, inserted and deleted: every error path and its neighbours."""
    rng = random.Random(seed)
    bases = [json.dumps(doc, separators=(",", ":")).encode() for doc in (BAR, SIGNAL)]
    bases += [bases[0][:-1] + b',"x":' + b"[" * 70 + b"]" * 70 + b"}", bases[1][:-1] + b',"m":"[[[\\"["}']
    out = []
    for _ in range(count):
        data = bytearray(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(data) + 1)
            what = rng.randrange(3)
            if what == 0 and at < len(data):
                data[at] = rng.choice(ALPHABET)
            elif what == 1:
                data[at:at] = bytes(rng.choice(ALPHABET) for _ in range(rng.randint(1, 4)))
            else:
                del data[at : at + rng.randint(1, 3)]
        out.append(bytes(data))
    return out


@pytest.mark.parametrize("kind", [BarUpdate, Signal, OrderUpdate, MarketMessage, AnyMessage])
def test_native_and_python_paths_agree_on_mutated_documents(kind: Any) -> None:
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    for max_depth in (64, 3):
        decoder: Decoder[Any] = Decoder(kind, max_depth=max_depth, max_size=300)
        for payload in mutations(seed, 400):
            assert outcome(decoder.decode, payload) == outcome(decoder._checked_decode, payload), payload


def test_the_native_path_is_taken_and_fixes_up_the_absent_version() -> None:
    decoder: Decoder[Any] = Decoder(BarUpdate)
    assert type(decoder.decode).__name__ == "builtin_function_or_method"
    without = json.dumps(BAR).encode()
    assert decoder.decode(without).schema_version == "1.0"
    assert decoder.decode(json.dumps({**BAR, "schema_version": "1.1"}).encode()).schema_version == "1.1"
    # other buffer types take the Python path, with the same result
    for buffer in (bytearray(without), memoryview(without), without.decode()):
        assert outcome(decoder.decode, buffer) == outcome(decoder.decode, without)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120), st.integers(0, 130), st.integers(-1, 6))
def test_the_limit_test_equals_the_python_one(data: bytes, max_size: int, max_depth: int) -> None:
    assert _native.within_limits(data, max_size, max_depth) == limits_pass(data, max_size, max_depth)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"{", b"[", b"}", b"]", b'"', b"\\", b"a", b"\xff"]), max_size=60))
def test_the_depth_walk_equals_the_python_one_on_bracket_soup(parts: list[bytes]) -> None:
    data = b"".join(parts)
    for depth in range(4):
        assert _native.within_limits(data, 1 << 20, depth) == limits_pass(data, 1 << 20, depth), data


def python_verdict(check: Any, value: Any) -> tuple[str, ...]:
    try:
        check(value)
    except ContractError as exc:
        return (exc.code, str(exc))
    except TypeError:
        return ("TypeError",)
    return ("ok",)


TEXT = st.text(alphabet=st.sampled_from("AZaz09./:-_ \n\u00e9\ud800"), max_size=6)


@settings(max_examples=300, deadline=None)
@given(TEXT, TEXT, TEXT)
def test_construction_checks_equal_the_python_checks(symbol: str, version: str, signal_id: str) -> None:
    """The native __post_init__ raises what the Python checks raise, first failure first."""
    expected: tuple[str, ...] = ("ok",)
    for check, value in ((check_symbol, symbol), (check_version, version), (check_signal_id, signal_id)):
        expected = python_verdict(check, value)
        if expected != ("ok",):
            break
    fields: dict[str, Any] = {"symbol": symbol, "direction": "long", "strength": 0.5, "timestamp": 1}
    try:
        Signal(**fields, schema_version=version, signal_id=signal_id)
        got: tuple[str, ...] = ("ok",)
    except ContractError as exc:
        got = (exc.code, str(exc))
    assert got == expected
