"""The broker-access conformance harness: the vectors, and the two testees behind one interface.

The Rust testee is the ``broker-access-testee`` binary (the engine's ``broker`` and ``retry`` modules)
speaking one JSON request and one JSON answer per line; the Python testee answers the same requests
in-process from ``tradebridge.alpaca``. Both are documented in
``conformance/testees/rust/src/bin/broker-access-testee.rs``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradebridge.conformance.driver import ProcessTestee, TesteeFailure
from tradebridge.testing import rust_binary

from conformance.testees.python import broker_access

ROOT = Path(__file__).resolve().parents[2]
VECTORS_DIR = ROOT / "conformance" / "vectors" / "broker_access"
RULES = ("url", "credentials", "retry")


@dataclass(frozen=True)
class Case:
    """One vector: ``request`` is what both testees are asked, ``expected`` the answer they must give."""

    id: str
    rule: str
    request: dict[str, Any]
    expected: dict[str, Any]
    tolerance: float = 0.0


def load_file(path: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return body


def _url_case(case: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    expected = {"origin": case["origin"]} if "origin" in case else {"code": case["code"]}
    return {"op": "url", "input": case["input"]}, expected


def _credentials_case(case: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    expected = {"code": case["code"]} if "code" in case else {"key": case["key"], "secret": case["secret"]}
    return {"op": "credentials", "env": case["env"], "env_file": case["env_file"]}, expected


def load_cases(rule: str) -> list[Case]:
    cases = []
    for path in sorted((VECTORS_DIR / rule).glob("*.json")):
        body = load_file(path)
        for index, case in enumerate(body["cases"]):
            if rule == "url":
                request, expected = _url_case(case)
            elif rule == "credentials":
                request, expected = _credentials_case(case)
            else:
                request = {
                    "op": "retry",
                    "policy": case.get("policy", body["policy"]),
                    "now": body["now"],
                    **{k: case[k] for k in ("failed", "status", "headers", "waited", "u")},
                }
                expected = {"delay": case["delay"]} if "delay" in case else {"code": case["give_up"]}
            cases.append(
                Case(f"{rule}/{path.stem}/{index:02d}", rule, request, expected, body.get("tolerance_s", 0.0))
            )
    return cases


def verdict(case: Case, answer: dict[str, Any]) -> str | None:
    """``None`` when ``answer`` is what the vector expects, else what differs."""
    if "code" in case.expected:
        if answer.get("ok") or answer.get("code") != case.expected["code"]:
            return f"expected refusal {case.expected['code']}, got {answer}"
        return None
    if not answer.get("ok"):
        return f"expected {case.expected}, got refusal {answer.get('code')}: {answer.get('message')}"
    for name, value in case.expected.items():
        got = answer.get(name)
        if isinstance(value, float) and isinstance(got, int | float):
            if abs(got - value) > case.tolerance:
                return f"{name}: expected {value!r}, got {got!r}"
        elif got != value:
            return f"{name}: expected {value!r}, got {got!r}"
    return None


class PythonTestee:
    """``tradebridge.alpaca``, in-process."""

    name = "python"

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        return broker_access.answer({"op": op, **fields})


class RustTestee:
    """``broker-access-testee`` as a child process, driven by the kit's driver (one request line, one
    answer line, in order; no handshake: its vocabulary is not the codec protocol's)."""

    name = "rust"

    def __init__(self, timeout: float = 10.0) -> None:
        self.testee = ProcessTestee([str(rust_binary("broker-access-testee"))], timeout, handshake=False)

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        try:
            answer = self.testee.request(op, **fields)
        except TesteeFailure as exc:
            raise AssertionError(f"broker-access-testee on {op}: {exc}") from exc
        if answer.get("code") in ("panic", "bad_request"):
            raise AssertionError(f"broker-access-testee {answer['code']}: {answer.get('message')}")
        return answer

    def close(self) -> None:
        self.testee.close()
