"""``tradebridge conformance bus --subscribe``: attach to a running publisher and judge what it emits.

Per frame: the framing and the message's schema (``tradebridge.contracts.decode_frame``, the SDK's codec),
``seq`` present and rising by exactly one per ``(source, topic)`` stream (a new ``source`` is a restart, not
a gap), and, when ``--heartbeat-interval`` declares them, a ``Heartbeat`` on ``system`` at least that often.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import zmq

from tradebridge.contracts import decode_frame
from tradebridge.errors import ContractError

#: problems kept per kind; the counts stay exact
EXAMPLES = 5


@dataclass
class BusRun:
    endpoint: str
    messages: int = 0
    seconds: float = 0.0
    streams: dict[str, int] = field(default_factory=dict)
    problems: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    heartbeat_gap_s: float | None = None

    def problem(self, kind: str, detail: str) -> None:
        self.problems[kind] = self.problems.get(kind, 0) + 1
        shown = self.examples.setdefault(kind, [])
        if len(shown) < EXAMPLES:
            shown.append(detail)

    @property
    def conformant(self) -> bool:
        return self.messages > 0 and not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "bus",
            "endpoint": self.endpoint,
            "conformant": self.conformant,
            "messages": self.messages,
            "seconds": round(self.seconds, 3),
            "rate_per_s": round(self.messages / self.seconds) if self.seconds else 0,
            "streams": self.streams,
            "problems": self.problems,
            "examples": self.examples,
            "heartbeat_gap_s": self.heartbeat_gap_s,
        }


class StreamJudge:
    """Judges frames one by one; separate from the socket so it can be driven (and timed) without one."""

    def __init__(self, run: BusRun, heartbeat_interval: float | None = None) -> None:
        self.run = run
        self.heartbeat_interval = heartbeat_interval
        self._last_seq: dict[tuple[str, str], int] = {}
        self._last_heartbeat: float | None = None

    def frame(self, frame: bytes, now: float) -> None:
        run = self.run
        run.messages += 1
        try:
            topic, message = decode_frame(frame)
        except ContractError as exc:
            run.problem(exc.code, f"{exc.code} at {exc.path}: {exc.detail} in {frame[:120]!r}")
            return
        seq, source = getattr(message, "seq", None), getattr(message, "source", None)
        if not isinstance(seq, int) or not isinstance(source, str):
            run.problem("no_seq", f"a {type(message).__name__} on {topic} without seq and source")
            return
        key = (source, topic)
        last = self._last_seq.get(key)
        if last is not None and seq != last + 1:
            kind = "seq_gap" if seq > last + 1 else "seq_not_monotonic"
            run.problem(kind, f"{source}/{topic}: seq {last} then {seq}")
        self._last_seq[key] = seq if last is None or seq > last else last
        run.streams[f"{source}/{topic}"] = run.streams.get(f"{source}/{topic}", 0) + 1
        if topic == "system" and type(message).__name__ == "Heartbeat":
            self._beat(now)

    def _beat(self, now: float) -> None:
        if self._last_heartbeat is not None:
            gap = now - self._last_heartbeat
            self.run.heartbeat_gap_s = max(gap, self.run.heartbeat_gap_s or 0.0)
        self._last_heartbeat = now

    def finish(self, started: float, now: float) -> None:
        if self.heartbeat_interval is None:
            return
        # a beat may be late by one interval of jitter before it counts as missing
        allowed = 2 * self.heartbeat_interval
        first = self._last_heartbeat
        if first is None:
            if now - started > allowed:
                self.run.problem("no_heartbeat", f"no Heartbeat on system in {now - started:.1f} s")
            return
        worst = max(self.run.heartbeat_gap_s or 0.0, now - first)
        if worst > allowed:
            self.run.problem("heartbeat_late", f"{worst:.2f} s without a Heartbeat (declared every "
                             f"{self.heartbeat_interval} s)")  # fmt: skip


def subscribe(
    endpoint: str,
    topics: list[str],
    duration: float,
    heartbeat_interval: float | None = None,
    max_messages: int = 0,
) -> BusRun:
    """Receive from ``endpoint`` for ``duration`` seconds (or ``max_messages``) and judge every frame."""
    run = BusRun(endpoint)
    judge = StreamJudge(run, heartbeat_interval)
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVHWM, 0)  # a judge must not lose what it judges to its own high-water mark
    try:
        for topic in topics or [""]:
            socket.setsockopt(zmq.SUBSCRIBE, topic.encode())
        socket.connect(endpoint)
        started = time.monotonic()
        deadline = started + duration
        while True:
            now = time.monotonic()
            if now >= deadline or (max_messages and run.messages >= max_messages):
                break
            if not socket.poll(max(1, int((deadline - now) * 1000))):
                continue
            while True:  # drain what is queued without a poll per frame
                try:
                    frame = socket.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                judge.frame(frame, time.monotonic())
                if max_messages and run.messages >= max_messages:
                    break
        end = time.monotonic()
        judge.finish(started, end)
        run.seconds = end - started
    finally:
        socket.close(0)
    return run
