"""The execution engine reading signals from NATS JetStream, end to end with real parts: a Python strategy
publishes on the bus, ``tradebridge bridge nats in`` stores the frames in JetStream (a real ``nats-server
-js``), the ``execution-engine`` binary consumes them with a durable consumer and orders at the mock
broker. Every signal becomes exactly one order, also across an engine SIGKILLed mid-stream and restarted
(redeliveries are met by the journal and the broker's client order id); a malformed message is counted and
acknowledged; a server that requires credentials gets them from the URL, and they never reach the log."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import nats
import pytest
from tradebridge.bridges import JetStreamConfig
from tradebridge.bridges.jetstream import ensure_streams
from tradebridge.bus.sync import ZMQPublisher
from tradebridge.contracts import Signal, encode_frame
from tradebridge.testing import Service, free_port, rust_binary
from tradebridge_mocks.broker import Fault, MockBroker

from tests.bridges.nats_server import NatsNode, nats_server_binary

SECRET = "nats-pw-never-logged-5e1f"


@pytest.fixture
def broker() -> Iterator[MockBroker]:
    with MockBroker(seed=5) as b:
        b.set_price("AAPL", 100.0)
        yield b


def broker_orders(broker: MockBroker) -> Counter[str]:
    """How many orders the broker holds per client order id."""
    return Counter(o.client_order_id for o in list(broker.state.engine.account.orders.values()))


def engine_argv(broker: MockBroker, nats_url: str, prefix: str, health: int, journal: Path) -> list[str]:
    return [
        str(rust_binary("execution-engine")),
        "--signals-nats", nats_url,
        "--signals-stream", f"{prefix}_SIGNAL", "--signals-subject", f"{prefix.lower()}.signal.>",
        "--signals-durable", "engine", "--signals-deliver", "all", "--signals-ack-wait-ms", "2000",
        "--order-endpoint", f"tcp://127.0.0.1:{free_port()}",
        "--broker-url", broker.url, "--health-port", str(health), "--journal", str(journal),
        "--poll-interval-ms", "10", "--max-orders-per-sec", "1000", "--max-position", "1000000",
        "--max-notional", "1000000000", "--max-signal-age-ms", "120000",
    ]  # fmt: skip


def wait_until(what: str, condition: Callable[[], bool], timeout: float, engine: Service) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            # the metrics first (a CI log keeps only so much) and the log without the per-entry lines of
            # the journal's reconciliation, which would crowd out what came after
            metrics = {k: v for k, v in engine.metrics().items() if v not in ("0", "0.0", "")}
            log = "\n".join(line for line in engine.output().splitlines() if "journal entry" not in line)
            pytest.fail(f"timed out waiting for {what}\n{metrics}\n{log[-3000:]}")
        time.sleep(0.05)


def signal_of(i: int, run: str) -> Signal:
    # one side only (a sell while a buy is open is refused: opposite_order_open); the id is what makes a
    # redelivery recognisable
    return Signal(
        symbol="AAPL",
        direction="long",
        strength=0.5,
        timestamp=int(time.time() * 1000),
        signal_id=f"{run}-{i}",
        price=100.0,
    )


@contextmanager
def bridge_in(bus: str, nats_url: str, prefix: str, log_dir: Path) -> Iterator[Service]:
    argv = [sys.executable, "-m", "tradebridge.cli", "bridge", "nats", "in", "--bus", bus, "--nats", nats_url]
    argv += ["--topics", "signal", "--stream-prefix", prefix, "--subject-prefix", prefix.lower()]
    with Service("bridge", argv, ready_line=r"bridge nats in ready", log_dir=log_dir, grace=10) as service:
        service.wait_ready(20)
        yield service


def test_every_signal_is_one_order_across_an_engine_killed_mid_stream(
    nats_node: NatsNode, broker: MockBroker, tmp_path: Path
) -> None:
    prefix, n, run = "ENG", 120, "k"
    bus = f"tcp://127.0.0.1:{free_port()}"
    journal = tmp_path / "journal.jsonl"
    health = free_port()
    argv = engine_argv(broker, nats_node.url, prefix, health, journal)
    with (
        ZMQPublisher(bus, source="strategy-1") as strategy,
        bridge_in(bus, nats_node.url, prefix, tmp_path),
    ):
        strategy.wait_for_subscribers(1, timeout=10)
        engine = Service("engine", argv, health_port=health, log_dir=tmp_path).start()
        try:
            engine.wait_ready(20)
            wait_until("the consumer attached", lambda: engine.metrics().get("signal_nats_attached") == "1",
                       10, engine)  # fmt: skip
            for i in range(n // 4):
                strategy.publish_signal(signal_of(i, run))
                time.sleep(0.005)
            wait_until("the first orders", lambda: len(broker_orders(broker)) >= n // 4, 20, engine)
            # The next three orders are placed but their answers held back: the engine is killed with them
            # in flight, unacknowledged at JetStream and unsettled in its journal.
            broker.inject(
                Fault(status=0, when="after", method="POST", path="/v2/orders", count=3, delay_ms=5_000)
            )
            for i in range(n // 4, n // 2):
                strategy.publish_signal(signal_of(i, run))
                time.sleep(0.005)
            wait_until("orders in flight", lambda: len(broker_orders(broker)) >= n // 4 + 3, 20, engine)
            before = engine.metrics()
            engine.send_signal(signal.SIGKILL)
            engine.wait_exit(10)
            for i in range(n // 2, n):  # published while no engine runs: JetStream keeps them
                strategy.publish_signal(signal_of(i, run))
                time.sleep(0.002)
        finally:
            engine.stop()
        (tmp_path / "second").mkdir()
        engine = Service("engine", argv, health_port=health, log_dir=tmp_path / "second").start()
        try:
            engine.wait_ready(20)
            wanted = {f"tb-{run}-{i}" for i in range(n)}
            wait_until("every signal ordered", lambda: wanted <= set(broker_orders(broker)), 30, engine)
            # a malformed message straight into the stream: counted, acknowledged, no order
            asyncio.run(_publish_raw(nats_node.url, f"{prefix.lower()}.signal.AAPL", b'{"symbol": 5}'))
            malformed = "signal_nats_malformed"
            wait_until(
                "the malformed message counted", lambda: engine.metrics().get(malformed) == "1", 10, engine
            )
            metrics = engine.metrics()
        finally:
            engine.stop()
    orders = broker_orders(broker)
    assert sum(orders.values()) == n, orders.most_common(3)
    assert max(orders.values()) == 1  # no signal ordered twice
    redelivered = int(metrics["signal_nats_redelivered"])
    print(
        f"\nafter the SIGKILL: {metrics['signal_nats_delivered']} delivered to the second engine "
        f"({redelivered} redelivered), {metrics['signal_nats_acked']} acknowledged; seq gaps seen by the "
        f"first engine {before['signal_nats_gaps']}, by the second {metrics['signal_nats_gaps']}"
    )
    # Redeliveries (the ack wait ran out while the broker held answers back, then the restart) reach the
    # engine out of order: its seq accounting says so (gaps, printed above), exactly as on the bus.
    assert before["signal_nats_malformed"] == "0"
    assert int(metrics["signal_nats_received"]) >= n - n // 2
    assert redelivered >= 3, "the orders in flight at the kill were not delivered again"


async def _publish_raw(url: str, subject: str, payload: bytes) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().publish(subject, payload, headers={"Nats-Msg-Id": "raw:1"})
    finally:
        await nc.close()


@contextmanager
def secured_nats(store: Path) -> Iterator[str]:
    """A nats-server that requires a user and password; its URL without them."""
    port = free_port()
    argv = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)]
    argv += ["--user", "alice", "--pass", SECRET]
    with Service("nats-auth", argv, ready_line=r"Server is ready", ready_timeout=15, grace=3) as server:
        server.wait_ready()
        yield f"nats://127.0.0.1:{port}"


def test_credentials_in_the_url_are_used_and_never_logged(broker: MockBroker, tmp_path: Path) -> None:
    with secured_nats(tmp_path / "store") as plain:
        with_credentials = plain.replace("nats://", f"nats://alice:{SECRET}@")
        config = JetStreamConfig(servers=(with_credentials,), topics=("signal",), stream_prefix="SEC",
                                 subject_prefix="sec")  # fmt: skip
        asyncio.run(_make_streams(config))
        health = free_port()
        argv = engine_argv(broker, with_credentials, "SEC", health, tmp_path / "journal.jsonl")
        with Service("engine", argv, health_port=health, log_dir=tmp_path) as engine:
            engine.wait_ready(20)
            attached = "signal_nats_attached"
            wait_until("the consumer attached", lambda: engine.metrics().get(attached) == "1", 10, engine)
            asyncio.run(_publish_raw(with_credentials, "sec.signal.AAPL", _payload(signal_of(0, "sec"))))
            wait_until("the order", lambda: "tb-sec-0" in broker_orders(broker), 15, engine)
            good_log = engine.output()
        # the wrong password: never attached, refused loudly, still nothing secret in the log
        wrong = plain.replace("nats://", "nats://alice:wrong-pw-7c@")
        argv = engine_argv(broker, wrong, "SEC", free_port(), tmp_path / "journal2.jsonl")
        with Service("engine-wrong", argv, log_dir=tmp_path, ready_line=r"not attached") as refused:
            refused.wait_ready(20)
            wrong_log = refused.output()
    assert SECRET not in good_log and "wrong-pw-7c" not in wrong_log
    assert "authorization" in wrong_log.lower(), wrong_log[-1500:]


def _payload(message: Signal) -> bytes:
    """What the bridge stores: the bus frame without its topic."""
    frame = encode_frame(message)
    return frame[frame.index(b" ") + 1 :]


async def _make_streams(config: JetStreamConfig) -> None:
    nc = await nats.connect(config.servers[0])
    try:
        await ensure_streams(nc.jetstream(), config)
    finally:
        await nc.close()
