"""Issue 19, item 1: once the kill switch is engaged, no order reaches the broker, whatever the engine had
already taken off the socket and whatever was in flight.

Each run sends a burst of signals and engages the switch at a random instant of it, by a random means
(SIGUSR1, the HTTP route, the kill file). The proof compares the engine's own engage instant
(``kill_switch_engaged_at_us``) with the broker's ``submitted_at`` of every order it holds.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from tradebridge_mocks.broker import Fault, MockBroker

from tests.risk.harness import Background, broker_orders, micros, paced, run_seed, runs, start_engine

SIGNALS = 150


@pytest.mark.parametrize("run", runs())
def test_no_order_reaches_the_broker_after_the_engage_instant(tmp_path: Path, run: int) -> None:
    seed = run_seed(run)
    rng = random.Random(seed)
    how = rng.choice(["signal", "http", "file"])
    deferred = rng.random() < 0.4  # orders stay open: the cancel-on-engage option has work to do
    cancel = deferred and rng.random() < 0.7
    with MockBroker(
        seed=seed, fill_mode="deferred" if deferred else "immediate", latency_ms=rng.choice([0, 0, 1, 2])
    ) as broker:
        broker.set_price("AAPL", 100.0)
        if rng.random() < 0.3:  # a few slow acknowledgements: engage while an order is in flight
            broker.inject(
                Fault(status=0, delay_ms=rng.uniform(20, 120), method="POST", count=rng.randint(1, 4))
            )
        if rng.random() < 0.3:  # 5xx: engage while a submission waits to be retried
            broker.inject(Fault(status=503, method="POST", path="/v2/orders", count=rng.randint(1, 3)))
        flags = ["--max-position", "100000", "--max-notional", "1e9", "--max-orders-per-sec", "100000"]
        flags += ["--max-order-qty", "1", "--broker-max-attempts", "4"]
        engine = start_engine(tmp_path, broker, *flags, *(["--kill-switch-cancel-orders"] if cancel else []))
        try:
            signals = [engine.signal(f"k{run}-{i}") for i in range(SIGNALS)]
            delay = rng.uniform(0.0, 0.4)
            engager = Background(lambda: (time.sleep(delay), engine.engage(how)))
            engager.start()
            paced(rng, signals, engine.publisher.publish_signal, max_gap_ms=6)
            engager.join_checked()
            # Submissions are answered off the main loop: wait for every signal's outcome, not its receipt.
            metrics = engine.wait_metrics(
                lambda m: (
                    m["kill_switch"] == "true"
                    and int(m["signals_received"]) == SIGNALS
                    and int(m["orders_acknowledged"]) + int(m["refused_total"]) == SIGNALS
                )
            )
            engaged_at = int(metrics["kill_switch_engaged_at_us"])
            assert engaged_at > 0
            orders = broker_orders(broker)
            after = [o["client_order_id"] for o in orders if micros(o["submitted_at"]) >= engaged_at]
            assert after == [], f"seed {seed} ({how}): orders after the engage instant: {after}"
            # Every signal is accounted for: acknowledged by the broker, or refused for a named reason.
            refused = int(metrics["refused_total"])
            assert int(metrics["orders_acknowledged"]) + refused == SIGNALS, metrics
            assert len(orders) <= int(metrics["orders_submitted"])
            if len(orders) < SIGNALS:
                assert int(metrics["refused_kill_switch"]) >= 1, metrics
            if cancel:
                metrics = engine.wait_metrics(lambda m: m["kill_switch_orders_canceled"] != "0" or not orders)
                still_open = [o for o in broker_orders(broker) if o["status"] in ("new", "accepted")]
                assert still_open == []
                assert int(metrics["kill_switch_orders_canceled"]) == len(orders)
            print(
                f"seed {seed}: engaged by {how} after {delay * 1000:.0f} ms; {len(orders)} orders before, "
                f"0 after; refused_kill_switch={metrics['refused_kill_switch']}, "
                f"engage wait {engaged_at - int(metrics['kill_switch_requested_at_us'])} µs"
            )
        finally:
            assert engine.stop() == 0


def test_http_kill_switch_needs_the_token_and_release_reloads_the_exposure(tmp_path: Path) -> None:
    with MockBroker(seed=5) as broker:
        broker.set_price("AAPL", 100.0)
        engine = start_engine(tmp_path, broker, "--max-order-qty", "1", "--kill-switch-flatten")
        try:
            assert engine.post("/kill-switch/engage", token=None)[0] == 401
            status, body = engine.post("/kill-switch/engage", token="wrong")
            assert (status, body["error"]) == (401, "unauthorized")
            assert engine.metrics()["kill_switch"] == "false"
            engine.send("h-1")
            engine.wait_metrics(lambda m: m["positions"] == "AAPL:1")
            status, body = engine.post("/kill-switch/engage")
            assert status == 200 and body["engaged"] and body["changed"] and body["engaged_at_us"] > 0
            # Flattened on engage: the broker closed the position (its own order, after the instant).
            metrics = engine.wait_metrics(lambda m: m["kill_switch_positions_flattened"] == "1")
            assert metrics["kill_switch_source"] == "http"
            engine.send("h-2")
            engine.wait_metrics(lambda m: m["refused_kill_switch"] == "1")
            # The file holds the switch too: an HTTP release cannot lift it while the file exists.
            engine.kill_file.touch()
            engine.wait_metrics(lambda m: m["kill_switch_held_by_file"] == "true")
            status, body = engine.post("/kill-switch/release")
            assert (status, body["error"], body["engaged"]) == (409, "kill_switch_file_present", True)
            engine.kill_file.unlink()
            # Released: the exposure is loaded again before the next signal (the flattening changed it).
            metrics = engine.wait_metrics(
                lambda m: m["kill_switch"] == "false" and m["exposure_syncs"] == "2"
            )
            assert metrics["positions"] == ""
            engine.send("h-3")
            engine.wait_metrics(lambda m: m["orders_submitted"] == "2")
            log = engine.tail()
        finally:
            assert engine.stop() == 0
        assert "risk-suite-kill-token" not in log


def test_without_a_token_the_http_routes_are_refused(tmp_path: Path) -> None:
    with MockBroker(seed=6) as broker:
        engine = start_engine(tmp_path, broker, "--kill-switch-token-env", "TB_RISK_NO_SUCH_TOKEN_VAR")
        try:
            status, body = engine.post("/kill-switch/engage")
            assert (status, body["error"]) == (403, "kill_switch_http_disabled")
            assert engine.metrics()["kill_switch"] == "false"
        finally:
            assert engine.stop() == 0
