"""Guide section "2. ZeroMQ Message Bridge": both directions, Python on one side and our Rust peer
(``bus-peer``, built on the ``tradebridge-bus`` crate) on the other, over real sockets on loopback."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from typing import Any

from tradebridge.testing import free_port, rust_binary

TIMEOUT = 10.0


async def test_python_publisher_to_rust_subscriber() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    # the guide's Rust side: connect to the publisher, subscribe to "signal", decode one Signal
    rust = await asyncio.create_subprocess_exec(
        str(rust_binary("bus-peer")), "subscribe", "--endpoint", endpoint, "--topics", "signal",
        "--count", "1", "--print", "--idle-timeout-ms", "8000",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(TIMEOUT):
            # ---- the guide, verbatim from here (5556 -> a free port) ----
            # fmt: off
            from tradebridge import Signal, ZMQPublisher

            async with ZMQPublisher(endpoint) as pub:
                signal = Signal(
                    symbol="AAPL",
                    direction="long",
                    strength=0.85,
                    timestamp=int(time.time() * 1000),
                    features=[1.0, 2.0, 3.0],
                    metadata={"strategy": "ml-predictor"}
                )
                await pub.publish_signal(signal)
            # fmt: on
            # ---- end of the guide's code ----
            out, err = await rust.communicate()
    finally:
        if rust.returncode is None:
            rust.kill()
            await rust.wait()
    assert rust.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    topic, _, body = lines[0].partition(" ")  # the guide's msg.splitn(2, ' ')
    received = json.loads(body)
    assert topic == "signal"
    assert {
        k: received[k] for k in ("symbol", "direction", "strength", "timestamp", "features", "metadata")
    } == {
        "symbol": "AAPL",
        "direction": "long",
        "strength": 0.85,
        "timestamp": signal.timestamp,
        "features": [1.0, 2.0, 3.0],
        "metadata": {"strategy": "ml-predictor"},
    }
    assert json.loads(lines[-1])["stats"]["received"] == 1


# What the guide's Rust publisher sends: `Message::BarUpdate(bar)` serialized by serde, behind "market ".
BAR_FRAME = (
    'market {"type":"BarUpdate","symbol":"AAPL","open":150.0,"high":152.5,"low":149.5,"close":151.0,'
    '"volume":1000000.0,"timestamp":1234567890}'
)
TRADE_FRAME = (
    'market {"type":"TradeUpdate","symbol":"AAPL","price":151.02,"size":100.0,"timestamp":1234567950}'
)


async def test_rust_publisher_to_python_subscriber() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    # the guide's Rust side: bind a publisher and send a BarUpdate (then a TradeUpdate) on topic "market"
    rust = await asyncio.create_subprocess_exec(
        str(rust_binary("bus-peer")), "publish", "--endpoint", endpoint, "--stdin",
        "--wait-for-subscribers", "1", "--wait-timeout-ms", "8000",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    rust_done = asyncio.ensure_future(rust.communicate(f"{BAR_FRAME}\n{TRADE_FRAME}\n".encode()))
    bars: list[Any] = []
    trades: list[Any] = []
    from tradebridge import ZMQSubscriber

    try:
        async with asyncio.timeout(TIMEOUT):
            # The guide leaves process_bar/process_trade to the reader; these record what arrived and end
            # the guide's endless loop once the trade (the last message) is in.
            sub: ZMQSubscriber

            def process_bar(message: Any) -> None:
                bars.append(message)

            def process_trade(message: Any) -> None:
                trades.append(message)
                sub.stop()

            # ---- the guide, verbatim from here (5555 -> the Rust publisher's free port) ----
            # fmt: off
            async with ZMQSubscriber(endpoint) as sub:
                await sub.connect(["market", "signal"])

                async for topic, message in sub.receive():  # noqa: B007
                    if message["type"] == "BarUpdate":
                        # Process bar update
                        process_bar(message)
                    elif message["type"] == "TradeUpdate":
                        # Process trade
                        process_trade(message)
            # fmt: on
            # ---- end of the guide's code ----
            _out, err = await rust_done
    finally:
        if rust.returncode is None:
            rust.kill()
            await rust.wait()
    assert rust.returncode == 0, err.decode()
    (bar,) = bars
    assert (bar["symbol"], bar["open"], bar["high"], bar["low"], bar["close"]) == (
        "AAPL",
        150.0,
        152.5,
        149.5,
        151.0,
    )
    assert (bar["volume"], bar["timestamp"]) == (1_000_000.0, 1234567890)
    (trade,) = trades
    assert (trade["type"], trade["price"], trade["size"]) == ("TradeUpdate", 151.02, 100.0)
