"""The real ``execution-engine`` on the real mock broker's trade-updates stream, observed from outside: the
order updates on the bus (a real ZeroMQ subscriber), the engine's ``/health`` counters, and the broker's own
fill times (a listener called under the broker's lock at every order event)."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradebridge.bus.sync import ZMQPublisher, ZMQSubscriber
from tradebridge.contracts import OrderUpdate, Signal
from tradebridge.testing import free_port, rust_binary
from tradebridge_mocks.broker import MockBroker

BROKER_KEY = ("PKENGINESTREAM000001", "engine-stream-secret-do-not-leak-41c")


class FillClock:
    """When the broker filled each order (wall clock, µs), taken under its lock as the fill happens."""

    def __init__(self, broker: MockBroker) -> None:
        self.filled_at_us: dict[str, int] = {}
        self.events: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

        def observe(event: str, order: Any, fields: dict[str, str]) -> None:
            now = time.time_ns() // 1000
            with self._lock:
                self.events[(str(order.id), event)] += 1
                if event == "fill":
                    self.filled_at_us[str(order.id)] = now

        broker.state.engine.listeners.append(observe)

    def fills(self) -> dict[str, int]:
        with self._lock:
            return dict(self.filled_at_us)


class OrderTap:
    """Every ``OrderUpdate`` the engine publishes, with its arrival time (µs), from a thread."""

    def __init__(self, endpoint: str) -> None:
        self.updates: list[tuple[int, OrderUpdate]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._subscriber = ZMQSubscriber(endpoint)
        self._subscriber.connect(["order"])
        self._thread = threading.Thread(target=self._run, name="order-tap", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            got = self._subscriber.receive_one(timeout=0.05)
            if got is None:
                continue
            arrived = time.time_ns() // 1000
            _, message = got
            if isinstance(message, OrderUpdate):
                with self._lock:
                    self.updates.append((arrived, message))

    def snapshot(self) -> list[tuple[int, OrderUpdate]]:
        with self._lock:
            return list(self.updates)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._subscriber.close()


@dataclass
class EngineProcess:
    process: subprocess.Popen[bytes]
    health_port: int
    publisher: ZMQPublisher
    tap: OrderTap
    log: Path
    sent: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/health", timeout=5) as r:
                return dict(json.loads(r.read())["metrics"])
        except urllib.error.HTTPError as error:  # 503 while degraded still carries the metrics
            return dict(json.loads(error.read())["metrics"])

    def wait(
        self, wanted: Callable[[dict[str, str]], bool], what: str, timeout: float = 20.0
    ) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, self.tail()
            metrics = self.metrics()
            try:
                if wanted(metrics):
                    return metrics
            except KeyError:  # before the first refresh
                pass
            assert time.monotonic() < deadline, f"{what} not reached: {metrics}\n{self.tail()}"
            time.sleep(0.02)

    def histogram(self, stage: str) -> str:
        """p50/p99 of one of the engine's latency stages, from its Prometheus buckets (bucket bounds)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        buckets: list[tuple[float, int]] = []
        for line in text.splitlines():
            if line.startswith("tradebridge_latency_seconds_bucket") and f'stage="{stage}"' in line:
                bound = line.split('le="')[1].split('"')[0]
                buckets.append(
                    (float("inf") if bound == "+Inf" else float(bound), int(float(line.split()[-1])))
                )
        total = buckets[-1][1] if buckets else 0
        if not total:
            return "no samples"

        def quantile(q: float) -> float:
            return next(bound for bound, count in buckets if count >= q * total)

        return f"n={total} p50<={quantile(0.5) * 1000:g} ms p99<={quantile(0.99) * 1000:g} ms"

    def send(self, signal_id: str, direction: str) -> None:
        self.sent.append(signal_id)
        self.publisher.publish_signal(
            Signal(
                symbol="AAPL",
                direction=direction,
                strength=0.5,
                timestamp=int(time.time() * 1000),
                signal_id=signal_id,
            )
        )

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(15)
        finally:
            self.publisher.close()
            self.tap.close()


def start_engine(tmp_path: Path, broker: MockBroker, *extra: str) -> EngineProcess:
    signal_port, order_port, health_port = free_port(), free_port(), free_port()
    publisher = ZMQPublisher(f"tcp://127.0.0.1:{signal_port}")
    publisher.connect()
    log = tmp_path / "engine.log"
    env = {**os.environ, "ALPACA_API_KEY": BROKER_KEY[0], "ALPACA_SECRET_KEY": BROKER_KEY[1]}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(rust_binary("execution-engine")),
                "--signal-endpoint", f"tcp://127.0.0.1:{signal_port}",
                "--order-endpoint", f"tcp://127.0.0.1:{order_port}",
                "--broker-url", broker.url, "--health-port", str(health_port),
                "--max-orders-per-sec", "50", "--max-position", "1000", "--max-notional", "10000000",
                *extra,
            ],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    tap = OrderTap(f"tcp://127.0.0.1:{order_port}")
    engine = EngineProcess(process, health_port, publisher, tap, log)
    deadline = time.monotonic() + 15
    while True:
        assert process.poll() is None, engine.tail()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/ready", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, f"engine not ready\n{engine.tail()}"
        time.sleep(0.02)
    publisher.wait_for_subscribers(1, timeout=10, topic="signal")
    engine.wait(lambda m: int(m["order_subscribers"]) >= 1, "the tap's subscription")
    return engine


def by_order(updates: list[tuple[int, OrderUpdate]]) -> dict[str, list[str]]:
    """Each order's statuses on the bus, in order of arrival."""
    out: dict[str, list[str]] = {}
    for _, update in updates:
        out.setdefault(update.order_id, []).append(str(update.status))
    return out


def fill_seen_us(fills: dict[str, int], updates: list[tuple[int, OrderUpdate]]) -> list[int]:
    """Broker fill -> the ``filled`` OrderUpdate on the bus, per order seen filled on both sides."""
    seen = {u.order_id: at for at, u in updates if str(u.status) == "filled"}
    return [seen[order] - at for order, at in fills.items() if order in seen]


def describe(samples_us: list[int]) -> str:
    if not samples_us:
        return "no samples"
    ordered = sorted(samples_us)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"n={len(ordered)} p50={statistics.median(ordered) / 1000:.3f} ms p99={p99 / 1000:.3f} ms"
