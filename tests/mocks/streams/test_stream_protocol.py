"""The wire protocols frame by frame, with a bare WebSocket client: JSON and msgpack encodings, every error
reply with Alpaca's code, the subscription bookkeeping, the trade-updates handshake."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import aiohttp
import msgpack
import pytest
from tradebridge_mocks.broker import MockBroker

from tests.mocks.streams.conftest import API_KEY, FAST, SECRET_KEY, RawClient, raw_client

AUTH = {"action": "auth", "key": API_KEY, "secret": SECRET_KEY}
CHANNELS = {
    "trades",
    "quotes",
    "bars",
    "updatedBars",
    "dailyBars",
    "statuses",
    "lulds",
    "corrections",
    "cancelErrors",
}
RFC3339_NS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


@pytest.fixture
def strict() -> Iterator[MockBroker]:
    """Keys pinned, two symbols per connection, a short auth timeout."""
    options = replace(FAST, symbol_limit=2, auth_timeout=0.3)
    with MockBroker(
        seed=2, symbols=("AAPL", "MSFT", "GOOGL"), api_key=API_KEY, secret_key=SECRET_KEY, streams=options
    ) as running:
        yield running


async def session(client: RawClient) -> None:
    assert await client.recv() == [{"T": "success", "msg": "connected"}]
    await client.send(AUTH)
    assert await client.recv() == [{"T": "success", "msg": "authenticated"}]


def is_error(code: int) -> Any:
    return lambda frame: isinstance(frame, list) and frame[0].get("T") == "error" and frame[0]["code"] == code


async def test_json_session_transcript(broker: MockBroker) -> None:
    async with raw_client(broker.ws_url + "/v2/iex") as client:
        await session(client)
        await client.send({"trades": ["AAPL"], "quotes": ["*"], "action": "subscribe"})
        subscription = await client.recv()
        assert subscription[0]["T"] == "subscription" and set(subscription[0]) - {"T"} == CHANNELS
        assert subscription[0]["trades"] == ["AAPL"] and subscription[0]["quotes"] == ["*"]
        assert subscription[0]["corrections"] == subscription[0]["cancelErrors"] == ["AAPL"]  # implied
        msg = await client.ws.receive(5)
    assert msg.type == aiohttp.WSMsgType.TEXT  # no msgpack header: JSON text frames
    frame = json.loads(msg.data)
    trade = next(p for p in frame if p["T"] == "t")
    assert list(trade)[:2] == ["T", "S"] and trade["S"] == "AAPL" and RFC3339_NS.match(trade["t"])
    assert trade["p"] == float(broker.state.prices.last("AAPL"))
    assert {p["S"] for p in frame if p["T"] == "q"} == {"AAPL", "MSFT"}


async def test_msgpack_session_uses_timestamp_extensions(broker: MockBroker) -> None:
    async with raw_client(broker.ws_url + "/v2/iex", binary=True) as client:
        await session(client)
        await client.send({"quotes": ["MSFT"], "action": "subscribe"})
        await client.recv_until(lambda f: f[0]["T"] == "subscription")
        msg = await client.ws.receive(5)
    assert msg.type == aiohttp.WSMsgType.BINARY
    (quote,) = msgpack.unpackb(msg.data)
    assert quote["T"] == "q" and isinstance(quote["t"], msgpack.Timestamp)
    assert (quote["bp"], quote["ap"]) == tuple(
        float(p) for p in (broker.state.prices.quote("MSFT").bid, broker.state.prices.quote("MSFT").ask)
    )


async def test_error_replies_carry_alpacas_codes(strict: MockBroker) -> None:
    url = strict.ws_url + "/v2/iex"
    async with raw_client(url) as client:
        assert (await client.recv())[0]["msg"] == "connected"
        await client.send({"trades": ["AAPL"], "action": "subscribe"})
        assert await client.recv() == [{"T": "error", "code": 401, "msg": "not authenticated"}]
        await client.send({"action": "auth", "key": API_KEY, "secret": "wrong"})
        assert await client.recv() == [{"T": "error", "code": 402, "msg": "auth failed"}]
        await client.send(AUTH)
        assert (await client.recv())[0]["msg"] == "authenticated"
        await client.send(AUTH)
        assert await client.recv() == [{"T": "error", "code": 403, "msg": "already authenticated"}]
        await client.send({"trades": ["AAPL", "MSFT", "GOOGL"], "action": "subscribe"})
        assert await client.recv() == [{"T": "error", "code": 405, "msg": "symbol limit exceeded"}]
        for bad in (
            {"action": "dance"},
            {"orderbooks": ["AAPL"], "action": "subscribe"},
            {"trades": "AAPL", "action": "subscribe"},
            {"trades": [7], "action": "subscribe"},
            [1, 2],
        ):
            await client.send(bad)
            assert await client.recv() == [{"T": "error", "code": 400, "msg": "invalid syntax"}]
        await client.ws.send_bytes(b"\xc1\xc1")  # neither msgpack nor JSON
        assert await client.recv() == [{"T": "error", "code": 400, "msg": "invalid syntax"}]
        await client.send({"trades": ["AAPL", "MSFT"], "bars": ["*"], "action": "subscribe"})
        assert (await client.recv())[0]["trades"] == ["AAPL", "MSFT"]  # two symbols: within the limit


async def test_auth_timeout_is_404_then_close(strict: MockBroker) -> None:
    async with raw_client(strict.ws_url + "/v2/sip") as client:
        assert (await client.recv())[0]["msg"] == "connected"
        assert await client.recv() == [{"T": "error", "code": 404, "msg": "auth timeout"}]
        closing = await client.recv()
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert strict.streams.counters["data"]["error_404"] == 1


async def test_connection_limit_is_per_key_across_feeds(broker: MockBroker) -> None:
    async with raw_client(broker.ws_url + "/v2/iex") as first:
        await session(first)
        async with raw_client(broker.ws_url + "/v2/sip") as second:
            await second.recv()
            await second.send(AUTH)
            assert await second.recv() == [{"T": "error", "code": 406, "msg": "connection limit exceeded"}]
            assert (await second.recv()).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        async with raw_client(broker.ws_url + "/v2/sip") as other_key:
            await other_key.recv()
            await other_key.send({**AUTH, "key": "PKOTHERKEY"})
            assert (await other_key.recv())[0]["msg"] == "authenticated"
    async with raw_client(broker.ws_url + "/v2/sip") as again:  # the slot is free once the first left
        await session(again)


async def test_unsubscribe_takes_effect_from_the_reply_on(broker: MockBroker) -> None:
    async with raw_client(broker.ws_url + "/v2/iex") as client:
        await session(client)
        await client.send({"quotes": ["AAPL", "MSFT"], "action": "subscribe"})
        await client.recv_until(lambda f: any(p.get("S") == "MSFT" for p in f))
        await client.send({"quotes": ["MSFT"], "action": "unsubscribe"})
        reply = await client.recv_until(lambda f: f[0]["T"] == "subscription")
        assert reply[0]["quotes"] == ["AAPL"]
        for _ in range(5):  # frames are in order: nothing for MSFT after the reply
            assert {p["S"] for p in await client.recv()} == {"AAPL"}


async def test_slow_client_gets_407() -> None:
    """A reader that stops reading while a wide subscription floods it: its queue passes the bound."""
    symbols = [f"S{i:03d}" for i in range(200)]
    options = replace(FAST, interval=0.005, symbol_limit=0, slow_client_bytes=256 * 1024)
    with MockBroker(seed=1, symbols=tuple(symbols), streams=options) as broker:
        async with raw_client(broker.ws_url + "/v2/iex") as client:
            await session(client)
            await client.send({"trades": ["*"], "quotes": ["*"], "action": "subscribe"})
            for _ in range(200):  # not reading: the kernel buffers fill, then the mock's queue
                await asyncio.sleep(0.05)
                if broker.streams.counters["data"]["error_407"]:
                    break
            assert broker.streams.counters["data"]["error_407"] == 1
            await client.recv_until(is_error(407), timeout=10)  # after what was already in flight
            assert (await client.recv()).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_stream_paths_need_an_upgrade_not_rest_keys(broker: MockBroker) -> None:
    async with aiohttp.ClientSession() as http, http.get(broker.url + "/v2/iex") as answer:
        assert answer.status == 400 and (await answer.json())["code"] == 40010000


# --------------------------------------------------------------------------------------- trade updates
async def test_trade_updates_handshake(strict: MockBroker) -> None:
    async with raw_client(strict.ws_url + "/stream") as client:
        await client.send({"action": "listen", "data": {"streams": ["trade_updates"]}})
        assert await client.recv() == {
            "stream": "authorization",
            "data": {"status": "unauthorized", "action": "listen"},
        }
        await client.send({"action": "authenticate", "data": {"key_id": API_KEY, "secret_key": "nope"}})
        assert (await client.recv())["data"]["status"] == "unauthorized"
        await client.send({"action": "auth", "key": API_KEY, "secret": SECRET_KEY})  # the newer form
        assert (await client.recv())["data"] == {"status": "authorized", "action": "authenticate"}
        await client.send({"action": "listen", "data": {"streams": ["trade_updates", "nonsense"]}})
        assert await client.recv() == {"stream": "listening", "data": {"streams": ["trade_updates"]}}


async def test_listen_nothing_stops_the_updates(broker: MockBroker) -> None:
    async with raw_client(broker.ws_url + "/stream") as client:
        await client.send({"action": "authenticate", "data": {"key_id": API_KEY, "secret_key": SECRET_KEY}})
        assert (await client.recv())["data"]["status"] == "authorized"
        await client.send({"action": "listen", "data": {"streams": []}})
        assert (await client.recv())["data"]["streams"] == []
        await asyncio.to_thread(submit, broker, "AAPL")  # while not listening: not for this client
        await client.send({"action": "listen", "data": {"streams": ["trade_updates"]}})
        assert (await client.recv())["stream"] == "listening"
        order_id = await asyncio.to_thread(submit, broker, "MSFT")
        update = await client.recv()
        assert update["stream"] == "trade_updates" and update["data"]["order"]["id"] == order_id
        assert update["data"]["event"] == "new"


async def test_trade_updates_auth_timeout(strict: MockBroker) -> None:
    async with raw_client(strict.ws_url + "/stream") as client:
        assert (await client.recv())["data"]["status"] == "unauthorized"
        assert (await client.recv()) == {
            "stream": "error",
            "data": {"code": 404, "error_message": "auth timeout"},
        }
        assert (await client.recv()).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


def submit(broker: MockBroker, symbol: str) -> str:
    order = broker.state.engine.submit(
        {"symbol": symbol, "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}
    )
    return str(order.id)
