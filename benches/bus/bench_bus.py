"""The bus, ours next to raw pyzmq, in one run (peers in separate processes, as in the anchors):

- publish: SDK ``publish``/``publish_many`` (encode, number, send) against raw pyzmq sending the same
  frames pre-encoded (target: at least 0.85 of raw);
- receive: SDK receive-and-decode against a raw pyzmq loop decoding into the same Structs, both fed by
  the Rust ``bus-peer`` at full speed;
- round trip: SDK -> Rust ``bus-peer echo`` -> SDK against raw pyzmq Python -> Python echo -> Python
  (target: no slower);
- Rust subscriber decode (``bus-peer decode-bench``; target at least 1,000,000 msg/s) and the mock
  publisher's unthrottled rate (target at least 100,000 bars/s).

Ratios are printed at the end of the run (see conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq
from tradebridge.bus import BusOptions
from tradebridge.bus import ZMQPublisher as AsyncPublisher
from tradebridge.bus.sync import ZMQPublisher, ZMQSubscriber
from tradebridge.contracts import MarketMessage
from tradebridge.testing import free_port, rust_binary

from benches.bus.conftest import EXTRA, MEDIANS, RATIOS
from tests.bus.samples import bar, signal

RAW_PEERS = Path(__file__).with_name("raw_peers.py")
UNBOUNDED = BusOptions(send_hwm=0, receive_hwm=0)
PER_ROUND = 20_000
ROUND_TRIPS = 1_000


def spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def record(benchmark: Any, group: str, candidate: str) -> None:
    MEDIANS[(group, candidate)] = benchmark.stats.stats.median


# -- publish ----------------------------------------------------------------------------------------------
RATIOS["publish BarUpdate"] = ("SDK sync publish", "raw pyzmq send (pre-encoded)", PER_ROUND, 0.85)


@pytest.fixture(scope="module")
def messages() -> list[Any]:
    return [bar(i) for i in range(PER_ROUND)]


@pytest.fixture(scope="module")
def drain() -> Iterator[str]:
    """A raw subscriber process, bound, that receives everything for as long as the module runs (the
    publishers connect to it and wait for its subscription: they measure real sends, not sends to nobody)."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    process = spawn(sys.executable, str(RAW_PEERS), "drain", endpoint)
    yield endpoint
    process.kill()
    process.communicate()


@pytest.fixture(scope="module")
def sync_publisher(drain: str) -> Iterator[ZMQPublisher]:
    with ZMQPublisher(drain, bind=False, options=UNBOUNDED) as pub:
        pub.wait_for_subscribers(1, timeout=10)
        yield pub


def test_publish_raw_pyzmq(
    benchmark: Any, drain: str, sync_publisher: ZMQPublisher, messages: list[Any]
) -> None:
    frames = [sync_publisher._core.frame(m) for m in messages]  # exactly the SDK's frames
    context: zmq.Context[Any] = zmq.Context()
    socket = context.socket(zmq.XPUB)  # a PUB that shows when the drain's subscription has arrived
    socket.setsockopt(zmq.SNDHWM, 0)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(drain)
    socket.recv()
    send = socket.send

    def run() -> None:
        for frame in frames:
            send(frame)

    benchmark.group = "publish BarUpdate"
    benchmark.pedantic(run, rounds=7, warmup_rounds=1)
    record(benchmark, "publish BarUpdate", "raw pyzmq send (pre-encoded)")
    socket.close()
    context.term()


def test_publish_sdk_sync(benchmark: Any, sync_publisher: ZMQPublisher, messages: list[Any]) -> None:
    publish = sync_publisher.publish

    def run() -> None:
        for message in messages:
            publish(message)

    benchmark.group = "publish BarUpdate"
    benchmark.pedantic(run, rounds=7, warmup_rounds=1)
    record(benchmark, "publish BarUpdate", "SDK sync publish")


def test_publish_sdk_sync_many(benchmark: Any, sync_publisher: ZMQPublisher, messages: list[Any]) -> None:
    benchmark.group = "publish BarUpdate"
    benchmark.pedantic(sync_publisher.publish_many, args=(messages,), rounds=7, warmup_rounds=1)
    record(benchmark, "publish BarUpdate", "SDK sync publish_many")


def test_publish_sdk_sync_shared_by_threads(
    benchmark: Any, sync_publisher: ZMQPublisher, messages: list[Any]
) -> None:
    """The same messages published by 8 threads sharing the publisher: what its lock costs contended
    (the GIL serialises the Python work either way)."""
    publish = sync_publisher.publish
    shares = [messages[k::8] for k in range(8)]

    def publish_share(share: list[Any]) -> None:
        for message in share:
            publish(message)

    def run() -> None:
        threads = [threading.Thread(target=publish_share, args=(share,)) for share in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    benchmark.group = "publish BarUpdate"
    benchmark.pedantic(run, rounds=7, warmup_rounds=1)
    record(benchmark, "publish BarUpdate", "SDK sync publish, 8 threads sharing it")


def test_publish_sdk_async(benchmark: Any, drain: str, messages: list[Any]) -> None:
    loop = asyncio.new_event_loop()
    pub = AsyncPublisher(drain, bind=False, options=UNBOUNDED)
    loop.run_until_complete(pub.connect())
    loop.run_until_complete(pub.wait_for_subscribers(1, timeout=10))

    async def many() -> None:
        for message in messages:
            await pub.publish(message)

    benchmark.group = "publish BarUpdate"
    benchmark.pedantic(lambda: loop.run_until_complete(many()), rounds=7, warmup_rounds=1)
    record(benchmark, "publish BarUpdate", "SDK async await publish")
    loop.run_until_complete(pub.close())
    loop.close()


# -- receive and decode ----------------------------------------------------------------------------------
RATIOS["receive BarUpdate"] = ("SDK sync receive", "raw pyzmq recv + msgspec decode", PER_ROUND, 0.85)


def _rust_feed(endpoint: str) -> subprocess.Popen[bytes]:
    return spawn(
        str(rust_binary("bus-peer")),
        "publish",
        "--endpoint",
        endpoint,
        "--type",
        "bar",
        "--count",
        str(PER_ROUND + 1),
        "--send-hwm",
        "0",
        "--wait-for-subscribers",
        "1",
    )


def test_receive_raw_pyzmq(benchmark: Any) -> None:
    decoder = msgspec.json.Decoder(MarketMessage)
    state: dict[str, Any] = {}

    def setup() -> None:
        if "process" in state:
            state["process"].communicate()
            state["socket"].close()
        endpoint = f"tcp://127.0.0.1:{free_port()}"
        state["process"] = _rust_feed(endpoint)
        socket = state["context"].socket(zmq.SUB)
        socket.setsockopt(zmq.RCVHWM, 0)
        socket.setsockopt(zmq.SUBSCRIBE, b"market")
        socket.connect(endpoint)
        socket.recv()  # the feed is running: time only the steady state
        state["socket"] = socket

    def run() -> None:
        recv = state["socket"].recv
        for _ in range(PER_ROUND):
            _, _, payload = recv().partition(b" ")
            decoder.decode(payload)

    state["context"] = zmq.Context()
    benchmark.group = "receive BarUpdate"
    benchmark.pedantic(run, setup=setup, rounds=5)
    record(benchmark, "receive BarUpdate", "raw pyzmq recv + msgspec decode")
    state["process"].communicate()
    state["socket"].close()
    state["context"].term()


def test_receive_sdk_sync(benchmark: Any) -> None:
    state: dict[str, Any] = {}

    def setup() -> None:
        if "process" in state:
            state["process"].communicate()
            state["sub"].close()
        endpoint = f"tcp://127.0.0.1:{free_port()}"
        state["process"] = _rust_feed(endpoint)
        sub = ZMQSubscriber(endpoint, options=UNBOUNDED)
        sub.connect(["market"])
        assert sub.receive_one(timeout=10) is not None
        state["sub"] = sub

    def run() -> None:
        received = state["sub"].receive(idle_timeout=5)
        for _ in range(PER_ROUND):
            next(received)

    benchmark.group = "receive BarUpdate"
    benchmark.pedantic(run, setup=setup, rounds=5)
    record(benchmark, "receive BarUpdate", "SDK sync receive")
    assert state["sub"].stats.gaps == 0
    state["process"].communicate()
    state["sub"].close()


# -- round trip ------------------------------------------------------------------------------------------
RATIOS["round trip Signal"] = (
    "SDK -> Rust echo -> SDK",
    "raw pyzmq -> Python echo -> raw pyzmq",
    ROUND_TRIPS,
    1.0,
)
LATENCIES: dict[str, list[float]] = {}


def _round_trips(send: Callable[[], None], receive: Callable[[], object], name: str) -> Callable[[], None]:
    samples = LATENCIES.setdefault(name, [])

    def run() -> None:
        for _ in range(ROUND_TRIPS):
            started = time.perf_counter_ns()
            send()
            receive()
            samples.append((time.perf_counter_ns() - started) / 1000)

    return run


def _summarise(name: str) -> None:
    samples = sorted(LATENCIES[name])
    p = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]  # noqa: E731
    EXTRA[f"round trip {name}"] = (
        f"p50 {statistics.median(samples):.0f} us, p99 {p(0.99):.0f} us, "
        f"p99.9 {p(0.999):.0f} us, max {samples[-1]:.0f} us"
    )


def test_round_trip_raw_python_echo(benchmark: Any) -> None:
    to_echo, from_echo = (f"tcp://127.0.0.1:{free_port()}" for _ in range(2))
    context: zmq.Context[Any] = zmq.Context()
    out = context.socket(zmq.XPUB)
    out.setsockopt(zmq.LINGER, 0)
    out.bind(to_echo)
    inbound = context.socket(zmq.SUB)
    inbound.setsockopt(zmq.LINGER, 0)
    inbound.setsockopt(zmq.SUBSCRIBE, b"")
    inbound.connect(from_echo)
    process = spawn(sys.executable, str(RAW_PEERS), "echo", to_echo, from_echo)
    out.recv()  # the echo subscribed (after our subscription reached it)
    frame = ZMQPublisher("tcp://127.0.0.1:*")._core.frame(signal(features=12))
    name = "raw pyzmq -> Python echo -> raw pyzmq"
    benchmark.group = "round trip Signal"
    benchmark.pedantic(_round_trips(lambda: out.send(frame), inbound.recv, name), rounds=5, warmup_rounds=1)
    record(benchmark, "round trip Signal", name)
    _summarise(name)
    process.kill()
    process.communicate()
    out.close()
    inbound.close()
    context.term()


def test_round_trip_sdk_rust_echo(benchmark: Any) -> None:
    to_rust, from_rust = (f"tcp://127.0.0.1:{free_port()}" for _ in range(2))
    process = spawn(
        str(rust_binary("bus-peer")),
        "echo",
        "--from",
        to_rust,
        "--to",
        from_rust,
        "--wait-for-subscribers",
        "1",
    )
    message = signal(features=12)
    with ZMQPublisher(to_rust) as pub, ZMQSubscriber(from_rust) as sub:
        sub.connect(["signal"])
        pub.wait_for_subscribers(1, timeout=10)
        name = "SDK -> Rust echo -> SDK"
        benchmark.group = "round trip Signal"
        run = _round_trips(lambda: pub.publish(message), lambda: sub.receive_one(timeout=5), name)
        benchmark.pedantic(run, rounds=5, warmup_rounds=1)
        record(benchmark, "round trip Signal", name)
        _summarise(name)
        assert sub.stats.gaps == 0
    process.terminate()
    process.communicate()


# -- Rust decode and the mock publisher --------------------------------------------------------------------
def test_rust_subscriber_decode(benchmark: Any) -> None:
    results: list[float] = []

    def run() -> None:
        out = subprocess.run(
            [str(rust_binary("bus-peer")), "decode-bench", "--type", "bar", "--count", "1000000"],
            capture_output=True,
            check=True,
        )
        results.append(json.loads(out.stdout)["per_second"])

    benchmark.group = "rust decode"
    benchmark.pedantic(run, rounds=3)
    rate = statistics.median(results)
    EXTRA["rust subscriber decode"] = (
        f"{rate:,.0f} BarUpdate/s (target >= 1,000,000: {'met' if rate >= 1e6 else 'MISSED'})"
    )


def test_mock_publisher_unthrottled(benchmark: Any, drain: str) -> None:
    from tradebridge_mocks.publisher import main

    count = 200_000
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    process = spawn(sys.executable, str(RAW_PEERS), "count", endpoint, str(10**12))
    args = ["--endpoint", endpoint, "--rate", "0", "--count", str(count), "--wait-for-subscribers", "1"]
    benchmark.group = "mock publisher"
    benchmark.pedantic(lambda: main(args), rounds=3)
    rate = count / benchmark.stats.stats.median
    EXTRA["mock publisher"] = (
        f"{rate:,.0f} bars/s with --rate 0 (target >= 100,000: {'met' if rate >= 1e5 else 'MISSED'})"
    )
    process.kill()
    process.communicate()
