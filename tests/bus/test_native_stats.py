"""The subscriber's counters kept by the extension (``tradebridge._native.Receiver``, the Rust subscriber's
own ``SubscriberStats``) read through ``NativeSubscriberStats``: the loss-accounting scenarios of the
conformance suite, and one hostile stream received by the native path and by pyzmq's, which must count
exactly alike."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq
from tradebridge._native import Receiver
from tradebridge.bus import BusOptions, _native_io
from tradebridge.bus.stats import NativeSubscriberStats, SubscriberStats, TransitHistogram
from tradebridge.bus.sync import ZMQSubscriber
from tradebridge.contracts import encode_frame
from tradebridge.errors import ContractError

from tests.bus.samples import bar, signal
from tests.bus.test_native_io import raw_publisher

SCENARIOS = sorted((Path(__file__).parents[2] / "conformance/transport/loss_accounting").glob("*.json"))


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and _subset(value, actual[key]) for key, value in expected.items()
        )
    return bool(expected == actual)


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 8


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_the_native_counters_follow_the_scenario(path: Path) -> None:
    scenario = json.loads(path.read_text(encoding="utf-8"))
    receiver = Receiver(-1, ContractError, scenario.get("max_sources", 4096))
    stats = NativeSubscriberStats(receiver)
    for topic, source, seq in scenario["receipts"]:
        receiver.observe(topic, seq, source)
    assert _subset(scenario["expected"], stats.as_dict()), stats.as_dict()


def test_a_stream_without_source_is_not_the_empty_source() -> None:
    receiver = Receiver(-1, ContractError, 16)
    stats = NativeSubscriberStats(receiver)
    receiver.observe("market", 0, None)
    receiver.observe("market", 5, "")
    receiver.observe("market", 1, None)
    assert list(stats.by_source) == [("market", ""), ("market", None)]  # least recently heard first
    assert stats.by_source[("market", None)].last_seq == 1 and stats.gaps == 0
    assert stats.topics["market"].last_seq == 1 and stats.topics["market"].source is None


def test_a_copy_is_a_plain_snapshot() -> None:
    receiver = Receiver(-1, ContractError, 16)
    stats = NativeSubscriberStats(receiver)
    receiver.observe("signal", 3, "a")
    stats.transit.observe(7)
    stats.transit.observe(-2)
    snapshot = copy.copy(stats)
    receiver.observe("signal", 4, "a")
    assert type(snapshot) is SubscriberStats and type(snapshot.transit) is TransitHistogram
    assert (snapshot.received, stats.received) == (1, 2)
    assert (snapshot.transit.count, snapshot.transit.sum_us, snapshot.transit.negative) == (1, 7, 1)
    assert snapshot.transit.p50_us() == stats.transit.p50_us() == 8


def _stamped(message: Any, seq: int) -> bytes:
    stamp = time.time_ns() // 1000
    return encode_frame(msgspec.structs.replace(message, seq=seq, source="a", sent_at_us=stamp))


HOSTILE: list[bytes] = [
    _stamped(bar(1), 0),
    b"market {oops",
    b"signals " + encode_frame(signal())[len(b"signal ") :],  # passes the prefix filter: filtered
    b"market " + b"x" * 600,  # above the limit below: too_large
    b"market-without-a-space",
    b"market " + encode_frame(signal())[len(b"signal ") :],  # a Signal on market: topic_mismatch
    b'market {"type":"BarUpdate","symbol":"A","open":1,"high":1,"low":1,"close":1,"volume":-1,"timestamp":1}',
    _stamped(signal(), 0),
    _stamped(bar(2), 2),  # seq 1 never came: a gap of one
]


def _counted(monkeypatch: pytest.MonkeyPatch, native: bool) -> tuple[dict[str, Any], list[str]]:
    if not native:
        monkeypatch.setattr(_native_io, "_LIBRARY", None)
    options = BusOptions(max_message_bytes=512)
    with raw_publisher() as (raw, endpoint), ZMQSubscriber(endpoint, options=options) as sub:
        sub.connect(["market", "signal"])
        assert sub._core.native is native
        for _ in range(2):  # one subscription per topic
            assert raw.poll(10_000)
            raw.recv()
        for frame in HOSTILE:
            raw.send(frame)
        got = []
        deadline = time.monotonic() + 10
        while len(got) < 3 and time.monotonic() < deadline:
            item = sub.receive_one(timeout=1)
            if item is not None:
                got.append(type(item[1]).__name__)
        counted = sub.stats.as_dict()
    monkeypatch.undo()
    return counted, got


def test_the_native_path_counts_a_hostile_stream_as_pyzmqs_does(monkeypatch: pytest.MonkeyPatch) -> None:
    native, native_got = _counted(monkeypatch, native=True)
    python, python_got = _counted(monkeypatch, native=False)
    assert native_got == python_got == ["BarUpdate", "Signal", "BarUpdate"]
    for counted in (native, python):
        assert counted["received"] == 3 and counted["filtered"] == 1 and counted["too_large"] == 1
        assert (counted["gaps"], counted["dropped"], counted["sources"]) == (1, 1, 2)
        assert counted["malformed"] == 5
        assert counted["malformed_by_code"] == {
            "bad_frame": 1,
            "invalid_json": 1,
            "too_large": 1,
            "topic_mismatch": 1,
            "out_of_range": 1,
        }
        assert counted["transit"]["count"] == 3
    for key in ("transit",):  # the only figures the two runs cannot share: their clocks
        del native[key], python[key]
    native_sources = native.pop("by_source")
    python_sources = python.pop("by_source")
    assert native == python
    assert [sorted(s) for s in native_sources.values()] == [sorted(s) for s in python_sources.values()]


def test_a_decoders_unexpected_error_propagates_and_the_batch_before_it_is_kept() -> None:
    def decode(payload: bytes) -> Any:
        if b"boom" in payload:
            raise RuntimeError("decoder broke")
        raise ContractError("invalid_json", "not a message")

    receiver = Receiver(-1, ContractError, 16)
    receiver.route([("market", decode)])
    assert receiver.handle(b"market {}") is None  # a refusal: Python's to name and count
    with pytest.raises(RuntimeError, match="decoder broke"):
        receiver.handle(b"market boom")
    assert NativeSubscriberStats(receiver).received == 0


def test_a_detached_receiver_takes_nothing() -> None:
    receiver = Receiver(-1, ContractError, 16)
    out: list[Any] = []
    taken, errno, frame = receiver.take(out, 8, False)
    assert (taken, frame, out) == (0, None, []) and errno == zmq.ENOTSOCK
    with pytest.raises(ValueError, match="max_sources must be >= 1"):
        Receiver(-1, ContractError, 0)
