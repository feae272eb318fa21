"""The cost of CURVE on the bus, one run each, plaintext and CURVE side by side in the same run:

- throughput: a raw PUB -> SUB stream of 160-byte frames on loopback (libzmq does the crypto; Python only
  loops), messages/s, CURVE against plaintext. libzmq encrypts every message on its I/O thread, so a
  stream of small frames pays most: 0.24x to 0.61x of plaintext over runs on the loaded 2-core box. The
  limit printed (>= 0.15x) only catches a regression (a crypto fallback, a ZAP call per message), it is
  not a target;
- round trip: the SDK's blocking publisher and subscriber, a signal out and echoed back by a thread, p50
  and p99 (limit printed: CURVE adds < 100 us at p50).

Both modes use the same code; the only difference is the ``curve=`` keys (and the ZAP handler they start).
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import pytest
import zmq
from tradebridge.bus import ALLOW_ANY, Curve
from tradebridge.bus._security import generate_keypair, secure
from tradebridge.bus.sync import ZMQPublisher, ZMQSubscriber
from tradebridge.contracts import Signal

FIGURES: dict[str, str] = {}
COUNT = 100_000
FRAME = b"market " + b"x" * 153
ROUND_TRIPS = 2_000
SERVER = generate_keypair()
CLIENT = generate_keypair()


def _throughput(curve: bool) -> float:
    """Messages/s from the first to the last frame received; every frame must arrive (HWM unbounded)."""
    context: zmq.Context[Any] = zmq.Context()
    pub, sub = context.socket(zmq.PUB), context.socket(zmq.SUB)
    leases = []
    try:
        for socket in (pub, sub):
            socket.setsockopt(zmq.SNDHWM, 0)
            socket.setsockopt(zmq.RCVHWM, 0)
            socket.setsockopt(zmq.LINGER, 0)
        if curve:
            leases.append(secure(Curve.server(SERVER[1], [CLIENT[0]]), pub, context, bind=True))
            leases.append(secure(Curve.client(SERVER[0], CLIENT[1]), sub, context, bind=False))
        port = pub.bind_to_random_port("tcp://127.0.0.1")
        sub.setsockopt(zmq.SUBSCRIBE, b"market")
        sub.connect(f"tcp://127.0.0.1:{port}")
        while True:  # the subscription is in place once a probe gets through
            pub.send(b"market probe")
            if sub.poll(50):
                sub.recv()
                break
        while sub.poll(50):
            sub.recv()

        def send() -> None:
            for _ in range(COUNT):
                pub.send(FRAME)

        sender = threading.Thread(target=send)
        sender.start()
        sub.recv()
        start = time.perf_counter()
        for _ in range(COUNT - 1):
            sub.recv()
        elapsed = time.perf_counter() - start
        sender.join()
        return (COUNT - 1) / elapsed
    finally:
        pub.close()
        sub.close()
        for lease in leases:
            if lease is not None:
                lease.release()
        context.term()


def _round_trips(curve: bool) -> list[float]:
    """Microseconds per signal out and echoed back through the SDK's blocking sockets."""
    server = Curve.server(SERVER[1], ALLOW_ANY) if curve else None
    client = Curve.client(SERVER[0], CLIENT[1]) if curve else None
    out = ZMQPublisher("tcp://127.0.0.1:0", curve=server, source="out")
    back = ZMQPublisher("tcp://127.0.0.1:0", curve=server, source="back")
    with out, back:
        there = ZMQSubscriber(out.endpoint, curve=client)
        home = ZMQSubscriber(back.endpoint, curve=client)
        there.connect(["signal"])
        home.connect(["signal"])
        out.wait_for_subscribers(1, timeout=10)
        back.wait_for_subscribers(1, timeout=10)
        stop = threading.Event()

        def echo() -> None:
            while not stop.is_set():
                got = there.receive_one(timeout=0.1)
                if got is not None:
                    back.publish(got[1])

        echoer = threading.Thread(target=echo)
        echoer.start()
        times = []
        signal = Signal(symbol="AAPL", direction="long", strength=0.5, timestamp=1)
        try:
            for _ in range(ROUND_TRIPS):
                start = time.perf_counter_ns()
                out.publish(signal)
                assert home.receive_one(timeout=5) is not None
                times.append((time.perf_counter_ns() - start) / 1_000)
        finally:
            stop.set()
            echoer.join()
            there.close()
            home.close()
    return times[ROUND_TRIPS // 10 :]  # warm-up out


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def test_curve_throughput_against_plaintext(benchmark: Any) -> None:
    def measure() -> None:
        plain, secured = _throughput(False), _throughput(True)
        ratio = secured / plain
        FIGURES["throughput"] = (
            f"plaintext {plain:,.0f} msg/s, CURVE {secured:,.0f} msg/s: {ratio:.2f}x (limit >= 0.15x)"
        )
        assert ratio >= 0.15, FIGURES["throughput"]

    benchmark.pedantic(measure, rounds=1, iterations=1)


def test_curve_round_trip_against_plaintext(benchmark: Any) -> None:
    def measure() -> None:
        plain, secured = _round_trips(False), _round_trips(True)
        added = statistics.median(secured) - statistics.median(plain)
        FIGURES["round trip"] = (
            f"p50 plaintext {statistics.median(plain):.0f} us, CURVE {statistics.median(secured):.0f} us "
            f"(+{added:.0f} us, limit < 100 us); p99 {_p(plain, 0.99):.0f} / {_p(secured, 0.99):.0f} us"
        )
        assert added < 100, FIGURES["round trip"]

    benchmark.pedantic(measure, rounds=1, iterations=1)


@pytest.fixture(scope="module", autouse=True)
def _print_figures() -> Any:
    yield
    for name, text in FIGURES.items():
        print(f"\nCURVE cost, {name}: {text}")
