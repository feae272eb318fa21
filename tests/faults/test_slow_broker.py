"""Issue 15, item 2: the main loop never blocks on the broker. The broker answers every read (latest
quotes, order-status polls) two seconds late; the engine keeps reading signals meanwhile (signals for a
symbol without a price wait for its quote, held and counted, while the others go on), ``/live`` answers,
and SIGTERM exits within a second with the journal consistent: a restart orders every signal exactly
once when they are all delivered again. A signal whose quote does not come within ``--price-wait-ms``
is refused ``broker_unavailable`` (counted), one that finds the wait queue full ``queue_full``; both are
ordered once when delivered again."""

from __future__ import annotations

import signal
import time
import urllib.request
from pathlib import Path

from tradebridge.contracts import Signal
from tradebridge_mocks.broker import Fault, MockBroker

from tests.faults.harness import coid_of, orders_by_client_id, start
from tests.faults.test_outages import assert_one_order_each, deliver_all, redeliver_until_ordered

#: what the broker takes to answer each read while the fault holds
SLOW_MS = 2_000


def slow_reads() -> Fault:
    """Every GET (quotes, order lookups, listings) answered ``SLOW_MS`` late, for as long as it holds."""
    return Fault(status=0, delay_ms=SLOW_MS, method="GET", count=10**6)


def batch(prefix: str, symbol: str, n: int) -> list[Signal]:
    stamp = int(time.time() * 1000)
    return [
        Signal(symbol=symbol, direction="long", strength=1.0, timestamp=stamp, signal_id=f"{prefix}-{i}")
        for i in range(n)
    ]


def live(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/live", timeout=1) as r:
        status: int = r.status
    return status


def test_signals_are_read_while_quotes_and_polls_are_slow_and_sigterm_is_prompt(tmp_path: Path) -> None:
    journal = tmp_path / "engine.journal"
    priced = batch("q", "AAPL", 4)  # no price yet: they wait for the (slow) quote
    later = batch("w", "AAPL", 3)  # read while the orders' polls are slow
    with MockBroker(seed=31, fill_mode="deferred") as broker:
        broker.set_price("AAPL", 100.0)
        engine = start(tmp_path, broker, "--journal", str(journal), "--no-trade-stream",
                       "--price-wait-ms", "10000", name="first")  # fmt: skip
        try:
            broker.inject(slow_reads())
            deliver_all(engine, priced)
            # Read and held while the quote is on its way: nothing ordered, nothing refused yet.
            m = engine.wait_metrics(lambda m: m["signals_received"] == "4" and m["signals_waiting"] == "4")
            assert (m["orders_submitted"], m["refused_total"], m["quote_requests"]) == ("0", "0", "1"), m
            assert m["broker_reads_pending"] == "1", m
            assert live(engine.health_port) == 200
            # The quote arrives: the four are decided in order and sent; the broker holds them open
            # (deferred fills), so they are polled, each poll answered two seconds late.
            m = engine.wait_metrics(lambda m: m["orders_acknowledged"] == "4" and int(m["order_polls"]) >= 4)
            deliver_all(engine, later)
            m = engine.wait_metrics(lambda m: m["signals_received"] == "7")
            # Read while every poll is still pending, and decided at once (the price is known now).
            assert int(m["broker_reads_pending"]) >= 1 and m["updates_from_poll"] == "0", m
            m = engine.wait_metrics(lambda m: m["orders_acknowledged"] == "7")
            assert live(engine.health_port) == 200
            started = time.monotonic()
            engine.process.send_signal(signal.SIGTERM)
            code = engine.process.wait(5)
            took = time.monotonic() - started
            engine.publisher.close()
        finally:
            if engine.process.poll() is None:
                engine.stop()
        assert code == 0, engine.tail()
        assert took < 1.0, f"SIGTERM took {took:.3f} s with reads pending"
        held_before = orders_by_client_id(broker)
        assert set(held_before) == {coid_of(s) for s in priced + later}
        # The journal knows all seven: delivered again after a restart (reads fast again), none is
        # ordered a second time.
        broker.state.faults.clear()
        broker.set_price("AAPL", 100.0)  # the open orders fill: the restart finds nothing left open
        again = start(tmp_path, broker, "--journal", str(journal), "--no-trade-stream", name="second")
        try:
            deliver_all(again, priced + later)
            m = again.wait_metrics(lambda m: m["signals_received"] == "7" and m["orders_open"] == "0")
        finally:
            assert again.stop() == 0
        assert (m["duplicates_from_journal"], m["orders_submitted"]) == ("7", "0"), m
        assert_one_order_each(broker, priced + later)
        print(
            f"reads {SLOW_MS} ms late: 4 signals held for the quote, 3 read while 4 polls were pending; "
            f"SIGTERM exit 0 in {took * 1000:.0f} ms; restart: 7 journal duplicates, 0 re-ordered"
        )


def test_a_quote_too_slow_or_a_full_wait_queue_is_a_counted_refusal(tmp_path: Path) -> None:
    """``--price-wait-ms 300`` against a 2-s quote: the waiting signals are refused ``broker_unavailable``
    once their wait is over; with ``--price-wait-queue 2`` the third and later ones are refused
    ``queue_full`` at once. Delivered again with the broker fast, each is ordered once."""
    signals = batch("x", "MSFT", 5)
    with MockBroker(seed=32) as broker:
        broker.set_price("MSFT", 50.0)
        engine = start(tmp_path, broker, "--price-wait-ms", "300", "--price-wait-queue", "2", name="engine")
        try:
            broker.inject(slow_reads())
            deliver_all(engine, signals)
            m = engine.wait_metrics(lambda m: m["signals_received"] == "5" and m["orders_open"] == "0")
            assert (m["refused_queue_full"], m["refused_broker_unavailable"]) == ("3", "2"), m
            assert (m["price_waits_expired"], m["orders_submitted"]) == ("2", "0"), m
            broker.state.faults.clear()
            rounds = redeliver_until_ordered(engine, broker, signals)
        finally:
            assert engine.stop() == 0
        assert_one_order_each(broker, signals)
        print(f"quote 2 s > wait 300 ms: 2 expired, 3 queue_full; ordered once after {rounds} re-deliveries")
