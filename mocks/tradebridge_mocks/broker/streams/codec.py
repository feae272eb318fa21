"""Frames on the wire: msgpack with timestamp extensions for clients that ask for it, JSON otherwise.

Messages are built once per tick with :class:`Stamp` values where Alpaca puts times; each connection encodes
them its own way: a msgpack ``Timestamp`` (ext type -1, what alpaca-py's ``to_datetime()`` needs) or an
RFC 3339 string with nanoseconds (what JSON clients, and Alpaca's docs, show).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgpack

#: a frame no msgpack or JSON decoder accepts: 0xc1 is the one byte msgpack never uses
MALFORMED_BINARY = b"\xc1\x93\xa1T"
MALFORMED_TEXT = '{"stream": "trade_updates", "data": {'


class Stamp:
    """An instant in nanoseconds since the epoch, encoded per connection."""

    __slots__ = ("ns",)

    def __init__(self, ns: int) -> None:
        self.ns = ns

    @classmethod
    def from_ms(cls, ms: int) -> Stamp:
        return cls(ms * 1_000_000)

    def rfc3339(self) -> str:
        seconds, nanos = divmod(self.ns, 1_000_000_000)
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stamp) and other.ns == self.ns

    def __hash__(self) -> int:
        return hash(self.ns)

    def __repr__(self) -> str:
        return f"Stamp({self.rfc3339()})"


def _msgpack_default(value: object) -> Any:
    if isinstance(value, Stamp):
        return msgpack.Timestamp.from_unix_nano(value.ns)
    raise TypeError(f"cannot encode {type(value).__name__} in a stream frame")


def _json_default(value: object) -> Any:
    if isinstance(value, Stamp):
        return value.rfc3339()
    raise TypeError(f"cannot encode {type(value).__name__} in a stream frame")


def encode(message: Any, binary: bool) -> bytes | str:
    if binary:
        return msgpack.packb(message, default=_msgpack_default, use_bin_type=True)  # type: ignore[no-any-return]
    return json.dumps(message, default=_json_default, separators=(",", ":"))


def encode_json_bytes(message: Any) -> bytes:
    """The trading stream's frames: JSON in binary frames, as Alpaca's paper endpoint sends them."""
    return json.dumps(message, default=_json_default, separators=(",", ":")).encode()


class DecodeError(ValueError):
    pass


def decode(data: bytes | str) -> Any:
    """A client frame: binary frames are msgpack (alpaca-py) or JSON bytes; text frames are JSON."""
    try:
        if isinstance(data, str):
            return json.loads(data)
        try:
            return msgpack.unpackb(data, raw=False, strict_map_key=True)
        except (ValueError, msgpack.UnpackException):
            return json.loads(data)
    except (ValueError, UnicodeDecodeError, TypeError) as exc:
        raise DecodeError(str(exc)) from None
