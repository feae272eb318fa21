"""``GET /stream``: Alpaca's trade-updates protocol over the broker's own paper account.

``{"action":"authenticate","data":{"key_id":K,"secret_key":S}}`` (or the newer ``{"action":"auth","key":K,
"secret":S}``) is answered ``{"stream":"authorization","data":{"status":"authorized"|"unauthorized",...}}``;
``{"action":"listen","data":{"streams":["trade_updates"]}}`` is answered ``{"stream":"listening",...}`` and
replaces the listened set (``[]`` stops it). Every order state change of the engine (``new``, ``accepted``,
``partial_fill``, ``fill``, ``canceled``, ``rejected``, ...) becomes a ``trade_updates`` frame whose ``order``
is the REST JSON of that order at that moment (the serializer ``GET /v2/orders/{id}`` uses, called inside
the engine's lock); fills add ``price`` and ``qty`` (this execution's), ``position_qty`` (the position after
it) and an ``execution_id``. Frames are JSON in binary frames, as Alpaca's paper endpoint sends them.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from tradebridge_mocks.broker.streams.codec import DecodeError, decode, encode_json_bytes
from tradebridge_mocks.broker.streams.data import MAX_FRAME, _authorised
from tradebridge_mocks.broker.streams.hub import HUB_KEY, Connection, StreamHub

if TYPE_CHECKING:
    from tradebridge_mocks.broker.engine import Order

KNOWN_STREAMS = ("trade_updates",)


def trade_update(event: str, order: Order, extra: dict[str, str]) -> dict[str, Any]:
    """One ``trade_updates`` message; the caller holds the engine's lock, so ``order`` is a true snapshot."""
    data: dict[str, Any] = {"event": event, "timestamp": order.updated_at or order.created_at}
    if event in ("fill", "partial_fill"):
        # one id per execution, stable for a seed: the order id and the quantity filled so far
        data["execution_id"] = str(uuid.uuid5(uuid.UUID(order.id), f"fill:{order.filled_qty}"))
    data.update(extra)
    data["order"] = order.to_json()
    return {"stream": "trade_updates", "data": data}


class TradingConnection(Connection):
    def __init__(self, hub: StreamHub, request: web.Request, ws: web.WebSocketResponse) -> None:
        super().__init__(hub, "trading", request, ws, binary=True)
        self.streams: set[str] = set()

    def send_json(self, message: dict[str, Any]) -> None:
        self.send(encode_json_bytes(message))

    def send_malformed(self) -> None:
        from tradebridge_mocks.broker.streams.codec import MALFORMED_TEXT

        self.send(MALFORMED_TEXT.encode())

    def ready(self) -> bool:
        return self.listens("trade_updates")

    def listens(self, stream: str) -> bool:
        return self.authenticated and stream in self.streams


def _authorization(status: str, action: str) -> dict[str, Any]:
    return {"stream": "authorization", "data": {"status": status, "action": action}}


def _on_message(hub: StreamHub, conn: TradingConnection, message: Any) -> None:
    action = message.get("action") if isinstance(message, dict) else None
    data = message.get("data") if isinstance(message, dict) else None
    if action in ("authenticate", "auth"):
        assert isinstance(message, dict)
        if action == "auth":
            key, secret = message.get("key"), message.get("secret")
        else:
            key = data.get("key_id") if isinstance(data, dict) else None
            secret = data.get("secret_key") if isinstance(data, dict) else None
        if hub.take_refusal("trading") or not _authorised(hub, key, secret):
            hub.count("trading", "auth_failed")
            conn.send_json(_authorization("unauthorized", "authenticate"))
            return
        conn.authenticated = True
        conn.key = key
        hub.count("trading", "auths")
        conn.send_json(_authorization("authorized", "authenticate"))
    elif action == "listen":
        if not conn.authenticated:
            conn.send_json(_authorization("unauthorized", "listen"))
            return
        streams = data.get("streams") if isinstance(data, dict) else None
        if not isinstance(streams, list) or not all(isinstance(s, str) for s in streams):
            conn.send_json({"stream": "error", "data": {"code": 400, "error_message": "invalid syntax"}})
            hub.count("trading", "error_400")
            return
        conn.streams = {s for s in streams if s in KNOWN_STREAMS}
        conn.send_json({"stream": "listening", "data": {"streams": sorted(conn.streams)}})
    else:
        conn.send_json({"stream": "error", "data": {"code": 400, "error_message": "invalid syntax"}})
        hub.count("trading", "error_400")


async def handle(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, timeout=hub.close_grace)
    if not ws.can_prepare(request).ok:
        return web.json_response({"code": 40010000, "message": "expected a WebSocket upgrade"}, status=400)
    await ws.prepare(request)
    conn = TradingConnection(hub, request, ws)
    hub.register(conn)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + hub.options.auth_timeout
    try:
        while not conn.closed:
            timeout = None if conn.authenticated else max(deadline - loop.time(), 0.0)
            try:
                msg = await ws.receive(timeout)
            except TimeoutError:
                hub.count("trading", "auth_timeout")
                conn.send_json(_authorization("unauthorized", "authenticate"))
                conn.send_error_and_close(404, "auth timeout")
                break
            if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                break
            try:
                message = decode(msg.data)
            except DecodeError:
                message = None
            _on_message(hub, conn, message)
    finally:
        hub.unregister(conn)
        await conn.finish()
    return ws
