"""MarketBar.from_update: a bus BarUpdate becomes the same bar the constructor builds, or the same refusal."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradebridge.contracts import BarUpdate, TradeUpdate, decode, decode_frame, encode_frame
from tradebridge.errors import FeatureError, FeatureTypeError
from tradebridge.features import Feature, MarketBar, RustFeatureComputer

FIELDS = ("symbol", "open", "high", "low", "close", "volume", "timestamp")
WIRE = (
    b'{"type":"BarUpdate","symbol":"BRK.B","open":150.0,"high":152.5,"low":149.5,"close":151,'
    b'"volume":1000000,"timestamp":1729530000123,"vwap":151.2,"trade_count":42,"seq":7}'
)


def fields(value: Any) -> tuple[Any, ...]:
    return tuple(getattr(value, name) for name in FIELDS)


def from_constructor(update: BarUpdate) -> MarketBar:
    return MarketBar(*fields(update))


def test_a_decoded_update_equals_the_constructors_bar() -> None:
    update = decode(WIRE, type=BarUpdate)
    bar = MarketBar.from_update(update)
    assert bar == from_constructor(update)
    assert fields(bar) == ("BRK.B", 150.0, 152.5, 149.5, 151.0, 1_000_000.0, 1729530000123)
    assert all(type(getattr(bar, name)) is float for name in FIELDS[1:6])
    assert bar.timestamp == update.timestamp  # epoch milliseconds on both sides, no conversion
    assert bar.symbol is update.symbol  # shared, not copied


def test_an_update_from_a_frame_feeds_the_computer() -> None:
    _, update = decode_frame(encode_frame(decode(WIRE, type=BarUpdate)))
    assert isinstance(update, BarUpdate)
    a, b = RustFeatureComputer(), RustFeatureComputer()
    row = a.compute_streaming(MarketBar.from_update(update))
    same = b.compute_streaming(from_constructor(update))
    assert [repr(x) for x in row] == [repr(x) for x in same]  # NaN-aware
    assert row[Feature.CLOSE] == 151.0 and math.isnan(row[Feature.RSI])


prices = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    symbol=st.sampled_from(["AAPL", "BTC/USD", "X"]),
    values=st.lists(prices | st.integers(min_value=1, max_value=10**6), min_size=4, max_size=4),
    ordered=st.booleans(),
    volume=st.floats(min_value=0, max_value=1e12) | st.integers(min_value=0, max_value=10**9),
    timestamp=st.integers(min_value=0, max_value=2**53 - 1),
)
def test_from_update_agrees_with_the_constructor_on_any_contract_valid_update(
    symbol: str, values: list[float], ordered: bool, volume: float, timestamp: int
) -> None:
    """Valid on the wire but not always a valid bar (low > high and so on; sorted prices make half the
    examples valid bars): both paths must reach the same verdict, with the same code, field and message."""
    low, open_, close, high = sorted(values) if ordered else values
    update = BarUpdate(
        symbol=symbol,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        timestamp=timestamp,
    )
    try:
        expected = from_constructor(update)
    except FeatureError as refused:
        with pytest.raises(FeatureError) as caught:
            MarketBar.from_update(update)
        assert (type(caught.value), caught.value.code, caught.value.field, str(caught.value)) == (
            type(refused),
            refused.code,
            refused.field,
            str(refused),
        )
    else:
        assert ordered or low <= min(open_, close) <= max(open_, close) <= high
        assert fields(MarketBar.from_update(update)) == fields(expected)


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"close": 153.0}, "invalid_value", "close"),
        ({"low": 151.5}, "invalid_value", "open"),
        ({"high": math.inf}, "out_of_range", "high"),
        ({"volume": math.nan}, "out_of_range", "volume"),
        ({"open": 0.0}, "out_of_range", "open"),
        ({"volume": -5.0}, "out_of_range", "volume"),
    ],
)
def test_an_update_that_is_no_valid_bar_is_refused(change: dict[str, float], code: str, field: str) -> None:
    """The wire contract has no cross-field rules (low <= close <= high belongs to MarketBar), and a
    BarUpdate built in Python is not range-checked: from_update is where such bars stop."""
    update = BarUpdate(**{**dict(zip(FIELDS, fields(decode(WIRE, type=BarUpdate)), strict=True)), **change})
    with pytest.raises(FeatureError) as caught:
        MarketBar.from_update(update)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert str(caught.value).startswith("MarketBar: ")


def test_an_update_holding_wrong_types_is_refused() -> None:
    """msgspec only checks types when decoding; a hand-built BarUpdate can hold anything."""
    update = BarUpdate(symbol="AAPL", open="150", high=1.0, low=1.0, close=1.0, volume=1.0, timestamp=1)  # type: ignore[arg-type]
    with pytest.raises(FeatureTypeError) as caught:
        MarketBar.from_update(update)
    assert (caught.value.code, caught.value.field) == ("wrong_type", "open")
    float_time = BarUpdate(symbol="AAPL", open=1.0, high=1.0, low=1.0, close=1.0, volume=1.0, timestamp=1.0)  # type: ignore[arg-type]
    with pytest.raises(FeatureTypeError, match="timestamp must be an int"):
        MarketBar.from_update(float_time)


@pytest.mark.parametrize(
    "other",
    [
        SimpleNamespace(symbol="AAPL", open=1.0, high=1.0, low=1.0, close=1.0, volume=1.0, timestamp=1),
        {"symbol": "AAPL", "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0},
        TradeUpdate(symbol="AAPL", price=1.0, size=1.0, timestamp=1),
        MarketBar("AAPL", 1.0, 1.0, 1.0, 1.0, 1.0, 1),
        WIRE,
        None,
    ],
    ids=["look-alike", "dict", "trade", "market-bar", "bytes", "none"],
)
def test_anything_but_a_bar_update_is_a_type_error(other: object) -> None:
    with pytest.raises(FeatureTypeError) as caught:
        MarketBar.from_update(other)  # type: ignore[arg-type]
    assert isinstance(caught.value, TypeError)
    assert (caught.value.code, caught.value.field) == ("wrong_type", "bar_update")
    assert type(other).__name__ in str(caught.value)


class Sub(BarUpdate, tag="Sub"):
    """A subclass may add fields (or override one with a property): read through getattr, not slots."""

    extra: int = 0


def test_a_subclass_and_an_exact_update_give_the_same_bar() -> None:
    update = decode(WIRE, type=BarUpdate)
    sub = Sub(**dict(zip(FIELDS, fields(update), strict=True)), extra=1)
    assert fields(MarketBar.from_update(sub)) == fields(MarketBar.from_update(update))


def test_a_deleted_field_is_missing_field() -> None:
    update = decode(WIRE, type=BarUpdate)
    del update.close
    with pytest.raises(FeatureError) as caught:
        MarketBar.from_update(update)
    assert (caught.value.code, caught.value.field) == ("missing_field", "close")


class Rewriter:
    """A number whose conversion rewrites the update it came from, dropping the values read so far."""

    def __init__(self, update: BarUpdate) -> None:
        self.update = update

    def __float__(self) -> float:
        self.update.symbol = "OTHER"
        self.update.close = 999.0
        return 150.0


def test_values_read_from_the_update_outlive_code_run_while_validating() -> None:
    update = decode(WIRE, type=BarUpdate)
    update.symbol = "".join(["BR", "K.B"])  # a fresh string the update holds the only reference to
    update.open = Rewriter(update)  # type: ignore[assignment]
    bar = MarketBar.from_update(update)
    assert (bar.symbol, bar.open, bar.close) == ("BRK.B", 150.0, 151.0)
    assert update.symbol == "OTHER"
