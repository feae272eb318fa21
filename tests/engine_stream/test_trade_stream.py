"""The engine hears fills on the trade-updates stream: the real ``execution-engine``, the real mock broker and
its ``/stream`` WebSocket, the bus observed by a real subscriber. A stream cut (the mock's ``drop`` fault)
falls back to polling, reconnects and reconciles, and every order's updates reach the bus exactly once.
Latencies are printed, never asserted."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

from tradebridge_mocks.broker import MockBroker, StreamFault

from tests.engine_stream.harness import (
    BROKER_KEY,
    EngineProcess,
    FillClock,
    by_order,
    describe,
    fill_seen_us,
    start_engine,
)

#: orders (one per bar) of the latency runs
ROUNDS = 20
RNG = random.Random()


def deferred_broker() -> MockBroker:
    # Fills only on a bar (`advance`): each order is open for a while, as at a real market.
    return MockBroker(fill_mode="deferred", bar_interval=0.0, symbols=("AAPL",)).start()


def fill_at_random_moment(broker: MockBroker) -> None:
    """The next bar (which fills the open orders) at a moment unrelated to the engine's loop and polls."""
    time.sleep(RNG.uniform(0, 0.06))
    broker.advance()


def place(engine: EngineProcess, prefix: str, n: int, direction: str = "long") -> None:
    """n signals the same way (the risk book refuses one opposite to an open order), each a distinct id, so
    each becomes one order; waits for the broker's acknowledgements."""
    before = int(engine.metrics()["orders_acknowledged"])
    for i in range(n):
        engine.send(f"{prefix}-{i}", direction)
    engine.wait(lambda m: int(m["orders_acknowledged"]) >= before + n, f"{n} orders acknowledged")


def check_exactly_once(engine: EngineProcess, broker: MockBroker) -> dict[str, list[str]]:
    """Each order: its statuses on the bus once each, ending in the broker's final state and quantity."""
    updates = engine.tap.snapshot()
    seen = by_order(updates)
    for order_id, statuses in seen.items():
        repeated = [s for s, n in Counter(statuses).items() if n > 1]
        assert not repeated, f"order {order_id}: {statuses} repeats {repeated}"
    final = {u.order_id: u for _, u in updates}
    orders = broker.state.engine.account.orders
    ours = {oid: o for oid, o in orders.items() if o.client_order_id.startswith("tb-")}
    assert ours, "no order reached the broker"
    for order_id, order in ours.items():
        assert order_id in final, f"order {order_id} ({order.status}) never on the bus"
        assert str(final[order_id].status) == order.status, (order_id, seen[order_id], order.status)
        assert final[order_id].filled_qty == float(order.filled_qty), order_id
    return seen


def test_fills_arrive_on_the_stream(tmp_path: Path) -> None:
    broker = deferred_broker()
    clock = FillClock(broker)
    engine = start_engine(tmp_path, broker, "--poll-interval-ms", "10")
    try:
        engine.wait(lambda m: m["trade_stream_up"] == "true", "the trade stream listening")
        # One order per bar, so that each fill is measured alone (not queued behind others at the mock).
        for round_ in range(ROUNDS):
            place(engine, f"s{round_}", 1, "long" if round_ % 2 == 0 else "short")
            fill_at_random_moment(broker)
            engine.wait(lambda m: m["orders_open"] == "0", "every order final", timeout=10)
        metrics = engine.metrics()
        seen = check_exactly_once(engine, broker)
        assert all(statuses[-1] == "filled" for statuses in seen.values()), seen
        # Every fill came from the stream; no order was polled but for the (5 s) safety poll.
        assert int(metrics["updates_from_stream"]) >= ROUNDS, metrics
        assert metrics["poll_fallback"] == "0", metrics
        assert metrics["order_polls"] == metrics["safety_polls"], metrics
        assert metrics["stream_disconnects"] == "0", metrics
        latency = fill_seen_us(clock.fills(), engine.tap.snapshot())
        assert len(latency) == ROUNDS
        print(f"fill seen on the bus after the broker's fill, trade stream: {describe(latency)}")
        print("engine's share (frame read -> published):", engine.histogram("trade_event_to_bus"))
    finally:
        assert engine.stop() == 0, engine.tail()
        broker.stop()
    log = engine.log.read_text()
    assert BROKER_KEY[1] not in log and BROKER_KEY[0] not in log


def test_polling_only_for_comparison(tmp_path: Path) -> None:
    """`--no-trade-stream`: the same flow followed by polls alone (the path the stream replaces)."""
    broker = deferred_broker()
    clock = FillClock(broker)
    engine = start_engine(tmp_path, broker, "--no-trade-stream", "--poll-interval-ms", "50")
    try:
        for round_ in range(ROUNDS):
            place(engine, f"p{round_}", 1, "long" if round_ % 2 == 0 else "short")
            fill_at_random_moment(broker)
            engine.wait(lambda m: m["orders_open"] == "0", "every order final", timeout=10)
        metrics = engine.metrics()
        check_exactly_once(engine, broker)
        assert metrics["stream_connects"] == "0" and metrics["updates_from_stream"] == "0", metrics
        assert int(metrics["updates_from_poll"]) >= ROUNDS and metrics["poll_fallback"] == "0", metrics
        latency = fill_seen_us(clock.fills(), engine.tap.snapshot())
        print(f"fill seen on the bus after the broker's fill, polling every 50 ms: {describe(latency)}")
    finally:
        assert engine.stop() == 0, engine.tail()
        broker.stop()


def test_a_stream_cut_falls_back_reconnects_and_reconciles(tmp_path: Path) -> None:
    broker = deferred_broker()
    # A slow fallback poll: what the stream misses while it is down comes back through the reconcile.
    engine = start_engine(tmp_path, broker, "--poll-interval-ms", "3000")
    try:
        engine.wait(lambda m: m["trade_stream_up"] == "true", "the trade stream listening")
        place(engine, "a", 4)
        broker.advance()
        engine.wait(lambda m: m["orders_open"] == "0", "the first orders final")

        place(engine, "b", 4)
        # Cut the stream, and refuse the next two logins: it stays down a little while orders fill.
        broker.stream_fault(
            StreamFault(stream="trading", action="refuse_auth", count=2),
            StreamFault(stream="trading", action="drop"),
        )
        engine.wait(lambda m: m["trade_stream_up"] == "false", "the stream seen down")
        broker.advance()  # these fills happen while nobody listens
        metrics = engine.wait(lambda m: m["orders_open"] == "0", "the missed fills recovered")
        print({k: v for k, v in metrics.items() if "stream" in k or "poll" in k or "updates_from" in k})
        assert int(metrics["stream_disconnects"]) >= 1, metrics
        assert int(metrics["stream_connects"]) >= 2, metrics
        # The cut made every open order polled at once (counted as fallback), the reconnect reconciled.
        assert int(metrics["poll_fallback"]) >= 4, metrics
        assert int(metrics["stream_reconciles"]) >= 1, metrics
        print(
            "after the cut: "
            + ", ".join(
                f"{k}={metrics[k]}" for k in ("updates_from_reconcile", "updates_from_poll", "poll_fallback")
            )
        )

        # Repeated cuts while orders flow: still every update exactly once, none lost.
        for round_ in range(3):
            place(engine, f"c{round_}", 3)
            broker.stream_fault(StreamFault(stream="trading", action="drop"))
            broker.advance()
            time.sleep(0.05)
        engine.wait(lambda m: m["orders_open"] == "0" and m["trade_stream_up"] == "true", "all final, up")
        seen = check_exactly_once(engine, broker)
        assert len(seen) == 4 + 4 + 9
        assert all(statuses[-1] == "filled" for statuses in seen.values()), seen
    finally:
        assert engine.stop() == 0, engine.tail()
        broker.stop()
