"""The asyncio publisher and subscriber over real sockets (tcp on loopback and ipc)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec
import pytest
import zmq
import zmq.asyncio
from tradebridge import ZMQPublisher, ZMQSubscriber
from tradebridge.bus import BusOptions, SubscriberTimeoutError
from tradebridge.contracts import Signal, encode, encode_frame
from tradebridge.errors import BusError, ContractError
from tradebridge.testing import free_port

from tests.bus.samples import bar, one_of_each, signal


async def take(sub: ZMQSubscriber, n: int, timeout: float = 5.0) -> list[tuple[str, Any]]:
    got: list[tuple[str, Any]] = []

    async def collect() -> None:
        async for item in sub.receive():
            got.append(item)
            if len(got) == n:
                return

    await asyncio.wait_for(collect(), timeout)
    return got


def strip(message: Any) -> Any:
    return msgspec.structs.replace(message, seq=msgspec.UNSET, source=msgspec.UNSET, sent_at_us=msgspec.UNSET)


async def test_the_guides_code_runs_as_written(bind_endpoint: str) -> None:
    async with ZMQPublisher(bind_endpoint) as pub, ZMQSubscriber(pub.endpoint) as sub:
        await sub.connect(["market", "signal"])
        await pub.wait_for_subscribers(2)
        sent = Signal(
            symbol="AAPL",
            direction="long",
            strength=0.85,
            timestamp=int(time.time() * 1000),
            features=[1.0, 2.0, 3.0],
            metadata={"strategy": "ml-predictor"},
        )
        await pub.publish_signal(sent)
        async for topic, message in sub.receive():
            assert topic == "signal"
            assert message["type"] == "Signal"
            assert message["symbol"] == "AAPL"
            assert strip(message) == sent
            break


async def test_explicit_connect_form_and_every_message_type(bind_endpoint: str) -> None:
    pub = ZMQPublisher(bind_endpoint)
    await pub.connect()
    sub = ZMQSubscriber(pub.endpoint)
    try:
        await sub.connect()  # everything
        await pub.wait_for_subscribers(1)
        messages = one_of_each()
        assert await pub.publish_many(messages) == len(messages)
        got = await take(sub, len(messages))
        assert [strip(m) for _, m in got] == messages
        assert [t for t, _ in got] == ["market", "market", "market", "signal", "order", "system"]
        assert sub.stats.received == len(messages) and sub.stats.gaps == 0
        assert pub.stats.published == len(messages)
        assert pub.stats.topics == {"market": 3, "signal": 1, "order": 1, "system": 1}
    finally:
        await sub.close()
        await pub.close()


class RawPublisher:
    """A bare pyzmq XPUB, to send frames our publisher never would (garbage, foreign topics)."""

    def __init__(self) -> None:
        self.context: zmq.Context[Any] = zmq.Context()
        self.socket = self.context.socket(zmq.XPUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.socket.bind(self.endpoint)

    def wait_for_subscription(self) -> None:
        assert self.socket.poll(5000), "no subscription arrived"
        assert self.socket.recv()[0] == 1

    def close(self) -> None:
        self.socket.close()
        self.context.term()


@pytest.fixture
def raw() -> Any:
    publisher = RawPublisher()
    yield publisher
    publisher.close()


async def test_topics_match_exactly_not_by_prefix(raw: RawPublisher) -> None:
    async with ZMQSubscriber(raw.endpoint) as sub:
        await sub.connect(["signal"])
        raw.wait_for_subscription()
        raw.socket.send(encode_frame(bar()))  # other topic: filtered by ZeroMQ itself
        # "signals" passes ZeroMQ's prefix filter; we must still not deliver it
        raw.socket.send(b"signals " + encode(signal()))
        raw.socket.send(encode_frame(signal(1)))
        ((topic, message),) = await take(sub, 1)
        assert (topic, message.direction) == ("signal", "short")
        assert sub.stats.filtered == 1 and sub.stats.malformed == 0


async def test_wait_for_subscribers_times_out_with_a_typed_error() -> None:
    async with ZMQPublisher("tcp://127.0.0.1:*") as pub:
        started = time.monotonic()
        with pytest.raises(SubscriberTimeoutError, match="0 of 1"):
            await pub.wait_for_subscribers(1, timeout=0.2)
        assert time.monotonic() - started < 2
        assert isinstance(SubscriberTimeoutError("x"), BusError | TimeoutError)


async def test_wait_for_subscribers_counts_subscribers_of_a_topic_once_each() -> None:
    async with ZMQPublisher("tcp://127.0.0.1:*") as pub:
        subs = [ZMQSubscriber(pub.endpoint) for _ in range(3)]
        try:
            await subs[0].connect(["market", "signal"])
            await subs[1].connect(["market"])
            await subs[2].connect()  # everything, which includes market
            assert await pub.wait_for_subscribers(3, timeout=5, topic="market") == 3
            assert pub.subscriber_count("signal") == 2
            assert pub.subscriber_count("order") == 1
            # nothing is lost right after the wait: the slow-joiner problem is gone
            for i in range(100):
                await pub.publish(bar(i))
            for sub in subs:
                got = await take(sub, 100)
                assert [m.seq for _, m in got] == list(range(100))
        finally:
            for sub in subs:
                await sub.close()


async def test_garbage_interleaved_with_valid_frames_is_counted_and_skipped_in_order(
    caplog: pytest.LogCaptureFixture, raw: RawPublisher
) -> None:
    valid = [msgspec.structs.replace(bar(i), seq=i, source="raw") for i in range(4)]
    garbage = [
        b"no-space-at-all",
        b" market-empty-topic",
        b'market {"type":"BarUpdate",',  # truncated JSON
        b"market " + encode(signal()),  # a Signal on the market topic
        b"system " + b'{"type":"Heartbeat","component":"","timestamp":1}',  # contract violation
        b"market \xff\xfe",
    ]
    async with ZMQSubscriber(raw.endpoint) as sub:
        await sub.connect()
        raw.wait_for_subscription()
        frames = [encode_frame(valid[0]), *garbage[:3], encode_frame(valid[1]), *garbage[3:]]
        frames += [encode_frame(valid[2])] + [b"junk"] * 50 + [encode_frame(valid[3])]
        with caplog.at_level(logging.WARNING, logger="tradebridge.bus"):
            for frame in frames:
                raw.socket.send(frame)
            got = await take(sub, 4)
        assert [m for _, m in got] == valid
        stats = sub.stats
        assert stats.malformed == len(garbage) + 50
        assert stats.malformed_by_code["bad_frame"] == 2 + 50
        assert stats.malformed_by_code["invalid_json"] == 1
        assert stats.malformed_by_code["topic_mismatch"] == 1
        assert stats.gaps == 0 and stats.received == 4
        warnings = [r for r in caplog.records if r.name == "tradebridge.bus"]
        assert 1 <= len(warnings) <= 10  # logged, but not one line per bad frame


async def test_strict_mode_raises_the_contract_error(raw: RawPublisher) -> None:
    async with ZMQSubscriber(raw.endpoint, strict=True) as sub:
        await sub.connect(["market"])
        raw.wait_for_subscription()
        raw.socket.send(b"market {oops")
        with pytest.raises(ContractError) as caught:
            await take(sub, 1)
        assert caught.value.code == "invalid_json"
        assert sub.stats.malformed == 1


async def test_receive_one_times_out_with_none() -> None:
    async with ZMQPublisher("tcp://127.0.0.1:*") as pub, ZMQSubscriber(pub.endpoint) as sub:
        await sub.connect(["market"])
        await pub.wait_for_subscribers(1)
        assert await sub.receive_one(timeout=0.1) is None
        await pub.publish(bar(7))
        got = await sub.receive_one(timeout=5)
        assert got is not None and got[1].volume == bar(7).volume


async def test_stop_and_close_end_a_waiting_receive_loop_quietly() -> None:
    async with ZMQPublisher("tcp://127.0.0.1:*") as pub:
        sub = ZMQSubscriber(pub.endpoint)
        await sub.connect(["market"])
        received: list[Any] = []

        async def consume() -> None:
            async for item in sub.receive():
                received.append(item)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.1)
        sub.stop()
        await asyncio.wait_for(task, 2)
        task = asyncio.create_task(consume())
        await asyncio.sleep(0.1)
        await sub.close()
        await asyncio.wait_for(task, 2)
        assert received == []


async def test_cancelling_the_consumer_task_still_cancels() -> None:
    async with ZMQPublisher("tcp://127.0.0.1:*") as pub, ZMQSubscriber(pub.endpoint) as sub:
        await sub.connect(["market"])

        async def consume() -> None:
            async for _ in sub.receive():
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_unknown_topics_are_refused_when_subscribing() -> None:
    async with ZMQSubscriber("tcp://127.0.0.1:1") as sub:
        with pytest.raises(ValueError, match="unknown topic 'signals'"):
            await sub.connect(["signals"])
        assert "not connected" in repr(sub)


async def test_receiving_before_connect_is_a_clear_error() -> None:
    async with ZMQSubscriber("tcp://127.0.0.1:1") as sub:
        with pytest.raises(BusError, match="connect"):
            async for _ in sub.receive():
                pass


async def test_publishing_before_connect_is_a_clear_error() -> None:
    with pytest.raises(BusError, match="connect"):
        await ZMQPublisher("tcp://127.0.0.1:*").publish(bar())


async def test_binding_a_taken_endpoint_is_a_one_line_bus_error() -> None:
    async with ZMQPublisher("tcp://127.0.0.1:*") as first:
        second = ZMQPublisher(first.endpoint)
        with pytest.raises(BusError, match=r"cannot bind tcp://127\.0\.0\.1:\d+: Address already in use"):
            await second.connect()


async def test_publish_signal_refuses_other_messages() -> None:
    async with ZMQPublisher("tcp://127.0.0.1:*") as pub:
        with pytest.raises(TypeError, match="Signal"):
            await pub.publish_signal(bar())  # type: ignore[arg-type]


async def test_heartbeat_goes_on_system() -> None:
    async with ZMQPublisher("tcp://127.0.0.1:*") as pub, ZMQSubscriber(pub.endpoint) as sub:
        await sub.connect(["system"])
        await pub.wait_for_subscribers(1)
        await pub.publish_heartbeat("strategy", "degraded")
        ((topic, message),) = await take(sub, 1)
        assert (topic, message.component, message.status) == ("system", "strategy", "degraded")


async def test_publisher_can_connect_to_a_binding_subscriber(ipc_dir: Any) -> None:
    endpoint = f"ipc://{ipc_dir}/reverse.sock"
    async with ZMQSubscriber(endpoint, bind=True) as sub:
        await sub.connect(["market"])
        async with ZMQPublisher(endpoint, bind=False) as pub:
            # a bound subscriber sends its subscription to a new peer from inside receive()
            receiving = asyncio.create_task(take(sub, 100))
            await pub.wait_for_subscribers(1)
            for i in range(100):
                await pub.publish(bar(i))
            got = await receiving
            assert [m.seq for _, m in got] == list(range(100))


async def test_publisher_restart_is_found_again_and_reported() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    options = BusOptions(reconnect_ivl_ms=20, reconnect_ivl_max_ms=100)
    async with ZMQSubscriber(endpoint, options=options) as sub:
        await sub.connect(["market"])
        # a stable instance id (its role) is what lets a subscriber tell a restart from a new publisher
        async with ZMQPublisher(endpoint, source="feed-1") as first:
            await first.wait_for_subscribers(1)
            for i in range(10):
                await first.publish(bar(i))
            before = await take(sub, 10)
        # without the start-up hold (startup_grace=0), as a publisher restarting after its grace ran out
        async with ZMQPublisher(endpoint, options=BusOptions(startup_grace=0), source="feed-1") as second:
            for i in range(5):  # before the subscriber is back: lost, and the numbering shows it
                await second.publish(bar(100 + i))
            # the subscriber re-subscribes after reconnecting from inside receive()
            receiving = asyncio.create_task(take(sub, 5))
            await second.wait_for_subscribers(1, timeout=5)
            for i in range(5, 10):
                await second.publish(bar(100 + i))
            after = await receiving
    assert [m.seq for _, m in before] == list(range(10))
    assert [m.seq for _, m in after] == list(range(5, 10))
    assert {m.source for _, m in after} == {"feed-1"}
    stats = sub.stats
    # the numbering went back (a restart) to 5: the restarted run's 0..4 were lost
    assert (stats.restarts, stats.gaps, stats.dropped, stats.received) == (1, 1, 5, 15)
    assert (stats.sources, stats.missed_at_join) == (1, 0)


async def test_a_slow_subscriber_loses_messages_visibly() -> None:
    small = BusOptions(send_hwm=50, receive_hwm=50)
    total = 20_000
    payload = signal(features=400)  # about 4 kB a message: far more than socket buffers hold
    async with (
        ZMQPublisher("tcp://127.0.0.1:*", options=small) as pub,
        ZMQSubscriber(pub.endpoint, options=small) as sub,
    ):
        await sub.connect(["signal"])
        await pub.wait_for_subscribers(1)
        await pub.publish_many(payload for _ in range(total))  # the subscriber reads nothing meanwhile
        got: list[int] = []
        while (item := await sub.receive_one(timeout=0.5)) is not None:
            got.append(item[1].seq)
    stats = sub.stats
    assert got == sorted(got) and got[0] == 0
    assert stats.received == len(got) < total
    assert stats.gaps >= 1
    # every message up to the last one received is either received or counted as dropped
    assert stats.received + stats.dropped == got[-1] + 1


async def test_conflate_keeps_only_the_newest() -> None:
    async with (
        ZMQPublisher("tcp://127.0.0.1:*") as pub,
        ZMQSubscriber(pub.endpoint, options=BusOptions(conflate=True)) as sub,
    ):
        await sub.connect(["market"])
        await pub.wait_for_subscribers(1)
        for i in range(1000):
            await pub.publish(bar(i))
        await asyncio.sleep(0.3)
        seen = []
        while (item := await sub.receive_one(timeout=0.3)) is not None:
            seen.append(item[1].seq)
        # only the newest survives the wait (a loaded machine may hand over a few on the way)
        assert seen and seen[-1] == 999 and len(seen) <= 50


async def test_a_shared_context_is_left_open() -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        async with (
            ZMQPublisher("inproc://shared", context=ctx) as pub,
            ZMQSubscriber("inproc://shared", context=ctx) as sub,
        ):
            await sub.connect(["market"])
            await pub.wait_for_subscribers(1)
            await pub.publish(bar())
            assert len(await take(sub, 1)) == 1
        assert not ctx.closed
    finally:
        ctx.term()
