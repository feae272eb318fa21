"""Issue 19, item 2: the order-rate limit holds where orders leave, seen from the broker.

Each run: a limit of 5 orders a second, bursts of signals at random spacing, and a broker that answers a
few orders slowly (mock fault injection: the order is taken in at once, its answer held back 300-800 ms).
Counting at signal receipt let 8 orders through in one second; the proof is the broker's own
``submitted_at`` times: no one-second window holds more than 5 orders.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from tradebridge_mocks.broker import Fault, MockBroker

from tests.risk.harness import Background, broker_orders, micros, paced, run_seed, runs, start_engine

LIMIT = 5
SIGNALS = 40


def busiest_second(times_us: list[int]) -> int:
    """The most orders in any window of one second (half-open: (t - 1 s, t])."""
    times = sorted(times_us)
    most, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 1_000_000:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_busiest_second_counts_a_sliding_window() -> None:
    assert busiest_second([]) == 0
    assert busiest_second([0, 999_999, 1_000_000, 1_000_001]) == 3
    assert busiest_second([0, 500_000, 1_000_000, 1_500_000, 2_000_000]) == 2


@pytest.mark.parametrize("run", runs())
def test_no_second_holds_more_orders_than_the_limit(tmp_path: Path, run: int) -> None:
    seed = run_seed(run)
    rng = random.Random(seed)
    with MockBroker(seed=seed, latency_ms=rng.choice([0, 1, 3])) as broker:
        broker.set_price("AAPL", 100.0)
        flags = ["--max-orders-per-sec", str(LIMIT), "--max-position", "100000", "--max-notional", "1e9"]
        engine = start_engine(tmp_path, broker, *flags, "--max-order-qty", "1")
        try:
            signals = [engine.signal(f"r{run}-{i}") for i in range(SIGNALS)]
            slow = rng.randint(1, 3)
            delay_ms = rng.uniform(300, 800)

            def slow_broker() -> None:
                # The slow answers start at a random point of the stream.
                time.sleep(rng.uniform(0, 2.0))
                broker.inject(
                    Fault(status=0, delay_ms=delay_ms, method="POST", path="/v2/orders", count=slow)
                )

            injector = Background(slow_broker)
            injector.start()
            paced(rng, signals, engine.publisher.publish_signal, max_gap_ms=900)
            injector.join_checked()
            metrics = engine.wait_metrics(
                lambda m: int(m["signals_received"]) == SIGNALS and m["orders_open"] == "0"
            )
            orders = broker_orders(broker)
            most = busiest_second([micros(o["submitted_at"]) for o in orders])
            assert most <= LIMIT, f"seed {seed}: {most} orders in one second (limit {LIMIT})"
            assert len(orders) >= LIMIT  # the limit was exercised, not avoided
            assert int(metrics["refused_rate_limited"]) >= 1, metrics
            assert int(metrics["orders_acknowledged"]) + int(metrics["refused_total"]) == SIGNALS
            print(
                f"seed {seed}: {len(orders)} orders, busiest second {most}/{LIMIT}, "
                f"rate_limited={metrics['refused_rate_limited']}, {slow} answers slowed by {delay_ms:.0f} ms"
            )
        finally:
            assert engine.stop() == 0
