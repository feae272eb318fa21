"""Historical trades and quotes, snapshots and the meta tables of ``/v2/stocks``, on the same seeded market as
the bars (:mod:`.marketdata`).

Ticks are derived from one-minute bars, so they never disagree with them: each minute prints four trades at
its open, high, low and close (at +0, +15, +30 and +45 s, a quarter of the volume each; the high before the
low on an up minute), and a quote with each trade at ``price -/+ half_spread``. The minutes are the live bars
of the window or, when a window (with a ``start``) holds none, the synthetic history, exactly as for bars.
``limit`` counts across symbols and ``next_page_token`` pages them as Alpaca does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, overload

from tradebridge_mocks.broker import history, marketdata
from tradebridge_mocks.broker.marketdata import bad_request, iso_ms, parse_symbols, parse_time
from tradebridge_mocks.broker.prices import PriceBook

TICKS_PER_BAR = 4
_OFFSETS_MS = (0, 15_000, 30_000, 45_000)
FEEDS = ("iex", "sip", "otc", "delayed_sip", "boats", "overnight")

EXCHANGES = {
    "A": "NYSE American (AMEX)",
    "B": "NASDAQ OMX BX",
    "C": "National Stock Exchange",
    "D": "FINRA ADF",
    "E": "Market Independent",
    "H": "MIAX",
    "I": "International Securities Exchange",
    "J": "Cboe EDGA",
    "K": "Cboe EDGX",
    "L": "Long Term Stock Exchange",
    "M": "Chicago Stock Exchange",
    "N": "New York Stock Exchange",
    "P": "NYSE Arca",
    "Q": "NASDAQ OMX",
    "S": "NASDAQ Small Cap",
    "T": "NASDAQ Int",
    "U": "Members Exchange",
    "V": "IEX",
    "W": "CBOE",
    "X": "NASDAQ OMX PSX",
    "Y": "Cboe BYX",
    "Z": "Cboe BZX",
}
TRADE_CONDITIONS = {
    "@": "Regular Sale",
    "F": "Intermarket Sweep",
    "I": "Odd Lot Trade",
    "O": "Market Center Opening Trade",
    "Q": "Market Center Official Open",
    "6": "Market Center Closing Trade",
    "M": "Market Center Official Close",
    "T": "Extended Trading Hours (Sold Out Of Sequence)",
}
QUOTE_CONDITIONS = {"R": "Regular", "O": "Opening Quote", "C": "Closing Quote", "4": "On Demand Auction"}


def check_feed(query: dict[str, str]) -> None:
    feed = query.get("feed")
    if feed is not None and feed not in FEEDS:
        raise bad_request(f"invalid feed: {feed!r}")


class _Ticks(Sequence[dict[str, Any]]):
    """The ticks of a sequence of one-minute bars, built only when indexed."""

    def __init__(
        self, bars: Sequence[dict[str, Any]], kind: str, half_spread: Decimal, descending: bool
    ) -> None:
        self._bars, self._kind, self._half, self._descending = bars, kind, float(half_spread), descending

    def __len__(self) -> int:
        return len(self._bars) * TICKS_PER_BAR

    @overload
    def __getitem__(self, item: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, item: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, item: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(item, slice):
            return [self._tick(i) for i in range(*item.indices(len(self)))]
        return self._tick(item)

    def _tick(self, index: int) -> dict[str, Any]:
        bar = self._bars[index // TICKS_PER_BAR]
        part = index % TICKS_PER_BAR
        if self._descending:
            part = TICKS_PER_BAR - 1 - part
        up = bar["c"] >= bar["o"]
        prices = (bar["o"], bar["h"], bar["l"], bar["c"]) if up else (bar["o"], bar["l"], bar["h"], bar["c"])
        price = prices[part]
        t = bar["t"] + _OFFSETS_MS[part]
        if self._kind == "trade":
            size = max(int(bar["v"] / TICKS_PER_BAR), 1)
            return {"t": t, "x": "V", "p": price, "s": size, "c": ["@"], "i": t // 1000 * 10 + part, "z": "C"}
        bid = max(round(price - self._half, 2), 0.01)
        ask = round(price + self._half, 2)
        return {"t": t, "ax": "V", "ap": ask, "as": 1, "bx": "V", "bp": bid, "bs": 1, "c": ["R"], "z": "C"}


def ticks_response(prices: PriceBook, query: dict[str, str], kind: str) -> dict[str, Any]:
    """``/v2/stocks/trades`` (``kind="trade"``) or ``/v2/stocks/quotes`` (``"quote"``)."""
    check_feed(query)
    symbols = parse_symbols(query.get("symbols"))
    start = parse_time(query["start"], "start") if "start" in query else None
    end = parse_time(query["end"], "end") if "end" in query else None
    try:
        limit = int(query.get("limit", marketdata.DEFAULT_LIMIT))
    except ValueError:
        raise bad_request("invalid limit") from None
    if not 1 <= limit <= marketdata.MAX_LIMIT:
        raise bad_request(f"invalid limit: must be between 1 and {marketdata.MAX_LIMIT}")
    sort = query.get("sort", "asc")
    if sort not in ("asc", "desc"):
        raise bad_request(f"invalid sort: {sort!r}")
    descending = sort == "desc"
    offset = marketdata.decode_token(query["page_token"]) if "page_token" in query else 0
    series: list[tuple[str, Sequence[dict[str, Any]]]] = []
    for symbol in symbols:
        bars = marketdata.symbol_series(prices, symbol, "1Min", start, end, descending)
        series.append((symbol, _Ticks(bars, kind, prices.half_spread, descending)))
    page, token = marketdata.paginate(series, offset, limit)
    key = "trades" if kind == "trade" else "quotes"
    return {key: page, "next_page_token": token}


def snapshot(prices: PriceBook, symbol: str, now_ms: int) -> dict[str, Any]:
    """Alpaca's snapshot: latest trade and quote, the minute bar, today's and the previous daily bar."""
    quote = prices.quote(symbol)
    trade = marketdata.latest_trades(prices, {"symbols": symbol})["trades"][symbol]
    latest_quote = marketdata.latest_quotes(prices, {"symbols": symbol})["quotes"][symbol]
    live = prices.bars(symbol)
    seed = prices.market.seed
    day = history.frame_of(1, "Day")
    if live:
        (minute,) = marketdata.aggregate(live[-1:], "1Min")
        daily = marketdata.aggregate(live, "1Day")[-1]
        today = day.index(int(daily["t"]))
    else:
        today = day.index(quote.timestamp_ms)
        minute = history.synthetic_bar(seed, symbol, history.frame_of(1, "Min"), quote.timestamp_ms // 60_000)
        daily = history.synthetic_bar(seed, symbol, day, today)
    previous = history.synthetic_bar(seed, symbol, day, today - 1)
    del now_ms  # the snapshot is the price book's, whose clock is the bars'

    def stamped(bar: dict[str, Any]) -> dict[str, Any]:
        return {**bar, "t": iso_ms(int(bar["t"]))}

    return {
        "latestTrade": trade,
        "latestQuote": latest_quote,
        "minuteBar": stamped(minute),
        "dailyBar": stamped(daily),
        "prevDailyBar": stamped(previous),
    }


def snapshots(prices: PriceBook, query: dict[str, str]) -> dict[str, Any]:
    check_feed(query)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    return {s: snapshot(prices, s, now_ms) for s in parse_symbols(query.get("symbols"))}


def conditions(ticktype: str, tape: str | None) -> dict[str, str]:
    if ticktype not in ("trade", "quote"):
        raise bad_request(f"invalid ticktype: {ticktype!r} (trade or quote)")
    if tape is None or tape not in ("A", "B", "C"):
        raise bad_request("tape is required: A, B or C")
    return TRADE_CONDITIONS if ticktype == "trade" else QUOTE_CONDITIONS


__all__ = ["EXCHANGES", "conditions", "snapshot", "snapshots", "ticks_response"]
