"""Bus frames as NATS protocol commands, a batch at a time (:class:`FrameEncoder`).

The bridge needs four things from a frame: its topic, and the envelope's ``source``, ``seq`` and ``symbol``
(the subject and the ``Nats-Msg-Id``); msgspec reads those three and skips the rest of the JSON without
building it. Each message becomes one ``HPUB`` command, the documented wire format
(``HPUB <subject> [reply] <header bytes> <total bytes>``, a ``NATS/1.0`` header block, the payload), built
as bytes with no per-message ``publish`` call: nats-py's ``publish`` validates and encodes headers for
5 us a message, more than the rest of the bridge. Subjects are made by :func:`subject_for` (no spaces or
control characters) and ids from checked sources, so nothing needs escaping.

A command is kept without a reply subject (two spaces after the subject); the messages that ask for an
acknowledgement get one inserted there when written (:func:`with_reply`), and a message sent again is read
back from its command (:func:`parse_command`), so a pending message costs one bytes object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import msgspec

from tradebridge.bridges.jetstream.config import subject_for

__all__ = ["MSG_ID", "Envelope", "FrameEncoder", "Malformed", "parse_command", "with_reply"]

MSG_ID = "Nats-Msg-Id"
_HEADER = b"NATS/1.0\r\n" + MSG_ID.encode() + b": "
#: the header block is ``_HEADER``, the id, then a blank line
_HEADER_EXTRA = len(_HEADER) + 4
#: subject, header bytes, total bytes, the id (``<source>:`` and ``seq``), the payload
_COMMAND = b"HPUB %s  %d %d\r\n" + _HEADER + b"%s%d\r\n\r\n%s\r\n"
# what a NATS header value cannot carry
_BAD_ID = re.compile(r"[\x00-\x1f\x7f]")
#: symbols and sources come from the wire: their caches are bounded
_CACHE_LIMIT = 100_000


class Envelope(msgspec.Struct, gc=False):
    """The envelope fields the bridge needs; msgspec skips the rest without building it."""

    seq: int | None = None
    source: str | None = None
    symbol: str | None = None


_decode_envelope = msgspec.json.Decoder(Envelope).decode


@dataclass(slots=True)
class Malformed:
    """Frames not bridged, by reason (``bad_frame``, ``bad_json``, ``no_envelope``, ``bad_source``,
    ``too_large``)."""

    count: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def add(self, reason: str) -> None:
        self.count += 1
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1


class FrameEncoder:
    """Turns bus frames of the bridged ``topics`` into ``HPUB`` commands, grouped by topic."""

    def __init__(self, subject_prefix: str, topics: tuple[str, ...], max_payload: int) -> None:
        self._prefix = subject_prefix
        self._topics = {t.encode(): t for t in topics}
        self._max_payload = max_payload
        self._subjects: dict[tuple[str, str | None], bytes] = {}
        #: source -> ``b"<source>:"``, or None for a source a header cannot carry
        self._sources: dict[str, bytes | None] = {}
        self.malformed = Malformed()

    def encode(self, frames: list[bytes], out: dict[str, list[bytes]]) -> None:
        """Appends each frame's command to ``out[topic]`` (the list created on first use); a frame that
        cannot be bridged is counted in ``malformed`` and skipped."""
        topics, subjects, sources = self._topics, self._subjects, self._sources
        decode, limit = _decode_envelope, self._max_payload
        for frame in frames:
            space = frame.find(b" ")
            topic = topics.get(frame[:space]) if space > 0 else None
            if topic is None:
                self.malformed.add("bad_frame")
                continue
            payload = frame[space + 1 :]
            try:
                envelope = decode(payload)
            except msgspec.DecodeError:
                self.malformed.add("bad_json")
                continue
            source, seq = envelope.source, envelope.seq
            if source is None or seq is None:
                self.malformed.add("no_envelope")  # nothing to de-duplicate on: not bridged
                continue
            prefix = sources.get(source, b"")
            if prefix == b"":
                prefix = self._source(source)
            if prefix is None:
                self.malformed.add("bad_source")  # a header value cannot hold it
                continue
            key = (topic, envelope.symbol)
            subject = subjects.get(key)
            if subject is None:
                subject = self._subject(key)
            headers = _HEADER_EXTRA + len(prefix) + len(str(seq))
            total = headers + len(payload)
            if total > limit:
                self.malformed.add("too_large")  # the server would close the connection on it
                continue
            command = _COMMAND % (subject, headers, total, prefix, seq, payload)
            items = out.get(topic)
            if items is None:
                items = out[topic] = []
            items.append(command)

    def _source(self, source: str) -> bytes | None:
        if len(self._sources) > _CACHE_LIMIT:
            self._sources.clear()
        prefix = None if _BAD_ID.search(source) else source.encode() + b":"
        self._sources[source] = prefix
        return prefix

    def _subject(self, key: tuple[str, str | None]) -> bytes:
        if len(self._subjects) > _CACHE_LIMIT:
            self._subjects.clear()
        subject = self._subjects[key] = subject_for(self._prefix, key[0], key[1]).encode()
        return subject


def with_reply(command: bytes, reply: bytes) -> bytes:
    """The command asking for an answer on ``reply`` (inserted in the empty reply slot)."""
    return command.replace(b"  ", b" " + reply + b" ", 1)


def parse_command(command: bytes) -> tuple[str, bytes, str]:
    """``(subject, payload, msg_id)`` of a command made by :class:`FrameEncoder`."""
    head, rest = command.split(b"\r\n", 1)
    _, subject, headers, total = head.split()
    size = int(headers)
    return subject.decode(), rest[size : int(total)], rest[len(_HEADER) : size - 4].decode()
