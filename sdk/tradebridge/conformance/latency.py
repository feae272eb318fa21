"""``tradebridge conformance latency``: signal-to-order-update latency of a running service, against a budget.

The kit publishes ``Signal`` s, each with its own ``signal_id``, at a steady rate, and times the first
``OrderUpdate`` the service publishes carrying that id back (``signal_id`` is v1.1's round-trip key).
Samples go into an HDR histogram (``hdrhistogram``, the ``kit`` extra): 1 µs to 60 s at three significant
digits, so p99.9 and max stay exact to 0.1 % however long the run, in constant memory.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import zmq

from tradebridge.conformance.openapi import kit_import
from tradebridge.contracts import ContractError, OrderUpdate, Signal, decode_frame, encode_frame

#: the histogram's range in microseconds: a sample past a minute is a lost answer, not a latency
LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS = 1, 60_000_000, 3
#: the chart's first bucket ends at 50 µs; each next one doubles
FIRST_BUCKET_MS = 0.05
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 99.9}


def new_histogram() -> Any:
    hdrh = kit_import("latency", "hdrh.histogram", "hdrhistogram")
    return hdrh.HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


@dataclass
class LatencyRun:
    sent: int = 0
    answered: int = 0
    budget_p99_ms: float = 0.0
    #: untimed signals sent until the first answer (see ``_warm_up``)
    warmup_sent: int = 0
    histogram: Any = field(default_factory=new_histogram)

    def record_ms(self, latency_ms: float) -> None:
        self.histogram.record_value(min(HIGHEST_US, max(LOWEST_US, round(latency_ms * 1000))))
        self.answered += 1

    def percentiles(self) -> dict[str, float]:
        """p50, p90, p99, p99.9 and max in ms (HDR values: the highest equivalent of each bucket)."""
        if not self.histogram.get_total_count():
            return {}
        figures = {name: self.histogram.get_value_at_percentile(q) / 1000 for name, q in PERCENTILES.items()}
        figures["max"] = self.histogram.get_max_value() / 1000
        return figures

    def problems(self) -> list[str]:
        found = []
        figures = self.percentiles()
        if not figures:
            found.append(f"no answer to any of {self.sent} signals")
        elif figures["p99"] > self.budget_p99_ms:
            found.append(f"p99 {figures['p99']:.3f} ms is over the budget of {self.budget_p99_ms:g} ms")
        if figures and self.answered < self.sent:
            found.append(f"{self.sent - self.answered} of {self.sent} signals never answered")
        return found

    @property
    def conformant(self) -> bool:
        return not self.problems()

    def buckets(self) -> list[tuple[float, int]]:
        """(upper bound in ms, count) per doubling bucket from 50 µs, every bucket up to the last used."""
        counts: dict[int, int] = {}
        for item in self.histogram.get_recorded_iterator():
            value_ms = item.value_iterated_to / 1000
            index = max(0, math.ceil(math.log2(value_ms / FIRST_BUCKET_MS))) if value_ms > 0 else 0
            counts[index] = counts.get(index, 0) + item.count_added_in_this_iter_step
        if not counts:
            return []
        return [(FIRST_BUCKET_MS * 2**index, counts.get(index, 0)) for index in range(max(counts) + 1)]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "latency",
            "conformant": self.conformant,
            "problems": self.problems(),
            "warmup_sent": self.warmup_sent,
            "sent": self.sent,
            "answered": self.answered,
            "budget_p99_ms": self.budget_p99_ms,
            "percentiles_ms": self.percentiles(),
            "histogram_ms": {f"{bound:g}": count for bound, count in self.buckets()},
            "hdr": {
                "lowest_us": LOWEST_US,
                "highest_us": HIGHEST_US,
                "significant_digits": SIGNIFICANT_DIGITS,
                "encoded": self.histogram.encode().decode("ascii") if self.answered else None,
            },
        }


class _Stamper:
    """Stamped signals of one run: one ``source``, ``seq`` rising by one, long and short in turn (a service
    with position limits stays flat however long the run)."""

    def __init__(self, publisher: zmq.Socket[bytes], symbol: str) -> None:
        self.publisher, self.symbol = publisher, symbol
        self.source = f"tb-latency-{uuid.uuid4().hex[:8]}"
        self.seq = 0

    def send(self, signal_id: str) -> int:
        signal = Signal(
            symbol=self.symbol,
            direction="long" if self.seq % 2 == 0 else "short",
            strength=0.5,
            timestamp=int(time.time() * 1000),
            signal_id=signal_id,
            seq=self.seq,
            source=self.source,
        )
        frame = encode_frame(signal)
        self.seq += 1
        sent_ns = time.perf_counter_ns()
        self.publisher.send(frame)
        return sent_ns


def _answer_to(subscriber: zmq.Socket[bytes], wait_ms: int) -> tuple[str, int] | None:
    """The ``signal_id`` of the next ``OrderUpdate`` and when it arrived, if one comes within ``wait_ms``."""
    if not subscriber.poll(wait_ms):
        return None
    frame = subscriber.recv()
    received = time.perf_counter_ns()
    try:
        _, message = decode_frame(frame)
    except ContractError:
        return None  # the bus judge's business, not this one's
    if not isinstance(message, OrderUpdate) or not message.signal_id:
        return None
    return message.signal_id, received


def _warm_up(stamper: _Stamper, subscriber: zmq.Socket[bytes], timeout: float) -> int:
    """Signals every 100 ms until one is answered: the kit's SUB is then surely connected (no first answer
    lost to ZeroMQ's slow joiner) and the service's first-order costs are paid outside the timed run."""
    sent: set[str] = set()
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        signal_id = f"{stamper.source}-warmup-{len(sent)}"
        stamper.send(signal_id)
        sent.add(signal_id)
        until = min(deadline, time.perf_counter() + 0.1)
        while (left := until - time.perf_counter()) > 0:
            answer = _answer_to(subscriber, max(1, int(left * 1000)))
            if answer is not None and answer[0] in sent:
                return len(sent)
    return len(sent)


def measure(
    publish_to: str,
    subscribe_to: str,
    budget_p99_ms: float,
    count: int = 200,
    rate: float = 100.0,
    symbol: str = "AAPL",
    answer_timeout: float = 5.0,
    bind: bool = False,
) -> LatencyRun:
    run = LatencyRun(budget_p99_ms=budget_p99_ms)
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    publisher, subscriber = context.socket(zmq.XPUB), context.socket(zmq.SUB)
    for socket in (publisher, subscriber):
        socket.setsockopt(zmq.LINGER, 0)
    pending: dict[str, int] = {}
    try:
        subscriber.setsockopt(zmq.SUBSCRIBE, b"order")
        subscriber.connect(subscribe_to)
        (publisher.bind if bind else publisher.connect)(publish_to)
        if not publisher.poll(int(answer_timeout * 1000)):
            raise TimeoutError(f"no subscriber for signals at {publish_to} within {answer_timeout} s")
        publisher.recv()
        stamper = _Stamper(publisher, symbol)
        run.warmup_sent = _warm_up(stamper, subscriber, answer_timeout)
        interval = 1.0 / rate if rate > 0 else 0.0
        next_send = time.perf_counter()
        deadline = None
        while run.answered < count:
            if run.sent < count and time.perf_counter() >= next_send:
                signal_id = f"{stamper.source}-{run.sent}"
                pending[signal_id] = stamper.send(signal_id)
                run.sent += 1
                next_send += interval
                if run.sent == count:
                    deadline = time.perf_counter() + answer_timeout
            if deadline is not None and time.perf_counter() > deadline:
                break
            answer = _answer_to(subscriber, 0 if run.sent < count and time.perf_counter() >= next_send else 1)
            sent_ns = None if answer is None else pending.pop(answer[0], None)
            if answer is not None and sent_ns is not None:
                run.record_ms((answer[1] - sent_ns) / 1e6)
    finally:
        publisher.close()
        subscriber.close()
    return run
