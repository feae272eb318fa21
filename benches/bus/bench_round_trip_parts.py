"""What the SDK client adds to a round trip, part by part, on the same sockets (the profile behind the
round trip's miss in ``bench_bus.test_round_trip``).

Two separate client/echo setups differ by up to 8 us at p50 on this machine even when they run the same
code, so the parts are measured as an A/B on one setup: one SDK publisher and one SDK subscriber against
one raw pyzmq Python echo (which forwards bytes, so the echo's work is the same for every variant), each
variant 100 round trips at a time, interleaved:

1. the raw pair's work on the SDK's own sockets: a pre-encoded frame sent, the reply received as bytes;
2. the SDK's ``publish`` instead (encode, number, stamp: the native path), the reply still as bytes;
3. the validated decode of the reply as well (``contracts.Decoder(Signal)``);
4. ``receive_one`` instead of 2 and 3's hand-written receive: the subscriber as a user calls it (its lock,
   the native receive, decode and loss accounting, the hand-over through its pending queue).

The step from 2 to 3 and the Rust echo's own share (the mixed pair ``raw pyzmq -> Rust echo`` in
``test_round_trip``) are the contract's validation at the two ends, which the issue's rules keep.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import zmq
from tradebridge.contracts import Decoder, Signal

from benches.bus.bench_bus import TRANSPORTS, sdk_pair
from benches.bus.conftest import EXTRA
from tests.bus.samples import signal

BLOCK = 100
BLOCKS = 40
WARM_UP = 300
#: how long a receive waits for the echo before the bench gives up
PATIENCE_S = 5.0

PARTS = (
    "1 raw frame sent, reply as bytes",
    "2 + SDK publish (encode, number, stamp)",
    "3 + validated decode of the reply",
    "4 receive_one instead (lock, accounting, hand-over)",
)


def _parts(stack: ExitStack, transport: str, folder: Path) -> dict[str, Callable[[], None]]:
    pub, sub, _ = sdk_pair(stack, "python", transport, folder)
    message = signal(features=12)
    publish, receive_one = pub.publish, sub.receive_one
    publish(message)
    if receive_one(timeout=PATIENCE_S) is None:  # also leaves the socket's receive timeout at its slice
        raise TimeoutError("the echo did not answer")
    send, recv = pub._core.socket.send, sub._core.socket.recv
    frame = pub._core.frame(message)
    decode: Callable[[bytes], Signal] = Decoder(Signal).decode

    def reply() -> bytes:
        deadline = None  # read the clock only once a wait has run out, not on the timed path
        while True:
            try:
                return recv()
            except zmq.Again:  # one slice of the subscriber's receive timeout passed
                now = time.monotonic()
                if deadline is None:
                    deadline = now + PATIENCE_S
                elif now > deadline:
                    raise TimeoutError("the echo did not answer") from None

    def raw() -> None:
        send(frame)
        reply()

    def published() -> None:
        publish(message)
        reply()

    def decoded() -> None:
        publish(message)
        data = reply()
        decode(data[data.index(b" ") + 1 :])

    def subscribed() -> None:
        publish(message)
        if receive_one(timeout=PATIENCE_S) is None:
            raise TimeoutError("the echo did not answer")

    return dict(zip(PARTS, (raw, published, decoded, subscribed), strict=True))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_round_trip_parts(benchmark: Any, transport: str, tmp_path: Path) -> None:
    group = f"round trip Signal {transport}, parts"
    samples: dict[str, list[float]] = {name: [] for name in PARTS}
    with ExitStack() as stack:
        parts = _parts(stack, transport, tmp_path)
        for part in parts.values():
            for _ in range(WARM_UP):
                part()

        def one_block() -> None:
            for name, part in parts.items():
                kept = samples[name]
                for _ in range(BLOCK):
                    started = time.perf_counter_ns()
                    part()
                    kept.append((time.perf_counter_ns() - started) / 1000)

        benchmark.group = group
        benchmark.name = "every part, one block each"
        benchmark.pedantic(one_block, rounds=BLOCKS, iterations=1)
    p50 = {name: statistics.median(values) for name, values in samples.items()}
    steps = [f"{PARTS[0]}: p50 {p50[PARTS[0]]:.1f} us"]
    steps += [f"{later}: {p50[later] - p50[earlier]:+.1f} us" for earlier, later in itertools.pairwise(PARTS)]
    EXTRA[group] = (
        "; ".join(steps) + f" (same sockets, raw Python echo, {BLOCKS} interleaved blocks of {BLOCK})"
    )
