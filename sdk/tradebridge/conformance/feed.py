"""``tradebridge conformance bus --publish-to EP --health URL``: feed a running service every valid and every
hostile frame of the shipped vectors, then check through its ``/metrics`` that it counted what it refused,
and through ``/live`` that it kept running.

The kit connects an XPUB socket, so it sees which topics the service subscribes to and sends only those
(a frame the service never receives proves nothing). Counted refusals are the sum of every
``tradebridge_malformed*_total`` sample, read before and after.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import zmq

from tradebridge.conformance.vectors import DEFAULT_MAX_SIZE, Vector, load_vectors

MALFORMED = re.compile(r"^tradebridge_malformed\w*_total(\{[^}]*\})?\s+([0-9.eE+-]+)$", re.MULTILINE)
TOPIC_OF = {
    "bar_update": "market",
    "trade_update": "market",
    "quote_update": "market",
    "market_message": "market",
    "signal": "signal",
    "order_update": "order",
    "heartbeat": "system",
}


@dataclass
class FeedRun:
    endpoint: str
    health_url: str
    topics: list[str] = field(default_factory=list)
    valid_sent: int = 0
    hostile_sent: int = 0
    refusals_counted: float = 0.0
    alive: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def conformant(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"kind": "bus-feed", "endpoint": self.endpoint, "health": self.health_url,
                "conformant": self.conformant, "topics": self.topics, "valid_sent": self.valid_sent,
                "hostile_sent": self.hostile_sent, "refusals_counted": self.refusals_counted,
                "alive": self.alive, "problems": self.problems}  # fmt: skip


class CannotFeed(Exception):
    """The service does not subscribe, or its health endpoint does not answer."""


def _get(url: str, timeout: float) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except OSError as exc:
        raise CannotFeed(f"{url}: {exc}") from exc


def refusals(health_url: str, timeout: float) -> float:
    status, text = _get(health_url.rstrip("/") + "/metrics", timeout)
    if status != 200:
        raise CannotFeed(f"/metrics answered {status}")
    return sum(float(match.group(2)) for match in MALFORMED.finditer(text))


def frames_for(vectors: list[Vector], topics: list[str]) -> tuple[list[bytes], list[bytes]]:
    """(valid, hostile) frames on the subscribed topics: frame vectors as is, payloads on their topic."""
    valid: list[bytes] = []
    hostile: list[bytes] = []
    for vector in vectors:
        if vector.allow_nan_tokens or vector.legacy or vector.max_size != DEFAULT_MAX_SIZE:
            continue  # these depend on a decoder option, or a reader's alias policy, not on the contract
        if vector.message == "frame":
            frame = vector.payload
        elif vector.message in TOPIC_OF:
            frame = TOPIC_OF[vector.message].encode() + b" " + vector.payload
        else:
            continue
        topic = frame.split(b" ", 1)[0].decode("ascii", "replace")
        if not any(topic == t for t in topics):
            continue  # a prefix match would reach the service, but its topic is not one it asked for
        (valid if vector.valid else hostile).append(frame)
    return valid, hostile


def feed(
    endpoint: str,
    health_url: str,
    wait: float = 10.0,
    settle: float = 2.0,
    timeout: float = 5.0,
    bind: bool = False,
) -> FeedRun:
    run = FeedRun(endpoint, health_url)
    before = refusals(health_url, timeout)
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    socket = context.socket(zmq.XPUB)
    socket.setsockopt(zmq.LINGER, 1000)
    socket.setsockopt(zmq.SNDHWM, 0)
    try:
        (socket.bind if bind else socket.connect)(endpoint)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if socket.poll(100):
                note = socket.recv()
                if note[:1] == b"\x01":
                    run.topics.append(note[1:].decode("utf-8", "replace"))
            elif run.topics:
                break
        if not run.topics:
            raise CannotFeed(f"no subscription arrived from {endpoint} within {wait} s")
        valid, hostile = frames_for(load_vectors(), run.topics)
        for frame in valid + hostile:
            socket.send(frame)
        run.valid_sent, run.hostile_sent = len(valid), len(hostile)
    finally:
        socket.close()
    # refusals are counted as the service reads them: wait until they add up, or the settle time is over
    end = time.monotonic() + settle
    counted = refusals(health_url, timeout) - before
    while counted < run.hostile_sent and time.monotonic() < end:
        time.sleep(0.05)
        counted = refusals(health_url, timeout) - before
    run.refusals_counted = counted
    if counted < run.hostile_sent:
        run.problems.append(f"sent {run.hostile_sent} hostile frames, /metrics counted {counted:g} refusals")
    status, body = _get(health_url.rstrip("/") + "/live", timeout)
    run.alive = status == 200
    if not run.alive:
        run.problems.append(f"/live answered {status} {body[:80]!r} after the feed")
    return run
