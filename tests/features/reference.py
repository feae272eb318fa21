"""Pure-Python reference of the 12-feature engine, used only by tests and benchmarks.

Written independently of the Rust code from TA-Lib's definitions (SMA-seeded EMAs, Wilder RSI with a
plain-mean seed, running-sum SMA) with the arithmetic in TA-Lib's order, so on the same inputs it must
agree with ``RustFeatureComputer`` bit for bit. State is kept per symbol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NAN = math.nan

FEATURE_NAMES = (
    "close",
    "rsi",
    "macd_line",
    "macd_signal",
    "macd_hist",
    "ema_fast",
    "ema_slow",
    "spread",
    "sma",
    "dist_from_sma",
    "volume",
    "range_pct",
)


@dataclass(frozen=True)
class Periods:
    rsi_period: int = 14
    fast_period: int = 12
    slow_period: int = 26
    signal_period: int = 9
    sma_period: int = 20

    def lookbacks(self) -> list[int]:
        macd = self.slow_period - 1 + self.signal_period - 1
        sma = self.sma_period - 1
        return [
            0,
            self.rsi_period,
            macd,
            macd,
            macd,
            self.fast_period - 1,
            self.slow_period - 1,
            0,
            sma,
            sma,
            0,
            0,
        ]


class Ema:
    __slots__ = ("k", "period", "seed_sum", "seen", "value")

    def __init__(self, period: int) -> None:
        self.period = period
        self.k = 2.0 / (period + 1)
        self.seen = 0
        self.seed_sum = 0.0
        self.value = NAN

    def update(self, x: float) -> float:
        if self.seen == self.period:
            self.value = ((x - self.value) * self.k) + self.value
        else:
            self.seed_sum += x
            self.seen += 1
            if self.seen == self.period:
                self.value = self.seed_sum / self.period
        return self.value


class Sma:
    """Running sum as TA-Lib: add the newest, divide, then drop the value that leaves next."""

    __slots__ = ("period", "sum", "window")

    def __init__(self, period: int) -> None:
        self.period = period
        self.sum = 0.0
        self.window: list[float] = []

    def update(self, x: float) -> float:
        self.sum += x
        self.window.append(x)
        if len(self.window) < self.period:
            return NAN
        mean = self.sum / self.period
        self.sum -= self.window.pop(0)
        return mean


class Rsi:
    __slots__ = ("gain", "loss", "period", "prev", "seen")

    def __init__(self, period: int) -> None:
        self.period = period
        self.seen = 0
        self.prev = NAN
        self.gain = 0.0
        self.loss = 0.0

    def _value(self) -> float:
        total = self.gain + self.loss
        return 100.0 * (self.gain / total) if total != 0.0 else 0.0

    def update(self, x: float) -> float:
        change = x - self.prev
        self.prev = x
        self.seen += 1
        if self.seen == 1:
            return NAN
        if self.seen <= self.period + 1:
            # Seed: plain sums of the first `period` changes.
            if change < 0:
                self.loss -= change
            else:
                self.gain += change
            if self.seen <= self.period:
                return NAN
            self.loss /= self.period
            self.gain /= self.period
            return self._value()
        self.loss *= self.period - 1
        self.gain *= self.period - 1
        if change < 0:
            self.loss -= change
        else:
            self.gain += change
        self.loss /= self.period
        self.gain /= self.period
        return self._value()


class Series:
    __slots__ = ("fast", "rsi", "signal", "slow", "sma")

    def __init__(self, p: Periods) -> None:
        self.rsi = Rsi(p.rsi_period)
        self.fast = Ema(p.fast_period)
        self.slow = Ema(p.slow_period)
        self.signal = Ema(p.signal_period)
        self.sma = Sma(p.sma_period)

    def update(self, high: float, low: float, close: float, volume: float) -> list[float]:
        rsi = self.rsi.update(close)
        fast = self.fast.update(close)
        slow = self.slow.update(close)
        line = signal = NAN
        if not math.isnan(slow):
            raw = fast - slow
            signal = self.signal.update(raw)
            if not math.isnan(signal):
                line = raw
        sma = self.sma.update(close)
        spread = high - low
        return [
            close,
            rsi,
            line,
            signal,
            line - signal,
            fast,
            slow,
            spread,
            sma,
            (close - sma) / sma * 100.0,
            volume,
            spread / close * 100.0,
        ]


class ReferenceFeatureEngine:
    """One ``Series`` per symbol."""

    def __init__(self, periods: Periods | None = None) -> None:
        self.periods = periods or Periods()
        self.series: dict[str, Series] = {}

    def update(self, symbol: str, high: float, low: float, close: float, volume: float) -> list[float]:
        series = self.series.get(symbol)
        if series is None:
            series = self.series[symbol] = Series(self.periods)
        return series.update(high, low, close, volume)
