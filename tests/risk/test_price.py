"""Issue 19, item 4: the notional cap and the price band use a price the engine trusts.

Each run mixes honest signals (stated price within the band, or none) with lying ones (a stated price far
from the market) in random order and timing. The trusted price comes from the broker's latest quote or
from the market-data bus (then the quote endpoint fails, so the bus is the only source). The proof, from
the broker's side: no lying signal became an order, and the shares held never exceed the notional cap at
the trusted price.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest
from tradebridge.bus.sync import ZMQPublisher
from tradebridge.contracts import BarUpdate
from tradebridge.testing import free_port
from tradebridge_mocks.broker import Fault, MockBroker

from tests.risk.harness import broker_orders, paced, run_seed, runs, start_engine

CAP = 2_000.0
BROKER_PRICE = 100.0


class BarFeed:
    """Publishes a BarUpdate of ``price`` every 20 ms (a market-data service, as the engine sees one)."""

    def __init__(self, price: float) -> None:
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.price = price
        self._stop = threading.Event()
        self._publisher = ZMQPublisher(self.endpoint)
        self._publisher.connect()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            p = self.price
            bar = BarUpdate(
                symbol="AAPL", open=p, high=p, low=p, close=p, volume=100, timestamp=int(time.time() * 1000)
            )
            self._publisher.publish(bar)
            self._stop.wait(0.02)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._publisher.close()


@pytest.mark.parametrize("run", runs())
def test_no_order_on_a_lying_price_and_the_cap_holds_at_the_trusted_price(tmp_path: Path, run: int) -> None:
    seed = run_seed(run)
    rng = random.Random(seed)
    source = rng.choice(["quote", "bus"])
    trusted = BROKER_PRICE if source == "quote" else rng.choice([50.0, 80.0, 125.0])
    feed = BarFeed(trusted) if source == "bus" else None
    try:
        with MockBroker(seed=seed) as broker:
            broker.set_price("AAPL", BROKER_PRICE)
            extra = ["--market-endpoint", feed.endpoint] if feed else []
            if feed:  # the bus is the only trusted source: the broker's quotes fail
                broker.inject(Fault(status=500, method="GET", path="/v2/stocks/quotes/latest", count=10**6))
            flags = ["--max-notional", str(CAP), "--max-position", "100000", "--max-orders-per-sec", "1000"]
            engine = start_engine(tmp_path, broker, *flags, "--max-order-qty", "10", *extra)
            try:
                if feed:
                    engine.wait_metrics(lambda m: m.get("market_bus_received", "0") != "0")
                liars, honest = set(), set()
                signals = []
                for i in range(rng.randint(20, 60)):
                    signal_id = f"p{run}-{i}"
                    kind = rng.choice(["liar", "honest", "unstated"])
                    stated: float | None = None
                    if kind == "liar":
                        factor = rng.choice([rng.uniform(0.001, 0.94), rng.uniform(1.06, 50)])
                        stated = round(trusted * factor, 4)
                        liars.add(f"tb-{signal_id}")
                    else:
                        if kind == "honest":
                            stated = round(trusted * rng.uniform(0.96, 1.04), 4)
                        honest.add(f"tb-{signal_id}")
                    signals.append(
                        engine.signal(signal_id, strength=rng.choice([0.2, 0.5, 1.0]), price=stated)
                    )
                paced(rng, signals, engine.publisher.publish_signal, max_gap_ms=20)
                metrics = engine.wait_metrics(
                    lambda m: int(m["signals_received"]) == len(signals) and m["orders_open"] == "0"
                )
                orders = broker_orders(broker)
                placed = {o["client_order_id"] for o in orders}
                assert placed & liars == set(), f"seed {seed}: orders on a lying price: {placed & liars}"
                assert int(metrics["refused_price_band"]) == len(liars), metrics
                shares = sum(float(o["filled_qty"]) for o in orders)
                assert shares * trusted <= CAP, f"seed {seed}: {shares} shares at {trusted} > ${CAP}"
                assert shares >= 1 or not honest
                print(
                    f"seed {seed}: trusted {trusted} from the {source}; {len(liars)} liars refused, "
                    f"{len(orders)} orders, {shares:.0f} shares = ${shares * trusted:.0f} <= ${CAP:.0f}"
                )
            finally:
                assert engine.stop() == 0
    finally:
        if feed:
            feed.close()


def test_without_a_trusted_price_the_signal_is_refused_unless_allowed(tmp_path: Path) -> None:
    with MockBroker(seed=4) as broker:
        broker.set_price("AAPL", BROKER_PRICE)
        broker.inject(Fault(status=404, method="GET", path="/v2/stocks/quotes/latest", count=10**6))
        strict = start_engine(tmp_path, broker, name="strict")
        try:
            strict.send("np-1", price=1.0)
            metrics = strict.wait_metrics(lambda m: m["refused_no_price"] == "1")
            assert (metrics["orders_submitted"], metrics["allow_signal_price"]) == ("0", "false")
        finally:
            assert strict.stop() == 0
        lenient = start_engine(tmp_path, broker, "--allow-signal-price", name="lenient")
        try:
            lenient.send("np-2", price=100.0)
            metrics = lenient.wait_metrics(lambda m: m["orders_acknowledged"] == "1")
            assert metrics["allow_signal_price"] == "true"
            log = lenient.tail()
        finally:
            assert lenient.stop() == 0
        assert "--allow-signal-price" in log and "WARN" in log
