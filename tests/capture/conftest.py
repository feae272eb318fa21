"""Helpers of the capture tests: real processes (mock publisher, ``record``/``replay`` command lines), a raw
pyzmq subscriber and publisher (what a hand-written peer does), and captures written directly with pyarrow
for the cases a live bus cannot produce on demand (a day-long span, a corrupt row group)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zmq
from tradebridge.capture import SCHEMA
from tradebridge.testing import Service, free_port


def endpoint() -> str:
    return f"tcp://127.0.0.1:{free_port()}"


def run_cli(*args: str) -> subprocess.Popen[str]:
    """``python -m tradebridge.capture record|replay ...`` as a process (``tradebridge record|replay`` runs
    the same ``record_main`` / ``replay_main``)."""
    command = [sys.executable, "-m", "tradebridge.capture", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def mock_publisher(address: str, count: int, *extra: str, subscribers: int = 1, rate: int = 0) -> Service:
    """The real ``tradebridge mock-publisher``, unthrottled unless ``rate`` is given, supervised: ready once
    bound, always stopped when its ``with`` block ends (``count`` 0 publishes until then)."""
    command = [sys.executable, "-m", "tradebridge.cli", "mock-publisher", "--endpoint", address]
    command += ["--rate", str(rate), "--count", str(count), "--wait-for-subscribers", str(subscribers)]
    command += extra
    return Service("mock-publisher", command, ready_line=r"publishing on")


class RawSubscriber:
    """A plain pyzmq SUB (no SDK code): receives frames exactly as they cross the wire."""

    def __init__(self, address: str, topics: Sequence[bytes] = (b"",), hwm: int = 0) -> None:
        self.context: zmq.Context[Any] = zmq.Context()
        self.socket = self.context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.RCVHWM, hwm)
        self.socket.setsockopt(zmq.LINGER, 0)
        for topic in topics:
            self.socket.setsockopt(zmq.SUBSCRIBE, topic)
        self.socket.connect(address)

    def take(self, n: int, timeout: float = 20.0) -> list[bytes]:
        frames: list[bytes] = []
        deadline = time.monotonic() + timeout
        while len(frames) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.socket.poll(int(min(remaining, 0.5) * 1000) + 1):
                if remaining <= 0:
                    raise AssertionError(f"received {len(frames)} of {n} frames in {timeout} s")
                continue
            frames.append(self.socket.recv())
        return frames

    def quiet(self, seconds: float) -> list[bytes]:
        """Whatever arrives within ``seconds`` (to show that nothing more comes)."""
        frames = []
        while self.socket.poll(int(seconds * 1000)):
            frames.append(self.socket.recv())
        return frames

    def close(self) -> None:
        self.socket.close(0)
        self.context.term()


@pytest.fixture
def raw_subscriber() -> Iterator[type[RawSubscriber]]:
    made: list[RawSubscriber] = []

    class Tracked(RawSubscriber):
        def __init__(self, address: str, topics: Sequence[bytes] = (b"",), hwm: int = 0) -> None:
            super().__init__(address, topics, hwm)
            made.append(self)

    yield Tracked
    for sub in made:
        sub.close()


class RawPublisher:
    """A bound XPUB sending hand-made frames once ``n`` subscriptions arrived (no slow-joiner loss)."""

    def __init__(self) -> None:
        self.context: zmq.Context[Any] = zmq.Context()
        self.socket = self.context.socket(zmq.XPUB)
        self.socket.setsockopt(zmq.SNDHWM, 0)
        self.socket.setsockopt(zmq.LINGER, 2000)
        self.socket.bind("tcp://127.0.0.1:*")
        self.address = self.socket.getsockopt(zmq.LAST_ENDPOINT).decode()

    def wait_for_subscriber(self, timeout: float = 10.0) -> None:
        if not self.socket.poll(int(timeout * 1000)):
            raise AssertionError("nobody subscribed")
        self.socket.recv()

    def send(self, frames: Sequence[bytes], pause_every: int = 0, pause: float = 0.0) -> None:
        for i, frame in enumerate(frames):
            if pause_every and i and not i % pause_every:
                time.sleep(pause)
            self.socket.send(frame)

    def close(self) -> None:
        self.socket.close()
        self.context.term()


@pytest.fixture
def raw_publisher() -> Iterator[RawPublisher]:
    publisher = RawPublisher()
    yield publisher
    publisher.close()


def bar_frame(symbol: str, seq: int, source: str = "py-1-test", timestamp: int = 1_735_828_200_000) -> bytes:
    return (
        b'market {"type":"BarUpdate","symbol":"%s","open":10.0,"high":11.0,"low":9.5,"close":10.5,'
        b'"volume":100.0,"timestamp":%d,"schema_version":"1.0","seq":%d,"source":"%s"}'
        % (symbol.encode(), timestamp + seq * 60_000, seq, source.encode())
    )


def write_capture(
    path: Path,
    rows: Sequence[tuple[int, bytes]],
    *,
    row_group_rows: int = 1000,
    metadata: dict[str, str] | None = None,
) -> Path:
    """A capture file from ``(recv_ns, frame)`` rows, columns filled the way the recorder fills them."""
    import msgspec
    from tradebridge.capture.format import Peek

    decode = msgspec.json.Decoder(Peek).decode
    peeks = [decode(frame.partition(b" ")[2]) for _, frame in rows]
    table = pa.Table.from_arrays(
        [
            pa.array([r for r, _ in rows], pa.int64()),
            pa.array([f.partition(b" ")[0].decode() for _, f in rows], pa.string()),
            pa.array([p.source for p in peeks], pa.string()),
            pa.array([p.seq for p in peeks], pa.int64()),
            pa.array([p.type for p in peeks], pa.string()),
            pa.array([p.symbol for p in peeks], pa.string()),
            pa.array([p.schema_version for p in peeks], pa.string()),
            pa.array([f for _, f in rows], pa.binary()),
        ],
        schema=SCHEMA.with_metadata(
            metadata or {"tradebridge.capture_format": "1.0", "tradebridge.contract_version": "1.0"}
        ),
    )
    dictionary = [name for name in SCHEMA.names if name != "payload"]  # as the recorder writes
    pq.write_table(
        table,
        path,
        row_group_size=row_group_rows,
        compression="zstd",
        use_dictionary=dictionary,
        write_page_checksum=True,
    )
    return path
