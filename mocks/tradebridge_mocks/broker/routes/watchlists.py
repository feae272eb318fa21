"""Watchlists: ``/v2/watchlists`` (list, create), ``/v2/watchlists/{id}`` (get, update, add a symbol, delete),
``/v2/watchlists/{id}/{symbol}`` (remove a symbol), and the same by name through ``/v2/watchlists:by_name``
(``?name=``) and ``/v2/watchlists:by_name/{symbol}``.

As Alpaca: names are unique per account (422 otherwise) and at most 64 characters; a symbol appears once in a
watchlist (422 when added twice); the list omits ``assets``, every other answer carries them; deleting a
watchlist answers 204, removing a symbol answers the watchlist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tradebridge_mocks.broker.engine import SYMBOL_RE, PaperEngine, Refusal, invalid
from tradebridge_mocks.broker.routes.assets import asset_json
from tradebridge_mocks.broker.routes.common import answer, json_body, state

MAX_NAME = 64
MAX_SYMBOLS = 1000


@dataclass
class Watchlist:
    id: str
    account_id: str
    name: str
    created_at: str
    updated_at: str
    symbols: list[str] = field(default_factory=list)

    def to_json(self, with_assets: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "account_id": self.account_id,
            "name": self.name,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if with_assets:
            body["assets"] = [asset_json(s) for s in self.symbols]
        return body


def _name(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME:
        raise invalid(f"name must be a string of 1 to {MAX_NAME} characters")
    return value


def _symbols(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_SYMBOLS:
        raise invalid(f"symbols must be a list of at most {MAX_SYMBOLS} symbols")
    for symbol in value:
        _symbol(symbol)
    if len(set(value)) != len(value):
        raise invalid("symbols must not repeat")
    return list(value)


def _symbol(value: Any) -> str:
    if not isinstance(value, str) or not SYMBOL_RE.match(value):
        raise invalid(f'asset "{value}" not found')
    return value


def _lists(engine: PaperEngine) -> dict[str, Watchlist]:
    return engine.account.watchlists


def _by_id(engine: PaperEngine, raw: str) -> Watchlist:
    try:
        key = str(uuid.UUID(raw))
    except ValueError:
        raise Refusal(404, 40410000, "watchlist not found") from None
    found = _lists(engine).get(key)
    if found is None:
        raise Refusal(404, 40410000, "watchlist not found")
    return found


def _by_name(engine: PaperEngine, request: web.Request) -> Watchlist:
    name = request.query.get("name")
    if not name:
        raise invalid("name is required")
    for watchlist in _lists(engine).values():
        if watchlist.name == name:
            return watchlist
    raise Refusal(404, 40410000, "watchlist not found")


def _check_unique(engine: PaperEngine, name: str, keep: Watchlist | None = None) -> None:
    if any(w.name == name and w is not keep for w in _lists(engine).values()):
        raise invalid(f'watchlist name "{name}" must be unique')


def _find(engine: PaperEngine, request: web.Request) -> Watchlist:
    if "watchlist_id" in request.match_info:
        return _by_id(engine, request.match_info["watchlist_id"])
    return _by_name(engine, request)


async def list_watchlists(request: web.Request) -> web.Response:
    engine = state(request).engine
    with engine.lock:
        return answer([w.to_json(with_assets=False) for w in _lists(engine).values()])


async def create_watchlist(request: web.Request) -> web.Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    name, symbols = _name(body.get("name")), _symbols(body.get("symbols", []))
    engine = state(request).engine
    with engine.lock:
        _check_unique(engine, name)
        stamp = engine.stamp()
        watchlist = Watchlist(str(uuid.uuid4()), engine.account.id, name, stamp, stamp, symbols)
        _lists(engine)[watchlist.id] = watchlist
        return answer(watchlist.to_json())


async def get_watchlist(request: web.Request) -> web.Response:
    engine = state(request).engine
    with engine.lock:
        return answer(_find(engine, request).to_json())


async def update_watchlist(request: web.Request) -> web.Response:
    body = await json_body(request)
    if not isinstance(body, dict) or not ("name" in body or "symbols" in body):
        raise invalid("one of name or symbols is required")
    name = _name(body["name"]) if "name" in body else None
    symbols = _symbols(body["symbols"]) if "symbols" in body else None
    engine = state(request).engine
    with engine.lock:
        watchlist = _find(engine, request)
        if name is not None:
            _check_unique(engine, name, keep=watchlist)
            watchlist.name = name
        if symbols is not None:
            watchlist.symbols = symbols
        watchlist.updated_at = engine.stamp()
        return answer(watchlist.to_json())


async def add_symbol(request: web.Request) -> web.Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    symbol = _symbol(body.get("symbol"))
    engine = state(request).engine
    with engine.lock:
        watchlist = _find(engine, request)
        if symbol in watchlist.symbols:
            raise invalid(f"{symbol} is already in the watchlist")
        if len(watchlist.symbols) >= MAX_SYMBOLS:
            raise invalid(f"a watchlist holds at most {MAX_SYMBOLS} symbols")
        watchlist.symbols.append(symbol)
        watchlist.updated_at = engine.stamp()
        return answer(watchlist.to_json())


async def remove_symbol(request: web.Request) -> web.Response:
    symbol = request.match_info["symbol"]
    engine = state(request).engine
    with engine.lock:
        watchlist = _find(engine, request)
        if symbol not in watchlist.symbols:
            raise Refusal(404, 40410000, f"{symbol} is not in the watchlist")
        watchlist.symbols.remove(symbol)
        watchlist.updated_at = engine.stamp()
        return answer(watchlist.to_json())


async def delete_watchlist(request: web.Request) -> web.Response:
    engine = state(request).engine
    with engine.lock:
        del _lists(engine)[_find(engine, request).id]
    return web.Response(status=204)


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/v2/watchlists", list_watchlists)
    router.add_post("/v2/watchlists", create_watchlist)
    for base in ("/v2/watchlists:by_name", "/v2/watchlists/{watchlist_id}"):
        router.add_get(base, get_watchlist)
        router.add_put(base, update_watchlist)
        router.add_post(base, add_symbol)
        router.add_delete(base, delete_watchlist)
    router.add_delete("/v2/watchlists:by_name/{symbol}", remove_symbol)
    router.add_delete("/v2/watchlists/{watchlist_id}/{symbol}", remove_symbol)
