"""The market-data stream seen through the unmodified alpaca-py ``StockDataStream`` (both ``raw_data`` modes):
what it prints is the market the REST API quotes and the engine fills at."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgpack
import pytest
from alpaca.data.enums import DataFeed
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.live import StockDataStream
from alpaca.data.models import Bar, Quote, Trade
from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest, StockLatestTradeRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import MarketOrderRequest
from tradebridge_mocks.broker import MockBroker
from tradebridge_mocks.broker.prices import Bar as PriceBar
from tradebridge_mocks.broker.streams.data import DataConnection

from tests.alpaca.conftest import with_timeout
from tests.mocks.streams.conftest import API_KEY, SECRET_KEY, ClientThread, wait_for


def data_stream(broker: MockBroker, raw: bool, path: str = "/v2/iex", **options: Any) -> StockDataStream:
    return StockDataStream(API_KEY, SECRET_KEY, raw_data=raw, url_override=broker.ws_url + path, **options)


def symbol_of(item: Any) -> str:
    return str(item["S"] if isinstance(item, dict) else item.symbol)


@pytest.mark.parametrize("raw", [False, True], ids=["models", "raw"])
def test_trades_quotes_and_bars_reach_alpaca_py(broker: MockBroker, raw: bool) -> None:
    stream = data_stream(broker, raw)
    client = ClientThread(stream)
    stream.subscribe_trades(client.tagged("trade"), "AAPL")
    stream.subscribe_quotes(client.tagged("quote"), "*")
    stream.subscribe_bars(client.tagged("bar"), "AAPL", "MSFT")
    stream.subscribe_daily_bars(client.tagged("daily"), "AAPL")

    def seen(items: list[tuple[str, object]]) -> set[tuple[str, str]]:
        return {(channel, symbol_of(item)) for channel, item in items}

    with client:
        client.wait(lambda items: seen(items) >= {("trade", "AAPL"), ("quote", "AAPL"), ("quote", "MSFT")})
        broker.advance(2)  # two new one-minute bars of the seeded walk
        client.wait(lambda items: sum(c == "bar" for c, _ in items) >= 4, what="bars")
        client.wait(lambda items: sum(c == "daily" for c, _ in items) >= 1, what="the daily bar")
        items = client.items()
    assert {symbol_of(i) for c, i in items if c == "trade"} == {"AAPL"}  # subscribed to AAPL only
    expected = {"trade": Trade, "quote": Quote, "bar": Bar, "daily": Bar}
    for channel, item in items:
        if raw:
            assert isinstance(item, dict) and next(iter(item)) == "T"  # T first, as Alpaca (and the Go SDK)
            assert isinstance(item["t"], msgpack.Timestamp)  # ext type -1, not a string
        else:
            assert isinstance(item, expected[channel])
    aapl = [i for c, i in items if c == "bar" and symbol_of(i) == "AAPL"]
    walk = broker.state.prices.bars("AAPL")[-2:]
    assert len(aapl) == 2
    for printed, bar in zip(aapl, walk, strict=True):
        if raw:
            assert isinstance(printed, dict)
            assert printed["t"].to_unix_nano() == bar.timestamp_ms * 1_000_000
            ohlcv = (printed["o"], printed["h"], printed["l"], printed["c"], printed["v"])
            assert ohlcv == (bar.open, bar.high, bar.low, bar.close, bar.volume)
            assert printed["n"] == 1 and printed["vw"] is not None
        else:
            assert isinstance(printed, Bar)
            assert printed.timestamp.timestamp() * 1000 == bar.timestamp_ms
            ohlcv = (printed.open, printed.high, printed.low, printed.close, printed.volume)
            assert ohlcv == (bar.open, bar.high, bar.low, bar.close, bar.volume)
            assert printed.trade_count == 1 and printed.vwap is not None
    daily = [i for c, i in items if c == "daily"][-1]
    day_close = daily["c"] if isinstance(daily, dict) else daily.close
    assert day_close == walk[-1].close  # the running daily bar closes at the latest minute bar


def test_bars_equal_the_rest_bars(broker: MockBroker) -> None:
    stream = data_stream(broker, raw=False)
    client = ClientThread(stream)
    stream.subscribe_bars(client.handler, "*")
    with client:
        wait_for(lambda: broker.streams.stats()["data"]["ready"] == 1, what="subscription")
        broker.advance(1)
        client.wait(lambda items: len(items) >= 2, what="one bar per symbol")
        printed = {b.symbol: b for b in client.items()}
    rest = with_timeout(StockHistoricalDataClient(API_KEY, SECRET_KEY, url_override=broker.url))
    answer = rest.get_stock_bars(
        StockBarsRequest(symbol_or_symbols=["AAPL", "MSFT"], timeframe=TimeFrame.Minute)
    )
    for symbol in ("AAPL", "MSFT"):
        assert printed[symbol] == answer[symbol][-1]  # the same pydantic model, field for field


def test_a_printed_trade_is_what_rest_answers_and_where_orders_fill(broker: MockBroker) -> None:
    stream = data_stream(broker, raw=False)
    client = ClientThread(stream)
    stream.subscribe_trades(client.handler, "AAPL")
    stream.subscribe_quotes(client.handler, "AAPL")
    with client:
        broker.set_price("AAPL", 187.5)
        trade, quote = client.wait(
            lambda items: (
                (
                    next((i for i in reversed(items) if isinstance(i, Trade) and i.price == 187.5), None),
                    next(
                        (i for i in reversed(items) if isinstance(i, Quote) and i.bid_price == 187.49), None
                    ),
                )
                if any(isinstance(i, Trade) and i.price == 187.5 for i in items)
                and any(isinstance(i, Quote) and i.bid_price == 187.49 for i in items)
                else None
            ),
            what="the new price on the stream",
        )
    data = with_timeout(StockHistoricalDataClient(API_KEY, SECRET_KEY, url_override=broker.url))
    latest = data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="AAPL"))["AAPL"]
    assert (latest.price, latest.timestamp) == (trade.price, trade.timestamp)
    rest_quote = data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="AAPL"))["AAPL"]
    assert (rest_quote.bid_price, rest_quote.ask_price) == (quote.bid_price, quote.ask_price)
    trading = with_timeout(TradingClient(API_KEY, SECRET_KEY, paper=True, url_override=broker.url))
    buy = trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=2, side="buy", time_in_force="day"))
    sell = trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=2, side="sell", time_in_force="day"))
    assert Decimal(buy.filled_avg_price) == Decimal(str(quote.ask_price))  # market buys fill at the ask
    assert Decimal(sell.filled_avg_price) == Decimal(str(quote.bid_price))


@pytest.mark.parametrize("path", ["/v2/sip", "/v2/test"])
def test_the_other_feeds(broker: MockBroker, path: str) -> None:
    """``/v2/sip`` serves what ``/v2/iex`` does; ``/v2/test`` prints Alpaca's test symbol FAKEPACA."""
    symbol = "FAKEPACA" if path == "/v2/test" else "MSFT"
    stream = data_stream(broker, raw=False, path=path, feed=DataFeed.SIP)
    client = ClientThread(stream)
    stream.subscribe_trades(client.handler, symbol)
    with client:
        client.wait(lambda items: len(items) >= 3, what="trades")
    assert {t.symbol for t in client.items()} == {symbol}


def test_unsubscribe_from_alpaca_py(broker: MockBroker) -> None:
    stream = data_stream(broker, raw=True)
    client = ClientThread(stream)
    stream.subscribe_quotes(client.handler, "AAPL", "MSFT")
    with client:
        client.wait(lambda items: {i["S"] for i in items} == {"AAPL", "MSFT"}, what="both symbols")
        stream.unsubscribe_quotes("MSFT")  # sent over the running socket
        (connection,) = broker.streams.connections["data"]
        assert isinstance(connection, DataConnection)
        wait_for(lambda: connection.subscriptions["quotes"] == {"AAPL"}, what="unsubscribed")


def test_a_second_connection_with_the_same_key_gets_406(broker: MockBroker) -> None:
    first = ClientThread(data_stream(broker, raw=True))
    second = ClientThread(data_stream(broker, raw=True))
    first.stream.subscribe_trades(first.handler, "AAPL")
    second.stream.subscribe_trades(second.handler, "AAPL")
    with first:
        first.wait(lambda items: len(items) >= 1, what="first connection's trades")
        with second:
            wait_for(lambda: broker.streams.counters["data"]["error_406"] >= 2, what="406 replies")
            assert not second.items()  # refused at auth, retrying with backoff
            assert broker.streams.stats()["data"]["authenticated"] == 1
        count = len(first.items())
        first.wait(lambda items: len(items) > count, what="the first connection unharmed")


def test_a_bar_corrected_in_place_is_an_updated_bar(broker: MockBroker) -> None:
    """A bar re-sent for the same minute (the bus can do that) replaces the first one: ``u``, as Alpaca
    corrects the last minute bar after late trades."""
    stream = data_stream(broker, raw=True)
    client = ClientThread(stream)
    stream.subscribe_updated_bars(client.tagged("updated"), "MSFT")
    stream.subscribe_bars(client.tagged("bar"), "MSFT")
    with client:
        wait_for(lambda: broker.streams.stats()["data"]["ready"] == 1, what="subscription")
        last = broker.state.prices.bars("MSFT")[-1]
        corrected = PriceBar(
            last.timestamp_ms, last.open, last.high + 1, last.low, last.close + 1, last.volume + 7
        )
        with broker.state.engine.lock:
            broker.state.prices.apply_bar("MSFT", corrected)
        channel, update = client.wait(lambda items: items and items[0], what="the updated bar")
    assert channel == "updated" and update["T"] == "u"
    assert update["t"].to_unix_nano() == last.timestamp_ms * 1_000_000
    assert (update["h"], update["c"], update["v"]) == (last.high + 1, last.close + 1, last.volume + 7)
    assert [c for c, _ in client.items()] == ["updated"]  # not a new bar
