"""Market data through the unmodified ``StockHistoricalDataClient``: trades and quotes that agree with the
bars, pagination counted across symbols, snapshots; single-symbol and meta endpoints over raw HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import (
    StockBarsRequest,
    StockQuotesRequest,
    StockSnapshotRequest,
    StockTradesRequest,
)
from alpaca.data.timeframe import TimeFrame
from tradebridge_mocks.broker import MockBroker

from tests.mocks.rest.conftest import call

LIVE_START = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)  # where the seeded walk's bars begin


def test_trades_and_quotes_agree_with_the_bars(data: StockHistoricalDataClient, broker: MockBroker) -> None:
    bars = data.get_stock_bars(
        StockBarsRequest(symbol_or_symbols="AAPL", timeframe=TimeFrame.Minute, start=LIVE_START)
    )
    trades = data.get_stock_trades(StockTradesRequest(symbol_or_symbols="AAPL", start=LIVE_START))
    quotes = data.get_stock_quotes(StockQuotesRequest(symbol_or_symbols="AAPL", start=LIVE_START))
    minutes = bars["AAPL"]
    assert len(minutes) == 3 and len(trades["AAPL"]) == 12 and len(quotes["AAPL"]) == 12
    for i, bar in enumerate(minutes):
        prints = trades["AAPL"][4 * i : 4 * i + 4]
        assert prints[0].price == bar.open and prints[-1].price == bar.close
        assert max(t.price for t in prints) == bar.high and min(t.price for t in prints) == bar.low
        assert all(bar.timestamp <= t.timestamp < bar.timestamp + timedelta(minutes=1) for t in prints)
    spread = [round(q.ask_price - q.bid_price, 2) for q in quotes["AAPL"]]
    assert set(spread) == {0.02}
    assert trades["AAPL"][-1].price == float(broker.state.prices.last("AAPL"))


def test_pages_count_across_symbols(data: StockHistoricalDataClient, broker: MockBroker) -> None:
    status, first = call(
        broker, "GET", "/v2/stocks/trades?symbols=AAPL,MSFT&limit=10&start=2025-01-02T14:30:00Z"
    )
    assert status == 200 and len(first["trades"]["AAPL"]) == 10 and "MSFT" not in first["trades"]
    token = first["next_page_token"]
    status, second = call(
        broker,
        "GET",
        f"/v2/stocks/trades?symbols=AAPL,MSFT&limit=10&page_token={token}&start=2025-01-02T14:30:00Z",
    )
    assert len(second["trades"]["AAPL"]) == 2 and len(second["trades"]["MSFT"]) == 8
    everything = data.get_stock_trades(
        StockTradesRequest(symbol_or_symbols=["AAPL", "MSFT"], start=LIVE_START)
    )
    assert {s: len(v) for s, v in everything.data.items()} == {
        "AAPL": 12,
        "MSFT": 12,
    }  # alpaca-py followed pages
    status, body = call(broker, "GET", "/v2/stocks/quotes?symbols=AAPL&page_token=bm90LWEtdG9rZW4=")
    assert (status, body["code"]) == (400, 40010001)


def test_history_outside_the_live_window_is_synthetic_and_stable(data: StockHistoricalDataClient) -> None:
    start = datetime(2024, 6, 3, 14, 0, tzinfo=UTC)
    request = StockTradesRequest(
        symbol_or_symbols="MSFT", start=start, end=start + timedelta(minutes=9), limit=20
    )
    once = data.get_stock_trades(request)["MSFT"]
    again = data.get_stock_trades(request)["MSFT"]
    assert len(once) == 20 and [t.price for t in once] == [t.price for t in again]


def test_snapshots(data: StockHistoricalDataClient, broker: MockBroker) -> None:
    snaps = data.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=["AAPL", "MSFT"]))
    aapl = snaps["AAPL"]
    assert aapl.latest_trade is not None and aapl.latest_trade.price == float(
        broker.state.prices.last("AAPL")
    )
    assert aapl.latest_quote is not None and aapl.latest_quote.ask_price == float(
        broker.state.prices.quote("AAPL").ask
    )
    assert aapl.minute_bar is not None and aapl.minute_bar.close == aapl.latest_trade.price
    assert aapl.daily_bar is not None and aapl.previous_daily_bar is not None
    assert aapl.previous_daily_bar.timestamp < aapl.daily_bar.timestamp
    status, single = call(broker, "GET", "/v2/stocks/AAPL/snapshot")
    assert (
        status == 200 and single["symbol"] == "AAPL" and single["latestTrade"]["p"] == aapl.latest_trade.price
    )


def test_single_symbol_and_meta_endpoints(broker: MockBroker) -> None:
    status, bars = call(broker, "GET", "/v2/stocks/AAPL/bars?timeframe=1Min&limit=2")
    assert status == 200 and bars["symbol"] == "AAPL" and len(bars["bars"]) == 2 and bars["next_page_token"]
    for kind, key in (("trades", "trade"), ("quotes", "quote"), ("bars", "bar")):
        status, latest = call(broker, "GET", f"/v2/stocks/AAPL/{kind}/latest")
        assert status == 200 and latest["symbol"] == "AAPL" and key in latest
        status, series = call(
            broker, "GET", f"/v2/stocks/AAPL/{kind}?timeframe=1Min&start=2025-01-02T14:30:00Z"
        )
        assert status == 200 and len(series[kind]) in (3, 12)
    assert call(broker, "GET", "/v2/stocks/meta/exchanges")[1]["V"] == "IEX"
    assert call(broker, "GET", "/v2/stocks/meta/conditions/trade?tape=C")[1]["@"] == "Regular Sale"
    assert call(broker, "GET", "/v2/stocks/meta/conditions/trade")[0] == 400
    assert call(broker, "GET", "/v2/stocks/meta/conditions/news?tape=A")[0] == 400
    assert call(broker, "GET", "/v2/stocks/trades?symbols=AAPL&feed=premium")[0] == 400
