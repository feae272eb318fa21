"""The bus into NATS JetStream and back out.

In: a SUB socket on the bus (a publisher, or the proxy's backend) takes the selected topics; every frame's
JSON is published, unchanged, to ``<subject_prefix>.<topic>.<symbol>`` with the header
``Nats-Msg-Id: <source>:<seq>``. One stream per topic (``<stream_prefix>_<TOPIC>``), because ``seq`` counts
per topic: two topics of one publisher share ``source:seq`` values and must not de-duplicate each other.
Publishes are pipelined (``window`` awaiting their acknowledgement); one that is not acknowledged in time is
published again with the same id until JetStream stores it (a node lost, a leader election), and the
stream's ``duplicate_window`` makes the second copy a no-op: nothing lost, nothing stored twice. A retried
message can land after later ones; a replay that needs bus order sorts by the envelope's ``seq``.

Out: :mod:`tradebridge.bridges.replay` (a late joiner replays from a sequence or a time, then follows live).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec
import nats
import nats.errors
import nats.js.errors
import zmq
import zmq.asyncio
from nats.aio.client import Client as NATS
from nats.js import api

from tradebridge.bridges.errors import BridgeError
from tradebridge.contracts import TOPICS

__all__ = [
    "BridgeStats",
    "BusToJetStream",
    "JetStreamConfig",
    "connect",
    "ensure_streams",
    "message_id",
    "stream_name",
    "subject_for",
]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# characters NATS gives a meaning in a subject token
_UNSAFE = re.compile(r"[\s.*>]")
_MSG_ID = "Nats-Msg-Id"
_log = logging.getLogger(__name__)
# JetStream's "stream name already in use" (the stream exists, perhaps with another configuration)
_STREAM_EXISTS = 10058


@dataclass(frozen=True, slots=True)
class JetStreamConfig:
    """Where and how the bus meets JetStream.

    - ``servers``: NATS URLs (every node of a cluster, so the client fails over); credentials in a URL are
      never logged or shown in errors.
    - ``topics``: the bus topics bridged (default: all of v1).
    - ``stream_prefix`` / ``subject_prefix``: stream ``<stream_prefix>_<TOPIC>`` holds subjects
      ``<subject_prefix>.<topic>.>``.
    - ``replicas``: copies of each stream (3 on a three-node cluster survives one node).
    - ``duplicate_window``: seconds JetStream remembers message ids; a retry within it is stored once.
    - ``window``: publishes awaiting acknowledgement at once (throughput against memory on a stall).
    - ``ack_timeout``: how long one acknowledgement may take before the publish is retried.
    - ``retry_budget``: how long one message may be retried before the bridge stops with
      ``publish_failed`` (stopping loudly beats dropping quietly).
    """

    servers: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    topics: tuple[str, ...] = TOPICS
    stream_prefix: str = "TRADEBRIDGE"
    subject_prefix: str = "tradebridge"
    replicas: int = 1
    duplicate_window: float = 120.0
    window: int = 1024
    ack_timeout: float = 5.0
    retry_budget: float = 60.0

    def __post_init__(self) -> None:
        if not self.servers:
            raise BridgeError("invalid_option", "at least one NATS server URL is needed")
        if not self.topics:
            raise BridgeError("invalid_option", "at least one topic is needed")
        for topic in self.topics:
            if not _TOKEN.match(topic):
                raise BridgeError("invalid_option", f"topic {topic!r} is not a plain token")
        if not _NAME.match(self.stream_prefix):
            raise BridgeError("invalid_option", f"stream prefix {self.stream_prefix!r}: letters, digits, _ -")
        if not _TOKEN.match(self.subject_prefix):
            raise BridgeError("invalid_option", f"subject prefix {self.subject_prefix!r} is not a token")
        if not 1 <= self.replicas <= 5:
            raise BridgeError("invalid_option", f"replicas must be 1..5, got {self.replicas}")
        for name in ("duplicate_window", "ack_timeout", "retry_budget"):
            if not 0 < getattr(self, name) < float("inf"):
                raise BridgeError("invalid_option", f"{name} must be > 0 seconds")
        if self.window < 1:
            raise BridgeError("invalid_option", f"window must be >= 1, got {self.window}")


def stream_name(config: JetStreamConfig, topic: str) -> str:
    """The stream that holds one topic."""
    return f"{config.stream_prefix}_{topic.upper()}"


def subject_for(prefix: str, topic: str, symbol: str | None) -> str:
    """``<prefix>.<topic>.<symbol>``; ``_`` for a message without a symbol, and characters a NATS token
    cannot hold (``.``, ``*``, ``>``, spaces) become ``_`` (``BRK.B`` -> ``BRK_B``; the envelope inside
    still says ``BRK.B``)."""
    return f"{prefix}.{topic}.{_UNSAFE.sub('_', symbol) if symbol else '_'}"


def message_id(source: str, seq: int) -> str:
    """JetStream's de-duplication id of one bus message: its publisher and its number."""
    return f"{source}:{seq}"


def redact(url: str) -> str:
    """A URL without its user information, for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class _Envelope(msgspec.Struct, gc=False):
    """The envelope fields the bridge needs; msgspec skips the rest without building it."""

    seq: int | None = None
    source: str | None = None
    symbol: str | None = None


_decode_envelope = msgspec.json.Decoder(_Envelope).decode


async def _quiet(exc: Exception) -> None:
    # nats-py logs every failed (re)connect with the server URL by default; reconnecting is expected
    # here, and a URL may carry credentials
    _log.debug("nats: %s", type(exc).__name__)


async def connect(config: JetStreamConfig) -> NATS:
    """A NATS connection that keeps reconnecting (to any node of ``servers``) for as long as it lives.
    Start-up tries each server twice, so an absent server is an error now rather than an endless retry."""
    options: dict[str, Any] = {"servers": list(config.servers), "connect_timeout": 2, "error_cb": _quiet}
    try:
        probe = await nats.connect(max_reconnect_attempts=1, reconnect_time_wait=0.1, **options)
        await probe.close()
        return await nats.connect(max_reconnect_attempts=-1, reconnect_time_wait=0.1, **options)
    except (TimeoutError, nats.errors.Error, OSError) as exc:
        where = ", ".join(redact(url) for url in config.servers)
        raise BridgeError(
            "nats_unavailable", f"no NATS server answered at {where}: {type(exc).__name__}"
        ) from None


async def ensure_streams(js: Any, config: JetStreamConfig) -> None:
    """Creates each topic's stream, or brings an existing one to this configuration."""
    for topic in config.topics:
        stream = api.StreamConfig(
            name=stream_name(config, topic),
            subjects=[f"{config.subject_prefix}.{topic}.>"],
            storage=api.StorageType.FILE,
            num_replicas=config.replicas,
            duplicate_window=config.duplicate_window,
        )
        try:
            try:
                await js.add_stream(stream)
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != _STREAM_EXISTS:
                    raise
                await js.update_stream(stream)
        except (TimeoutError, nats.errors.Error) as exc:
            raise BridgeError(
                "stream_setup_failed", f"stream {stream.name}: {type(exc).__name__}: {exc}"
            ) from None


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
    headers: dict[str, str]
    sent: float
    future: asyncio.Future[Any] | None = None
    token: str = ""


class BusToJetStream:
    """Bus topics into JetStream streams. ``await bridge.run(stop)`` until ``stop`` is set; every message
    taken before ``stop`` is acknowledged by JetStream before ``run`` returns.

    ``endpoint`` is where to connect a SUB socket (a publisher, or the proxy's backend); ``bind=True``
    binds it instead (publishers then connect to the bridge).
    """

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
        self._pending: deque[_Pending] = deque()
        self._js: Any = None
        self._nc: Any = None
        self._inbox = ""
        self._acks: dict[str, asyncio.Future[Any]] = {}
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
                    await self._take(frame)
            while self._pending:
                await self._settle(self._pending.popleft())
            return self.stats
        finally:
            socket.close(0)
            with contextlib.suppress(Exception):
                await nc.drain()

    def _malformed(self, reason: str) -> None:
        self.stats.malformed += 1
        self.stats.malformed_by_reason[reason] = self.stats.malformed_by_reason.get(reason, 0) + 1

    async def _take(self, frame: bytes) -> None:
        self.stats.received += 1
        space = frame.find(b" ")
        if space <= 0:
            self._malformed("bad_frame")
            return
        topic, payload = frame[:space].decode("ascii", "replace"), frame[space + 1 :]
        try:
            envelope = _decode_envelope(payload)
        except msgspec.DecodeError:
            self._malformed("bad_json")
            return
        if envelope.source is None or envelope.seq is None:
            self._malformed("no_envelope")  # nothing to de-duplicate on: not bridged
            return
        key = (topic, envelope.symbol)
        subject = self._subjects.get(key)
        if subject is None:
            if len(self._subjects) > 100_000:  # bounded: symbols come from the wire
                self._subjects.clear()
            subject = self._subjects[key] = subject_for(self.config.subject_prefix, topic, envelope.symbol)
        item = _Pending(
            subject,
            bytes(payload),
            {_MSG_ID: message_id(envelope.source, envelope.seq)},
            time.monotonic(),
        )
        token = str(next(self._tokens))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[token] = future
        try:
            await self._nc.publish(
                item.subject, item.payload, reply=f"{self._inbox}.{token}", headers=item.headers
            )
            item.future, item.token = future, token
        except (TimeoutError, nats.errors.Error):
            del self._acks[token]  # not even sent (a full reconnect buffer): retried when it is settled
        self._pending.append(item)
        while len(self._pending) >= self.config.window:
            await self._settle(self._pending.popleft())

    async def _on_ack(self, message: Any) -> None:
        future = self._acks.pop(message.subject.rsplit(".", 1)[-1], None)
        if future is None or future.done():
            return
        if message.headers and message.headers.get("Status") == "503":
            future.set_exception(nats.errors.NoRespondersError())
            return
        try:
            reply = json.loads(message.data)
        except ValueError:
            future.set_exception(nats.errors.Error("unreadable acknowledgement"))
            return
        if "error" in reply:
            future.set_exception(nats.js.errors.APIError.from_error(reply["error"]))
        else:
            future.set_result(reply)

    async def _settle_expired(self) -> None:
        now = time.monotonic()
        while self._pending and (
            self._pending[0].future is None
            or self._pending[0].future.done()
            or now - self._pending[0].sent > self.config.ack_timeout
        ):
            await self._settle(self._pending.popleft())

    async def _settle(self, item: _Pending) -> None:
        duplicate: bool | None = None
        if item.future is not None:
            remaining = max(0.0, item.sent + self.config.ack_timeout - time.monotonic())
            try:
                reply = (
                    item.future.result()
                    if item.future.done()
                    else await asyncio.wait_for(item.future, remaining)
                )
                duplicate = bool(reply.get("duplicate", False))
            except (TimeoutError, nats.errors.Error, asyncio.CancelledError):
                self._acks.pop(item.token, None)
        if duplicate is None:
            duplicate = bool((await self._retry(item)).duplicate)
        if duplicate:
            self.stats.duplicates += 1
        else:
            self.stats.stored += 1

    async def _retry(self, item: _Pending) -> Any:
        deadline = time.monotonic() + self.config.retry_budget
        while True:
            self.stats.retries += 1
            try:
                return await self._js.publish(
                    item.subject, item.payload, timeout=self.config.ack_timeout, headers=item.headers
                )
            except (TimeoutError, nats.errors.Error) as exc:
                if time.monotonic() > deadline:
                    raise BridgeError(
                        "publish_failed",
                        f"{item.headers[_MSG_ID]} on {item.subject} not stored after "
                        f"{self.config.retry_budget:g} s: {type(exc).__name__}",
                    ) from None
                await asyncio.sleep(0.1)
