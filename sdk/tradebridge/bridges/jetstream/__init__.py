"""The bus into NATS JetStream and back out.

In: a SUB socket on the bus (a publisher, or the proxy's backend) takes the selected topics; every frame's
JSON is published, unchanged, to ``<subject_prefix>.<topic>.<symbol>`` with the header
``Nats-Msg-Id: <source>:<seq>``. One stream per topic (``<stream_prefix>_<TOPIC>``), because ``seq`` counts
per topic: two topics of one publisher share ``source:seq`` values and must not de-duplicate each other.
The bus is read a batch per wake-up (what is queued, nothing waited for) and each batch goes out as NATS
protocol commands in one write (:mod:`~tradebridge.bridges.jetstream.wire`: the envelope's ``source``,
``seq`` and ``symbol`` peeked, the JSON otherwise untouched). Publishes are pipelined (``window`` awaiting
their acknowledgement) in segments: consecutive messages of one stream of which only the first and the last
ask for an acknowledgement, whose stream sequences prove the messages between them stored (an
acknowledgement per message was half of the bridge's time). A segment not proved so (a duplicate, a
missing acknowledgement: a node lost, a leader election) is published again, one acknowledged message at a
time, until JetStream stores each; the stream's ``duplicate_window`` makes a second copy a no-op: nothing
lost, nothing stored twice. A retried message can land after later ones; a replay that needs bus order
sorts by the envelope's ``seq``.

Out: :mod:`tradebridge.bridges.replay` (a late joiner replays from a sequence or a time, then follows live).
"""

from tradebridge.bridges.jetstream.config import (
    JetStreamConfig,
    connect,
    ensure_streams,
    message_id,
    redact,
    stream_name,
    subject_for,
)
from tradebridge.bridges.jetstream.writer import BridgeStats, BusToJetStream

__all__ = [
    "BridgeStats",
    "BusToJetStream",
    "JetStreamConfig",
    "connect",
    "ensure_streams",
    "message_id",
    "redact",
    "stream_name",
    "subject_for",
]
