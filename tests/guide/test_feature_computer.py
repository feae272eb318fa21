"""Guide section "1. Rust Feature Computer (PyO3)": one ``MarketBar`` in, the 12 documented features out."""

from __future__ import annotations

import math


def test_rust_feature_computer() -> None:
    # ---- the guide, verbatim from here ----
    # fmt: off
    from tradebridge import MarketBar, RustFeatureComputer

    # Initialize computer
    computer = RustFeatureComputer()

    # Create market bar
    bar = MarketBar(
        symbol="AAPL",
        open=150.0,
        high=152.5,
        low=149.5,
        close=151.0,
        volume=1_000_000.0,
        timestamp=1234567890
    )

    # Compute features (3-10x faster than pure Python)
    features = computer.compute_streaming(bar)
    # Returns: [close, rsi, macd_line, macd_signal, macd_hist, ema_fast, ema_slow, spread, sma, dist_from_sma, volume, range_pct]  # noqa: E501
    # fmt: on
    # ---- end of the guide's code ----

    assert isinstance(features, list) and len(features) == 12
    close, rsi, macd, signal, hist, ema_fast, ema_slow, spread, sma, dist, volume, range_pct = features
    assert (close, spread, volume) == (151.0, 3.0, 1_000_000.0)  # spread = high - low
    assert range_pct == (152.5 - 149.5) / 151.0 * 100
    # one bar is shorter than every indicator's look-back: TA-Lib answers NaN there, and so do we
    assert all(math.isnan(v) for v in (rsi, macd, signal, hist, ema_fast, ema_slow, sma, dist))


def test_features_fill_in_once_the_look_backs_are_met() -> None:
    from tradebridge import MarketBar, RustFeatureComputer
    from tradebridge._native import FEATURE_NAMES

    computer = RustFeatureComputer()
    features: list[float] = []
    for i in range(40):  # slow EMA (26) + signal (9) - 1 = 34 bars until macd_signal exists
        close = 150.0 + math.sin(i / 3) * 2
        bar = MarketBar(
            symbol="AAPL",
            open=close - 0.2,
            high=close + 1.0,
            low=close - 1.0,
            close=close,
            volume=1_000_000.0 + i,
            timestamp=1234567890 + i * 60_000,
        )
        features = computer.compute_streaming(bar)
    named = dict(zip(FEATURE_NAMES, features, strict=True))
    assert list(named) == [
        "close", "rsi", "macd_line", "macd_signal", "macd_hist", "ema_fast",
        "ema_slow", "spread", "sma", "dist_from_sma", "volume", "range_pct",
    ]  # fmt: skip
    assert all(math.isfinite(v) for v in features)
    assert 0.0 <= named["rsi"] <= 100.0
    assert named["macd_hist"] == named["macd_line"] - named["macd_signal"]
