"""The REST routes beyond the core orders/positions/market-data set of :mod:`..server`, one module per
concern; :func:`register` adds them all to the application's router."""

from __future__ import annotations

from aiohttp import web

from tradebridge_mocks.broker.routes import (
    account,
    activities,
    assets,
    calendar,
    data,
    orders,
    portfolio,
    watchlists,
)


def register(router: web.UrlDispatcher) -> None:
    for module in (orders, account, activities, assets, calendar, data, portfolio, watchlists):
        module.register(router)
