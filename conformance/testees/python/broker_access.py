"""The SDK's broker-access policy behind the same requests as the Rust ``broker-access-testee``.

``answer(request)`` takes one request object and returns one answer object (the JSON-lines protocol of the
Rust testee, documented there); ``python -m conformance.testees.python.broker_access`` serves it over
stdin/stdout. Credentials are resolved through a real ``.env`` file written from the request's
``env_file`` mapping, so the file-reading path is the one under test.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from tradebridge.alpaca._config import (
    URL_CODES,
    BrokerUrlError,
    CredentialsRefusedError,
    broker_origin,
    resolve_credentials,
)
from tradebridge.alpaca._transport import GiveUp, RetryPolicy, is_retryable_status, wait_hint

CREDENTIAL_CODES = ("no_credentials", "incomplete_pair", "mixed_pair")


def _failure(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "code": code, "message": message}


def _url(request: dict[str, Any]) -> dict[str, Any]:
    text = request.get("input")
    if not isinstance(text, str):
        return _failure("bad_request", "input must be a string")
    try:
        origin = broker_origin(text)
    except BrokerUrlError as exc:
        return _failure(exc.code, str(exc))
    return {"ok": True, "origin": origin, "loopback": origin != "https://paper-api.alpaca.markets"}


def _dotenv_line(name: str, value: str) -> str:
    # plain words need no quoting rules, so the file says exactly what the vector says
    if not (re.fullmatch(r"[A-Z_]+", name) and re.fullmatch(r"[A-Za-z0-9_-]*", value)):
        raise ValueError(f"vector variables must be plain words, got {name}={value!r}")
    return f"{name}={value}\n"


def _credentials(request: dict[str, Any]) -> dict[str, Any]:
    env = dict(request.get("env") or {})
    with tempfile.TemporaryDirectory(prefix="tb-broker-access-") as folder:
        path = Path(folder) / ".env"
        path.write_text("".join(_dotenv_line(k, v) for k, v in (request.get("env_file") or {}).items()))
        try:
            found = resolve_credentials(env, path)
        except CredentialsRefusedError as exc:
            return _failure(exc.code, str(exc))
    # the vectors hold made-up values; reporting them is how the harness sees which pair was chosen
    return {"ok": True, "key": found.api_key, "secret": found.secret_key}


def _retry(request: dict[str, Any]) -> dict[str, Any]:
    policy = RetryPolicy(**request["policy"])
    status = request.get("status")
    headers = request.get("headers") or {}
    hint = (
        None
        if status is None
        else wait_hint(status, headers.get("Retry-After"), headers.get("X-RateLimit-Reset"), request["now"])
    )
    decision = policy.decide(
        request["failed"], is_retryable_status(status), hint, request["waited"], request["u"]
    )
    if isinstance(decision, GiveUp):
        return _failure(decision.value, "no further attempt")
    return {"ok": True, "delay": decision}


def answer(request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "url":
        body = _url(request)
    elif op == "credentials":
        body = _credentials(request)
    elif op == "retry":
        body = _retry(request)
    elif op == "codes":
        body = {
            "ok": True,
            "url": list(URL_CODES),
            "credentials": list(CREDENTIAL_CODES),
            "retry": [g.value for g in GiveUp],
        }
    elif op == "defaults":
        default = RetryPolicy()
        body = {
            "ok": True,
            "policy": {
                "max_attempts": default.max_attempts,
                "base_delay": default.base_delay,
                "max_delay": default.max_delay,
                "budget": default.budget,
            },
        }
    else:
        body = _failure("bad_request", f"unknown op {op!r}")
    return {**body, "id": request.get("id")}


def main() -> int:
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(answer(json.loads(line))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
