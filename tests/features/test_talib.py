"""The engine against the ``talib`` package (TA-Lib's C library) on long generated series."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import talib
from tradebridge import MarketBar, RustFeatureComputer

from tests.features.series import Series, make_series

TOLERANCE = 1e-9
RSI, MACD_LINE, MACD_SIGNAL, MACD_HIST, EMA_FAST, EMA_SLOW, SMA = 1, 2, 3, 4, 5, 6, 8


def assert_close_with_same_nans(
    ours: npt.NDArray[np.float64], theirs: npt.NDArray[np.float64], name: str
) -> None:
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs), err_msg=f"{name}: warm-up NaNs differ")
    valid = ~np.isnan(theirs)
    worst = np.max(np.abs(ours[valid] - theirs[valid]))
    assert worst <= TOLERANCE, f"{name}: max |diff| {worst:.3g}"


@pytest.mark.parametrize("fixture", ["long_series", "calm_series"])
def test_rsi_ema_sma_match_talib_from_the_first_value(fixture: str, request: pytest.FixtureRequest) -> None:
    series: Series = request.getfixturevalue(fixture)
    features = RustFeatureComputer().compute_batch(*series.columns())
    close = series.close
    assert_close_with_same_nans(features[:, RSI], talib.RSI(close, 14), "rsi")
    assert_close_with_same_nans(features[:, EMA_FAST], talib.EMA(close, 12), "ema_fast")
    assert_close_with_same_nans(features[:, EMA_SLOW], talib.EMA(close, 26), "ema_slow")
    assert_close_with_same_nans(features[:, SMA], talib.SMA(close, 20), "sma")


def test_custom_periods_match_talib(long_series: Series) -> None:
    computer = RustFeatureComputer(
        rsi_period=7, fast_period=5, slow_period=35, signal_period=4, sma_period=50
    )
    features = computer.compute_batch(*long_series.columns())
    close = long_series.close
    assert_close_with_same_nans(features[:, RSI], talib.RSI(close, 7), "rsi(7)")
    assert_close_with_same_nans(features[:, EMA_FAST], talib.EMA(close, 5), "ema(5)")
    assert_close_with_same_nans(features[:, EMA_SLOW], talib.EMA(close, 35), "ema(35)")
    assert_close_with_same_nans(features[:, SMA], talib.SMA(close, 50), "sma(50)")
    line, signal, hist = talib.MACD(close, 5, 35, 4)
    np.testing.assert_array_equal(np.isnan(features[:, MACD_LINE]), np.isnan(line))
    np.testing.assert_allclose(features[300:, MACD_SIGNAL], signal[300:], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(features[300:, MACD_HIST], hist[300:], rtol=0, atol=TOLERANCE)


def test_macd_is_the_ema_difference_from_its_first_value(long_series: Series) -> None:
    features = RustFeatureComputer().compute_batch(*long_series.columns())
    close = long_series.close
    ema_line = talib.EMA(close, 12) - talib.EMA(close, 26)
    # TA-Lib's look-back for all three MACD outputs is 33 bars.
    assert np.isnan(features[:33, MACD_LINE : MACD_HIST + 1]).all()
    assert not np.isnan(features[33:, MACD_LINE : MACD_HIST + 1]).any()
    np.testing.assert_array_equal(
        features[:, MACD_LINE][33:], (features[:, EMA_FAST] - features[:, EMA_SLOW])[33:]
    )
    np.testing.assert_allclose(features[33:, MACD_LINE], ema_line[33:], rtol=0, atol=TOLERANCE)
    # The signal is EMA(9) of that line, seeded with the mean of its first 9 values (bars 25..33).
    signal = np.full(len(close), np.nan)
    signal[25:] = talib.EMA(ema_line[25:], 9)
    assert_close_with_same_nans(features[:, MACD_SIGNAL], signal, "macd_signal")


def test_talib_macd_agrees_once_its_seeding_quirk_has_decayed(
    calm_series: Series, long_series: Series
) -> None:
    # talib.MACD seeds its fast EMA later than talib.EMA does; the difference decays by 11/13 per bar.
    for series, settled_from in ((calm_series, 130), (long_series, 200)):
        features = RustFeatureComputer().compute_batch(*series.columns())
        for column, theirs in zip(
            (MACD_LINE, MACD_SIGNAL, MACD_HIST), talib.MACD(series.close, 12, 26, 9), strict=True
        ):
            np.testing.assert_allclose(
                features[settled_from:, column], theirs[settled_from:], rtol=0, atol=TOLERANCE
            )
        # During warm-up the quirk is visible: the comparison above is not vacuous.
        assert np.nanmax(np.abs(features[33:60, MACD_LINE] - talib.MACD(series.close)[0][33:60])) > TOLERANCE


def test_streaming_matches_talib_on_interleaved_symbols() -> None:
    computer = RustFeatureComputer()
    a = make_series(3_000, seed=11)
    b = make_series(3_000, seed=12, start=25_000.0)
    rows: dict[str, list[list[float]]] = {"AAPL": [], "BTC/USD": []}
    for i in range(3_000):
        for symbol, series in (("AAPL", a), ("BTC/USD", b)):
            o, h, lo, c, v = (float(column[i]) for column in series.columns())
            bar = MarketBar(symbol, o, h, lo, c, v, timestamp=i)
            rows[symbol].append(computer.compute_streaming(bar))
    for symbol, series in (("AAPL", a), ("BTC/USD", b)):
        features = np.array(rows[symbol])
        scale = max(1.0, float(np.max(series.close)) / 100.0)
        for column, theirs in ((RSI, talib.RSI(series.close, 14)), (SMA, talib.SMA(series.close, 20))):
            np.testing.assert_array_equal(np.isnan(features[:, column]), np.isnan(theirs))
            np.testing.assert_allclose(features[20:, column], theirs[20:], rtol=0, atol=TOLERANCE * scale)
        np.testing.assert_allclose(
            features[25:, EMA_SLOW], talib.EMA(series.close, 26)[25:], rtol=0, atol=TOLERANCE * scale
        )
