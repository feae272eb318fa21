"""Bridges from the ZeroMQ bus to durable logs: what ZeroMQ does not give (a log, catch-up for late joiners,
audit), taken from an engine that does, not written here.

- :mod:`tradebridge.bridges.jetstream`: selected bus topics into NATS JetStream streams (one stream per
  topic, subject ``<prefix>.<topic>.<symbol>``, ``Nats-Msg-Id`` = ``source:seq`` so a retried publish is
  stored once) and back out: a late subscriber replays from a stream sequence or a time, then continues
  live. The bus frame's JSON is stored byte for byte, so the envelope (``seq``, ``source``) survives.
- ``tradebridge bridge nats in|out``: the same from the command line (:mod:`tradebridge.bridges.cli`).
"""

from __future__ import annotations

from tradebridge.bridges.errors import BRIDGE_ERROR_CODES, BridgeError
from tradebridge.bridges.jetstream import (
    BridgeStats,
    BusToJetStream,
    JetStreamConfig,
    ensure_streams,
    message_id,
    stream_name,
    subject_for,
)
from tradebridge.bridges.replay import JetStreamToBus, Replayed, replay

__all__ = [
    "BRIDGE_ERROR_CODES",
    "BridgeError",
    "BridgeStats",
    "BusToJetStream",
    "JetStreamConfig",
    "JetStreamToBus",
    "Replayed",
    "ensure_streams",
    "message_id",
    "replay",
    "stream_name",
    "subject_for",
]
