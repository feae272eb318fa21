"""The HTTP face of the mock broker: Alpaca's trading and market-data REST APIs on one aiohttp origin.

Every ``/v2/...`` request passes, in this order: added latency, authentication (``APCA-API-KEY-ID`` and
``APCA-API-SECRET-KEY``, 401 otherwise), the per-key rate limit (429 with ``X-RateLimit-*`` headers, which
are also sent on every other answer), injected faults (a 5xx either *before* the request is handled, or
*after* it was handled and committed, which is the ambiguous failure that makes idempotent retries matter),
then the handler. ``/admin/...`` routes need no key: they drive the market and the faults in tests.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from tradebridge.health import HttpLimits, body_timeout_middleware

from tradebridge_mocks.broker import marketdata
from tradebridge_mocks.broker.clock import make_clock
from tradebridge_mocks.broker.engine import (
    EngineOptions,
    PaperEngine,
    Refusal,
    decimal_field,
    invalid,
)
from tradebridge_mocks.broker.prices import CENT, DEFAULT_MAX_HISTORY, PriceBook, to_price
from tradebridge_mocks.broker.routes import activities
from tradebridge_mocks.broker.routes.common import json_body
from tradebridge_mocks.broker.streams.options import STREAM_PATHS, StreamOptions

log = logging.getLogger("tradebridge_mocks.broker")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NEW_YORK = ZoneInfo("America/New_York")


@dataclass
class BrokerConfig:
    """Everything ``tradebridge mock-broker`` takes on its command line."""

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 0
    symbols: tuple[str, ...] = ("AAPL", "MSFT", "GOOGL")
    #: requests per minute per API key; 0 disables the limit
    rate_limit: int = 0
    #: length of the rate-limit window in seconds (Alpaca: 60; tests shorten it)
    rate_window: float = 60.0
    latency_ms: float = 0.0
    #: share of ``/v2`` requests answered with an injected 5xx
    error_rate: float = 0.0
    health_port: int = 0
    market_endpoint: str | None = None
    #: seconds between two bars of the broker's own walk; 0 = prices move only through the admin API
    bar_interval: float = 0.0
    #: when set, only this key pair is accepted; otherwise any non-empty pair is (one shared account)
    api_key: str | None = None
    secret_key: str | None = None
    half_spread: Decimal = CENT
    #: bars kept per symbol for the data API and the streams (older ones are let go)
    max_history: int = DEFAULT_MAX_HISTORY
    fill_mode: str = "immediate"
    partial_fill_rate: float = 0.0
    initial_cash: Decimal = Decimal("100000")
    shorting_enabled: bool = True
    #: the WebSocket streams (market data and trade updates): clock, limits, faults
    streams: StreamOptions = field(default_factory=StreamOptions)
    #: ``always-open`` (trade at any hour), ``exchange`` (NYSE sessions and holidays) or ``replay`` (the
    #: bars move the clock); see :mod:`.clock`
    clock: str = "always-open"
    #: freeze the clock at this moment (it then moves by ``POST /admin/clock`` / ``MockBroker.set_time``)
    clock_start: datetime | None = None
    #: what one client may hold: header and body timeouts, sizes, open connections (see ``HttpLimits``)
    http_limits: HttpLimits = field(default_factory=HttpLimits)


@dataclass
class Fault:
    """One scripted failure for the next ``count`` requests matching ``method``/``path``.

    ``status`` is the error answered instead of the real one (0 keeps the real answer); ``when="after"``
    handles (and commits) the request first; ``when="partial"`` makes a bulk delete (``DELETE /v2/orders``,
    ``DELETE /v2/positions``) fail every other item with ``status`` inside its 207 (the rest is done);
    ``delay_ms`` holds the answer back (to trip client timeouts).
    """

    status: int = 503
    when: str = "before"
    method: str | None = None
    path: str | None = None
    count: int = 1
    delay_ms: float = 0.0

    def matches(self, request: web.Request) -> bool:
        return (self.method is None or self.method == request.method) and (
            self.path is None or request.path == self.path
        )


@dataclass
class RequestRecord:
    method: str
    path: str
    status: int
    client_order_id: str | None = None


@dataclass
class _Window:
    start: float
    count: int = 0


@dataclass
class BrokerState:
    config: BrokerConfig
    prices: PriceBook
    engine: PaperEngine
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[RequestRecord] = field(default_factory=list)
    windows: dict[str, _Window] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)

    def advance(self, bars: int = 1, symbols: list[str] | None = None) -> None:
        with self.engine.lock:
            for symbol in symbols or self.prices.symbols:
                self.prices.advance(symbol, bars)
            self.engine.on_prices(symbols)


def make_state(config: BrokerConfig) -> BrokerState:
    prices = PriceBook(
        config.seed, Decimal(str(config.half_spread)), tuple(config.symbols), max_history=config.max_history
    )
    options = EngineOptions(
        seed=config.seed,
        initial_cash=Decimal(str(config.initial_cash)),
        shorting_enabled=config.shorting_enabled,
        fill_mode=config.fill_mode,
        partial_fill_rate=config.partial_fill_rate,
    )
    clock, calendar = make_clock(config.clock, config.clock_start)
    engine = PaperEngine(prices, options, clock, calendar)
    activities.install(engine)
    return BrokerState(config, prices, engine, rng=random.Random(f"faults:{config.seed}"))


STATE_KEY = web.AppKey("state", BrokerState)
CLIENT_ORDER_ID = web.RequestKey("client_order_id", str)
PARTIAL_FAULT = web.RequestKey("partial_fault", Fault)


def _failing(request: web.Request) -> Callable[[int], bool] | None:
    """Every other item of a bulk delete fails while a ``when="partial"`` fault is played."""
    return (lambda index: index % 2 == 1) if PARTIAL_FAULT in request else None


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def _refusal(refusal: Refusal) -> web.Response:
    return _json(refusal.body(), refusal.status)


# --------------------------------------------------------------------------------------------- middleware
@web.middleware
async def alpaca_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    if request.path in STREAM_PATHS:  # streams authenticate in-band
        return await handler(request)
    if not request.path.startswith("/v2/"):
        try:
            return await handler(request)
        except Refusal as refusal:
            return _refusal(refusal)
    config = state.config
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    key = request.headers.get("APCA-API-KEY-ID", "")
    secret = request.headers.get("APCA-API-SECRET-KEY", "")
    authorised = bool(key and secret)
    if config.api_key is not None:
        authorised = authorised and hmac.compare_digest(key, config.api_key)
    if config.secret_key is not None:
        authorised = authorised and hmac.compare_digest(secret, config.secret_key)
    if not authorised:
        return _record(state, request, _json({"message": "unauthorized."}, 401))

    limit_headers: dict[str, str] = {}
    if config.rate_limit:
        now = time.time()
        window = state.windows.get(key)
        if window is None or now >= window.start + config.rate_window:
            window = state.windows[key] = _Window(start=now)
        window.count += 1
        remaining = max(config.rate_limit - window.count, 0)
        limit_headers = {
            "X-RateLimit-Limit": str(config.rate_limit),
            "X-RateLimit-Remaining": str(remaining),
            # epoch seconds, as Alpaca sends; rounded up so a client waiting until then is never early
            "X-RateLimit-Reset": str(math.ceil(window.start + config.rate_window)),
        }
        if window.count > config.rate_limit:
            response = _json({"code": 42910000, "message": "rate limit exceeded"}, 429)
            response.headers.update(limit_headers)
            return _record(state, request, response)

    fault = _take_fault(state, request)
    if fault is not None and fault.when == "partial":
        request[PARTIAL_FAULT] = fault
    if fault is not None and fault.when == "before" and fault.status:
        response = _json({"code": 50010000, "message": "internal server error (injected)"}, fault.status)
    else:
        try:
            response = await handler(request)  # type: ignore[assignment]
        except Refusal as refusal:
            response = _refusal(refusal)
        except web.HTTPException as exc:  # unknown route or method: still Alpaca's error shape
            code = 40410000 if exc.status == 404 else exc.status * 100_000
            response = _json({"code": code, "message": exc.reason.lower()}, exc.status)
            if "Allow" in exc.headers:  # a 405 names the methods the path supports (RFC 9110)
                response.headers["Allow"] = exc.headers["Allow"]
        if fault is not None and fault.status and fault.when == "after":  # took effect, answer lost
            response = _json({"code": 50010000, "message": "internal server error (injected)"}, fault.status)
    if fault is not None and fault.delay_ms:
        await asyncio.sleep(fault.delay_ms / 1000)
    response.headers.update(limit_headers)
    return _record(state, request, response)


def _take_fault(state: BrokerState, request: web.Request) -> Fault | None:
    for fault in state.faults:
        if fault.matches(request):
            fault.count -= 1
            if fault.count <= 0:
                state.faults.remove(fault)
            return fault
    rate = state.config.error_rate
    if rate and state.rng.random() < rate:
        return Fault(
            status=state.rng.choice((500, 502, 503, 504)), when=state.rng.choice(("before", "after"))
        )
    return None


def _record(state: BrokerState, request: web.Request, response: web.Response) -> web.Response:
    coid = request.get(CLIENT_ORDER_ID)
    state.requests.append(RequestRecord(request.method, request.path, response.status, coid))
    if len(state.requests) > 10_000:
        del state.requests[:5_000]
    return response


# ------------------------------------------------------------------------------------------ trading API
async def get_account(request: web.Request) -> web.Response:
    return _json(request.app[STATE_KEY].engine.account_json())


async def post_order(request: web.Request) -> web.Response:
    body = await json_body(request)
    if isinstance(body, dict) and isinstance(body.get("client_order_id"), str):
        request[CLIENT_ORDER_ID] = body["client_order_id"]
    order = request.app[STATE_KEY].engine.submit(body)
    return _json(order.to_json())


def _order_id(request: web.Request) -> str:
    raw = request.match_info["order_id"]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise invalid("order_id is missing or malformed") from None


async def get_order(request: web.Request) -> web.Response:
    return _json(request.app[STATE_KEY].engine.order(_order_id(request)).to_json())


async def get_order_by_client_id(request: web.Request) -> web.Response:
    coid = request.query.get("client_order_id")
    if not coid:
        raise invalid("client_order_id is required")
    return _json(request.app[STATE_KEY].engine.order_by_client_id(coid).to_json())


def _query_time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return datetime.fromtimestamp(marketdata.parse_time(raw, name) / 1000, UTC)
    except Refusal as refusal:
        raise invalid(refusal.message) from None


async def list_orders(request: web.Request) -> web.Response:
    query = request.query
    status = query.get("status", "open")
    direction = query.get("direction", "desc")
    if status not in ("open", "closed", "all"):
        raise invalid(f"invalid status: {status!r}")
    if direction not in ("asc", "desc"):
        raise invalid(f"invalid direction: {direction!r}")
    try:
        limit = int(query.get("limit", 50))
    except ValueError:
        raise invalid("invalid limit") from None
    if not 1 <= limit <= 500:
        raise invalid("limit must be between 1 and 500")
    side = query.get("side")
    if side not in (None, "buy", "sell"):
        raise invalid(f"invalid side: {side!r}")
    symbols = {s for s in query.get("symbols", "").split(",") if s} or None
    nested = query.get("nested", "false").lower()  # alpaca-py sends Python's "True"
    if nested not in ("true", "false"):
        raise invalid(f"invalid nested: {nested!r}")
    engine = request.app[STATE_KEY].engine
    after, until = _query_time(request, "after"), _query_time(request, "until")
    with engine.lock:
        orders = engine.list_orders(status, limit, direction, side, symbols, after, until, nested == "true")
        return _json([o.to_json() for o in orders])


async def cancel_order(request: web.Request) -> web.Response:
    request.app[STATE_KEY].engine.cancel(_order_id(request))
    return web.Response(status=204)


async def cancel_all_orders(request: web.Request) -> web.Response:
    fault = request.get(PARTIAL_FAULT)
    failed = {"code": 50010000, "message": "Failed to cancel order"}
    tried = request.app[STATE_KEY].engine.cancel_all(_failing(request))
    return _json(
        [
            {"id": o.id, "status": 200}
            if not o.is_open or fault is None
            else {"id": o.id, "status": fault.status or 500, "body": failed}
            for o in tried
        ],
        207,
    )


async def list_positions(request: web.Request) -> web.Response:
    return _json(request.app[STATE_KEY].engine.positions_json())


async def get_position(request: web.Request) -> web.Response:
    return _json(request.app[STATE_KEY].engine.position_json(request.match_info["symbol"]))


async def close_position(request: web.Request) -> web.Response:
    query = {k: v for k, v in request.query.items() if k in ("qty", "percentage")}
    qty = decimal_field(query, "qty")
    percentage = decimal_field(query, "percentage")
    order = request.app[STATE_KEY].engine.close(request.match_info["symbol"], qty, percentage)
    return _json(order.to_json())


async def close_all_positions(request: web.Request) -> web.Response:
    raw = request.query.get("cancel_orders", "false").lower()
    if raw not in ("true", "false"):
        raise invalid(f"invalid cancel_orders value: {raw!r}")
    results = request.app[STATE_KEY].engine.close_all(raw == "true", _failing(request))
    return _json([{"symbol": s, "status": status, "body": body} for s, status, body in results], 207)


# -------------------------------------------------------------------------------------- market data API
def _data(build: Callable[[PriceBook, dict[str, str]], dict[str, Any]]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        state = request.app[STATE_KEY]
        with state.engine.lock:
            return _json(build(state.prices, dict(request.query)))

    return handler


# ------------------------------------------------------------------------------------------- admin API
async def _admin_body(request: web.Request) -> dict[str, Any]:
    # body_exists, not can_read_body: the body was already read (under its timeout) by the middleware.
    if not request.body_exists:
        return {}
    body = await request.json()
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body


async def admin_advance(request: web.Request) -> web.Response:
    """``{"bars": n, "symbols": [...]}``: step the seeded walk ``n`` bars and work the open orders."""
    state = request.app[STATE_KEY]
    body = await _admin_body(request)
    state.advance(int(body.get("bars", 1)), body.get("symbols"))
    return _json({s: str(state.prices.last(s)) for s in state.prices.symbols})


async def admin_price(request: web.Request) -> web.Response:
    """``{"symbol": "AAPL", "price": 123.45}``: move the last trade by hand and work the open orders."""
    state = request.app[STATE_KEY]
    body = await _admin_body(request)
    symbol = str(body["symbol"])
    with state.engine.lock:
        state.prices.set_price(symbol, to_price(float(body["price"])))
        state.engine.on_prices([symbol])
    return _json({"symbol": symbol, "price": str(state.prices.last(symbol))})


async def admin_faults(request: web.Request) -> web.Response:
    """``{"faults": [{"status": 503, "when": "after", "method": "POST", "path": "/v2/orders"}],
    "error_rate": 0.1, "latency_ms": 5, "rate_limit": 200}``."""
    state = request.app[STATE_KEY]
    body = await _admin_body(request)
    state.faults.extend(Fault(**f) for f in body.get("faults", []))
    for name in ("error_rate", "latency_ms", "rate_limit"):
        if name in body:
            setattr(state.config, name, body[name])
    return _json({"pending": [asdict(f) for f in state.faults]})


async def admin_reset(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.engine.reset()
    state.faults.clear()
    state.windows.clear()
    state.requests.clear()
    return _json({"account": state.engine.account.id})


async def admin_expire(request: web.Request) -> web.Response:
    """The session's close: every open ``day`` order expires (``expired`` on the trade-updates stream)."""
    expired = request.app[STATE_KEY].engine.expire_day_orders()
    return _json({"expired": [o.id for o in expired]})


async def admin_requests(request: web.Request) -> web.Response:
    return _json([asdict(r) for r in request.app[STATE_KEY].requests])


def build_app(state: BrokerState) -> web.Application:
    from tradebridge_mocks.broker import routes

    limits = state.config.http_limits
    # The body is read (under its timeout) before authentication, so that no handler ever waits on a
    # slow client; aiohttp answers 413 past ``client_max_size`` and 400 past the header field sizes.
    app = web.Application(
        middlewares=[body_timeout_middleware(limits), alpaca_middleware],
        client_max_size=limits.max_body_bytes,
        handler_args=limits.handler_args(),
    )
    app[STATE_KEY] = state
    r = app.router
    r.add_get("/v2/account", get_account)
    r.add_get("/v2/orders", list_orders)
    r.add_post("/v2/orders", post_order)
    r.add_delete("/v2/orders", cancel_all_orders)
    r.add_get("/v2/orders:by_client_order_id", get_order_by_client_id)
    r.add_get("/v2/orders/{order_id}", get_order)
    r.add_delete("/v2/orders/{order_id}", cancel_order)
    r.add_get("/v2/positions", list_positions)
    r.add_delete("/v2/positions", close_all_positions)
    r.add_get("/v2/positions/{symbol}", get_position)
    r.add_delete("/v2/positions/{symbol}", close_position)
    r.add_get("/v2/stocks/bars", _data(marketdata.bars_response))
    r.add_get("/v2/stocks/bars/latest", _data(marketdata.latest_bars))
    r.add_get("/v2/stocks/quotes/latest", _data(marketdata.latest_quotes))
    r.add_get("/v2/stocks/trades/latest", _data(marketdata.latest_trades))
    r.add_post("/admin/advance", admin_advance)
    r.add_post("/admin/price", admin_price)
    r.add_post("/admin/faults", admin_faults)
    r.add_post("/admin/reset", admin_reset)
    r.add_post("/admin/expire", admin_expire)
    r.add_get("/admin/requests", admin_requests)
    routes.register(r)
    return app
