"""The bridge's batch path against a real nats-server: a burst of two topics interleaved goes out as
protocol commands in segments and lands in each topic's stream exactly once, in bus order; the commands
are the wire format nats-py would write; a reader that falls behind pauses its consumer and resumes at
the next sequence without skipping or repeating a message."""

from __future__ import annotations

import asyncio
import importlib
import random
from collections.abc import AsyncIterator

import msgspec
import pytest
import zmq
from tradebridge.bridges import (
    BusToJetStream,
    JetStreamConfig,
    Replayed,
    ensure_streams,
    replay,
    stream_name,
)
from tradebridge.bridges.jetstream import connect
from tradebridge.bridges.jetstream.wire import FrameEncoder, parse_command, with_reply
from tradebridge.testing import free_port

from tests.bridges.nats_server import NatsNode
from tests.bridges.test_jetstream import Running, eventually

# the package exports the function ``replay`` under the module's name
replay_module = importlib.import_module("tradebridge.bridges.replay")


def _frame(topic: str, seq: int, symbol: str = "AAPL", source: str = "burst") -> bytes:
    body = {"type": "X", "symbol": symbol, "seq": seq, "source": source, "pad": "x" * (seq % 50)}
    return topic.encode() + b" " + msgspec.json.encode(body)


def test_commands_are_the_wire_format_and_bad_frames_are_counted_by_reason() -> None:
    encoder = FrameEncoder("tb", ("market", "signal"), max_payload=400)
    out: dict[str, list[bytes]] = {}
    frames = [
        _frame("market", 41, symbol="BRK.B"),
        _frame("signal", 7, symbol="A\r\nB"),
        b"market not json",
        b"market " + msgspec.json.encode({"symbol": "A"}),
        b"market " + msgspec.json.encode({"seq": 1, "source": "a\x00b"}),
        b"market " + msgspec.json.encode({"seq": 2, "source": "s", "pad": "y" * 400}),
        b"quotes " + msgspec.json.encode({"seq": 3, "source": "s"}),
        b"nospace",
    ]
    encoder.encode(frames, out)
    assert list(out) == ["market", "signal"]
    (market,), (signal,) = out["market"], out["signal"]
    body = frames[0].split(b" ", 1)[1]
    header = b"NATS/1.0\r\nNats-Msg-Id: burst:41\r\n\r\n"
    assert market == b"HPUB tb.market.BRK_B  %d %d\r\n%s%s\r\n" % (
        len(header),
        len(header) + len(body),
        header,
        body,
    )
    assert parse_command(market) == ("tb.market.BRK_B", body, "burst:41")
    assert parse_command(signal)[0] == "tb.signal.A__B", "a line break in a symbol cannot reach the protocol"
    replied = with_reply(market, b"_INBOX.x.1")
    assert replied.startswith(b"HPUB tb.market.BRK_B _INBOX.x.1 %d " % len(header))
    assert parse_command(replied.replace(b" _INBOX.x.1", b" ")) == parse_command(market)
    assert encoder.malformed.by_reason == {
        "bad_json": 1,
        "no_envelope": 1,
        "bad_source": 1,
        "too_large": 1,
        "bad_frame": 2,
    }


async def test_an_interleaved_burst_of_two_topics_is_stored_once_in_bus_order(nats_node: NatsNode) -> None:
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    rng = random.Random(seed)
    n = 6_000
    topics = [rng.choice(("market", "signal")) for _ in range(n)]
    config = JetStreamConfig(
        servers=(nats_node.url,), topics=("market", "signal"), stream_prefix="BURST", subject_prefix="burst"
    )
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    context = zmq.Context()
    publisher = context.socket(zmq.XPUB)
    publisher.setsockopt(zmq.LINGER, 0)
    publisher.setsockopt(zmq.SNDHWM, 0)
    publisher.bind(endpoint)
    running = Running(BusToJetStream(endpoint, config))
    counters = {"market": 0, "signal": 0}
    try:
        await running.ready()
        for _ in config.topics:
            await eventually("the bridge's subscriptions", lambda: publisher.poll(0) != 0)
            publisher.recv()
        for topic in topics:  # one burst: the bridge takes it in batches of many segments
            publisher.send(_frame(topic, counters[topic], symbol=rng.choice(("AAPL", "MSFT"))))
            counters[topic] += 1
        stats = running.bridge.stats
        await eventually("every frame acknowledged", lambda: stats.stored + stats.duplicates >= n, 30)
    finally:
        publisher.close(0)
        context.term()
        await running.finish()
    assert stats.as_dict() == {"received": n, "stored": n, "duplicates": 0, "retries": 0, "malformed": 0}
    nc = await connect(config)
    try:
        for topic in config.topics:
            state = (await nc.jetstream().stream_info(stream_name(config, topic))).state
            assert state.messages == counters[topic]
            seqs = [msgspec.json.decode(item.frame.split(b" ", 1)[1])["seq"] async for item in
                    _first(replay(nc, config, topic), counters[topic])]  # fmt: skip
            assert seqs == list(range(counters[topic])), f"{topic}: not stored once each in bus order"
    finally:
        await nc.close()


async def _first(items: AsyncIterator[Replayed], n: int) -> AsyncIterator[Replayed]:
    count = 0
    async for item in items:
        yield item
        count += 1
        if count == n:
            return


async def test_a_reader_behind_pauses_and_resumes_without_a_gap_or_a_repeat(
    nats_node: NatsNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_module, "BUFFER", 40)
    opened = 0
    open_consumer = replay_module._open

    async def counting(*args: object) -> object:
        nonlocal opened
        opened += 1
        return await open_consumer(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(replay_module, "_open", counting)
    config = JetStreamConfig(
        servers=(nats_node.url,), topics=("market",), stream_prefix="SLOW", subject_prefix="slow"
    )
    nc = await connect(config)
    try:
        js = nc.jetstream()
        await ensure_streams(js, config)
        n = 600
        for i in range(n):
            await js.publish("slow.market.AAPL", _frame("market", i).split(b" ", 1)[1],
                             headers={"Nats-Msg-Id": f"slow:{i}"})  # fmt: skip
        stream_seqs: list[int] = []
        bus_seqs: list[int] = []
        async with asyncio.timeout(30):  # a skipped message would leave the reader waiting for it
            async for item in replay(nc, config, "market"):
                stream_seqs.append(item.stream_seq)
                bus_seqs.append(msgspec.json.decode(item.frame.split(b" ", 1)[1])["seq"])
                if len(stream_seqs) in (1, 300):
                    # slower than the delivery: the buffer fills past BUFFER, delivery pauses, then resumes
                    await asyncio.sleep(0.3)
                if len(stream_seqs) == n + 5:
                    break
                if len(stream_seqs) == n:  # then live: five more stored after the reader caught up
                    for i in range(n, n + 5):
                        await js.publish("slow.market.AAPL", _frame("market", i).split(b" ", 1)[1],
                                         headers={"Nats-Msg-Id": f"slow:{i}"})  # fmt: skip
    finally:
        await nc.close()
    assert opened >= 2, "the reader never fell behind: nothing paused"
    assert stream_seqs == list(range(1, n + 6))
    assert bus_seqs == list(range(n + 5))


async def test_a_segment_whose_acknowledgements_are_lost_is_sent_again_and_counted_once(
    nats_node: NatsNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first segment's acknowledgements never arrive (as when a node dies after storing): it is sent
    again, every message asking for its own; JetStream answers "duplicate" at the sequences the first
    sending stored, and the bridge counts each message stored once."""
    answer = BusToJetStream._on_ack
    lost: list[str] = []

    async def losing(self: BusToJetStream, message: object) -> None:
        token = message.subject.rsplit(".", 1)[-1]  # type: ignore[attr-defined]
        if token in ("0", "1"):  # the first segment's first and last
            lost.append(token)
            return
        await answer(self, message)

    monkeypatch.setattr(BusToJetStream, "_on_ack", losing)
    config = JetStreamConfig(
        servers=(nats_node.url,),
        topics=("market",),
        stream_prefix="LOST",
        subject_prefix="lost",
        ack_timeout=0.5,
    )
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    context = zmq.Context()
    publisher = context.socket(zmq.XPUB)
    publisher.setsockopt(zmq.LINGER, 0)
    publisher.bind(endpoint)
    running = Running(BusToJetStream(endpoint, config))
    n = 600
    try:
        await running.ready()
        await eventually("the bridge's subscription", lambda: publisher.poll(0) != 0)
        publisher.recv()
        for i in range(n):
            publisher.send(_frame("market", i))
        stats = running.bridge.stats
        await eventually("every frame acknowledged", lambda: stats.stored + stats.duplicates >= n, 20)
    finally:
        publisher.close(0)
        context.term()
        await running.finish()
    assert lost, "no acknowledgement was lost: the test proved nothing"
    assert (stats.stored, stats.duplicates) == (n, 0)
    # tokens 0 and 1: one segment's, or (a first batch of one frame) two segments'
    assert 1 <= stats.retries <= 2 * BusToJetStream.SEGMENT
    nc = await connect(config)
    try:
        assert (await nc.jetstream().stream_info(stream_name(config, "market"))).state.messages == n
    finally:
        await nc.close()
