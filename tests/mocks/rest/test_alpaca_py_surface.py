"""Every public method of alpaca-py's ``TradingClient`` and ``StockHistoricalDataClient`` that concerns
stocks, called unmodified with realistic arguments against the mock: none may fail. A method alpaca-py adds
later fails :func:`test_every_public_method_is_called_or_excluded` until it is called here or excluded."""

from __future__ import annotations

import inspect
from datetime import UTC, date, datetime, timedelta
from typing import Any

from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import (
    StockBarsRequest,
    StockLatestBarRequest,
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
    StockQuotesRequest,
    StockSnapshotRequest,
    StockTradesRequest,
)
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import AssetClass, OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    ClosePositionRequest,
    CreateWatchlistRequest,
    GetAssetsRequest,
    GetCalendarRequest,
    GetOrderByIdRequest,
    GetOrdersRequest,
    GetPortfolioHistoryRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopOrderRequest,
    TrailingStopOrderRequest,
    UpdateWatchlistRequest,
)
from tradebridge_mocks.broker import MockBroker

#: not stocks (or deprecated and warning): out of the mock's scope, as the README says
EXCLUDED = {
    "exercise_options_position": "options",
    "get_option_contract": "options",
    "get_option_contracts": "options",
    "get_corporate_announcements": "deprecated by alpaca-py (warns); corporate actions are not simulated",
    "get_corporate_announcement_by_id": "deprecated by alpaca-py (warns); corporate actions not simulated",
}
#: the generic verbs every client inherits (they are how the methods below reach the mock)
GENERIC = {"get", "post", "put", "patch", "delete", "response_wrapper"}


def public_methods(cls: type) -> set[str]:
    return {n for n, _ in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")} - GENERIC


def run_trading_surface(trading: TradingClient, broker: MockBroker) -> set[str]:
    called: set[str] = set()

    def call(name: str, *args: Any) -> Any:
        called.add(name)
        return getattr(trading, name)(*args)

    last = float(broker.state.prices.last("AAPL"))
    call("get_account")
    call("get_clock")
    call("get_calendar", GetCalendarRequest(start=date(2026, 1, 1), end=date(2026, 1, 31)))
    call("get_all_assets", GetAssetsRequest(asset_class=AssetClass.US_EQUITY))
    call("get_asset", "AAPL")
    config = call("get_account_configurations")
    call("set_account_configurations", config)
    bought = call(
        "submit_order",
        MarketOrderRequest(symbol="AAPL", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY),
    )
    call(
        "submit_order",
        MarketOrderRequest(symbol="MSFT", notional=500, side=OrderSide.BUY, time_in_force=TimeInForce.DAY),
    )
    limit = call(
        "submit_order",
        LimitOrderRequest(
            symbol="AAPL",
            qty=2,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            limit_price=round(last * 0.9, 2),
            client_order_id="surface-limit",
        ),
    )
    stop = call(
        "submit_order",
        StopOrderRequest(
            symbol="AAPL",
            qty=3,
            side=OrderSide.SELL,
            time_in_force=TimeInForce.GTC,
            stop_price=round(last * 0.8, 2),
        ),
    )
    call(
        "submit_order",
        TrailingStopOrderRequest(
            symbol="AAPL", qty=2, side=OrderSide.SELL, time_in_force=TimeInForce.DAY, trail_percent=5
        ),
    )
    call("get_orders", GetOrdersRequest(status=QueryOrderStatus.ALL, limit=100, symbols=["AAPL", "MSFT"]))
    call("get_order_by_id", bought.id, GetOrderByIdRequest(nested=True))
    call("get_order_by_client_id", "surface-limit")
    replaced = call(
        "replace_order_by_id", limit.id, ReplaceOrderRequest(qty=3, limit_price=round(last * 0.91, 2))
    )
    call("cancel_order_by_id", replaced.id)
    call("cancel_order_by_id", stop.id)
    call("get_all_positions")
    call("get_open_position", "AAPL")
    call("close_position", "AAPL", ClosePositionRequest(qty="1"))
    call("get_portfolio_history", GetPortfolioHistoryRequest(period="1W", timeframe="1H"))
    watchlist = call("create_watchlist", CreateWatchlistRequest(name="surface", symbols=["AAPL"]))
    call("get_watchlists")
    call("get_watchlist_by_id", watchlist.id)
    call("add_asset_to_watchlist_by_id", watchlist.id, "MSFT")
    call("remove_asset_from_watchlist_by_id", watchlist.id, "AAPL")
    call("update_watchlist_by_id", watchlist.id, UpdateWatchlistRequest(name="renamed"))
    call("delete_watchlist_by_id", watchlist.id)
    call("cancel_orders")
    call("close_all_positions", True)
    return called


def run_data_surface(data: StockHistoricalDataClient) -> set[str]:
    start = datetime.now(UTC) - timedelta(days=3)
    symbols = ["AAPL", "MSFT"]
    data.get_stock_bars(StockBarsRequest(symbol_or_symbols=symbols, timeframe=TimeFrame.Hour, start=start))
    data.get_stock_trades(StockTradesRequest(symbol_or_symbols=symbols, start=start, limit=500))
    data.get_stock_quotes(
        StockQuotesRequest(symbol_or_symbols="AAPL", start=start, end=start + timedelta(hours=1))
    )
    data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols=symbols))
    data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="AAPL"))
    data.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols=symbols))
    data.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=symbols))
    return {
        "get_stock_bars",
        "get_stock_trades",
        "get_stock_quotes",
        "get_stock_latest_trade",
        "get_stock_latest_quote",
        "get_stock_latest_bar",
        "get_stock_snapshot",
    }


def test_every_public_method_is_called_or_excluded(
    trading: TradingClient, data: StockHistoricalDataClient, broker: MockBroker
) -> None:
    called = run_trading_surface(trading, broker)
    assert public_methods(TradingClient) == called | set(EXCLUDED)
    assert public_methods(StockHistoricalDataClient) == run_data_surface(data)
    # the run left the account flat and every request answered without a server error
    assert trading.get_all_positions() == [] and trading.get_orders() == []
    assert not [r for r in broker.requests if r.status >= 500]


def test_the_surface_also_runs_on_an_exchange_clock(exchange: MockBroker) -> None:
    from tests.mocks.rest.conftest import client_for

    exchange.set_time(datetime(2026, 3, 2, 10, 0, tzinfo=UTC) + timedelta(hours=5))  # 10:00 New York
    run_trading_surface(client_for(exchange), exchange)
