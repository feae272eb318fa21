"""The demo's bus observer: every time it keeps is an envelope stamp (``sent_at_us``), never a side file."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

from tradebridge.bus.sync import ZMQPublisher
from tradebridge.contracts import OrderUpdate, Signal
from tradebridge.testing import free_port
from tradebridge_demo.observer import BusObserver
from tradebridge_demo.report import observed_flow


def wait_for(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_bar_send_times_come_from_the_mock_publishers_envelopes() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    command = [
        sys.executable, "-m", "tradebridge.cli", "mock-publisher", "--endpoint", endpoint,
        "--symbols", "AAPL,MSFT", "--rate", "2000", "--count", "200", "--seed", "4",
        "--wait-for-subscribers", "1",
    ]  # fmt: skip
    started_ns = time.time_ns()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # connected before the publisher binds: it waits for this subscriber, so no bar is missed
        with BusObserver(f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}") as observer:
            observer.watch_market(endpoint)
            wait_for(lambda: len(observer.bar_times()) == 200, "200 bars")
            observer.raise_errors()
            times = observer.bar_times()
        _, err = process.communicate(timeout=10)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, err
    assert {seq for _, seq in times} == set(range(200)) and len({source for source, _ in times}) == 1
    finished_ns = time.time_ns()
    assert all(started_ns <= sent <= finished_ns for sent in times.values())


def test_signals_and_updates_are_joined_by_signal_id_at_their_send_times() -> None:
    signals_at, orders_at = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    with (
        ZMQPublisher(signals_at) as signals,
        ZMQPublisher(orders_at) as orders,
        BusObserver(signals_at, orders_at) as observer,
    ):
        signals.wait_for_subscribers(1, timeout=10, topic="signal")
        orders.wait_for_subscribers(1, timeout=10, topic="order")
        now_us = time.time_ns() // 1000
        signal = Signal(
            symbol="AAPL",
            direction="long",
            strength=0.5,
            timestamp=now_us // 1000,
            signal_id="s-1",
            price=100.0,
            metadata={"bar_source": "py-a", "bar_seq": 3},
        )
        # the update first: the observer keeps it until its signal shows up
        base = {"order_id": "o-1", "symbol": "AAPL", "side": "buy", "qty": 2.0, "timestamp": now_us // 1000}
        # a client order id that is not tb-<signal_id> (a hashed one): only the typed field joins them
        orders.publish(OrderUpdate(**base, client_order_id="tb-hx", status="accepted", filled_qty=0.0,
                                   filled_avg_price=None, signal_id="s-1"))  # fmt: skip
        orders.publish(OrderUpdate(**base, client_order_id="tb-hx", status="filled", filled_qty=2.0,
                                   filled_avg_price=100.0, signal_id="s-1"))  # fmt: skip
        # no signal_id: counted, never joined (not even by a client order id that looks like one)
        orders.publish(OrderUpdate(**base, client_order_id="tb-s-1", status="filled", filled_qty=2.0,
                                   filled_avg_price=100.0))  # fmt: skip
        wait_for(lambda: observer.raise_errors() or observer.order_updates == 3, "the updates")
        signals.publish_signal(signal)
        wait_for(lambda: observer.pending() == 0 and len(observer.signals()) == 1, "the signal")
        observer.raise_errors()
        (seen,) = observer.signals()
        assert observer.unmatched_updates() == 1
    assert (seen.signal_id, seen.price, seen.status, seen.filled_qty) == ("s-1", 100.0, "filled", 2.0)
    assert (seen.bar_source, seen.bar_seq) == ("py-a", 3)
    # the updates were sent before the signal: times from the envelopes give negative hops, which an
    # arrival-time clock could never give (the observer saw the signal last)
    assert seen.ack_ns is not None and seen.fill_ns is not None
    assert seen.ack_ns <= seen.fill_ns < seen.seen_ns
    assert all(t % 1000 == 0 for t in (seen.seen_ns, seen.ack_ns, seen.fill_ns))  # microsecond stamps
    flow = observed_flow([seen], {("py-a", 3): seen.seen_ns - 2_000_000})
    assert flow["records"][0]["hops_ms"]["published_to_signal"] == 2.0
