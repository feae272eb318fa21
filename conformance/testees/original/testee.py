"""A testee built from the original implementation's Rust types (``rust/common/src/types.rs`` and
``messaging.rs`` of the seed repository, as documented in ``original-implementation.md``), written in
Python that mirrors serde's behaviour for those types precisely:

- ``Message`` is internally tagged on ``type`` with the variant names (``SignalGenerated``, not ``Signal``);
  the tag is required; an unknown tag is serde's "unknown variant".
- No serde attributes: every field is required, ``Option`` fields accept ``null``, unknown fields are
  ignored, ``f64`` accepts integers and writes floats, ``DateTime<Utc>`` is an RFC 3339 string (an integer
  is "invalid type"), ``Vec<f64>`` refuses ``null`` (both for itself and for an item).
- No envelope (``schema_version``, ``seq``, ``source``), no ranges, no patterns, no topics.

serde's error kinds map onto the contract's codes (invalid type -> ``wrong_type``, missing field ->
``missing_field``, unknown variant -> ``unknown_type`` for the tag and ``invalid_enum`` for a field), so
the kit can show, vector by vector, where the original Rust side disagrees with the contract.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any


class Refused(Exception):
    def __init__(self, code: str, path: str, message: str) -> None:
        super().__init__(message)
        self.code, self.path, self.message = code, path, message


def _f64(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused("wrong_type", path, f"invalid type: {type(value).__name__}, expected f64")
    return float(value)


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise Refused("wrong_type", path, f"invalid type: {type(value).__name__}, expected a string")
    return value


def _datetime(value: Any, path: str) -> str:
    text = _string(value, path)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Refused("invalid_value", path, f"input contains invalid characters: {exc}") from exc
    if parsed.tzinfo is None:
        raise Refused("invalid_value", path, "premature end of input")
    return text


def _enum(names: tuple[str, ...]) -> Any:
    def read(value: Any, path: str) -> str:
        text = _string(value, path)
        if text not in names:
            raise Refused("invalid_enum", path, f"unknown variant `{text}`, expected one of {names}")
        return text

    return read


def _vec_f64(value: Any, path: str) -> list[float]:
    if not isinstance(value, list):
        raise Refused("wrong_type", path, f"invalid type: {type(value).__name__}, expected a sequence")
    return [_f64(item, f"{path}[{i}]") for i, item in enumerate(value)]


SIDE = _enum(("Bid", "Ask"))
ACTION = _enum(("Buy", "Sell", "Hold"))
#: The variants the original's ``Message`` enum has that the v1 contract also names, field by field.
VARIANTS: dict[str, list[tuple[str, Any]]] = {
    "TradeUpdate": [
        ("symbol", _string),
        ("price", _f64),
        ("quantity", _f64),
        ("side", SIDE),
        ("timestamp", _datetime),
        ("trade_id", _string),
    ],
    "BarUpdate": [
        ("symbol", _string),
        ("open", _f64),
        ("high", _f64),
        ("low", _f64),
        ("close", _f64),
        ("volume", _f64),
        ("timestamp", _datetime),
    ],
    "SignalGenerated": [
        ("symbol", _string),
        ("action", ACTION),
        ("confidence", _f64),
        ("features", _vec_f64),
        ("timestamp", _datetime),
    ],
    "Heartbeat": [("component", _string), ("timestamp", _datetime)],
}
#: Variants that exist in the original but carry nothing the contract has (never accepted here).
OTHER_VARIANTS = (
    "OrderBookUpdate",
    "OrderRequest",
    "OrderResponse",
    "PositionUpdate",
    "RiskCheck",
    "RiskCheckResult",
    "Shutdown",
)
ACCEPTED_AS = {
    "bar_update": ("BarUpdate",),
    "trade_update": ("TradeUpdate",),
    "signal": ("SignalGenerated",),
    "heartbeat": ("Heartbeat",),
    "market_message": ("BarUpdate", "TradeUpdate"),
    "message": tuple(VARIANTS),
}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode(payload: bytes, accepted: tuple[str, ...]) -> dict[str, Any]:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused("invalid_utf8", "$", str(exc)) from exc
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise Refused("invalid_json", "$", str(exc)) from exc
    if not isinstance(document, dict):
        raise Refused("wrong_type", "$", "invalid type, expected internally tagged enum Message")
    if "type" not in document:
        raise Refused("missing_field", "$.type", "missing field `type`")
    tag = document["type"]
    if not isinstance(tag, str) or (tag not in VARIANTS and tag not in OTHER_VARIANTS):
        raise Refused("unknown_type", "$.type", f"unknown variant `{tag}`")
    if tag not in accepted:
        raise Refused("unknown_type", "$.type", f"{tag} is not what this reader expects")
    value: dict[str, Any] = {"type": tag}
    for name, read in VARIANTS[tag]:
        if name not in document:
            raise Refused("missing_field", f"$.{name}", f"missing field `{name}`")
        value[name] = read(document[name], f"$.{name}")
    for number in value.values():
        if (isinstance(number, float) and number != number) or number in (float("inf"), float("-inf")):
            raise Refused("invalid_json", "$", "number out of range")
    return value


def serve(request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "hello":
        return {
            "ok": True,
            "protocol": "1",
            "implementation": "original Rust types (serde), in Python",
            "options": [],
        }
    try:
        if op == "decode":
            accepted = ACCEPTED_AS.get(str(request.get("message")))
            if accepted is None:
                # No such message in the original (QuoteUpdate, OrderUpdate, /health, /ready bodies).
                raise Refused("unknown_type", "$", f"the original has no {request.get('message')}")
            value = decode(bytes.fromhex(request["payload_hex"]), accepted)
            return {"ok": True, "value": value, "payload_hex": json.dumps(value).encode().hex()}
        if op == "decode_frame":
            frame = bytes.fromhex(request["payload_hex"])
            topic, space, payload = frame.partition(b" ")
            if not space:
                raise Refused("bad_frame", "$", "no space")
            value = decode(payload, tuple(VARIANTS))
            encoded = topic + b" " + json.dumps(value).encode()
            return {
                "ok": True,
                "topic": topic.decode(errors="replace"),
                "value": value,
                "payload_hex": encoded.hex(),
            }
    except Refused as exc:
        return {"ok": False, "code": exc.code, "path": exc.path, "message": exc.message}
    return {"ok": False, "code": "bad_request", "path": "$.op", "message": f"unsupported op {op!r}"}


def main() -> None:
    for line in sys.stdin.buffer:
        request = json.loads(line)
        answer = serve(request)
        answer["id"] = request.get("id")
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
