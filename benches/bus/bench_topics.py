"""How a subscriber's cost grows with what it follows: one subscriber fed by 1, 10 and 100 sources.

What "topics" means here. Contract v1 has four topics (``market``, ``signal``, ``order``, ``system``) and a
subscriber filters on them by prefix, so "100 topics" cannot exist on the v1 bus. What does grow when a user
scales out is the number of *streams* one subscriber accounts for: every publisher instance (``source``)
numbers its own messages per topic, and the subscriber keeps, per (topic, source), the last ``seq`` it saw
to count gaps and restarts (``SubscriberStats.by_source``). One execution engine listening to
100 strategy processes, or one recorder behind 100 market-data shards, is that. So the curve is the SDK
subscriber's receive cost (validated decode + loss accounting + transit histogram) per message with 1, 10
and 100 sources interleaved on ``market``, in two orders:

- round-robin: every message comes from another source than the one before (the worst case for the
  accounting: each message looks its stream up);
- runs of 50: each source's messages arrive 50 at a time (what batching publishers produce).

Baseline: the hand-written recv + split + bare Struct decode (no accounting, so flat by construction) in
the same rounds, fed the same frames. Each measurement gets a fresh feeder process that sends all frames
and exits before the clock starts: the subscriber drains a full queue, alone on its core. Figures are CPU
time per message of the receiving thread (``time.thread_time``; wall time is printed beside it); the curve
and where it bends are printed at the end of the run (conftest.py).

    python benches/bus/bench_topics.py feed ENDPOINT FRAMES   # the feeder (run by the benchmark)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import zmq

if __name__ != "__main__":  # the feeder runs without the SDK
    from tradebridge.bus import BusOptions
    from tradebridge.bus.sync import ZMQSubscriber
    from tradebridge.contracts import encode_frame
    from tradebridge.testing import free_port

    from benches.bus.bench_bus import BareBar
    from benches.bus.conftest import EXTRA
    from tests.bus.samples import bar

SOURCES = (1, 10, 100)
#: messages each source sends in a row: 1 is round-robin
RUNS = {"round-robin": 1, "runs of 50": 50}
PER_ROUND = 20_000
ROUNDS = 3


def feed(endpoint: str, frames_file: str) -> None:
    """Bind, wait for the subscription, send every frame, flush, exit."""
    frames: list[bytes] = msgspec.msgpack.decode(Path(frames_file).read_bytes(), type=list[bytes])
    context = zmq.Context()
    socket = context.socket(zmq.XPUB)
    socket.setsockopt(zmq.SNDHWM, 0)
    socket.setsockopt(zmq.LINGER, 30_000)
    socket.bind(endpoint)
    socket.recv()
    send = socket.send
    for frame in frames:
        send(frame)
    socket.close()  # lingers until every frame is with the subscriber's socket
    context.term()


def _frames(sources: int, run: int) -> list[bytes]:
    """``PER_ROUND + 1`` frames (the first only starts the subscriber): message k from source
    ``(k // run) % sources``, each source numbered from 0, stamped now (a plausible transit)."""
    names = [f"py-bench-{i:03d}" for i in range(sources)]
    seqs = [0] * sources
    stamp = time.time_ns() // 1000
    frames = []
    for k in range(PER_ROUND + 1):
        source = (k // run) % sources
        message = msgspec.structs.replace(bar(k), seq=seqs[source], source=names[source], sent_at_us=stamp)
        seqs[source] += 1
        frames.append(encode_frame(message))
    return frames


class _Round:
    """One measurement: a fresh feeder of ``frames_file``, the first frame taken, the feeder gone, then
    the clock over ``PER_ROUND`` frames."""

    def __init__(self, frames_file: Path) -> None:
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "feed", self.endpoint, str(frames_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def wait_for_feeder(self) -> None:
        _, error = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, error.decode()


def _bare(frames_file: Path) -> Callable[[], tuple[float, float]]:
    decode = msgspec.json.Decoder(BareBar).decode

    def measure() -> tuple[float, float]:
        context: zmq.Context[Any] = zmq.Context()
        socket = context.socket(zmq.SUB)
        socket.setsockopt(zmq.RCVHWM, 0)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.SUBSCRIBE, b"market")
        one = _Round(frames_file)
        socket.connect(one.endpoint)
        try:
            socket.recv()
            one.wait_for_feeder()
            recv = socket.recv
            wall, cpu = time.perf_counter(), time.thread_time()
            for _ in range(PER_ROUND):
                _, _, payload = recv().partition(b" ")
                decode(payload)
            return time.perf_counter() - wall, time.thread_time() - cpu
        finally:
            socket.close()
            context.term()

    return measure


def _sdk(frames_file: Path, sources: int) -> Callable[[], tuple[float, float]]:
    def measure() -> tuple[float, float]:
        one = _Round(frames_file)
        with ZMQSubscriber(one.endpoint, options=BusOptions(send_hwm=0, receive_hwm=0)) as sub:
            sub.connect(["market"])
            assert sub.receive_one(timeout=30) is not None
            one.wait_for_feeder()
            received = sub.receive(idle_timeout=10)
            wall, cpu = time.perf_counter(), time.thread_time()
            for _ in range(PER_ROUND):
                next(received)
            elapsed = time.perf_counter() - wall, time.thread_time() - cpu
            stats = sub.stats
            assert stats.received == PER_ROUND + 1 and stats.gaps == 0 and stats.sources == sources
        return elapsed

    return measure


def test_subscriber_over_sources(benchmark: Any, tmp_path: Path) -> None:
    """The SDK subscriber and the bare loop, every candidate once per round (the first round left out)."""
    candidates: dict[tuple[str, int, str], Callable[[], tuple[float, float]]] = {}
    for sources in SOURCES:
        for order, run in RUNS.items():
            if sources == 1 and run != 1:
                continue  # one source has one order
            frames_file = tmp_path / f"{sources}-{run}.msgpack"
            frames_file.write_bytes(msgspec.msgpack.encode(_frames(sources, run)))
            if run == 1 and sources != 10:  # flat by construction: its two ends show it
                candidates[("bare", sources, order)] = _bare(frames_file)
            candidates[("sdk", sources, order)] = _sdk(frames_file, sources)
    samples: dict[tuple[str, int, str], list[tuple[float, float]]] = {key: [] for key in candidates}

    def one_round() -> None:
        for key, measure in candidates.items():
            samples[key].append(measure())

    benchmark.group = "subscriber over sources"
    benchmark.name = "all candidates, one round"
    benchmark.pedantic(one_round, rounds=ROUNDS + 1, iterations=1)
    per_message = {
        key: (
            statistics.median(wall for wall, _ in values[1:]) / PER_ROUND * 1e6,
            statistics.median(cpu for _, cpu in values[1:]) / PER_ROUND * 1e6,
        )
        for key, values in samples.items()
    }
    _report(per_message)


def _report(per_message: dict[tuple[str, int, str], tuple[float, float]]) -> None:
    name = "subscriber curve"
    one = per_message[("sdk", 1, "round-robin")][1]
    for (kind, sources, order), (wall, cpu) in sorted(per_message.items(), key=lambda item: item[0][:2]):
        label = "SDK receive" if kind == "sdk" else "hand-written bare decode"
        growth = f", x{cpu / one:.2f} the 1-source cost" if kind == "sdk" else ""
        EXTRA[f"{name}: {label}, {sources:>3} source(s), {order}"] = (
            f"{cpu:.2f} us CPU/msg (wall {wall:.2f}){growth}"
        )
    rr = [per_message[("sdk", n, "round-robin")][1] for n in SOURCES]
    runs = per_message[("sdk", SOURCES[-1], "runs of 50")][1]
    bare = [per_message[("bare", n, "round-robin")][1] for n in (SOURCES[0], SOURCES[-1])]
    noise = abs(bare[1] - bare[0])  # the control's own drift between its two ends, same frames sizes

    def step(delta: float) -> str:
        return f"{delta:+.2f} us/msg" + (" (within the control's drift)" if abs(delta) <= noise else "")

    EXTRA[f"{name}: where it bends"] = (
        f"round-robin 1 -> 10 sources {step(rr[1] - rr[0])}, 10 -> 100 {step(rr[2] - rr[1])}; 100 sources in "
        f"runs of 50 vs round-robin {step(runs - rr[2])}; the bare control moved {bare[1] - bare[0]:+.2f}. "
        "Why: each message is accounted to its (topic, source) stream (last seq, gaps, restarts) through a "
        "keyed look-up whose cost does not depend on how many streams there are, so nothing should grow from "
        "10 to 100 (until max_sources, 4096 by default, starts evicting streams); a step at 1 -> many would "
        "be the cost of switching from one stream to another."
    )


if __name__ == "__main__":
    if sys.argv[1] == "feed":
        feed(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
