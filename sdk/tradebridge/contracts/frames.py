"""The v1 wire form: one ZeroMQ frame ``b"<topic> <json>"``, and which message travels on which topic."""

from __future__ import annotations

from typing import Any

import msgspec

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

__all__ = ["TOPICS", "decode_frame", "encode_frame", "split_frame", "topic_of"]

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
_DECODERS: dict[tuple[str, int], Decoder[Any]] = {}


def topic_of(message: Any) -> str:
    """The topic a message is published on (``market``, ``signal``, ``order``, ``system``)."""
    try:
        return _TOPIC_OF_CLASS[message.__class__]
    except KeyError:
        raise ContractError("unknown_type", f"{type(message).__name__} is not a bus message") from None


def encode_frame(message: Any) -> bytes:
    """``b"<topic> <json>"`` for one bus message."""
    return topic_of(message).encode("ascii") + b" " + encode(message)


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


def decode_frame(frame: bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> tuple[str, Any]:
    """Split a frame and decode its payload as the message type of its topic.

    A payload of another topic's type is ``topic_mismatch``; a topic outside v1 is ``unknown_topic``.
    """
    topic, payload = split_frame(frame)
    decoder = _DECODERS.get((topic, max_size))
    if decoder is None:
        kind = _TYPE_OF_TOPIC.get(topic)
        if kind is None:
            raise ContractError("unknown_topic", f"topic {topic!r} is not one of {', '.join(TOPICS)}")
        decoder = _DECODERS[(topic, max_size)] = Decoder(kind, max_size=max_size)
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
