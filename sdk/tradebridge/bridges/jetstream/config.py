"""Where and how the bus meets JetStream: the configuration, stream and subject names, message ids, the
NATS connection and the streams themselves (see the package docstring)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import api

from tradebridge.bridges.errors import BridgeError
from tradebridge.contracts import TOPICS

__all__ = [
    "JetStreamConfig",
    "connect",
    "ensure_streams",
    "message_id",
    "redact",
    "stream_name",
    "subject_for",
]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# characters NATS gives a meaning in a subject token, and control characters (the protocol's line breaks)
_UNSAFE = re.compile(r"[\s.*>\x00-\x1f\x7f]")
_log = logging.getLogger("tradebridge.bridges.jetstream")
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
    - ``window``: publishes awaiting acknowledgement at once (throughput against memory on a stall: a
      few of the bridge's batches, so it reads the bus while JetStream stores the last ones).
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
    window: int = 16_384
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
    cannot hold (``.``, ``*``, ``>``, spaces, control characters) become ``_`` (``BRK.B`` -> ``BRK_B``;
    the envelope inside still says ``BRK.B``)."""
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
