"""The codec conformance harness: the two testees behind one in-process interface, for the property tests.

Vectors, value comparison and the per-vector verdicts come from the shipped kit (``tradebridge.conformance``),
which ``test_codec_vectors.py`` drives exactly as a user's CI does. Here the Rust testee is the
``contracts-testee`` binary speaking the testee protocol (``conformance/PROTOCOL.md``), without the
handshake; the Python testee answers the same requests in-process. Both report what a decode produced as the
JSON *their encoder writes*, so comparing them compares what actually crosses the wire.
"""

from __future__ import annotations

import json
import selectors
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jsonschema
import msgspec
import referencing
import tradebridge.contracts as contracts
import tradebridge.contracts.frames as frames_module
from tradebridge.conformance.vectors import VECTORS_DIR as VECTORS_DIR
from tradebridge.conformance.vectors import Vector as Vector
from tradebridge.conformance.vectors import load_vectors as load_vectors
from tradebridge.conformance.vectors import same as same
from tradebridge.errors import ContractError
from tradebridge.testing import rust_binary

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = ROOT / "contracts" / "v1"
KNOWN_FAILURES_DIR = Path(__file__).resolve().parent / "known_failures"
IMPLEMENTATIONS = ("python", "rust", "jsonschema")

PYTHON_TYPES: dict[str, Any] = {
    "bar_update": contracts.BarUpdate,
    "trade_update": contracts.TradeUpdate,
    "quote_update": contracts.QuoteUpdate,
    "signal": contracts.Signal,
    "order_update": contracts.OrderUpdate,
    "heartbeat": contracts.Heartbeat,
    "health": contracts.Health,
    "readiness": contracts.Readiness,
    "market_message": contracts.MarketMessage,
    "message": contracts.AnyMessage,
}
TOPIC_SCHEMAS = {
    "market": "market_message",
    "signal": "signal",
    "order": "order_update",
    "system": "heartbeat",
}


@dataclass
class Outcome:
    """What one implementation made of one input."""

    ok: bool
    value: Any = None
    payload: bytes = b""
    topic: str | None = None
    code: str | None = None
    path: str | None = None
    message: str = ""
    #: the decoder reported reading a legacy type alias (``SignalGenerated``)
    legacy: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return "accepted" if self.ok else f"refused {self.code} at {self.path}: {self.message}"


class Testee(Protocol):
    __test__ = False
    name: str

    def decode(
        self, message: str, payload: bytes, max_size: int = ..., allow_nan_tokens: bool = ...
    ) -> Outcome: ...
    def encode(self, message: str, value: Any) -> Outcome: ...
    def roundtrip(self, message: str, payload: bytes) -> Outcome: ...
    def decode_frame(self, frame: bytes, max_size: int = ..., allow_nan_tokens: bool = ...) -> Outcome: ...


class PythonTestee:
    """The SDK's codec, in-process."""

    name = "python"

    def _decoded(self, message: Any, payload: bytes | None = None) -> Outcome:
        encoded = contracts.encode(message) if payload is None else payload
        return Outcome(ok=True, value=msgspec.json.decode(encoded), payload=encoded)

    def __init__(self) -> None:
        self._decoders: dict[tuple[str, int, bool], contracts.Decoder[Any]] = {}

    def decode(
        self,
        message: str,
        payload: bytes,
        max_size: int = contracts.DEFAULT_MAX_SIZE,
        allow_nan_tokens: bool = False,
    ) -> Outcome:
        key = (message, max_size, allow_nan_tokens)
        decoder = self._decoders.get(key)
        if decoder is None:
            decoder = self._decoders[key] = contracts.Decoder(
                PYTHON_TYPES[message], max_size=max_size, allow_nan_tokens=allow_nan_tokens
            )
        legacy_before = decoder.legacy
        try:
            outcome = self._decoded(decoder.decode(payload))
        except ContractError as exc:
            return Outcome(ok=False, code=exc.code, path=exc.path, message=exc.detail)
        outcome.legacy = decoder.legacy > legacy_before
        return outcome

    def encode(self, message: str, value: Any) -> Outcome:
        # Python builds a typed message from the value with msgspec.convert (no JSON involved), then encodes.
        try:
            typed = msgspec.convert(value, type=PYTHON_TYPES[message])
        except msgspec.ValidationError as exc:
            return Outcome(ok=False, code="invalid_value", path="$", message=str(exc))
        return self._decoded(typed)

    def roundtrip(self, message: str, payload: bytes) -> Outcome:
        first = self.decode(message, payload)
        return self.decode(message, first.payload) if first.ok else first

    def decode_frame(
        self, frame: bytes, max_size: int = contracts.DEFAULT_MAX_SIZE, allow_nan_tokens: bool = False
    ) -> Outcome:
        legacy_before = _frame_legacy_count()
        try:
            topic, message = contracts.decode_frame(
                frame, max_size=max_size, allow_nan_tokens=allow_nan_tokens
            )
        except ContractError as exc:
            return Outcome(ok=False, code=exc.code, path=exc.path, message=exc.detail)
        outcome = self._decoded(message, None)
        outcome.topic = topic
        outcome.legacy = _frame_legacy_count() > legacy_before
        outcome.payload = contracts.encode_frame(message)
        return outcome


def _frame_legacy_count() -> int:
    """How many alias reads ``decode_frame``'s per-topic decoders have counted (it keeps them private)."""
    return sum(decoder.legacy for decoder in frames_module._DECODERS.values())


class RustTestee:
    """``contracts-testee`` as a child process; one request line, one response line (``binary``: another
    build of it, such as the frozen v1.0 one of ``tests/contracts/frozen_v1_0.py``)."""

    name = "rust"

    def __init__(self, timeout: float = 10.0, binary: Path | None = None) -> None:
        self.timeout = timeout
        self.process = subprocess.Popen(
            [str(binary or rust_binary("contracts-testee"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._selector = selectors.DefaultSelector()
        assert self.process.stdout is not None
        self._selector.register(self.process.stdout, selectors.EVENT_READ)
        self._next_id = 0

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self._next_id += 1
        line = json.dumps({"id": self._next_id, "op": op, **fields}) + "\n"
        self.process.stdin.write(line.encode())
        self.process.stdin.flush()
        if not self._selector.select(self.timeout):
            raise TimeoutError(f"contracts-testee did not answer {op} within {self.timeout} s")
        answer = self.process.stdout.readline()
        if not answer:
            stderr = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
            raise RuntimeError(f"contracts-testee exited ({self.process.poll()}): {stderr}")
        response: dict[str, Any] = json.loads(answer)
        assert response.get("id") == self._next_id, response
        if response.get("code") in ("panic", "bad_request"):
            raise AssertionError(f"contracts-testee {response['code']}: {response.get('message')}")
        return response

    def _outcome(self, response: dict[str, Any]) -> Outcome:
        if response["ok"]:
            return Outcome(
                ok=True,
                value=response["value"],
                payload=bytes.fromhex(response["payload_hex"]),
                topic=response.get("topic"),
                legacy=response.get("legacy", False),
            )
        return Outcome(ok=False, code=response["code"], path=response["path"], message=response["message"])

    def decode(
        self,
        message: str,
        payload: bytes,
        max_size: int = contracts.DEFAULT_MAX_SIZE,
        allow_nan_tokens: bool = False,
    ) -> Outcome:
        return self._outcome(
            self.request(
                "decode",
                message=message,
                payload_hex=payload.hex(),
                max_size=max_size,
                allow_nan_tokens=allow_nan_tokens,
            )
        )

    def encode(self, message: str, value: Any) -> Outcome:
        return self._outcome(self.request("encode", message=message, value=value))

    def roundtrip(self, message: str, payload: bytes) -> Outcome:
        return self._outcome(self.request("roundtrip", message=message, payload_hex=payload.hex()))

    def decode_frame(
        self, frame: bytes, max_size: int = contracts.DEFAULT_MAX_SIZE, allow_nan_tokens: bool = False
    ) -> Outcome:
        return self._outcome(
            self.request(
                "decode_frame", payload_hex=frame.hex(), max_size=max_size, allow_nan_tokens=allow_nan_tokens
            )
        )

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream:
                stream.close()
        self._selector.close()


def schema_registry() -> referencing.Registry[Any]:
    resources = []
    for path in sorted(SCHEMAS_DIR.glob("*.schema.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], referencing.Resource.from_contents(schema)))
    return referencing.Registry().with_resources(resources)


class SchemaOracle:
    """python-jsonschema over ``contracts/v1``: the independent third opinion on accept/reject."""

    name = "jsonschema"

    def __init__(self) -> None:
        self.registry = schema_registry()
        base = "https://tradebridge.dev/contracts/v1/"
        bus = ["bar_update", "trade_update", "quote_update", "signal", "order_update", "heartbeat"]
        self.schemas: dict[str, Any] = {
            path.name.removesuffix(".schema.json"): json.loads(path.read_text())
            for path in SCHEMAS_DIR.glob("*.schema.json")
        }
        self.schemas["message"] = {
            "required": ["type"],
            "oneOf": [{"$ref": f"{base}{n}.schema.json"} for n in bus],
        }

    def accepts(self, message: str, payload: bytes) -> tuple[bool, str]:
        if message == "frame":
            topic, _, payload = payload.partition(b" ")
            message = TOPIC_SCHEMAS.get(topic.decode("ascii", "replace"), "")
            if not message:
                return False, f"no schema for topic {topic!r}"
        try:
            document = json.loads(payload.decode("utf-8"), parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            return False, f"not JSON: {exc}"
        document = self._canonical_tag(message, document)
        validator = jsonschema.Draft202012Validator(self.schemas[message], registry=self.registry)
        error = jsonschema.exceptions.best_match(validator.iter_errors(document))
        return (error is None), ("" if error is None else f"{error.json_path}: {error.message}")

    def _canonical_tag(self, message: str, document: Any) -> Any:
        """A tag a schema documents as an alias (``x-type-aliases``) read as the schema's own ``type``."""
        if not isinstance(document, dict) or not isinstance(document.get("type"), str):
            return document
        names = [message] if message in TYPE_ALIASES_OF else list(TYPE_ALIASES_OF)
        for name in names:
            schema = self.schemas[name]
            if document["type"] in schema.get("x-type-aliases", ()):
                return {**document, "type": schema["x-type"]}
        return document


#: the schemas whose messages may arrive under another tag (read from their ``x-type-aliases``)
TYPE_ALIASES_OF = tuple(
    path.name.removesuffix(".schema.json")
    for path in sorted(SCHEMAS_DIR.glob("*.schema.json"))
    if "x-type-aliases" in json.loads(path.read_text())
)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_known_failures() -> dict[str, set[str]]:
    """Per implementation, the vector ids it is known to get wrong (``#`` starts a comment)."""
    known: dict[str, set[str]] = {}
    for name in IMPLEMENTATIONS:
        path = KNOWN_FAILURES_DIR / f"{name}.txt"
        lines = path.read_text().splitlines() if path.exists() else []
        known[name] = {line.split("#", 1)[0].strip() for line in lines} - {""}
    return known
