"""Encode and decode contract v1 messages, turning every refusal into a ``ContractError`` with a stable code.

The happy path is native (``tradebridge._native.GuardedDecoder``): one pass over the bytes for the size,
UTF-8 and depth limits, msgspec's typed decoder, and the messages' pattern checks as byte tests
(``MessageChecks``). Whatever it does not pass takes the Python path here (``Decoder._checked_decode``),
which decides again from scratch: an ASCII test and a length comparison, the nesting-depth count only for
payloads long enough to break it (see ``_deep_floor``). All the work of classifying an error happens only
once decoding has failed, so validation costs nothing extra on valid input. The same holds for what a
decoder forgives (``_lenient``): the ``SignalGenerated`` alias and, opted in, bare ``NaN`` tokens in
``features`` are rewritten only after the document failed as sent.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast, overload

import msgspec
import msgspec.inspect as inspect
from msgspec import UNSET

from tradebridge._native import GuardedDecoder
from tradebridge.contracts._lenient import SIGNAL_ALIAS, nan_tokens_as_null, retag_signal
from tradebridge.contracts._values import ABSENT_VERSION, CURRENT_VERSION
from tradebridge.contracts.messages import AnyMessage, BusMessage, Signal
from tradebridge.errors import ContractError

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_SIZE",
    "Decoder",
    "Encoder",
    "decode",
    "encode",
    "validate",
]

DEFAULT_MAX_SIZE = 1024 * 1024
DEFAULT_MAX_DEPTH = 64

T = TypeVar("T")
Buffer = bytes | bytearray | memoryview | str

_AT_PATH = re.compile(r" - at `(\$[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `([^`]*)`")
_GOT = re.compile(r"^Expected `[^`]*`, got `[^`]*`$")
_BOUND = re.compile(r"^Expected `[^`]*` (<=|>=|<|>) ")
_OWN_ERROR = re.compile(r"^([a-z_]+) at (\$\S*): (.*)$", re.S)
_VERSION = re.compile(r"([0-9]+)\.([0-9]+)")  # used with fullmatch: `$` would allow a trailing newline
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_BRACKETS = re.compile(rb"[\[\]{}]")
# msgspec's refusal of a tag no member has, for the alias (the one tag a Signal decoder forgives)
_ALIAS_AT_TYPE = f"Invalid value '{SIGNAL_ALIAS}' - at `$.type`"


class _NeverMessage(BusMessage, tag="\x00never", gc=False):
    """Union partner that makes msgspec require ``type`` when decoding one tagged message type.

    msgspec only insists on the tag inside a union; contract v1 requires it on every bus message but
    Signal, so single-type decoders decode ``T | _NeverMessage``. The partner refuses itself in
    ``__post_init__`` (after the envelope checks, as any message would), which keeps the refusal off the
    decoder's hot path.
    """

    def __post_init__(self) -> None:
        BusMessage.__post_init__(self)  # native builtin: not bound, the message is its argument
        raise ContractError("unknown_type", "type '\\u0000never' is not a contract v1 message", "$.type")


def _limit_errors(data: bytes, max_size: int, max_depth: int) -> None:
    if len(data) > max_size:
        raise ContractError("too_large", f"payload is {len(data)} bytes, the limit is {max_size}")
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ContractError("invalid_utf8", f"byte {exc.start} is not valid UTF-8") from None
    if _openers(data) > max_depth:
        _check_depth(data, max_depth)


def _openers(data: bytes) -> int:
    """How many ``{`` and ``[`` the payload holds: a bound on its depth (one pass, unlike two counts)."""
    return len(data) - len(data.translate(None, b"[{"))


def _check_depth(data: bytes, max_depth: int) -> None:
    """Exact nesting depth, brackets inside strings excluded (only runs when the cheap count is too high)."""
    depth = 0
    for match in _BRACKETS.finditer(_STRINGS.sub(b'""', data)):
        if match.group() in (b"{", b"["):
            depth += 1
            if depth > max_depth:
                raise ContractError("too_deep", f"nesting deeper than {max_depth} levels")
        else:
            depth -= 1


def _value_bytes(kind: inspect.Type) -> int:
    """The fewest bytes a scalar value of this type takes in JSON (0 for containers: not counted)."""
    if isinstance(kind, inspect.StrType):
        return 2 + (kind.min_length or 0)
    if isinstance(kind, inspect.LiteralType):
        return min(len(_json_text(value)) for value in kind.values)
    if isinstance(kind, inspect.BoolType):
        return 4  # true
    if isinstance(kind, inspect.IntType | inspect.FloatType):
        return 1
    return 0


def _json_text(value: Any) -> bytes:
    return msgspec.json.encode(value)


def _own_bytes(member: inspect.StructType, with_tag: bool) -> int:
    """The fewest bytes a message's required scalar members take: ``"name":value`` and a comma each."""
    own = 0
    if with_tag and member.tag_field is not None:
        own += len(_json_text(member.tag_field)) + 1 + len(_json_text(member.tag)) + 1
    for field in member.fields:
        kind = field.type.type if isinstance(field.type, inspect.Metadata) else field.type
        value = _value_bytes(kind)
        if field.required and value:
            own += len(_json_text(field.encode_name)) + 1 + value + 1
    return own


def _deep_floor(type: Any, max_depth: int) -> int:
    """The shortest payload that could both decode as ``type`` and nest deeper than ``max_depth``.

    A document deeper than ``max_depth`` holds a chain of ``max_depth + 1`` containers (the outer object
    included): at least ``2 * (max_depth + 1)`` bracket bytes, plus the key of the member holding the rest
    (``"":``, 3 bytes). Every required scalar member of the message (the tag too, where it is required)
    takes bytes of its own, disjoint from that chain, and a comma. A shorter payload that decodes is
    therefore shallow enough, so the bracket scan is skipped; one that fails to decode gets the exact
    checks on the error path, before it is classified.
    """
    if max_depth < 1:
        return 0  # the outer object alone is too deep: no member chain to count on
    info = inspect.type_info(type)
    members = info.types if isinstance(info, inspect.UnionType) else (info,)
    if not all(isinstance(member, inspect.StructType) for member in members):
        return 0  # a non-message in the union: no floor known, always scan
    with_tag = type is not Signal  # the one message whose tag may be left out (when decoded alone)
    own = min(_own_bytes(cast(inspect.StructType, member), with_tag) for member in members)
    return 2 * (max_depth + 1) + 3 + own


#: what every bus publisher writes into each message (the bus's envelope, v1.1)
_ENVELOPE = frozenset(("schema_version", "seq", "source", "sent_at_us"))


def _enveloped_floors(type: Any, max_depth: int) -> dict[Any, int]:
    """Per message class, ``_deep_floor`` of a document that also carries the whole envelope.

    Publishers write all four envelope members, which take bytes of their own too; a decoded message
    shows which were present (``schema_version`` is present unless it is the default object). The v1.1
    envelope made ordinary bus messages longer than the plain floor, and this keeps them off the scan.
    """
    if max_depth < 1:
        return {}
    info = inspect.type_info(type)
    members = info.types if isinstance(info, inspect.UnionType) else (info,)
    floors = {}
    for member in members:
        if not isinstance(member, inspect.StructType) or not issubclass(member.cls, BusMessage):
            continue
        envelope = 0
        for field in member.fields:
            if field.name in _ENVELOPE:
                kind = field.type.type if isinstance(field.type, inspect.Metadata) else field.type
                envelope += len(_json_text(field.encode_name)) + 1 + _value_bytes(kind) + 1
        own = _own_bytes(member, with_tag=type is not Signal)
        floors[member.cls] = 2 * (max_depth + 1) + 3 + own + envelope
    return floors


def _version_override(data: bytes) -> ContractError | None:
    """An unknown major version beats any other error: the rest was written for another contract."""
    try:
        document = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return None
    version = document.get("schema_version") if isinstance(document, dict) else None
    match = _VERSION.fullmatch(version) if isinstance(version, str) else None
    if match is not None and match.group(1) != "1":
        detail = f"major version {match.group(1)} is not supported (this is v1)"
        return ContractError("unsupported_version", detail, "$.schema_version")
    return None


def _classify(text: str, path: str) -> tuple[str, str]:
    missing = _MISSING.match(text)
    if missing is not None:
        return "missing_field", f"{path}.{missing.group(1)}"
    if text.startswith("Invalid enum value"):
        return "invalid_enum", path
    if text.startswith("Invalid value") and path.endswith(".type"):
        return "unknown_type", path
    if "matching regex" in text:
        return ("invalid_version" if path.endswith(".schema_version") else "invalid_value"), path
    if " of length " in text:
        return "invalid_value", path
    if text == "Number out of range" or _BOUND.match(text):
        return "out_of_range", path
    if _GOT.match(text) or (text.startswith("Expected `str`") and path.endswith(".type")):
        return "wrong_type", path
    return "invalid_value", path


def _from_validation_error(exc: msgspec.ValidationError, data: bytes) -> ContractError:
    override = _version_override(data)
    if override is not None:
        return override
    text = str(exc)
    at = _AT_PATH.search(text)
    path = at.group(1) if at else "$"
    text = text[: at.start()] if at else text
    own = _OWN_ERROR.match(text)
    if own is not None:  # a ContractError raised by a message's __post_init__, wrapped by msgspec
        return ContractError(own.group(1), own.group(3), own.group(2))
    code, path = _classify(text, path)
    return ContractError(code, text, path)


def _from_decode_error(exc: Exception) -> ContractError:
    if isinstance(exc, UnicodeDecodeError):
        return ContractError("invalid_utf8", str(exc))
    return ContractError("invalid_json", str(exc))


def _as_bytes(data: Buffer) -> bytes:
    if isinstance(data, bytes):
        return bytes(data)  # a bytes subclass
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ContractError("invalid_utf8", f"character {exc.start} is a lone surrogate") from None
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise ContractError("wrong_type", f"expected bytes or str, got {type(data).__name__}")


def _members(type: Any) -> tuple[Any, ...]:
    info = inspect.type_info(type)
    members = info.types if isinstance(info, inspect.UnionType) else (info,)
    return tuple(member.cls if isinstance(member, inspect.StructType) else None for member in members)


class Decoder(Generic[T]):
    """A reusable decoder for one message type (or a union such as ``MarketMessage``).

    ``decode(data)`` decodes and validates one JSON document and raises ``ContractError`` (code, path) on
    any refusal. It is a native method (``tradebridge._native.GuardedDecoder.decode``): for ``bytes`` it
    checks the limits in one pass, runs msgspec's typed decode and fixes up the absent version without a
    Python frame; everything else, and every document it does not pass, goes to the Python path below.

    ``max_size`` (bytes, 1 MiB by default) and ``max_depth`` (64) bound what a peer can make us parse.

    What it forgives peers that follow the guide without us, and counts (plain integers, exact when one
    thread uses the decoder, read without a lock by a stats snapshot):

    - ``legacy``: documents tagged ``"type": "SignalGenerated"`` (the original bridge's tag), read as
      ``Signal`` and re-encoded as ``"type": "Signal"``. Always on where a ``Signal`` can be decoded.
    - ``nan_tokens``: documents whose bare ``NaN``, ``Infinity`` or ``-Infinity`` tokens directly inside
      ``features`` were read as null, with ``allow_nan_tokens=True`` (off by default; such tokens are not
      JSON, and elsewhere they stay ``invalid_json``).
    """

    __slots__ = (
        "_absent_version",
        "_allow_nan_tokens",
        "_decode",
        "_enveloped",
        "_max_depth",
        "_max_size",
        "_reads_signal",
        "_scan_from",
        "decode",
        "legacy",
        "nan_tokens",
        "type",
    )

    def __init__(
        self,
        type: Any = AnyMessage,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        max_depth: int = DEFAULT_MAX_DEPTH,
        allow_nan_tokens: bool = False,
    ) -> None:
        self.type = type
        is_bus_class = isinstance(type, builtins.type) and issubclass(type, BusMessage)
        needs_tag = is_bus_class and type is not Signal
        decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(type | _NeverMessage if needs_tag else type)
        self._decode: Callable[[bytes], T] = decoder.decode
        self._max_size = max_size
        self._max_depth = max_depth
        self._allow_nan_tokens = allow_nan_tokens
        # Decoded payloads this long get the bracket count (shorter ones cannot nest too deep), unless
        # they carry the whole envelope and stay under the longer floor that makes (_enveloped).
        self._scan_from = _deep_floor(type, max_depth)
        self._enveloped = _enveloped_floors(type, max_depth)
        members = _members(type)
        self._reads_signal = Signal in members
        # Only bus messages default to CURRENT_VERSION, which a decoded document without one must not get.
        self._absent_version = all(
            isinstance(member, builtins.type) and issubclass(member, BusMessage) for member in members
        )
        self.legacy = 0
        self.nan_tokens = 0
        self.decode: Callable[[Buffer], T] = GuardedDecoder(
            decoder.decode,
            self._checked_decode,
            max_size=max_size,
            max_depth=max_depth,
            current=CURRENT_VERSION if self._absent_version else None,
            absent=ABSENT_VERSION if self._absent_version else None,
        ).decode

    def _checked_decode(self, data: Buffer) -> T:
        """``decode`` for what the native path does not pass: the whole decision and its error, in Python."""
        raw = data if data.__class__ is bytes else _as_bytes(data)
        size = len(raw)
        # The ASCII test runs on every payload: msgspec skips unknown fields without checking their UTF-8.
        # The size limit before parsing; the depth limit after (a document that fails gets every limit
        # checked on the error path, so the limit errors win either way).
        if not raw.isascii() or size > self._max_size:
            _limit_errors(raw, self._max_size, self._max_depth)
        try:
            message = self._decode(raw)
        except msgspec.ValidationError as exc:
            # The limit errors win, exactly as if they had all been checked before parsing.
            _limit_errors(raw, self._max_size, self._max_depth)
            message = self._retagged(raw, exc)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            _limit_errors(raw, self._max_size, self._max_depth)
            message = self._without_nan_tokens(raw, exc)
        # The bracket count only where the payload is long enough to hide too deep a nesting.
        if (
            size >= self._scan_from
            and (
                size >= self._enveloped.get(message.__class__, 0)
                or message.schema_version is CURRENT_VERSION  # type: ignore[attr-defined]
                or message.seq is UNSET  # type: ignore[attr-defined]
                or message.source is UNSET  # type: ignore[attr-defined]
                or message.sent_at_us is UNSET  # type: ignore[attr-defined]
            )
            and size - len(raw.translate(None, b"[{")) > self._max_depth
        ):
            _check_depth(raw, self._max_depth)
        # msgspec fills an absent version with the field's default object itself: one identity test.
        if self._absent_version and message.schema_version is CURRENT_VERSION:  # type: ignore[attr-defined]
            message.schema_version = ABSENT_VERSION  # type: ignore[attr-defined]
        return message

    def _retagged(self, raw: bytes, exc: msgspec.ValidationError) -> T:
        """The document read as a ``Signal`` if it failed only for being tagged ``SignalGenerated``."""
        if self._reads_signal and str(exc) == _ALIAS_AT_TYPE:
            retagged = retag_signal(raw)
            if retagged is not None:
                try:
                    message = self._decode(retagged)
                except msgspec.ValidationError as again:
                    raise _from_validation_error(again, retagged) from None
                except (msgspec.DecodeError, RecursionError) as again:
                    # the original bridge also writes NaN features, met only past the tag
                    message = self._without_nan_tokens(retagged, again)
                self.legacy += 1
                return message
        raise _from_validation_error(exc, raw) from None

    def _without_nan_tokens(self, raw: bytes, exc: Exception) -> T:
        """The document with ``NaN`` tokens in ``features`` read as null, if allowed and that was all."""
        if self._allow_nan_tokens and isinstance(exc, msgspec.DecodeError):
            fixed = nan_tokens_as_null(raw)
            if fixed is not None:
                try:
                    message = self._decode(fixed)
                except msgspec.ValidationError as again:
                    message = self._retagged(fixed, again)
                except (msgspec.DecodeError, RecursionError) as again:
                    raise _from_decode_error(again) from None
                self.nan_tokens += 1
                return message
        raise _from_decode_error(exc) from None

    def __repr__(self) -> str:
        name = getattr(self.type, "__name__", self.type)
        nan = ", allow_nan_tokens=True" if self._allow_nan_tokens else ""
        return f"Decoder({name!r}, max_size={self._max_size}{nan})"


class Encoder:
    """A reusable encoder: compact UTF-8 JSON, ``type`` and ``schema_version`` always written.

    Encoding does not re-validate (msgspec Structs are not checked on construction); call
    :func:`validate` on messages built from untrusted values.
    """

    __slots__ = ("_encoder",)

    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder()

    def encode(self, message: Any) -> bytes:
        return self._encoder.encode(message)


_ENCODER = Encoder()
_DECODERS: dict[Any, Decoder[Any]] = {}


def encode(message: Any) -> bytes:
    """One message as compact JSON bytes."""
    return _ENCODER._encoder.encode(message)


@overload
def decode(
    data: Buffer, type: builtins.type[T], *, max_size: int = ..., allow_nan_tokens: bool = ...
) -> T: ...
@overload
def decode(data: Buffer, type: Any = ..., *, max_size: int = ..., allow_nan_tokens: bool = ...) -> Any: ...
def decode(
    data: Buffer, type: Any = AnyMessage, *, max_size: int = DEFAULT_MAX_SIZE, allow_nan_tokens: bool = False
) -> Any:
    """Decode one message of ``type`` (any bus message by default); raises ``ContractError``."""
    key = (type, max_size, allow_nan_tokens)
    decoder = _DECODERS.get(key)
    if decoder is None:
        decoder = _DECODERS[key] = Decoder(type, max_size=max_size, allow_nan_tokens=allow_nan_tokens)
    return decoder.decode(data)


def validate(message: T) -> T:
    """Check a constructed message against its contract by a full encode/decode round trip."""
    return decode(encode(message), type=message.__class__)
