"""Issue 19, item 3: exposure survives a restart, open orders included; signals wait for the load.

Each run: a broker whose orders stay open until prices move (deferred fills, some partial), a first engine
that opens orders and is stopped with orders still open, a second engine that must count them. Long and
short signals come in bursts from one or several publishers while prices move. The proof is the broker's
worst-case exposure (position plus unfilled buys, or minus unfilled sells), computed under its lock at
every order state change across both engines' lives: never above the position limit.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from tradebridge.bus.sync import ZMQPublisher
from tradebridge_mocks.broker import Fault, MockBroker

from tests.risk.harness import Background, Engine, ExposureWatch, paced, run_seed, runs, start_engine

LIMIT = 30


def random_signals(rng: random.Random, engine: Engine, prefix: str, n: int) -> list[object]:
    """Mostly one direction (to press against the limit), sometimes the other (flip-flops)."""
    lean = rng.choice(["long", "short"])
    other = "short" if lean == "long" else "long"
    return [
        engine.signal(
            f"{prefix}-{i}",
            direction=lean if rng.random() < 0.75 else other,
            strength=rng.choice([0.3, 0.5, 0.8, 1.0]),
        )
        for i in range(n)
    ]


def burst(rng: random.Random, engine: Engine, signals: list[object], publishers: int) -> None:
    """Send from ``publishers`` sockets at once (the extra ones through the engine's proxy)."""
    if publishers == 1:
        paced(rng, signals, engine.publisher.publish_signal, max_gap_ms=15)
        return
    assert engine.proxy is not None
    extra = [ZMQPublisher(engine.proxy.upstream, bind=False) for _ in range(publishers - 1)]
    try:
        for p in extra:
            p.connect()
        senders = [engine.publisher, *extra]
        # Each publisher's socket is used by one thread only (ZeroMQ sockets are not thread-safe).
        shares = [signals[i::publishers] for i in range(publishers)]
        seeds = [rng.randrange(1 << 30) for _ in senders]
        threads = [
            Background(
                lambda s=s, share=share, seed=seed: paced(random.Random(seed), share, s.publish_signal, 15)
            )
            for s, share, seed in zip(senders, shares, seeds, strict=True)
        ]
        for p in extra:
            p.wait_for_subscribers(1, timeout=10, topic="signal")
        for t in threads:
            t.start()
        for t in threads:
            t.join_checked()
    finally:
        for p in extra:
            p.close()


@pytest.mark.parametrize("run", runs())
def test_exposure_never_exceeds_the_limit_across_a_restart_with_open_orders(tmp_path: Path, run: int) -> None:
    seed = run_seed(run)
    rng = random.Random(seed)
    watch = ExposureWatch(limit=LIMIT)
    flags = ["--max-position", str(LIMIT), "--max-notional", "1e9", "--max-orders-per-sec", "1000"]
    flags += ["--max-order-qty", "10", "--price-max-age-ms", "60000"]
    with MockBroker(seed=seed, fill_mode="deferred", partial_fill_rate=rng.choice([0.0, 0.3, 0.6])) as broker:
        broker.set_price("AAPL", 100.0)
        watch.attach(broker)
        first = start_engine(tmp_path, broker, *flags, name="first")
        try:
            sent = rng.randint(8, 30)
            burst(rng, first, random_signals(rng, first, f"a{run}", sent), 1)
            first.wait_metrics(lambda m: int(m["signals_received"]) == sent)
            if rng.random() < 0.5:
                broker.advance(1, ["AAPL"])  # some fills before the restart
                first.wait_metrics(lambda m: m["orders_open"] == "0" or m["fills"] != "0")
            if first.wait_metrics(lambda m: m["orders_open"] != "")["orders_open"] == "0":
                # Everything filled: one order that reduces the position (always allowed) stays open.
                held = float(broker.state.engine.position_qty("AAPL"))
                first.send(f"a{run}-open", direction="short" if held > 0 else "long", strength=0.5)
                first.wait_metrics(lambda m: m["orders_open"] == "1")
        finally:
            assert first.stop() == 0
        open_at_restart = sum(1 for o in broker.state.engine.account.orders.values() if o.is_open)
        assert open_at_restart >= 1, "the scenario needs orders open across the restart"
        if rng.random() < 0.5:  # the load fails a few times first: signals wait
            broker.inject(Fault(status=500, method="GET", path="/v2/orders", count=rng.randint(1, 3)))
        publishers = rng.choice([1, 1, 8])
        second = start_engine(
            tmp_path, broker, *flags, "--broker-max-attempts", "1", name="second", proxy=publishers > 1
        )
        try:
            metrics = second.metrics()
            assert int(metrics["open_orders_loaded"]) == open_at_restart
            sent = 0
            for step in range(rng.randint(2, 4)):
                n = rng.randint(10, 40)
                burst(rng, second, random_signals(rng, second, f"b{run}-{step}", n), publishers)
                sent += n
                if rng.random() < 0.6:
                    time.sleep(rng.uniform(0, 0.05))
                    broker.advance(1, ["AAPL"])
            # every signal read, then every one decided: a submission still in flight is neither yet
            second.wait_metrics(lambda m: int(m["signals_received"]) == sent)
            second.wait_metrics(lambda m: int(m["orders_acknowledged"]) + int(m["refused_total"]) == sent)
        finally:
            assert second.stop() == 0
    assert watch.breaches == [], f"seed {seed}: {watch.breaches[:5]}"
    assert watch.events > 0
    print(
        f"seed {seed}: {open_at_restart} open at restart, worst exposure {watch.worst['AAPL']:.0f}/{LIMIT} "
        f"over {watch.events} broker events"
    )


def test_signals_are_refused_until_the_exposure_is_loaded(tmp_path: Path) -> None:
    with MockBroker(seed=9) as broker:
        broker.set_price("AAPL", 100.0)
        broker.inject(Fault(status=500, method="GET", path="/v2/orders", count=4))
        engine = start_engine(tmp_path, broker, "--broker-max-attempts", "1", wait_ready=False)
        try:
            status, body = engine.get("/ready")
            deadline = time.monotonic() + 10
            while "exposure unknown" not in body.get("reason", ""):
                assert time.monotonic() < deadline, body
                status, body = engine.get("/ready")
            assert status == 503 and "open orders and positions" in body["reason"]
            engine.send("early")
            engine.wait_metrics(lambda m: m["refused_exposure_unknown"] == "1")
            metrics = engine.wait_metrics(lambda m: m["exposure_synced"] == "true")
            assert int(metrics["exposure_sync_failures"]) >= 1
            assert engine.get("/ready")[0] == 200
            # The refused signal's id was not spent: sent again, it is ordered.
            engine.send("early")
            engine.wait_metrics(lambda m: m["orders_submitted"] == "1")
            text = engine.tail()
        finally:
            assert engine.stop() == 0
        assert "signals are refused until it works" in text
