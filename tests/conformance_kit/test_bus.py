"""``tradebridge conformance bus --subscribe`` against real publishers: the mock one, one that skips seq."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from tradebridge.conformance.bus import BusRun, StreamJudge
from tradebridge.conformance.cli import main
from tradebridge.contracts import decode_frame
from tradebridge.testing import Service, free_port


def bar_frame(seq: int, source: str = "skipper") -> bytes:
    body = {"type": "BarUpdate", "symbol": "AAPL", "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5,
            "volume": 10.0, "timestamp": 1234567890, "seq": seq, "source": source}  # fmt: skip
    return b"market " + json.dumps(body).encode()


class RawPublisher:
    """A bare pyzmq PUB sending ``frames(n)`` for n = 0, 1, 2... until stopped (a service under test)."""

    def __init__(self, frames: object) -> None:
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.socket = zmq.Context.instance().socket(zmq.PUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(self.endpoint)
        self.frames = frames
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        n = 0
        while not self.stop.is_set():
            for frame in self.frames(n):  # type: ignore[operator]
                self.socket.send(frame)
            n += 1
            time.sleep(0.001)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.socket.close(0)


@pytest.fixture
def skipping_publisher() -> Iterator[RawPublisher]:
    # every tenth seq number is never sent: the loss a subscriber must see
    publisher = RawPublisher(lambda n: [] if n % 10 == 9 else [bar_frame(n)])
    yield publisher
    publisher.close()


def test_the_mock_publisher_is_conformant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    tradebridge = Path(sys.executable).with_name("tradebridge")
    argv = [tradebridge, "mock-publisher", "--endpoint", endpoint, "--rate", "0", "--count", "5000",
            "--wait-for-subscribers", "1"]  # fmt: skip
    report = tmp_path / "bus.json"
    with Service("mock-publisher", argv):
        code = main(
            [
                "bus",
                "--subscribe",
                endpoint,
                "--duration",
                "20",
                "--max-messages",
                "5000",
                "--json",
                str(report),
            ]
        )
    assert code == 0, capsys.readouterr().out
    body = json.loads(report.read_text())
    assert body["messages"] == 5000 and not body["problems"] and len(body["streams"]) == 1


def test_a_publisher_that_skips_seq_numbers_fails(
    skipping_publisher: RawPublisher, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "bus.json"
    code = main(
        [
            "bus",
            "--subscribe",
            skipping_publisher.endpoint,
            "--duration",
            "10",
            "--max-messages",
            "40",
            "--json",
            str(report),
        ]
    )
    assert code == 1
    body = json.loads(report.read_text())
    assert body["problems"]["seq_gap"] >= 3 and set(body["problems"]) == {"seq_gap"}
    assert "SEQ_GAP" in capsys.readouterr().out


def test_bad_frames_and_missing_envelopes_are_named() -> None:
    run = BusRun("judge")
    judge = StreamJudge(run)
    good = bar_frame(0, "a")
    for frame in (
        good,
        b"market{}",
        b"weather {}",
        b'signal {"type":"BarUpdate"}',
        good.replace(b', "seq": 0', b""),
        bar_frame(0, "a"),
        bar_frame(1, "a"),
    ):
        judge.frame(frame, 0.0)
    assert run.problems == {
        "bad_frame": 1,
        "unknown_topic": 1,
        "topic_mismatch": 1,
        "no_seq": 1,
        "seq_not_monotonic": 1,
    }
    assert not run.conformant


def test_heartbeats_declared_but_absent_fail() -> None:
    run = BusRun("judge")
    judge = StreamJudge(run, heartbeat_interval=1.0)
    judge.frame(bar_frame(0), 0.0)
    judge.finish(started=0.0, now=5.0)
    assert run.problems == {"no_heartbeat": 1}


def test_nothing_received_is_not_conformant(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bus", "--subscribe", f"tcp://127.0.0.1:{free_port()}", "--duration", "0.3"]) == 1
    assert "nothing received" in capsys.readouterr().out
    assert main(["bus", "--subscribe", "not-an-endpoint", "--duration", "0.3"]) == 2


def test_judging_keeps_up_with_a_bare_validation_loop() -> None:
    # The figure (messages per second, and the ratio to decode_frame alone) is printed, not asserted.
    frames = [bar_frame(n, "rate") for n in range(50_000)]
    started = time.perf_counter()
    for frame in frames:
        decode_frame(frame)
    bare = time.perf_counter() - started
    run = BusRun("judge")
    judge = StreamJudge(run)
    started = time.perf_counter()
    for frame in frames:
        judge.frame(frame, 0.0)
    judged = time.perf_counter() - started
    assert run.conformant and run.messages == len(frames)
    rates = f"judge {len(frames) / judged:,.0f} msg/s, bare decode_frame {len(frames) / bare:,.0f} msg/s"
    print(f"{rates}, ratio {judged / bare:.2f}")
