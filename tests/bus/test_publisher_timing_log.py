"""``tradebridge mock-publisher --timing-log``: one row per published bar, keyed by the bus envelope."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from pathlib import Path

from tradebridge.bus.sync import ZMQSubscriber
from tradebridge.contracts import BarUpdate
from tradebridge.testing import free_port
from tradebridge_mocks.publisher import TimingLog


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_published_bar_has_a_row_matching_what_the_subscriber_received(tmp_path: Path) -> None:
    log = tmp_path / "timing.csv"
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    command = [
        sys.executable, "-m", "tradebridge.cli", "mock-publisher", "--endpoint", endpoint,
        "--symbols", "AAPL,MSFT,GOOGL", "--rate", "2000", "--count", "600", "--seed", "4",
        "--wait-for-subscribers", "1", "--timing-log", str(log),
    ]  # fmt: skip
    started_ns = time.time_ns()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    received: list[tuple[BarUpdate, int]] = []
    try:
        with ZMQSubscriber(endpoint) as sub:
            sub.connect(["market"])
            deadline = time.monotonic() + 10
            while len(received) < 600 and time.monotonic() < deadline:
                item = sub.receive_one(timeout=0.5)
                if item is not None:
                    received.append((item[1], time.time_ns()))
        _, err = process.communicate(timeout=10)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, err
    assert len(received) == 600
    logged = rows(log)
    assert len(logged) == 600
    by_key = {(r["source"], int(r["seq"])): r for r in logged}
    assert len(by_key) == 600  # (source, seq) identifies a bar
    for bar, received_ns in received:
        row = by_key[(bar.source, bar.seq)]  # type: ignore[index]
        assert row["symbol"] == bar.symbol
        # read on the same host clock just before the send: the bar cannot arrive earlier
        assert started_ns <= int(row["published_ns"]) <= received_ns
    times = [int(r["published_ns"]) for r in logged]
    assert times == sorted(times) and [int(r["seq"]) for r in logged] == list(range(600))


def test_rows_of_a_chunk_are_spread_over_its_send_and_all_written_on_close(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    log = TimingLog(path, "py-x")
    log.record(0, ["AAPL", "MSFT", "GOOGL", "AAPL"], 1_000, 1_400)
    log.record(4, ["MSFT"], 2_000, 2_050)
    log.close()
    assert path.read_text().splitlines()[0] == "source,seq,symbol,published_ns"
    assert [(r["source"], r["seq"], r["symbol"], r["published_ns"]) for r in rows(path)] == [
        ("py-x", "0", "AAPL", "1000"),
        ("py-x", "1", "MSFT", "1100"),
        ("py-x", "2", "GOOGL", "1200"),
        ("py-x", "3", "AAPL", "1300"),
        ("py-x", "4", "MSFT", "2000"),
    ]


def test_an_unwritable_timing_log_is_a_clear_failure(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "tradebridge.cli", "mock-publisher", "--endpoint", "tcp://127.0.0.1:*",
        "--count", "5", "--timing-log", str(tmp_path / "no-such-dir" / "t.csv"),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=20)
    assert done.returncode == 1
    assert "no-such-dir" in done.stderr and "Traceback" not in done.stderr
