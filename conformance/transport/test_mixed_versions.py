"""Mixed-version buses over real sockets: v1.0-only peers (the frozen v1.0 bus, Python and Rust, built
from git by ``frozen_bus.py``) and v1.1 peers, in every direction.

Each reads what the other sends. A v1.0 reader ignores the v1.1 fields (``sent_at_us``, ``signal_id``,
``price``); a v1.1 reader of a v1.0 peer finds them absent and invents nothing (no transit observed). A
major version 2 frame is refused by every subscriber as ``unsupported_version``, counted, and the next
frame is read. Every subscriber binds a random port and every publisher connects to it.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import zmq
from msgspec import UNSET
from tradebridge.bus import sync as bus_v1_1
from tradebridge.contracts import BarUpdate, Signal, encode, encode_frame, source_suffix, splice_envelope
from tradebridge.testing import free_port

from conformance.transport.frozen_bus import load_bus, rust_bus_peer
from conformance.transport.peers import Peer

PEERS = ("py-1.0", "py-1.1", "rs-1.0", "rs-1.1")
#: every publisher/subscriber pair with at least one v1.1 side (two v1.0 peers prove nothing new)
PAIRS = [(p, s) for p in PEERS for s in PEERS if "1.1" in p or "1.1" in s]
ROUNDS = 3  # a signal and a bar each: six messages on two topics
TIMEOUT_S = 15.0


@dataclass
class Frozen:
    contracts: ModuleType
    sync: ModuleType
    rust_peer: Path


@pytest.fixture(scope="session")
def frozen(tmp_path_factory: pytest.TempPathFactory) -> Frozen:
    """The v1.0 peers (the Rust one is built once, in seconds on the workspace's build, then reused)."""
    bus = load_bus(tmp_path_factory.mktemp("v1_0"))
    sync = importlib.import_module(f"{bus.__name__}.sync")
    contracts = importlib.import_module(bus.__name__.replace(".bus", ".contracts"))
    return Frozen(contracts, sync, rust_bus_peer())


def messages(version: str, frozen: Frozen) -> list[Any]:
    """What a publisher of ``version`` sends: v1.1 signals carry ``signal_id`` and ``price``."""
    out: list[Any] = []
    for i in range(ROUNDS):
        common: dict[str, Any] = {
            "symbol": "AAPL",
            "direction": "long",
            "strength": 0.5,
            "timestamp": 1_729_530_000_000 + i,
            "features": [1.0, float(i)],
        }
        bar: dict[str, Any] = {"symbol": "AAPL", "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5}
        bar["volume"] = 10.0
        bar["timestamp"] = 1_735_828_200_000 + i
        if version == "1.1":
            out += [Signal(**common, signal_id=f"sig-{i}", price=101.5), BarUpdate(**bar)]
        else:
            out += [frozen.contracts.Signal(**common), frozen.contracts.BarUpdate(**bar)]
    return out


def key(message: Any) -> tuple[str, str, int]:
    return type(message).__name__, message.symbol, message.timestamp


@contextmanager
def in_thread(work: Callable[[threading.Event], None]) -> Iterator[None]:
    """Run ``work`` in its own thread until the block ends (it gets an event set then): a bound
    subscriber sends its subscription only while its own thread receives, so an in-process sender
    cannot wait for it on the receiver's thread."""
    done = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            work(done)
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="sender")
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(TIMEOUT_S + 5)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


@contextmanager
def publishing(kind: str, endpoint: str, frozen: Frozen) -> Iterator[None]:
    """Publish this kind's messages to a bound subscriber; Rust publishers finish on the way out."""
    language, version = kind.split("-")
    sent = messages(version, frozen)
    if language == "py":
        module = bus_v1_1 if version == "1.1" else frozen.sync

        def work(done: threading.Event) -> None:
            with module.ZMQPublisher(endpoint, bind=False) as publisher:
                publisher.wait_for_subscribers(1, timeout=TIMEOUT_S)
                for message in sent:
                    publisher.publish(message)
                done.wait(TIMEOUT_S)

        with in_thread(work):
            yield
        return
    frame = encode_frame if version == "1.1" else frozen.contracts.encode_frame
    lines = b"".join(frame(message) + b"\n" for message in sent)
    binary = None if version == "1.1" else frozen.rust_peer
    args = ["publish", "--endpoint", endpoint, "--connect", "--stdin", "--wait-for-subscribers", "1"]
    process = Peer(args, stdin=lines, binary=binary)
    try:
        yield
        result = process.finish(TIMEOUT_S)
        assert result.returncode == 0, result.stderr
        assert result.summary["published"] == len(sent)
    finally:
        process.kill()


@dataclass
class Received:
    messages: list[Any]
    stats: dict[str, Any]


def receive(kind: str, frozen: Frozen, want: int, run: Callable[[str], Any]) -> Received:
    """Bind a subscriber of this kind, let ``run(endpoint)`` publish, and collect ``want`` messages."""
    language, version = kind.split("-")
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    if language == "py":
        module = bus_v1_1 if version == "1.1" else frozen.sync
        with module.ZMQSubscriber(endpoint, bind=True) as subscriber:
            subscriber.connect(["market", "signal"])
            got: list[Any] = []
            with run(endpoint):
                deadline = time.monotonic() + TIMEOUT_S
                while len(got) < want and time.monotonic() < deadline:
                    item = subscriber.receive_one(timeout=0.2)
                    if item is not None:
                        got.append(item[1])
            stats = subscriber.stats
            counts = {"transit": stats.transit.as_dict()} if version == "1.1" else {}
            return Received(got, {**stats.as_dict(), **counts})
    binary = None if version == "1.1" else frozen.rust_peer
    args = ["subscribe", "--endpoint", endpoint, "--bind", "--topics", "market,signal", "--print"]
    args += ["--count", str(want), "--idle-timeout-ms", str(int(TIMEOUT_S * 1000))]
    process = Peer(args, binary=binary)
    try:
        with run(endpoint):
            pass
        result = process.finish(TIMEOUT_S)
    finally:
        process.kill()
    assert result.returncode == 0, result.stderr
    return Received([message for _, message in result.messages], result.summary["stats"])


@pytest.mark.parametrize(("publisher", "subscriber"), PAIRS, ids=[f"{p}->{s}" for p, s in PAIRS])
def test_each_reads_what_the_other_sends(publisher: str, subscriber: str, frozen: Frozen) -> None:
    sent = messages(publisher.split("-")[1], frozen)
    got = receive(subscriber, frozen, len(sent), lambda endpoint: publishing(publisher, endpoint, frozen))
    assert [key(m) for m in got.messages] == [key(m) for m in sent]
    stats = got.stats
    assert (stats["received"], stats["malformed"], stats["gaps"], stats["dropped"]) == (len(sent), 0, 0, 0)
    assert [m.seq for m in got.messages] == [i // 2 for i in range(len(sent))]  # per topic, from 0
    signals = got.messages[::2]
    if subscriber.endswith("1.1") and publisher.endswith("1.1"):
        assert all(isinstance(m.sent_at_us, int) for m in got.messages)
        assert [(s.signal_id, s.price) for s in signals] == [(f"sig-{i}", 101.5) for i in range(ROUNDS)]
        assert stats["transit"]["count"] == len(sent)
    elif subscriber.endswith("1.1"):  # absent fields stay absent, and no transit is made up
        assert all(m.sent_at_us is UNSET for m in got.messages)
        assert all((s.signal_id, s.price) == (UNSET, UNSET) for s in signals)
        assert stats["transit"]["count"] == 0
    elif subscriber.startswith("py"):  # the v1.0 reader has no such fields and ignored them
        assert not any(hasattr(m, "sent_at_us") or hasattr(m, "signal_id") for m in got.messages)
    else:  # the v1.0 Rust reader printed what it decoded, re-encoded: the v1.1 fields are gone
        assert all(m.sent_at_us is UNSET for m in got.messages)
        assert all((s.signal_id, s.price) == (UNSET, UNSET) for s in signals)


def major_two_run(endpoint: str) -> Any:
    """Send a valid signal, one of major version 2, and another valid one, from a raw socket."""
    valid = [Signal(symbol="AAPL", direction="long", strength=0.5, timestamp=t) for t in (1, 2)]
    frames = [splice_envelope(encode_frame(m), i, source_suffix("raw"), 1) for i, m in enumerate(valid)]
    two = b"signal " + encode(valid[0]).replace(b'"schema_version":"1.1"', b'"schema_version":"2.0"')
    assert b'"2.0"' in two

    def work(done: threading.Event) -> None:
        context = zmq.Context()
        socket = context.socket(zmq.XPUB)  # a PUB that shows when the subscription has arrived
        try:
            socket.connect(endpoint)
            assert socket.poll(int(TIMEOUT_S * 1000)), "no subscription arrived"
            for frame in (frames[0], two, frames[1]):
                socket.send(frame)
            done.wait(TIMEOUT_S)
        finally:
            socket.close(linger=1000)
            context.term()

    return in_thread(work)


@pytest.mark.parametrize("subscriber", PEERS)
def test_major_version_two_is_refused_counted_and_reading_goes_on(subscriber: str, frozen: Frozen) -> None:
    got = receive(subscriber, frozen, 2, major_two_run)
    assert [m.timestamp for m in got.messages] == [1, 2]
    assert got.stats["received"] == 2
    assert got.stats["malformed_by_code"] == {"unsupported_version": 1}
