"""Alpaca market-data JSON (``/v2/stocks/...``) built from the broker's :class:`PriceBook`.

Only the multi-symbol shapes alpaca-py uses: ``{"bars": {SYM: [...]}, "next_page_token": ...}`` and
``{"quotes": {SYM: {...}}}``. Bars carry the ``n`` and ``vw`` keys alpaca-py requires. Longer time frames
are aggregated from the one-minute walk; ``limit`` counts bars across all symbols, as Alpaca does, and a
``next_page_token`` is returned whenever the answer stops early. A window (with a ``start``) that holds no
live bar of a symbol is answered from the deterministic synthetic history of :mod:`.history`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, overload

from tradebridge_mocks.broker import history
from tradebridge_mocks.broker.engine import Refusal
from tradebridge_mocks.broker.prices import Bar, PriceBook

_TIMEFRAME_RE = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D|Week|W|Month|M)$")
_UNIT_MS = {"Min": 60_000, "T": 60_000, "Hour": 3_600_000, "H": 3_600_000, "Day": 86_400_000, "D": 86_400_000}
_UNIT_MS |= {"Week": 7 * 86_400_000, "W": 7 * 86_400_000}
_MAX_AMOUNT = {"Min": 59, "T": 59, "Hour": 23, "H": 23, "Day": 1, "D": 1, "Week": 1, "W": 1}
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1_000


def bad_request(message: str) -> Refusal:
    return Refusal(400, 40010001, message)


def iso_ms(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_time(value: str, name: str) -> int:
    """An RFC 3339 timestamp (what alpaca-py sends: ``2024-01-01T00:00:00+00:00``) in epoch milliseconds.

    A ``+`` that arrived unescaped in a query string was decoded as a space; it is read back as ``+``.
    """
    text = value.replace(" ", "+")
    match = _RFC3339_RE.match(text)
    if not match:
        raise bad_request(f"invalid {name}: {value!r} is not an RFC 3339 timestamp")
    fraction = (match.group(7) or "")[:7]  # datetime keeps microseconds
    second = min(int(match.group(6)), 59)  # a leap second reads as :59
    zone = match.group(8).upper().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(
            f"{match.group(1)}-{match.group(2)}-{match.group(3)}T{match.group(4)}:{match.group(5)}:"
            f"{second:02d}{fraction}{zone}"
        )
    except ValueError:
        raise bad_request(f"invalid {name}: {value!r} is not an RFC 3339 timestamp") from None
    return int(parsed.timestamp() * 1000)


def parse_symbols(raw: str | None) -> list[str]:
    from tradebridge_mocks.broker.engine import SYMBOL_RE

    if not raw:
        raise bad_request("missing symbols")
    symbols = [s for s in raw.split(",") if s]
    for symbol in symbols:
        if not SYMBOL_RE.match(symbol):
            raise bad_request(f"invalid symbol: {symbol!r}")
    return list(dict.fromkeys(symbols))


def _bucket_key(timestamp_ms: int, unit: str, amount: int) -> int:
    if unit in ("Month", "M"):
        moment = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
        month = (moment.year * 12 + moment.month - 1) // amount * amount
        return int(datetime(month // 12, month % 12 + 1, 1, tzinfo=UTC).timestamp() * 1000)
    size = _UNIT_MS[unit] * amount
    return timestamp_ms // size * size


def aggregate(bars: list[Bar], timeframe: str) -> list[dict[str, Any]]:
    match = _TIMEFRAME_RE.match(timeframe)
    if not match:
        raise bad_request(f"invalid timeframe: {timeframe!r}")
    amount, unit = int(match.group(1)), match.group(2)
    if (
        amount < 1
        or (unit in _MAX_AMOUNT and amount > _MAX_AMOUNT[unit])
        or (unit in ("Month", "M") and amount not in (1, 2, 3, 6, 12))
    ):
        raise bad_request(f"invalid timeframe: {timeframe!r}")
    out: list[dict[str, Any]] = []
    current_key: int | None = None
    notional = 0.0
    for bar in bars:
        key = _bucket_key(bar.timestamp_ms, unit, amount)
        typical = (bar.high + bar.low + bar.close) / 3
        if key != current_key:
            if out:
                out[-1]["vw"] = round(notional / out[-1]["v"], 4) if out[-1]["v"] else None
            current_key = key
            notional = 0.0
            out.append(
                {"t": key, "o": bar.open, "h": bar.high, "l": bar.low, "c": bar.close, "v": 0.0, "n": 0}
            )
        agg = out[-1]
        agg["h"] = max(agg["h"], bar.high)
        agg["l"] = min(agg["l"], bar.low)
        agg["c"] = bar.close
        agg["v"] += bar.volume
        agg["n"] += 1
        notional += typical * bar.volume
    if out:
        out[-1]["vw"] = round(notional / out[-1]["v"], 4) if out[-1]["v"] else None
    return out


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        prefix, _, number = text.partition(":")
        if prefix != "offset":
            raise ValueError(text)
        return int(number)
    except ValueError:
        raise bad_request("invalid page_token") from None


def bars_response(prices: PriceBook, query: dict[str, str]) -> dict[str, Any]:
    symbols = parse_symbols(query.get("symbols"))
    timeframe = query.get("timeframe")
    if not timeframe:
        raise bad_request("missing timeframe")
    # present but empty is invalid, not absent: the contract says date-time (schemathesis sends ``start=``)
    start = parse_time(query["start"], "start") if "start" in query else None
    end = parse_time(query["end"], "end") if "end" in query else None
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise bad_request("invalid limit") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_request(f"invalid limit: must be between 1 and {MAX_LIMIT}")
    sort = query.get("sort", "asc")
    if sort not in ("asc", "desc"):
        raise bad_request(f"invalid sort: {sort!r}")
    descending = sort == "desc"
    offset = decode_token(query["page_token"]) if "page_token" in query else 0

    series = [
        (symbol, symbol_series(prices, symbol, timeframe, start, end, descending)) for symbol in symbols
    ]
    page, token = paginate(series, offset, limit)
    return {"bars": page, "next_page_token": token}


def symbol_series(
    prices: PriceBook, symbol: str, timeframe: str, start: int | None, end: int | None, descending: bool
) -> Sequence[dict[str, Any]]:
    """A symbol's bars in a window: its live bars there, or, when it has none there and a start was given,
    the synthetic history of that window (built lazily: only the page's bars are generated)."""
    live = [
        bar
        for bar in aggregate(prices.bars(symbol), timeframe)
        if (start is None or bar["t"] >= start) and (end is None or bar["t"] <= end)
    ]
    if live or start is None:
        return live[::-1] if descending else live
    window_end = int(datetime.now(UTC).timestamp() * 1000) if end is None else end
    return _SyntheticSeries(prices.market.seed, symbol, timeframe, start, window_end, descending)


def paginate(
    series: list[tuple[str, Sequence[dict[str, Any]]]], offset: int, limit: int
) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
    """One page of items across symbols (``limit`` counts across them, as Alpaca does), ``t`` as RFC 3339."""
    out: dict[str, list[dict[str, Any]]] = {}
    skip, room, total = offset, limit, 0
    for symbol, items in series:
        total += len(items)
        taken = items[skip : skip + room] if room else []
        skip = max(skip - len(items), 0)
        room -= len(taken)
        for item in taken:
            out.setdefault(symbol, []).append({**item, "t": iso_ms(item["t"])})
    more = offset + limit < total
    return out, _encode_token(offset + limit) if more else None


class _SyntheticSeries(Sequence[dict[str, Any]]):
    """The synthetic bars of one symbol over a window, generated only when indexed or sliced."""

    def __init__(
        self, seed: int, symbol: str, timeframe: str, start_ms: int, end_ms: int, descending: bool
    ) -> None:
        match = _TIMEFRAME_RE.match(timeframe)
        assert match  # aggregate() above already refused anything else
        self._seed, self._symbol = seed, symbol
        self._frame = history.frame_of(int(match.group(1)), match.group(2))
        buckets = self._frame.window(start_ms, end_ms)
        self._buckets = buckets[::-1] if descending else buckets

    def __len__(self) -> int:
        return len(self._buckets)

    @overload
    def __getitem__(self, item: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, item: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, item: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(item, slice):
            return [self._bar(i) for i in self._buckets[item]]
        return self._bar(self._buckets[item])

    def _bar(self, bucket: int) -> dict[str, Any]:
        return history.synthetic_bar(self._seed, self._symbol, self._frame, bucket)


def latest_quotes(prices: PriceBook, query: dict[str, str]) -> dict[str, Any]:
    quotes = {}
    for symbol in parse_symbols(query.get("symbols")):
        quote = prices.quote(symbol)
        quotes[symbol] = {
            "t": iso_ms(quote.timestamp_ms),
            "ax": "V",
            "ap": float(quote.ask),
            "as": 1,
            "bx": "V",
            "bp": float(quote.bid),
            "bs": 1,
            "c": ["R"],
            "z": "C",
        }
    return {"quotes": quotes}


def latest_trades(prices: PriceBook, query: dict[str, str]) -> dict[str, Any]:
    trades = {}
    for symbol in parse_symbols(query.get("symbols")):
        quote = prices.quote(symbol)
        trades[symbol] = {
            "t": iso_ms(quote.timestamp_ms),
            "x": "V",
            "p": float(quote.last),
            "s": 100,
            "c": ["@"],
            "i": prices.bars_seen(symbol),
            "z": "C",
        }
    return {"trades": trades}


def latest_bars(prices: PriceBook, query: dict[str, str]) -> dict[str, Any]:
    bars = {}
    for symbol in parse_symbols(query.get("symbols")):
        history = prices.bars(symbol)
        if history:
            (bar,) = aggregate(history[-1:], "1Min")
            bars[symbol] = {**bar, "t": iso_ms(bar["t"])}
    return {"bars": bars}
