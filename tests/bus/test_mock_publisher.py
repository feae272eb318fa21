"""``tradebridge mock-publisher`` as a real process: seeded bars, counts, CSV replay, signals, health."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tradebridge.bus.sync import ZMQSubscriber
from tradebridge.contracts import BarUpdate
from tradebridge.testing import Service, free_port
from tradebridge_mocks.market import Market
from tradebridge_mocks.publisher import bar_updates, csv_bar_updates


def start(*args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tradebridge.cli", "mock-publisher", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def collect(endpoint: str, count: int, timeout: float = 10.0) -> tuple[list[BarUpdate], ZMQSubscriber]:
    sub = ZMQSubscriber(endpoint)
    sub.connect(["market"])
    bars: list[BarUpdate] = []
    deadline = time.monotonic() + timeout
    while len(bars) < count and time.monotonic() < deadline:
        item = sub.receive_one(timeout=0.5)
        if item is not None:
            bars.append(item[1])
    sub.close()
    return bars, sub


def test_bars_follow_the_shared_seeded_market() -> None:
    bars = list(zip(range(6), bar_updates(["AAPL", "MSFT"], seed=7), strict=False))
    market = Market(["AAPL", "MSFT"], seed=7)
    aapl, msft = market.walk("AAPL").next_bars(3), market.walk("MSFT").next_bars(3)
    expected = []
    for i in range(3):
        for walk in (aapl, msft):
            expected.append((walk.symbol, float(walk.close[i]), int(walk.timestamp[i]), float(walk.high[i])))
    assert [(b.symbol, b.close, b.timestamp, b.high) for _, b in bars] == expected
    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for _, b in bars)


def test_publishes_exactly_count_bars_to_a_waiting_subscriber_then_exits() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    args = ["--endpoint", endpoint, "--symbols", "AAPL,MSFT", "--rate", "0", "--count", "2000", "--seed", "3"]
    process = start(*args, "--wait-for-subscribers", "1")
    try:
        bars, sub = collect(endpoint, 2000)
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert len(bars) == 2000 and sub.stats.gaps == 0
    assert [b.seq for b in bars] == list(range(2000))
    assert [b.symbol for b in bars[:4]] == ["AAPL", "MSFT", "AAPL", "MSFT"]
    expected = list(zip(range(2000), bar_updates(["AAPL", "MSFT"], seed=3), strict=False))
    assert [(b.symbol, b.close) for b in bars] == [(e.symbol, e.close) for _, e in expected]
    assert "2000 bars" in err  # the progress line's final form


def test_sigterm_ends_an_endless_run_cleanly() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    process = start("--endpoint", endpoint, "--rate", "500")
    try:
        bars, _ = collect(endpoint, 20)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert len(bars) == 20
    assert process.returncode == 0, err
    assert "bars in" in err


def test_the_rate_is_respected() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    process = start("--endpoint", endpoint, "--rate", "200", "--count", "100", "--wait-for-subscribers", "1")
    try:
        started = time.monotonic()
        bars, _ = collect(endpoint, 100)
        elapsed = time.monotonic() - started
        process.communicate(timeout=10)
    finally:
        process.kill()
    assert len(bars) == 100
    assert elapsed >= 0.35  # 100 bars at 200/s take about half a second


def test_csv_replay_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(
        "timestamp,symbol,open,high,low,close,volume\n"
        "1735828200000,AAPL,10,11,9,10.5,100\n"
        "2025-01-02T14:31:00Z,MSFT,20,21,19,20.5,200\n"
        "1735828320000,AAPL,10.5,12,10,11.5,300\n"
    )
    assert [b.symbol for b in csv_bar_updates(path, ["AAPL"])] == ["AAPL", "AAPL"]
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    process = start(
        "--endpoint", endpoint, "--from-csv", str(path), "--rate", "0", "--wait-for-subscribers", "1"
    )
    try:
        bars, _ = collect(endpoint, 3)
        _, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert [(b.symbol, b.close, b.timestamp) for b in bars] == [
        ("AAPL", 10.5, 1735828200000),
        ("MSFT", 20.5, 1735828260000),
        ("AAPL", 11.5, 1735828320000),
    ]


def test_a_bad_csv_row_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("symbol,timestamp,open,high,low,close,volume\nAAPL,1,1,1,1,abc,1\n")
    with pytest.raises(ValueError, match=r"bad\.csv:2"):
        list(csv_bar_updates(path))


def test_a_taken_endpoint_is_a_one_line_failure() -> None:
    from tradebridge.bus.sync import ZMQPublisher

    with ZMQPublisher("tcp://127.0.0.1:*") as holder:
        process = start("--endpoint", holder.endpoint, "--count", "1")
        _, err = process.communicate(timeout=20)
    assert process.returncode == 1
    assert err.strip().splitlines()[-1].startswith("mock-publisher: cannot bind")


def test_health_port_reports_the_publisher() -> None:
    endpoint, port = f"tcp://127.0.0.1:{free_port()}", free_port()
    command = [sys.executable, "-m", "tradebridge.cli", "mock-publisher"]
    process = Service(
        "mock-publisher",
        [*command, "--endpoint", endpoint, "--rate", "100", "--health-port", str(port)],
        health_port=port,
        ready=lambda s: s.get("/health")[0] == 200,
    )
    with process:
        collect(endpoint, 5)
        _, body = process.get("/health")
        process.send_signal(signal.SIGINT)
        process.wait_exit(10)
    assert process.returncode() == 0
    assert body["component"] == "mock-publisher" and body["status"] == "healthy"
    assert int(body["metrics"]["bus_published"]) > 0
