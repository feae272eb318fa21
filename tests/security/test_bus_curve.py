"""CURVE on the Python bus: real sockets on loopback, real keys, the ZAP allow-list of pyzmq's authenticator.

Who is refused and how: a plaintext peer never completes the handshake (libzmq: mechanism mismatch, counted
in ``handshake_failed``); a CURVE client whose key the allow-list lacks is refused by ZAP (``denied``, on
both ends); a client holding a wrong server key never gets past its HELLO. None of them sends or receives a
single message; the allowed peer on the same socket does.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
import zmq
from tradebridge.bus import ALLOW_ANY, Curve, CurveConfigError, ZMQPublisher, ZMQSubscriber, sync
from tradebridge.bus._security import generate_keypair
from tradebridge.contracts import Heartbeat, Signal

from tests.bus.samples import signal

SERVER = generate_keypair()
CLIENT = generate_keypair()
INTRUDER = generate_keypair()


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _curve_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "tradebridge-curve-monitor")


def test_publisher_serves_only_its_allow_list() -> None:
    server = Curve.server(SERVER[1], [CLIENT[0]])
    with sync.ZMQPublisher("tcp://127.0.0.1:0", curve=server) as pub:
        allowed = sync.ZMQSubscriber(pub.endpoint, curve=Curve.client(SERVER[0], CLIENT[1]))
        plaintext = sync.ZMQSubscriber(pub.endpoint)
        not_listed = sync.ZMQSubscriber(pub.endpoint, curve=Curve.client(SERVER[0], INTRUDER[1]))
        wrong_server = sync.ZMQSubscriber(pub.endpoint, curve=Curve.client(INTRUDER[0], CLIENT[1]))
        subscribers = (allowed, plaintext, not_listed, wrong_server)
        try:
            for subscriber in subscribers:
                subscriber.connect(["system"])
            pub.wait_for_subscribers(1, timeout=10)
            # every refused peer has tried (and been counted) before anything is published
            assert _until(lambda: pub.curve_stats.denied >= 1 and pub.curve_stats.handshake_failed >= 2)
            assert _until(lambda: not_listed.curve_stats.denied >= 1)
            for _ in range(20):
                pub.publish_heartbeat("curve-test")
            got = [allowed.receive_one(timeout=5) for _ in range(20)]
            assert all(item is not None and isinstance(item[1], Heartbeat) for item in got)
            for refused in (plaintext, not_listed, wrong_server):
                assert refused.receive_one(timeout=0.3) is None
                assert refused.stats.received == 0
            assert pub.subscriber_count() == 1  # only the allowed peer's subscription ever arrived
            stats = pub.curve_stats
            assert stats.allowed == 1
            assert stats.denied == 1  # libzmq does not retry after a ZAP 400
        finally:
            for subscriber in subscribers:
                subscriber.close()


def test_binding_subscriber_admits_only_allowed_publishers() -> None:
    """The engine's shape: the signal socket binds, strategies connect. An intruder's well-formed signals
    never arrive, with or without a key of its own."""
    server = Curve.server(SERVER[1], [CLIENT[0]])
    with sync.ZMQSubscriber("tcp://127.0.0.1:0", bind=True, curve=server) as sub:
        sub.connect(["signal"])
        legit = sync.ZMQPublisher(
            sub.endpoint, bind=False, curve=Curve.client(SERVER[0], CLIENT[1]), source="legit"
        )
        plaintext = sync.ZMQPublisher(sub.endpoint, bind=False, source="plain-intruder")
        keyed = sync.ZMQPublisher(
            sub.endpoint, bind=False, curve=Curve.client(SERVER[0], INTRUDER[1]), source="keyed-intruder"
        )
        publishers = (legit, plaintext, keyed)
        try:
            for publisher in publishers:
                publisher.connect()
            # a bound SUB sends its subscription to a new peer only while it is used (libzmq runs its
            # commands then): look at the socket until the allowed publisher has it
            assert _until(lambda: sub.receive_one(timeout=0.02) is None and legit.subscriber_count() == 1)
            assert _until(lambda: sub.curve_stats.denied >= 1 and sub.curve_stats.handshake_failed >= 1)
            for i in range(10):
                for publisher in publishers:
                    publisher.publish_signal(signal(i))
            sources = []
            while (item := sub.receive_one(timeout=1.0)) is not None:
                assert isinstance(item[1], Signal)
                sources.append(item[1].source)
            assert sources == ["legit"] * 10
            assert plaintext.subscriber_count() == 0 and keyed.subscriber_count() == 0
        finally:
            for publisher in publishers:
                publisher.close()


def test_async_twins_take_the_same_keyword() -> None:
    async def main() -> list[str]:
        async with ZMQPublisher("tcp://127.0.0.1:0", curve=Curve.server(SERVER[1], ALLOW_ANY)) as pub:
            # ALLOW_ANY: encrypted, any CURVE client; a fresh client keypair is enough
            sub = ZMQSubscriber(pub.endpoint, curve=Curve.client(SERVER[0]))
            plain = ZMQSubscriber(pub.endpoint)
            async with sub, plain:
                await sub.connect(["signal"])
                await plain.connect(["signal"])
                await pub.wait_for_subscribers(1, timeout=10)
                await pub.publish_signal(signal(1))
                got = await asyncio.wait_for(sub.receive_one(), timeout=5)
                assert got is not None
                topic = got[0]
                assert await plain.receive_one(timeout=0.3) is None
                assert pub.curve_stats.allowed == 1
                return [topic]

    assert asyncio.run(main()) == ["signal"]


def test_two_servers_on_one_context_keep_their_own_allow_lists() -> None:
    """One ZAP handler per context, one ZAP domain per socket: each socket applies its own list."""
    before = _curve_threads()
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        only_client = sync.ZMQPublisher(
            "tcp://127.0.0.1:0", context=context, curve=Curve.server(SERVER[1], [CLIENT[0]])
        )
        only_intruder = sync.ZMQPublisher(
            "tcp://127.0.0.1:0", context=context, curve=Curve.server(SERVER[1], [INTRUDER[0]])
        )
        with only_client, only_intruder:
            assert _curve_threads() == before + 1
            as_client = sync.ZMQSubscriber(only_intruder.endpoint, curve=Curve.client(SERVER[0], CLIENT[1]))
            as_intruder = sync.ZMQSubscriber(
                only_intruder.endpoint, curve=Curve.client(SERVER[0], INTRUDER[1])
            )
            with as_client, as_intruder:
                as_client.connect()
                as_intruder.connect()
                only_intruder.wait_for_subscribers(1, timeout=10)
                assert _until(lambda: only_intruder.curve_stats.denied == 1)
                assert only_intruder.curve_stats.allowed == 1
                assert only_client.curve_stats == only_client.curve_stats.__class__()
    finally:
        context.term()  # returns: every socket of the guard was closed with the last server
    assert _until(lambda: _curve_threads() == before)


def test_a_socket_without_its_half_of_the_keys_is_refused() -> None:
    with pytest.raises(CurveConfigError) as caught:
        sync.ZMQPublisher("tcp://127.0.0.1:0", curve=Curve.client(SERVER[0], CLIENT[1])).connect()
    assert caught.value.code == "curve_role_missing"
    sub = sync.ZMQSubscriber("tcp://127.0.0.1:1", curve=Curve.server(SERVER[1], ALLOW_ANY))
    with pytest.raises(CurveConfigError) as caught:
        sub.connect()
    assert caught.value.code == "curve_role_missing"
    with pytest.raises(CurveConfigError):
        Curve(SERVER[1], CLIENT[0])  # a public key that is not the secret's
    assert _until(lambda: _curve_threads() == 0)


def test_binding_twice_releases_the_guard_of_the_failed_socket() -> None:
    with sync.ZMQPublisher("tcp://127.0.0.1:0", curve=Curve.server(SERVER[1], ALLOW_ANY)) as first:
        second = sync.ZMQPublisher(first.endpoint, curve=Curve.server(SERVER[1], ALLOW_ANY))
        with pytest.raises(Exception, match="cannot bind"):
            second.connect()
    assert _until(lambda: _curve_threads() == 0)
