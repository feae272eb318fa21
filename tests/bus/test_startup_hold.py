"""The start-up hold (``BusOptions.startup_grace``): a publisher that has had no subscriber yet keeps its
messages (bounded) and sends them in order when the first subscription arrives, instead of ZeroMQ's
silent slow-joiner loss. Real sockets on loopback; subscribers connect *after* the messages are published."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from tradebridge.bus import BusOptions, ZMQPublisher, ZMQSubscriber, sync
from tradebridge.testing import free_port

from tests.bus.samples import bar, signal


async def take(sub: ZMQSubscriber, n: int, timeout: float = 5.0) -> list[tuple[str, Any]]:
    got: list[tuple[str, Any]] = []

    async def collect() -> None:
        async for item in sub.receive():
            got.append(item)
            if len(got) == n:
                return

    await asyncio.wait_for(collect(), timeout)
    return got


async def test_the_guides_publish_then_exit_reaches_a_subscriber_that_connects_afterwards() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    pub = ZMQPublisher(endpoint)
    await pub.__aenter__()
    await pub.publish_signal(signal(0))  # nobody has connected yet
    assert (pub.stats.held, pub.stats.dropped) == (1, 0)
    async with ZMQSubscriber(endpoint) as sub:
        await sub.connect(["signal"])
        receiving = asyncio.create_task(take(sub, 1))
        started = time.monotonic()
        await pub.__aexit__(None, None, None)  # waits for the subscription, then sends
        assert time.monotonic() - started < 2.0
        [(topic, message)] = await receiving
    assert (topic, message.seq, message.source) == ("signal", 0, pub.source)
    assert message.symbol == signal(0).symbol
    assert (pub.stats.published, pub.stats.held, pub.stats.dropped) == (1, 0, 0)


async def test_held_messages_are_flushed_in_order_as_soon_as_a_subscriber_comes() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    async with ZMQPublisher(endpoint) as pub:
        for i in range(100):
            await pub.publish(bar(i))
        assert pub.stats.held == 100
        async with ZMQSubscriber(endpoint) as sub:
            await sub.connect(["market"])
            # no further publish and no close: the publisher's background task sends them
            got = await take(sub, 100)
            assert [m.seq for _, m in got] == list(range(100))
            assert [m.timestamp for _, m in got] == [bar(i).timestamp for i in range(100)]
            assert not pub._core.holding  # from now on publish goes straight to the socket
            await pub.publish(bar(100))
            [(_, last)] = await take(sub, 1)
            assert last.seq == 100
        assert (pub.stats.held, pub.stats.dropped, sub.stats.gaps) == (0, 0, 0)


def test_sync_publisher_flushes_on_its_next_call_after_the_subscription() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    with sync.ZMQPublisher(endpoint) as pub, sync.ZMQSubscriber(endpoint) as sub:
        for i in range(5):
            pub.publish(bar(i))
        sub.connect(["market"])
        deadline = time.monotonic() + 5
        while pub.subscriber_count() < 1:  # the subscriber subscribes from inside its receive calls
            assert time.monotonic() < deadline
            assert sub.receive_one(timeout=0.02) is None
        pub.publish_many(bar(i) for i in range(5, 10))
        got = [sub.receive_one(timeout=5) for _ in range(10)]
    assert [item[1].seq for item in got if item] == list(range(10))
    assert (pub.stats.dropped, sub.stats.gaps) == (0, 0)


def test_the_queue_is_bounded_and_keeps_the_newest() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    options = BusOptions(startup_queue=10)
    with sync.ZMQPublisher(endpoint, options=options) as pub, sync.ZMQSubscriber(endpoint) as sub:
        pub.publish_many(bar(i) for i in range(25))
        assert (pub.stats.held, pub.stats.dropped) == (10, 15)
        sub.connect(["market"])
        while pub.subscriber_count() < 1:
            assert sub.receive_one(timeout=0.02) is None
        got = [sub.receive_one(timeout=5) for _ in range(10)]
    assert [item[1].seq for item in got if item] == list(range(15, 25))
    assert pub.stats.dropped == 15


def test_after_the_grace_what_is_held_is_dropped_and_counted() -> None:
    options = BusOptions(startup_grace=0.2)
    with sync.ZMQPublisher(f"tcp://127.0.0.1:{free_port()}", options=options) as pub:
        pub.publish_many(bar(i) for i in range(3))
        assert pub._core.holding
        time.sleep(0.3)
        pub.publish(bar(3))  # the grace is over: the held three are dropped, this one goes to the socket
        assert not pub._core.holding
        assert (pub.stats.published, pub.stats.held, pub.stats.dropped) == (4, 0, 3)


async def test_held_messages_no_subscription_matches_are_counted_as_dropped() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    async with ZMQPublisher(endpoint) as pub:
        await pub.publish(bar(0))
        await pub.publish_signal(signal(0))
        await pub.publish(bar(1))
        async with ZMQSubscriber(endpoint) as sub:
            await sub.connect(["signal"])
            [(topic, message)] = await take(sub, 1)
        assert (topic, message.seq) == ("signal", 0)
        assert pub.stats.dropped == 2


@pytest.mark.parametrize("grace", [0.0, 3.0])
async def test_a_publisher_with_a_subscriber_waiting_never_holds(grace: float) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    async with ZMQSubscriber(endpoint) as sub:
        await sub.connect(["market"])
        async with ZMQPublisher(endpoint, options=BusOptions(startup_grace=grace)) as pub:
            receiving = asyncio.create_task(take(sub, 10))
            await pub.wait_for_subscribers(1)
            assert not pub._core.holding
            await pub.publish_many(bar(i) for i in range(10))
            assert pub.stats.held == 0
            assert [m.seq for _, m in await receiving] == list(range(10))


def test_bad_grace_options_are_refused() -> None:
    with pytest.raises(ValueError, match="startup_grace"):
        BusOptions(startup_grace=-1)
    with pytest.raises(ValueError, match="startup_grace"):
        BusOptions(startup_grace=float("nan"))
    with pytest.raises(ValueError, match="startup_queue"):
        BusOptions(startup_queue=-1)


def test_a_publisher_connected_again_holds_again() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    with sync.ZMQSubscriber(endpoint) as sub:
        sub.connect(["market"])
        pub = sync.ZMQPublisher(endpoint, options=BusOptions(startup_grace=0.5))
        pub.connect()
        while pub.subscriber_count() < 1:
            sub.receive_one(timeout=0.02)
        pub.close()
        pub.connect()  # a new socket: the old subscription says nothing about it
        try:
            assert pub.subscriber_count() == 0
            pub.publish(bar(0))
            assert pub.stats.held == 1
        finally:
            pub.close()


async def test_leaving_on_cancellation_does_not_wait_for_a_subscriber() -> None:
    async def publish_then_hang(pub: ZMQPublisher) -> None:
        async with pub:
            await pub.publish(bar(0))
            await asyncio.sleep(60)

    pub = ZMQPublisher(f"tcp://127.0.0.1:{free_port()}")
    task = asyncio.create_task(publish_then_hang(pub))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1.0  # not the 3 s grace
    assert (pub.stats.held, pub.stats.dropped) == (0, 1)
