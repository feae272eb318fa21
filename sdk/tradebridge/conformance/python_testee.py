"""The SDK's own codec as a testee: ``python -m tradebridge.conformance.python_testee``.

It answers from the same public API a service uses (``tradebridge.contracts``), so the kit judges what
users get. See ``conformance/PROTOCOL.md``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import msgspec

import tradebridge
import tradebridge.contracts as contracts
from tradebridge.errors import ContractError

TYPES: dict[str, Any] = {
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


def _refused(exc: ContractError) -> dict[str, Any]:
    return {"ok": False, "code": exc.code, "path": exc.path, "message": exc.detail}


def _accepted(payload: bytes, **extra: Any) -> dict[str, Any]:
    return {"ok": True, "value": msgspec.json.decode(payload), "payload_hex": payload.hex(), **extra}


class Server:
    def __init__(self) -> None:
        self._decoders: dict[tuple[str, int, bool], contracts.Decoder[Any]] = {}

    def _decode(self, message: str, payload: bytes, max_size: int, nan: bool) -> tuple[Any, bool]:
        key = (message, max_size, nan)
        decoder = self._decoders.get(key)
        if decoder is None:
            decoder = self._decoders[key] = contracts.Decoder(
                TYPES[message], max_size=max_size, allow_nan_tokens=nan
            )
        before = decoder.legacy
        value = decoder.decode(payload)
        return value, decoder.legacy > before

    def serve(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "hello":
            if request.get("protocol") != "1":
                return {"ok": False, "code": "unsupported_protocol", "path": "$.protocol", "message": "1"}
            return {
                "ok": True,
                "protocol": "1",
                "implementation": f"tradebridge (Python, msgspec) {tradebridge.__version__}",
                "options": ["max_size", "allow_nan_tokens"],
            }
        max_size = int(request.get("max_size", contracts.DEFAULT_MAX_SIZE))
        nan = bool(request.get("allow_nan_tokens", False))
        message = str(request.get("message", ""))
        if op in ("decode", "roundtrip", "encode") and message not in TYPES:
            return {"ok": False, "code": "bad_request", "path": "$.message", "message": "unknown message"}
        try:
            if op == "decode":
                value, legacy = self._decode(message, bytes.fromhex(request["payload_hex"]), max_size, nan)
                return _accepted(contracts.encode(value), legacy=legacy)
            if op == "roundtrip":
                value, _ = self._decode(message, bytes.fromhex(request["payload_hex"]), max_size, nan)
                again, _ = self._decode(message, contracts.encode(value), max_size, nan)
                return _accepted(contracts.encode(again))
            if op == "encode":
                value, _ = self._decode(message, json.dumps(request.get("value")).encode(), max_size, nan)
                return _accepted(contracts.encode(value))
            if op == "decode_frame":
                frame = bytes.fromhex(request["payload_hex"])
                legacy_before = _frame_legacy()
                topic, value = contracts.decode_frame(frame, max_size=max_size, allow_nan_tokens=nan)
                answer = _accepted(
                    contracts.encode(value), topic=topic, legacy=_frame_legacy() > legacy_before
                )
                answer["payload_hex"] = contracts.encode_frame(value).hex()
                return answer
        except ContractError as exc:
            return _refused(exc)
        return {"ok": False, "code": "bad_request", "path": "$.op", "message": f"unknown op {op!r}"}


def _frame_legacy() -> int:
    # decode_frame keeps its per-topic decoders private; their alias counters are the only witness.
    import tradebridge.contracts.frames as frames

    return sum(decoder.legacy for decoder in frames._DECODERS.values())


def main() -> None:
    server = Server()
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            answer = server.serve(request)
            answer["id"] = request.get("id")
        except (ValueError, KeyError, TypeError) as exc:
            answer = {"ok": False, "code": "bad_request", "path": "$", "message": str(exc), "id": None}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
