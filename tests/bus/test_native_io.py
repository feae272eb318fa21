"""The extension's socket path (``tradebridge.bus._native_io``): same frames, same numbering, same refusals
as pyzmq's, on real sockets; and what it refuses to touch."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import pytest
import zmq
from tradebridge.bus import _native_io
from tradebridge.bus.sync import BusClosedError, ZMQPublisher, ZMQSubscriber
from tradebridge.contracts import BarUpdate, encode_frame
from tradebridge.errors import ContractError

from tests.bus.samples import bar


@contextmanager
def raw_subscriber(endpoint: str) -> Iterator[zmq.Socket[bytes]]:
    context: zmq.Context[Any] = zmq.Context()
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVTIMEO, 10_000)
    socket.setsockopt(zmq.SUBSCRIBE, b"")
    socket.connect(endpoint)
    try:
        yield socket
    finally:
        socket.close()
        context.term()


@contextmanager
def raw_publisher() -> Iterator[tuple[zmq.Socket[bytes], str]]:
    context: zmq.Context[Any] = zmq.Context()
    socket = context.socket(zmq.XPUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.bind("tcp://127.0.0.1:*")
    try:
        yield socket, socket.getsockopt_string(zmq.LAST_ENDPOINT)
    finally:
        socket.close()
        context.term()


def test_the_extension_serves_pyzmq_sockets_here() -> None:
    # the rest of this file proves the native path, so it must be the one in use (Linux, pyzmq's Cython
    # backend); TRADEBRIDGE_NATIVE_BUS=0 is the documented way off
    with ZMQPublisher("tcp://127.0.0.1:*") as pub:
        assert pub._core._io is not None and pub._core._io.open


def test_a_handle_of_another_socket_type_is_refused() -> None:
    context: zmq.Context[Any] = zmq.Context()
    socket = context.socket(zmq.SUB)
    try:
        library = _native_io._LIBRARY
        assert library is not None
        with pytest.raises(OSError, match="does not belong"):
            _native_io.SocketIO(library, socket.underlying, zmq.XPUB)
        with pytest.raises(OSError, match="not loaded"):
            _native_io.SocketIO("/nonexistent/libzmq.so", socket.underlying, zmq.SUB)
        assert _native_io.SocketIO(library, socket.underlying, zmq.SUB).open
    finally:
        socket.close(0)
        context.term()


def test_native_frames_number_stamp_and_sign_as_the_python_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same messages through the extension and through pyzmq (the extension switched off): identical
    bodies but for ``sent_at_us``, which is the publisher's clock at the send."""
    messages = [bar(i) for i in range(50)]
    received: dict[str, list[bytes]] = {}
    for path in ("native", "python"):
        if path == "python":
            monkeypatch.setattr(_native_io, "_LIBRARY", None)
        pub = ZMQPublisher("tcp://127.0.0.1:*", source="py-test-1")
        with pub, raw_subscriber(pub.endpoint) as sub:
            pub.wait_for_subscribers(1, timeout=10)
            assert (pub._core._io is not None) == (path == "native")
            before = time.time_ns() // 1000
            seqs = [pub.publish(m) for m in messages]
            after = time.time_ns() // 1000
            assert seqs == list(range(50))
            assert pub.published == 50 and pub.stats.published == 50
            received[path] = [sub.recv() for _ in messages]
        for frame in received[path]:
            topic, _, body = frame.partition(b" ")
            assert topic == b"market"
            stamp = msgspec.json.decode(body)["sent_at_us"]
            assert before <= stamp <= after
    for native, python in zip(received["native"], received["python"], strict=True):
        assert _without_stamp(native) == _without_stamp(python)


def _without_stamp(frame: bytes) -> dict[str, Any]:
    document: dict[str, Any] = msgspec.json.decode(frame.partition(b" ")[2])
    del document["sent_at_us"]
    return document


def test_publish_many_and_republished_messages_share_one_numbering() -> None:
    """A message that already carries an envelope takes the Python path; the seq stays one sequence."""
    republished = msgspec.structs.replace(bar(9), seq=77, source="elsewhere", sent_at_us=1)
    with ZMQPublisher("tcp://127.0.0.1:*") as pub, raw_subscriber(pub.endpoint) as sub:
        pub.wait_for_subscribers(1, timeout=10)
        assert pub.publish(bar(0)) == 0
        assert pub.publish(republished) == 1
        assert pub.publish_many([bar(2), republished, bar(4)]) == 3
        assert pub.publish(bar(5)) == 5
        frames = [msgspec.json.decode(sub.recv().partition(b" ")[2]) for _ in range(6)]
        assert [f["seq"] for f in frames] == list(range(6))
        assert {f["source"] for f in frames} == {pub.source}
        assert pub.published == 6
    assert republished.seq == 77  # the caller's message is left as it was


def test_a_closed_publisher_raises_and_its_handle_is_forgotten() -> None:
    pub = ZMQPublisher("tcp://127.0.0.1:*")
    pub.connect()
    io = pub._core._io
    assert io is not None
    pub.close()
    assert not io.open
    with pytest.raises(BusClosedError):  # the extension hands it to the Python path, which refuses
        io.publish(bar())
    with pytest.raises(BusClosedError):
        pub.publish(bar())
    assert io.published == 0


def test_strict_refusal_inside_a_batch_keeps_the_frames_after_it() -> None:
    """A batch is taken off the socket in one call; a strict subscriber's refusal must not lose the frames
    that came after the bad one (they were still queued before the batch)."""
    with raw_publisher() as (raw, endpoint), ZMQSubscriber(endpoint, strict=True) as sub:
        sub.connect(["market"])
        assert raw.poll(10_000) and raw.recv() == b"\x01market"
        raw.send(encode_frame(bar(1)))
        raw.send(b"market {oops")
        raw.send(encode_frame(bar(3)))
        raw.send(encode_frame(bar(4)))
        time.sleep(0.2)  # all four queued: one batch
        with pytest.raises(ContractError) as caught:
            sub.receive_one(timeout=10)
        assert caught.value.code == "invalid_json"
        rest = [sub.receive_one(timeout=10) for _ in range(3)]
        volumes = [item[1].volume for item in rest if item is not None and isinstance(item[1], BarUpdate)]
        assert volumes == [bar(1).volume, bar(3).volume, bar(4).volume]
        assert sub.stats.received == 3 and sub.stats.malformed == 1
