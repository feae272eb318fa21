"""The v1 wire form: one ZeroMQ frame ``b"<topic> <json>"``, which message travels on which topic, and the
envelope a publisher writes into it.

A publisher owns the envelope (``seq``, ``source`` and, since v1.1, ``sent_at_us``): it encodes the message
without one (:func:`without_envelope`) and splices its own fields in before the closing brace
(:func:`splice_envelope`, or :data:`ENVELOPE_FORMAT` inline), a few bytes of copying instead of a copy of
the message. A subscriber reads them back as typed fields: ``now_us() - message.sent_at_us`` is the transit.
"""

from __future__ import annotations

import time
from typing import Any, Final

import msgspec
from msgspec import UNSET

from tradebridge.contracts._lenient import SIGNAL_ALIAS
from tradebridge.contracts.codec import DEFAULT_MAX_SIZE, Decoder, encode
from tradebridge.contracts.messages import (
    BarUpdate,
    BusMessage,
    Heartbeat,
    MarketMessage,
    OrderUpdate,
    QuoteUpdate,
    Signal,
    TradeUpdate,
)
from tradebridge.errors import ContractError

__all__ = [
    "ENVELOPE_FORMAT",
    "TOPICS",
    "decode_frame",
    "encode_frame",
    "now_us",
    "source_suffix",
    "splice_envelope",
    "split_frame",
    "topic_of",
    "without_envelope",
]

#: ``ENVELOPE_FORMAT % (topic_and_space, body[:-1], seq, sent_at_us, source_suffix(source))`` is the frame
#: :func:`splice_envelope` builds, for a publisher that inlines it in its hot path
ENVELOPE_FORMAT: Final = b'%s%s,"seq":%d,"sent_at_us":%d%s'


_TOPIC_OF_CLASS: dict[type[BusMessage], str] = {
    BarUpdate: "market",
    TradeUpdate: "market",
    QuoteUpdate: "market",
    Signal: "signal",
    OrderUpdate: "order",
    Heartbeat: "system",
}
_TYPE_OF_TOPIC: dict[str, Any] = {
    "market": MarketMessage,
    "signal": Signal,
    "order": OrderUpdate,
    "system": Heartbeat,
}
TOPICS: tuple[str, ...] = tuple(_TYPE_OF_TOPIC)
_TOPIC_OF_TAG = {cls.__struct_config__.tag: topic for cls, topic in _TOPIC_OF_CLASS.items()}
_TOPIC_OF_TAG[SIGNAL_ALIAS] = "signal"
_DECODERS: dict[tuple[str, int, bool], Decoder[Any]] = {}


def topic_of(message: Any) -> str:
    """The topic a message is published on (``market``, ``signal``, ``order``, ``system``)."""
    try:
        return _TOPIC_OF_CLASS[message.__class__]
    except KeyError:
        raise ContractError("unknown_type", f"{type(message).__name__} is not a bus message") from None


def encode_frame(message: Any) -> bytes:
    """``b"<topic> <json>"`` for one bus message."""
    return topic_of(message).encode("ascii") + b" " + encode(message)


def now_us() -> int:
    """The wall clock in microseconds since the Unix epoch: the ``sent_at_us`` a publisher writes."""
    return time.time_ns() // 1000


def source_suffix(source: str) -> bytes:
    """``,"source":"<id>"}``: the constant tail of every body a publisher sends (build it once)."""
    return b',"source":' + msgspec.json.encode(source) + b"}"


def without_envelope(message: Any) -> Any:
    """``message`` itself, or a copy without ``seq``/``source``/``sent_at_us`` if it carries any (a
    republished message gets the new publisher's envelope, never two of one field)."""
    if message.seq is UNSET and message.source is UNSET and message.sent_at_us is UNSET:
        return message
    return msgspec.structs.replace(message, seq=UNSET, source=UNSET, sent_at_us=UNSET)


def splice_envelope(frame: bytes, seq: int, suffix: bytes, sent_at_us: int | None = None) -> bytes:
    """``frame`` (``<topic> <json>`` of a message without envelope) with the publisher's envelope written
    before its closing brace: ``,"seq":<seq>,"sent_at_us":<us>,"source":"<id>"}`` (``suffix`` from
    :func:`source_suffix`; ``sent_at_us`` left out when None).

    >>> from tradebridge.contracts import Heartbeat, decode_frame, encode_frame
    >>> beat = Heartbeat(component="a", timestamp=1)
    >>> frame = splice_envelope(encode_frame(beat), 7, source_suffix("py-1"), sent_at_us=42)
    >>> decode_frame(frame)[1].sent_at_us
    42
    """
    if sent_at_us is None:
        return b'%s,"seq":%d%s' % (frame[:-1], seq, suffix)
    return b'%s,"seq":%d,"sent_at_us":%d%s' % (frame[:-1], seq, sent_at_us, suffix)


def split_frame(frame: bytes) -> tuple[str, bytes]:
    """Topic and payload; the topic is everything before the first space (ASCII, not empty)."""
    if not isinstance(frame, bytes):
        frame = bytes(frame)
    space = frame.find(b" ")
    if space <= 0:
        reason = "no space between topic and payload" if space < 0 else "empty topic"
        raise ContractError("bad_frame", reason)
    topic = frame[:space]
    if not topic.isascii():
        raise ContractError("bad_frame", "topic is not ASCII")
    return topic.decode("ascii"), frame[space + 1 :]


def decode_frame(
    frame: bytes, *, max_size: int = DEFAULT_MAX_SIZE, allow_nan_tokens: bool = False
) -> tuple[str, Any]:
    """Split a frame and decode its payload as the message type of its topic.

    A payload of another topic's type is ``topic_mismatch``; a topic outside v1 is ``unknown_topic``.
    A subscriber that counts what was forgiven keeps one ``Decoder`` per topic instead and reads its
    ``legacy`` and ``nan_tokens`` counters.
    """
    topic, payload = split_frame(frame)
    key = (topic, max_size, allow_nan_tokens)
    decoder = _DECODERS.get(key)
    if decoder is None:
        kind = _TYPE_OF_TOPIC.get(topic)
        if kind is None:
            raise ContractError("unknown_topic", f"topic {topic!r} is not one of {', '.join(TOPICS)}")
        decoder = _DECODERS[key] = Decoder(kind, max_size=max_size, allow_nan_tokens=allow_nan_tokens)
    try:
        return topic, decoder.decode(payload)
    except ContractError as exc:
        if exc.code == "unknown_type" and exc.path == "$.type":
            tag = _peek_tag(payload)
            if tag in _TOPIC_OF_TAG and _TOPIC_OF_TAG[tag] != topic:
                raise ContractError(
                    "topic_mismatch", f"{tag} travels on {_TOPIC_OF_TAG[tag]!r}, not {topic!r}", "$.type"
                ) from None
        raise


def _peek_tag(payload: bytes) -> object:
    try:
        document = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return None
    return document.get("type") if isinstance(document, dict) else None
