"""``GET /v2/{iex,sip,test}``: Alpaca's real-time market-data protocol, printed from the broker's own market.

Session: ``[{"T":"success","msg":"connected"}]`` on accept, then ``auth``, then ``subscribe`` /
``unsubscribe`` (``*`` = every symbol the broker knows). Frames are msgpack (timestamps as msgpack
Timestamps) when the upgrade carried ``Content-Type: application/msgpack`` (alpaca-py always sends it), JSON
text otherwise. Each tick prints, per subscribed symbol, the current last trade (``t``) and quote (``q``) of
the broker's :class:`PriceBook`: the trade is what ``/v2/stocks/trades/latest`` answers (same price, same
time) and the quote's ask/bid are the prices a market buy/sell fills at, at that moment. Bars (``b``) are the
bars that reached the price book since the last tick (the broker's bar clock, the admin API or the bus), with
the ``n``/``vw`` REST gives them; a bar replaced in place is an updated bar (``u``); each bar also moves the
running daily bar (``d``). Times are the price book's simulated clock, as in the REST answers.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import random
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from tradebridge_mocks.broker.streams.codec import DecodeError, Stamp, decode, encode
from tradebridge_mocks.broker.streams.hub import HUB_KEY, Connection, StreamHub

if TYPE_CHECKING:
    from tradebridge_mocks.broker.prices import Bar
    from tradebridge_mocks.broker.server import BrokerState

log = logging.getLogger("tradebridge_mocks.broker.streams")

#: the channels of a stock subscription, in the order Alpaca's subscription message lists them
CHANNELS = (
    "trades",
    "quotes",
    "bars",
    "updatedBars",
    "dailyBars",
    "statuses",
    "lulds",
    "corrections",
    "cancelErrors",
)
_IMPLIED = ("corrections", "cancelErrors")  # follow trades, never subscribed on their own
MAX_FRAME = 1024 * 1024  # Alpaca's (and alpaca-py's) message size bound
TEST_SYMBOL = "FAKEPACA"


def _error(code: int, msg: str) -> list[dict[str, Any]]:
    return [{"T": "error", "code": code, "msg": msg}]


class DataConnection(Connection):
    def __init__(
        self,
        hub: StreamHub,
        request: web.Request,
        ws: web.WebSocketResponse,
        binary: bool,
        feed: str,
    ) -> None:
        super().__init__(hub, "data", request, ws, binary)
        self.feed = feed
        self.subscriptions: dict[str, set[str]] = {channel: set() for channel in CHANNELS}

    def reply(self, message: Any) -> None:
        self.send(encode(message, self.binary))

    def ready(self) -> bool:
        return self.authenticated and self.has_subscriptions()

    def has_subscriptions(self) -> bool:
        return any(self.subscriptions[c] for c in CHANNELS if c not in _IMPLIED)

    def wants(self, channel: str, symbol: str) -> bool:
        symbols = self.subscriptions[channel]
        return symbol in symbols or "*" in symbols

    def symbols(self) -> set[str]:
        """Explicit symbols of every channel ("*" is resolved by the tape)."""
        return set().union(*self.subscriptions.values())

    def send_batch(self, batch: dict[str, list[tuple[str, dict[str, Any]]]]) -> None:
        out = [
            message
            for symbol, items in batch.items()
            for channel, message in items
            if self.wants(channel, symbol)
        ]
        if out:
            self.count_points(len(out))
            self.send(encode(out, self.binary))

    def count_points(self, n: int) -> None:
        self.hub.count("data", "points_sent", n)

    def subscription_message(self) -> list[dict[str, Any]]:
        return [{"T": "subscription", **{c: sorted(self.subscriptions[c]) for c in CHANNELS}}]


class MarketTape:
    """Turns the price book into stream points: the same trade and quote the REST API answers, new bars."""

    def __init__(self, state: BrokerState) -> None:
        self.state = state
        self._rng = random.Random(f"stream:{state.config.seed}")
        self._trade_ids: dict[str, int] = {}
        # per symbol: how many bars were already printed, and the last one (a replaced bar is an update)
        self._seen: dict[str, tuple[int, Bar | None]] = {}

    def observe_only(self) -> None:
        """Nobody listens: remember where the bars are, so the first subscriber gets new bars only."""
        with self.state.engine.lock:
            for symbol in self.state.prices.symbols:
                self._observe(symbol)

    def _observe(self, symbol: str) -> tuple[list[Bar], Bar | None]:
        """The bars appended since the last look, and the last bar if it was replaced in place since."""
        bars = self.state.prices.bars(symbol)
        total = self.state.prices.bars_seen(symbol)  # absolute: the oldest bars may have been let go
        now = (total, bars[-1] if bars else None)
        seen, last = self._seen.get(symbol, now)
        self._seen[symbol] = now
        if total > seen:
            return bars[-min(total - seen, len(bars)) :], None
        if bars and last is not None and bars[-1] is not last:
            return [], bars[-1]
        return [], None

    def tick(self, subscribers: Iterable[DataConnection]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """This tick's points of every symbol someone subscribed to, as ``(channel, point)`` per symbol."""
        prices = self.state.prices
        with self.state.engine.lock:
            wanted: set[str] = set()
            for connection in subscribers:
                wanted |= connection.symbols()
            if "*" in wanted:
                wanted |= set(prices.symbols)
            wanted.discard("*")
            for symbol in prices.symbols:  # keep every symbol's bar count current, printed or not
                if symbol not in wanted:
                    self._observe(symbol)
            return {symbol: self._points(symbol) for symbol in sorted(wanted)}

    def _points(self, symbol: str) -> list[tuple[str, dict[str, Any]]]:
        from tradebridge_mocks.broker.marketdata import aggregate

        items: list[tuple[str, dict[str, Any]]] = []
        new_bars, updated = self._observe(symbol)
        for bar in new_bars:
            (point,) = aggregate([bar], "1Min")  # the n/vw REST gives the same bar
            items.append(("bars", self._bar("b", symbol, point)))
        if updated is not None:
            (point,) = aggregate([updated], "1Min")
            items.append(("updatedBars", self._bar("u", symbol, point)))
        if new_bars or updated is not None:
            items.append(("dailyBars", self._daily(symbol)))
        quote = self.state.prices.quote(symbol)
        stamp = Stamp.from_ms(quote.timestamp_ms)
        trade_id = self._trade_ids[symbol] = self._trade_ids.get(symbol, 0) + 1
        trade = {
            "T": "t",
            "S": symbol,
            "i": trade_id,
            "x": "V",
            "p": float(quote.last),
            "s": self._rng.randint(1, 500),
            "c": ["@"],
            "z": "C",
            "t": stamp,
        }
        quote_point = {
            "T": "q",
            "S": symbol,
            "bx": "V",
            "bp": float(quote.bid),
            "bs": 1,
            "ax": "V",
            "ap": float(quote.ask),
            "as": 1,
            "c": ["R"],
            "z": "C",
            "t": stamp,
        }
        items.append(("trades", trade))
        items.append(("quotes", quote_point))
        return items

    @staticmethod
    def _bar(kind: str, symbol: str, point: dict[str, Any]) -> dict[str, Any]:
        bar = {"T": kind, "S": symbol}  # T first: the Go SDK rejects a map that does not start with it
        bar.update({k: point[k] for k in ("o", "h", "l", "c", "v")})
        return {**bar, "t": Stamp.from_ms(point["t"]), "n": point["n"], "vw": point["vw"]}

    def _daily(self, symbol: str) -> dict[str, Any]:
        """The running daily bar (UTC day, as REST's ``1Day``) of a symbol that has bars."""
        from tradebridge_mocks.broker.marketdata import aggregate

        bars = self.state.prices.bars(symbol)
        day_ms = 86_400_000
        day = bars[-1].timestamp_ms // day_ms
        start = len(bars)
        while start > 0 and bars[start - 1].timestamp_ms // day_ms == day:  # from the end: the history grows
            start -= 1
        (point,) = aggregate(bars[start:], "1Day")
        return self._bar("d", symbol, point)


# ------------------------------------------------------------------------------------------ the session
def _authorised(hub: StreamHub, key: Any, secret: Any) -> bool:
    if not isinstance(key, str) or not isinstance(secret, str) or not key or not secret:
        return False
    config = hub.state.config
    ok = True
    if config.api_key is not None:
        ok = hmac.compare_digest(key, config.api_key)
    if config.secret_key is not None:
        ok = hmac.compare_digest(secret, config.secret_key) and ok
    return ok


def _on_auth(hub: StreamHub, conn: DataConnection, message: dict[str, Any]) -> None:
    if conn.authenticated:
        conn.reply(_error(403, "already authenticated"))
        hub.count("data", "error_403")
        return
    if hub.take_refusal("data") or not _authorised(hub, message.get("key"), message.get("secret")):
        conn.reply(_error(402, "auth failed"))
        hub.count("data", "error_402")
        return
    key = message["key"]
    limit = hub.options.connection_limit
    if limit and hub.keys[key] >= limit:
        hub.count("data", "error_406")
        conn.send_error_and_close(406, "connection limit exceeded")
        return
    hub.keys[key] += 1
    conn.key = key
    conn.authenticated = True
    hub.count("data", "auths")
    conn.reply([{"T": "success", "msg": "authenticated"}])


def _channel_symbols(message: dict[str, Any]) -> dict[str, list[str]] | None:
    """The channels of a (un)subscribe message, or None when it is not Alpaca's syntax."""
    from tradebridge_mocks.broker.engine import SYMBOL_RE

    out: dict[str, list[str]] = {}
    for name, value in message.items():
        if name == "action":
            continue
        if name not in CHANNELS or name in _IMPLIED:
            return None
        if not isinstance(value, list) or not all(
            isinstance(s, str) and (s == "*" or SYMBOL_RE.match(s)) for s in value
        ):
            return None
        out[name] = value
    return out


def _on_subscription(hub: StreamHub, conn: DataConnection, message: dict[str, Any], subscribe: bool) -> None:
    if not conn.authenticated:
        conn.reply(_error(401, "not authenticated"))
        hub.count("data", "error_401")
        return
    channels = _channel_symbols(message)
    if channels is None:
        conn.reply(_error(400, "invalid syntax"))
        hub.count("data", "error_400")
        return
    updated = {c: set(s) for c, s in conn.subscriptions.items()}
    for channel, symbols in channels.items():
        if subscribe:
            updated[channel] |= set(symbols)
        else:
            updated[channel] -= set(symbols)
    limit = hub.options.symbol_limit
    if limit and len(updated["trades"] | updated["quotes"]) > limit:
        conn.reply(_error(405, "symbol limit exceeded"))
        hub.count("data", "error_405")
        return
    updated["corrections"] = set(updated["trades"])
    updated["cancelErrors"] = set(updated["trades"])
    conn.subscriptions = updated
    with hub.state.engine.lock:  # a symbol the broker did not know starts its walk now (FAKEPACA too)
        for symbol in conn.symbols() - {"*"}:
            hub.state.prices.touch(symbol)
    hub.tape.observe_only()
    conn.reply(conn.subscription_message())


async def handle(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, timeout=hub.close_grace)
    if not ws.can_prepare(request).ok:
        return web.json_response({"code": 40010000, "message": "expected a WebSocket upgrade"}, status=400)
    binary = "msgpack" in request.headers.get("Content-Type", "").lower()
    await ws.prepare(request)
    conn = DataConnection(hub, request, ws, binary, request.path.rsplit("/", 1)[-1])
    hub.register(conn)
    conn.reply([{"T": "success", "msg": "connected"}])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + hub.options.auth_timeout
    try:
        while not conn.closed:
            timeout = None if conn.authenticated else max(deadline - loop.time(), 0.0)
            try:
                msg = await ws.receive(timeout)
            except TimeoutError:
                hub.count("data", "error_404")
                conn.send_error_and_close(404, "auth timeout")
                break
            if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                break  # close, closing, error: the client is gone
            try:
                message = decode(msg.data)
            except DecodeError:
                message = None
            action = message.get("action") if isinstance(message, dict) else None
            if action == "auth":
                assert isinstance(message, dict)
                _on_auth(hub, conn, message)
            elif action in ("subscribe", "unsubscribe"):
                assert isinstance(message, dict)
                _on_subscription(hub, conn, message, action == "subscribe")
            else:
                conn.reply(_error(400, "invalid syntax"))
                hub.count("data", "error_400")
    finally:
        hub.unregister(conn)
        await conn.finish()
    return ws
