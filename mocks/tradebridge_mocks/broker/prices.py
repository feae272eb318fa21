"""The broker's view of the market: the seeded walk of :mod:`tradebridge_mocks.market`, one bar at a time.

Prices move only when a bar arrives: from the broker's own clock (one bar per ``bar_interval`` seconds), from
an admin call (``advance`` / ``set_price``, for tests), or from the BarUpdates on the bus when the broker
follows ``--market-endpoint``. Between bars the quote is fixed: ``bid = close - half_spread`` and
``ask = close + half_spread`` (never below one cent), the last trade is the close. With ``half_spread=0`` a
market order fills at exactly the close of the bar a strategy saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradebridge_mocks.market import DEFAULT_BAR_MS, DEFAULT_START_MS, Market

CENT = Decimal("0.01")


def to_price(value: float) -> Decimal:
    """A float price from the walk or the bus as exact cents (the walk already rounds to cents)."""
    return Decimal(repr(float(value))).quantize(CENT)


@dataclass(frozen=True, slots=True)
class Bar:
    timestamp_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


#: Bars kept per symbol by default: about 28 hours of one-second bars, some 25 MB.
DEFAULT_MAX_HISTORY = 100_000


@dataclass(frozen=True, slots=True)
class Quote:
    bid: Decimal
    ask: Decimal
    last: Decimal
    timestamp_ms: int


class PriceBook:
    """Per-symbol bar history and the current quote derived from the latest close."""

    def __init__(
        self,
        seed: int,
        half_spread: Decimal = CENT,
        symbols: tuple[str, ...] = (),
        max_history: int = DEFAULT_MAX_HISTORY,
    ) -> None:
        if max_history < 1:
            raise ValueError(f"max_history must be >= 1, got {max_history}")
        self.market = Market(list(symbols), seed)
        self.half_spread = half_spread
        self.max_history = max_history
        # Only the newest ``max_history`` bars of a symbol are kept (a feed at 1,000 bars/s would otherwise
        # grow the mock without end); ``_dropped`` counts the older ones so positions stay absolute.
        self._bars: dict[str, list[Bar]] = {}
        self._dropped: dict[str, int] = {}
        # a price set by hand (admin) or by the bus; otherwise the walk's last close
        self._last: dict[str, Decimal] = {}
        self._clock_ms: dict[str, int] = {}
        for symbol in symbols:
            self.touch(symbol)

    def touch(self, symbol: str) -> None:
        """Make ``symbol`` known (its walk starts; no bar is generated)."""
        if symbol not in self._bars:
            walk = self.market.walk(symbol)
            self._bars[symbol] = []
            self._dropped[symbol] = 0
            self._last[symbol] = to_price(walk.last_close)
            self._clock_ms[symbol] = DEFAULT_START_MS

    @property
    def symbols(self) -> list[str]:
        return list(self._bars)

    def last(self, symbol: str) -> Decimal:
        self.touch(symbol)
        return self._last[symbol]

    def quote(self, symbol: str) -> Quote:
        last = self.last(symbol)
        bid = max(last - self.half_spread, CENT)
        ask = last + self.half_spread
        return Quote(bid=bid, ask=ask, last=last, timestamp_ms=self._clock_ms[symbol])

    def bars(self, symbol: str) -> list[Bar]:
        """The retained bars of ``symbol``, oldest first (at most ``max_history``)."""
        self.touch(symbol)
        return self._bars[symbol]

    def bars_seen(self, symbol: str) -> int:
        """How many bars ``symbol`` has had in all, the ones no longer retained included."""
        self.touch(symbol)
        return self._dropped[symbol] + len(self._bars[symbol])

    def advance(self, symbol: str, n: int = 1) -> list[Bar]:
        """The next ``n`` bars of the seeded walk (exactly the mock publisher's bars for the same seed)."""
        self.touch(symbol)
        generated = self.market.walk(symbol).next_bars(n)
        new = [
            Bar(
                int(generated.timestamp[i]),
                float(generated.open[i]),
                float(generated.high[i]),
                float(generated.low[i]),
                float(generated.close[i]),
                float(generated.volume[i]),
            )
            for i in range(n)
        ]
        for bar in new:
            self.apply_bar(symbol, bar)
        return new

    def apply_bar(self, symbol: str, bar: Bar) -> None:
        """Record a bar (generated here or received from the bus); its close becomes the last trade."""
        self.touch(symbol)
        history = self._bars[symbol]
        if history and history[-1].timestamp_ms == bar.timestamp_ms:
            history[-1] = bar  # a re-sent or corrected bar replaces its first version
        else:
            history.append(bar)
            # trimmed in chunks of a tenth, so a steady feed pays for the copy once per 10% of the window
            if len(history) > self.max_history + max(1, self.max_history // 10):
                drop = len(history) - self.max_history
                del history[:drop]
                self._dropped[symbol] += drop
        self._last[symbol] = to_price(bar.close)
        self._clock_ms[symbol] = bar.timestamp_ms + DEFAULT_BAR_MS

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the last trade to ``price`` without a bar (tests use it to make resting orders marketable)."""
        self.touch(symbol)
        self._last[symbol] = price

    def clock_ms(self) -> int:
        """The end of the latest bar of any symbol: where a replay has got to."""
        return max(self._clock_ms.values(), default=0)
