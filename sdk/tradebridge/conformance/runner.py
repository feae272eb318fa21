"""Every vector through one testee, each ending in a verdict.

Statuses: ``pass``; ``fail`` (expected vs got); ``crash`` / ``timeout`` / ``protocol_error`` (the testee
misbehaved on that vector; the run goes on); ``known_failure`` (failed, and listed); ``stale_known_failure``
(listed, yet it passes: the list must shrink, so this fails the run too); ``unsupported`` (the vector needs
an option the testee did not declare in its handshake).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from tradebridge.conformance.driver import ProcessTestee, TesteeFailure
from tradebridge.conformance.vectors import DEFAULT_MAX_SIZE, Vector, same

FAILING = frozenset({"fail", "crash", "timeout", "protocol_error", "stale_known_failure"})


@dataclass
class Verdict:
    vector: str
    status: str
    description: str = ""
    problem: str | None = None
    expected: Any = None
    got: Any = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CodecRun:
    testee: str
    implementation: str
    verdicts: list[Verdict] = field(default_factory=list)
    seconds: float = 0.0
    restarts: int = 0

    @property
    def conformant(self) -> bool:
        return not any(verdict.status in FAILING for verdict in self.verdicts)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for verdict in self.verdicts:
            counts[verdict.status] = counts.get(verdict.status, 0) + 1
        return counts

    def failing(self) -> list[Verdict]:
        return [verdict for verdict in self.verdicts if verdict.status in FAILING]


def expected_of(vector: Vector) -> dict[str, Any]:
    if vector.valid:
        return {"ok": True, "value": vector.canonical, "legacy": vector.legacy}
    return {"ok": False, "code": vector.code, "path": vector.error_path}


def got_of(vector: Vector, response: dict[str, Any]) -> dict[str, Any]:
    if response["ok"]:
        value = response.get("value")
        if vector.message == "frame":
            value = {"topic": response.get("topic"), "value": value}
        return {"ok": True, "value": value, "legacy": bool(response.get("legacy", False))}
    return {"ok": False, "code": response.get("code"), "path": response.get("path")}


def problem_of(vector: Vector, got: dict[str, Any], message: str = "") -> str | None:
    """None when ``got`` is the vector's verdict, else what differs."""
    if vector.valid:
        if not got["ok"]:
            return f"expected acceptance, got {got['code']} at {got['path']}: {message}"
        if not same(got["value"], vector.canonical):
            return "the decoded value differs from the canonical one"
        if got["legacy"] != vector.legacy:
            return f"legacy alias read: expected {vector.legacy}, the testee reported {got['legacy']}"
        return None
    if got["ok"]:
        return f"expected {vector.code}, but it was accepted"
    if got["code"] != vector.code:
        return f"expected {vector.code}, got {got['code']} at {got['path']}: {message}"
    if vector.error_path is not None and got["path"] != vector.error_path:
        return f"expected path {vector.error_path}, got {got['path']}"
    return None


def run_vector(testee: ProcessTestee, vector: Vector) -> Verdict:
    started = time.perf_counter()
    expected = expected_of(vector)
    fields: dict[str, Any] = {"payload_hex": vector.payload.hex()}
    if vector.max_size != DEFAULT_MAX_SIZE:
        fields["max_size"] = vector.max_size
    if vector.allow_nan_tokens:
        if "allow_nan_tokens" not in testee.options:
            return Verdict(vector.id, "unsupported", vector.description, "needs allow_nan_tokens", expected)
        fields["allow_nan_tokens"] = True
    if vector.message == "frame":
        op = "decode_frame"
    else:
        op, fields["message"] = "decode", vector.message
    try:
        response = testee.request(op, **fields)
    except TesteeFailure as exc:
        seconds = time.perf_counter() - started
        return Verdict(vector.id, exc.kind, vector.description, exc.detail, expected, None, seconds)
    seconds = time.perf_counter() - started
    if response.get("code") == "bad_request":
        detail = f"the testee called the request bad: {response.get('message')}"
        return Verdict(vector.id, "protocol_error", vector.description, detail, expected, response, seconds)
    got = got_of(vector, response)
    problem = problem_of(vector, got, str(response.get("message", "")))
    status = "pass" if problem is None else "fail"
    return Verdict(vector.id, status, vector.description, problem, expected, got, seconds)


def run_codec(
    testee: ProcessTestee, vectors: list[Vector], known_failures: set[str] | None = None, name: str = ""
) -> CodecRun:
    """Every vector through ``testee``; a known failure that passes is itself a failure."""
    known = known_failures or set()
    started = time.perf_counter()
    run = CodecRun(testee=name or " ".join(testee.argv), implementation=testee.implementation)
    for vector in vectors:
        verdict = run_vector(testee, vector)
        listed = vector.id in known
        if listed and verdict.status == "pass":
            verdict.status = "stale_known_failure"
            verdict.problem = "passes, but is listed as a known failure: remove it from the list"
        elif listed and verdict.status in FAILING:
            verdict.status = "known_failure"
        run.verdicts.append(verdict)
    unknown = known - {vector.id for vector in vectors}
    for vector_id in sorted(unknown):
        run.verdicts.append(
            Verdict(vector_id, "stale_known_failure", problem="listed as a known failure, but no such vector")
        )
    run.seconds = time.perf_counter() - started
    run.restarts = testee.restarts
    return run
