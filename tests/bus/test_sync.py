"""The blocking twins: same names, same behaviour, over real sockets."""

from __future__ import annotations

import inspect
import threading
import time

import msgspec
import pytest
import tradebridge.bus as asynchronous
import tradebridge.bus.sync as synchronous
from tradebridge.bus import BusOptions
from tradebridge.bus.sync import SubscriberTimeoutError, ZMQPublisher, ZMQSubscriber
from tradebridge.errors import BusError
from tradebridge.testing import free_port

from tests.bus.samples import bar, one_of_each, signal


def strip(message: object) -> object:
    return msgspec.structs.replace(message, seq=msgspec.UNSET, source=msgspec.UNSET, sent_at_us=msgspec.UNSET)  # type: ignore[type-var]


@pytest.mark.parametrize("name", ["ZMQPublisher", "ZMQSubscriber"])
def test_the_twins_have_the_same_public_api(name: str) -> None:
    def api(cls: type) -> dict[str, list[str]]:
        return {
            member: list(inspect.signature(value).parameters) if callable(value) else []
            for member, value in vars(cls).items()
            if not member.startswith("_") or member in ("__init__",)
        }

    async_api = api(getattr(asynchronous, name))
    sync_api = api(getattr(synchronous, name))
    assert sync_api.keys() == async_api.keys()
    for member, parameters in async_api.items():
        if member != "receive":  # the blocking loop also takes an idle timeout
            assert sync_api[member] == parameters, member


def test_round_trip_of_every_type(bind_endpoint: str) -> None:
    with ZMQPublisher(bind_endpoint) as pub, ZMQSubscriber(pub.endpoint) as sub:
        sub.connect()
        pub.wait_for_subscribers(1)
        messages = one_of_each()
        pub.publish_many(messages)
        got = [sub.receive_one(timeout=5) for _ in messages]
    assert [strip(item[1]) for item in got if item] == messages
    assert sub.stats.received == len(messages) and sub.stats.gaps == 0


def test_receive_ends_when_idle_and_when_stopped_from_another_thread() -> None:
    with ZMQPublisher("tcp://127.0.0.1:*") as pub, ZMQSubscriber(pub.endpoint) as sub:
        sub.connect(["market"])
        pub.wait_for_subscribers(1)
        for i in range(5):
            pub.publish(bar(i))
        started = time.monotonic()
        assert [m.seq for _, m in sub.receive(idle_timeout=0.2)] == list(range(5))
        assert time.monotonic() - started < 3
        threading.Timer(0.2, sub.stop).start()
        started = time.monotonic()
        assert list(sub.receive()) == []
        assert time.monotonic() - started < 3


def test_wait_for_subscribers_times_out() -> None:
    with ZMQPublisher("tcp://127.0.0.1:*") as pub, pytest.raises(SubscriberTimeoutError):
        pub.wait_for_subscribers(1, timeout=0.1)


def test_restart_is_reported_by_the_sync_subscriber() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    with ZMQSubscriber(endpoint, options=BusOptions(reconnect_ivl_ms=20)) as sub:
        sub.connect(["signal"])
        with ZMQPublisher(endpoint, source="strategy-1") as first:
            first.wait_for_subscribers(1)
            for i in range(3):
                first.publish_signal(signal(i))
                assert sub.receive_one(timeout=5) is not None
        # without the start-up hold (startup_grace=0), as a publisher restarting after its grace ran out
        with ZMQPublisher(endpoint, options=BusOptions(startup_grace=0), source="strategy-1") as second:
            second.publish_signal(signal(0))  # nobody listens yet: lost, and seen as a gap later
            # the subscriber re-subscribes from inside its receive calls
            while second.subscriber_count() < 1:
                assert sub.receive_one(timeout=0.02) is None
            second.publish_signal(signal(1))
            got = sub.receive_one(timeout=5)
    assert got is not None and got[1].seq == 1
    # the same source went back from 2 to 1 (a restart), having lost its new 0
    assert (sub.stats.restarts, sub.stats.gaps, sub.stats.dropped) == (1, 1, 1)


def test_errors_are_the_same_as_the_async_ones() -> None:
    with pytest.raises(BusError, match="connect"):
        ZMQPublisher("tcp://127.0.0.1:*").publish(bar())
    with ZMQSubscriber("tcp://127.0.0.1:1") as sub, pytest.raises(BusError, match="connect"):
        sub.receive_one(timeout=0)
    with ZMQPublisher("tcp://127.0.0.1:*") as first, pytest.raises(BusError, match="Address already in use"):
        ZMQPublisher(first.endpoint).connect()
