"""Every stream fault against the unmodified alpaca-py clients: they must survive each one (reconnect after a
drop or a mute, skip a malformed frame, retry a refused auth, wait out a delay)."""

from __future__ import annotations

import inspect
import json
import logging
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
from alpaca.data.live import StockDataStream
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import MarketOrderRequest
from alpaca.trading.stream import TradingStream
from tradebridge_mocks.broker import MockBroker, StreamFault, build_parser, config_from_args

from tests.alpaca.conftest import with_timeout
from tests.mocks.streams.conftest import API_KEY, SECRET_KEY, ClientThread, raw_client, wait_for


def data_client(broker: MockBroker, **options: Any) -> ClientThread:
    stream = StockDataStream(
        API_KEY, SECRET_KEY, raw_data=True, url_override=broker.ws_url + "/v2/iex", **options
    )
    client = ClientThread(stream)
    stream.subscribe_trades(client.handler, "AAPL")
    return client


def trading_client(broker: MockBroker) -> ClientThread:
    stream = TradingStream(API_KEY, SECRET_KEY, raw_data=True, url_override=broker.ws_url + "/stream")
    client = ClientThread(stream)
    stream.subscribe_trade_updates(client.handler)
    return client


def stats(broker: MockBroker, stream: str) -> Counter[str]:
    return Counter(broker.streams.stats()[stream])


def more_than(client: ClientThread, n: int, what: str) -> None:
    client.wait(lambda items: len(items) > n, what=what)


def buy(broker: MockBroker) -> str:
    trading = with_timeout(TradingClient(API_KEY, SECRET_KEY, paper=True, url_override=broker.url))
    return str(
        trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="day")).id
    )


def order_ids(client: ClientThread) -> list[str]:
    return [item["data"]["order"]["id"] for item in client.items()]


# ------------------------------------------------------------------------------------------ market data
def test_data_drop_reconnects(broker: MockBroker) -> None:
    with data_client(broker) as client:
        more_than(client, 0, "trades")
        broker.stream_fault(StreamFault("data", "drop"))
        wait_for(lambda: stats(broker, "data")["connections"] == 2, what="a reconnect")
        count = len(client.items())
        more_than(client, count, "trades after the reconnect")
    assert stats(broker, "data")["fault_drop"] == 1


@pytest.mark.skipif(
    "data_timeout" not in inspect.signature(StockDataStream.__init__).parameters,
    reason="alpaca-py before 0.44 has no data_timeout (its #744)",
)
def test_data_mute_is_detected_by_data_timeout(broker: MockBroker) -> None:
    """A connected-but-mute socket (alpaca-py #740): the client's ``data_timeout`` reconnects."""
    with data_client(broker, data_timeout=0.5) as client:
        more_than(client, 0, "trades")
        broker.stream_fault(StreamFault("data", "mute"))  # until cleared, for the open connection only
        wait_for(lambda: stats(broker, "data")["frames_muted"] > 0, what="muted frames")
        wait_for(lambda: stats(broker, "data")["connections"] == 2, what="the client giving up on it")
        count = len(client.items())
        more_than(client, count, "trades on the new connection")


def test_data_malformed_frame_is_skipped(broker: MockBroker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="alpaca.data.live.websocket")
    with data_client(broker) as client:
        more_than(client, 0, "trades")
        broker.stream_fault(StreamFault("data", "malformed", count=2))
        wait_for(lambda: sum("error during websocket" in r.getMessage() for r in caplog.records) == 2)
        count = len(client.items())
        more_than(client, count, "trades after the bad frames")
    assert stats(broker, "data")["connections"] == 1  # survived on the same socket


def test_data_refused_auth_is_retried(broker: MockBroker) -> None:
    broker.stream_fault(StreamFault("data", "refuse_auth", count=2))
    with data_client(broker) as client:
        more_than(client, 0, "trades once the third auth passes")
    data = stats(broker, "data")
    assert (data["error_402"], data["auth_refused_injected"], data["auths"]) == (2, 2, 1)


def test_data_delay_holds_frames_back(broker: MockBroker) -> None:
    broker.stream_fault(StreamFault("data", "delay", ms=300))
    started = time.monotonic()
    with data_client(broker) as client:
        more_than(client, 0, "trades")
        first = time.monotonic() - started
        broker.stream_fault(StreamFault("data", "clear"))
    # connected, authenticated and the first batch: three frames, each held 300 ms (a lower bound only)
    assert first >= 0.85 and stats(broker, "data")["frames_delayed"] >= 3


# ----------------------------------------------------------------------------------------- trade updates
def test_trading_drop_reconnects_and_updates_resume(broker: MockBroker) -> None:
    with trading_client(broker) as client:
        wait_for(lambda: stats(broker, "trading")["ready"] == 1)
        broker.stream_fault(StreamFault("trading", "drop"))
        wait_for(
            lambda: stats(broker, "trading")["connections"] == 2 and stats(broker, "trading")["ready"] == 1
        )
        order_id = buy(broker)
        client.wait(
            lambda items: order_ids(client).count(order_id) == 2, what="new, fill after the reconnect"
        )


def test_trading_mute_loses_events_until_cleared(broker: MockBroker) -> None:
    with trading_client(broker) as client:
        wait_for(lambda: stats(broker, "trading")["ready"] == 1)
        broker.stream_fault(StreamFault("trading", "mute"))
        lost = buy(broker)
        wait_for(lambda: stats(broker, "trading")["frames_muted"] == 2, what="both events swallowed")
        broker.stream_fault(StreamFault("trading", "clear"))
        seen = buy(broker)
        client.wait(lambda items: order_ids(client).count(seen) == 2, what="events after the mute")
    assert lost not in order_ids(client)  # frames keep their order: had they been sent, they came first


def test_trading_malformed_frame_is_skipped(broker: MockBroker) -> None:
    with trading_client(broker) as client:
        wait_for(lambda: stats(broker, "trading")["ready"] == 1)
        broker.stream_fault(StreamFault("trading", "malformed"))
        order_id = buy(broker)
        client.wait(lambda items: order_ids(client).count(order_id) == 2, what="events after the bad frame")
    assert stats(broker, "trading")["connections"] == 1


def test_trading_refused_auth_is_retried(broker: MockBroker) -> None:
    broker.stream_fault(StreamFault("trading", "refuse_auth", count=2))
    with trading_client(broker) as client:
        wait_for(lambda: stats(broker, "trading")["ready"] == 1, what="listening after two refusals")
        order_id = buy(broker)
        client.wait(lambda items: order_ids(client).count(order_id) == 2)
    trading = stats(broker, "trading")
    assert (trading["auth_failed"], trading["connections"]) == (2, 3)


def test_trading_delay(broker: MockBroker) -> None:
    with trading_client(broker) as client:
        wait_for(lambda: stats(broker, "trading")["ready"] == 1)
        broker.stream_fault(StreamFault("trading", "delay", ms=200))
        started = time.monotonic()
        order_id = buy(broker)
        client.wait(lambda items: order_ids(client).count(order_id) == 2)
        assert time.monotonic() - started >= 0.19  # held 200 ms (a lower bound only)
        assert stats(broker, "trading")["frames_delayed"] == 2


# -------------------------------------------------------------------------------- control and command line
def post(broker: MockBroker, body: Any) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        broker.url + "/admin/streams/faults",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_control_endpoint_plays_and_refuses_faults(broker: MockBroker) -> None:
    with data_client(broker) as client:
        more_than(client, 0, "trades")
        status, body = post(broker, {"stream": "data", "action": "drop", "every_ms": 150})
        assert status == 200 and body["data"]["fault_drop"] == 1
        wait_for(
            lambda: stats(broker, "data")["connections"] >= 3, what="repeated drops, repeated reconnects"
        )
        status, _ = post(broker, {"faults": [{"stream": "data", "action": "clear"}]})
        assert status == 200
        count = len(client.items())
        more_than(client, count + 5, "a steady stream once cleared")
    for bad in (
        {"stream": "quotes", "action": "drop"},
        {"stream": "data", "action": "explode"},
        {"stream": "data", "action": "mute", "ms": -1},
        {"stream": "data", "action": "refuse_auth", "count": "3"},
        {"stream": "data", "action": "delay", "every_ms": 10},
        {"stream": "data", "action": "drop", "extra": 1},
        {"faults": "drop"},
        "drop",
    ):
        status, body = post(broker, bad)
        assert (status, body["code"]) == (400, 40010101), bad


def test_command_line_flags() -> None:
    args = build_parser().parse_args(
        [
            "--stream-interval",
            "0.02",
            "--stream-connection-limit",
            "2",
            "--stream-symbol-limit",
            "0",
            "--stream-auth-timeout",
            "1.5",
            "--stream-fault",
            "data:refuse_auth:count=2",
            "--stream-fault",
            "trading:delay:ms=50",
        ]
    )
    options = config_from_args(args).streams
    assert (options.interval, options.connection_limit, options.symbol_limit, options.auth_timeout) == (
        0.02,
        2,
        0,
        1.5,
    )
    assert options.faults == (
        StreamFault("data", "refuse_auth", count=2),
        StreamFault("trading", "delay", ms=50),
    )
    for bad in ("data", "data:explode", "data:drop:every_ms=x", "video:drop", "data:drop:count"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["--stream-fault", bad])


async def test_the_broker_process_plays_faults_from_its_flags() -> None:
    code = "import sys; from tradebridge_mocks.broker import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--seed", "3", "--stream-fault", "data:refuse_auth:count=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        async with raw_client("ws" + url[4:] + "/v2/test") as client:
            assert (await client.recv())[0]["msg"] == "connected"
            for expected in (
                {"T": "error", "code": 402, "msg": "auth failed"},
                {"T": "success", "msg": "authenticated"},
            ):
                await client.send({"action": "auth", "key": API_KEY, "secret": SECRET_KEY})
                assert await client.recv() == [expected]
            await client.send({"trades": ["FAKEPACA"], "action": "subscribe"})
            await client.recv_until(lambda f: f[0]["T"] == "t" and f[0]["S"] == "FAKEPACA")
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert SECRET_KEY not in stderr


def test_fault_options_are_usable_before_start() -> None:
    options = replace(MockBroker().config.streams, faults=(StreamFault("trading", "refuse_auth"),))
    with MockBroker(streams=options) as broker:
        assert broker.streams.refuse_auth["trading"] == 1
