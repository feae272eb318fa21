"""The real ``execution-engine`` against the real mock broker over real sockets, for the risk scenarios.

Every scenario is a function of a seed: the seed decides the timing (when the kill switch engages, how
bursts are spaced, which orders the broker answers slowly), so a failing run is replayed with its seed
(``TB_RISK_SEED=<n>``). The broker is observed from its own side: its order book and ``submitted_at``
times, and an exposure watcher called under the broker's lock at every order state change.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import zmq
from tradebridge.bus.sync import ZMQPublisher, ZMQSubscriber
from tradebridge.contracts import Signal
from tradebridge.testing import free_port, rust_binary
from tradebridge_mocks.broker import MockBroker

TOKEN = "risk-suite-kill-token-5b1e"

#: runs of each scenario in ``make test``, and in all with ``-m stress``
RUNS = 2
STRESS_RUNS = 24


def runs() -> list[Any]:
    """Run indices: the first ``RUNS`` plain, the rest marked ``stress``."""
    return [
        pytest.param(i, marks=pytest.mark.stress) if i >= RUNS else pytest.param(i)
        for i in range(STRESS_RUNS)
    ]


BROKER_KEY = ("risk-key", "risk-secret")


def base_seed() -> int:
    """``TB_RISK_SEED`` when set (to replay a run), else a fresh one; each run adds its index."""
    raw = os.environ.get("TB_RISK_SEED")
    return int(raw) if raw else random.SystemRandom().randrange(1, 10**9)


BASE_SEED = base_seed()


def run_seed(run: int) -> int:
    seed = BASE_SEED + run
    print(f"risk scenario seed={seed} (replay: TB_RISK_SEED={BASE_SEED})")
    return seed


def micros(rfc3339: str) -> int:
    """``2026-12-02T09:28:26.069188Z`` -> µs since the epoch."""
    stamp = datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    return int(stamp.timestamp()) * 1_000_000 + stamp.microsecond


class SignalProxy:
    """XSUB/XPUB forwarder, so that many publishers reach the engine's one signal endpoint: publishers
    connect to ``upstream``; the engine connects to ``downstream``. Subscriptions travel back up, so a
    connecting publisher's ``wait_for_subscribers`` still sees the engine."""

    def __init__(self, downstream_port: int) -> None:
        self.context: zmq.Context[Any] = zmq.Context()
        self.upstream = f"tcp://127.0.0.1:{free_port()}"
        xsub = self.context.socket(zmq.XSUB)
        xpub = self.context.socket(zmq.XPUB)
        control = self.context.socket(zmq.PAIR)
        self._stop = self.context.socket(zmq.PAIR)
        for sock in (xsub, xpub, control, self._stop):
            sock.setsockopt(zmq.LINGER, 0)
        xsub.bind(self.upstream)
        xpub.bind(f"tcp://127.0.0.1:{downstream_port}")
        control.bind("inproc://proxy-control")
        self._stop.connect("inproc://proxy-control")

        def forward() -> None:
            try:
                zmq.proxy_steerable(xsub, xpub, None, control)
            finally:
                for sock in (xsub, xpub, control):
                    sock.close(0)

        self._thread = threading.Thread(target=forward, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.send(b"TERMINATE")
        self._thread.join(5)
        self._stop.close(0)
        self.context.term()


@dataclass
class Engine:
    process: subprocess.Popen[bytes]
    health_port: int
    publisher: ZMQPublisher
    log: Path
    kill_file: Path
    #: where a publisher connects (the proxy) when the engine was started with ``proxy=True``
    proxy: SignalProxy | None = None

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}{path}", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def metrics(self) -> dict[str, str]:
        return dict(self.get("/health")[1]["metrics"])

    def wait_metrics(self, wanted: Callable[[dict[str, str]], bool], timeout: float = 20.0) -> dict[str, str]:
        deadline = time.monotonic() + timeout

        def holds(metrics: dict[str, str]) -> bool:
            try:
                return wanted(metrics)
            except KeyError:  # before the engine's first refresh (every 100 ms)
                return False

        while not holds(metrics := self.metrics()):
            assert self.process.poll() is None, self.tail()
            assert time.monotonic() < deadline, f"{metrics}\n{self.tail()}"
            time.sleep(0.02)
        return metrics

    def post(self, path: str, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.health_port}{path}", method="POST", headers=headers, data=b""
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def signal(self, signal_id: str, **fields: Any) -> Signal:
        values: dict[str, Any] = {
            "symbol": "AAPL",
            "direction": "long",
            "strength": 1.0,
            "timestamp": int(time.time() * 1000),
            "signal_id": signal_id,
        }
        values.update(fields)
        return Signal(**values)

    def send(self, signal_id: str, **fields: Any) -> None:
        self.publisher.publish_signal(self.signal(signal_id, **fields))

    def engage(self, how: str) -> None:
        if how == "signal":
            self.process.send_signal(signal.SIGUSR1)
        elif how == "http":
            status, body = self.post("/kill-switch/engage")
            assert status == 200 and body["engaged"], body
        elif how == "file":
            self.kill_file.touch()
        else:
            raise ValueError(how)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(15)
        finally:
            self.publisher.close()
            if self.proxy is not None:
                self.proxy.close()
        return code


def start_engine(
    tmp_path: Path,
    broker: MockBroker,
    *extra: str,
    name: str = "engine",
    wait_ready: bool = True,
    proxy: bool = False,
) -> Engine:
    signal_port, order_port, health_port = free_port(), free_port(), free_port()
    forwarder = SignalProxy(signal_port) if proxy else None
    if forwarder is not None:
        publisher = ZMQPublisher(forwarder.upstream, bind=False)
    else:
        publisher = ZMQPublisher(f"tcp://127.0.0.1:{signal_port}")
    publisher.connect()
    log = tmp_path / f"{name}.log"
    kill_file = tmp_path / f"{name}.STOP"
    env = {
        **os.environ,
        "TRADEBRIDGE_KILL_SWITCH_TOKEN": TOKEN,
        "ALPACA_API_KEY": BROKER_KEY[0],
        "ALPACA_SECRET_KEY": BROKER_KEY[1],
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(rust_binary("execution-engine")),
                "--signal-endpoint", f"tcp://127.0.0.1:{signal_port}",
                "--order-endpoint", f"tcp://127.0.0.1:{order_port}",
                "--broker-url", broker.url, "--health-port", str(health_port), "--poll-interval-ms", "10",
                "--kill-switch-file", str(kill_file),
                *extra,
            ],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    engine = Engine(process, health_port, publisher, log, kill_file, forwarder)
    deadline = time.monotonic() + 15
    while True:
        assert process.poll() is None, engine.tail()
        try:
            status, _ = engine.get("/ready")
            if status == 200 or not wait_ready:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, f"engine not ready\n{engine.tail()}"
        time.sleep(0.02)
    publisher.wait_for_subscribers(1, timeout=10, topic="signal")
    if wait_ready:
        engine.wait_metrics(lambda m: "kill_switch" in m)
    return engine


def broker_orders(broker: MockBroker) -> list[dict[str, Any]]:
    """Every order at the broker, through its REST API (oldest first)."""
    request = urllib.request.Request(
        f"{broker.url}/v2/orders?status=all&limit=500&direction=asc",
        headers={"APCA-API-KEY-ID": "observer", "APCA-API-SECRET-KEY": "s"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        orders: list[dict[str, Any]] = json.loads(r.read())
    return orders


@dataclass
class ExposureWatch:
    """Worst-case exposure per symbol at every order state change, computed under the broker's lock:
    long = position + unfilled buys, short = -(position - unfilled sells)."""

    limit: float
    worst: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    breaches: list[str] = field(default_factory=list)
    events: int = 0

    def attach(self, broker: MockBroker) -> None:
        engine = broker.state.engine

        def observe(event: str, order: Any, fields: dict[str, str]) -> None:
            self.events += 1
            symbol = order.symbol
            held = Decimal(engine.position_qty(symbol))
            buys = sells = Decimal(0)
            for o in engine.account.orders.values():
                if o.symbol == symbol and o.is_open and o.qty is not None:
                    rest = o.qty - o.filled_qty
                    if o.side == "buy":
                        buys += rest
                    else:
                        sells += rest
            worst = float(max(held + buys, sells - held))
            self.worst[symbol] = max(self.worst[symbol], worst)
            if worst > self.limit:
                self.breaches.append(
                    f"{event} {order.client_order_id}: {symbol} exposure {worst} > {self.limit}"
                )

        engine.listeners.append(observe)


def paced(rng: random.Random, items: list[Any], send: Callable[[Any], None], max_gap_ms: float) -> None:
    """Send ``items`` in bursts of random sizes separated by random gaps (the timing under test)."""
    i = 0
    while i < len(items):
        burst = rng.randint(1, 12)
        for item in items[i : i + burst]:
            send(item)
        i += burst
        time.sleep(rng.uniform(0, max_gap_ms) / 1000)


class Background(threading.Thread):
    """A thread whose exception is re-raised by ``join_checked`` (never lost)."""

    def __init__(self, target: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:  # reported to the test by join_checked
            self.error = exc

    def join_checked(self, timeout: float = 30) -> None:
        self.join(timeout)
        assert not self.is_alive(), "background thread did not finish"
        if self.error is not None:
            raise self.error


__all__ = [
    "BROKER_KEY",
    "TOKEN",
    "Background",
    "Engine",
    "ExposureWatch",
    "ZMQSubscriber",
    "broker_orders",
    "micros",
    "paced",
    "run_seed",
    "runs",
    "start_engine",
]
