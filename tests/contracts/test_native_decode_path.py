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

from tests.bus.samples import one_of_each

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


def test_the_checks_read_each_class_s_own_fields_whatever_its_layout() -> None:
    """The native checks read fields straight from their slots, per exact class (crates/tradebridge-py/
    src/slots.rs): a subclass that redeclares a field, one whose field is a property (not a slot), a
    field left empty, and more classes than the table keeps are all judged as ``getattr`` sees them."""
    from tradebridge.contracts.messages import _WITH_SIGNAL_ID

    checks = _native.MessageChecks(check_version, check_symbol=check_symbol)

    class Slotted:
        __slots__ = ("schema_version", "symbol")

        def __init__(self, symbol: str) -> None:
            self.symbol, self.schema_version = symbol, "1.0"

    class Redeclared(Slotted):
        __slots__ = ("symbol",)  # a second slot of the same name, at another offset

    class Computed:
        schema_version = "1.0"

        def __init__(self, symbol: str) -> None:
            self._symbol = symbol

        @property
        def symbol(self) -> str:
            return self._symbol

    for cls in (Slotted, Redeclared, Computed):
        checks.check(cls("AAPL"))
        with pytest.raises(ContractError) as refused:
            checks.check(cls("aapl"))
        assert (refused.value.code, str(refused.value)) == python_verdict(check_symbol, "aapl")
    # the base class's slot of the same name holds a valid symbol: only the class's own slot counts
    shadowed = Redeclared("aapl")
    vars(Slotted)["symbol"].__set__(shadowed, "AAPL")
    with pytest.raises(ContractError):
        checks.check(shadowed)
    empty = Slotted("AAPL")
    del empty.symbol
    with pytest.raises(AttributeError):
        checks.check(empty)
    # past the classes whose offsets it keeps, the rest are read with getattr, judged the same
    many = [type(f"Many{i}", (Slotted,), {"__slots__": ()}) for i in range(40)]
    for kind in many:
        checks.check(kind("MSFT"))
        with pytest.raises(ContractError):
            checks.check(kind("ms ft"))
    # the bus classes themselves: Signal and OrderUpdate keep signal_id at different offsets
    with_ids = [m for m in one_of_each() if isinstance(m, Signal | OrderUpdate)]
    for message in with_ids * 2:
        message.signal_id = "s-1"
        _WITH_SIGNAL_ID(message)
        message.signal_id = "s 1"
        with pytest.raises(ContractError) as refused:
            _WITH_SIGNAL_ID(message)
        assert (refused.value.code, str(refused.value)) == python_verdict(check_signal_id, "s 1")
