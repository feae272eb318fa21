"""The bus into JetStream (:class:`BusToJetStream`): frames taken from a SUB socket a batch at a time,
published in acknowledged segments, retried until stored (see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, cast

import msgspec
import nats
import nats.errors
import nats.js.errors
import zmq
import zmq.asyncio

from tradebridge.bridges.errors import BridgeError
from tradebridge.bridges.jetstream.config import JetStreamConfig, connect, ensure_streams, stream_name
from tradebridge.bridges.jetstream.wire import MSG_ID, FrameEncoder, parse_command, with_reply
from tradebridge.bus._native_io import SocketIO, raise_for, socket_io

__all__ = ["BridgeStats", "BusToJetStream"]


@dataclass(slots=True)
class BridgeStats:
    """What a bridge did; ``stored + duplicates`` is what JetStream acknowledged."""

    received: int = 0  # bus frames taken
    stored: int = 0  # acknowledged as new
    duplicates: int = 0  # acknowledged as already stored (a retry, or a frame seen twice)
    retries: int = 0  # publishes sent again after a missing acknowledgement
    malformed: int = 0  # frames without topic, JSON or envelope, or too large: not bridged, counted
    malformed_by_reason: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "retries": self.retries,
            "malformed": self.malformed,
        }


class _Ack(msgspec.Struct, gc=False):
    """JetStream's answer to one publish (``error`` instead of the rest when refused)."""

    seq: int = 0
    duplicate: bool = False
    error: dict[str, Any] | None = None


_decode_ack = msgspec.json.Decoder(_Ack).decode


@dataclass(slots=True)
class _Segment:
    """Consecutive messages of one stream, sent together. Only the first and the last ask for an
    acknowledgement: when both are new and their stream sequences are ``len(commands) - 1`` apart, every
    message between them was stored (one connection's publishes reach a stream in order). Anything else
    (a duplicate, a gap, another publisher in between, a missing acknowledgement) sends the segment again,
    one acknowledged publish per message; ``Nats-Msg-Id`` makes the copies already stored no-ops."""

    commands: list[bytes]
    topic: str
    sent: float
    #: the highest stream sequence known when it was sent: a copy stored above it is this segment's own
    base: int
    first: asyncio.Future[_Ack] | None = None
    last: asyncio.Future[_Ack] | None = None
    tokens: tuple[str, ...] = ()


class _BusReader:
    """The SUB socket, drained a batch per call (the extension's ``recv_batch`` where it serves the socket,
    else pyzmq), and awaited through its file descriptor: a wake-up costs one callback, not the futures
    of an asyncio socket's ``poll``."""

    def __init__(self, socket: zmq.Socket[bytes]) -> None:
        self._raw = socket
        self._io: SocketIO | None = socket_io(socket)
        self._loop = asyncio.get_running_loop()
        self._fd = cast(int, socket.getsockopt(zmq.FD))
        self._waiter: asyncio.Future[None] | None = None
        self._loop.add_reader(self._fd, self._wake)

    def take(self, limit: int) -> list[bytes]:
        frames: list[bytes] = []
        if self._io is not None:
            error = self._io.recv_batch(frames, limit)
            if error:
                raise_for(error)
            return frames
        recv = self._raw.recv
        with contextlib.suppress(zmq.Again):
            while len(frames) < limit:
                frames.append(recv(zmq.NOBLOCK))
        return frames

    async def wait(self, timeout: float) -> None:
        """Until a frame may be queued, or ``timeout`` seconds."""
        # libzmq's descriptor is edge-triggered: reading EVENTS re-arms it, and says what is queued now
        if cast(int, self._raw.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
            return
        self._waiter = waiter = self._loop.create_future()
        timer = self._loop.call_later(timeout, self._wake)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def close(self) -> None:
        self._loop.remove_reader(self._fd)
        if self._io is not None:
            self._io.close()  # before the socket closes: the handle dies with it


def _wire_ready(nc: Any) -> bool:
    """Whether commands can go to nats-py's outgoing buffer as they are: connected (nats-py's own
    ``publish`` handles reconnection buffering and its errors), and the client has the buffer this relies
    on (nats-py 2.x); otherwise each message goes through ``publish``."""
    return bool(nc.is_connected) and callable(getattr(nc, "_send_command", None))


async def _write(nc: Any, parts: list[bytes]) -> None:
    """A batch of commands, one write into nats-py's buffer, flushed as ``publish`` does (its flusher
    task writes the buffer to the socket when the loop next runs)."""
    await nc._send_command(b"".join(parts))
    if nc._flush_queue is not None and nc._flush_queue.empty():
        await nc._flush_pending()


class BusToJetStream:
    """Bus topics into JetStream streams. ``await bridge.run(stop)`` until ``stop`` is set; every message
    taken before ``stop`` is acknowledged by JetStream before ``run`` returns.

    ``endpoint`` is where to connect a SUB socket (a publisher, or the proxy's backend); ``bind=True``
    binds it instead (publishers then connect to the bridge).
    """

    #: messages of one stream confirmed by one pair of acknowledgements, at most
    SEGMENT = 256
    #: frames taken from the bus per wake-up, at most: what is queued goes out in one write
    BATCH = 2048

    def __init__(
        self,
        endpoint: str,
        config: JetStreamConfig | None = None,
        *,
        bind: bool = False,
        context: zmq.asyncio.Context | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.config = config or JetStreamConfig()
        self.bind = bind
        self.stats = BridgeStats()
        self._context = context
        self._segments: deque[_Segment] = deque()
        self._in_flight = 0  # messages in self._segments
        self._last_seq: dict[str, int] = {}  # per topic: the highest stream sequence acknowledged
        self._js: Any = None
        self._nc: Any = None
        self._encoder: FrameEncoder | None = None
        self._inbox = b""
        self._acks: dict[str, asyncio.Future[_Ack]] = {}
        self._tokens = itertools.count()
        #: set once the bus socket is subscribed and the streams exist
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> BridgeStats:
        nc = await connect(self.config)
        context = self._context or zmq.asyncio.Context.instance()
        # a plain socket of the context: _BusReader waits on its descriptor, no asyncio socket is needed
        socket: zmq.Socket[bytes] = zmq.Socket(context, zmq.SUB)
        reader: _BusReader | None = None
        try:
            self._nc = nc
            self._js = nc.jetstream()
            await ensure_streams(self._js, self.config)
            for topic in self.config.topics:
                info = await self._js.stream_info(stream_name(self.config, topic))
                self._last_seq[topic] = info.state.last_seq
            # Acknowledgements come to one wildcard inbox, matched by token. Not js.publish_async: it takes
            # a semaphore through asyncio.wait_for per message, which yields to the loop, so nats-py's
            # flusher writes every message in its own syscall (a tenth of the throughput).
            inbox = nc.new_inbox()
            self._inbox = inbox.encode()
            await nc.subscribe(inbox + ".*", cb=self._on_ack)
            self._encoder = FrameEncoder(self.config.subject_prefix, self.config.topics, nc.max_payload)
            self.stats.malformed_by_reason = self._encoder.malformed.by_reason
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.RCVHWM, 100_000)
            for topic in self.config.topics:
                socket.setsockopt(zmq.SUBSCRIBE, f"{topic} ".encode())
            if self.bind:
                socket.bind(self.endpoint)
            else:
                socket.connect(self.endpoint)
            reader = _BusReader(socket)
            self.ready.set()
            while not stop.is_set():
                # No waiting for company: what is queued now goes now (at a low rate, one message).
                frames = reader.take(self.BATCH)
                if frames:
                    await self._forward(frames)
                    await asyncio.sleep(0)  # nats-py's flusher writes the batch; acknowledgements come in
                else:
                    await reader.wait(0.05)
                await self._settle_expired()
                while self._in_flight >= self.config.window:
                    await self._settle(self._segments.popleft())
            while self._segments:
                await self._settle(self._segments.popleft())
            return self.stats
        finally:
            if reader is not None:
                reader.close()
            socket.close(0)
            with contextlib.suppress(Exception):
                await nc.drain()

    def _expect(self) -> tuple[str, asyncio.Future[_Ack]]:
        token = str(next(self._tokens))
        future: asyncio.Future[_Ack] = asyncio.get_running_loop().create_future()
        self._acks[token] = future
        return token, future

    async def _forward(self, frames: list[bytes]) -> None:
        """Publishes a batch of frames: per topic, segments whose first and last messages ask for an
        acknowledgement, all in one write."""
        assert self._encoder is not None
        self.stats.received += len(frames)
        grouped: dict[str, list[bytes]] = {}
        self._encoder.encode(frames, grouped)
        self.stats.malformed = self._encoder.malformed.count
        batch: list[_Segment] = []
        parts: list[bytes] = []
        now = time.monotonic()
        for topic, commands in grouped.items():
            base = self._last_seq.get(topic, 0)
            for start in range(0, len(commands), self.SEGMENT):
                segment = _Segment(commands[start : start + self.SEGMENT], topic, now, base)
                first_token, segment.first = self._expect()
                last_token, segment.last = (
                    self._expect() if len(segment.commands) > 1 else (first_token, segment.first)
                )
                segment.tokens = (first_token, last_token)
                parts.append(with_reply(segment.commands[0], self._reply(first_token)))
                if len(segment.commands) > 1:
                    parts.extend(segment.commands[1:-1])
                    parts.append(with_reply(segment.commands[-1], self._reply(last_token)))
                batch.append(segment)
        self._segments.extend(batch)
        self._in_flight += sum(len(s.commands) for s in batch)
        try:
            if _wire_ready(self._nc):
                await _write(self._nc, parts)
            else:
                for segment in batch:
                    await self._publish_each(segment)
        except (TimeoutError, nats.errors.Error):
            # not all sent (a full reconnect buffer): confirmed one by one when settled
            for segment in batch:
                self._forget(segment)

    def _reply(self, token: str) -> bytes:
        return self._inbox + b"." + token.encode()

    async def _publish_each(self, segment: _Segment) -> None:
        """The segment through nats-py's ``publish`` (while reconnecting: it buffers, or refuses)."""
        last = len(segment.commands) - 1
        for i, command in enumerate(segment.commands):
            subject, payload, msg_id = parse_command(command)
            token = segment.tokens[0] if i == 0 else segment.tokens[1] if i == last else None
            reply = self._reply(token).decode() if token is not None else ""
            await self._nc.publish(subject, payload, reply=reply, headers={MSG_ID: msg_id})

    def _forget(self, segment: _Segment) -> None:
        """No acknowledgement is awaited for the segment: it is settled one message at a time."""
        for token in segment.tokens:
            self._acks.pop(token, None)
        for future in (segment.first, segment.last):
            if future is not None and not future.done():
                future.cancel()
        segment.first = segment.last = None
        segment.tokens = ()

    async def _on_ack(self, message: Any) -> None:
        future = self._acks.pop(message.subject.rsplit(".", 1)[-1], None)
        if future is None or future.done():
            return
        if message.headers and message.headers.get("Status") == "503":
            future.set_exception(nats.errors.NoRespondersError())
            return
        try:
            reply = _decode_ack(message.data)
        except msgspec.DecodeError:
            future.set_exception(nats.errors.Error("unreadable acknowledgement"))
            return
        if reply.error is not None:
            future.set_exception(nats.js.errors.APIError.from_error(reply.error))
        else:
            future.set_result(reply)

    async def _settle_expired(self) -> None:
        now = time.monotonic()
        while self._segments and (
            self._segments[0].last is None
            or self._segments[0].last.done()
            or now - self._segments[0].sent > self.config.ack_timeout
        ):
            await self._settle(self._segments.popleft())

    async def _settle(self, segment: _Segment) -> None:
        n = len(segment.commands)
        self._in_flight -= n
        acks: list[_Ack] = []
        if segment.first is not None and segment.last is not None:
            remaining = max(0.0, segment.sent + self.config.ack_timeout - time.monotonic())
            try:
                for future in (segment.first, segment.last):
                    acks.append(
                        future.result() if future.done() else await asyncio.wait_for(future, remaining)
                    )
            except (TimeoutError, nats.errors.Error, asyncio.CancelledError):
                for token in segment.tokens:
                    self._acks.pop(token, None)
                for future in (segment.first, segment.last):
                    # the other answer is not needed now: taken (or dropped), so none goes unretrieved
                    if future.done() and not future.cancelled():
                        future.exception()
                    else:
                        future.cancel()
                acks = []
        if acks:
            top = max(a.seq for a in acks)
            self._last_seq[segment.topic] = max(self._last_seq.get(segment.topic, 0), top)
        if acks and n == 1:
            self._count(acks[0].duplicate, 1)
            return
        if (
            len(acks) == 2
            and not (acks[0].duplicate or acks[1].duplicate)
            and acks[1].seq - acks[0].seq == n - 1
        ):
            self._count(False, n)
            return
        # Each message again with its own acknowledgement, then one by one for any still unanswered. A copy
        # reported duplicate at a sequence above the segment's base was stored by this segment's first
        # sending (its acknowledgement was not asked for, or lost): stored, once.
        counted: set[int] = set()
        for command, answer in zip(segment.commands, await self._resend(segment), strict=True):
            ack = answer if answer is not None else await self._retry(*parse_command(command))
            seq = int(ack.seq)
            self._last_seq[segment.topic] = max(self._last_seq.get(segment.topic, 0), seq)
            ours = not ack.duplicate or (seq > segment.base and seq not in counted)
            counted.add(seq)
            self._count(not ours, 1)

    async def _resend(self, segment: _Segment) -> list[_Ack | None]:
        """The segment again, every message asking for its acknowledgement, in one write: an unproved
        segment costs a round trip, not one per message. None where no acknowledgement came in time (or
        the connection is down: ``_retry`` then waits for it)."""
        if not _wire_ready(self._nc):
            return [None] * len(segment.commands)
        expected = [self._expect() for _ in segment.commands]
        self.stats.retries += len(expected)
        try:
            await _write(
                self._nc,
                [with_reply(c, self._reply(t)) for c, (t, _) in zip(segment.commands, expected, strict=True)],
            )
            await asyncio.wait([f for _, f in expected], timeout=self.config.ack_timeout)
        except (TimeoutError, nats.errors.Error):
            pass
        answers: list[_Ack | None] = []
        for token, future in expected:
            self._acks.pop(token, None)
            if future.done() and not future.cancelled() and future.exception() is None:
                answers.append(future.result())
                continue
            if future.done() and not future.cancelled():
                future.exception()  # taken: a refused copy is published again by _retry
            else:
                future.cancel()
            answers.append(None)
        return answers

    def _count(self, duplicate: bool, n: int) -> None:
        if duplicate:
            self.stats.duplicates += n
        else:
            self.stats.stored += n

    async def _retry(self, subject: str, payload: bytes, msg_id: str) -> Any:
        deadline = time.monotonic() + self.config.retry_budget
        while True:
            self.stats.retries += 1
            try:
                return await self._js.publish(
                    subject, payload, timeout=self.config.ack_timeout, headers={MSG_ID: msg_id}
                )
            except (TimeoutError, nats.errors.Error) as exc:
                if time.monotonic() > deadline:
                    raise BridgeError(
                        "publish_failed",
                        f"{msg_id} on {subject} not stored after "
                        f"{self.config.retry_budget:g} s: {type(exc).__name__}",
                    ) from None
                await asyncio.sleep(0.1)
