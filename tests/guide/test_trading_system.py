"""Guide section "End-to-End Integration Example", "Complete Trading System Flow".

The guide's ``trading_system()`` runs as written between real parts: the mock publisher (a subprocess)
streams seeded BarUpdates, the mock broker follows the same bars and fills the orders, and our Rust bus peer
plays the execution engine receiving the signals. Only the ports change, ``your_ml_model`` is a stand-in, and
the subscriber's ``receive()`` ends after a fixed number of bars so the guide's endless loop (and the test)
ends.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import tradebridge
from tradebridge.testing import free_port, rust_binary
from tradebridge_mocks.broker import MockBroker
from tradebridge_mocks.market import Market, RandomWalk

from tests.guide.conftest import use_broker

BARS = 9
SEED = 7
#: the stand-in model's answers, bar after bar: a buy signal, nothing, a short signal (no order)
PREDICTIONS = (0.9, 0.2, -0.8)
#: (bar index, prediction) of the bars on which the guide's code sends a signal
STRONG = [(i, p) for i in range(BARS) if abs(p := PREDICTIONS[i % len(PREDICTIONS)]) > 0.7]


class StandInModel:
    """``your_ml_model``: records the features it is shown and answers ``PREDICTIONS`` in turn."""

    def __init__(self) -> None:
        self.seen: list[list[float]] = []
        self._answers = itertools.cycle(PREDICTIONS)

    def predict(self, features: list[float]) -> float:
        self.seen.append(features)
        return next(self._answers)


async def test_complete_trading_system_flow(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    market_endpoint = f"tcp://127.0.0.1:{free_port()}"
    signal_endpoint = f"tcp://127.0.0.1:{free_port()}"
    publishers: list[tradebridge.ZMQPublisher] = []
    subscribers: list[tradebridge.ZMQSubscriber] = []

    class ZMQPublisher(tradebridge.ZMQPublisher):
        """The real publisher, remembered so the test can wait for its subscriber and close it."""

        def __init__(self, endpoint: str) -> None:
            super().__init__(endpoint)
            publishers.append(self)

    class ZMQSubscriber(tradebridge.ZMQSubscriber):
        """The real subscriber whose ``receive()`` ends after ``BARS`` messages (the guide's never ends)."""

        def __init__(self, endpoint: str) -> None:
            super().__init__(endpoint)
            subscribers.append(self)

        async def receive(self) -> AsyncIterator[tuple[str, Any]]:
            async for item in first(super().receive(), BARS):
                yield item

    from tradebridge import AlpacaPaperTrading, MarketBar, OrderType, RustFeatureComputer, Signal

    your_ml_model = StandInModel()
    with MockBroker(
        seed=SEED, symbols=("AAPL",), market_endpoint=market_endpoint, half_spread=Decimal(0)
    ) as broker:
        use_broker(monkeypatch, tmp_path, broker)  # the guide's .env, naming this broker (it follows the bus)

        # ---- the guide, verbatim from here (5556/5555 -> free ports) ----
        # fmt: off
        async def trading_system():  # type: ignore[no-untyped-def]
            # 1. Initialize components
            feature_computer = RustFeatureComputer()
            alpaca = AlpacaPaperTrading()

            # 2. Setup ZMQ communication
            signal_publisher = ZMQPublisher(signal_endpoint)
            market_subscriber = ZMQSubscriber(market_endpoint)

            await signal_publisher.connect()
            await market_subscriber.connect(["market"])

            # 3. Main trading loop
            async for topic, message in market_subscriber.receive():  # noqa: B007
                if message["type"] == "BarUpdate":
                    # Convert to MarketBar
                    bar = MarketBar(
                        symbol=message["symbol"],
                        open=message["open"],
                        high=message["high"],
                        low=message["low"],
                        close=message["close"],
                        volume=message["volume"],
                        timestamp=message["timestamp"]
                    )

                    # 4. Compute features using Rust (fast!)
                    features = feature_computer.compute_streaming(bar)

                    # 5. Make trading decision (your ML model here)
                    prediction = your_ml_model.predict(features)

                    # 6. Generate signal if prediction is strong
                    if abs(prediction) > 0.7:
                        signal = Signal(
                            symbol=bar.symbol,
                            direction="long" if prediction > 0 else "short",
                            strength=abs(prediction),
                            timestamp=bar.timestamp,
                            features=features
                        )

                        # 7. Send signal to execution engine via ZMQ
                        await signal_publisher.publish_signal(signal)

                        # 8. Place order via Alpaca
                        if prediction > 0:
                            order = alpaca.place_order(
                                symbol=bar.symbol,
                                qty=10,
                                side="buy",
                                order_type=OrderType.MARKET
                            )
                            print(f"Order placed: {order['id']}")
        # fmt: on
        # ---- end of the guide's code ----

        engine = await asyncio.create_subprocess_exec(
            str(rust_binary("bus-peer")), "subscribe", "--endpoint", signal_endpoint, "--topics", "signal",
            "--count", str(len(STRONG)), "--print", "--idle-timeout-ms", "15000",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        feed: asyncio.subprocess.Process | None = None
        system = asyncio.ensure_future(trading_system())  # type: ignore[no-untyped-call]
        try:
            async with asyncio.timeout(30):
                # the harness, not the guide, makes the start-up lossless: bars flow only once the execution
                # engine listens to the signals and the strategy and the broker listen to the market
                while not publishers and not system.done():
                    await asyncio.sleep(0.01)
                if system.done():
                    system.result()  # the guide's code failed while starting: show why
                await publishers[0].wait_for_subscribers(1, timeout=10)
                feed = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "tradebridge.cli", "mock-publisher", "--endpoint", market_endpoint,
                    "--symbols", "AAPL", "--seed", str(SEED), "--count", str(BARS), "--rate", "50",
                    "--wait-for-subscribers", "2", "--wait-timeout", "10",
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                )  # fmt: skip
                await system
                engine_out, engine_err = await engine.communicate()
                _, feed_err = await feed.communicate()
        finally:
            system.cancel()
            for process in (engine, feed):
                if process is not None and process.returncode is None:
                    process.kill()
                    await process.wait()
            for publisher in publishers:
                await publisher.close()
            for subscriber in subscribers:
                await subscriber.close()
        account = AlpacaPaperTrading()
        positions = {p.symbol: p for p in account.get_positions()}
        filled = account.get_orders(status="closed")

    assert feed.returncode == 0, feed_err.decode()
    assert engine.returncode == 0, engine_err.decode()

    # the strategy saw the seeded walk's bars, one feature vector of 12 per bar
    walk = Market(["AAPL"], SEED).walk("AAPL").next_bars(BARS)
    assert len(your_ml_model.seen) == BARS and all(len(f) == 12 for f in your_ml_model.seen)
    assert [f[0] for f in your_ml_model.seen] == list(walk.close)  # feature 0 is the close

    # the execution engine (Rust) decoded every signal: directions and features as the strategy sent them
    frames = [line.partition(" ") for line in engine_out.decode().splitlines() if not line.startswith("{")]
    received = [json.loads(body) for topic, _, body in frames if topic == "signal"]
    assert [(s["direction"], s["strength"]) for s in received] == [
        ("long" if p > 0 else "short", abs(p)) for _, p in STRONG
    ]
    assert [s["timestamp"] for s in received] == [int(walk.timestamp[i]) for i, _ in STRONG]
    for signal, (i, _) in zip(received, STRONG, strict=True):
        sent = [None if math.isnan(v) else v for v in your_ml_model.seen[i]]
        assert signal["features"] == sent  # NaN (an indicator still warming up) travels as null

    # one market buy of 10 per long signal, filled by the broker at a close of the bars on the bus
    printed = capsys.readouterr().out.splitlines()
    buys = sum(p > 0.7 for _, p in STRONG)
    assert len(printed) == buys and all(
        re.fullmatch(r"Order placed: [0-9a-f-]{36}", line) for line in printed
    )
    assert positions["AAPL"].qty == 10 * buys
    # with no spread a market order fills at the broker's last trade: the close of a bar it took from the bus
    # (the strategy's order may overtake the broker's copy of a bar: then the previous close, or the walk's
    # start price before the first bar)
    start = RandomWalk("AAPL", SEED).last_close
    closes = {Decimal(repr(c)).quantize(Decimal("0.01")) for c in [start, *walk.close.tolist()]}
    assert len(filled) == buys and {o.status for o in filled} == {"filled"}
    assert all(o.filled_qty == 10 and o.filled_avg_price in closes for o in filled)


async def first(source: AsyncIterator[Any], n: int) -> AsyncIterator[Any]:
    """The first ``n`` items of an async iterator (``itertools.islice`` has no async twin)."""
    if n <= 0:
        return
    count = 0
    async for item in source:
        yield item
        count += 1
        if count >= n:
            return
