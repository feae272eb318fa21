"""``GET /v2/assets`` and ``GET /v2/assets/{symbol_or_asset_id}``.

The mock trades any well-formed US equity symbol, so any such symbol is an asset: active, tradable,
shortable, easy to borrow and fractionable (what orders accept; whether *this account* may short or trade
fractions is its configuration's business). The list holds the symbols the broker knows (``--symbols`` and
every symbol traded or quoted since). Other asset classes (crypto, options) are not served: their lists are
empty and their symbols unknown.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from tradebridge_mocks.broker.engine import SYMBOL_RE, Refusal, asset_uuid, invalid
from tradebridge_mocks.broker.routes.common import answer, state

EXCHANGE = "NASDAQ"
_STATUSES = ("active", "inactive")
_CLASSES = ("us_equity", "us_option", "crypto")
_EXCHANGES = (
    "AMEX",
    "ARCA",
    "ASCX",
    "BATS",
    "NYSE",
    "NASDAQ",
    "NYSEARCA",
    "FTXU",
    "CBSE",
    "GNSS",
    "ERSX",
    "OTC",
    "CRYPTO",
)


def asset_json(symbol: str) -> dict[str, Any]:
    return {
        "id": asset_uuid(symbol),
        "class": "us_equity",
        "exchange": EXCHANGE,
        "symbol": symbol,
        "name": f"{symbol} (mock)",
        "status": "active",
        "tradable": True,
        "marginable": True,
        "shortable": True,
        "easy_to_borrow": True,
        "fractionable": True,
        "maintenance_margin_requirement": 30,
        "margin_requirement_long": "30",
        "margin_requirement_short": "100",
        "attributes": [],
    }


async def list_assets(request: web.Request) -> web.Response:
    query = request.query
    status = query.get("status")
    asset_class = query.get("asset_class")
    exchange = query.get("exchange")
    if status is not None and status not in _STATUSES:
        raise invalid(f"invalid status: {status!r}")
    if asset_class is not None and asset_class not in _CLASSES:
        raise invalid(f"invalid asset_class: {asset_class!r}")
    if exchange is not None and exchange not in _EXCHANGES:
        raise invalid(f"invalid exchange: {exchange!r}")
    wanted = [a for a in query.get("attributes", "").split(",") if a]
    if status == "inactive" or asset_class not in (None, "us_equity") or exchange not in (None, EXCHANGE):
        return answer([])
    if wanted:  # no mock asset carries an attribute (ptp_no_exception, options_enabled, ...)
        return answer([])
    broker = state(request)
    with broker.engine.lock:
        symbols = sorted(broker.prices.symbols)
    return answer([asset_json(s) for s in symbols])


async def get_asset(request: web.Request) -> web.Response:
    key = request.match_info["symbol"]
    if SYMBOL_RE.match(key):
        return answer(asset_json(key))
    try:
        asset_id = str(uuid.UUID(key))
    except ValueError:
        raise Refusal(404, 40410000, "asset not found") from None
    broker = state(request)
    with broker.engine.lock:
        for symbol in broker.prices.symbols:
            if asset_uuid(symbol) == asset_id:
                return answer(asset_json(symbol))
    raise Refusal(404, 40410000, "asset not found")


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/v2/assets", list_assets)
    router.add_get("/v2/assets/{symbol}", get_asset)
