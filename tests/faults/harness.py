"""Helpers of the fault suite: the real engine binary (through the risk suite's harness), a seed per run,
and the broker's own record of what it was asked and what it holds."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tradebridge.contracts import Signal
from tradebridge_mocks.broker import MockBroker

from tests.risk.harness import Engine, broker_orders, start_engine

#: generous limits: the faults under test, not the risk checks, decide what happens to each signal
FLAGS = [
    "--max-position", "1000000", "--max-notional", "1e12", "--max-orders-per-sec", "100000",
    "--max-order-qty", "1", "--max-signal-age-ms", "3600000", "--price-max-age-ms", "3600000",
]  # fmt: skip


def fault_seed() -> int:
    """``TB_FAULT_SEED`` to replay a run, else a fresh seed; printed either way."""
    raw = os.environ.get("TB_FAULT_SEED")
    seed = int(raw) if raw else random.SystemRandom().randrange(1, 10**9)
    print(f"fault scenario seed={seed} (replay: TB_FAULT_SEED={seed})")
    return seed


def signals(prefix: str, n: int, timestamp_ms: int | None = None) -> list[Signal]:
    """``n`` buy signals with ids ``<prefix>-<i>`` (contract v1.1 field), one timestamp for all: a
    re-delivery is the same message."""
    stamp = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    return [
        Signal(symbol="AAPL", direction="long", strength=1.0, timestamp=stamp, signal_id=f"{prefix}-{i}")
        for i in range(n)
    ]


def coid(signal_id: str) -> str:
    return f"tb-{signal_id}"


def coid_of(signal: Signal) -> str:
    """The client order id the engine derives for ``signal`` (which must carry a ``signal_id``)."""
    assert isinstance(signal.signal_id, str), signal
    return coid(signal.signal_id)


def orders_by_client_id(broker: MockBroker) -> Counter[str]:
    return Counter(o["client_order_id"] for o in broker_orders(broker))


def order_posts(broker: MockBroker) -> list[tuple[int, str | None]]:
    """(status, client order id) of every order submission the broker answered."""
    return [
        (r.status, r.client_order_id)
        for r in broker.requests
        if r.method == "POST" and r.path == "/v2/orders"
    ]


def sigkill(engine: Engine) -> None:
    """SIGKILL, no warning: the publisher stays open (its sender may still be sending); close it after."""
    if engine.process.poll() is None:
        engine.process.send_signal(signal.SIGKILL)
    engine.process.wait(10)


def start(tmp_path: Path, broker: MockBroker, *extra: str, name: str, wait_ready: bool = True) -> Engine:
    return start_engine(tmp_path, broker, *FLAGS, *extra, name=name, wait_ready=wait_ready)


def wait_until(holds: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not holds():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)
