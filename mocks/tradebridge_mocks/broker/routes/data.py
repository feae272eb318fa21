"""Market data beyond the multi-symbol bars and latest endpoints of :mod:`..server`: historical trades and
quotes, snapshots, the single-symbol variants (``/v2/stocks/{symbol}/...``) and the meta tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from tradebridge_mocks.broker import marketdata, ticks
from tradebridge_mocks.broker.marketdata import bad_request
from tradebridge_mocks.broker.prices import PriceBook
from tradebridge_mocks.broker.routes.common import answer, state

Builder = Callable[[PriceBook, dict[str, str]], dict[str, Any]]


def _multi(build: Builder) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        broker = state(request)
        with broker.engine.lock:
            return answer(build(broker.prices, dict(request.query)))

    return handler


def _single(build: Builder, key: str, latest: bool) -> Callable[[web.Request], Any]:
    """The single-symbol shape: ``{"symbol", "bars": [...], "next_page_token"}`` for a series,
    ``{"symbol", "trade": {...}}`` for a latest value (the multi-symbol answer, reshaped)."""

    async def handler(request: web.Request) -> web.Response:
        symbol = request.match_info["symbol"]
        query = dict(request.query)
        if "symbols" in query:
            raise bad_request("symbols is not a parameter of a single-symbol endpoint")
        query["symbols"] = symbol
        ticks.check_feed(query)
        broker = state(request)
        with broker.engine.lock:
            multi = build(broker.prices, query)
        plural = next(k for k in multi if k != "next_page_token")
        if latest:
            value = multi[plural].get(symbol)
            if value is None:
                raise web.HTTPNotFound(reason="no data for symbol")
            return answer({"symbol": symbol, key: value})
        return answer(
            {
                "symbol": symbol,
                plural: multi[plural].get(symbol, []),
                "next_page_token": multi["next_page_token"],
            }
        )

    return handler


def _latest_bar(prices: PriceBook, query: dict[str, str]) -> dict[str, Any]:
    """The latest live minute bar, or, for a symbol without one yet, the synthetic minute of its quote."""
    answer_ = marketdata.latest_bars(prices, query)
    for symbol in marketdata.parse_symbols(query.get("symbols")):
        if symbol not in answer_["bars"]:
            answer_["bars"][symbol] = ticks.snapshot(prices, symbol, 0)["minuteBar"]
    return answer_


def _trades(prices: PriceBook, query: dict[str, str]) -> dict[str, Any]:
    return ticks.ticks_response(prices, query, "trade")


def _quotes(prices: PriceBook, query: dict[str, str]) -> dict[str, Any]:
    return ticks.ticks_response(prices, query, "quote")


async def single_snapshot(request: web.Request) -> web.Response:
    symbol = request.match_info["symbol"]
    broker = state(request)
    with broker.engine.lock:
        body = ticks.snapshots(broker.prices, {**request.query, "symbols": symbol})
    return answer({"symbol": symbol, **body[symbol]})


async def exchanges(request: web.Request) -> web.Response:
    return answer(ticks.EXCHANGES)


async def conditions(request: web.Request) -> web.Response:
    return answer(ticks.conditions(request.match_info["ticktype"], request.query.get("tape")))


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/v2/stocks/trades", _multi(_trades))
    router.add_get("/v2/stocks/quotes", _multi(_quotes))
    router.add_get("/v2/stocks/snapshots", _multi(ticks.snapshots))
    router.add_get("/v2/stocks/meta/exchanges", exchanges)
    router.add_get("/v2/stocks/meta/conditions/{ticktype}", conditions)
    router.add_get("/v2/stocks/{symbol}/bars", _single(marketdata.bars_response, "bars", latest=False))
    router.add_get("/v2/stocks/{symbol}/trades", _single(_trades, "trades", latest=False))
    router.add_get("/v2/stocks/{symbol}/quotes", _single(_quotes, "quotes", latest=False))
    router.add_get("/v2/stocks/{symbol}/bars/latest", _single(_latest_bar, "bar", latest=True))
    router.add_get(
        "/v2/stocks/{symbol}/trades/latest", _single(marketdata.latest_trades, "trade", latest=True)
    )
    router.add_get(
        "/v2/stocks/{symbol}/quotes/latest", _single(marketdata.latest_quotes, "quote", latest=True)
    )
    router.add_get("/v2/stocks/{symbol}/snapshot", single_snapshot)
