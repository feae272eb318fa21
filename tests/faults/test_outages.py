"""Issue 15, item 2: outages survived. Each test states what happens to the signals sent meanwhile (held
and retried with the same client order id, or refused with a counted reason), shows that no order is
duplicated and none silently lost (a refused signal delivered again is ordered once), and that ``/health``
goes ``degraded`` and back."""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from tradebridge.bus.sync import ZMQPublisher
from tradebridge.contracts import Signal
from tradebridge.testing import free_port
from tradebridge_mocks.broker import Fault, MockBroker

from tests.faults.harness import coid_of, order_posts, orders_by_client_id, signals, start, wait_until
from tests.risk.harness import Engine


def status(engine: Engine) -> str:
    return str(engine.get("/health")[1]["status"])


def deliver_all(engine: Engine, batch: Sequence[Signal]) -> None:
    for s in batch:
        engine.publisher.publish_signal(s)


def redeliver_until_ordered(
    engine: Engine, broker: MockBroker, batch: Sequence[Signal], timeout: float = 20
) -> int:
    """A publisher's retry: deliver again what the broker does not hold yet, every half second (the
    engine refuses signals while it reloads the exposure after an outage). Returns the rounds it took."""
    deadline = time.monotonic() + timeout
    rounds = 0
    while missing := [s for s in batch if coid_of(s) not in orders_by_client_id(broker)]:
        assert time.monotonic() < deadline, f"never ordered: {missing}\n{engine.tail()}"
        deliver_all(engine, missing)
        rounds += 1
        time.sleep(0.5)
    return rounds


def assert_one_order_each(broker: MockBroker, batch: Sequence[Signal]) -> None:
    held = orders_by_client_id(broker)
    expected = {coid_of(s) for s in batch}
    assert {c: n for c, n in held.items() if n > 1} == {}, "duplicated"
    assert set(held) == expected, f"lost {expected - set(held)}, foreign {set(held) - expected}"


def test_sigterm_exits_within_a_second_while_submissions_wait_out_429s(tmp_path: Path) -> None:
    """The broker answers 429 to every order: the first submission waits out its backoff on a worker,
    the main loop keeps reading signals; SIGTERM exits 0 within a second with the journal consistent; a
    restart (broker healthy again) orders each signal once when they are delivered again."""
    journal = tmp_path / "engine.journal"
    batch = signals("t", 6)
    with MockBroker(seed=21) as broker:
        broker.set_price("AAPL", 100.0)
        broker.inject(Fault(status=429, method="POST", path="/v2/orders", count=1_000_000))
        flags = [
            "--journal",
            str(journal),
            "--broker-max-attempts",
            "100",
            "--broker-retry-budget-ms",
            "10000",
        ]
        engine = start(tmp_path, broker, *flags, name="first")
        deliver_all(engine, batch)
        # All six read and decided while the first submission is still being retried.
        metrics = engine.wait_metrics(lambda m: int(m["signals_received"]) == 6, timeout=5)
        assert metrics["orders_acknowledged"] == "0" and metrics["orders_open"] == "6", metrics
        assert int(metrics["journal_entries"]) == 6
        started = time.monotonic()
        engine.process.send_signal(signal.SIGTERM)
        code = engine.process.wait(5)
        took = time.monotonic() - started
        engine.publisher.close()
        assert code == 0, engine.tail()
        assert took < 1.0, f"SIGTERM took {took:.3f} s"
        broker.state.faults.clear()
        again = start(tmp_path, broker, "--journal", str(journal), name="second")
        try:
            deliver_all(again, batch)
            metrics = again.wait_metrics(
                lambda m: int(m["signals_received"]) == 6 and m["orders_open"] == "0"
            )
        finally:
            assert again.stop() == 0
        assert_one_order_each(broker, batch)
        assert [c for s, c in order_posts(broker) if s == 422] == []
        print(
            f"SIGTERM with 6 submissions waiting on 429s: exit 0 in {took * 1000:.0f} ms; after restart "
            f"{metrics['journal_not_at_broker']} journal entries found unsent and ordered once"
        )


@pytest.mark.parametrize(
    ("fault", "seconds"),
    [
        pytest.param(503, 2.0, id="503-2s"),
        pytest.param(429, 2.0, id="429-2s"),
        pytest.param(503, 60.0, id="503-60s", marks=pytest.mark.stress),
        pytest.param(429, 60.0, id="429-60s", marks=pytest.mark.stress),
    ],
)
def test_broker_errors_for_a_while(tmp_path: Path, fault: int, seconds: float) -> None:
    """Every order request fails for ``seconds``: submissions are retried with the same client order id
    within their budget (1.5 s here), then refused ``broker_unavailable`` (counted); ``/health`` is
    degraded meanwhile and healthy again after; everything delivered again is ordered exactly once."""
    batch = signals(f"e{fault}", 8)
    with MockBroker(seed=22) as broker:
        broker.set_price("AAPL", 100.0)
        engine = start(tmp_path, broker, "--broker-retry-budget-ms", "1500", "--broker-max-attempts", "50",
                       name="engine")  # fmt: skip
        try:
            deliver_all(engine, batch[:2])
            engine.wait_metrics(lambda m: m["orders_acknowledged"] == "2")
            broker.inject(Fault(status=fault, method="POST", path="/v2/orders", count=1_000_000))
            ends = time.monotonic() + seconds
            deliver_all(engine, batch[2:])
            wait_until(lambda: status(engine) == "degraded", 10, "health never degraded")
            metrics = engine.wait_metrics(lambda m: m["orders_open"] == "0", timeout=seconds + 10)
            time.sleep(max(0.0, ends - time.monotonic()))
            broker.state.faults.clear()
            refused = int(metrics["refused_broker_unavailable"])
            assert refused + int(metrics["orders_acknowledged"]) == 8, metrics
            redeliver_until_ordered(engine, broker, batch)
            wait_until(lambda: status(engine) == "healthy", 15, "health never healthy again")
        finally:
            assert engine.stop() == 0
        assert_one_order_each(broker, batch)
        print(
            f"{fault} for {seconds:.0f} s: {refused} refused broker_unavailable, "
            "then ordered once on re-delivery"
        )


def test_broker_down_then_restarted(tmp_path: Path) -> None:
    """The broker process goes away (connections refused) and comes back on the same port with its state:
    orders meanwhile are refused ``broker_unavailable`` after their retry budget; the open orders are not
    lost (followed again when it is back); re-delivered signals are ordered once."""
    port = free_port()
    batch = signals("d", 6)
    broker = MockBroker(seed=23, port=port, fill_mode="deferred").start()
    try:
        broker.set_price("AAPL", 100.0)
        engine = start(tmp_path, broker, "--broker-retry-budget-ms", "800", "--broker-timeout-ms", "500",
                       name="engine")  # fmt: skip
        try:
            deliver_all(engine, batch[:2])
            engine.wait_metrics(lambda m: m["orders_acknowledged"] == "2")
            broker.stop()
            deliver_all(engine, batch[2:])
            wait_until(lambda: status(engine) == "degraded", 10, "health never degraded")
            metrics = engine.wait_metrics(lambda m: int(m["refused_broker_unavailable"]) >= 1, timeout=15)
            broker.start()
            rounds = redeliver_until_ordered(engine, broker, batch)
            wait_until(lambda: status(engine) == "healthy", 15, "health never healthy again")
        finally:
            assert engine.stop() == 0
        assert_one_order_each(broker, batch)
        print(
            f"broker down: {metrics['refused_broker_unavailable']} refused broker_unavailable; "
            f"back: ordered once after {rounds} re-deliveries"
        )
    finally:
        broker.stop()


def test_publisher_restarted_redelivers_without_duplicates(tmp_path: Path) -> None:
    """A restarted publisher is a new bus ``source``: its re-sent signals carry the same ``signal_id`` and
    so the same client order id; the engine refuses them as ``duplicate`` and orders the new ones."""
    batch = signals("p", 10)
    with MockBroker(seed=24) as broker:
        broker.set_price("AAPL", 100.0)
        engine = start(tmp_path, broker, name="engine")
        try:
            deliver_all(engine, batch[:6])
            engine.wait_metrics(lambda m: m["orders_acknowledged"] == "6")
            engine.publisher.close()
            endpoint = engine.publisher.endpoint
            engine.publisher = ZMQPublisher(endpoint)
            engine.publisher.connect()
            engine.publisher.wait_for_subscribers(1, timeout=10, topic="signal")
            deliver_all(engine, batch)
            metrics = engine.wait_metrics(
                lambda m: int(m["signals_received"]) == 16 and m["orders_open"] == "0"
            )
        finally:
            assert engine.stop() == 0
        assert (metrics["refused_duplicate"], metrics["orders_acknowledged"]) == ("6", "10"), metrics
        assert_one_order_each(broker, batch)


def test_a_stalled_order_subscriber_never_stalls_the_engine(tmp_path: Path) -> None:
    """A consumer of the OrderUpdates stops reading: the engine's publisher queues for it (ZeroMQ PUB
    never blocks; past its high-water mark it would drop, and the consumer would count the gap by `seq`),
    orders go on being placed, and the consumer catches up on every update when it reads again."""
    from tests.demo.test_engine import start_engine as start_with_orders
    from tests.demo.test_engine import stop as stop_with_orders

    with MockBroker(seed=25) as broker:
        broker.set_price("AAPL", 100.0)
        engine = start_with_orders(tmp_path, broker, "--max-position", "1000", "--max-orders-per-sec", "1000")
        try:
            for i in range(30):
                engine.send(f"st-{i}", strength=0.1)
            # Nobody reads the order topic meanwhile: the engine is not held back by it.
            metrics = engine.wait_metrics(
                lambda m: m["orders_filled"] == "30" and m["orders_open"] == "0", 15
            )
            finals = set()
            while (item := engine.orders.receive_one(timeout=1.0)) is not None:
                if item[1].status == "filled":
                    finals.add(item[1].client_order_id)
            stats = engine.orders.stats
        finally:
            stop_with_orders(engine)
    assert finals == {f"tb-st-{i}" for i in range(30)}
    assert (stats.gaps, stats.dropped) == (0, 0), stats
    assert int(metrics["order_updates_published"]) >= 30
