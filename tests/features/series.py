"""Generated bar series for the feature tests: random walks with gaps, flat runs and spikes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Series:
    open: Array
    high: Array
    low: Array
    close: Array
    volume: Array

    def __len__(self) -> int:
        return len(self.close)

    def columns(self) -> tuple[Array, Array, Array, Array, Array]:
        return self.open, self.high, self.low, self.close, self.volume


def make_series(
    n: int,
    seed: int,
    *,
    start: float = 100.0,
    sigma: float = 0.002,
    gaps: bool = True,
    flats: bool = True,
    spikes: bool = True,
) -> Series:
    """A geometric random walk of ``n`` bars; optionally with overnight-style gaps (open far from the previous
    close), flat runs (open == high == low == close for dozens of bars) and one-bar spikes."""
    rng = np.random.default_rng(seed)
    log_returns = rng.normal(0.0, sigma, n)
    if spikes:
        at = rng.choice(n, size=max(1, n // 2000), replace=False)
        log_returns[at] += rng.choice([-0.25, 0.25], size=len(at))
    close = start * np.exp(np.cumsum(log_returns))
    open_ = np.concatenate([[start], close[:-1]])
    if gaps:
        at = rng.choice(np.arange(1, n), size=max(1, n // 1000), replace=False)
        open_[at] *= np.exp(rng.normal(0.0, 0.05, len(at)))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, sigma / 2, n)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, sigma / 2, n)))
    volume = np.exp(rng.normal(8.0, 1.0, n))
    if flats:
        for begin in rng.choice(np.arange(0, max(1, n - 300)), size=max(1, n // 5000), replace=False):
            length = int(rng.integers(20, 300))
            price = close[begin]
            end = min(n, begin + length)
            open_[begin:end] = high[begin:end] = low[begin:end] = close[begin:end] = price
            volume[begin:end] = 0.0
        # Keep the bar after each flat run consistent: it opens at the flat price.
        open_[1:] = np.where(open_[1:] == close[:-1], open_[1:], open_[1:])
        high = np.maximum(high, np.maximum(open_, close))
        low = np.minimum(low, np.minimum(open_, close))
    return Series(open_, high, low, close, volume)
