"""Hypothesis: random messages cross the language boundary both ways and come back value-equal.

Python -> Rust -> Python: a Struct encoded by the SDK, decoded and re-encoded by ``contracts-testee``,
decoded again by the SDK. Rust -> Python -> Rust: a value the Rust side builds and encodes, decoded and
re-encoded by the SDK, decoded again by Rust. Floats must come back bit for bit.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import tradebridge.contracts as contracts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.codecs.harness import PythonTestee, RustTestee, same

MAX_SAFE = 2**53 - 1
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

symbols = st.from_regex(r"\A[A-Z0-9][A-Z0-9./:-]{0,31}\Z")
prices = st.floats(min_value=0.0, exclude_min=True, allow_infinity=False, allow_nan=False)
sizes = st.floats(min_value=0.0, allow_infinity=False, allow_nan=False)
millis = st.integers(min_value=0, max_value=MAX_SAFE)
names = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=64)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE, max_value=MAX_SAFE)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def envelope() -> dict[str, Any]:
    return {
        "schema_version": st.from_regex(r"\A1\.[0-9]{1,3}\Z") | st.just("1.0"),
        "seq": st.just(msgspec.UNSET) | st.integers(min_value=0, max_value=MAX_SAFE),
        "source": st.just(msgspec.UNSET) | names,
        "sent_at_us": st.just(msgspec.UNSET) | st.integers(min_value=0, max_value=MAX_SAFE),
    }


signal_ids = st.just(msgspec.UNSET) | st.from_regex(r"\A[A-Za-z0-9._-]{1,45}\Z")


bars = st.builds(
    contracts.BarUpdate,
    symbol=symbols,
    open=prices,
    high=prices,
    low=prices,
    close=prices,
    volume=sizes,
    timestamp=millis,
    vwap=st.just(msgspec.UNSET) | prices,
    trade_count=st.just(msgspec.UNSET) | millis,
    **envelope(),
)
trades = st.builds(
    contracts.TradeUpdate,
    symbol=symbols,
    price=prices,
    size=prices,
    timestamp=millis,
    trade_id=st.just(msgspec.UNSET) | names,
    exchange=st.just(msgspec.UNSET) | st.text(min_size=1, max_size=16),
    **envelope(),
)
quotes = st.builds(
    contracts.QuoteUpdate,
    symbol=symbols,
    bid_price=sizes,
    bid_size=sizes,
    ask_price=sizes,
    ask_size=sizes,
    timestamp=millis,
    **envelope(),
)
signals = st.builds(
    contracts.Signal,
    symbol=symbols,
    direction=st.sampled_from(["long", "short"]),
    strength=st.floats(min_value=0.0, max_value=1.0),
    timestamp=millis,
    features=st.none() | st.lists(st.none() | st.floats(allow_nan=False, allow_infinity=False), max_size=40),
    metadata=st.none() | st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    signal_id=signal_ids,
    price=st.just(msgspec.UNSET) | prices,
    **envelope(),
)
orders = st.builds(
    contracts.OrderUpdate,
    order_id=st.text(min_size=1, max_size=128),
    client_order_id=st.text(min_size=1, max_size=128),
    symbol=symbols,
    side=st.sampled_from(["buy", "sell"]),
    qty=prices,
    filled_qty=sizes,
    filled_avg_price=st.none() | prices,
    status=st.sampled_from(["new", "filled", "partially_filled", "canceled", "rejected", "pending_replace"]),
    timestamp=millis,
    order_type=st.just(msgspec.UNSET) | st.sampled_from(["market", "limit", "stop", "stop_limit"]),
    limit_price=st.just(msgspec.UNSET) | prices,
    reason=st.just(msgspec.UNSET) | st.text(max_size=30),
    signal_id=signal_ids,
    **envelope(),
)
heartbeats = st.builds(
    contracts.Heartbeat,
    component=names,
    timestamp=millis,
    status=st.just(msgspec.UNSET) | st.sampled_from(["healthy", "degraded", "unhealthy"]),
    **envelope(),
)
bus_messages = bars | trades | quotes | signals | orders | heartbeats


def plain(message: Any) -> Any:
    return msgspec.json.decode(contracts.encode(message))


@SETTINGS
@given(message=bus_messages)
def test_python_to_rust_to_python(message: Any, rust_testee: RustTestee) -> None:
    through_rust = rust_testee.roundtrip("message", contracts.encode(message))
    assert through_rust.ok, through_rust.describe()
    back = contracts.decode(through_rust.payload)
    assert back == message
    assert same(plain(back), plain(message))


@SETTINGS
@given(message=bus_messages)
def test_rust_to_python_to_rust(message: Any, rust_testee: RustTestee, python_testee: PythonTestee) -> None:
    built_by_rust = rust_testee.encode("message", plain(message))
    assert built_by_rust.ok, built_by_rust.describe()
    through_python = python_testee.roundtrip("message", built_by_rust.payload)
    assert through_python.ok, through_python.describe()
    back = rust_testee.decode("message", through_python.payload)
    assert back.ok and same(back.value, built_by_rust.value)
    assert same(back.value, plain(message))


@SETTINGS
@given(
    message=bus_messages,
    extra=st.dictionaries(st.from_regex(r"\Ax_[a-z]{1,8}\Z"), json_values, min_size=1, max_size=4),
    minor=st.integers(min_value=1, max_value=999),
)
def test_old_decoders_read_a_newer_minor(
    message: Any, extra: dict[str, Any], minor: int, rust_testee: RustTestee
) -> None:
    """A 1.x producer adds optional fields: both v1 decoders ignore them and keep the rest intact."""
    newer = {**plain(message), **extra, "schema_version": f"1.{minor}"}
    payload = json.dumps(newer).encode()
    expected = {**plain(message), "schema_version": f"1.{minor}"}
    assert same(plain(contracts.decode(payload)), expected)
    from_rust = rust_testee.decode("message", payload)
    assert from_rust.ok and same(from_rust.value, expected), from_rust.describe()


@SETTINGS
@given(message=signals)
def test_new_decoders_read_the_guides_plain_signal(
    message: contracts.Signal, rust_testee: RustTestee
) -> None:
    """The guide's peers send neither type nor schema_version: both decoders fill in Signal and 1.0."""
    guide_style = {k: v for k, v in plain(message).items() if k not in ("type", "schema_version")}
    payload = json.dumps(guide_style).encode()
    expected = {**plain(message), "schema_version": "1.0"}
    assert same(plain(contracts.decode(payload, type=contracts.Signal)), expected)
    from_rust = rust_testee.decode("signal", payload)
    assert from_rust.ok and same(from_rust.value, expected), from_rust.describe()


@SETTINGS
@given(major=st.integers(min_value=0, max_value=99).filter(lambda n: n != 1), message=bus_messages)
def test_both_refuse_an_unknown_major(major: int, message: Any, rust_testee: RustTestee) -> None:
    payload = json.dumps({**plain(message), "schema_version": f"{major}.0"}).encode()
    python = PythonTestee().decode("message", payload)
    rust = rust_testee.decode("message", payload)
    assert (python.code, python.path) == (rust.code, rust.path) == ("unsupported_version", "$.schema_version")
