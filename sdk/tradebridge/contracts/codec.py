"""Encode and decode contract v1 messages, turning every refusal into a ``ContractError`` with a stable code.

The happy path is msgspec's typed decoder plus an ASCII test and a length comparison; the size limit and
the nesting-depth count apply only to payloads long enough to break them (see ``_deep_floor``). All the
work of classifying an error happens only once decoding has failed, so validation costs nothing extra on
valid input.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast, overload

import msgspec
import msgspec.inspect as inspect

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


class _NeverMessage(BusMessage, tag="\x00never", gc=False):
    """Union partner that makes msgspec require ``type`` when decoding one tagged message type.

    msgspec only insists on the tag inside a union; contract v1 requires it on every bus message but
    Signal, so single-type decoders decode ``T | _NeverMessage``. The partner refuses itself in
    ``__post_init__`` (after the envelope checks, as any message would), which keeps the refusal off the
    decoder's hot path.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
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


class Decoder(Generic[T]):
    """A reusable decoder for one message type (or a union such as ``MarketMessage``).

    ``max_size`` (bytes, 1 MiB by default) and ``max_depth`` (64) bound what a peer can make us parse.
    """

    __slots__ = ("_decode", "_max_depth", "_max_size", "_scan_from", "type")

    def __init__(
        self,
        type: Any = AnyMessage,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        max_depth: int = DEFAULT_MAX_DEPTH,
    ) -> None:
        self.type = type
        is_bus_class = isinstance(type, builtins.type) and issubclass(type, BusMessage)
        needs_tag = is_bus_class and type is not Signal
        decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(type | _NeverMessage if needs_tag else type)
        self._decode: Callable[[bytes], T] = decoder.decode
        self._max_size = max_size
        self._max_depth = max_depth
        # Payloads this long get the limit checks before parsing (too_large is always among them).
        self._scan_from = min(_deep_floor(type, max_depth), max_size + 1)

    def decode(self, data: Buffer) -> T:
        """Decode and validate one JSON document; raise ``ContractError`` (code, path) on any refusal."""
        raw = data if data.__class__ is bytes else _as_bytes(data)
        size = len(raw)
        # The ASCII test runs on every payload: msgspec skips unknown fields without checking their UTF-8.
        # The bracket count only where the payload is long enough to hide too deep a nesting.
        if not raw.isascii() or (
            size >= self._scan_from
            and (size > self._max_size or size - len(raw.translate(None, b"[{")) > self._max_depth)
        ):
            _limit_errors(raw, self._max_size, self._max_depth)
        try:
            return self._decode(raw)
        except msgspec.ValidationError as exc:
            # The limit errors win, exactly as if they had all been checked before parsing.
            _limit_errors(raw, self._max_size, self._max_depth)
            raise _from_validation_error(exc, raw) from None
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            _limit_errors(raw, self._max_size, self._max_depth)
            raise _from_decode_error(exc) from None

    def __repr__(self) -> str:
        return f"Decoder({getattr(self.type, '__name__', self.type)!r}, max_size={self._max_size})"


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
def decode(data: Buffer, type: builtins.type[T], *, max_size: int = ...) -> T: ...
@overload
def decode(data: Buffer, type: Any = ..., *, max_size: int = ...) -> Any: ...
def decode(data: Buffer, type: Any = AnyMessage, *, max_size: int = DEFAULT_MAX_SIZE) -> Any:
    """Decode one message of ``type`` (any bus message by default); raises ``ContractError``."""
    key = (type, max_size)
    decoder = _DECODERS.get(key)
    if decoder is None:
        decoder = _DECODERS[key] = Decoder(type, max_size=max_size)
    return decoder.decode(data)


def validate(message: T) -> T:
    """Check a constructed message against its contract by a full encode/decode round trip."""
    return decode(encode(message), type=message.__class__)
