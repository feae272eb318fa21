"""Oversized frames are refused and counted (``too_large``), never dropped without a trace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import zmq
from tradebridge.bus import BusOptions
from tradebridge.bus.sync import ZMQSubscriber
from tradebridge.contracts import encode_frame
from tradebridge.errors import ContractError
from tradebridge.health import HealthCheck

from tests.bus.samples import bar


@contextmanager
def raw_publisher() -> Iterator[tuple[zmq.Socket[bytes], str]]:
    """A bare XPUB: it sends frames exactly as given, of any size."""
    context: zmq.Context[Any] = zmq.Context()
    socket = context.socket(zmq.XPUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.XPUB_VERBOSER, 1)  # every (un)subscription, from every connection
    socket.bind("tcp://127.0.0.1:*")
    try:
        yield socket, socket.getsockopt_string(zmq.LAST_ENDPOINT)
    finally:
        socket.close()
        context.term()


def subscribed(socket: zmq.Socket[bytes]) -> None:
    assert socket.poll(10_000) and socket.recv() == b"\x01market"


def test_a_frame_above_the_limit_is_counted_and_the_next_one_delivered() -> None:
    # 2 MiB: above the default limit (1 MiB + 64), below libzmq's cap (16 MiB), so it is read and refused
    huge = b"market " + b" " * (2 * 1024 * 1024)
    with raw_publisher() as (raw, endpoint), ZMQSubscriber(endpoint) as sub:
        sub.connect(["market"])
        health = HealthCheck.healthy("bus-test").track("bus", sub)
        subscribed(raw)
        raw.send(huge)
        raw.send(encode_frame(bar(1)))
        got = sub.receive_one(timeout=10)
        stats = sub.stats
    assert got is not None and got[1] == bar(1)
    assert (stats.too_large, stats.malformed, stats.malformed_by_code) == (1, 1, {"too_large": 1})
    assert health.health_body()["metrics"]["bus_too_large"] == "1"  # and so /metrics


def test_the_limit_is_an_option_and_strict_raises_the_contract_code() -> None:
    options = BusOptions(max_message_bytes=4096)
    frame = encode_frame(bar()).replace(b"}", b"," + b'"pad":"' + b"x" * 5000 + b'"}')
    with raw_publisher() as (raw, endpoint), ZMQSubscriber(endpoint, options=options, strict=True) as sub:
        sub.connect(["market"])
        subscribed(raw)
        raw.send(frame)
        with pytest.raises(ContractError) as caught:
            sub.receive_one(timeout=10)
    assert caught.value.code == "too_large" and "4096" in str(caught.value)
    assert sub.stats.too_large == 1


def test_a_frame_above_libzmqs_cap_cuts_the_connection_as_documented() -> None:
    # libzmq treats it as a protocol error: it closes that connection and does not reconnect to the peer.
    # The cap (BusOptions.hard_max_message_bytes, 16 MiB) is far above the limit for this reason.
    options = BusOptions(max_message_bytes=4096, hard_max_message_bytes=65_536, reconnect_ivl_ms=20)
    with raw_publisher() as (raw, endpoint), ZMQSubscriber(endpoint, options=options) as sub:
        sub.connect(["market"])
        subscribed(raw)
        raw.send(b"market " + b" " * 100_000)
        assert raw.poll(10_000) and raw.recv() == b"\x00market"  # the connection is gone
        raw.send(encode_frame(bar(2)))
        assert sub.receive_one(timeout=0.3) is None
        assert not raw.poll(0), "libzmq reconnected after all: update BusOptions' docs"
    assert sub.stats.too_large == 0 and sub.stats.malformed == 0


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"max_message_bytes": 0}, "max_message_bytes"),
        ({"hard_max_message_bytes": -2}, "hard_max_message_bytes"),
        ({"max_message_bytes": 2048, "hard_max_message_bytes": 1024}, "at least"),
        ({"max_message_bytes": -1}, "at least"),
        ({"max_sources": 0}, "max_sources"),
    ],
)
def test_bad_limits_are_refused_up_front(fields: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BusOptions(**fields)  # type: ignore[arg-type]
