"""The real `execution-engine` binary against the real mock broker, over real ZeroMQ and HTTP sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zmq
from tradebridge.bus.sync import ZMQPublisher, ZMQSubscriber
from tradebridge.contracts import OrderUpdate, Signal, encode_frame
from tradebridge.testing import free_port, rust_binary
from tradebridge_mocks.broker import MockBroker

SECRET = "sEcReT-never-in-logs-93b1"
FINAL = {"filled", "canceled", "expired", "rejected"}


@dataclass
class Engine:
    process: subprocess.Popen[bytes]
    health_port: int
    publisher: ZMQPublisher
    orders: ZMQSubscriber
    broker: MockBroker
    log: Path

    def metrics(self) -> dict[str, str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/health", timeout=2) as r:
            return dict(json.loads(r.read())["metrics"])

    def wait_metrics(self, wanted: Callable[[dict[str, str]], bool], timeout: float = 5.0) -> dict[str, str]:
        """The health metrics once ``wanted`` holds (they refresh every 100 ms)."""
        deadline = time.monotonic() + timeout
        while not wanted(metrics := self.metrics()):
            assert time.monotonic() < deadline, metrics
            time.sleep(0.05)
        return metrics

    def acknowledged(self, client_order_id: str) -> OrderUpdate:
        """The first update of an order: it exists at the broker (so a new price can fill it)."""
        return self.next_update(lambda u: u.client_order_id == client_order_id)

    def send(self, signal_id: str, direction: str = "long", strength: float = 0.5, **changes: Any) -> None:
        fields: dict[str, Any] = {
            "symbol": "AAPL",
            "direction": direction,
            "strength": strength,
            "timestamp": int(time.time() * 1000),
            "metadata": {"signal_id": signal_id, "price": 100.0},
        }
        fields.update(changes)
        self.publisher.publish_signal(Signal(**fields))

    def outcome(self, client_order_id: str, timeout: float = 5.0) -> OrderUpdate:
        """The final OrderUpdate of one order."""
        return self.next_update(lambda u: u.client_order_id == client_order_id and u.status in FINAL, timeout)

    def next_update(self, wanted: Callable[[OrderUpdate], bool], timeout: float = 5.0) -> OrderUpdate:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            item = self.orders.receive_one(timeout=deadline - time.monotonic())
            if item is None:
                break
            update = item[1]
            assert isinstance(update, OrderUpdate)
            if wanted(update):
                return update
        raise AssertionError(f"no such order update; engine log:\n{self.log.read_text()[-2000:]}")


def start_engine(
    tmp_path: Path, broker: MockBroker, *extra: str, env: dict[str, str] | None = None
) -> Engine:
    signal_port, order_port, health_port = free_port(), free_port(), free_port()
    publisher = ZMQPublisher(f"tcp://127.0.0.1:{signal_port}")
    publisher.connect()
    log = tmp_path / "engine.log"
    process = subprocess.Popen(
        [
            str(rust_binary("execution-engine")),
            "--signal-endpoint", f"tcp://127.0.0.1:{signal_port}",
            "--order-endpoint", f"tcp://127.0.0.1:{order_port}",
            "--broker-url", broker.url, "--health-port", str(health_port), "--poll-interval-ms", "10",
            *extra,
        ],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    orders = ZMQSubscriber(f"tcp://127.0.0.1:{order_port}")
    orders.connect(["order"])
    engine = Engine(process, health_port, publisher, orders, broker, log)
    deadline = time.monotonic() + 10
    while True:
        assert process.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/ready", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, "engine not ready"
        time.sleep(0.05)
    publisher.wait_for_subscribers(1, timeout=5, topic="signal")
    # No slow joiner on the way back either: the engine reports the subscriptions it sees.
    engine.wait_metrics(lambda m: int(m.get("order_subscribers", "0")) >= 1)
    return engine


@pytest.fixture
def broker() -> Iterator[MockBroker]:
    with MockBroker(seed=3, fill_mode="deferred") as b:
        b.set_price("AAPL", 100.0)
        yield b


@pytest.fixture
def engine(tmp_path: Path, broker: MockBroker) -> Iterator[Engine]:
    e = start_engine(tmp_path, broker, "--max-position", "8", "--max-order-qty", "10")
    yield e
    stop(e)


def _positions(broker: MockBroker) -> list[Any]:
    from tradebridge.alpaca import AlpacaPaperTrading

    return AlpacaPaperTrading("k", "s", base_url=broker.url).get_positions()


def stop(engine: Engine) -> int:
    if engine.process.poll() is None:
        engine.process.send_signal(signal.SIGTERM)
    code = engine.process.wait(10)
    engine.orders.close()
    engine.publisher.close()
    return code


def test_a_signal_becomes_a_filled_order_and_its_updates(engine: Engine, broker: MockBroker) -> None:
    engine.send("t-1", strength=0.5)  # 5 shares
    assert engine.acknowledged("tb-t-1").status in ("new", "accepted")
    broker.advance(1, ["AAPL"])  # deferred fills happen on the next price
    update = engine.outcome("tb-t-1")
    assert (update.status, update.side, update.qty, update.filled_qty) == ("filled", "buy", 5.0, 5.0)
    assert update.filled_avg_price is not None and update.filled_avg_price > 0
    at_broker = {p.symbol: p.qty for p in _positions(broker)}
    assert at_broker == {"AAPL": 5}
    metrics = engine.wait_metrics(lambda m: m["orders_filled"] == "1")
    assert (metrics["orders_submitted"], metrics["orders_open"]) == ("1", "0")
    assert metrics["positions"] == "AAPL:5"


def test_risk_refusals_are_published_and_counted(engine: Engine, broker: MockBroker) -> None:
    engine.send("old", timestamp=int(time.time() * 1000) - 60_000)
    assert engine.outcome("tb-old").reason == "risk:stale"
    engine.send("big", strength=1.0)  # 10 wanted, clipped to the 8-share limit
    engine.acknowledged("tb-big")
    broker.advance(1, ["AAPL"])
    assert engine.outcome("tb-big").filled_qty == 8.0
    engine.send("more", strength=0.5)
    assert engine.outcome("tb-more").reason == "risk:max_position"
    engine.send("big", direction="short", strength=0.3)  # a replay of an id already used
    duplicate = engine.next_update(lambda u: u.reason == "risk:duplicate")
    assert duplicate.client_order_id != "tb-big"  # never confused with the order the first copy placed
    engine.send("unpriced", symbol="MSFT", metadata={"signal_id": "unpriced"})
    assert engine.outcome("tb-unpriced").reason == "risk:no_price"
    metrics = engine.wait_metrics(lambda m: m["refused_no_price"] == "1")
    assert metrics["refused_stale"] == "1"
    assert metrics["refused_max_position"] == "1"
    assert metrics["refused_duplicate"] == "1"
    assert metrics["refused_no_price"] == "1"
    received = int(metrics["signals_received"])
    assert received == int(metrics["orders_submitted"]) + int(metrics["refused_total"]) == 5


def test_malformed_signal_frames_are_counted_and_skipped(tmp_path: Path, broker: MockBroker) -> None:
    # Signals from a bare socket, which can send what our publisher never would.
    raw = zmq.Context.instance().socket(zmq.PUB)
    port = free_port()
    raw.bind(f"tcp://127.0.0.1:{port}")
    log = tmp_path / "engine.log"
    health_port = free_port()
    process = subprocess.Popen(
        [str(rust_binary("execution-engine")), "--signal-endpoint", f"tcp://127.0.0.1:{port}",
         "--order-endpoint", f"tcp://127.0.0.1:{free_port()}", "--broker-url", broker.url,
         "--health-port", str(health_port)],
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    probe = Engine(process, health_port, None, None, broker, log)  # type: ignore[arg-type]
    try:
        good = Signal(
            symbol="AAPL",
            direction="long",
            strength=0.2,
            timestamp=int(time.time() * 1000),
            metadata={"signal_id": "ok-1", "price": 100.0},
        )
        frames = [b"signal {not json", b'signal {"symbol":"AAPL"}', encode_frame(good)]
        deadline = time.monotonic() + 10
        # Resent until the engine's subscription is in place (slow joiner); the id makes repeats duplicates.
        while int(_metrics_or_empty(probe).get("signals_received", "0")) < 3:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            for frame in frames:
                raw.send(frame)
            time.sleep(0.2)
        time.sleep(0.2)
        metrics = probe.metrics()
        assert int(metrics["refused_malformed"]) >= 2
        assert metrics["orders_submitted"] == "1"
        assert int(metrics["signals_received"]) == 1 + int(metrics["refused_total"])
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        raw.close(0)


def _metrics_or_empty(engine: Engine) -> dict[str, str]:
    try:
        return engine.metrics()
    except OSError:
        return {}


def test_kill_switch_at_runtime(engine: Engine, broker: MockBroker, tmp_path: Path) -> None:
    engine.process.send_signal(signal.SIGUSR1)
    engine.wait_metrics(lambda m: m["kill_switch"] == "true")
    engine.send("k-1")
    assert engine.outcome("tb-k-1").reason == "risk:kill_switch"
    engine.process.send_signal(signal.SIGUSR2)
    engine.wait_metrics(lambda m: m["kill_switch"] == "false")
    engine.send("k-2")
    engine.acknowledged("tb-k-2")
    broker.advance(1, ["AAPL"])
    assert engine.outcome("tb-k-2").status == "filled"


def test_kill_switch_file(tmp_path: Path, broker: MockBroker) -> None:
    switch = tmp_path / "STOP"
    switch.touch()
    engine = start_engine(tmp_path, broker, "--kill-switch-file", str(switch))
    try:
        engine.send("f-1")
        assert engine.outcome("tb-f-1").reason == "risk:kill_switch"
        switch.unlink()
        engine.wait_metrics(lambda m: m["kill_switch"] == "false")
        engine.send("f-2")
        engine.acknowledged("tb-f-2")
        broker.advance(1, ["AAPL"])
        assert engine.outcome("tb-f-2").status == "filled"
    finally:
        assert stop(engine) == 0


def test_sigterm_exits_zero_and_secrets_stay_out_of_the_log(tmp_path: Path, broker: MockBroker) -> None:
    env = {**os.environ, "ALPACA_API_KEY": "PKSECRETKEYID", "ALPACA_SECRET_KEY": SECRET}
    engine = start_engine(tmp_path, broker, env=env)
    engine.send("s-1")
    assert engine.next_update(lambda u: u.client_order_id == "tb-s-1").symbol == "AAPL"
    assert stop(engine) == 0
    text = engine.log.read_text()
    assert SECRET not in text and "PKSECRETKEYID" not in text


@pytest.mark.parametrize(
    ("url", "expected"),
    [("https://api.alpaca.markets", "paper trading only"), ("http://10.1.2.3:80", "paper trading only")],
)
def test_non_paper_brokers_are_refused_before_any_request(url: str, expected: str) -> None:
    env = {**os.environ, "ALPACA_API_KEY": "PKSECRETKEYID", "ALPACA_SECRET_KEY": SECRET}
    done = subprocess.run(
        [str(rust_binary("execution-engine")), "--broker-url", url], capture_output=True, env=env, timeout=10
    )
    assert done.returncode != 0
    assert expected in done.stderr.decode()
    assert SECRET not in done.stderr.decode() + done.stdout.decode()


def test_unreachable_broker_is_a_one_line_failure() -> None:
    port = free_port()
    done = subprocess.run(
        [str(rust_binary("execution-engine")), "--broker-url", f"http://127.0.0.1:{port}",
         "--signal-endpoint", f"tcp://127.0.0.1:{free_port()}", "--order-endpoint", f"tcp://127.0.0.1:{free_port()}"],
        capture_output=True, timeout=20,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"cannot reach the broker at http://127.0.0.1:{port}" in done.stderr.decode()
