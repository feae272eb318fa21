"""The one seeded market both mocks share.

The mock publisher streams these bars on the bus and the mock broker fills orders at the same prices, so for
one ``--seed`` the fills a strategy sees agree with the bars it traded on. Each symbol has its own generator,
seeded from ``(seed, symbol)``, so adding a symbol never changes another symbol's path, and bars come out
identical whatever the batch size asked for.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

#: 2025-01-02 14:30:00 UTC (a US market open), so generated timestamps look like real one-minute bars.
DEFAULT_START_MS = 1_735_828_200_000
DEFAULT_BAR_MS = 60_000


def _symbol_seed(seed: int, symbol: str) -> int:
    digest = hashlib.sha256(f"{seed}:{symbol}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


@dataclass(frozen=True, slots=True)
class Bars:
    """A run of consecutive bars of one symbol, column-wise (all arrays have the same length)."""

    symbol: str
    timestamp: np.ndarray  # int64 ms since the Unix epoch
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.close)


class RandomWalk:
    """A geometric random walk of one-minute OHLCV bars for one symbol, in whole cents.

    ``volatility`` is the standard deviation of a bar's log return. Prices never reach zero (log returns
    are clipped), and every bar satisfies ``low <= min(open, close) <= max(open, close) <= high``.
    """

    def __init__(
        self,
        symbol: str,
        seed: int = 0,
        *,
        start_price: float | None = None,
        start_ms: int = DEFAULT_START_MS,
        bar_ms: int = DEFAULT_BAR_MS,
        volatility: float = 0.002,
    ) -> None:
        self.symbol = symbol
        self._rng = np.random.default_rng(_symbol_seed(seed, symbol))
        if start_price is None:
            start_price = float(self._rng.uniform(20.0, 500.0))
        self._last_close = round(start_price, 2)
        self._next_ms = start_ms
        self._bar_ms = bar_ms
        self._vol = volatility
        self.index = 0  # bars generated so far

    @property
    def last_close(self) -> float:
        return self._last_close

    def next_bars(self, n: int) -> Bars:
        """The next ``n`` bars; calling with 10 then 5 gives exactly what one call with 15 gives."""
        draws = self._rng.standard_normal((n, 4))
        returns = np.clip(draws[:, 0] * self._vol, -0.2, 0.2)
        closes = np.round(self._last_close * np.exp(np.cumsum(returns)), 2)
        closes = np.maximum(closes, 0.01)
        opens = np.empty(n)
        if n:
            opens[0] = self._last_close
            opens[1:] = closes[:-1]
        top = np.maximum(opens, closes)
        bottom = np.minimum(opens, closes)
        high = np.round(top * (1.0 + np.abs(draws[:, 1]) * self._vol * 0.5), 2)
        low = np.maximum(np.round(bottom * (1.0 - np.abs(draws[:, 2]) * self._vol * 0.5), 2), 0.01)
        volume = np.round(np.exp(10.0 + 0.5 * draws[:, 3]))
        timestamps = self._next_ms + self._bar_ms * np.arange(n, dtype=np.int64)
        if n:
            self._last_close = float(closes[-1])
            self._next_ms = int(timestamps[-1]) + self._bar_ms
        self.index += n
        return Bars(
            self.symbol, timestamps, opens, np.maximum(high, top), np.minimum(low, bottom), closes, volume
        )


class Market:
    """One :class:`RandomWalk` per symbol under a common seed."""

    def __init__(self, symbols: list[str] | tuple[str, ...], seed: int = 0, **walk_options: float) -> None:
        self.seed = seed
        self.walks = {s: RandomWalk(s, seed, **walk_options) for s in symbols}  # type: ignore[arg-type]

    def walk(self, symbol: str) -> RandomWalk:
        """The walk of ``symbol``, created on first use (so a broker can quote any symbol it is asked for)."""
        walk = self.walks.get(symbol)
        if walk is None:
            walk = self.walks[symbol] = RandomWalk(symbol, self.seed)
        return walk
