"""The real `execution-engine` binary against the real mock broker, over real ZeroMQ and HTTP sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zmq
from tradebridge.bus.sync import ZMQPublisher, ZMQSubscriber
from tradebridge.contracts import OrderUpdate, Signal, encode_frame
from tradebridge.testing import Service, free_port, rust_binary
from tradebridge_mocks.broker import Fault, MockBroker

SECRET = "sEcReT-never-in-logs-93b1"
FINAL = {"filled", "canceled", "expired", "rejected"}


@dataclass
class Engine:
    process: Service
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
            "signal_id": signal_id,
            "price": 100.0,
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
    process = Service(
        "engine",
        [
            str(rust_binary("execution-engine")),
            "--signal-endpoint", f"tcp://127.0.0.1:{signal_port}",
            "--order-endpoint", f"tcp://127.0.0.1:{order_port}",
            "--broker-url", broker.url, "--health-port", str(health_port), "--poll-interval-ms", "10",
            *extra,
        ],
        health_port=health_port, log_dir=tmp_path, env=env,
    ).start()  # fmt: skip
    orders = ZMQSubscriber(f"tcp://127.0.0.1:{order_port}")
    orders.connect(["order"])
    engine = Engine(process, health_port, publisher, orders, broker, process.log_path)
    process.wait_ready(10)
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


def stop(engine: Engine) -> int | None:
    code = engine.process.stop(grace=10)
    engine.orders.close()
    engine.publisher.close()
    return code


def test_a_signal_becomes_a_filled_order_and_its_updates(engine: Engine, broker: MockBroker) -> None:
    engine.send("t-1", strength=0.5)  # 5 shares
    acknowledged = engine.acknowledged("tb-t-1")
    assert acknowledged.status in ("new", "accepted") and acknowledged.signal_id == "t-1"
    broker.advance(1, ["AAPL"])  # deferred fills happen on the next price
    update = engine.outcome("tb-t-1")
    assert (update.status, update.side, update.qty, update.filled_qty) == ("filled", "buy", 5.0, 5.0)
    assert update.signal_id == "t-1" and isinstance(update.sent_at_us, int)
    assert update.filled_avg_price is not None and update.filled_avg_price > 0
    at_broker = {p.symbol: p.qty for p in _positions(broker)}
    assert at_broker == {"AAPL": 5}
    metrics = engine.wait_metrics(lambda m: m["orders_filled"] == "1")
    assert (metrics["orders_submitted"], metrics["orders_open"]) == ("1", "0")
    assert metrics["positions"] == "AAPL:5"
    # the bus hop from the signal's envelope stamp (sent_at_us), in the subscriber's transit histogram
    assert metrics["signal_transit_samples"] == "1" and float(metrics["signal_transit_p50_ms"]) > 0


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
    assert duplicate.signal_id == "big"  # yet it names the signal it answers
    # No trusted price: the broker has no quote for the symbol (its stated price alone is not trusted).
    broker.inject(Fault(status=404, method="GET", path="/v2/stocks/quotes/latest"))
    engine.send("unpriced", symbol="MSFT", price=50.0)
    assert engine.outcome("tb-unpriced").reason.startswith("risk:no_price")
    metrics = engine.wait_metrics(lambda m: m["refused_no_price"] == "1")
    assert metrics["refused_stale"] == "1"
    assert metrics["refused_max_position"] == "1"
    assert metrics["refused_duplicate"] == "1"
    assert metrics["refused_no_price"] == "1"
    received = int(metrics["signals_received"])
    assert received == int(metrics["orders_submitted"]) + int(metrics["refused_total"]) == 5


def test_metadata_is_never_read_for_the_id_or_the_price(engine: Engine) -> None:
    # a v1.0 peer's way of saying them: the engine orders the signal under a per-run id, unpriced by it
    v1_0 = Signal(
        symbol="AAPL",
        direction="long",
        strength=0.5,
        timestamp=int(time.time() * 1000),
        metadata={"signal_id": "m-1", "price": 1.0},
    )
    engine.publisher.publish_signal(v1_0)
    update = engine.next_update(lambda u: u.symbol == "AAPL")
    assert update.client_order_id != "tb-m-1" and not isinstance(update.signal_id, str)
    metrics = engine.wait_metrics(lambda m: m["signals_without_id"] == "1")
    assert metrics["refused_price_band"] == "0"  # a stated price of 1.0 would have been refused


@pytest.mark.parametrize("allowed", [False, True])
def test_nan_tokens_in_features_are_read_only_with_allow_nan_tokens(
    tmp_path: Path, broker: MockBroker, allowed: bool
) -> None:
    # from a bare socket: what Python's json.dumps writes for NaN, which our publisher never sends
    raw: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.PUB)
    port, health_port = free_port(), free_port()
    raw.bind(f"tcp://127.0.0.1:{port}")
    process = Service(
        "engine",
        [str(rust_binary("execution-engine")), "--signal-endpoint", f"tcp://127.0.0.1:{port}",
         "--order-endpoint", f"tcp://127.0.0.1:{free_port()}", "--broker-url", broker.url,
         "--health-port", str(health_port), *(["--allow-nan-tokens"] if allowed else [])],
        health_port=health_port, log_dir=tmp_path,
    ).start()  # fmt: skip
    probe = Engine(process, health_port, None, None, broker, process.log_path)  # type: ignore[arg-type]
    try:
        frame = (
            b'signal {"symbol":"AAPL","direction":"long","strength":0.1,"timestamp":%d,'
            b'"features":[NaN,1.0,-Infinity],"signal_id":"nan-1","schema_version":"1.1"}'
        ) % int(time.time() * 1000)
        deadline = time.monotonic() + 10
        # resent until the engine's subscription is in place (slow joiner); repeats are duplicates
        while (metrics := _metrics_or_empty(probe)).get("signal_bus_received", "0") == "0" and metrics.get(
            "signal_bus_malformed", "0"
        ) == "0":
            assert process.running and time.monotonic() < deadline, process.log_path.read_text()
            raw.send(frame)
            time.sleep(0.2)
        metrics = probe.wait_metrics(lambda m: m["signals_received"] != "0")
        if allowed:
            assert int(metrics["signal_bus_nan_tokens"]) >= 1 and metrics["signal_bus_malformed"] == "0"
            probe.wait_metrics(lambda m: m["orders_submitted"] == "1")
        else:
            assert metrics["signal_bus_nan_tokens"] == "0" and int(metrics["signal_bus_malformed"]) >= 1
            assert (metrics["orders_submitted"], metrics["refused_malformed"]) == (
                "0",
                metrics["signals_received"],
            )
    finally:
        assert process.stop(grace=10) == 0
        raw.close(0)


def test_malformed_signal_frames_are_counted_and_skipped(tmp_path: Path, broker: MockBroker) -> None:
    # Signals from a bare socket, which can send what our publisher never would.
    raw: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.PUB)
    port = free_port()
    raw.bind(f"tcp://127.0.0.1:{port}")
    health_port = free_port()
    process = Service(
        "engine",
        [str(rust_binary("execution-engine")), "--signal-endpoint", f"tcp://127.0.0.1:{port}",
         "--order-endpoint", f"tcp://127.0.0.1:{free_port()}", "--broker-url", broker.url,
         "--health-port", str(health_port)],
        health_port=health_port, log_dir=tmp_path,
    ).start()  # fmt: skip
    # Ready = the exposure is loaded: a signal before that is refused as exposure_unknown, by design.
    process.wait_ready(10)
    log = process.log_path
    probe = Engine(process, health_port, None, None, broker, log)  # type: ignore[arg-type]
    try:
        good = Signal(
            symbol="AAPL",
            direction="long",
            strength=0.2,
            timestamp=int(time.time() * 1000),
            signal_id="ok-1",
            price=100.0,
        )
        frames = [b"signal {not json", b'signal {"symbol":"AAPL"}', encode_frame(good)]
        deadline = time.monotonic() + 10
        # Resent until the engine's subscription is in place (slow joiner); the id makes repeats duplicates.
        while int(_metrics_or_empty(probe).get("signals_received", "0")) < 3:
            assert process.running and time.monotonic() < deadline, log.read_text()
            for frame in frames:
                raw.send(frame)
            time.sleep(0.2)
        time.sleep(0.2)
        metrics = probe.metrics()
        assert int(metrics["refused_malformed"]) >= 2
        assert metrics["orders_submitted"] == "1"
        assert int(metrics["signals_received"]) == 1 + int(metrics["refused_total"])
    finally:
        assert process.stop(grace=10) == 0
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
    synced = int(engine.metrics()["exposure_syncs"])
    engine.process.send_signal(signal.SIGUSR2)
    engine.wait_metrics(lambda m: m["kill_switch"] == "false" and int(m["exposure_syncs"]) > synced)
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
        synced = int(engine.metrics()["exposure_syncs"])
        switch.unlink()
        # A released switch reloads the exposure; signals meanwhile are refused as exposure_unknown.
        engine.wait_metrics(lambda m: m["kill_switch"] == "false" and int(m["exposure_syncs"]) > synced)
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
         "--signal-endpoint", f"tcp://127.0.0.1:{free_port()}", "--order-endpoint", f"tcp://127.0.0.1:{free_port()}",
         "--sync-deadline-ms", "1500"],
        capture_output=True, timeout=20,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"cannot reach the broker at http://127.0.0.1:{port}" in done.stderr.decode()


# ------------------------------------------------------------------ broker rate limits, faults, lookups
ENGINE_KEY = "engine-key"


def _broker_get(broker: MockBroker, path: str, key: str = ENGINE_KEY) -> tuple[int, dict[str, str]]:
    """One authenticated request in ``key``'s rate-limit window: (status, headers)."""
    request = urllib.request.Request(
        f"{broker.url}{path}", headers={"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": "s"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def _spend_fresh_window(broker: MockBroker) -> float:
    """Wait for a fresh rate-limit window of the engine's key, spend it, return its reset (epoch s)."""
    _, headers = _broker_get(broker, "/v2/clock")
    time.sleep(max(float(headers["X-RateLimit-Reset"]) - time.time(), 0) + 0.05)
    while (answer := _broker_get(broker, "/v2/clock"))[0] != 429:
        pass
    return float(answer[1]["X-RateLimit-Reset"])


def _posts(broker: MockBroker, client_order_id: str) -> list[int]:
    return [r.status for r in broker.requests if r.method == "POST" and r.client_order_id == client_order_id]


def _order_posts(broker: MockBroker) -> list[tuple[int, str | None]]:
    """Every order submission: a 429 is answered before the body is read, so it carries no id."""
    return [
        (r.status, r.client_order_id) for r in broker.requests if (r.method, r.path) == ("POST", "/v2/orders")
    ]


def _reason(update: OrderUpdate) -> str:
    return update.reason if isinstance(update.reason, str) else ""


def _engine_env() -> dict[str, str]:
    return {**os.environ, "ALPACA_API_KEY": ENGINE_KEY, "ALPACA_SECRET_KEY": "s"}


def _prometheus(engine: Engine) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{engine.health_port}/metrics", timeout=2) as r:
        return str(r.read().decode())


def test_a_429_is_waited_out_until_the_reset_without_hammering(tmp_path: Path) -> None:
    with MockBroker(seed=3, rate_limit=3, rate_window=2.0) as broker:
        broker.set_price("AAPL", 100.0)
        # the signal is held while its price is read: let it wait longer than the 2 s window it meets
        engine = start_engine(tmp_path, broker, "--price-wait-ms", "6000", env=_engine_env())
        try:
            reset = _spend_fresh_window(broker)
            assert reset - time.time() > 1.0  # the engine's first POST will meet a 429
            seen = len(broker.requests)
            engine.send("rl-1")
            update = engine.outcome("tb-rl-1")
            assert update.status == "filled" and update.filled_qty == 5.0
            # The order's trusted price (the broker's quote) met the 429 once, then waited for the window
            # the broker named (X-RateLimit-Reset), not hammered; the order went out in the new window.
            assert [r.status for r in broker.requests[seen:]][:3] == [429, 200, 200]
            assert _order_posts(broker) == [(200, "tb-rl-1")]
            assert time.time() >= reset
            assert {p.symbol: p.qty for p in _positions(broker)} == {"AAPL": 5}
            metrics = engine.wait_metrics(lambda m: m["orders_filled"] == "1")
            assert metrics["broker_rate_limited"] == "1"
            assert int(metrics["broker_waited_ms"]) >= 500
        finally:
            assert stop(engine) == 0


def test_a_rate_limit_wait_beyond_the_budget_is_not_started(tmp_path: Path) -> None:
    # 5 a minute: the engine's start-up takes 3 (open orders, positions, open orders again).
    with MockBroker(seed=3, rate_limit=5, rate_window=60.0) as broker:
        broker.set_price("AAPL", 100.0)
        engine = start_engine(tmp_path, broker, "--broker-retry-budget-ms", "1500", env=_engine_env())
        try:
            while _broker_get(broker, "/v2/clock")[0] != 429:
                pass
            started = time.monotonic()
            seen = len(broker.requests)
            engine.send("rb-1")
            refused = _reason(engine.outcome("tb-rb-1"))
            assert refused.startswith("broker:broker_unavailable") and "rate limit" in refused
            assert time.monotonic() - started < 1.5  # gave up at once: the reset is a minute away
            assert [r.status for r in broker.requests[seen:]] == [429]  # the quote; no order was sent
            # The engine now knows the window is spent: the next signal costs the broker nothing.
            engine.send("rb-2")
            assert _reason(engine.outcome("tb-rb-2")).startswith("broker:broker_unavailable")
            assert [r.status for r in broker.requests[seen:]] == [429]
            assert _order_posts(broker) == []
            metrics = engine.wait_metrics(lambda m: m["refused_broker_unavailable"] == "2")
            assert metrics["broker_rate_limited"] == "1"
            # Every refusal reason and counter is in the Prometheus text too, zeros included.
            text = _prometheus(engine)
            assert 'tradebridge_refused_broker_unavailable_total{source="engine"} 2' in text
            assert 'tradebridge_broker_rate_limited_total{source="engine"} 1' in text
            assert 'tradebridge_signals_received_total{source="engine"} 2' in text
            for reason in ("kill_switch", "malformed", "stale", "max_position", "no_price", "duplicate"):
                assert f'tradebridge_refused_{reason}_total{{source="engine"}} 0' in text
        finally:
            assert stop(engine) == 0


def test_an_ambiguous_failure_is_resolved_by_client_order_id_not_by_resending(tmp_path: Path) -> None:
    with MockBroker(seed=3) as broker:
        broker.set_price("AAPL", 100.0)
        engine = start_engine(tmp_path, broker, "--max-orders-per-sec", "50")
        try:
            # The order is placed, then its answer is lost: a resend would meet a duplicate id at best.
            broker.inject(Fault(status=503, when="after", method="POST", path="/v2/orders"))
            engine.send("am-1")
            assert engine.outcome("tb-am-1").status == "filled"
            assert _posts(broker, "tb-am-1") == [503]
            lookups = [r for r in broker.requests if r.path == "/v2/orders:by_client_order_id"]
            assert [r.status for r in lookups] == [200]
            # Refused before it took effect: the lookup finds nothing and the same id is sent again.
            broker.inject(Fault(status=502, when="before", method="POST", path="/v2/orders", count=2))
            engine.send("am-2")
            assert engine.outcome("tb-am-2").status == "filled"
            assert _order_posts(broker) == [(503, "tb-am-1"), (502, None), (502, None), (200, "tb-am-2")]
            assert {p.symbol: p.qty for p in _positions(broker)} == {"AAPL": 10}
            metrics = engine.wait_metrics(lambda m: m["orders_filled"] == "2")
            assert (metrics["broker_recovered_by_lookup"], metrics["broker_ambiguous_lookups"]) == ("1", "3")
        finally:
            assert stop(engine) == 0


def test_random_broker_errors_never_duplicate_an_order(tmp_path: Path) -> None:
    with MockBroker(seed=11) as broker:
        broker.set_price("AAPL", 100.0)
        engine = start_engine(
            tmp_path, broker, "--max-orders-per-sec", "50", "--max-position", "1000", "--max-order-qty", "1"
        )
        try:
            broker.config.error_rate = 0.35  # half of the 5xx come after the request took effect
            ids = [f"er-{i}" for i in range(12)]
            for signal_id in ids:
                engine.send(signal_id, strength=1.0)
            outcomes = {signal_id: engine.outcome(f"tb-{signal_id}", timeout=20) for signal_id in ids}
            engine.wait_metrics(lambda m: m["orders_open"] == "0", timeout=20)
            broker.config.error_rate = 0.0
            filled = [i for i, u in outcomes.items() if u.status == "filled"]
            assert len(filled) >= 10, {i: u.reason for i, u in outcomes.items()}
            # A refused signal left nothing at the broker either (an ambiguous failure was looked up).
            request = urllib.request.Request(
                f"{broker.url}/v2/orders?status=all&limit=500",
                headers={"APCA-API-KEY-ID": "k", "APCA-API-SECRET-KEY": "s"},
            )
            with urllib.request.urlopen(request, timeout=5) as r:
                placed = [o["client_order_id"] for o in json.loads(r.read())]
            assert sorted(placed) == sorted(f"tb-{i}" for i in filled)
            assert sorted(placed) == sorted(set(placed))  # one order per client order id, ever
            assert {p.symbol: p.qty for p in _positions(broker)} == {"AAPL": len(filled)}
        finally:
            stop(engine)


def test_an_order_whose_status_cannot_be_read_is_given_up_and_reported(
    tmp_path: Path, broker: MockBroker
) -> None:
    # polling only: with the trade stream up, an order is looked up only every 5 s (the safety poll)
    engine = start_engine(
        tmp_path, broker, "--no-trade-stream", "--lookup-max-failures", "4", "--lookup-deadline-ms", "3000"
    )
    try:
        engine.send("lf-1")
        acknowledged = engine.acknowledged("tb-lf-1")
        path = f"/v2/orders/{acknowledged.order_id}"
        broker.inject(Fault(status=500, method="GET", path=path, count=10_000))
        given_up = engine.next_update(lambda u: u.client_order_id == "tb-lf-1" and bool(_reason(u)))
        assert _reason(given_up).startswith("broker:lookup_failed: 4 failed lookups")
        assert given_up.status == acknowledged.status  # the last state seen: the truth is unknown
        metrics = engine.wait_metrics(lambda m: m["orders_lookup_failed"] == "1")
        assert (metrics["orders_open"], metrics["orders_lookup_failed_ids"]) == ("0", "tb-lf-1")
        polls = sum(1 for r in broker.requests if r.path == path and r.status == 500)
        time.sleep(0.5)
        assert sum(1 for r in broker.requests if r.path == path and r.status == 500) == polls == 4  # stopped
        assert 'tradebridge_orders_lookup_failed_total{source="engine"} 1' in _prometheus(engine)
    finally:
        assert stop(engine) == 0
