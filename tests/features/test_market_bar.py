"""MarketBar: the guide's fields, validation with FeatureError (a ValueError), immutability, pickling."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest
from tradebridge import MarketBar
from tradebridge.errors import FeatureError, FeatureTypeError

GUIDE = {
    "symbol": "AAPL",
    "open": 150.0,
    "high": 152.5,
    "low": 149.5,
    "close": 151.0,
    "volume": 1_000_000.0,
    "timestamp": 1234567890,
}


def test_the_guides_bar() -> None:
    bar = MarketBar(**GUIDE)
    assert (bar.symbol, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.timestamp) == tuple(
        GUIDE.values()
    )
    assert repr(bar) == (
        "MarketBar(symbol='AAPL', open=150.0, high=152.5, low=149.5, close=151.0, volume=1000000.0, "
        "timestamp=1234567890)"
    )
    assert MarketBar(*GUIDE.values()) == bar
    assert hash(MarketBar(*GUIDE.values())) == hash(bar)
    assert bar != MarketBar(**{**GUIDE, "timestamp": 1})
    assert bar != "AAPL"


def test_ints_are_accepted_for_prices() -> None:
    assert MarketBar("X", 1, 2, 1, 2, 0, 0).close == 2.0


@pytest.mark.parametrize(
    ("change", "code", "field", "message"),
    [
        ({"close": math.nan}, "out_of_range", "close", "close must be finite, got NaN"),
        ({"high": math.inf}, "out_of_range", "high", "high must be finite, got inf"),
        ({"volume": -math.inf}, "out_of_range", "volume", "volume must be finite"),
        ({"low": 0.0}, "out_of_range", "low", "low must be > 0, got 0"),
        ({"open": -1.0, "low": -2.0}, "out_of_range", "open", "open must be > 0"),
        ({"volume": -1.0}, "out_of_range", "volume", "volume must be >= 0, got -1"),
        ({"open": 149.0}, "invalid_value", "open", "open (149) must be >= low (149.5)"),
        ({"close": 153.0}, "invalid_value", "close", "close (153) must be <= high (152.5)"),
        ({"low": 153.0}, "invalid_value", "open", "open (150) must be >= low (153)"),
        ({"symbol": ""}, "invalid_value", "symbol", "symbol must not be empty"),
        ({"symbol": "\ud800"}, "invalid_value", "symbol", "symbol is not valid UTF-8"),
        ({"timestamp": 2**70}, "out_of_range", "timestamp", "timestamp must fit in 64 bits"),
        ({"close": 10**400}, "out_of_range", "close", "close is too large for a float"),
    ],
)
def test_invalid_bars_raise_feature_error(
    change: dict[str, object], code: str, field: str, message: str
) -> None:
    with pytest.raises(FeatureError) as caught:
        MarketBar(**{**GUIDE, **change})  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError) and not isinstance(caught.value, TypeError)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert str(caught.value).startswith(f"MarketBar: {message}")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"symbol": 7}, "symbol"),
        ({"symbol": b"AAPL"}, "symbol"),
        ({"close": "151"}, "close"),
        ({"volume": None}, "volume"),
        ({"timestamp": 1.5}, "timestamp"),
        ({"timestamp": "1"}, "timestamp"),
    ],
)
def test_wrong_types_raise_feature_type_error(change: dict[str, object], field: str) -> None:
    with pytest.raises(FeatureTypeError) as caught:
        MarketBar(**{**GUIDE, **change})  # type: ignore[arg-type]
    # Both what Python code expects for a wrong type and what tradebridge code catches for any refusal.
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, FeatureError)
    assert (caught.value.code, caught.value.field) == ("wrong_type", field)
    assert field in str(caught.value)


def test_numpy_scalars_are_numbers() -> None:
    bar = MarketBar("X", np.float32(2.0), np.float64(3), 1, np.int64(2), np.int32(5), np.int64(7))
    assert (bar.open, bar.high, bar.close, bar.volume, bar.timestamp) == (2.0, 3.0, 2.0, 5.0, 7)


def test_refusals_pickle_with_their_code() -> None:
    with pytest.raises(FeatureError) as caught:
        MarketBar(**{**GUIDE, "close": math.nan})
    again = pickle.loads(pickle.dumps(caught.value))
    assert (type(again), again.code, again.field, str(again)) == (
        FeatureError,
        "out_of_range",
        "close",
        str(caught.value),
    )


def test_bars_are_immutable() -> None:
    bar = MarketBar(**GUIDE)
    with pytest.raises(AttributeError):
        bar.close = 1.0  # type: ignore[misc]


def test_pickle_and_copy_round_trip() -> None:
    bar = MarketBar(**GUIDE)
    assert pickle.loads(pickle.dumps(bar)) == bar
    assert copy.deepcopy(bar) == bar
