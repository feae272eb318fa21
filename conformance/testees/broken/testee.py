"""A deliberately broken testee: the SDK's codec with three kinds of drift a real service ships.

1. It accepts ``NaN`` / ``Infinity`` tokens anywhere (as ``null``), as ``json.loads`` does by default.
2. Its heartbeats drop ``schema_version`` (a writer that forgot the envelope field).
3. Its signals rename ``strength`` to ``confidence`` (the original Rust bridge's name).

``tests/conformance_kit`` asserts that the kit fails exactly the vectors these three touch.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from tradebridge.conformance.python_testee import Server

NON_FINITE = re.compile(rb"-?\b(NaN|Infinity)\b")


def _retype(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("type") == "Heartbeat":
            value.pop("schema_version", None)
        if value.get("type") == "Signal" and "strength" in value:
            value["confidence"] = value.pop("strength")
        for inner in value.values():
            _retype(inner)
    return value


def serve(server: Server, request: dict[str, Any]) -> dict[str, Any]:
    answer = server.serve(request)
    if not answer["ok"] and answer["code"] == "invalid_json" and "payload_hex" in request:
        payload = bytes.fromhex(request["payload_hex"])
        if NON_FINITE.search(payload):
            answer = server.serve({**request, "payload_hex": NON_FINITE.sub(b"null", payload).hex()})
    if answer["ok"] and "value" in answer:
        _retype(answer["value"])
    return answer


def main() -> None:
    server = Server()
    for line in sys.stdin.buffer:
        request = json.loads(line)
        answer = serve(server, request)
        answer["id"] = request.get("id")
        if request.get("op") == "hello" and answer["ok"]:
            answer["implementation"] = "broken (tradebridge conformance drift example)"
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
