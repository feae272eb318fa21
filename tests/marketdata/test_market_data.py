"""``market-data`` (the Rust binary) on the mock broker's real data stream, feeding three strategy
subscribers: each sees every bar once, in order, through a forced disconnect; bars that passed while the
stream was down are counted as a gap, never silent."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tradebridge.bus.sync import ZMQSubscriber
from tradebridge.contracts import BarUpdate
from tradebridge.testing import Service, free_port, rust_binary
from tradebridge_mocks.broker import MockBroker, StreamFault, StreamOptions

SYMBOLS = ("AAPL", "MSFT")
KEY = "PKMARKETDATA00000001"
SECRET = "sEcReT-market-data-never-logged"
WAIT = 15.0


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached within {timeout} s")


class Strategy:
    """One strategy process's view of the bus: a subscriber and the bars it saw, in arrival order."""

    def __init__(self, endpoint: str) -> None:
        self.subscriber = ZMQSubscriber(endpoint)
        self.subscriber.connect(["market"])
        self.bars: list[BarUpdate] = []
        self.other = 0

    def pump(self) -> None:
        while (item := self.subscriber.receive_one(timeout=0)) is not None:
            _, message = item
            if isinstance(message, BarUpdate):
                self.bars.append(message)
            else:
                self.other += 1

    def heard_trades(self) -> bool:
        self.pump()
        return self.other > 0

    def bar_count(self) -> int:
        self.pump()
        return len(self.bars)


@pytest.fixture
def broker() -> Iterator[MockBroker]:
    # prices move only when the test says so; the stream prints a tick every 50 ms
    options = StreamOptions(interval=0.05, auth_timeout=5.0)
    with MockBroker(seed=5, symbols=SYMBOLS, streams=options) as running:
        running.advance(2)
        yield running


def test_three_strategies_see_every_bar_once_in_order_through_a_forced_disconnect(broker: MockBroker) -> None:
    health_port, bus_port = free_port(), free_port()
    endpoint = f"tcp://127.0.0.1:{bus_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "APCA_"))}
    env.update(ALPACA_API_KEY=KEY, ALPACA_SECRET_KEY=SECRET)
    argv = [
        rust_binary("market-data"),
        "--stream-url", broker.ws_url + "/v2/iex",
        "--endpoint", endpoint,
        "--symbols", ",".join(SYMBOLS),
        "--channels", "bars,trades,quotes",
        "--health-port", str(health_port),
        "--reconnect-min-ms", "50",
        "--reconnect-max-ms", "200",
    ]  # fmt: skip
    with Service("market-data", argv, health_port=health_port, env=env) as service:
        strategies = [Strategy(endpoint) for _ in range(3)]
        try:
            run_scenario(broker, service, strategies)
        finally:
            for strategy in strategies:
                strategy.subscriber.close()
        log = service.output()
    assert SECRET not in log and KEY not in log


def upstream(service: Service, name: str) -> int:
    return int(service.metrics().get(f"upstream_{name}", "-1"))


def run_scenario(broker: MockBroker, service: Service, strategies: list[Strategy]) -> None:
    def everyone_has(n: int) -> bool:
        return all(s.bar_count() >= n for s in strategies)

    def step(bars: int) -> None:
        broker.advance(bars)

    history = {symbol: len(broker.state.prices.bars(symbol)) for symbol in SYMBOLS}
    # the trades of every tick reach all three: their subscriptions are in place
    wait_for(lambda: all(s.heard_trades() for s in strategies), "the first trades")

    step(3)
    wait_for(lambda: everyone_has(3 * len(SYMBOLS)), "the first bars")

    # a network cut: the service reconnects, re-subscribes, and the bars go on
    broker.stream_fault(StreamFault("data", "drop"))
    wait_for(lambda: upstream(service, "subscribed") == 2, "a re-subscription after the drop")
    step(3)
    wait_for(lambda: everyone_has(6 * len(SYMBOLS)), "the bars after the drop")

    # a longer outage: auth refused while two bars pass; they can never arrive, and are counted
    broker.stream_fault(StreamFault("data", "refuse_auth", count=1_000_000), StreamFault("data", "drop"))
    wait_for(lambda: int(service.metrics().get("disconnects_auth_failed", "0")) >= 1, "a refused auth")
    step(2)
    broker.stream_fault(StreamFault("data", "clear"))
    wait_for(lambda: upstream(service, "subscribed") == 3, "a re-subscription after the outage")
    step(1)
    wait_for(lambda: everyone_has(7 * len(SYMBOLS)), "the bars after the outage")
    time.sleep(0.2)  # a late duplicate would show up now
    for strategy in strategies:
        strategy.pump()

    missed_per_symbol = 2
    for symbol in SYMBOLS:
        printed = broker.state.prices.bars(symbol)[history[symbol] :]  # the bars made during the test
        expected = printed[:6] + printed[6 + missed_per_symbol :]
        for strategy in strategies:
            seen = [b for b in strategy.bars if b.symbol == symbol]
            assert [b.timestamp for b in seen] == [b.timestamp_ms for b in expected], symbol
            assert [b.close for b in seen] == [float(b.close) for b in expected], symbol
    for strategy in strategies:
        seqs = [b.seq for b in strategy.bars if isinstance(b.seq, int)]
        assert len(seqs) == len(strategy.bars), "the bus numbers every message"
        assert seqs == sorted(set(seqs)), "each bar once, in publishing order"
        assert strategy.subscriber.stats.gaps == 0, "a reconnect is no gap on the bus"
        assert strategy.subscriber.stats.malformed == 0

    # none silent: the service counted the upstream gap, the reconnects, the refused auths
    assert upstream(service, "bar_gaps") == len(SYMBOLS)
    assert upstream(service, "bars_missed") == missed_per_symbol * len(SYMBOLS)
    assert upstream(service, "reconnects") >= 3
    assert int(service.metrics()["disconnects_connection_lost"]) >= 2
    wait_for(lambda: service.get("/ready")[0] == 200, "ready again")
    published = str(7 * len(SYMBOLS))  # counted right after the hand-over to ZeroMQ: may trail the receipt
    wait_for(lambda: service.metrics().get("bars_messages_out") == published, "the bars published count")
    _, health = service.get("/health")
    assert health["status"] in ("healthy", "degraded")
