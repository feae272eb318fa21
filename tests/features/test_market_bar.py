"""MarketBar: the guide's fields, validation with ValueError, immutability, pickling."""

from __future__ import annotations

import copy
import math
import pickle

import pytest
from tradebridge import MarketBar

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
    ("change", "message"),
    [
        ({"close": math.nan}, "close must be finite, got NaN"),
        ({"high": math.inf}, "high must be finite, got inf"),
        ({"volume": -math.inf}, "volume must be finite"),
        ({"low": 0.0}, "low must be > 0, got 0"),
        ({"open": -1.0, "low": -2.0}, "open must be > 0"),
        ({"volume": -1.0}, "volume must be >= 0, got -1"),
        ({"open": 149.0}, "open (149) must be >= low (149.5)"),
        ({"close": 153.0}, "close (153) must be <= high (152.5)"),
        ({"low": 153.0}, "open (150) must be >= low (153)"),
        ({"symbol": ""}, "symbol must not be empty"),
    ],
)
def test_invalid_bars_raise_value_error(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MarketBar(**{**GUIDE, **change})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change", [{"symbol": 7}, {"close": "151"}, {"timestamp": 1.5}, {"timestamp": 2**70}]
)
def test_wrong_types_raise(change: dict[str, object]) -> None:
    with pytest.raises((TypeError, OverflowError)):
        MarketBar(**{**GUIDE, **change})  # type: ignore[arg-type]


def test_bars_are_immutable() -> None:
    bar = MarketBar(**GUIDE)
    with pytest.raises(AttributeError):
        bar.close = 1.0  # type: ignore[misc]


def test_pickle_and_copy_round_trip() -> None:
    bar = MarketBar(**GUIDE)
    assert pickle.loads(pickle.dumps(bar)) == bar
    assert copy.deepcopy(bar) == bar
