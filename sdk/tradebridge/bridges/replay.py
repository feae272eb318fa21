"""Out of JetStream: a late subscriber replays a topic from a stream sequence or a time, then follows it
live (an ordered, ephemeral consumer), and :class:`JetStreamToBus` puts the stored frames back on the bus
unchanged, so bus subscribers see the publisher's own ``source`` and ``seq``."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import nats.errors
import zmq
import zmq.asyncio
from nats.aio.client import Client as NATS
from nats.js import api

from tradebridge.bridges.errors import BridgeError
from tradebridge.bridges.jetstream import JetStreamConfig, connect, stream_name, subject_for

__all__ = ["JetStreamToBus", "Replayed", "replay"]

#: tries to open a stream reader before giving up (see ``replay``)
SETUP_ATTEMPTS = 4
#: messages a reader holds for a slow caller before it pauses the delivery (see ``replay``)
BUFFER = 20_000


@dataclass(frozen=True, slots=True)
class Replayed:
    """One message read back: the original bus frame, and where it sits in its stream."""

    topic: str
    frame: bytes
    stream_seq: int
    subject: str


def _start(start_seq: int | None, start_time: dt.datetime | None) -> api.ConsumerConfig:
    if start_seq is not None and start_time is not None:
        raise BridgeError("invalid_option", "give a start sequence or a start time, not both")
    if start_seq is not None:
        if start_seq < 1:
            raise BridgeError("invalid_option", f"stream sequences start at 1, got {start_seq}")
        return api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start_seq)
    if start_time is not None:
        if start_time.tzinfo is None:
            raise BridgeError("invalid_option", "the start time needs a time zone")
        return api.ConsumerConfig(deliver_policy=api.DeliverPolicy.BY_START_TIME, opt_start_time=start_time)
    return api.ConsumerConfig(deliver_policy=api.DeliverPolicy.ALL)


async def _open(js: Any, subject: str, stream: str, consumer: api.ConsumerConfig, on_message: Any) -> Any:
    """An ordered consumer of ``subject`` delivering to ``on_message``; a few tries while the cluster may
    still be electing the stream's leader."""
    for attempt in range(SETUP_ATTEMPTS):
        try:
            return await js.subscribe(
                subject,
                stream=stream,
                config=consumer,
                ordered_consumer=True,
                cb=on_message,
                pending_msgs_limit=0,  # never dropped by the client: the buffer below is bounded instead
                pending_bytes_limit=0,
            )
        except (TimeoutError, nats.errors.TimeoutError) as exc:
            # right after a node is lost the cluster may still be electing the stream's leader: its API
            # answers nothing until then, so a timeout is worth a few more tries, any other error is not
            if attempt + 1 == SETUP_ATTEMPTS:
                raise BridgeError(
                    "stream_setup_failed", f"cannot read {subject}: {type(exc).__name__}: {exc}"
                ) from None
            await asyncio.sleep(0.5 * (attempt + 1))
        except nats.errors.Error as exc:
            raise BridgeError(
                "stream_setup_failed", f"cannot read {subject}: {type(exc).__name__}: {exc}"
            ) from None
    raise AssertionError("unreachable")


async def replay(
    nc: NATS,
    config: JetStreamConfig,
    topic: str,
    *,
    start_seq: int | None = None,
    start_time: dt.datetime | None = None,
    symbol: str | None = None,
) -> AsyncIterator[Replayed]:
    """Every message of ``topic`` (one ``symbol``, or all) from stream sequence ``start_seq`` or from
    ``start_time`` (default: the beginning), then the live ones as they are stored, in stream order.
    Runs until the caller stops iterating.

    Messages arrive through a callback into a local buffer: nats-py's message iterator costs a task and an
    ``asyncio.wait`` per message and answers the server's flow control only every 250 ms once behind,
    which made a follower at 2,000 msg/s seconds late. The buffer is bounded by closing the consumer when
    it holds ``BUFFER`` messages and opening a new one at the next stream sequence once it is empty:
    nothing skipped, nothing twice (a copy at or below the last sequence given out is dropped)."""
    if topic not in config.topics:
        raise BridgeError("invalid_option", f"topic {topic!r} is not bridged ({', '.join(config.topics)})")
    consumer = _start(start_seq, start_time)
    subject = (
        subject_for(config.subject_prefix, topic, symbol) if symbol else f"{config.subject_prefix}.{topic}.>"
    )
    stream = stream_name(config, topic)
    js = nc.jetstream()
    buffer: deque[Any] = deque()
    arrived = asyncio.Event()

    async def on_message(message: Any) -> None:
        buffer.append(message)
        arrived.set()

    subscription = await _open(js, subject, stream, consumer, on_message)
    prefix = topic.encode() + b" "
    last = 0
    try:
        while True:
            if not buffer:
                if subscription is None:
                    resume = api.ConsumerConfig(
                        deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=last + 1
                    )
                    subscription = await _open(js, subject, stream, resume, on_message)
                    continue  # messages may have arrived while it opened
                arrived.clear()  # no await since the buffer was found empty: no arrival is missed
                await arrived.wait()
                continue
            message = buffer.popleft()
            seq = message.metadata.sequence.stream
            if seq <= last:
                continue
            last = seq
            yield Replayed(topic, prefix + message.data, seq, message.subject)
            if subscription is not None and len(buffer) >= BUFFER:
                # the caller is slower than the stream: stop the delivery until the buffer is drained
                closing, subscription = subscription, None
                with contextlib.suppress(Exception):
                    await closing.unsubscribe()
    finally:
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()


class JetStreamToBus:
    """Stored messages back onto the bus: binds a PUB-side socket at ``endpoint`` (or connects it to the
    proxy's frontend with ``bind=False``), waits for a first subscriber, then replays each topic from
    ``start_seq``/``start_time`` and follows it live, sending the original frames unchanged."""

    def __init__(
        self,
        endpoint: str,
        config: JetStreamConfig | None = None,
        *,
        bind: bool = True,
        start_seq: int | None = None,
        start_time: dt.datetime | None = None,
        context: zmq.asyncio.Context | None = None,
    ) -> None:
        _start(start_seq, start_time)  # refuse a bad start before anything connects
        self.endpoint = endpoint
        self.config = config or JetStreamConfig()
        self.bind = bind
        self.start_seq = start_seq
        self.start_time = start_time
        self.sent = 0
        self._context = context
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> int:
        nc = await connect(self.config)
        context = self._context or zmq.asyncio.Context.instance()
        socket = context.socket(zmq.XPUB)
        tasks: list[asyncio.Task[None]] = []
        try:
            socket.setsockopt(zmq.LINGER, 1_000)
            socket.setsockopt(zmq.SNDHWM, 100_000)
            if self.bind:
                socket.bind(self.endpoint)
            else:
                socket.connect(self.endpoint)
            self.ready.set()
            # ZeroMQ drops what is sent before a subscription arrives: replay only once someone listens.
            while not stop.is_set() and not await socket.poll(50):
                pass
            lock = asyncio.Lock()
            for topic in self.config.topics:
                tasks.append(asyncio.create_task(self._forward(nc, topic, socket, lock)))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            for task in tasks:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            return self.sent
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            socket.close()
            with contextlib.suppress(Exception):
                await nc.drain()

    async def _forward(self, nc: NATS, topic: str, socket: zmq.asyncio.Socket, lock: asyncio.Lock) -> None:
        async for item in replay(
            nc, self.config, topic, start_seq=self.start_seq, start_time=self.start_time
        ):
            async with lock:
                await socket.send(item.frame)
            self.sent += 1
