"""Threads never crash the bus, and closing from another thread never crashes or hangs it.

A libzmq socket used by two threads at once aborts the process (an assertion in ``msg.cpp`` or
``signaler.cpp``) or corrupts memory; these tests drive the sync classes from several threads at once
with real sockets. The shared-publisher proof runs in child processes, so a crash fails a test instead of
ending the run: ``make test`` runs 3 seeds, ``pytest -m stress`` (``make stress``) 20.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tradebridge.bus import BusClosedError, BusOptions
from tradebridge.bus import ZMQPublisher as AsyncPublisher
from tradebridge.bus import ZMQSubscriber as AsyncSubscriber
from tradebridge.bus.sync import ZMQPublisher, ZMQSubscriber
from tradebridge.errors import BusError

from tests.bus.samples import bar

ROOT = Path(__file__).resolve().parents[2]
#: one seed per session, printed, so a failing run can be repeated (TRADEBRIDGE_STRESS_SEED fixes it)
SEED = int(os.environ.get("TRADEBRIDGE_STRESS_SEED", random.SystemRandom().randrange(1_000_000)))


def _shared_publisher_run(seed: int) -> dict[str, Any]:
    print(f"shared publisher run, seed {seed} (TRADEBRIDGE_STRESS_SEED={seed // 100} repeats it)")
    result = subprocess.run(
        [sys.executable, "-m", "tests.bus.shared_publisher", str(seed)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, (
        f"seed {seed}: exit {result.returncode} (a crash is negative)\n{result.stderr}"
    )
    body: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return body


def _check(body: dict[str, Any]) -> None:
    assert body["errors"] == []
    assert body["published"] == body["received"] == 80_000, body
    assert body["seq_intact"] and body["each_thread_in_order"] and body["threads"] == 8, body
    assert (body["gaps"], body["dropped"], body["restarts"]) == (0, 0, 0), body


@pytest.mark.parametrize("run", range(3))
def test_eight_threads_share_one_publisher_without_a_crash_or_a_lost_number(run: int) -> None:
    _check(_shared_publisher_run(SEED * 100 + run))


@pytest.mark.stress
@pytest.mark.parametrize("run", range(20))
def test_eight_threads_share_one_publisher_stress(run: int) -> None:
    _check(_shared_publisher_run(SEED * 100 + run))


def _in_thread(target: Any) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def body() -> None:
        try:
            outcome.append(target())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("repeat", range(3))
def test_closing_a_subscriber_blocked_in_receive_ends_the_receive(repeat: int) -> None:
    with ZMQPublisher("tcp://127.0.0.1:*") as pub:
        sub = ZMQSubscriber(pub.endpoint)
        sub.connect(["market"])
        pub.wait_for_subscribers(1)
        pub.publish(bar(0))
        looping, loop_outcome = _in_thread(lambda: [m.seq for _, m in sub.receive()])
        waiting = ZMQSubscriber(pub.endpoint)
        waiting.connect(["signal"])  # nothing ever comes: blocked for good
        one, one_outcome = _in_thread(lambda: waiting.receive_one())
        time.sleep(0.05 * (repeat + 1))  # both are inside libzmq's recv by now
        started = time.monotonic()
        sub.close()
        waiting.close()
        looping.join(5)
        one.join(5)
        assert not looping.is_alive() and not one.is_alive(), "a receive hung after close"
        assert time.monotonic() - started < 2
    assert loop_outcome == [[0]]
    assert isinstance(one_outcome[0], BusClosedError)
    with pytest.raises(BusClosedError):
        waiting.receive_one(timeout=0)


def test_closing_a_publisher_while_threads_publish_raises_a_bus_error_in_them() -> None:
    with ZMQSubscriber("tcp://127.0.0.1:*", bind=True) as sub:
        sub.connect(["market"])
        pub = ZMQPublisher(sub.endpoint, bind=False, options=BusOptions(startup_grace=0))
        pub.connect()
        stop = threading.Event()

        def publish_until_stopped() -> int:
            sent = 0
            while not stop.is_set():
                pub.publish(bar(sent)) if sent % 2 else pub.publish_many([bar(sent)] * 10)
                sent += 1
            return sent

        workers = [_in_thread(publish_until_stopped) for _ in range(4)]
        time.sleep(0.1)
        pub.close()
        for thread, _ in workers:
            thread.join(5)
        stop.set()
        assert not any(thread.is_alive() for thread, _ in workers)
    for _, outcome in workers:
        assert isinstance(outcome[0], BusClosedError), outcome
    assert "closed" in str(outcome[0])
    with pytest.raises(BusClosedError):
        pub.publish(bar())
    with pytest.raises(BusClosedError):
        pub.wait_for_subscribers(1, timeout=0.1)


def test_stop_from_another_thread_ends_an_async_receive() -> None:
    async def main() -> list[Any]:
        async with AsyncPublisher("tcp://127.0.0.1:*") as pub, AsyncSubscriber(pub.endpoint) as sub:
            await sub.connect(["market"])
            await pub.wait_for_subscribers(1)
            threading.Timer(0.1, sub.stop).start()
            return [m async for _, m in sub.receive()]

    assert asyncio.run(asyncio.wait_for(main(), 10)) == []


def test_an_async_publisher_refuses_a_foreign_thread_or_loop() -> None:
    async def main() -> None:
        async with AsyncPublisher("tcp://127.0.0.1:*") as pub, AsyncSubscriber(pub.endpoint) as sub:
            await sub.connect()

            def from_a_thread() -> None:
                asyncio.run(pub.publish(bar()))

            thread, outcome = _in_thread(from_a_thread)
            await asyncio.to_thread(thread.join, 5)
            assert isinstance(outcome[0], BusError) and "event loop" in str(outcome[0])

            async def receive_elsewhere() -> Any:
                return await sub.receive_one(timeout=0)

            with pytest.raises(BusError, match="event loop"):
                await asyncio.to_thread(asyncio.run, receive_elsewhere())
            assert pub.stats.published == 0  # readable from anywhere, refused nothing it should not
            await pub.publish(bar())  # its own loop still works

    asyncio.run(main())
