"""The publisher's one-call native path (``tradebridge._native.PublishIO``) against its Python path, on real
sockets: the envelope read from the message's slots, the reused encode buffer, a failed encode, and the
sync publisher's ``publish`` being the extension's call itself (and only while that is right)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import msgspec
import pytest
import zmq
from tradebridge.bus import ZMQPublisher as AsyncPublisher
from tradebridge.bus._publisher import PublisherCore
from tradebridge.bus.sync import BusClosedError, ZMQPublisher
from tradebridge.contracts import Signal

from tests.bus.samples import bar, signal
from tests.bus.test_native_io import raw_subscriber


def _bodies(sub: zmq.Socket[bytes], n: int) -> list[dict[str, Any]]:
    return [msgspec.json.decode(sub.recv().partition(b" ")[2]) for _ in range(n)]


@pytest.mark.parametrize("field", ["seq", "source", "sent_at_us"])
def test_any_one_envelope_field_set_takes_the_python_path_and_is_renumbered(field: str) -> None:
    """The extension reads the three fields from the message's slots: each one alone must be seen."""
    value: Any = "elsewhere" if field == "source" else 123_456
    carried = msgspec.structs.replace(bar(1), **{field: value})
    with ZMQPublisher("tcp://127.0.0.1:*") as pub, raw_subscriber(pub.endpoint) as sub:
        pub.wait_for_subscribers(1, timeout=10)
        io = pub._core._io
        assert io is not None
        assert [pub.publish(bar(0)), pub.publish(carried), pub.publish(bar(2))] == [0, 1, 2]
        bodies = _bodies(sub, 3)
        assert [b["seq"] for b in bodies] == [0, 1, 2]
        assert {b["source"] for b in bodies} == {pub.source}
        assert bodies[1]["sent_at_us"] != 123_456
        # the first of a class is routed by the Python path, the carried one goes through it too
        assert io.published == 1 and pub.published == 3
    assert getattr(carried, field) == value  # the caller's message is left as it was


def test_a_failed_encode_spends_no_seq_and_the_buffer_survives_a_large_message() -> None:
    """An unencodable message raises what msgspec raises with nothing sent; a message far larger than
    the kept buffer, then small ones, all arrive whole."""
    bad = Signal(symbol="AAPL", direction="long", strength=0.5, timestamp=1, metadata={"x": object()})
    large = signal(features=20_000)
    with ZMQPublisher("tcp://127.0.0.1:*") as pub, raw_subscriber(pub.endpoint) as sub:
        pub.wait_for_subscribers(1, timeout=10)
        assert pub.publish(signal(0)) == 0
        with pytest.raises(TypeError):
            pub.publish(bad)
        assert [pub.publish(large), pub.publish(signal(1)), pub.publish_many([signal(2), large])] == [1, 2, 2]
        bodies = _bodies(sub, 5)
        assert [b["seq"] for b in bodies] == [0, 1, 2, 3, 4]
        assert [len(b["features"]) for b in bodies] == [3, 20_000, 3, 3, 20_000]
        assert bodies[1]["features"] == large.features
        assert pub.stats.topics == {"signal": 5} and pub.stats.published == 5


def test_the_sync_publish_is_the_extension_call_while_connected() -> None:
    pub = ZMQPublisher("tcp://127.0.0.1:*")
    assert "publish" not in vars(pub)
    with pub:
        io = pub._core._io
        assert io is not None
        assert vars(pub)["publish"] == io.publish
    assert "publish" not in vars(pub)
    with pytest.raises(BusClosedError):
        pub.publish(bar())
    with pub, raw_subscriber(pub.endpoint) as sub:  # connected again: a fresh socket, the same numbering
        pub.wait_for_subscribers(1, timeout=10)
        assert vars(pub)["publish"] == pub._core.fast_publish
        # the refused publish spent seq 0 (the Python path numbers before it finds the socket closed)
        assert pub.publish(bar()) == 1
        assert _bodies(sub, 1)[0]["seq"] == 1


def test_a_subclass_that_overrides_publish_keeps_its_own() -> None:
    seen: list[Any] = []

    class Counting(ZMQPublisher):
        def publish(self, message: Any) -> int:
            seen.append(message)
            return super().publish(message)

    with Counting("tcp://127.0.0.1:*") as pub, raw_subscriber(pub.endpoint) as sub:
        pub.wait_for_subscribers(1, timeout=10)
        assert "publish" not in vars(pub)
        assert pub.publish_signal(signal()) == 0
        assert len(seen) == 1 and _bodies(sub, 1)[0]["seq"] == 0


def test_the_async_twin_takes_the_same_path() -> None:
    async def run() -> list[int]:
        async with AsyncPublisher("tcp://127.0.0.1:*") as pub:
            with raw_subscriber(pub.endpoint) as sub:
                await pub.wait_for_subscribers(1, timeout=10)
                seqs = [await pub.publish(bar(0)), await pub.publish_many([bar(1), bar(2)])]
                seqs.append(await pub.publish_heartbeat("test"))
                io = pub._core._io
                assert io is not None and io.published == 2  # the first of each class: Python
                bodies = _bodies(sub, 4)
                assert [b["seq"] for b in bodies] == [0, 1, 2, 0]
                return seqs

    assert asyncio.run(run()) == [0, 2, 0]


def test_a_publisher_dropped_unclosed_is_collected() -> None:
    """The extension's object calls back into its publisher, which holds it: the collector must see that
    cycle (``PublishIO.__traverse__``) or every publisher dropped without ``close`` would stay for good."""
    context: zmq.Context[Any] = zmq.Context()
    socket = context.socket(zmq.XPUB)
    try:
        core = PublisherCore("tcp://127.0.0.1:*", bind=True, options=None, source="py-dropped-1")
        core.attach(socket, context)
        assert core._io is not None
        del core
        gc.collect()
        assert not [
            o for o in gc.get_objects() if isinstance(o, PublisherCore) and o.source == "py-dropped-1"
        ]
    finally:
        socket.close(0)
        context.term()
