"""The mock broker answers the guide's "last ten days" bar query, whatever today is.

Its live bars follow the seeded walk's own clock (from 2025-01-02), so a window without live bars is served
from a deterministic synthetic history: same seed, symbol, time frame and time, same bar; paginated with
``limit``/``next_page_token`` exactly as Alpaca's bars endpoint is. Checked with the real alpaca-py client.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.models import BarSet
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from tradebridge_mocks.broker import MockBroker

from tests.guide.conftest import API_KEY, SECRET_KEY

END = datetime(2026, 3, 20, 15, 0, tzinfo=UTC)
START = END - timedelta(days=10)


def _bars(url: str, **request: object) -> list[tuple[int, float, float, float, float, float]]:
    client = StockHistoricalDataClient(API_KEY, SECRET_KEY, url_override=url)
    answer = client.get_stock_bars(StockBarsRequest(symbol_or_symbols="AAPL", **request))  # type: ignore[arg-type]
    assert isinstance(answer, BarSet)
    return [
        (int(b.timestamp.timestamp() * 1000), b.open, b.high, b.low, b.close, b.volume)
        for b in answer.data.get("AAPL", [])
    ]


def test_any_window_is_served_paginated_and_deterministic(broker: MockBroker) -> None:
    hourly = _bars(broker.url, timeframe=TimeFrame.Hour, start=START, end=END)
    assert len(hourly) == 10 * 24 + 1  # buckets opening in [start, end], both ends included
    assert [t for t, *_ in hourly] == list(
        range(int(START.timestamp() * 1000), int(END.timestamp() * 1000) + 1, 3_600_000)
    )
    assert all(low <= min(o, c) <= max(o, c) <= high and v > 0 for _, o, high, low, c, v in hourly)
    assert all(prev[4] == nxt[1] for prev, nxt in itertools.pairwise(hourly))  # continuous
    assert len({c for *_, c, _ in hourly}) > 50  # it moves

    # alpaca-py asks for pages of 10000 (Alpaca's maximum) and follows next_page_token: ten days of minute
    # bars are two pages
    served = len(broker.requests)
    minutes = _bars(broker.url, timeframe=TimeFrame.Minute, start=START, end=END)
    assert len(minutes) == 10 * 1440 + 1
    assert [t for t, *_ in minutes] == sorted({t for t, *_ in minutes})
    assert sum(r.path == "/v2/stocks/bars" for r in broker.requests[served:]) == 2
    assert _bars(broker.url, timeframe=TimeFrame.Minute, start=START, limit=12_000) == minutes[:12_000]

    # a bar does not depend on the window that asked for it, nor on a restart of the broker
    inner = _bars(
        broker.url, timeframe=TimeFrame.Hour, start=START + timedelta(days=3), end=START + timedelta(days=4)
    )
    assert inner == hourly[72:97]
    with MockBroker(seed=42, symbols=("AAPL",)) as again:
        assert _bars(again.url, timeframe=TimeFrame.Hour, start=START, end=END) == hourly
    with MockBroker(seed=43, symbols=("AAPL",)) as other_seed:
        assert _bars(other_seed.url, timeframe=TimeFrame.Hour, start=START, end=END) != hourly

    # another time frame is its own series, as long as the window is
    daily = _bars(broker.url, timeframe=TimeFrame(1, TimeFrameUnit.Day), start=START, end=END)
    assert len(daily) == 10


def test_windows_with_live_bars_still_show_exactly_the_live_walk(broker: MockBroker) -> None:
    broker.advance(3, ["AAPL"])
    live = _bars(broker.url, timeframe=TimeFrame.Minute, start=datetime(2025, 1, 1, tzinfo=UTC))
    assert [c for *_, c, _ in live] == [bar.close for bar in broker.state.prices.bars("AAPL")]
