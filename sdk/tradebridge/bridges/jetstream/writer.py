"""The bus into JetStream (:class:`BusToJetStream`): frames taken from a SUB socket, published in
acknowledged segments, retried until stored (see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import msgspec
import nats
import nats.errors
import nats.js.errors
import zmq
import zmq.asyncio

from tradebridge.bridges.errors import BridgeError
from tradebridge.bridges.jetstream.config import (
    JetStreamConfig,
    connect,
    ensure_streams,
    message_id,
    stream_name,
    subject_for,
)

__all__ = ["BridgeStats", "BusToJetStream"]

_MSG_ID = "Nats-Msg-Id"
# what a NATS header value cannot carry
_BAD_ID = re.compile(r"[\x00-\x1f\x7f]")


class _Envelope(msgspec.Struct, gc=False):
    """The envelope fields the bridge needs; msgspec skips the rest without building it."""

    seq: int | None = None
    source: str | None = None
    symbol: str | None = None


_decode_envelope = msgspec.json.Decoder(_Envelope).decode


@dataclass(slots=True)
class BridgeStats:
    """What a bridge did; ``stored + duplicates`` is what JetStream acknowledged."""

    received: int = 0  # bus frames taken
    stored: int = 0  # acknowledged as new
    duplicates: int = 0  # acknowledged as already stored (a retry, or a frame seen twice)
    retries: int = 0  # publishes sent again after a missing acknowledgement
    malformed: int = 0  # frames without topic, JSON or envelope: not bridged, counted
    malformed_by_reason: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "retries": self.retries,
            "malformed": self.malformed,
        }


@dataclass(slots=True)
class _Pending:
    subject: str
    payload: bytes
    msg_id: str


class _Ack(msgspec.Struct, gc=False):
    """JetStream's answer to one publish (``error`` instead of the rest when refused)."""

    seq: int = 0
    duplicate: bool = False
    error: dict[str, Any] | None = None


_decode_ack = msgspec.json.Decoder(_Ack).decode


@dataclass(slots=True)
class _Segment:
    """Consecutive messages of one stream, sent together. Only the first and the last ask for an
    acknowledgement: when both are new and their stream sequences are ``len(items) - 1`` apart, every
    message between them was stored (one connection's publishes reach a stream in order). Anything else
    (a duplicate, a gap, another publisher in between, a missing acknowledgement) sends the segment again,
    one acknowledged publish per message; ``Nats-Msg-Id`` makes the copies already stored no-ops."""

    items: list[_Pending]
    sent: float
    #: the highest stream sequence known when it was sent: a copy stored above it is this segment's own
    base: int
    first: asyncio.Future[_Ack] | None = None
    last: asyncio.Future[_Ack] | None = None
    tokens: tuple[str, ...] = ()
    topic: str = ""


def _wire_ready(nc: Any) -> bool:
    """Whether a segment can go to nats-py's outgoing buffer as one piece: connected (nats-py's own
    ``publish`` handles reconnection buffering and its errors), and the client has the buffer this relies
    on (nats-py 2.x); otherwise each message goes through ``publish``."""
    return bool(nc.is_connected) and callable(getattr(nc, "_send_command", None))


async def _write_segment(nc: Any, items: list[_Pending], replies: dict[int, str]) -> None:
    """A segment as NATS protocol ``HPUB`` commands, one write into nats-py's buffer.

    ``publish`` costs 5 us per message in header validation and encoding (half of the bridge's time); the
    command here is the documented wire format (``HPUB <subject> [reply] <header bytes> <total bytes>``,
    a ``NATS/1.0`` header block, the payload). Subjects are made by :func:`subject_for` and message ids
    are checked by ``_take`` (no CR or LF), so nothing needs escaping."""
    parts: list[bytes] = []
    for i, item in enumerate(items):
        header = b"NATS/1.0\r\n" + _MSG_ID.encode() + b": " + item.msg_id.encode() + b"\r\n\r\n"
        reply = replies.get(i, "")
        head = f"HPUB {item.subject} {reply} {len(header)} {len(header) + len(item.payload)}\r\n"
        parts.append(head.encode() + header + item.payload + b"\r\n")
    await nc._send_command(b"".join(parts))
    if nc._flush_queue is not None and nc._flush_queue.empty():  # as publish does: kick the flusher
        await nc._flush_pending()


class BusToJetStream:
    """Bus topics into JetStream streams. ``await bridge.run(stop)`` until ``stop`` is set; every message
    taken before ``stop`` is acknowledged by JetStream before ``run`` returns.

    ``endpoint`` is where to connect a SUB socket (a publisher, or the proxy's backend); ``bind=True``
    binds it instead (publishers then connect to the bridge).
    """

    #: messages of one stream confirmed by one pair of acknowledgements, at most
    SEGMENT = 256

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
        self._open: dict[str, list[_Pending]] = {}  # per topic, not sent yet
        self._last_seq: dict[str, int] = {}  # per topic: the highest stream sequence acknowledged
        self._js: Any = None
        self._nc: Any = None
        self._inbox = ""
        self._acks: dict[str, asyncio.Future[_Ack]] = {}
        self._tokens = itertools.count()
        self._subjects: dict[tuple[str, str | None], str] = {}
        #: set once the bus socket is subscribed and the streams exist
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> BridgeStats:
        nc = await connect(self.config)
        context = self._context or zmq.asyncio.Context.instance()
        socket = context.socket(zmq.SUB)
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
            self._inbox = nc.new_inbox()
            await nc.subscribe(self._inbox + ".*", cb=self._on_ack)
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.RCVHWM, 100_000)
            for topic in self.config.topics:
                socket.setsockopt(zmq.SUBSCRIBE, f"{topic} ".encode())
            if self.bind:
                socket.bind(self.endpoint)
            else:
                socket.connect(self.endpoint)
            # the asyncio socket waits; a plain view of the same socket drains a batch without a future each
            raw: zmq.Socket[bytes] = zmq.Socket.shadow(socket.underlying)
            self.ready.set()
            while not stop.is_set():
                if not await socket.poll(50):
                    await self._settle_expired()
                    continue
                for _ in range(1_000):  # a batch per wake-up; what is left waits for the next poll
                    try:
                        frame = raw.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    taken = self._take(frame)
                    if taken is not None and len(self._open[taken]) >= self.SEGMENT:
                        await self._send(taken)
                # What the batch left open goes now: at a low rate a segment is one message, so nothing
                # waits for company.
                for topic in [t for t, items in self._open.items() if items]:
                    await self._send(topic)
                await self._settle_expired()
                while self._in_flight >= self.config.window:
                    await self._settle(self._segments.popleft())
            while self._segments:
                await self._settle(self._segments.popleft())
            return self.stats
        finally:
            socket.close(0)
            with contextlib.suppress(Exception):
                await nc.drain()

    def _malformed(self, reason: str) -> None:
        self.stats.malformed += 1
        self.stats.malformed_by_reason[reason] = self.stats.malformed_by_reason.get(reason, 0) + 1

    def _take(self, frame: bytes) -> str | None:
        """Queues one bus frame in its topic's open segment; its topic, or None when malformed."""
        self.stats.received += 1
        space = frame.find(b" ")
        if space <= 0:
            self._malformed("bad_frame")
            return None
        topic, payload = frame[:space].decode("ascii", "replace"), frame[space + 1 :]
        try:
            envelope = _decode_envelope(payload)
        except msgspec.DecodeError:
            self._malformed("bad_json")
            return None
        if envelope.source is None or envelope.seq is None:
            self._malformed("no_envelope")  # nothing to de-duplicate on: not bridged
            return None
        if _BAD_ID.search(envelope.source):
            self._malformed("bad_source")  # a header value cannot hold it
            return None
        key = (topic, envelope.symbol)
        subject = self._subjects.get(key)
        if subject is None:
            if len(self._subjects) > 100_000:  # bounded: symbols come from the wire
                self._subjects.clear()
            subject = self._subjects[key] = subject_for(self.config.subject_prefix, topic, envelope.symbol)
        item = _Pending(subject, bytes(payload), message_id(envelope.source, envelope.seq))
        items = self._open.get(topic)
        if items is None:
            items = self._open[topic] = []
        items.append(item)
        return topic

    def _expect(self) -> tuple[str, asyncio.Future[_Ack]]:
        token = str(next(self._tokens))
        future: asyncio.Future[_Ack] = asyncio.get_running_loop().create_future()
        self._acks[token] = future
        return token, future

    async def _send(self, topic: str) -> None:
        """Publishes the topic's open segment, acknowledgements asked for its first and last message."""
        items, self._open[topic] = self._open[topic], []
        segment = _Segment(items, time.monotonic(), self._last_seq.get(topic, 0), topic=topic)
        first_token, first = self._expect()
        last_token, last = self._expect() if len(items) > 1 else (first_token, first)
        replies = {0: f"{self._inbox}.{first_token}", len(items) - 1: f"{self._inbox}.{last_token}"}
        try:
            if _wire_ready(self._nc):
                await _write_segment(self._nc, items, replies)
            else:
                for i, item in enumerate(items):
                    await self._nc.publish(
                        item.subject, item.payload, reply=replies.get(i, ""), headers={_MSG_ID: item.msg_id}
                    )
            segment.first, segment.last, segment.tokens = first, last, (first_token, last_token)
        except (TimeoutError, nats.errors.Error):
            # not all sent (a full reconnect buffer): confirmed one by one when settled
            self._acks.pop(first_token, None)
            self._acks.pop(last_token, None)
        self._segments.append(segment)
        self._in_flight += len(items)

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
        self._in_flight -= len(segment.items)
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
        n = len(segment.items)
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
        # One by one. A copy reported duplicate at a sequence above the segment's base was stored by this
        # segment's first sending (its acknowledgement was not asked for, or lost): stored, once.
        counted: set[int] = set()
        for item in segment.items:
            ack = await self._retry(item)
            seq = int(ack.seq)
            self._last_seq[segment.topic] = max(self._last_seq.get(segment.topic, 0), seq)
            ours = not ack.duplicate or (seq > segment.base and seq not in counted)
            counted.add(seq)
            self._count(not ours, 1)

    def _count(self, duplicate: bool, n: int) -> None:
        if duplicate:
            self.stats.duplicates += n
        else:
            self.stats.stored += n

    async def _retry(self, item: _Pending) -> Any:
        deadline = time.monotonic() + self.config.retry_budget
        while True:
            self.stats.retries += 1
            try:
                return await self._js.publish(
                    item.subject,
                    item.payload,
                    timeout=self.config.ack_timeout,
                    headers={_MSG_ID: item.msg_id},
                )
            except (TimeoutError, nats.errors.Error) as exc:
                if time.monotonic() > deadline:
                    raise BridgeError(
                        "publish_failed",
                        f"{item.msg_id} on {item.subject} not stored after "
                        f"{self.config.retry_budget:g} s: {type(exc).__name__}",
                    ) from None
                await asyncio.sleep(0.1)
