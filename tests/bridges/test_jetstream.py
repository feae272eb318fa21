"""The NATS JetStream bridge against a real nats-server: bus frames stored once under their subject and
id and read back byte for byte, duplicates refused by JetStream, a late subscriber replaying then following
live, and typed errors. The cluster fault is in test_cluster.py."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable

import pytest
import zmq
import zmq.asyncio
from tradebridge.bridges import (
    BridgeError,
    BusToJetStream,
    JetStreamConfig,
    JetStreamToBus,
    replay,
    stream_name,
)
from tradebridge.bridges.cli import main as bridge_main
from tradebridge.bridges.jetstream import connect
from tradebridge.bus import ZMQPublisher, ZMQSubscriber
from tradebridge.contracts import BarUpdate
from tradebridge.testing import free_port

from tests.bridges.nats_server import NatsNode

SYMBOLS = ("AAPL", "BRK.B")


def bar(i: int) -> BarUpdate:
    return BarUpdate(
        symbol=SYMBOLS[i % 2], open=100.0, high=101.0, low=99.0, close=100.5, volume=10.0 + i, timestamp=i
    )


async def eventually(what: str, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Running:
    """A bridge task that is stopped (and its exception surfaced) at the end."""

    def __init__(self, bridge: BusToJetStream) -> None:
        self.bridge = bridge
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(bridge.run(self.stop))

    async def ready(self) -> None:
        waiter = asyncio.create_task(self.bridge.ready.wait())
        done, _ = await asyncio.wait([waiter, self.task], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if self.task in done:
            self.task.result()
        assert waiter in done, "the bridge did not become ready"

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


@pytest.fixture
async def witness() -> AsyncIterator[Callable[[str], zmq.asyncio.Socket]]:
    """Raw SUB sockets that see the frames exactly as they went on the bus."""
    context = zmq.asyncio.Context()
    sockets: list[zmq.asyncio.Socket] = []

    def make(endpoint: str) -> zmq.asyncio.Socket:
        socket = context.socket(zmq.SUB)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.SUBSCRIBE, b"market ")
        socket.connect(endpoint)
        sockets.append(socket)
        return socket

    yield make
    for socket in sockets:
        socket.close(0)
    context.term()


async def drain(socket: zmq.asyncio.Socket, n: int) -> list[bytes]:
    return [await asyncio.wait_for(socket.recv(), 10) for _ in range(n)]


async def test_frames_are_stored_once_per_subject_and_read_back_byte_for_byte(
    nats_node: NatsNode, witness: Callable[[str], zmq.asyncio.Socket]
) -> None:
    config = JetStreamConfig(
        servers=(nats_node.url,), topics=("market",), stream_prefix="RT", subject_prefix="rt"
    )
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    running = Running(BusToJetStream(endpoint, config))
    await running.ready()
    seen = witness(endpoint)
    n = 500
    async with ZMQPublisher(endpoint) as publisher:
        await publisher.wait_for_subscribers(2, timeout=10)
        for i in range(n):
            await publisher.publish(bar(i))
        sent = await drain(seen, n)
        await eventually("every frame acknowledged", lambda: running.bridge.stats.stored == n)
    await running.finish()
    assert running.bridge.stats.as_dict() == {
        "received": n,
        "stored": n,
        "duplicates": 0,
        "retries": 0,
        "malformed": 0,
    }

    nc = await connect(config)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream_name(config, "market"))
        assert info.state.messages == n
        first = await js.get_msg(stream_name(config, "market"), 1)
        assert first.subject == "rt.market.AAPL"
        assert first.headers is not None and first.headers["Nats-Msg-Id"] == f"{publisher.source}:0"
        second = await js.get_msg(stream_name(config, "market"), 2)
        assert second.subject == "rt.market.BRK_B", "a dot in a symbol cannot split the subject"
        replayed: list[bytes] = []
        async for item in replay(nc, config, "market"):
            replayed.append(item.frame)
            if len(replayed) == n:
                break
        assert replayed == sent, "the stored frames are not the bus frames, in order"
        only_aapl = [item async for item in _take(replay(nc, config, "market", symbol="AAPL"), n // 2)]
        assert {item.subject for item in only_aapl} == {"rt.market.AAPL"}
    finally:
        await nc.close()


async def _take(items: AsyncIterator[object], n: int) -> AsyncIterator[object]:
    count = 0
    async for item in items:
        yield item
        count += 1
        if count == n:
            return


async def test_a_frame_seen_twice_is_stored_once_and_bad_frames_are_counted(nats_node: NatsNode) -> None:
    config = JetStreamConfig(
        servers=(nats_node.url,), topics=("market",), stream_prefix="DUP", subject_prefix="dup"
    )
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    context = zmq.Context()
    publisher = context.socket(zmq.XPUB)
    publisher.setsockopt(zmq.LINGER, 0)
    publisher.bind(endpoint)
    running = Running(BusToJetStream(endpoint, config))
    try:
        await running.ready()
        await eventually("the bridge's subscription", lambda: publisher.poll(0) != 0)
        publisher.recv()
        frame = b'market {"type":"BarUpdate","symbol":"AAPL","open":1,"high":1,"low":1,"close":1,'
        frame += b'"volume":1,"timestamp":1,"seq":7,"source":"py-dup"}'
        for payload in (frame, frame, b"market not json", b'market {"type":"BarUpdate"}', b"nospace"):
            publisher.send(payload)
        stats = running.bridge.stats
        await eventually("both copies acknowledged", lambda: stats.stored + stats.duplicates == 2)
    finally:
        publisher.close(0)
        context.term()
        await running.finish()
    assert (stats.stored, stats.duplicates, stats.malformed) == (1, 1, 2)
    assert stats.malformed_by_reason == {"bad_json": 1, "no_envelope": 1}
    nc = await connect(config)
    try:
        info = await nc.jetstream().stream_info(stream_name(config, "market"))
        assert info.state.messages == 1
    finally:
        await nc.close()


async def test_a_late_subscriber_replays_from_a_sequence_then_follows_live(nats_node: NatsNode) -> None:
    config = JetStreamConfig(
        servers=(nats_node.url,), topics=("market",), stream_prefix="LATE", subject_prefix="late"
    )
    bus = f"tcp://127.0.0.1:{free_port()}"
    out = f"tcp://127.0.0.1:{free_port()}"
    running = Running(BusToJetStream(bus, config))
    await running.ready()
    async with ZMQPublisher(bus) as publisher:
        await publisher.wait_for_subscribers(1, timeout=10)
        for i in range(20):
            await publisher.publish(bar(i))
        await eventually("20 stored", lambda: running.bridge.stats.stored == 20)

        # joins after 20 messages; asks for stream sequence 11 on (bus seq 10 on)
        late = JetStreamToBus(out, config, start_seq=11)
        stop = asyncio.Event()
        task = asyncio.create_task(late.run(stop))
        await asyncio.wait_for(late.ready.wait(), 10)
        async with ZMQSubscriber(out) as subscriber:
            await subscriber.connect(["market"])
            got = []
            for _ in range(10):
                received = await subscriber.receive_one(timeout=10)
                assert received is not None
                got.append(received[1])
            assert [m.seq for m in got] == list(range(10, 20))
            assert {m.source for m in got} == {publisher.source}, "the envelope was not kept"
            for i in range(20, 25):
                await publisher.publish(bar(i))
            for expected in range(20, 25):
                received = await subscriber.receive_one(timeout=10)
                assert received is not None and received[1].seq == expected
            assert subscriber.stats.gaps == 0
        stop.set()
        assert await asyncio.wait_for(task, 10) == 15
    await running.finish()


async def test_bad_options_and_an_absent_server_are_typed_errors_without_credentials() -> None:
    for bad in ({"topics": ("a.b",)}, {"replicas": 0}, {"window": 0}, {"stream_prefix": "a b"}):
        with pytest.raises(BridgeError) as refused:
            JetStreamConfig(**bad)  # type: ignore[arg-type]
        assert refused.value.code == "invalid_option"
    with pytest.raises(BridgeError) as refused:
        JetStreamToBus("tcp://127.0.0.1:1", start_seq=0)
    assert refused.value.code == "invalid_option"
    dead = f"nats://trader:s3cret-pw@127.0.0.1:{free_port()}"
    with pytest.raises(BridgeError) as refused:
        await connect(JetStreamConfig(servers=(dead,)))
    assert refused.value.code == "nats_unavailable"
    assert "s3cret" not in str(refused.value) and "trader" not in str(refused.value)


def test_the_cli_refuses_an_absent_server_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    dead = f"nats://trader:s3cret-pw@127.0.0.1:{free_port()}"
    bus = f"tcp://127.0.0.1:{free_port()}"
    assert bridge_main(["nats", "in", "--bus", bus, "--nats", dead]) == 2
    err = capsys.readouterr().err
    assert "nats_unavailable" in err and "s3cret" not in err
    assert bridge_main(["nats", "out", "--bus", bus, "--nats", dead, "--since", "yesterday"]) == 2
    assert "invalid_option" in capsys.readouterr().err
    assert signal.SIGTERM  # the CLI stops on SIGTERM: proved in tests/scale through the demo topology


async def test_the_publish_fallback_stores_the_same_and_odd_sources_are_refused(
    nats_node: NatsNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Segments written as protocol commands (the fast path) and through nats-py's ``publish`` (the path
    taken while reconnecting, or on a client without the buffer) store the same; a ``source`` a NATS
    header cannot carry is counted, not bridged."""
    import tradebridge.bridges.jetstream.writer as module

    monkeypatch.setattr(module, "_wire_ready", lambda nc: False)
    config = JetStreamConfig(
        servers=(nats_node.url,), topics=("market",), stream_prefix="FB", subject_prefix="fb"
    )
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    running = Running(BusToJetStream(endpoint, config))
    await running.ready()
    n = 300
    async with ZMQPublisher(endpoint) as publisher:
        await publisher.wait_for_subscribers(1, timeout=10)
        for i in range(n):
            await publisher.publish(bar(i))
        stats = running.bridge.stats
        await eventually("every frame acknowledged", lambda: stats.stored == n)
    context = zmq.Context()
    raw = context.socket(zmq.XPUB)
    raw.setsockopt(zmq.LINGER, 0)
    other = f"tcp://127.0.0.1:{free_port()}"
    raw.bind(other)
    try:
        await running.finish()
        running = Running(BusToJetStream(other, config))
        await running.ready()
        await eventually("the bridge's subscription", lambda: raw.poll(0) != 0)
        raw.recv()
        raw.send(b'market {"type":"BarUpdate","symbol":"A","seq":1,"source":"evil\\r\\nX-Injected: 1"}')
        await eventually("the odd source counted", lambda: running.bridge.stats.malformed == 1)
    finally:
        raw.close(0)
        context.term()
        await running.finish()
    assert running.bridge.stats.malformed_by_reason == {"bad_source": 1}
    assert stats.as_dict() == {"received": n, "stored": n, "duplicates": 0, "retries": 0, "malformed": 0}
