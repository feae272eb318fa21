"""Synthetic history: deterministic bars for any window a client asks ``/v2/stocks/bars`` about.

The broker's live bars follow the seeded walk's own clock (it starts 2025-01-02), so a strategy asking for
"the last ten days" (the guide's ``datetime.now() - timedelta(days=10)``) would get nothing. Windows that hold
no live bar are answered from this module instead; live fills never look here.

A bar depends only on ``(seed, symbol, timeframe, bucket)``, never on the window that asked for it, so pages
and overlapping queries agree. Time is cut into chunks of :data:`CHUNK` buckets; each chunk is a Brownian
bridge (a seeded walk pinned at both ends) between two anchor prices scattered around the symbol's walk start
price, so the series is continuous and can be generated for one chunk without generating its predecessors.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from functools import lru_cache

import numpy as np

from tradebridge_mocks.market import RandomWalk

CHUNK = 256
_MINUTE_MS = 60_000
_UNIT_MINUTES = {"Min": 1, "Hour": 60, "Day": 1440, "Week": 7 * 1440, "Month": 30 * 1440}
#: bars stop at the end of year 9999 (what an RFC 3339 timestamp can say) and never go before the epoch
_LAST_MS = int(datetime(9999, 12, 1, tzinfo=UTC).timestamp() * 1000)


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class Frame:
    """One time frame's buckets: ``index(t)`` is the bucket holding ``t``, ``start_ms(i)`` where it opens."""

    def __init__(self, amount: int, unit: str) -> None:
        self.amount, self.unit = amount, unit
        self.name = f"{amount}{unit}"
        self.size_ms = _UNIT_MINUTES[unit] * amount * _MINUTE_MS  # nominal for months
        self.volatility = min(0.0008 * math.sqrt(_UNIT_MINUTES[unit] * amount), 0.05)

    def index(self, timestamp_ms: int) -> int:
        if self.unit == "Month":
            moment = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
            return (moment.year * 12 + moment.month - 1) // self.amount
        return timestamp_ms // self.size_ms

    def start_ms(self, index: int) -> int:
        if self.unit == "Month":
            month = index * self.amount
            return int(datetime(month // 12, month % 12 + 1, 1, tzinfo=UTC).timestamp() * 1000)
        return index * self.size_ms

    def window(self, start_ms: int, end_ms: int) -> range:
        """Indices of the buckets whose opening time lies in ``[start_ms, end_ms]`` (as Alpaca filters)."""
        start_ms, end_ms = max(start_ms, 0), min(end_ms, _LAST_MS)
        if start_ms > end_ms:
            return range(0)
        first = self.index(start_ms)
        if self.start_ms(first) < start_ms:
            first += 1
        return range(first, self.index(end_ms) + 1)


@lru_cache(maxsize=256)
def _base_price(seed: int, symbol: str) -> float:
    return RandomWalk(symbol, seed).last_close  # where the live walk starts, so both look alike


def _anchor(seed: int, symbol: str, frame: Frame, chunk: int) -> float:
    """Log price at the opening of ``chunk``: stationary around the base price, spread like a chunk's walk."""
    spread = min(frame.volatility * math.sqrt(CHUNK), 0.3)
    z = float(_rng(seed, symbol, frame.name, "anchor", chunk).standard_normal())
    return math.log(_base_price(seed, symbol)) + spread * z


@lru_cache(maxsize=64)
def _chunk(seed: int, symbol: str, frame: Frame, chunk: int) -> tuple[tuple[float, ...], ...]:
    """Rows ``(t, o, h, l, c, v)`` of the ``CHUNK`` buckets of ``chunk``."""
    draws = _rng(seed, symbol, frame.name, "chunk", chunk).standard_normal((CHUNK, 4))
    vol = frame.volatility
    start, end = _anchor(seed, symbol, frame, chunk), _anchor(seed, symbol, frame, chunk + 1)
    walk = np.cumsum(np.clip(draws[:, 0] * vol, -0.2, 0.2))
    steps = np.arange(1, CHUNK + 1) / CHUNK
    closes = np.maximum(np.round(np.exp(start + walk - steps * (walk[-1] - (end - start))), 2), 0.01)
    opens = np.empty(CHUNK)
    opens[0] = max(round(math.exp(start), 2), 0.01)
    opens[1:] = closes[:-1]
    top, bottom = np.maximum(opens, closes), np.minimum(opens, closes)
    high = np.maximum(np.round(top * (1.0 + np.abs(draws[:, 1]) * vol * 0.5), 2), top)
    low = np.minimum(np.maximum(np.round(bottom * (1.0 - np.abs(draws[:, 2]) * vol * 0.5), 2), 0.01), bottom)
    minutes = _UNIT_MINUTES[frame.unit] * frame.amount
    volume = np.round(np.exp(10.0 + 0.5 * draws[:, 3]) * minutes)
    first = chunk * CHUNK
    return tuple(
        (
            float(frame.start_ms(first + i)),
            float(opens[i]),
            float(high[i]),
            float(low[i]),
            float(closes[i]),
            float(volume[i]),
        )
        for i in range(CHUNK)
    )


_UNIT_NAMES = {"T": "Min", "H": "Hour", "D": "Day", "W": "Week", "M": "Month"}


@lru_cache(maxsize=64)
def frame_of(amount: int, unit: str) -> Frame:
    """The frame of ``amount`` x ``unit`` (``Min`` or ``T``), shared so chunk caches hit across requests."""
    return Frame(amount, _UNIT_NAMES.get(unit, unit))


def synthetic_bar(seed: int, symbol: str, frame: Frame, index: int) -> dict[str, float | int]:
    """The bar of bucket ``index`` in Alpaca's JSON keys (``t`` still in epoch milliseconds)."""
    t, o, h, low, c, v = _chunk(seed, symbol, frame, index // CHUNK)[index % CHUNK]
    return {
        "t": int(t),
        "o": o,
        "h": h,
        "l": low,
        "c": c,
        "v": v,
        "n": max(int(v // 100), 1),
        "vw": round((h + low + c) / 3, 4),
    }
