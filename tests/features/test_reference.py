"""Hypothesis: the Rust engine against the pure-Python reference on random interleaved streams.

Both follow the same arithmetic, so they must agree bit for bit (NaN where the other is NaN)."""

from __future__ import annotations

import math
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from tradebridge import MarketBar, RustFeatureComputer

from tests.features.reference import FEATURE_NAMES, Periods, ReferenceFeatureEngine

SYMBOLS = ("AAPL", "MSFT", "BTC/USD")


def bits(values: list[float]) -> list[int]:
    # NaN payloads may differ between languages; any NaN is one value here.
    return [-1 if math.isnan(v) else struct.unpack("<q", struct.pack("<d", v))[0] for v in values]


step = st.one_of(
    st.just(0.0),  # flat bars
    st.floats(-0.05, 0.05, allow_nan=False),
    st.floats(-0.5, 0.5, allow_nan=False),  # gaps and spikes
)
bar_spec = st.tuples(
    st.integers(0, len(SYMBOLS) - 1),
    step,
    st.floats(0.0, 0.02),  # upper wick
    st.floats(0.0, 0.02),  # lower wick
    st.one_of(st.just(0.0), st.floats(0.0, 1e9)),
)
periods = st.builds(
    lambda rsi, fast, extra, signal, sma: Periods(rsi, fast, fast + extra, signal, sma),
    st.integers(2, 20),
    st.integers(2, 15),
    st.integers(1, 20),
    st.integers(1, 12),
    st.integers(2, 30),
)


@settings(max_examples=200, deadline=None)
@given(
    p=periods,
    start=st.floats(0.01, 1e6),
    specs=st.lists(bar_spec, min_size=1, max_size=250),
)
def test_rust_equals_reference_on_random_interleaved_streams(
    p: Periods, start: float, specs: list[tuple[int, float, float, float, float]]
) -> None:
    rust = RustFeatureComputer(
        rsi_period=p.rsi_period,
        fast_period=p.fast_period,
        slow_period=p.slow_period,
        signal_period=p.signal_period,
        sma_period=p.sma_period,
    )
    reference = ReferenceFeatureEngine(p)
    last_close = dict.fromkeys(SYMBOLS, start)
    for t, (which, change, up, down, volume) in enumerate(specs):
        symbol = SYMBOLS[which]
        open_ = last_close[symbol]
        close = open_ * math.exp(change)
        high = max(open_, close) * (1.0 + up)
        low = min(open_, close) * (1.0 - down)
        last_close[symbol] = close
        ours = rust.compute_streaming(MarketBar(symbol, open_, high, low, close, volume, t))
        theirs = reference.update(symbol, high, low, close, volume)
        assert bits(ours) == bits(theirs), {
            n: (a, b) for n, a, b in zip(FEATURE_NAMES, ours, theirs, strict=True) if a != b
        }
    for symbol in SYMBOLS:
        seen = sum(1 for which, *_ in specs if SYMBOLS[which] == symbol)
        assert rust.bars_seen(symbol) == seen
        assert rust.is_ready(symbol) == (seen >= max(p.lookbacks()) + 1)


@settings(max_examples=50, deadline=None)
@given(p=periods, closes=st.lists(st.floats(1.0, 2.0), min_size=1, max_size=120))
def test_nan_pattern_follows_the_lookbacks(p: Periods, closes: list[float]) -> None:
    rust = RustFeatureComputer(
        rsi_period=p.rsi_period,
        fast_period=p.fast_period,
        slow_period=p.slow_period,
        signal_period=p.signal_period,
        sma_period=p.sma_period,
    )
    assert rust.lookbacks == p.lookbacks()
    for i, close in enumerate(closes):
        row = rust.compute_streaming(MarketBar("X", close, close, close, close, 1.0, i))
        assert [math.isnan(v) for v in row] == [i < lookback for lookback in p.lookbacks()]
